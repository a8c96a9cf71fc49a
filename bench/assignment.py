#!/usr/bin/env python3
"""Automatic-assignment benchmark for the agent workspace: the pure policy and the desk's pass.

Generates one desk deterministically (fixed seed): N queued conversations (webchat, email,
telegram and voice; English, Thai and Chinese with regional variants and some without a
locale; 10 % VIP customers, 20 % with a first-response SLA due within minutes) routed by
keyword and locale rules to 4 teams, three of which need the conversation's language as an
agent skill; and M agents in random teams with random language skills, capacities and open
conversations, 80 % of them online.

1. Pure policy: times ``routing.assignment.assign`` on the whole queue, R times, against
   ``routing.assignment.order`` alone (the priority sort every pass starts with) as the
   baseline, and prints how evenly the pass spreads work: the max-min spread of ``busy()``
   (and of the share of capacity in use) among the online agents of each team, before and
   after, on the whole queue and on a light queue of half the free slots.
2. Database pass: seeds a temporary SQLite database (migrated with ``storage.migrate``), and
   with ``--postgres`` a throwaway PostgreSQL database too, with the same desk in bulk inserts
   (the agents' open conversations included, so the loads are the same), then times
   ``Router.desk.assign_waiting()`` passes until the queue stops shrinking. A pass weighs up to
   ``routing.desk.QUEUE_WINDOW`` queued rows, computes the whole plan (off the event loop) and
   applies at most ``routing.desk.MAX_PER_PASS`` of it, so a round takes several passes. A
   read-only transaction loading what a pass decides on (online agents locked, the window, the
   loads) is the baseline. Reported: ms per pass, assigned per pass, conversations assigned per
   second and ms per assignment over a round, and each pass's transaction (timed by wrapping
   ``Database.transaction``): the longest one bounds how long the online agents' rows stay
   locked, which is what the cap is for. With the clock frozen, the union of a round's passes
   is checked against ``assign()`` on the whole initial window (identical, or how they differ:
   pairs on either side only, conversations from past the window, passes that were not the next
   slice of the plan). When the queue is larger than the window, ``assign()`` on the whole
   remaining queue counts what the window left unseen when the passes stopped.

Defaults took about 40 s on two cores (SQLite only) before passes were capped; a round now
runs about (assigned / MAX_PER_PASS) + 1 passes, each computing the plan afresh, so expect
longer. ``--postgres`` adds about as much again.

    .venv/bin/python bench/assignment.py
    .venv/bin/python bench/assignment.py --conversations 500 --agents 30 --repeat 5
    .venv/bin/python bench/assignment.py --postgres postgresql+asyncpg://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from routing.assignment import AgentState, Assignment, TeamPolicy, TeamRule, Waiting
    from routing.router import Router
    from storage.db import Database

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
VENV = ROOT / ".venv"
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # the FrozenClock's time: every pass runs "now"
MS = 1000.0
PG_TIMEOUT = 30.0

# ---- the desk --------------------------------------------------------------------------------

TEAMS = ("general", "billing", "thai", "chinese")
# Which team needs the conversation's language as a skill (general takes anyone's English).
LANGUAGE_SKILLS = {"general": False, "billing": True, "thai": True, "chinese": True}
BILLING_WORDS = ("refund", "invoice", "payment", "charged", "คืนเงิน", "ใบแจ้งหนี้", "退款", "发票")
CHANNELS = (("webchat", 45), ("email", 25), ("telegram", 20), ("voice", 10))
LOCALES = (
    ("en", 40),
    ("en-GB", 10),
    ("th", 15),
    ("th-TH", 10),
    ("zh", 8),
    ("zh-TW", 7),
    (None, 10),
)
TEXTS = {
    "en": (
        "where is my parcel {n}",
        "I cannot log in to my account",
        "I was charged twice for order {n}",
        "please send the invoice for order {n} again",
        "how do I get a refund for a broken charger",
        "the app crashes when I open my basket",
        "can I change the delivery address of order {n}",
    ),
    "th": (
        "พัสดุ {n} ยังไม่มาถึงค่ะ",
        "เข้าสู่ระบบไม่ได้ครับ",
        "ขอคืนเงินคำสั่งซื้อ {n} ค่ะ",
        "ขอใบแจ้งหนี้อีกครั้งครับ",
        "เปลี่ยนที่อยู่จัดส่งได้ไหม",
    ),
    "zh": (
        "我的包裹 {n} 还没到",
        "我无法登录账户",
        "我要退款，订单 {n}",
        "请再发一次发票",
        "可以修改收货地址吗",
    ),
}
SLA_SOON = 0.2  # share of conversations whose first response is due within minutes
VIP = 0.1
ONLINE, AWAY = 0.8, 0.1  # the rest offline
KIND_CHANNELS = {"chat": ("webchat", "telegram"), "message": ("email",), "call": ("voice",)}


def team_rules() -> tuple[TeamRule, ...]:
    from routing.assignment import TeamRule

    return (
        TeamRule("billing", keywords=BILLING_WORDS),
        TeamRule("thai", locales=frozenset({"th"})),
        TeamRule("chinese", locales=frozenset({"zh"})),
    )


def team_policies() -> tuple[TeamPolicy, ...]:
    from routing.assignment import TeamPolicy

    return tuple(TeamPolicy(t, required_skills_from_locale=LANGUAGE_SKILLS[t]) for t in TEAMS)


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark the agent workspace's automatic assignment: the pure policy "
        "(routing.assignment.assign) against its priority sort alone, and the desk's database "
        "pass (Desk.assign_waiting) on SQLite and optionally PostgreSQL.",
        epilog="Progress goes to stderr, the results to stdout.",
    )
    p.add_argument(
        "--conversations", type=int, default=2000, help="queued conversations (default 2000)"
    )
    p.add_argument("--agents", type=int, default=100, help="agents (default 100)")
    p.add_argument(
        "--repeat",
        type=int,
        default=20,
        metavar="R",
        help="timed repetitions of the pure pass and of its baseline (default 20)",
    )
    p.add_argument(
        "--db-rounds",
        type=int,
        default=3,
        metavar="K",
        help="times the database is re-seeded and drained per backend; 0 skips the database "
        "part (default 3)",
    )
    p.add_argument(
        "--postgres",
        metavar="URL",
        help="also run the database part on PostgreSQL: postgresql+asyncpg://USER@127.0.0.1"
        "[:PORT]/DBNAME. DBNAME is only used to connect; a throwaway database "
        "switchboard_bench_<random> is created on that server and dropped afterwards.",
    )
    p.add_argument("--seed", type=int, default=20260302, help="generator seed (fixed default)")
    args = p.parse_args(argv)
    if args.conversations < 1 or args.agents < 1 or args.repeat < 1 or args.db_rounds < 0:
        p.error("--conversations, --agents and --repeat must be at least 1, --db-rounds 0 or more")
    if args.postgres and not args.postgres.startswith("postgresql+asyncpg://"):
        p.error("--postgres must be postgresql+asyncpg://...")
    return args


def ensure_venv() -> None:
    """Re-run under the project's venv when started by a Python without its packages."""
    try:
        import sqlalchemy  # noqa: F401

        import routing  # noqa: F401
    except ImportError:
        python = VENV / "bin" / "python"
        if python.exists() and Path(sys.prefix) != VENV and not os.environ.get("_BENCH_REEXEC"):
            os.environ["_BENCH_REEXEC"] = "1"
            os.execv(python, [str(python), str(SCRIPT), *sys.argv[1:]])
        sys.exit(f"bench: needs the project's packages; run `make` first or use {python}")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def weighted(rng: random.Random, table: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


# ---- the synthetic desk ------------------------------------------------------------------


@dataclass
class Scenario:
    """One desk, as rows for the database and as the pure policy's inputs."""

    agents: list[dict[str, Any]] = field(default_factory=list)
    # Every conversation: the queued ones and the agents' open (assigned) ones.
    conversations: list[dict[str, Any]] = field(default_factory=list)
    queue: list[Waiting] = field(default_factory=list)
    states: list[AgentState] = field(default_factory=list)

    @property
    def queued(self) -> list[dict[str, Any]]:
        return [c for c in self.conversations if c["status"] == "queued"]


def make_agent(rng: random.Random, agent_id: int) -> dict[str, Any]:
    r = rng.random()
    presence = "online" if r < ONLINE else "away" if r < ONLINE + AWAY else "offline"
    if rng.random() < 0.1:
        teams: list[str] = []  # in no team: works every team's queue
    else:
        k = 1 if rng.random() < 0.6 else 2
        teams = sorted(rng.sample(TEAMS, k=k), key=TEAMS.index)
    skills = set()
    if rng.random() < 0.85:
        skills.add("lang:en")
    if rng.random() < (0.9 if "thai" in teams else 0.3):
        skills.add("lang:th")
    if rng.random() < (0.9 if "chinese" in teams else 0.2):
        skills.add("lang:zh")
    if "billing" in teams:
        skills.add("product:billing")
    capacity = {
        "chat": rng.randint(2, 5),
        "message": rng.randint(3, 8),
        "call": rng.choice((0, 1, 1)),
    }
    return {
        "id": agent_id,
        "email": f"agent{agent_id}@bench.example",
        "name": f"Agent {agent_id}",
        "password_hash": "-",  # nobody logs in
        "role": "agent",
        "active": True,
        "last_seen_at": NOW,
        "presence": presence,
        "presence_changed_at": NOW - timedelta(hours=1),
        "teams": teams,
        "skills": sorted(skills),
        "capacity": capacity,
        "created_at": NOW - timedelta(days=30),
    }


def conversation_row(
    conv_id: int, channel: str, locale: str | None, segment: str | None, **extra: Any
) -> dict[str, Any]:
    created = extra.pop("created_at", NOW - timedelta(hours=2))
    return {
        "id": conv_id,
        "customer_id": conv_id,
        "identity_id": conv_id,
        "channel": channel,
        "locale": locale,
        "segment": segment,  # the customer's; not a conversation column
        "reference": f"B{conv_id:08d}",
        "bot_misses": 0,
        "sla_breached": [],
        "created_at": created,
        "updated_at": created,
        **extra,
    }


def make_scenario(conversations: int, agents: int, seed: int) -> Scenario:
    from routing.assignment import Waiting, language, route
    from routing.desk import agent_state
    from storage.models import Agent

    rng = random.Random(seed)
    rules = team_rules()
    out = Scenario(agents=[make_agent(rng, i) for i in range(1, agents + 1)])
    conv_id = 0
    # The agents' open conversations, so each pass starts from real loads.
    loads: dict[int, dict[str, int]] = {}
    last: dict[int, datetime] = {}
    for agent in out.agents:
        counts: dict[str, int] = {}
        for kind, cap in agent["capacity"].items():
            n = rng.randint(0, cap) if rng.random() < 0.7 else 0
            for _ in range(n):
                channel = rng.choice(KIND_CHANNELS[kind])
                counts[channel] = counts.get(channel, 0) + 1
        if counts:
            at = NOW - timedelta(seconds=rng.randint(60, 7200))
            last[agent["id"]] = at
            for channel, n in counts.items():
                for _ in range(n):
                    conv_id += 1
                    out.conversations.append(
                        conversation_row(
                            conv_id,
                            channel,
                            "en",
                            None,
                            status="assigned",
                            priority=0,
                            assignee_id=agent["id"],
                            team=(agent["teams"] or ["general"])[0],
                            queued_at=at - timedelta(minutes=2),
                            assigned_at=at,
                            first_response_due_at=None,
                        )
                    )
        loads[agent["id"]] = counts
    # The queue.
    for n in range(conversations):
        conv_id += 1
        channel = weighted(rng, CHANNELS)
        locale = weighted(rng, LOCALES)
        lang = language(locale) or "en"
        text = rng.choice(TEXTS[lang]).format(n=10000 + n)
        segment = "vip" if rng.random() < VIP else None
        queued_at = NOW - timedelta(seconds=rng.randint(5, 3600), microseconds=rng.randint(0, 999))
        if rng.random() < SLA_SOON:
            due: datetime | None = NOW + timedelta(seconds=rng.randint(-120, 300))
        elif rng.random() < 0.8:
            due = NOW + timedelta(minutes=rng.randint(10, 240))
        else:
            due = None  # no SLA policy matched (machine mail, for one)
        probe = Waiting(
            conversation_id=conv_id,
            channel=channel,
            locale=locale,
            text=text,
            segment=segment,
            queued_at=queued_at,
        )
        team = route(probe, rules, "general")
        out.queue.append(
            Waiting(
                conversation_id=conv_id,
                channel=channel,
                locale=locale,
                segment=segment,
                queued_at=queued_at,
                team=team,
                sla_due_at=due,
            )
        )
        out.conversations.append(
            conversation_row(
                conv_id,
                channel,
                locale,
                segment,
                status="queued",
                priority=10 if segment == "vip" else 0,  # what Desk.on_queued sets
                assignee_id=None,
                team=team,
                subject=text if channel == "email" else None,
                queued_at=queued_at,
                assigned_at=None,
                first_response_due_at=due,
                created_at=queued_at - timedelta(seconds=30),
            )
        )
    # The pure policy's view of the agents, built the way the desk builds it from its rows.
    team_names = frozenset(TEAMS)
    for row in out.agents:
        agent = Agent(**row)
        out.states.append(agent_state(agent, loads[row["id"]], last.get(row["id"]), team_names))
    return out


# ---- 1. the pure policy --------------------------------------------------------------------


@dataclass
class PureResult:
    assign_times: list[float]
    order_times: list[float]
    plan: list[Assignment]
    spreads: dict[str, Spread]
    unassigned_reasons: dict[str, int]
    light: tuple[int, int, dict[str, Spread]]  # conversations, assigned, spreads


@dataclass(frozen=True)
class Spread:
    """A team's online agents and the max-min spread of their load before and after a pass:
    of ``busy()`` (a full kind counts 1, so a full agent with a call slot is 1 above a full
    one without) and of the share of their capacity in use (0..1)."""

    agents: int
    busy_before: float
    busy_after: float
    share_before: float
    share_after: float


def timed_runs(
    fn: Callable[[], Any], repeat: int, label: str | None = None
) -> tuple[Any, list[float]]:
    """``fn``'s last value and its times; one untimed warm-up first. Progress when labelled."""
    fn()
    times: list[float] = []
    value = None
    step = max(1, repeat // 4)
    for i in range(repeat):
        started = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - started)
        if label and (i + 1) % step == 0 and i + 1 < repeat:
            say(f"  {label}: {i + 1}/{repeat}")
    return value, times


def spreads(
    states: Sequence[AgentState], plan: Sequence[Assignment], queue: Sequence[Waiting]
) -> dict[str, Spread]:
    """Per team: how unevenly its online agents are loaded before and after the plan."""
    from routing.assignment import Presence, take

    by_id = {s.agent_id: s for s in states}
    kinds = {w.conversation_id: w.kind for w in queue}
    for item in plan:
        by_id[item.agent_id] = take(by_id[item.agent_id], kinds[item.conversation_id], NOW)

    def share(s: AgentState) -> float:
        kinds_with_room = sum(1 for cap in s.capacity.values() if cap)
        return float(s.busy()) / kinds_with_room if kinds_with_room else 0.0

    def spread(values: list[float]) -> float:
        return max(values) - min(values)

    out: dict[str, Spread] = {}
    for team in TEAMS:
        before = [s for s in states if s.presence is Presence.ONLINE and team in s.teams]
        after = [by_id[s.agent_id] for s in before]
        if before:
            out[team] = Spread(
                len(before),
                spread([float(s.busy()) for s in before]),
                spread([float(s.busy()) for s in after]),
                spread([share(s) for s in before]),
                spread([share(s) for s in after]),
            )
    return out


def why_unassigned(
    states: Sequence[AgentState], plan: Sequence[Assignment], queue: Sequence[Waiting]
) -> dict[str, int]:
    """For the conversations left queued: the first thing nobody in the team had."""
    from routing.assignment import Presence, skills_needed, take

    by_id = {s.agent_id: s for s in states}
    kinds = {w.conversation_id: w.kind for w in queue}
    for item in plan:
        by_id[item.agent_id] = take(by_id[item.agent_id], kinds[item.conversation_id], NOW)
    policies = {p.team: p for p in team_policies()}
    done = {a.conversation_id for a in plan}
    online = [s for s in by_id.values() if s.presence is Presence.ONLINE]
    out: dict[str, int] = {}
    for w in queue:
        if w.conversation_id in done:
            continue
        team = [s for s in online if w.team is None or w.team in s.teams]
        skills = skills_needed(w, policies[w.team or "general"])
        skilled = [s for s in team if skills <= s.skills]
        if not team:
            reason = "nobody online in the team"
        elif not skilled:
            reason = f"no online agent with {', '.join(sorted(skills))}"
        elif not any(s.spare(w.kind) > 0 for s in skilled):
            reason = f"no room for a {w.kind.value}"
        else:
            reason = "other"
        out[reason] = out.get(reason, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def bench_pure(scenario: Scenario, repeat: int) -> PureResult:
    from routing.assignment import assign, order

    policies = team_policies()
    queue, states = scenario.queue, scenario.states
    say(f"pure policy: order() x{repeat} on {len(queue)} queued conversations (baseline)")
    _, order_times = timed_runs(lambda: order(queue, NOW), repeat)
    say(f"pure policy: assign() x{repeat} on {len(queue)} conversations and {len(states)} agents")
    plan, assign_times = timed_runs(
        lambda: assign(queue, states, policies, NOW), repeat, "assign()"
    )
    # Fairness shows best when there is room to spare: a queue half the size of the free slots.
    light_queue = queue[: max(1, free_slots(states) // 2)]
    light_plan = assign(light_queue, states, policies, NOW)
    return PureResult(
        assign_times,
        order_times,
        plan,
        spreads(states, plan, queue),
        why_unassigned(states, plan, queue),
        (len(light_queue), len(light_plan), spreads(states, light_plan, light_queue)),
    )


def free_slots(states: Sequence[AgentState]) -> int:
    from routing.assignment import Presence

    online = [s for s in states if s.presence is Presence.ONLINE]
    return sum(max(s.spare(k), 0) for s in online for k in s.capacity)


# ---- 2. the database pass ------------------------------------------------------------------


class SilentAssistant:
    """A bot that never answers: the benchmark's conversations are already with the humans."""

    does_io = False

    async def respond(self, context: Any) -> Any:
        from bot.assistant import BotReply, Intent

        return BotReply(intent=Intent.UNKNOWN, confidence=0.0)


def channel_traits(name: str) -> Any:
    """What switchboard.app registers for these channels: email and calls are not live."""
    from channels.base import DEFAULT_TRAITS, ChannelTraits

    if name == "email":
        return ChannelTraits(live=False, threaded=True, acknowledges=True, max_misses=1)
    if name == "voice":
        return ChannelTraits(live=False, outbound=False, max_misses=1, address_kind="phone")
    return DEFAULT_TRAITS


def build_router(db: Database) -> Router:
    from routing.clock import FrozenClock
    from routing.hub import Hub
    from routing.metrics import Metrics
    from routing.policy import DeskPolicy
    from routing.router import Router, RoutingPolicy

    desk = DeskPolicy(teams=team_policies(), rules=team_rules(), default_team="general")
    return Router(
        db,
        SilentAssistant(),  # type: ignore[arg-type]
        Hub(),
        FrozenClock(NOW),
        Metrics(),
        RoutingPolicy(),
        traits=channel_traits,
        desk=desk,
    )


async def seed(db: Database, scenario: Scenario) -> float:
    """Bulk inserts (SQLAlchemy core, many rows per statement); returns the seconds taken."""
    from sqlalchemy import insert

    from storage.models import Agent, ContactIdentity, Conversation, Customer

    started = time.perf_counter()
    customers, identities, convs = [], [], []
    for row in scenario.conversations:
        cid, channel = row["id"], row["channel"]
        created = row["created_at"]
        customers.append(
            {
                "id": cid,
                "display_name": f"Customer {cid}",
                "locale": row["locale"],
                "segment": row["segment"],
                "created_at": created,
                "updated_at": created,
            }
        )
        address = {
            "email": f"customer{cid}@bench.example",
            "voice": f"+6620{cid:07d}",
        }.get(channel, f"{channel}-visitor-{cid}")
        identities.append(
            {
                "id": cid,
                "customer_id": cid,
                "channel": channel,
                "address": address,
                "display_name": f"Customer {cid}",
                "created_at": created,
            }
        )
        conv = {k: v for k, v in row.items() if k != "segment"}
        conv.setdefault("subject", None)
        convs.append(conv)
    chunk = 500
    async with db.transaction() as session:
        await session.execute(insert(Agent.__table__), scenario.agents)
        for table, rows in (
            (Customer.__table__, customers),
            (ContactIdentity.__table__, identities),
            (Conversation.__table__, convs),
        ):
            for i in range(0, len(rows), chunk):
                await session.execute(insert(table), rows[i : i + chunk])
    return time.perf_counter() - started


async def wipe(db: Database) -> None:
    from sqlalchemy import delete

    from storage.models import Agent, ContactIdentity, Conversation, Customer, OutboxItem
    from storage.models import Touchpoint as Tp

    async with db.transaction() as session:
        for model in (OutboxItem, Tp, Conversation, ContactIdentity, Customer, Agent):
            await session.execute(delete(model))


async def load_only(router: Router) -> float:
    """What a pass reads before it decides, in a transaction of its own, and nothing more."""
    from storage.repos import agents as agent_repo

    desk = router.desk
    started = time.perf_counter()
    async with router.db.transaction() as session:
        since = NOW - router.policy.presence_timeout
        agents = await agent_repo.online_for_update(session, since)
        await desk._waiting(session)
        await desk._states(session, agents)
    return time.perf_counter() - started


def desk_limits() -> tuple[int, int]:
    """The desk's queue window (rows a pass weighs) and per-pass cap (conversations it assigns)."""
    from routing.desk import MAX_PER_PASS, QUEUE_WINDOW

    return QUEUE_WINDOW, MAX_PER_PASS


def desk_view(scenario: Scenario) -> list[Waiting]:
    """The queue rows a desk pass weighs: priority, then oldest, up to the desk's window."""
    window, _ = desk_limits()
    rows = {c["id"]: c for c in scenario.queued}
    ordered = sorted(
        scenario.queue,
        key=lambda w: (-rows[w.conversation_id]["priority"], w.queued_at, w.conversation_id),
    )
    return ordered[:window]


class TransactionTimer:
    """Wraps ``db.transaction`` to record how long each transaction stays open: from the
    moment it is entered (SQLite's in-process lock held) to the end of its commit or
    rollback. While a pass's transaction is open, the online agents' rows are locked."""

    def __init__(self, db: Database) -> None:
        self.spans: list[float] = []
        original = db.transaction

        @contextlib.asynccontextmanager
        async def timed() -> Any:
            started: float | None = None
            try:
                async with original() as session:
                    started = time.perf_counter()
                    yield session
            finally:
                if started is not None:
                    self.spans.append(time.perf_counter() - started)

        db.transaction = timed  # type: ignore[method-assign]

    def take(self) -> list[float]:
        spans, self.spans = self.spans, []
        return spans


@dataclass(frozen=True)
class Pass:
    seconds: float  # the whole of Desk.assign_waiting()
    txn_s: float  # its longest transaction
    assigned: int
    pairs: frozenset[tuple[int, int]]  # (conversation, agent) it assigned


@dataclass
class Round:
    seed_s: float
    load_s: list[float]
    passes: list[Pass]  # each pass that assigned something, in order
    idle: Pass  # the last pass, which found nothing more to assign
    left_queued: int
    stranded: int | None  # still assignable past the window when the passes stopped

    @property
    def assigned(self) -> int:
        return sum(p.assigned for p in self.passes)

    @property
    def busy_s(self) -> float:
        return sum(p.seconds for p in self.passes)

    @property
    def union(self) -> set[tuple[int, int]]:
        return {pair for p in self.passes for pair in p.pairs}


@dataclass
class DbResult:
    backend: str
    rounds: list[Round]
    plan: list[Assignment]  # assign() on the whole initial window, in plan order
    window: list[Waiting]  # that window
    pure_window_times: list[float]  # assign() alone on it

    @property
    def pure_window_s(self) -> float:
        return statistics.median(self.pure_window_times)

    @property
    def passes(self) -> list[Pass]:
        return [p for r in self.rounds for p in r.passes]

    @property
    def assigned(self) -> int:
        return sum(r.assigned for r in self.rounds)

    @property
    def busy_seconds(self) -> float:
        return sum(r.busy_s for r in self.rounds)


async def queued_count(db: Database) -> int:
    from sqlalchemy import func, select

    from storage.models import Conversation, ConversationStatus

    async with db.transaction() as session:
        left = await session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.status == ConversationStatus.QUEUED)
        )
        return int(left or 0)


async def assigned_pairs(db: Database) -> set[tuple[int, int]]:
    """(conversation, agent) for everything assigned so far this round (the frozen clock's
    NOW; the seeded open conversations were assigned earlier)."""
    from sqlalchemy import select

    from storage.models import Conversation

    async with db.transaction() as session:
        rows = await session.execute(
            select(Conversation.id, Conversation.assignee_id).where(Conversation.assigned_at == NOW)
        )
        return {(int(c), int(a)) for c, a in rows.all()}


async def drain(
    router: Router, timer: TransactionTimer, backend: str, n: int, bound: int
) -> tuple[list[Pass], Pass]:
    """Passes until one assigns nothing; each pass's pairs are read back between passes,
    outside the timings."""
    passes: list[Pass] = []
    seen: set[tuple[int, int]] = set()
    for number in range(1, bound + 2):
        timer.take()
        started = time.perf_counter()
        assigned = await router.desk.assign_waiting()
        elapsed = time.perf_counter() - started
        txn_s = max(timer.take(), default=math.nan)
        if assigned == 0:
            return passes, Pass(elapsed, txn_s, 0, frozenset())
        now_pairs = await assigned_pairs(router.db)
        passes.append(Pass(elapsed, txn_s, assigned, frozenset(now_pairs - seen)))
        seen = now_pairs
        say(
            f"  {backend} round {n}: pass {number} assigned {assigned} in {elapsed * MS:.0f} ms "
            f"(transaction {txn_s * MS:.0f} ms)"
        )
    raise RuntimeError(
        f"the queue was still shrinking after {bound + 1} passes, more than the "
        f"{bound} conversations that could be assigned at all"
    )


async def stranded(router: Router) -> int:
    """How many conversations assign() would still give an agent now, had the pass loaded the
    whole queue instead of its window (built as Desk._waiting builds them)."""
    from routing.assignment import Waiting, assign
    from routing.desk import _earliest, _known
    from storage.repos import agents as agent_repo
    from storage.repos import conversations as conv_repo

    desk = router.desk
    async with router.db.transaction() as session:
        agents = await agent_repo.online_for_update(session, NOW - router.policy.presence_timeout)
        states = await desk._states(session, agents)
        rows = await conv_repo.queued_with_segments(session, limit=10**9)
    waiting = [
        Waiting(
            conversation_id=conv.id,
            channel=_known(conv.channel),
            locale=conv.locale,
            segment="vip" if segment in desk.policy.vip_segments else segment,
            queued_at=conv.queued_at or conv.created_at,
            team=conv.team,
            sla_due_at=_earliest(conv),
        )
        for conv, segment in rows
    ]
    policies = [*desk.policy.teams, desk.policy.team(None)]
    return len(assign(waiting, states, policies, NOW, at_risk_within=desk.policy.at_risk_within))


async def bench_db(url: str, backend: str, scenario: Scenario, rounds: int) -> DbResult:
    from routing.assignment import assign
    from storage import migrate
    from storage.db import Database

    window_size, _ = desk_limits()
    view, policies = desk_view(scenario), team_policies()
    plan, pure_times = timed_runs(lambda: assign(view, scenario.states, policies, NOW), 3)
    # Each assigning pass assigns at least one: more passes than this would be a bug.
    bound = min(len(scenario.queue), free_slots(scenario.states))
    db = Database(url)
    result = DbResult(backend, [], plan, view, pure_times)
    try:
        say(f"{backend}: migrating")
        await migrate.upgrade(db)
        router = build_router(db)
        timer = TransactionTimer(db)
        for n in range(1, rounds + 1):
            if n > 1:
                await wipe(db)
            seeded = await seed(db, scenario)
            say(
                f"{backend} round {n}/{rounds}: seeded {len(scenario.agents)} agents and "
                f"{len(scenario.conversations)} conversations in {seeded:.2f} s"
            )
            loads = [await load_only(router) for _ in range(4)][1:]  # the first warms up
            passes, idle = await drain(router, timer, backend, n, bound)
            left = await queued_count(db)
            more = await stranded(router) if len(scenario.queue) > window_size else None
            result.rounds.append(Round(seeded, loads, passes, idle, left, more))
    finally:
        await db.dispose()
    return result


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A throwaway database on the server of ``admin_url``, dropped on exit."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    admin = make_url(admin_url)
    if admin.host not in (None, "127.0.0.1", "localhost", "::1"):
        raise SystemExit("bench: --postgres must point at 127.0.0.1")
    if not admin.database:
        admin = admin.set(database="postgres")
    name = f"switchboard_bench_{uuid.uuid4().hex[:10]}"

    async def execute(sql: str) -> None:
        engine = create_async_engine(
            admin.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
        )
        try:
            async with asyncio.timeout(PG_TIMEOUT), engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    say(f"created PostgreSQL database {name}")
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        say(f"dropped PostgreSQL database {name}")


# ---- the report ----------------------------------------------------------------------------


def describe(scenario: Scenario) -> None:
    from routing.assignment import Presence, at_risk

    queue = scenario.queue
    channels = {c: sum(w.channel == c for w in queue) for c, _ in CHANNELS}
    teams = {t: sum(w.team == t for w in queue) for t in TEAMS}
    vip = sum(w.vip for w in queue)
    risky = sum(at_risk(w, NOW) for w in queue)
    online = [s for s in scenario.states if s.presence is Presence.ONLINE]
    spare = free_slots(scenario.states)
    loaded = {w.conversation_id for w in desk_view(scenario)}
    risky_out = sum(at_risk(w, NOW) and w.conversation_id not in loaded for w in queue)
    print(
        f"Desk (seed): {len(queue)} queued conversations - "
        + ", ".join(f"{n} {c}" for c, n in channels.items())
        + f"; {vip} VIP, {risky} with the SLA at risk or breached; teams "
        + ", ".join(f"{t} {n}" for t, n in teams.items())
    )
    print(
        f"             {len(scenario.states)} agents, {len(online)} online with {spare} free "
        f"slots in all; {len(scenario.conversations) - len(queue)} conversations already "
        f"assigned; language skills needed in " + ", ".join(t for t in TEAMS if LANGUAGE_SKILLS[t])
    )
    if len(queue) > len(loaded):
        print(
            f"             a desk pass weighs the first {len(loaded)} queued rows (QUEUE_WINDOW) "
            f"by priority then age: {risky_out} of the {risky} SLA-at-risk conversations start "
            f"past them"
        )


def report_pure(result: PureResult, scenario: Scenario) -> dict[str, str]:
    a, o = result.assign_times, result.order_times
    n = len(result.plan)
    med_a, med_o = statistics.median(a), statistics.median(o)
    print()
    header = f"{'pure policy (one pass)':<40} {'runs':>5} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}"
    print(header)
    print("-" * len(header))
    for name, values in (("order(): priority sort only (baseline)", o), ("assign()", a)):
        print(
            f"{name:<40} {len(values):>5} {percentile(values, 50) * MS:>9.2f} "
            f"{percentile(values, 95) * MS:>9.2f} {max(values) * MS:>9.2f}"
        )
    queued = len(scenario.queue)
    print(
        f"assign() assigned {n} of {queued} per pass: {n / med_a:,.0f} assignments/s, "
        f"{med_a / queued * 1e6:.1f} us per queued conversation; "
        f"ratio assign() / order() (p50): {med_a / med_o:,.1f}x"
    )
    if result.unassigned_reasons:
        print(
            f"left queued ({queued - n}): "
            + "; ".join(f"{k}: {v}" for k, v in result.unassigned_reasons.items())
        )
    light_n, light_assigned, light = result.light
    print()
    print(
        "fairness: max-min spread among each team's online agents of busy() (a full kind counts "
        "1) and of the share of capacity in use, before -> after the pass"
    )
    print(
        f"{'team':<8} {'online':>6}   {'busy(), full queue':>18}   {'share, full queue':>17}   "
        f"{f'busy(), {light_n} queued':>18}   {f'share, {light_n} queued':>17}"
    )
    for team, full in result.spreads.items():
        lt = light[team]
        print(
            f"{team:<8} {full.agents:>6}   {full.busy_before:>8.2f} -> {full.busy_after:<6.2f}"
            f"   {full.share_before:>7.2f} -> {full.share_after:<6.2f}"
            f"   {lt.busy_before:>8.2f} -> {lt.busy_after:<6.2f}"
            f"   {lt.share_before:>7.2f} -> {lt.share_after:.2f}"
        )
    print(
        f"(the light queue is the first {light_n} conversations, half the free slots; "
        f"{light_assigned} of them were assigned)"
    )
    return {
        "pure assign()": f"{med_a * MS:.2f} ms/pass p50 ({percentile(a, 95) * MS:.2f} p95), "
        f"{n / med_a:,.0f} assignments/s, {med_a / med_o:,.1f}x order()",
    }


def plan_vs_passes(result: DbResult, r: Round) -> str:
    """The union of a round's passes against assign() on the whole initial window: identical,
    or exactly how they differ (and whether each pass was the next slice of the plan)."""
    _, cap = desk_limits()
    plan = [(a.conversation_id, a.agent_id) for a in result.plan]
    expected, union = set(plan), r.union
    slices = sum(
        1
        for i, p in enumerate(r.passes)
        if p.pairs == set(plan[i * cap : (i + 1) * cap]) and len(p.pairs) == p.assigned
    )
    in_order = slices == len(r.passes) and len(union) == len(plan)
    if union == expected:
        return (
            f"identical ({len(union)} pairs"
            + (
                f"; pass k assigned exactly plan[{cap}(k-1):{cap}k]"
                if in_order
                else f"; but only {slices} of {len(r.passes)} passes were the next "
                f"{cap} of the plan in order"
            )
            + ")"
        )
    window = {w.conversation_id for w in result.window}
    by_plan = dict(plan)
    by_passes = dict(union)
    only_passes = sorted(union - expected)
    only_plan = sorted(expected - union)
    past = sum(c not in window for c, _ in only_passes)
    other_agent = sum(c in by_plan for c, _ in only_passes)
    plan_left = len(only_passes) - past - other_agent
    passes_left = sum(c not in by_passes for c, _ in only_plan)
    first_off = next(
        (i + 1 for i, p in enumerate(r.passes) if p.pairs != set(plan[i * cap : (i + 1) * cap])),
        None,
    )
    examples = []
    differing = {c for c, _ in only_passes} | {c for c, _ in only_plan}
    for c in sorted(differing, key=lambda c: (c not in window, c))[:6]:  # in the window first
        got = f"agent {by_passes[c]}" if c in by_passes else "queued"
        want = f"agent {by_plan[c]}" if c in by_plan else "queued"
        where = "" if c in window else " (past the window)"
        examples.append(f"#{c}{where}: passes {got}, plan {want}")
    return (
        f"DIFFERENT: passes {len(union)} pairs, plan {len(expected)}, "
        f"{len(union & expected)} in common; only in the passes {len(only_passes)} "
        f"({past} past the initial window, {other_agent} the plan gave another agent, "
        f"{plan_left} the plan left queued); only in the plan {len(only_plan)} "
        f"({passes_left} the passes left queued, {len(only_plan) - passes_left} they gave "
        f"another agent); passes follow the plan's slices up to pass "
        f"{(first_off - 1) if first_off else len(r.passes)} of {len(r.passes)}; e.g. "
        + "; ".join(examples)
    )


def report_db(result: DbResult, scenario: Scenario) -> str:
    window, cap = desk_limits()
    rounds = result.rounds
    passes = result.passes
    times = [p.seconds for p in passes]
    txns = [p.txn_s for p in passes]
    loads = [s for r in rounds for s in r.load_s]
    counts = [p.assigned for p in passes]
    print()
    print(
        f"Database pass, {result.backend}: Desk.assign_waiting() until the queue stops "
        f"shrinking, {len(rounds)} round(s) on a freshly seeded desk; a pass weighs up to "
        f"{window} queued rows (QUEUE_WINDOW) and assigns at most {cap} (MAX_PER_PASS)"
    )
    header = f"{'':<46} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}"
    print(header)
    print("-" * len(header))

    def row(name: str, values: Sequence[float]) -> None:
        if values:
            print(
                f"{name:<46} {len(values):>5} {percentile(values, 50) * MS:>9.1f} "
                f"{percentile(values, 95) * MS:>9.1f} {max(values) * MS:>9.1f}"
            )

    row("read-only: lock agents, load window + loads", loads)
    row("assign() alone on the initial window", result.pure_window_times)
    row("passes that assigned", times)
    row("  their transactions (agents' rows locked)", txns)
    row("  first pass of a round", [r.passes[0].seconds for r in rounds if r.passes])
    row("idle pass (nothing assignable)", [r.idle.seconds for r in rounds])
    row("seeding (bulk inserts)", [r.seed_s for r in rounds])
    if not passes:
        print("no pass assigned anything")
        return "no pass assigned anything"
    full = sum(n == cap for n in counts)
    print(
        f"assigned per pass: p50 {statistics.median(counts):g}, min {min(counts)}, max "
        f"{max(counts)}; {full} of {len(passes)} passes hit the cap of {cap}"
    )
    for i, r in enumerate(rounds, 1):
        rate = r.assigned / r.busy_s if r.busy_s else math.nan
        per = r.busy_s / r.assigned * MS if r.assigned else math.nan
        print(
            f"round {i}: assigned {r.assigned} of {len(scenario.queue)} (left queued "
            f"{r.left_queued}) in {len(r.passes)} pass(es) taking {r.busy_s * MS:,.0f} ms: "
            f"{rate:,.0f} conversations assigned/s, {per:.2f} ms per assignment"
        )
    assigned, busy = result.assigned, result.busy_seconds
    rate = assigned / busy if busy else math.nan
    per = busy / assigned * MS if assigned else math.nan
    longest_round, longest_pass, longest = max(
        ((i, k, p) for i, r in enumerate(rounds, 1) for k, p in enumerate(r.passes, 1)),
        key=lambda t: t[2].txn_s,
    )
    print(
        f"longest single transaction (how long the online agents' rows stay locked): "
        f"{longest.txn_s * MS:.1f} ms, round {longest_round} pass {longest_pass} "
        f"({longest.assigned} assigned; that pass took {longest.seconds * MS:.1f} ms in all)"
    )
    print(
        f"every pass computes the whole plan on its window before keeping the first {cap}: "
        f"assign() alone on the initial window is {result.pure_window_s * MS:.1f} ms, "
        f"{result.pure_window_s / percentile(times, 50):.0%} of a pass p50"
    )
    if len(scenario.queue) > window:
        print(
            f"the queue exceeds the window of {window} rows (by priority then age): when the "
            f"passes stopped, assign() on the whole queue would still have assigned "
            f"{', '.join(str(r.stranded) for r in rounds)} more (conversations past the "
            f"window that an online agent had room and skills for)"
        )
    verdicts = [plan_vs_passes(result, r) for r in rounds]
    label = (
        f"union of a round's passes vs assign() on the whole initial window "
        f"({len(result.window)} rows, {len(result.plan)} assigned)"
    )
    if len(set(verdicts)) == 1:
        print(f"{label}, all {len(rounds)} round(s): {verdicts[0]}")
    else:
        print(f"{label}:")
        for i, v in enumerate(verdicts, 1):
            print(f"  round {i}: {v}")
    same = all(r.union == {(a.conversation_id, a.agent_id) for a in result.plan} for r in rounds)
    return (
        f"pass {percentile(times, 50) * MS:,.0f} ms p50 (max {max(times) * MS:,.0f}), "
        f"longest transaction {longest.txn_s * MS:,.0f} ms, {statistics.median(counts):g} "
        f"assigned/pass p50, {rate:,.0f} assigned/s, {per:.2f} ms/assignment; passes vs "
        f"assign(): {'identical' if same else 'DIFFERENT'}; idle pass "
        f"{percentile([r.idle.seconds for r in rounds], 50) * MS:.0f} ms, read-only "
        f"{percentile(loads, 50) * MS:.0f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_venv()
    run_started = time.perf_counter()
    say(
        f"generating {args.conversations} queued conversations and {args.agents} agents "
        f"(seed {args.seed})"
    )
    scenario = make_scenario(args.conversations, args.agents, args.seed)
    pure = bench_pure(scenario, args.repeat)
    dbs: list[DbResult] = []
    if args.db_rounds:
        with tempfile.TemporaryDirectory(prefix="switchboard-bench-assign-") as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'switchboard.db'}"
            dbs.append(asyncio.run(bench_db(url, "SQLite", scenario, args.db_rounds)))
        if args.postgres:
            with postgres_database(args.postgres) as url:
                dbs.append(asyncio.run(bench_db(url, "PostgreSQL", scenario, args.db_rounds)))

    print()
    print(
        f"Automatic assignment: {args.conversations} queued conversations, {args.agents} "
        f"agents, seed {args.seed}"
    )
    describe(scenario)
    summary = report_pure(pure, scenario)
    for result in dbs:
        summary[f"{result.backend} assign_waiting()"] = report_db(result, scenario)
    print()
    print("Summary")
    width = max(len(k) for k in summary)
    for name, line in summary.items():
        print(f"  {name:<{width}}  {line}")
    say(f"done in {time.perf_counter() - run_started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
