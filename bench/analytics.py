#!/usr/bin/env python3
"""Customer-analytics benchmark: the Reports, the segment recompute and the customer profile
and history, at scale, on SQLite and PostgreSQL.

Generates one data set deterministically (fixed seed) and writes it in bulk inserts
(SQLAlchemy core, batches of ``BATCH`` rows): N customers, each with identities on one to
three channels and custom attributes (``plan``, ``lifetime_value``, some as text as a CSV
import leaves them, some missing) and tags; conversations spread over the last D days until
about T touchpoints exist: the customer's message (some negative, ``meta.sentiment``), the
bot's answer from an article (some misses), then either contained (closed by the system or
left with the bot) or escalated with a reason and team, claimed, answered, closed with a
disposition and rated (CSAT survey) - statuses bot, queued, assigned and closed; votes on some
bot answers; and one heavy customer with H touchpoints (their conversations included in T).
The workspace (``WORKSPACE`` below) is a Bangkok desk with business hours, SLA policies and a
small ``segments:`` section like config/workspace.yaml's.

Per database (a temporary SQLite file and/or a throwaway PostgreSQL database, both migrated
with ``storage.migrate``):

1. Reports: ``ReportsApi.report`` (GET /api/v1/reports: parameters, every figure, JSON) called
   in-process with a mocked request for the last 30 and 90 days in Asia/Bangkok, R times
   each (median). Baselines in the same range: ``SELECT count(*)`` of the touchpoints (what
   the engine spends to look at them) and fetching their (id, conversation, kind, time, meta)
   rows (what reading them into Python costs). Then each figure's builder alone on the 90
   days, to show where the time goes.
2. Segments: ``Segmenter.recompute()`` over every customer, once on fresh data (segments
   change and are audited) and R times more (steady state: tiers and stages rewritten, no
   segment changes), against ``storage.repos.segments.customer_facts`` alone and a plain scan
   (every customer row and every touchpoint's customer, kind and time, fetched), with the
   recompute's parts (facts, owners, the pure scoring, the writes) timed apart.
3. Customer: ``CustomersApi.profile`` (GET /api/v1/customers/{id}) and ``CustomersApi.history``
   (GET .../history?limit=50, the first page and the next) for the heavy customer, and the
   profile of an ordinary one, C calls each (p50, p99), against reading one customer row by
   primary key in a transaction of its own.

Handlers are called without the auth middleware (the stub console's ``agent`` returns a fixed
supervisor), so a token lookup per request is not included. The generated rows are frozen
out of the garbage collector's walks (``gc.freeze``) before anything is timed. Defaults took
about 3 minutes for both databases on two cores (generating 15 s, each database about 80 s).

    .venv/bin/python bench/analytics.py
    .venv/bin/python bench/analytics.py --db sqlite --customers 5000 --touchpoints 25000
    .venv/bin/python bench/analytics.py --db postgresql --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from routing.policy import DeskPolicy
    from storage.db import Database

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
VENV = ROOT / ".venv"
NOW = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # a Monday, 11:00 in Bangkok
ZONE = "Asia/Bangkok"
MS = 1000.0
BATCH = 1000  # rows per insert statement
PG_TIMEOUT = 30.0
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"

WORKSPACE = """
default_team: general
teams:
  general: {assignment: auto}
  billing: {assignment: auto}
  thai: {assignment: auto}
  vip: {assignment: manual}
vip_segments: [vip]
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
      sat: "10:00-14:00"
      sun: closed
  policies:
    - segment: vip
      first_response_minutes: 2
      next_response_minutes: 5
      resolution_minutes: 240
    - team: billing
      first_response_minutes: 10
      next_response_minutes: 30
      resolution_hours: 48
    - first_response_minutes: 10
      next_response_minutes: 20
      resolution_hours: 24
segments:
  interval_minutes: 0
  value_attribute: attr.lifetime_value
  rules:
    - name: vip
      any:
        - attr.plan == "gold"
        - attr.lifetime_value >= 5000
    - name: loyal
      all:
        - value_tier in ["top", "high"]
        - lifecycle == "active"
    - name: needs-care
      any:
        - lifecycle == "at_risk"
        - all: [escalations_90d >= 2, csat_avg < 3]
    - name: multichannel
      any:
        - all: [channel_count >= 2, 'channels has "email"']
        - channel_count >= 3
"""

CHANNELS = (
    ("webchat", 30),
    ("email", 20),
    ("whatsapp", 15),
    ("telegram", 10),
    ("line", 10),
    ("sms", 10),
    ("voice", 5),
)
TEAMS = (("general", 60), ("billing", 25), ("thai", 15))
REASONS = (("customer_request", 45), ("bot_unanswered", 35), ("low_confidence", 15), ("vip", 5))
DISPOSITIONS = ("resolved", "follow_up", "refund_issued", "no_response", "duplicate")
ARTICLES = tuple(f"article-{n:02d}" for n in range(40))
QUESTIONS = (
    "where is my parcel {n}",
    "I cannot log in to my account",
    "I was charged twice for order {n}",
    "please send the invoice for order {n} again",
    "how do I get a refund for a broken charger",
    "the app crashes when I open my basket",
    "can I change the delivery address of order {n}",
    "พัสดุ {n} ยังไม่มาถึงค่ะ",
    "ขอคืนเงินคำสั่งซื้อ {n} ค่ะ",
    "我的包裹 {n} 还没到",
)
LOCALES = (("en", 50), ("th", 25), ("zh", 10), ("en-GB", 5), (None, 10))


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark the customer analytics (Reports, segment recompute, customer "
        "profile and history) on a generated data set, on SQLite and PostgreSQL.",
        epilog="Progress goes to stderr, the results to stdout.",
    )
    p.add_argument(
        "--db",
        choices=("sqlite", "postgresql", "both"),
        default="both",
        help="which database(s) (default both)",
    )
    p.add_argument("--customers", type=int, default=20_000, help="customers (default 20000)")
    p.add_argument(
        "--touchpoints",
        type=int,
        default=100_000,
        help="touchpoints in all, about (default 100000)",
    )
    p.add_argument("--days", type=int, default=90, help="days of history (default 90)")
    p.add_argument(
        "--heavy",
        type=int,
        default=5000,
        help="touchpoints of the one heavy customer whose profile is read (default 5000)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=5,
        metavar="R",
        help="timed runs of each report and recompute, and of their baselines (default 5)",
    )
    p.add_argument(
        "--calls",
        type=int,
        default=200,
        metavar="C",
        help="timed profile and history calls (default 200)",
    )
    p.add_argument(
        "--postgres",
        default=DEFAULT_PG,
        metavar="URL",
        help="PostgreSQL server to use: postgresql+asyncpg://USER@127.0.0.1[:PORT]/DBNAME. "
        "DBNAME is only used to connect; a throwaway database switchboard_bench_<random> is "
        f"created there and dropped afterwards (default {DEFAULT_PG})",
    )
    p.add_argument("--seed", type=int, default=20260302, help="generator seed (fixed default)")
    args = p.parse_args(argv)
    if min(args.customers, args.touchpoints, args.days, args.repeat, args.calls) < 1:
        p.error("--customers, --touchpoints, --days, --repeat and --calls must be at least 1")
    if args.heavy < 10 or args.heavy > args.touchpoints:
        p.error("--heavy must be at least 10 and at most --touchpoints")
    if not args.postgres.startswith("postgresql+asyncpg://"):
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


def workspace() -> DeskPolicy:
    import yaml

    from switchboard.workspace import parse_workspace

    return parse_workspace(yaml.safe_load(WORKSPACE), source="bench workspace")


# ---- the data set ----------------------------------------------------------------------------


@dataclass
class DataSet:
    """Rows per table, in insert order, with explicit ids."""

    agents: list[dict[str, Any]] = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)
    identities: list[dict[str, Any]] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)
    touchpoints: list[dict[str, Any]] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    heavy_id: int = 0
    ordinary_id: int = 0  # a customer with a few conversations

    def tables(self) -> list[tuple[str, list[dict[str, Any]]]]:
        return [
            ("agents", self.agents),
            ("customers", self.customers),
            ("contact_identities", self.identities),
            ("conversations", self.conversations),
            ("touchpoints", self.touchpoints),
            ("article_feedback", self.feedback),
        ]

    @property
    def rows(self) -> int:
        return sum(len(rows) for _, rows in self.tables())


class Generator:
    def __init__(self, seed: int, days: int) -> None:
        self.rng = random.Random(seed)
        self.days = days
        self.data = DataSet()
        self.by_team: dict[str, list[int]] = {}
        self.identity_of: dict[int, list[tuple[int, str]]] = {}  # customer → (id, channel)

    def agents(self, n: int) -> None:
        for agent_id in range(1, n + 1):
            team = TEAMS[(agent_id - 1) % len(TEAMS)][0]
            self.by_team.setdefault(team, []).append(agent_id)
            self.data.agents.append(
                {
                    "id": agent_id,
                    "email": f"agent{agent_id}@bench.example",
                    "name": f"Agent {agent_id}",
                    "password_hash": "-",
                    "role": "agent",
                    "active": True,
                    "presence": "offline",
                    "teams": [team],
                    "skills": ["lang:en"],
                    "capacity": None,
                    "created_at": NOW - timedelta(days=400),
                }
            )

    def customers(self, n: int) -> None:
        rng = self.rng
        identity_id = 0
        for cid in range(1, n + 1):
            created = NOW - timedelta(days=rng.uniform(1, 720))
            attributes: dict[str, Any] = {"plan": "gold" if rng.random() < 0.03 else "basic"}
            r = rng.random()
            if r < 0.85:
                value = round(rng.paretovariate(1.3) * 200, 2)
                attributes["lifetime_value"] = str(value) if r < 0.1 else value  # CSV imports
            if rng.random() < 0.3:
                attributes["country"] = rng.choice(("TH", "SG", "CN", "GB", "US"))
            tags = ["beta"] if rng.random() < 0.05 else []
            self.data.customers.append(
                {
                    "id": cid,
                    "display_name": f"Customer {cid}",
                    "locale": weighted(rng, LOCALES),
                    "segment": None,
                    "attributes": attributes,
                    "tags": tags,
                    "created_at": created,
                    "updated_at": created,
                }
            )
            channels: list[str] = []
            for _ in range(weighted(rng, ((1, 60), (2, 30), (3, 10)))):
                channel = weighted(rng, CHANNELS)
                if channel not in channels:
                    channels.append(channel)
            for channel in channels:
                identity_id += 1
                self.identity_of.setdefault(cid, []).append((identity_id, channel))
                self.data.identities.append(
                    {
                        "id": identity_id,
                        "customer_id": cid,
                        "channel": channel,
                        "address": address(channel, cid),
                        "display_name": f"Customer {cid}",
                        "created_at": created,
                    }
                )

    def conversation(self, cid: int, start: datetime, pad_to: int = 0) -> int:
        """One conversation of ``cid`` from ``start``; returns its touchpoints. ``pad_to``: more
        back and forth until it has that many."""
        rng, data = self.rng, self.data
        conv_id = len(data.conversations) + 1
        identity_id, channel = rng.choice(self.identity_of[cid])
        locale = data.customers[cid - 1]["locale"]
        tps: list[dict[str, Any]] = []
        text = rng.choice(QUESTIONS).format(n=rng.randint(10000, 99999))
        t = start

        def add(kind: Any, at: datetime, **extra: Any) -> dict[str, Any] | None:
            if at >= NOW:  # what has not happened yet
                return None
            row = touchpoint(conv_id, cid, channel, kind, at, **extra)
            tps.append(row)
            return row

        from storage.models import ConversationStatus as Status
        from storage.models import TouchpointKind as K

        add(K.MESSAGE, t, text=text, meta=sentiment(rng))
        status, team, queued_at, assigned_at, closed_at = Status.BOT, None, None, None, None
        assignee, csat, disposition, first_response = None, None, None, None
        answered = rng.random() < 0.75
        if rng.random() < 0.7:
            t += timedelta(seconds=rng.uniform(1, 5))
            article = rng.choice(ARTICLES)
            meta: dict[str, Any] = {"article_id": article, "article_locale": "en", "locale": "en"}
            if answered:
                meta["asks_feedback"] = True
            else:
                meta.update(answered=False, question=text)
            answer = add(K.BOT_ANSWER, t, text="Here is what I found.", meta=meta)
            if answer is not None and answered and rng.random() < 0.15:
                data.feedback.append(
                    {
                        "id": len(data.feedback) + 1,
                        "touchpoint_id": answer["id"],
                        "article_id": article,
                        "locale": "en",
                        "conversation_id": conv_id,
                        "customer_id": cid,
                        "channel": channel,
                        "helpful": rng.random() < 0.7,
                        "question": text,
                        "created_at": t + timedelta(seconds=30),
                        "updated_at": t + timedelta(seconds=30),
                    }
                )
        escalated = not answered or rng.random() < 0.35
        if not escalated:
            if rng.random() < 0.6 and NOW - t > timedelta(hours=2):
                closed_at = t + timedelta(minutes=rng.uniform(5, 60))
                add(K.CLOSE, closed_at, author="system")
                status = Status.CLOSED
        else:
            reason = "bot_unanswered" if not answered else weighted(rng, REASONS)
            team = weighted(rng, TEAMS)
            t += timedelta(seconds=rng.uniform(5, 60))
            meta = {"reason": reason, "team": team}
            if reason == "bot_unanswered":
                meta.update(question=text, locale="en")
            add(K.ESCALATION, t, meta=meta)
            status, queued_at = Status.QUEUED, t
            wait = timedelta(seconds=rng.expovariate(1 / 600))
            agent = rng.choice(self.by_team[team])
            # Some of the last hours' escalations are still waiting for an agent.
            waiting = NOW - t < timedelta(hours=6) and rng.random() < 0.5
            if t + wait < NOW and not waiting:
                t += wait
                add(K.CLAIM, t, agent_id=agent)
                status, assignee, assigned_at = Status.ASSIGNED, agent, t
                for n in range(rng.randint(1, 3)):
                    t += timedelta(seconds=rng.expovariate(1 / 240))
                    if t >= NOW:
                        break
                    if add(K.AGENT_REPLY, t, agent_id=agent, text="Let me check that for you."):
                        first_response = first_response or t
                    if n and rng.random() < 0.5:
                        t += timedelta(seconds=rng.expovariate(1 / 120))
                        add(K.MESSAGE, t, text="ok, thanks", meta=sentiment(rng))
                close_at = t + timedelta(minutes=rng.expovariate(1 / 30))
                if close_at < NOW - timedelta(minutes=10) and rng.random() < 0.9:
                    t = close_at
                    disposition = rng.choice(DISPOSITIONS)
                    add(K.CLOSE, t, agent_id=agent, meta={"disposition": disposition})
                    status, closed_at = Status.CLOSED, t
                    if rng.random() < 0.4:
                        t += timedelta(minutes=rng.uniform(1, 20))
                        csat = weighted(rng, ((5, 45), (4, 25), (3, 12), (2, 8), (1, 10)))
                        add(K.SURVEY, t, text=str(csat), meta={"csat": csat})
        while len(tps) < pad_to:
            t += timedelta(minutes=rng.uniform(1, 30))
            add(K.MESSAGE, t, text="one more thing", meta=sentiment(rng))
            t += timedelta(minutes=rng.uniform(1, 10))
            add(K.AGENT_REPLY, t, agent_id=assignee or 1, text="Sure.")
        data.touchpoints.extend(tps)
        last = max(tp["created_at"] for tp in tps)
        data.conversations.append(
            {
                "id": conv_id,
                "customer_id": cid,
                "identity_id": identity_id,
                "channel": channel,
                "status": status,
                "priority": 0,
                "assignee_id": assignee,
                "reference": f"A{conv_id:09d}",
                "subject": text if channel == "email" else None,
                "locale": locale,
                "bot_misses": 0 if answered else 1,
                "team": team,
                "required_skills": [],
                "queued_at": queued_at,
                "assigned_at": assigned_at,
                "closed_at": closed_at,
                "first_response_at": first_response,
                "sla_breached": [],
                "disposition": disposition,
                "csat_state": "done" if csat else None,
                "csat_score": csat,
                "created_at": start,
                "updated_at": last,
            }
        )
        return len(tps)

    def start_time(self) -> datetime:
        # More recent days are busier (a growing business); times cluster in local daytime.
        day = min(self.days - 1e-6, self.rng.triangular(0, self.days, 0))
        moment = NOW - timedelta(days=day)
        hour = self.rng.gauss(14, 4) - 7  # Bangkok-local peak, in UTC
        moment = moment.replace(hour=0, minute=0, second=0) + timedelta(hours=hour % 24)
        if moment >= NOW:
            moment -= timedelta(days=1)
        return moment + timedelta(seconds=self.rng.uniform(0, 60))


def address(channel: str, cid: int) -> str:
    if channel == "email":
        return f"customer{cid}@bench.example"
    if channel in ("sms", "voice", "whatsapp"):
        return f"+6681{cid:07d}"
    return f"{channel}-{cid}"


def sentiment(rng: random.Random) -> dict[str, Any]:
    r = rng.random()
    return {"sentiment": "negative"} if r < 0.1 else {"sentiment": "positive"} if r < 0.2 else {}


_TP_ID = iter(range(1, 10**12))


def touchpoint(
    conv_id: int,
    cid: int,
    channel: str,
    kind: Any,
    at: datetime,
    *,
    agent_id: int | None = None,
    author: str | None = None,
    text: str = "",
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A touchpoint row with direction and author as the router writes them."""
    from storage.models import AuthorKind, Direction
    from storage.models import TouchpointKind as K

    direction, author_kind = {
        K.MESSAGE: (Direction.INBOUND, AuthorKind.CUSTOMER),
        K.SURVEY: (Direction.INBOUND, AuthorKind.CUSTOMER),
        K.BOT_ANSWER: (Direction.OUTBOUND, AuthorKind.BOT),
        K.AGENT_REPLY: (Direction.OUTBOUND, AuthorKind.AGENT),
        K.ESCALATION: (Direction.INTERNAL, AuthorKind.SYSTEM),
    }.get(kind, (Direction.INTERNAL, AuthorKind.AGENT))
    if author == "system":
        author_kind = AuthorKind.SYSTEM
    return {
        "id": next(_TP_ID),
        "conversation_id": conv_id,
        "customer_id": cid,
        "channel": channel,
        "kind": kind,
        "direction": direction,
        "author_kind": author_kind,
        "agent_id": agent_id,
        "text": text or kind.value,
        "provider_message_id": None,
        "delivery_state": None,
        "meta": meta or {},
        "created_at": at,
        "redacted_at": None,
    }


def make_data_set(args: argparse.Namespace) -> DataSet:
    g = Generator(args.seed, args.days)
    g.agents(40)
    say(f"generating {args.customers:,} customers")
    g.customers(args.customers)
    data = g.data
    # The heavy customer: long conversations until they have their share.
    heavy = data.heavy_id = 1
    per_conv = 25
    made = 0
    while made < args.heavy:
        start = g.start_time() - timedelta(days=1)  # room for the long back and forth
        made += g.conversation(heavy, start, pad_to=min(per_conv, args.heavy - made))
    say(f"customer {heavy}: {made:,} touchpoints in {len(data.conversations)} conversations")
    # Everyone else: a few customers write often, most rarely, many not at all in the period.
    rng = g.rng
    others = list(range(2, args.customers + 1)) or [heavy]
    weights = [rng.paretovariate(2.0) for _ in others]
    step = max(1, args.touchpoints // 10)
    mark = step
    while len(data.touchpoints) < args.touchpoints:
        cid = rng.choices(others, weights=weights)[0]
        g.conversation(cid, g.start_time())
        if len(data.touchpoints) >= mark:
            say(
                f"  generated {len(data.touchpoints):,}/{args.touchpoints:,} touchpoints, "
                f"{len(data.conversations):,} conversations"
            )
            mark += step
    counts: dict[int, int] = {}
    for conv in data.conversations:
        counts[conv["customer_id"]] = counts.get(conv["customer_id"], 0) + 1
    data.ordinary_id = next((c for c, n in sorted(counts.items()) if c != heavy and n >= 3), heavy)
    return data


# ---- the databases -------------------------------------------------------------------------


async def seed(db: Database, data: DataSet) -> float:
    """Bulk inserts in batches of ``BATCH`` rows, one transaction per table; on PostgreSQL the
    id sequences are moved past the explicit ids. Returns the seconds taken."""
    from sqlalchemy import insert, text

    from storage.models import Base

    tables = Base.metadata.tables
    started = time.perf_counter()
    total, done = data.rows, 0
    mark = step = max(1, total // 10)
    for name, rows in data.tables():
        async with db.transaction() as session:
            for i in range(0, len(rows), BATCH):
                await session.execute(insert(tables[name]), rows[i : i + BATCH])
                done += len(rows[i : i + BATCH])
                if done >= mark:
                    say(f"  inserted {done:,}/{total:,} rows ({name})")
                    mark += step
    if db.is_postgres:
        async with db.transaction() as session:
            for name, rows in data.tables():
                if rows:
                    await session.execute(
                        text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), :n)"),
                        {"n": max(r["id"] for r in rows)},
                    )
        # What autovacuum would do soon after a bulk load; the app never runs ANALYZE on
        # SQLite, so its planner keeps going without statistics there, as in production.
        async with db.transaction() as session:
            await session.execute(text("ANALYZE"))
    return time.perf_counter() - started


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


# ---- timing ----------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table: a measurement and what it is compared with."""

    name: str
    times: list[float]
    baseline: str | None = None  # the name of the row it is divided by
    note: str = ""

    @property
    def p50(self) -> float:
        return statistics.median(self.times)


async def timed(
    fn: Callable[[], Awaitable[Any]], repeat: int, label: str | None = None, warm: bool = True
) -> tuple[Any, list[float]]:
    """``fn``'s last value and its times; one untimed warm-up first. Progress when labelled."""
    if warm:
        await fn()
    times: list[float] = []
    value = None
    step = max(1, repeat // 4)
    for i in range(repeat):
        started = time.perf_counter()
        value = await fn()
        times.append(time.perf_counter() - started)
        if label and (i + 1) % step == 0 and i + 1 < repeat:
            say(f"  {label}: {i + 1}/{repeat} ({statistics.median(times) * MS:,.0f} ms p50)")
    return value, times


def stub_console(db: Database, policy: DeskPolicy) -> Any:
    """What ReportsApi and CustomersApi use of the console: the database, the clock, the
    signed-in agent (a supervisor) and the desk's policy."""
    from routing.clock import FrozenClock

    async def agent(request: Any) -> Any:
        return SimpleNamespace(id=1, email="boss@bench.example", name="Boss", role="supervisor")

    desk = SimpleNamespace(policy=policy, require_supervisor=lambda me: None)
    return SimpleNamespace(
        db=db,
        clock=FrozenClock(NOW),
        agent=agent,
        router=SimpleNamespace(desk=desk),
        default_region="TH",
    )


def request(path: str, **match: str) -> Any:
    from aiohttp.test_utils import make_mocked_request

    return make_mocked_request("GET", path, match_info=match)


async def call(handler: Callable[[Any], Awaitable[Any]], path: str, **match: str) -> Any:
    response = await handler(request(path, **match))
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status} {response.text}")
    return json.loads(response.text)


# ---- 1. reports ------------------------------------------------------------------------------


def report_range(days: int) -> tuple[str, datetime, datetime]:
    """The query of the last ``days`` days up to the end of today in Bangkok, and its bounds."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(ZONE)
    end = NOW.astimezone(zone).date() + timedelta(days=1)
    start = end - timedelta(days=days)
    since = datetime.combine(start, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    until = datetime.combine(end, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    return f"since={start.isoformat()}&until={end.isoformat()}&tz={ZONE}", since, until


async def bench_reports(
    db: Database, policy: DeskPolicy, repeat: int, backend: str
) -> tuple[list[Row], dict[str, Any]]:
    from sqlalchemy import func, select

    from console.report_figures import Range, Report
    from console.reports import ReportsApi
    from storage.models import Touchpoint as Tp

    api = ReportsApi(stub_console(db, policy))
    rows: list[Row] = []
    facts: dict[str, Any] = {}
    for days in (30, 90):
        query, since, until = report_range(days)
        in_range = (Tp.created_at >= since, Tp.created_at < until)

        async def count(in_range: tuple[Any, ...] = in_range) -> int:
            async with db.transaction() as session:
                return int(await session.scalar(select(func.count()).where(*in_range)) or 0)

        async def fetch(in_range: tuple[Any, ...] = in_range) -> int:
            columns = (Tp.id, Tp.conversation_id, Tp.kind, Tp.created_at, Tp.meta)
            async with db.transaction() as session:
                return len((await session.execute(select(*columns).where(*in_range))).all())

        say(f"{backend}: reports, last {days} days in {ZONE}: baselines x{repeat}")
        n, count_times = await timed(count, repeat)
        _, fetch_times = await timed(fetch, repeat)
        say(f"{backend}: reports, last {days} days: GET /api/v1/reports x{repeat}")
        body, report_times = await timed(
            lambda q=query: call(api.report, f"/api/v1/reports?{q}"), repeat, f"{days} d report"
        )
        figures = body["figures"]
        facts[f"{days}d"] = (
            f"{n:,} touchpoints, {figures['volume_by_channel']['conversations']:,} "
            f"conversations started, {figures['first_response']['count']:,} first responses, "
            f"{figures['resolution']['count']:,} resolutions, {figures['csat']['count']:,} "
            f"ratings, {figures['knowledge_gaps']['count']:,} knowledge gaps"
        )
        base = f"count(*) touchpoints, {days} d"
        rows += [
            Row(base, count_times),
            Row(f"fetch touchpoint rows, {days} d", fetch_times, base, f"{n:,} rows"),
            Row(f"GET /api/v1/reports, {days} d", report_times, base),
        ]
    # Where the 90 days' time goes: each builder on a fresh Report (episodes not shared).
    _, since, until = report_range(90)
    from zoneinfo import ZoneInfo

    span = Range(since, until, ZoneInfo(ZONE), ZONE, NOW)
    names = (
        "volume",
        "containment",
        "escalation_reasons",
        "episodes",
        "first_response",
        "resolution",
        "sla",
        "csat",
        "queue_wait",
        "top_articles",
        "knowledge_gaps",
    )
    say(f"{backend}: reports, 90 days: each figure's builder alone x{repeat}")
    parts: list[Row] = []
    for name in names:

        async def build(name: str = name) -> Any:
            async with db.transaction() as session:
                return await getattr(Report(session, policy, span), name)()

        _, times = await timed(build, repeat)
        parts.append(Row(f"  {name}()", times, "count(*) touchpoints, 90 d"))
    parts.sort(key=lambda r: -r.p50)
    rows.append(Row("90 d report, by builder (slowest first):", []))
    rows += parts
    return rows, facts


# ---- 2. segments ---------------------------------------------------------------------------


async def bench_segments(
    db: Database, policy: DeskPolicy, repeat: int, backend: str
) -> tuple[list[Row], dict[str, Any]]:
    from sqlalchemy import select

    from routing.clock import FrozenClock
    from routing.segments import Segmenter, _hand_set, profiles
    from storage.models import Customer
    from storage.models import Touchpoint as Tp
    from storage.repos import segments as segment_repo

    segmenter = Segmenter(db, FrozenClock(NOW), policy.segments)
    windows = policy.segments.windows()

    async def facts() -> list[Any]:
        async with db.transaction() as session:
            return await segment_repo.customer_facts(session, NOW, windows)

    async def owners() -> dict[int, Any]:
        async with db.transaction() as session:
            return await segment_repo.last_segment_events(session)

    async def scan() -> int:
        async with db.transaction() as session:
            customers = (
                await session.execute(select(Customer.id, Customer.attributes, Customer.tags))
            ).all()
            tps = (await session.execute(select(Tp.customer_id, Tp.kind, Tp.created_at))).all()
        return len(customers) + len(tps)

    def progress(done: int, total: int) -> None:
        if done == total or done % (10 * policy.segments.batch_size) == 0:
            say(f"  recompute: wrote {done:,}/{total:,} profiles")

    say(f"{backend}: segments: first recompute on fresh data")
    first, first_times = await timed(lambda: segmenter.recompute(progress), 1, warm=False)
    say(f"{backend}: segments: recompute x{repeat} (steady state)")
    steady, steady_times = await timed(segmenter.recompute, repeat, "recompute", warm=False)
    say(f"{backend}: segments: facts, owners, scoring and plain scan x{repeat}")
    loaded, facts_times = await timed(facts, repeat)
    _, owner_times = await timed(owners, repeat)
    _, scan_times = await timed(scan, repeat)
    hand_set = _hand_set(loaded, await owners())
    pure_times = []
    for _ in range(repeat):
        started = time.perf_counter()
        profiles(loaded, NOW, policy.segments, hand_set)
        pure_times.append(time.perf_counter() - started)
    writes = [
        max(0.0, t - statistics.median(facts_times) - statistics.median(owner_times) - p)
        for t, p in zip(steady_times, pure_times, strict=True)
    ]
    scan_name = "plain scan: customers + touchpoints"
    rows = [
        Row(scan_name, scan_times),
        Row("customer_facts() alone", facts_times, scan_name),
        Row("Segmenter.recompute(), first", first_times, "customer_facts() alone"),
        Row("Segmenter.recompute(), steady", steady_times, "customer_facts() alone"),
        Row("  ... / plain scan", steady_times, scan_name),
        Row("  parts: customer_facts()", facts_times),
        Row("         last_segment_events()", owner_times),
        Row("         profiles() (pure)", pure_times),
        Row("         apply_profiles() writes", writes, note="the remainder"),
    ]
    info = {
        "first": f"{first['customers']:,} customers, {first['segments_changed']:,} segments "
        f"changed; tiers {first['value_tiers']}; lifecycle {first['lifecycle']}; "
        f"matched {first['matched']}",
        "steady": f"{steady['segments_changed']} segments changed per steady run",
    }
    return rows, info


# ---- 3. the customer -----------------------------------------------------------------------


async def bench_customer(
    db: Database, policy: DeskPolicy, data: DataSet, calls: int, backend: str
) -> tuple[list[Row], dict[str, Any]]:
    from console.customers import CustomersApi
    from storage.models import Customer

    api = CustomersApi(stub_console(db, policy))
    heavy, ordinary = str(data.heavy_id), str(data.ordinary_id)
    base = "PK read of one customer"

    async def pk() -> Any:
        async with db.transaction() as session:
            return await session.get(Customer, data.ordinary_id)

    history = f"/api/v1/customers/{heavy}/history?limit=50"
    first_page = await call(api.history, history, id=heavy)
    before = first_page["next_before"]
    profile = await call(api.profile, f"/api/v1/customers/{heavy}", id=heavy)
    small = await call(api.profile, f"/api/v1/customers/{ordinary}", id=ordinary)
    say(f"{backend}: customer {heavy}: profile and history x{calls}")
    _, pk_times = await timed(pk, calls)
    _, profile_times = await timed(
        lambda: call(api.profile, f"/api/v1/customers/{heavy}", id=heavy), calls, "profile"
    )
    _, history_times = await timed(lambda: call(api.history, history, id=heavy), calls, "history")
    _, page2_times = await timed(
        lambda: call(api.history, f"{history}&before={before}", id=heavy), calls
    )
    _, small_times = await timed(
        lambda: call(api.profile, f"/api/v1/customers/{ordinary}", id=ordinary), calls
    )
    life = profile["lifetime"]
    rows = [
        Row(base, pk_times),
        Row("GET customer (heavy)", profile_times, base),
        Row("GET history?limit=50 (heavy)", history_times, base),
        Row("GET history page 2 (heavy)", page2_times, base),
        Row("GET customer (ordinary)", small_times, base),
    ]
    info = {
        "heavy": f"customer {heavy}: {life['touchpoints']:,} touchpoints, "
        f"{life['conversations']} conversations ({len(profile['conversations'])} listed), "
        f"{len(json.dumps(profile)):,} bytes of JSON",
        "ordinary": f"customer {ordinary}: {small['lifetime']['touchpoints']} touchpoints, "
        f"{small['lifetime']['conversations']} conversations",
    }
    return rows, info


# ---- one database --------------------------------------------------------------------------


@dataclass
class DbResult:
    backend: str
    seed_s: float
    sections: list[tuple[str, list[Row], dict[str, Any]]]


async def bench_db(url: str, backend: str, data: DataSet, args: argparse.Namespace) -> DbResult:
    from storage import migrate
    from storage.db import Database

    policy = workspace()
    db = Database(url)
    try:
        say(f"{backend}: migrating")
        await migrate.upgrade(db)
        say(f"{backend}: seeding {data.rows:,} rows in batches of {BATCH}")
        seeded = await seed(db, data)
        say(f"{backend}: seeded in {seeded:.1f} s")
        reports = await bench_reports(db, policy, args.repeat, backend)
        segments = await bench_segments(db, policy, args.repeat, backend)
        customer = await bench_customer(db, policy, data, args.calls, backend)
    finally:
        await db.dispose()
    return DbResult(
        backend,
        seeded,
        [
            (f"Reports (R={args.repeat}, {ZONE})", *reports),
            (f"Segments (R={args.repeat})", *segments),
            (f"Customer profile and history (C={args.calls})", *customer),
        ],
    )


# ---- the report ----------------------------------------------------------------------------


def describe(data: DataSet, args: argparse.Namespace) -> None:
    from storage.models import ConversationStatus, TouchpointKind

    statuses = {s.value: 0 for s in ConversationStatus}
    for c in data.conversations:
        statuses[c["status"].value] += 1
    kinds: dict[str, int] = {}
    for tp in data.touchpoints:
        kinds[tp["kind"].value] = kinds.get(tp["kind"].value, 0) + 1
    order = [k.value for k in TouchpointKind if k.value in kinds]
    active = len({c["customer_id"] for c in data.conversations})
    print(
        f"Data set (seed {args.seed}): {len(data.customers):,} customers ({active:,} with "
        f"conversations in the last {args.days} days), {len(data.identities):,} identities, "
        f"{len(data.agents)} agents"
    )
    print(
        f"  {len(data.conversations):,} conversations: "
        + ", ".join(f"{n:,} {s}" for s, n in statuses.items())
    )
    print(
        f"  {len(data.touchpoints):,} touchpoints: "
        + ", ".join(f"{kinds[k]:,} {k}" for k in order)
        + f"; {len(data.feedback):,} article votes"
    )


def report_db(result: DbResult) -> dict[str, str]:
    print()
    print(f"== {result.backend} (seeded in {result.seed_s:.1f} s) ==")
    summary: dict[str, str] = {}
    for title, rows, info in result.sections:
        print()
        header = f"{title:<42} {'n':>4} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}  ratio (p50)"
        print(header)
        print("-" * len(header))
        by_name = {r.name: r for r in rows}
        for r in rows:
            if not r.times:
                print(r.name)
                continue
            ratio = ""
            if r.baseline:
                base = by_name[r.baseline]
                ratio = f"{r.p50 / base.p50:,.1f}x {r.baseline}"
            if r.note:
                ratio = f"{ratio}; {r.note}" if ratio else r.note
            print(
                f"{r.name:<42} {len(r.times):>4} {r.p50 * MS:>9.1f} "
                f"{percentile(r.times, 99) * MS:>9.1f} {max(r.times) * MS:>9.1f}  {ratio}"
            )
        for key, line in info.items():
            print(f"  {key}: {line}")
        for r in rows:
            if r.name.startswith("GET") or r.name.startswith("Segmenter"):
                ratio = f", {r.p50 / by_name[r.baseline].p50:,.0f}x" if r.baseline else ""
                p99 = f" (p99 {percentile(r.times, 99) * MS:,.1f})" if len(r.times) >= 50 else ""
                summary[f"{result.backend} {r.name}"] = f"{r.p50 * MS:,.1f} ms p50{p99}{ratio}"
    return summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_venv()
    run_started = time.perf_counter()
    data = make_data_set(args)
    # The generated rows live all run long, and a server would not hold them: keep the
    # collector from walking them again and again during the timings.
    gc.collect()
    gc.freeze()
    results: list[DbResult] = []
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="switchboard-bench-analytics-") as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'switchboard.db'}"
            results.append(asyncio.run(bench_db(url, "SQLite", data, args)))
    if args.db in ("postgresql", "both"):
        with postgres_database(args.postgres) as url:
            results.append(asyncio.run(bench_db(url, "PostgreSQL", data, args)))

    print()
    print(
        f"Customer analytics: {args.customers:,} customers, ~{args.touchpoints:,} touchpoints "
        f"over {args.days} days, heavy customer {args.heavy:,}"
    )
    describe(data, args)
    summary: dict[str, str] = {}
    for result in results:
        summary |= report_db(result)
    print()
    print("Summary (ratio: against the row's baseline in the table)")
    width = max(len(k) for k in summary)
    for name, line in summary.items():
        print(f"  {name:<{width}}  {line}")
    say(f"done in {time.perf_counter() - run_started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
