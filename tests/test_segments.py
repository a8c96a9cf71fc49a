"""Telling customers apart, on SQLite and PostgreSQL: segment rules over a generated data set,
value tiers (exactly the top 20 % in ``top``), lifecycle stages as the clock moves, a segment
set by a person surviving recomputes, the segments API, clear workspace errors, and a
customer who becomes VIP by rule served first by the real desk.

The data set is written straight into the tables with fixed timestamps (the router would take
minutes to make 200 customers' histories); time is a FrozenClock moved by the tests.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from console.auth import create_agent
from routing.clock import FrozenClock
from routing.router import Router
from routing.segments import Segmenter, profiles
from storage.db import Database
from storage.models import (
    AuthorKind,
    ContactIdentity,
    Conversation,
    ConversationStatus,
    Customer,
    Direction,
    Touchpoint,
    TouchpointKind,
)
from storage.repos import conversations as conv_repo
from storage.repos import segments as segment_repo
from switchboard.app import ROUTER, create_app
from switchboard.workspace import WorkspaceError, load_workspace, parse_workspace
from tests.conftest import PASSWORD, seed
from tests.helpers import AgentApi, ChatClient, eventually

WORKSPACE = """
default_team: general
teams:
  general: {assignment: auto}
vip_segments: [vip]
sla:
  policies:
    - first_response_minutes: 10
      next_response_minutes: 15
      resolution_hours: 8
    - segment: vip
      first_response_minutes: 3
      next_response_minutes: 5
      resolution_hours: 2
assignment:
  sweep_seconds: 0.1
segments:
  interval_minutes: 0            # on demand only: the tests say when
  value_attribute: attr.lifetime_value
  lifecycle:
    new_days: 30
    at_risk_days: 60
    lapsed_days: 180
    low_csat: 2.5
    escalations: 3
    escalation_days: 90
    negative_messages: 2
  rules:
    - name: vip
      any:
        - attr.plan == "gold"
        - attr.lifetime_value >= 1500
    - name: loyal
      all:
        - contacts_90d >= 3
        - csat_avg >= 4
    - name: beta
      all: ['tags has "beta"']
    - name: multichannel
      any:
        - all: [channel_count >= 2, 'channels has "email"']
        - channel_count >= 3
"""
CHANNELS = ("webchat", "email", "sms")


@dataclass
class Spec:
    """One generated customer: attributes and a contact history (days before now)."""

    attributes: dict[str, Any]
    tags: list[str] = field(default_factory=list)
    contacts: list[tuple[float, str, int | None]] = field(default_factory=list)  # days, ch, csat
    escalations: list[float] = field(default_factory=list)  # days before now
    created_days: float = 400


def generated(n: int = 200) -> list[Spec]:
    specs = []
    for i in range(n):
        value = (i * 37) % 2000
        attributes: dict[str, Any] = {"plan": "gold" if i % 10 == 0 else "basic"}
        if i % 11 != 0:  # some have no value at all
            attributes["lifetime_value"] = str(value) if i % 9 == 0 else value  # CSV imports
        contacts = []
        for k in range(i % 5):
            score = 5 - (i + k) % 2 if i % 3 == 0 else 1 + (i + k) % 2 if i % 3 == 1 else None
            contacts.append((i % 120 + 20 * k + 1 / 24, CHANNELS[(i + k * (i % 2)) % 3], score))
        specs.append(Spec(attributes, ["beta"] if i % 7 == 0 else [], contacts))
    return specs


def expected_segment(s: Spec) -> str | None:
    """The rules of WORKSPACE, said plainly."""
    value = float(s.attributes.get("lifetime_value", 0))
    scores = [c for _, _, c in s.contacts if c is not None]
    channels = {ch for _, ch, _ in s.contacts}
    if s.attributes.get("plan") == "gold" or value >= 1500:
        return "vip"
    if sum(1 for d, _, _ in s.contacts if d < 90) >= 3 and scores:
        if statistics.mean(scores) >= 4:
            return "loyal"
    if "beta" in s.tags:
        return "beta"
    if (len(channels) >= 2 and "email" in channels) or len(channels) >= 3:
        return "multichannel"
    return None


async def populate(db: Database, now: datetime, specs: list[Spec]) -> list[int]:
    """Customers with their conversations, messages, scores and escalations; their ids."""
    ids = []
    async with db.transaction() as session:
        for n, spec in enumerate(specs):
            created = now - timedelta(days=spec.created_days)
            customer = Customer(
                display_name=f"Customer {n}",
                attributes=spec.attributes,
                tags=spec.tags,
                created_at=created,
                updated_at=created,
            )
            session.add(customer)
            await session.flush()
            ids.append(customer.id)
            identities: dict[str, ContactIdentity] = {}
            for k, (days, channel, score) in enumerate(spec.contacts):
                at = now - timedelta(days=days)
                if channel not in identities:
                    identities[channel] = ContactIdentity(
                        customer_id=customer.id,
                        channel=channel,
                        address=f"c{customer.id}@{channel}",
                        created_at=at,
                    )
                    session.add(identities[channel])
                    await session.flush()
                conv = Conversation(
                    customer_id=customer.id,
                    identity_id=identities[channel].id,
                    channel=channel,
                    status=ConversationStatus.CLOSED,
                    reference=f"S{customer.id}-{k}",
                    csat_score=score,
                    created_at=at,
                    updated_at=at,
                )
                session.add(conv)
                await session.flush()
                session.add(_touchpoint(conv, TouchpointKind.MESSAGE, at))
                if k == 0:  # the escalations happened in the first conversation
                    for days_ago in spec.escalations:
                        esc_at = now - timedelta(days=days_ago)
                        session.add(_touchpoint(conv, TouchpointKind.ESCALATION, esc_at))
    return ids


def _touchpoint(conv: Conversation, kind: TouchpointKind, at: datetime) -> Touchpoint:
    inbound = kind is TouchpointKind.MESSAGE
    return Touchpoint(
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        channel=conv.channel,
        kind=kind,
        direction=Direction.INBOUND if inbound else Direction.INTERNAL,
        author_kind=AuthorKind.CUSTOMER if inbound else AuthorKind.SYSTEM,
        text="hello" if inbound else "escalated",
        created_at=at,
    )


class Shop:
    """One server with the segments workspace, a frozen clock, an agent and a supervisor."""

    def __init__(self, client: TestClient, clock: FrozenClock) -> None:
        self.client = client
        self.clock = clock
        self.chats: list[ChatClient] = []

    @property
    def router(self) -> Router:
        return self.client.server.app[ROUTER]

    @property
    def db(self) -> Database:
        return self.router.db

    async def boss(self) -> AgentApi:
        return await AgentApi.login(self.client, "boss@example.com", PASSWORD)

    async def recompute(self) -> dict[str, Any]:
        boss = await self.boss()
        return await boss.call("POST", "/api/v1/segments/recompute")

    async def customers(self, ids: list[int]) -> dict[int, Customer]:
        async with self.db.transaction() as session:
            rows = await session.scalars(select(Customer).where(Customer.id.in_(ids)))
            return {c.id: c for c in rows}


@pytest.fixture
async def shop(aiohttp_client: Any, make_settings: Any, tmp_path: Path) -> AsyncIterator[Shop]:
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(WORKSPACE, encoding="utf-8")
    settings = make_settings(workspace_file=str(workspace))
    await seed(settings.effective_database_url, agents=1, kb=None)
    clock = FrozenClock()
    db = Database(settings.effective_database_url)
    try:
        await create_agent(
            db, clock, email="boss@example.com", name="Boss", password=PASSWORD, role="supervisor"
        )
    finally:
        await db.dispose()
    client = await aiohttp_client(create_app(settings, clock=clock))
    s = Shop(client, clock)
    yield s
    for chat in s.chats:
        await chat.close()


# ---- rules and tiers on a generated data set -------------------------------------------------


async def test_rules_give_each_customer_the_first_matching_segment(shop: Shop) -> None:
    specs = generated()
    ids = await populate(shop.db, shop.clock.now(), specs)

    summary = await shop.recompute()

    assert summary["customers"] == 200
    rows = await shop.customers(ids)
    got = {n: rows[cid].segment for n, cid in enumerate(ids)}
    want = {n: expected_segment(spec) for n, spec in enumerate(specs)}
    assert got == want
    for name in ("vip", "loyal", "beta", "multichannel"):  # every rule is exercised
        assert name in got.values(), name
    assert None in got.values()
    assert summary["segments_changed"] == sum(1 for s in want.values() if s)
    assert all(rows[cid].profiled_at == shop.clock.now() for cid in ids)

    again = await shop.recompute()  # nothing moved: nothing changes
    assert again["segments_changed"] == 0


async def test_value_tiers_put_exactly_the_top_20_percent_in_top(shop: Shop) -> None:
    specs = generated()
    ids = await populate(shop.db, shop.clock.now(), specs)

    summary = await shop.recompute()

    assert summary["value_tiers"] == {"top": 40, "high": 60, "medium": 60, "low": 40}
    rows = await shop.customers(ids)
    tiers = {n: rows[cid].value_tier for n, cid in enumerate(ids)}
    assert sum(1 for t in tiers.values() if t == "top") == 40

    assert tiers == expected_tiers(specs, shop.clock.now())
    # Never contacted, nothing spent: low.
    idle = [n for n, s in enumerate(specs) if not s.contacts and value(s) == 0]
    assert idle and all(tiers[n] == "low" for n in idle)


def value(spec: Spec) -> float:
    return float(spec.attributes.get("lifetime_value", 0))


def expected_tiers(specs: list[Spec], now: datetime) -> dict[int, str]:
    """The README's definition, computed independently of routing.segments."""
    n = len(specs)
    recency = [-min((d for d, _, _ in s.contacts), default=s.created_days) for s in specs]
    recency = [-int(-r) for r in recency]  # whole days since contact, negated: more is better
    frequency = [len(s.contacts) for s in specs]
    money = [value(s) for s in specs]

    def score(values: list[Any], i: int) -> int:
        worse = sum(1 for v in values if v < values[i])
        return min(5, 1 + 5 * worse // n)

    total = [score(recency, i) + score(frequency, i) + score(money, i) for i in range(n)]
    ranked = sorted(range(n), key=lambda i: (-total[i], -money[i], -frequency[i], -recency[i], i))
    tiers = {}
    for rank, i in enumerate(ranked):
        tiers[i] = (
            "top"
            if rank < n * 20 // 100
            else "high"
            if rank < n * 50 // 100
            else "medium"
            if rank < n * 80 // 100
            else "low"
        )
    return tiers


async def test_segment_rules_can_use_tier_and_lifecycle(shop: Shop) -> None:
    policy = parse_workspace(
        {
            "segments": {
                "rules": [
                    {
                        "name": "keep-close",
                        "all": ['value_tier in ["top", "high"]', 'lifecycle == "at_risk"'],
                    }
                ]
            }
        }
    ).segments
    specs = generated()
    await populate(shop.db, shop.clock.now(), specs)
    async with shop.db.transaction() as session:
        facts = await segment_repo.customer_facts(session, shop.clock.now(), policy.windows())
    computed = profiles(facts, shop.clock.now(), policy)
    keep = [p for p in computed if p.segment == "keep-close"]
    assert keep
    assert all(p.value_tier in ("top", "high") and p.lifecycle == "at_risk" for p in keep)
    others = [p for p in computed if p.segment is None]
    assert not any(p.value_tier in ("top", "high") and p.lifecycle == "at_risk" for p in others)


# ---- lifecycle -------------------------------------------------------------------------------


async def test_lifecycle_moves_from_new_to_active_to_at_risk_to_lapsed(shop: Shop) -> None:
    now = shop.clock.now()
    [first_timer] = await populate(
        shop.db, now, [Spec({}, contacts=[(0.5, "webchat", None)], created_days=1)]
    )
    day = 24 * 3600

    async def stage() -> str | None:
        await shop.recompute()
        return (await shop.customers([first_timer]))[first_timer].lifecycle

    assert await stage() == "new"
    shop.clock.advance(29 * day)
    assert await stage() == "new"
    shop.clock.advance(2 * day)  # first contact 31 days ago, last 31 days ago
    assert await stage() == "active"
    shop.clock.advance(30 * day)  # 61 days without a word
    assert await stage() == "at_risk"
    shop.clock.advance(120 * day)  # 181 days
    assert await stage() == "lapsed"


async def test_low_satisfaction_and_repeated_escalations_put_a_customer_at_risk(
    shop: Shop,
) -> None:
    now = shop.clock.now()
    regular = [(100, "email", 4), (40, "email", 5), (2, "email", None)]
    unhappy = [(100, "email", 2), (40, "email", 2), (2, "email", None)]
    ids = await populate(
        shop.db,
        now,
        [
            Spec({}, contacts=regular),
            Spec({}, contacts=unhappy),
            Spec({}, contacts=regular, escalations=[80, 50, 3]),
            Spec({}, contacts=regular, escalations=[200, 150, 3]),  # two are too old to count
        ],
    )

    await shop.recompute()

    rows = await shop.customers(ids)
    assert [rows[i].lifecycle for i in ids] == ["active", "at_risk", "at_risk", "active"]


async def test_negative_messages_are_marked_for_agents_and_put_a_customer_at_risk(
    shop: Shop,
) -> None:
    calm, angry = ChatClient(shop.client), ChatClient(shop.client)
    shop.chats += [calm, angry]
    for chat, lines in (
        (calm, ["Where is my order?", "Thanks, that solved it!"]),
        (angry, ["This is the worst service ever", "服务太差了，我要投诉"]),
    ):
        await chat.connect()
        for line in lines:
            await chat.say(line)
    ids = []
    for chat in (calm, angry):
        welcome = await ChatClient(shop.client).connect(visitor_id=chat.visitor_id)
        conv = await (await shop.boss()).conversation(welcome["conversation"]["id"])
        ids.append(conv["customer"]["id"])
        moods = [m["meta"].get("sentiment") for m in conv["messages"] if m["kind"] == "message"]
        assert moods == ([None, "positive"] if chat is calm else ["negative", "negative"])

    await shop.recompute()

    rows = await shop.customers(ids)
    assert [rows[i].lifecycle for i in ids] == ["new", "at_risk"]


# ---- a segment set by a person ---------------------------------------------------------------


async def test_a_segment_set_by_hand_survives_a_recompute(shop: Shop) -> None:
    now = shop.clock.now()
    gold = {"plan": "gold"}
    pinned, imported, ruled, cleared, kept_vip = await populate(
        shop.db, now, [Spec(gold) for _ in range(5)]
    )
    everyone = [pinned, imported, ruled, cleared, kept_vip]
    async with shop.db.transaction() as session:
        await segment_repo.record_hand_set(session, pinned, "partner", "boss@example.com", now)
        await segment_repo.record_hand_set(session, cleared, "partner", "boss@example.com", now)
        # A person may pin what the rules would say too: it stays when the rules stop saying it.
        await segment_repo.record_hand_set(session, kept_vip, "vip", "boss@example.com", now)
        # What a CRM import or a script does: no record of who, so a person's.
        await session.execute(
            update(Customer).where(Customer.id == imported).values(segment="wholesale")
        )

    await shop.recompute()
    rows = await shop.customers(everyone)
    assert [rows[i].segment for i in everyone] == ["partner", "wholesale", "vip", "partner", "vip"]

    # The rules no longer match "ruled" nor "kept_vip"; clearing gives "cleared" back to them.
    async with shop.db.transaction() as session:
        await session.execute(
            update(Customer)
            .where(Customer.id.in_([ruled, kept_vip]))
            .values(attributes={"plan": "basic"})
        )
        await segment_repo.record_hand_set(session, cleared, None, "boss@example.com", now)
    await shop.recompute()
    rows = await shop.customers(everyone)
    assert [rows[i].segment for i in everyone] == ["partner", "wholesale", None, "vip", "vip"]
    assert all(rows[i].value_tier and rows[i].lifecycle for i in everyone)  # profiled all the same
    boss = await shop.boss()
    page = await boss.call("GET", "/api/v1/segments/partner/customers")
    assert [(c["id"], c["segment_source"]) for c in page["items"]] == [(pinned, "hand")]
    page = await boss.call("GET", "/api/v1/segments/vip/customers")
    sources = [(c["id"], c["segment_source"]) for c in page["items"]]
    assert sources == [(cleared, "rules"), (kept_vip, "hand")]


async def test_an_attribute_or_tag_edit_recomputes_that_customers_segment_at_once(
    shop: Shop,
) -> None:
    now = shop.clock.now()
    basic, pinned = await populate(shop.db, now, [Spec({"plan": "basic"}) for _ in range(2)])
    async with shop.db.transaction() as session:
        await segment_repo.record_hand_set(session, pinned, "partner", "boss@example.com", now)
    boss = await shop.boss()
    profile = await boss.call("GET", f"/api/v1/customers/{basic}")
    assert (profile["segment"], profile["lifecycle"]) == (None, None)  # never recomputed

    edited = await boss.call(
        "PATCH", f"/api/v1/customers/{basic}", json={"attributes": {"plan": "gold"}}
    )

    # No recompute ran: the edit itself applied the rules to this customer.
    assert edited["segment"] == "vip" and edited["lifecycle"] == "lapsed"
    assert (await boss.call("GET", f"/api/v1/customers/{basic}"))["segment"] == "vip"
    page = await boss.call("GET", "/api/v1/segments/vip/customers")
    assert [(c["id"], c["segment_source"]) for c in page["items"]] == [(basic, "rules")]
    # The rules let go when they stop holding; tags count too.
    edited = await boss.call(
        "PATCH", f"/api/v1/customers/{basic}", json={"attributes": {"plan": "basic"}}
    )
    assert edited["segment"] is None
    edited = await boss.call("PATCH", f"/api/v1/customers/{basic}", json={"tags": ["beta"]})
    assert edited["segment"] == "beta"
    # A segment a person set stays whatever the attributes say.
    edited = await boss.call(
        "PATCH", f"/api/v1/customers/{pinned}", json={"attributes": {"plan": "gold"}}
    )
    assert edited["segment"] == "partner" and edited["lifecycle"] == "lapsed"


# ---- the API ---------------------------------------------------------------------------------


async def test_segments_api_lists_definitions_with_counts_and_pages_customers(shop: Shop) -> None:
    specs = generated()
    ids = await populate(shop.db, shop.clock.now(), specs)
    async with shop.db.transaction() as session:
        await segment_repo.record_hand_set(session, ids[1], "partner", "boss", shop.clock.now())
    await shop.recompute()
    boss = await shop.boss()

    listing = await boss.call("GET", "/api/v1/segments")

    want = [expected_segment(s) for s in specs]
    want[1] = "partner"
    assert [s["name"] for s in listing["segments"]] == ["vip", "loyal", "beta", "multichannel"]
    vip = listing["segments"][0]
    assert vip["vip"] and vip["rule"] == {
        "any": ['attr.plan == "gold"', "attr.lifetime_value >= 1500"]
    }
    assert {s["name"]: s["customers"] for s in listing["segments"]} == {
        name: want.count(name) for name in ("vip", "loyal", "beta", "multichannel")
    }
    assert listing["other"] == [{"name": "partner", "vip": False, "customers": 1}]
    assert listing["unsegmented"] == want.count(None)

    seen: list[int] = []
    after = None
    while True:
        params = {"limit": "7", **({"after": str(after)} if after else {})}
        page = await boss.call("GET", "/api/v1/segments/vip/customers", params=params)
        seen += [c["id"] for c in page["items"]]
        assert all(c["value_tier"] and c["lifecycle"] for c in page["items"])
        after = page["next_after"]
        if after is None:
            break
    assert seen == [cid for cid, s in zip(ids, want, strict=True) if s == "vip"]


async def test_segments_api_refuses_agents_and_bad_input(shop: Shop) -> None:
    agent = await AgentApi.login(shop.client, "agent1@example.com", PASSWORD)
    boss = await shop.boss()
    for method, path in (
        ("GET", "/api/v1/segments"),
        ("POST", "/api/v1/segments/recompute"),
        ("GET", "/api/v1/segments/vip/customers"),
    ):
        body = await agent.call(method, path, expect=403)
        assert body["error"]["code"] == "supervisors_only"
    bad = [
        ("/api/v1/segments/VIP!/customers", 400, "bad_segment"),
        ("/api/v1/segments/vip/customers?limit=0", 400, "bad_limit"),
        ("/api/v1/segments/vip/customers?limit=x", 400, "bad_limit"),
        ("/api/v1/segments/vip/customers?after=-3", 400, "bad_after"),
        ("/api/v1/segments/nobody/customers", 404, "segment_not_found"),
    ]
    for path, status, code in bad:
        body = await boss.call("GET", path, expect=status)
        assert body["error"]["code"] == code, path
    empty = await boss.call("GET", "/api/v1/segments/loyal/customers")  # defined, no one yet
    assert empty == {"segment": "loyal", "defined": True, "items": [], "next_after": None}


# ---- VIP by rule, served first ---------------------------------------------------------------


async def test_a_customer_who_becomes_vip_by_rule_is_served_first(shop: Shop) -> None:
    agent = await AgentApi.login(shop.client, "agent1@example.com", PASSWORD)
    await agent.call("PATCH", "/api/v1/me", json={"presence": "away"})
    boss = await shop.boss()
    await boss.call("PATCH", "/api/v1/me", json={"presence": "away"})
    early, late = ChatClient(shop.client), ChatClient(shop.client)
    shop.chats += [early, late]
    await early.connect()
    await early.say("hello")
    await late.connect()
    await late.say("hello")
    early_id = int(
        (await ChatClient(shop.client).connect(visitor_id=early.visitor_id))["conversation"]["id"]
    )
    late_id = int(
        (await ChatClient(shop.client).connect(visitor_id=late.visitor_id))["conversation"]["id"]
    )
    async with shop.db.transaction() as session:  # the CRM says "late" is on the gold plan
        customer_id = (await conv_repo.get(session, late_id)).customer_id
        await session.execute(
            update(Customer).where(Customer.id == customer_id).values(attributes={"plan": "gold"})
        )

    summary = await shop.recompute()
    assert summary["matched"]["vip"] == 1

    await early.say("agent")
    shop.clock.advance(30)
    await late.say("agent")
    notice = await late.reply(lambda m: "queue" in m["text"])
    assert "number 1 in the queue" in notice["text"]  # ahead of the one who asked earlier

    queue = await agent.queue()
    assert [c["id"] for c in queue["items"]] == [late_id, early_id]
    assert queue["items"][0]["customer"]["segment"] == "vip"
    late_conv = await agent.conversation(late_id)
    assert late_conv["sla"]["target"] == "first_response"
    due = datetime.fromisoformat(late_conv["sla"]["due_at"])
    assert due == shop.clock.now() + timedelta(minutes=3)  # the VIP policy, not the 10 minutes

    await agent.call("PATCH", "/api/v1/me", json={"presence": "online"})
    me = (await agent.call("GET", "/api/v1/me"))["id"]

    async def assignee(conv_id: int) -> int | None:
        conv = await agent.conversation(conv_id)
        return conv["assignee"]["id"] if conv["assignee"] else None

    assert await eventually(lambda: assignee(late_id)) == me


# ---- the workspace file ----------------------------------------------------------------------


def test_the_shipped_workspace_defines_segments_the_desk_treats_as_vip() -> None:
    policy = load_workspace(Path(__file__).resolve().parent.parent / "config" / "workspace.yaml")
    assert "vip" in policy.segments.names()
    assert set(policy.segments.names()) & policy.vip_segments


def test_segments_default_to_hourly_with_no_rules() -> None:
    policy = parse_workspace({}).segments
    assert policy.rules == () and policy.interval == timedelta(hours=1)
    assert policy.value_attribute == "lifetime_value"
    assert (policy.lifecycle.new_days, policy.lifecycle.at_risk_days) == (30, 60)
    assert policy.lifecycle.lapsed_days == 180


def _rule(*conditions: Any, mode: str = "all", name: str = "vip") -> dict[str, Any]:
    return {"segments": {"rules": [{"name": name, mode: list(conditions)}]}}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            _rule('attr.plan = "gold"'),
            "segments.rules.1.all.1: 'attr.plan = \"gold\"': cannot read '= \"gold\"' (write == to compare)",
        ),
        (
            _rule('plan == "gold"'),
            "segments.rules.1.all.1: unknown field 'plan' (known: attr.<name>",
        ),
        (_rule("attr.plan == gold"), "'gold' is not a value (put text in quotes: \"gold\")"),
        (_rule('attr.plan == "gold'), "(a quote is not closed)"),
        (_rule('value_tier == "gold"'), "value_tier is one of top, high, medium, low, not 'gold'"),
        (_rule('lifecycle > "new"'), "lifecycle is compared with ==, !=, in or not in"),
        (_rule('tags == "beta"'), 'tags is a list: write tags has "name"'),
        (_rule("contacts_0d >= 1"), "contacts_0d: the days must be 1..3650"),
        (_rule('contacts >= "many"'), "contacts is a number; compare it with a number"),
        (_rule("attr.x in [1, 2"), "the list has no closing ]"),
        (_rule('attr.plan == "gold" or attr.x == 1'), "unexpected 'or' after the value"),
        (_rule("__import__('os')"), "cannot read"),
        (_rule({"all": [3]}), "segments.rules.1.all.1.all.1: must be a condition as text"),
        (_rule("contacts > 1", name="VIP"), "segments.rules.1.name: 'VIP' is not a segment name"),
        ({"segments": {"rules": [{"name": "vip"}]}}, "segments.rules.1: give exactly one of all"),
        (
            {"segments": {"rules": [{"name": "a", "all": ["contacts > 1"]}] * 2}},
            "segments.rules.2.name: 'a' is already segments.rules.1",
        ),
        (
            {"segments": {"lifecycle": {"at_risk_days": 200}}},
            "segments.lifecycle.at_risk_days: must be fewer than lapsed_days",
        ),
        (
            {"segments": {"lifecycle": {"new_days": 0}}},
            "segments.lifecycle.new_days: must be a whole number 1..3650",
        ),
        (
            {"segments": {"lifecycle": {"low_csat": 6}}},
            "segments.lifecycle.low_csat: must be a number 0..5",
        ),
        (
            {"segments": {"interval_minutes": -5}},
            "segments.interval_minutes: must be zero or a positive number",
        ),
        (
            {"segments": {"value_attribute": "attr.life value"}},
            "segments.value_attribute: 'life value' is not an attribute name",
        ),
        (
            {"segments": {"colour": "red"}},
            "segments.colour: unknown key (known: rules, value_attribute",
        ),
    ],
)
def test_a_segments_mistake_is_one_clear_line(data: Any, expected: str) -> None:
    with pytest.raises(WorkspaceError) as info:
        parse_workspace(data)
    message = str(info.value)
    assert "\n" not in message and message.startswith("workspace.yaml: segments")
    assert expected in message, message


async def test_the_scheduled_run_profiles_customers_when_the_server_starts(
    aiohttp_client: Any, make_settings: Any, tmp_path: Path
) -> None:
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        WORKSPACE.replace("interval_minutes: 0 ", "interval_minutes: 60 "), "utf-8"
    )
    settings = make_settings(workspace_file=str(workspace))
    clock = FrozenClock()
    db = Database(settings.effective_database_url)
    try:
        gold, erased = await populate(db, clock.now(), [Spec({"plan": "gold"}), Spec({})])
        async with db.transaction() as session:
            await session.execute(
                update(Customer).where(Customer.id == erased).values(erased_at=clock.now())
            )
    finally:
        await db.dispose()

    client = await aiohttp_client(create_app(settings, clock=clock))
    router = client.server.app[ROUTER]

    async def profiled() -> Customer | None:
        async with router.db.transaction() as session:
            customer = await session.get(Customer, gold)
            return customer if customer and customer.profiled_at else None

    customer = await eventually(profiled)
    assert customer.segment == "vip" and customer.lifecycle == "lapsed"
    async with router.db.transaction() as session:
        gone = await session.get(Customer, erased)
        assert gone is not None and gone.profiled_at is None  # erased customers are left out


async def test_the_scheduled_recompute_is_due_an_interval_after_the_last_one_on_any_process(
    shop: Shop,
) -> None:
    policy = dataclasses.replace(shop.router.desk.policy.segments, interval=timedelta(hours=1))
    segmenter = Segmenter(shop.db, shop.clock, policy)
    assert await segmenter.due_in() == 3600  # nobody to profile yet
    now = shop.clock.now()
    first, _ = await populate(shop.db, now, [Spec({}), Spec({"plan": "gold"})])
    assert await segmenter.due_in() <= 0  # customers never profiled: now

    await shop.recompute()  # another process (here: on demand) just did it
    shop.clock.advance(1200)
    boss = await shop.boss()
    await boss.call("PATCH", f"/api/v1/customers/{first}", json={"tags": ["beta"]})

    # One customer re-profiled later does not move the schedule; the full recompute does.
    assert await segmenter.due_in() == 2400
    shop.clock.advance(2400)
    assert await segmenter.due_in() <= 0
    await segmenter.recompute()
    assert await segmenter.due_in() == 3600
