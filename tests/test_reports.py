"""Contact-center reports on a small data set with fixed times, every figure checked against
values worked out by hand (in the comments), on SQLite and PostgreSQL.

The desk works Monday to Friday 09:00–18:00 in Bangkok (UTC+7, so 02:00–11:00 UTC); SLA first
response targets: billing 30 minutes, everyone else 10, in business time. "Now" is Tuesday
2026-01-06 04:00 UTC (11:00 in Bangkok).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from console.auth import create_agent
from routing.clock import FrozenClock
from storage.db import Database
from storage.models import (
    ArticleFeedback,
    AuthorKind,
    ContactIdentity,
    Conversation,
    ConversationStatus,
    Customer,
    Direction,
    Touchpoint,
    TouchpointKind,
)
from storage.repos import agents as agent_repo
from switchboard.app import create_app
from tests.conftest import PASSWORD, seed
from tests.helpers import AgentApi, ChatClient, eventually

WORKSPACE = """
default_team: general
teams:
  general: {assignment: manual}
  billing: {assignment: manual}
sla:
  hours: business
  business_hours:
    timezone: Asia/Bangkok
    weekly:
      mon: "09:00-18:00"
      tue: "09:00-18:00"
      wed: "09:00-18:00"
      thu: "09:00-18:00"
      fri: "09:00-18:00"
      sat: closed
      sun: closed
  policies:
    - team: billing
      first_response_minutes: 30
      next_response_minutes: 60
      resolution_hours: 48
    - first_response_minutes: 10
      next_response_minutes: 20
      resolution_hours: 24
close:
  require_disposition: false
csat:
  enabled: false
"""
NOW = datetime(2026, 1, 6, 4, 0, tzinfo=UTC)
RANGE = "since=2026-01-05&until=2026-01-07"  # two days, in the report's time zone
SHIPPING = ("order-tracking", "en")  # demo knowledge-base articles
PASSWORDS = ("reset-password", "en")


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, second, tzinfo=UTC)


@dataclass
class Builder:
    """Writes conversations and their touchpoints with the given times, as the router would."""

    db: Database
    agents: dict[str, int]
    made: dict[str, int] = field(default_factory=dict)

    async def conversation(
        self, name: str, channel: str, created: datetime, *, team: str | None = None
    ) -> None:
        async with self.db.transaction() as session:
            customer = Customer(display_name=name, created_at=created, updated_at=created)
            session.add(customer)
            await session.flush()
            identity = ContactIdentity(
                customer_id=customer.id, channel=channel, address=name, created_at=created
            )
            session.add(identity)
            await session.flush()
            conv = Conversation(
                customer_id=customer.id,
                identity_id=identity.id,
                channel=channel,
                status=ConversationStatus.BOT,
                priority=0,
                reference=f"R{name}",
                bot_misses=0,
                team=team,
                created_at=created,
                updated_at=created,
            )
            session.add(conv)
            await session.flush()
            self.made[name] = conv.id
        await self.touch(name, TouchpointKind.MESSAGE, created, text="hello")

    async def touch(
        self,
        name: str,
        kind: TouchpointKind,
        when: datetime,
        *,
        agent: str | None = None,
        text: str = "",
        meta: dict[str, Any] | None = None,
        status: ConversationStatus | None = None,
    ) -> int:
        direction, author = {
            TouchpointKind.MESSAGE: (Direction.INBOUND, AuthorKind.CUSTOMER),
            TouchpointKind.SURVEY: (Direction.INBOUND, AuthorKind.CUSTOMER),
            TouchpointKind.BOT_ANSWER: (Direction.OUTBOUND, AuthorKind.BOT),
            TouchpointKind.AGENT_REPLY: (Direction.OUTBOUND, AuthorKind.AGENT),
            TouchpointKind.ESCALATION: (Direction.INTERNAL, AuthorKind.SYSTEM),
        }.get(kind, (Direction.INTERNAL, AuthorKind.AGENT))
        async with self.db.transaction() as session:
            conv = await session.get(Conversation, self.made[name])
            assert conv is not None
            tp = Touchpoint(
                conversation_id=conv.id,
                customer_id=conv.customer_id,
                channel=conv.channel,
                kind=kind,
                direction=direction,
                author_kind=author,
                agent_id=self.agents[agent] if agent else None,
                text=text or kind.value,
                meta=meta or {},
                created_at=when,
            )
            session.add(tp)
            if status is not None:
                conv.status = status
            await session.flush()
            return tp.id

    async def answer(self, name: str, when: datetime, article: tuple[str, str]) -> int:
        meta = {"article_id": article[0], "article_locale": article[1], "asks_feedback": True}
        return await self.touch(name, TouchpointKind.BOT_ANSWER, when, meta=meta)

    async def vote(self, name: str, answer: int, when: datetime, helpful: bool) -> None:
        async with self.db.transaction() as session:
            tp = await session.get(Touchpoint, answer)
            assert tp is not None
            session.add(
                ArticleFeedback(
                    touchpoint_id=tp.id,
                    article_id=tp.meta["article_id"],
                    locale=tp.meta["article_locale"],
                    conversation_id=tp.conversation_id,
                    customer_id=tp.customer_id,
                    channel=tp.channel,
                    helpful=helpful,
                    question="How long until my order comes?",
                    created_at=when,
                    updated_at=when,
                )
            )

    async def escalate(
        self, name: str, when: datetime, reason: str, team: str, question: str | None = None
    ) -> None:
        meta: dict[str, Any] = {"reason": reason, "team": team}
        if question:
            meta.update(question=question, locale="en")
        await self.touch(
            name, TouchpointKind.ESCALATION, when, meta=meta, status=ConversationStatus.QUEUED
        )
        async with self.db.transaction() as session:
            conv = await session.get(Conversation, self.made[name])
            assert conv is not None
            conv.team, conv.queued_at = team, when

    async def claim(self, name: str, when: datetime, agent: str) -> None:
        await self.touch(
            name, TouchpointKind.CLAIM, when, agent=agent, status=ConversationStatus.ASSIGNED
        )

    async def reply(self, name: str, when: datetime, agent: str) -> None:
        await self.touch(name, TouchpointKind.AGENT_REPLY, when, agent=agent, text="Hi!")

    async def close(self, name: str, when: datetime, agent: str) -> None:
        await self.touch(
            name, TouchpointKind.CLOSE, when, agent=agent, status=ConversationStatus.CLOSED
        )

    async def rate(self, name: str, when: datetime, score: int) -> None:
        await self.touch(name, TouchpointKind.SURVEY, when, text=str(score), meta={"csat": score})


async def build_data_set(url: str) -> dict[str, int]:
    """The conversations C0–C7 (C0 starts before the range); returns their ids."""
    db = Database(url)
    try:
        agents = {}
        async with db.transaction() as session:
            for a in await agent_repo.active(session):
                agents[a.email.split("@")[0]] = a.id
        b = Builder(db, agents)
        # C0: Sunday 12:00 UTC (19:00 in Bangkok), before the range; closed in it.
        await b.conversation("C0", "webchat", at(4, 12))
        await b.escalate("C0", at(4, 12, 1), "customer_request", "general")
        await b.claim("C0", at(4, 12, 2), "agent1")
        await b.reply("C0", at(5, 3), "agent1")
        await b.close("C0", at(5, 3, 5), "agent1")
        await b.rate("C0", at(5, 3, 10), 4)
        # C1: the bot answers from the shipping article, rated helpful. Contained.
        await b.conversation("C1", "webchat", at(5, 3))
        shipping = await b.answer("C1", at(5, 3, 0, 10), SHIPPING)
        await b.vote("C1", shipping, at(5, 3, 1), helpful=True)
        # C2: a miss, then the bot gives up; agent1 claims, answers in 4 minutes and closes.
        await b.conversation("C2", "webchat", at(5, 3, 10))
        await b.touch(
            "C2",
            TouchpointKind.BOT_ANSWER,
            at(5, 3, 10, 5),
            meta={
                "article_id": "returns",
                "article_locale": "en",
                "answered": False,
                "question": "Where is my parcel?",
                "locale": "en",
            },
        )
        await b.escalate("C2", at(5, 3, 11), "bot_unanswered", "general", "Where is my parcel?")
        await b.touch("C2", TouchpointKind.MESSAGE, at(5, 3, 12), text="hello?")
        await b.claim("C2", at(5, 3, 13), "agent1")
        await b.reply("C2", at(5, 3, 15), "agent1")
        await b.close("C2", at(5, 3, 30), "agent1")
        await b.rate("C2", at(5, 3, 35), 5)
        await b.touch("C2", TouchpointKind.SURVEY, at(5, 3, 36), meta={"csat_comment": True})
        # C3: email at 17:30 in Bangkok, 30 minutes before closing; billing answers next morning.
        await b.conversation("C3", "email", at(5, 10, 30))
        await b.escalate("C3", at(5, 10, 30), "customer_request", "billing")
        await b.claim("C3", at(6, 2, 10), "agent2")
        await b.reply("C3", at(6, 2, 20), "agent2")
        await b.close("C3", at(6, 3), "agent2")
        await b.rate("C3", at(6, 3, 5), 2)
        # C4: an SMS at 23:30 UTC Monday = 06:30 Tuesday in Bangkok; answered, rated unhelpful.
        await b.conversation("C4", "sms", at(5, 23, 30))
        shipping = await b.answer("C4", at(5, 23, 30, 5), SHIPPING)
        await b.vote("C4", shipping, at(5, 23, 31), helpful=False)
        # C5: a bot answer, then the customer asks for a person; nobody has claimed it yet.
        await b.conversation("C5", "webchat", at(6, 2))
        await b.answer("C5", at(6, 2, 0, 5), PASSWORDS)
        await b.escalate("C5", at(6, 2, 1), "customer_request", "general")
        # C6: claimed after a minute, answered after three; still open.
        await b.conversation("C6", "webchat", at(6, 3))
        await b.escalate("C6", at(6, 3), "bot_unanswered", "general", "Can I pay in bitcoin?")
        await b.claim("C6", at(6, 3, 1), "agent1")
        await b.reply("C6", at(6, 3, 3), "agent1")
        # C7: queued five minutes before now; its 10 minutes are not up.
        await b.conversation("C7", "telegram", at(6, 3, 50))
        await b.escalate("C7", at(6, 3, 55), "customer_request", "general")
        return b.made
    finally:
        await db.dispose()


@dataclass
class Reports:
    client: TestClient
    boss: AgentApi
    agent: AgentApi
    clock: FrozenClock

    async def get(self, query: str = RANGE, status: int = 200) -> dict[str, Any]:
        return await self.boss.call("GET", f"/api/v1/reports?{query}", expect=status)

    async def csv(self, figure: str, query: str = RANGE) -> list[dict[str, str]]:
        resp = await self.client.get(
            f"/api/v1/reports/{figure}.csv?{query}", headers=self.boss.headers
        )
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "text/csv"
        text = (await resp.read()).decode("utf-8-sig")
        return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
async def reports(
    aiohttp_client: Any, make_settings: Any, tmp_path: Path
) -> AsyncIterator[Reports]:
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(WORKSPACE, encoding="utf-8")
    settings = make_settings(workspace_file=str(workspace))
    url = settings.effective_database_url
    await seed(url, agents=2)
    db = Database(url)
    clock = FrozenClock(NOW)
    try:
        await create_agent(
            db, clock, email="boss@example.com", name="Boss", password=PASSWORD, role="supervisor"
        )
        await create_agent(
            db, clock, email="root@example.com", name="Root", password=PASSWORD, role="admin"
        )
    finally:
        await db.dispose()
    await build_data_set(url)
    client = await aiohttp_client(create_app(settings, clock=clock, run_workers=False))
    boss = await AgentApi.login(client, "boss@example.com", PASSWORD)
    agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)
    yield Reports(client, boss, agent, clock)


def rows(figure: dict[str, Any], group: str | None = None) -> dict[str, dict[str, Any]]:
    """A table's rows by their first column; with ``group``, that group's rows by key (agents
    by name)."""
    if group is None:
        return {next(iter(r.values())): r for r in figure["rows"]}
    return {
        (r["label"] if group == "agent" else r["key"]): r
        for r in figure["rows"]
        if r["group"] == group
    }


def pick(row: dict[str, Any], *names: str) -> tuple[Any, ...]:
    return tuple(row[n] for n in names)


async def test_volume_by_channel_hour_and_day_in_the_report_time_zone(reports: Reports) -> None:
    body = await reports.get(RANGE + "&tz=Asia/Bangkok")
    assert body["tz"] == "Asia/Bangkok"
    assert body["since"] == "2026-01-04T17:00:00+00:00"  # midnight in Bangkok
    assert body["until"] == "2026-01-06T17:00:00+00:00"
    f = body["figures"]
    by_channel = rows(f["volume_by_channel"])
    # C1 C2 C5 C6 on web chat (C2 wrote twice), C3 email, C4 SMS, C7 Telegram; C0 before.
    assert {k: pick(v, "conversations", "messages") for k, v in by_channel.items()} == {
        "webchat": (4, 5),
        "email": (1, 1),
        "sms": (1, 1),
        "telegram": (1, 1),
    }
    assert list(by_channel) == ["webchat", "email", "sms", "telegram"]  # busiest first
    assert pick(f["volume_by_channel"], "conversations", "messages") == (7, 8)
    hours = {r["hour"]: pick(r, "conversations", "messages") for r in f["volume_by_hour"]["rows"]}
    assert len(hours) == 24
    # Bangkok hours: C1 C2 C6 C7 at 10, C3 at 17, C4 (23:30 UTC) at 06, C5 at 09.
    assert {h: v for h, v in hours.items() if v != (0, 0)} == {
        6: (1, 1),
        9: (1, 1),
        10: (4, 5),
        17: (1, 1),
    }
    days = [(r["date"], r["conversations"], r["messages"]) for r in f["volume_by_day"]["rows"]]
    assert days == [("2026-01-05", 3, 4), ("2026-01-06", 4, 4)]

    utc = (await reports.get(RANGE + "&tz=UTC"))["figures"]
    hours = {r["hour"]: r["conversations"] for r in utc["volume_by_hour"]["rows"] if r["messages"]}
    assert hours == {2: 1, 3: 4, 10: 1, 23: 1}  # C4 at 23 on Monday in UTC
    days = [(r["date"], r["conversations"]) for r in utc["volume_by_day"]["rows"]]
    assert days == [("2026-01-05", 4), ("2026-01-06", 3)]

    # The default zone is the desk's (its business hours'), the default range the last 7 days.
    default = await reports.get("")
    assert default["tz"] == "Asia/Bangkok"
    assert default["until"] == "2026-01-06T17:00:00+00:00"  # the end of today in Bangkok
    assert default["since"] == "2025-12-30T17:00:00+00:00"
    assert default["figures"]["volume_by_channel"]["conversations"] == 8  # C0 too


async def test_containment_and_escalation_reasons(reports: Reports) -> None:
    f = (await reports.get())["figures"]
    c = f["containment"]
    # Started: C1–C7; C1 and C4 never reached a person.
    assert pick(c, "started", "contained", "escalated", "rate") == (7, 2, 5, round(2 / 7, 4))
    assert {k: pick(v, "started", "contained", "rate") for k, v in rows(c).items()} == {
        "email": (1, 0, 0.0),
        "sms": (1, 1, 1.0),
        "telegram": (1, 0, 0.0),
        "webchat": (4, 1, 0.25),
    }
    assert "definition" in c and "escalation" in c["definition"]
    e = f["escalation_reasons"]
    assert e["total"] == 5
    assert [pick(r, "reason", "count", "share") for r in e["rows"]] == [
        ("customer_request", 3, 0.6),
        ("bot_unanswered", 2, 0.4),
    ]


async def test_first_response_in_wall_clock_and_business_hours(reports: Reports) -> None:
    body = await reports.get()
    assert body["business_hours"] == {"defined": True, "tz": "Asia/Bangkok"}
    fr = body["figures"]["first_response"]
    # C2 240 s, C6 180 s, C3 15 h 50 min = 57,000 s of which business time is 30 min Monday
    # evening + 20 min Tuesday morning = 3,000 s; C5 and C7 unanswered; C0 queued before.
    assert pick(fr, "count", "unanswered") == (3, 2)
    assert pick(fr, "median_seconds", "p90_seconds") == (240.0, 57000.0)
    assert pick(fr, "median_business_seconds", "p90_business_seconds") == (240.0, 3000.0)
    cols = ("count", "median_seconds", "p90_seconds", "median_business_seconds", "unanswered")
    teams = rows(fr, "team")
    assert pick(teams["general"], *cols) == (2, 210.0, 240.0, 210.0, 2)
    assert pick(teams["billing"], *cols) == (1, 57000.0, 57000.0, 3000.0, 0)
    agents = rows(fr, "agent")
    assert pick(agents["Agent 1"], *cols[:4]) == (2, 210.0, 240.0, 210.0)
    assert pick(agents["Agent 2"], *cols[:4]) == (1, 57000.0, 57000.0, 3000.0)
    channels = rows(fr, "channel")
    assert pick(channels["webchat"], *cols) == (2, 210.0, 240.0, 210.0, 1)
    assert pick(channels["email"], *cols) == (1, 57000.0, 57000.0, 3000.0, 0)
    assert pick(channels["telegram"], "count", "median_seconds", "unanswered") == (0, None, 1)


async def test_resolution_sla_queue_wait(reports: Reports) -> None:
    f = (await reports.get())["figures"]
    r = f["resolution"]
    # C0: Sunday 12:00 → Monday 03:05 UTC = 54,300 s; business: Monday 09:00–10:05 = 3,900 s.
    # C2: 1,200 s, all open. C3: 59,400 s; business 30 min + 60 min = 5,400 s.
    assert pick(r, "count", "median_seconds", "p90_seconds") == (3, 54300.0, 59400.0)
    assert pick(r, "median_business_seconds", "p90_business_seconds") == (3900.0, 5400.0)
    cols = ("count", "median_seconds", "p90_seconds", "median_business_seconds")
    assert pick(rows(r, "team")["general"], *cols) == (2, 27750.0, 54300.0, 2550.0)
    assert pick(rows(r, "agent")["Agent 2"], *cols) == (1, 59400.0, 59400.0, 5400.0)
    assert pick(rows(r, "channel")["webchat"], *cols) == (2, 27750.0, 54300.0, 2550.0)

    s = f["sla"]
    # C2, C6 met; C3 (due 18:00 Monday in Bangkok) late; C5 unanswered past due; C7 not due.
    assert pick(s, "met", "breached", "pending", "attainment") == (2, 2, 1, 0.5)
    assert {t["team"]: pick(t, "met", "breached", "pending", "attainment") for t in s["rows"]} == {
        "billing": (0, 1, 0, 0.0),
        "general": (2, 1, 1, 0.6667),
    }
    reports.clock.advance(6 * 60)  # 04:06: C7's due time (04:05) has passed
    s = (await reports.get())["figures"]["sla"]
    assert pick(s, "met", "breached", "pending") == (2, 3, 0)

    w = f["queue_wait"]
    # C2 120 s, C6 60 s, C3 Monday 10:30 → Tuesday 02:10 UTC = 56,400 s; C5, C7 unclaimed.
    assert pick(w, "count", "unclaimed", "median_seconds", "p90_seconds") == (
        3,
        2,
        120.0,
        56400.0,
    )
    general = rows(w, "team")["general"]
    assert pick(general, "count", "median_seconds", "p90_seconds", "unclaimed") == (
        2,
        90.0,
        120.0,
        2,
    )


async def test_csat_top_articles_and_knowledge_gaps(reports: Reports) -> None:
    f = (await reports.get())["figures"]
    c = f["csat"]
    # C0 4 and C2 5 after agent1 closed them (web chat, general); C3 2 after agent2 (email).
    assert pick(c, "count", "average", "satisfied", "satisfied_share") == (3, 3.67, 2, 0.6667)
    cols = ("count", "average", "satisfied_share")
    assert pick(rows(c, "agent")["Agent 1"], *cols) == (2, 4.5, 1.0)
    assert pick(rows(c, "agent")["Agent 2"], *cols) == (1, 2.0, 0.0)
    assert pick(rows(c, "team")["billing"], *cols) == (1, 2.0, 0.0)
    assert pick(rows(c, "channel")["webchat"], *cols) == (2, 4.5, 1.0)

    t = f["top_articles"]
    # Shipping answered C1 (helpful) and C4 (not helpful); passwords answered C5; the miss
    # in C2 is not an answer.
    assert [
        pick(r, "article_id", "answers", "helpful", "not_helpful", "helpful_share")
        for r in t["rows"]
    ] == [("order-tracking", 2, 1, 1, 0.5), ("reset-password", 1, 0, 0, None)]
    assert t["rows"][0]["title"] == "How can I track my order?"

    g = f["knowledge_gaps"]
    # C2's miss and escalation ask one question (counted once), C6's escalation another, and
    # C4's unhelpful vote a third.
    assert pick(g, "count", "escalated", "missed", "unhelpful") == (3, 2, 0, 1)


async def test_every_table_downloads_as_csv_with_the_json_rows(reports: Reports) -> None:
    body = await reports.get()
    tables = {name: cols for name, cols in body["columns"].items()}
    assert set(tables) == {n for n, fig in body["figures"].items() if "rows" in fig}
    for name, columns in tables.items():
        got = await reports.csv(name)
        expected = [
            {c: "" if row.get(c) is None else str(row[c]) for c in columns}
            for row in body["figures"][name]["rows"]
        ]
        assert got == expected, name
        assert all(list(r) == columns for r in got)
    resp = await reports.client.get(
        f"/api/v1/reports/first_response.csv?{RANGE}", headers=reports.boss.headers
    )
    disposition = resp.headers["Content-Disposition"]
    assert 'filename="first-response-20260105-20260107.csv"' in disposition
    missing = await reports.client.get("/api/v1/reports/nothing.csv", headers=reports.boss.headers)
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "report_not_found"


async def test_only_supervisors_and_admins_and_bad_parameters_are_named(
    reports: Reports,
) -> None:
    for path in ("/api/v1/reports", "/api/v1/reports/sla.csv"):
        resp = await reports.client.get(path, headers=reports.agent.headers)
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "supervisors_only"
        assert (await reports.client.get(path)).status == 401
    admin = await AgentApi.login(reports.client, "root@example.com", PASSWORD)
    assert (await admin.call("GET", f"/api/v1/reports?{RANGE}"))["tz"] == "Asia/Bangkok"
    for query, code, named in (
        ("tz=Mars/Olympus", "bad_tz", "tz"),
        ("tz=../etc/passwd", "bad_tz", "tz"),
        ("since=2026-01-07&until=2026-01-05", "bad_range", "since"),
        ("since=2026-01-05&until=2026-01-05", "bad_range", "since"),
        ("since=2025-01-01&until=2026-01-05", "bad_range", "366 days"),
        ("since=yesterday", "bad_since", "since"),
        ("until=2026-13-01", "bad_until", "until"),
        # Year 1 in a zone east of UTC, year 9999 west of it: out of the datetime range.
        ("since=0001-01-01&until=9999-12-31", "bad_since", "since"),
        ("since=2026-01-01&until=9999-12-31&tz=America/New_York", "bad_until", "until"),
        ("since=0001-01-01T00:00:00%2B14:00&until=2026-01-05", "bad_since", "since"),
        ("since=1899-12-30&until=1899-12-31", "bad_since", "1900-01-01"),
        ("from=2026-01-01", "unknown_parameter", "from"),
    ):
        for path in ("/api/v1/reports", "/api/v1/reports/csat.csv"):
            resp = await reports.client.get(f"{path}?{query}", headers=reports.boss.headers)
            assert resp.status == 400, (query, await resp.text())
            error = (await resp.json())["error"]
            assert error["code"] == code, query
            assert named in error["message"], query
    # 366 days is allowed; a date-time with an offset is taken as it is.
    await reports.get("since=2025-01-05&until=2026-01-06")
    body = await reports.get("since=2026-01-05T10:00:00%2B07:00&until=2026-01-05T04:00:00Z")
    assert body["since"] == "2026-01-05T03:00:00+00:00"
    assert body["figures"]["volume_by_channel"]["conversations"] == 2  # C1, C2 at 03:00/03:10


async def test_an_empty_range_has_no_figures_but_no_errors(reports: Reports) -> None:
    f = (await reports.get("since=2025-06-01&until=2025-06-02&tz=UTC"))["figures"]
    assert f["containment"]["rate"] is None
    assert f["first_response"]["median_seconds"] is None
    assert f["csat"]["average"] is None
    assert f["sla"]["attainment"] is None
    assert [r["conversations"] for r in f["volume_by_day"]["rows"]] == [0]


async def test_the_supervisor_view_gives_the_reports_first_response_for_today(
    reports: Reports,
) -> None:
    known = {c["id"] for c in (await reports.agent.queue())["items"]}
    chat = ChatClient(reports.client)
    await chat.connect()
    try:
        await chat.say("I want to talk to a person")

        async def queued() -> int | None:
            fresh = {c["id"] for c in (await reports.agent.queue())["items"]} - known
            return fresh.pop() if fresh else None

        conv_id = await eventually(queued)
        reports.clock.advance(60)
        await reports.agent.claim(conv_id)
        reports.clock.advance(60)
        await reports.agent.reply(conv_id, "Hello, how can I help?")
        await reports.agent.close(conv_id)
        reports.clock.advance(600)
        await chat.say("One more thing about my order")  # reopens it to the queue
        assert (await reports.agent.conversation(conv_id))["status"] == "queued"
        reports.clock.advance(300)
        await reports.agent.claim(conv_id)
        await reports.agent.reply(conv_id, "Sure, let me look")
    finally:
        await chat.close()

    today = (await reports.get("since=2026-01-06&until=2026-01-07"))["figures"]["first_response"]
    # Today in Bangkok: C6's 180 s, and this conversation's two stays in the queue, 120 s
    # and 300 s (the reopened one counts from when it queued again).
    assert pick(today, "count", "median_seconds") == (3, 180.0)
    overview = await reports.boss.call("GET", "/api/v1/supervisor")
    assert overview["figures"]["median_first_response_seconds"] == today["median_seconds"]


def test_bucket_round_trip() -> None:
    from storage.repos.reports import BUCKET_SECONDS, bucket_start

    moment = datetime(2026, 1, 5, 23, 30, tzinfo=UTC)
    bucket = int(moment.timestamp()) // BUCKET_SECONDS
    assert bucket_start(bucket) == moment
    assert bucket_start(bucket + 1) - moment == timedelta(minutes=15)


def test_csv_cells_people_typed_never_run_as_formulas() -> None:
    from console.reports import to_csv

    text = to_csv(["title", "n", "share"], [{"title": "=HYPERLINK()", "n": -1, "share": None}])
    assert text.splitlines() == ["title,n,share", "'=HYPERLINK(),-1,"]
