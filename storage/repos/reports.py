"""What the contact-center reports read, in a time range [since, until).

Counts are aggregated in SQL; for durations (percentiles need every value) only the columns
the report needs are loaded. Time-of-day buckets are quarter hours of UTC: every time zone's
offset is a whole number of quarter hours, so the caller can place each bucket in any zone's
local hour and day without loading the rows themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, case, cast, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Article,
    AuthorKind,
    Conversation,
    Customer,
    Direction,
    Touchpoint,
    TouchpointKind,
)
from storage.repos.privacy import ERASED_CLOSE_REASON

BUCKET_SECONDS = 900
# What a person does in a conversation: once one of these happened, the bot did not contain it.
HUMAN_KINDS = (
    TouchpointKind.ESCALATION,
    TouchpointKind.CLAIM,
    TouchpointKind.AGENT_REPLY,
    TouchpointKind.TRANSFER,
)


@dataclass(frozen=True)
class Episode:
    """One stay in the queue: an escalation, and the first claim and agent reply after it
    (before the conversation's next escalation)."""

    conversation_id: int
    channel: str
    team: str | None
    segment: str | None
    priority: int
    queued_at: datetime
    claimed_at: datetime | None = None
    claimed_by: int | None = None
    replied_at: datetime | None = None
    replied_by: int | None = None


@dataclass(frozen=True)
class Resolution:
    conversation_id: int
    channel: str
    team: str | None
    agent_id: int | None
    created_at: datetime
    closed_at: datetime


@dataclass(frozen=True)
class Rating:
    conversation_id: int
    channel: str
    team: str | None
    agent_id: int | None  # who closed the conversation before the customer rated it
    score: int
    rated_at: datetime


def _id(value: int | None) -> int:
    assert value is not None  # the queries join on it
    return value


def bucket_start(bucket: int) -> datetime:
    return datetime.fromtimestamp(int(bucket) * BUCKET_SECONDS, UTC)


def _bucket(session: AsyncSession, column: Any) -> Any:
    """The quarter hour of UTC (seconds since the epoch // 900) a timestamp falls in."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", column) / BUCKET_SECONDS), Integer)
    # SQLite keeps UTC as naive text; strftime('%s') reads it as UTC.
    return cast(func.strftime("%s", column), Integer) // BUCKET_SECONDS


async def volume(
    session: AsyncSession, since: datetime, until: datetime
) -> dict[tuple[int, str], list[int]]:
    """(bucket, channel) → [conversations started, customer messages received]."""
    found: dict[tuple[int, str], list[int]] = {}
    started = _bucket(session, Conversation.created_at)
    rows = await session.execute(
        select(started, Conversation.channel, func.count())
        .where(Conversation.created_at >= since, Conversation.created_at < until)
        .group_by(started, Conversation.channel)
    )
    for bucket, channel, n in rows:
        found.setdefault((int(bucket), channel), [0, 0])[0] += int(n)
    received = _bucket(session, Touchpoint.created_at)
    rows = await session.execute(
        select(received, Touchpoint.channel, func.count())
        .where(
            Touchpoint.kind == TouchpointKind.MESSAGE,
            Touchpoint.direction == Direction.INBOUND,
            Touchpoint.author_kind == AuthorKind.CUSTOMER,
            Touchpoint.created_at >= since,
            Touchpoint.created_at < until,
        )
        .group_by(received, Touchpoint.channel)
    )
    for bucket, channel, n in rows:
        found.setdefault((int(bucket), channel), [0, 0])[1] += int(n)
    return found


async def containment(
    session: AsyncSession, since: datetime, until: datetime
) -> dict[str, tuple[int, int]]:
    """channel → (conversations started in the range, those a person ever took part in)."""
    human = exists().where(
        Touchpoint.conversation_id == Conversation.id, Touchpoint.kind.in_(HUMAN_KINDS)
    )
    rows = await session.execute(
        select(Conversation.channel, func.count(), func.sum(case((human, 1), else_=0)))
        .where(Conversation.created_at >= since, Conversation.created_at < until)
        .group_by(Conversation.channel)
    )
    return {channel: (int(n), int(humans or 0)) for channel, n, humans in rows}


async def escalation_reasons(
    session: AsyncSession, since: datetime, until: datetime
) -> dict[str, int]:
    """Escalations in the range by the reason the router recorded."""
    reason = Touchpoint.meta["reason"].as_string()
    rows = await session.execute(
        select(reason, func.count())
        .where(
            Touchpoint.kind == TouchpointKind.ESCALATION,
            Touchpoint.created_at >= since,
            Touchpoint.created_at < until,
        )
        .group_by(reason)
    )
    return {str(r or "unknown"): int(n) for r, n in rows}


async def episodes(session: AsyncSession, since: datetime, until: datetime) -> list[Episode]:
    """Every escalation in the range with what answered it, up to now."""
    in_range = (
        Touchpoint.kind == TouchpointKind.ESCALATION,
        Touchpoint.created_at >= since,
        Touchpoint.created_at < until,
    )
    escalated = select(Touchpoint.conversation_id).where(*in_range).scalar_subquery()
    to_agent = Touchpoint.meta["to_agent_id"].as_integer()
    rows = await session.execute(
        select(
            Touchpoint.conversation_id,
            Touchpoint.kind,
            Touchpoint.created_at,
            Touchpoint.agent_id,
            to_agent,
            Touchpoint.meta["team"].as_string(),
        )
        .where(
            Touchpoint.conversation_id.in_(escalated),
            Touchpoint.kind.in_(HUMAN_KINDS),
            Touchpoint.created_at >= since,
        )
        .order_by(Touchpoint.conversation_id, Touchpoint.created_at, Touchpoint.id)
    )
    events = rows.all()
    convs = await session.execute(
        select(Conversation.id, Conversation.channel, Conversation.team, Conversation.priority)
        .add_columns(Customer.segment)
        .join(Customer, Customer.id == Conversation.customer_id)
        .where(Conversation.id.in_(escalated))
    )
    about = {row[0]: row[1:] for row in convs}
    found: list[Episode] = []
    current: dict[str, Any] | None = None
    for conv_id, kind, at, agent_id, to_agent_id, team in events:
        if kind is TouchpointKind.ESCALATION:
            if current is not None:
                found.append(Episode(**current))
            current = None
            if at < until:
                channel, conv_team, priority, segment = about[conv_id]
                current = {
                    "conversation_id": conv_id,
                    "channel": channel,
                    "team": team or conv_team,
                    "segment": segment,
                    "priority": priority,
                    "queued_at": at,
                }
            continue
        if current is None or current["conversation_id"] != conv_id:
            continue
        if kind is TouchpointKind.AGENT_REPLY and "replied_at" not in current:
            current.update(replied_at=at, replied_by=agent_id)
        taken = kind is TouchpointKind.CLAIM or (
            kind is TouchpointKind.TRANSFER and to_agent_id is not None
        )
        if taken and "claimed_at" not in current:
            by = agent_id if kind is TouchpointKind.CLAIM else to_agent_id
            current.update(claimed_at=at, claimed_by=by)
    if current is not None:
        found.append(Episode(**current))
    return found


async def resolutions(session: AsyncSession, since: datetime, until: datetime) -> list[Resolution]:
    """Conversations closed in the range, each once: at its last close in the range. A close
    because the customer's data was erased resolved nothing and is left out."""
    reason = Touchpoint.meta["reason"].as_string()
    rows = await session.execute(
        select(
            Touchpoint.conversation_id,
            Touchpoint.agent_id,
            Touchpoint.created_at,
            Conversation.created_at,
            Conversation.team,
            Conversation.channel,
        )
        .join(Conversation, Conversation.id == Touchpoint.conversation_id)
        .where(
            Touchpoint.kind == TouchpointKind.CLOSE,
            Touchpoint.created_at >= since,
            Touchpoint.created_at < until,
            or_(reason.is_(None), reason != ERASED_CLOSE_REASON),
        )
        .order_by(Touchpoint.created_at, Touchpoint.id)
    )
    last: dict[int, Resolution] = {}
    for conv_id, agent_id, closed_at, created_at, team, channel in rows:
        last[_id(conv_id)] = Resolution(
            _id(conv_id), channel, team, agent_id, created_at, closed_at
        )
    return list(last.values())


async def ratings(session: AsyncSession, since: datetime, until: datetime) -> list[Rating]:
    """Satisfaction scores (1–5) customers gave in the range, with who had closed the
    conversation before each."""
    score = Touchpoint.meta["csat"].as_integer()
    in_range = (
        Touchpoint.kind == TouchpointKind.SURVEY,
        Touchpoint.direction == Direction.INBOUND,
        score.is_not(None),
        Touchpoint.created_at >= since,
        Touchpoint.created_at < until,
    )
    rows = (
        await session.execute(
            select(
                Touchpoint.conversation_id,
                Touchpoint.channel,
                Conversation.team,
                score,
                Touchpoint.created_at,
            )
            .join(Conversation, Conversation.id == Touchpoint.conversation_id)
            .where(*in_range)
            .order_by(Touchpoint.created_at, Touchpoint.id)
        )
    ).all()
    rated = select(Touchpoint.conversation_id).where(*in_range).scalar_subquery()
    closes = await session.execute(
        select(Touchpoint.conversation_id, Touchpoint.agent_id, Touchpoint.created_at)
        .where(Touchpoint.kind == TouchpointKind.CLOSE, Touchpoint.conversation_id.in_(rated))
        .order_by(Touchpoint.created_at, Touchpoint.id)
    )
    closers: dict[int, list[tuple[datetime, int | None]]] = {}
    for conv_id, agent_id, at in closes:
        closers.setdefault(_id(conv_id), []).append((at, agent_id))
    found = []
    for conv_id, channel, team, value, at in rows:
        before = [agent for closed, agent in closers.get(conv_id, []) if closed <= at]
        found.append(Rating(conv_id, channel, team, before[-1] if before else None, int(value), at))
    return found


async def article_answers(
    session: AsyncSession, since: datetime, until: datetime
) -> dict[tuple[str, str], int]:
    """(article id, locale) → the bot's answers from it in the range (misses left out)."""
    meta = Touchpoint.meta
    article = meta["article_id"].as_string()
    locale = func.coalesce(meta["article_locale"].as_string(), "")
    answered = meta["answered"].as_boolean()
    rows = await session.execute(
        select(article, locale, func.count())
        .where(
            Touchpoint.kind == TouchpointKind.BOT_ANSWER,
            Touchpoint.created_at >= since,
            Touchpoint.created_at < until,
            article.is_not(None),
            or_(answered.is_(None), answered.is_(True)),
        )
        .group_by(article, locale)
    )
    return {(str(a), str(loc)): int(n) for a, loc, n in rows}


async def article_titles(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    if not keys:
        return {}
    rows = await session.execute(
        select(Article.id, Article.locale, Article.title).where(
            Article.id.in_(sorted({a for a, _ in keys}))
        )
    )
    return {(a, loc): title for a, loc, title in rows}
