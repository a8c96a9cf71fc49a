"""Conversations: opening, the escalation queue and claiming."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import RecordNotFound
from storage.models import Conversation, ConversationStatus, Customer

# No 0/O/1/I: a reference is read aloud on the phone and typed from an email subject.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
OPEN = (ConversationStatus.BOT, ConversationStatus.QUEUED, ConversationStatus.ASSIGNED)


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))


async def open_for_identity(session: AsyncSession, identity_id: int) -> Conversation | None:
    return (
        await session.execute(
            select(Conversation)
            .where(Conversation.identity_id == identity_id, Conversation.status.in_(OPEN))
            .order_by(Conversation.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def open_for_customer(session: AsyncSession, customer_id: int) -> list[Conversation]:
    """The customer's open conversations (with the bot or the people), locked."""
    rows = await session.execute(
        select(Conversation)
        .where(Conversation.customer_id == customer_id, Conversation.status.in_(OPEN))
        .order_by(Conversation.id)
        .with_for_update()
    )
    return list(rows.scalars())


async def ids_of_customer(session: AsyncSession, customer_id: int) -> list[int]:
    """Every conversation of the customer, open or closed."""
    rows = await session.scalars(
        select(Conversation.id)
        .where(Conversation.customer_id == customer_id)
        .order_by(Conversation.id)
    )
    return list(rows.all())


async def latest_for_identity(session: AsyncSession, identity_id: int) -> Conversation | None:
    return (
        await session.execute(
            select(Conversation)
            .where(Conversation.identity_id == identity_id)
            .order_by(Conversation.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def create(
    session: AsyncSession,
    *,
    customer_id: int,
    identity_id: int,
    channel: str,
    now: datetime,
    locale: str | None = None,
    subject: str | None = None,
) -> Conversation:
    conversation = Conversation(
        customer_id=customer_id,
        identity_id=identity_id,
        channel=channel,
        status=ConversationStatus.BOT,
        priority=0,
        reference=new_reference(),
        subject=subject[:500] if subject else None,
        locale=locale,
        bot_misses=0,
        created_at=now,
        updated_at=now,
    )
    session.add(conversation)
    await session.flush()
    return conversation


async def by_reference(session: AsyncSession, reference: str) -> Conversation | None:
    return (
        await session.execute(select(Conversation).where(Conversation.reference == reference))
    ).scalar_one_or_none()


async def get(session: AsyncSession, conversation_id: int, *, lock: bool = False) -> Conversation:
    query = select(Conversation).where(Conversation.id == conversation_id)
    if lock:
        query = query.with_for_update()
    conversation = (await session.execute(query)).scalar_one_or_none()
    if conversation is None:
        raise RecordNotFound("conversation", conversation_id)
    return conversation


async def queue_position(session: AsyncSession, conversation: Conversation) -> int:
    """1-based position of a queued conversation (priority first, then waiting time)."""
    ahead = await session.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(
            Conversation.status == ConversationStatus.QUEUED,
            Conversation.id != conversation.id,
            (Conversation.priority > conversation.priority)
            | (
                (Conversation.priority == conversation.priority)
                & (Conversation.queued_at <= conversation.queued_at)
            ),
        )
    )
    return int(ahead or 0) + 1


async def queue_stats(session: AsyncSession, now: datetime) -> tuple[int, float]:
    """Queue length and the longest wait in seconds."""
    row = (
        await session.execute(
            select(func.count(), func.min(Conversation.queued_at)).where(
                Conversation.status == ConversationStatus.QUEUED
            )
        )
    ).one()
    count, oldest = int(row[0] or 0), row[1]
    if oldest is not None and oldest.tzinfo is None:  # SQLite's MIN() loses the column type
        oldest = oldest.replace(tzinfo=UTC)
    return count, (now - oldest).total_seconds() if oldest else 0.0


async def transition(
    session: AsyncSession,
    conversation: Conversation,
    expected: tuple[ConversationStatus, ...],
    **values: object,
) -> bool:
    """Compare-and-set the conversation's row: only succeeds from one of ``expected``.

    Two agents claiming at once both read ``queued``; only the first UPDATE matches.
    """
    result = await session.execute(
        update(Conversation)
        .where(Conversation.id == conversation.id, Conversation.status.in_(expected))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    await session.refresh(conversation)
    return True


async def list_for(
    session: AsyncSession,
    *,
    assignee_id: int | None = None,
    status: ConversationStatus | None = None,
    customer_id: int | None = None,
    limit: int = 100,
) -> list[Conversation]:
    query = select(Conversation)
    if assignee_id is not None:
        query = query.where(Conversation.assignee_id == assignee_id)
    if status is not None:
        query = query.where(Conversation.status == status)
    if customer_id is not None:
        query = query.where(Conversation.customer_id == customer_id)
    rows = await session.execute(query.order_by(Conversation.updated_at.desc()).limit(limit))
    return list(rows.scalars())


async def queued_with_segments(
    session: AsyncSession, limit: int = 1000, *, only_team: bool = False, team: str | None = None
) -> list[tuple[Conversation, str | None]]:
    """The queue (priority, then oldest) with each customer's segment, unlocked; with
    ``only_team``, just ``team``'s (None: the conversations in no team)."""
    query = (
        select(Conversation, Customer.segment)
        .join(Customer, Customer.id == Conversation.customer_id)
        .where(Conversation.status == ConversationStatus.QUEUED)
    )
    if only_team:
        query = query.where(
            Conversation.team == team if team is not None else Conversation.team.is_(None)
        )
    rows = await session.execute(
        query.order_by(Conversation.priority.desc(), Conversation.queued_at, Conversation.id).limit(
            limit
        )
    )
    return [(conv, segment) for conv, segment in rows.all()]


async def lock_queued(session: AsyncSession, conversation_id: int) -> Conversation | None:
    """The conversation locked for claiming, or None if it left the queue or another
    transaction holds it; the caller skips to the next, never waits.

    FOR NO KEY UPDATE, not FOR UPDATE: a transaction inserting a touchpoint into the
    conversation holds a key-share lock on its row, which FOR UPDATE SKIP LOCKED would take as
    "claimed by someone" and skip, leaving the queue looking empty."""
    return (
        await session.execute(
            select(Conversation)
            .where(
                Conversation.id == conversation_id,
                Conversation.status == ConversationStatus.QUEUED,
            )
            .with_for_update(skip_locked=True, key_share=True)
        )
    ).scalar_one_or_none()


async def loads(session: AsyncSession, agent_ids: list[int]) -> dict[int, dict[str, int]]:
    """Open conversations per agent and channel."""
    if not agent_ids:
        return {}
    rows = await session.execute(
        select(Conversation.assignee_id, Conversation.channel, func.count())
        .where(
            Conversation.status == ConversationStatus.ASSIGNED,
            Conversation.assignee_id.in_(agent_ids),
        )
        .group_by(Conversation.assignee_id, Conversation.channel)
    )
    result: dict[int, dict[str, int]] = {}
    for agent_id, channel, count in rows.all():
        if agent_id is not None:
            result.setdefault(int(agent_id), {})[str(channel)] = int(count)
    return result


async def last_assigned(session: AsyncSession, agent_ids: list[int]) -> dict[int, datetime]:
    """When each agent last got a conversation (for longest-idle fairness)."""
    if not agent_ids:
        return {}
    rows = await session.execute(
        select(Conversation.assignee_id, func.max(Conversation.assigned_at))
        .where(Conversation.assignee_id.in_(agent_ids), Conversation.assigned_at.is_not(None))
        .group_by(Conversation.assignee_id)
    )
    return {int(a): _aware(at) for a, at in rows.all() if a is not None and at is not None}


async def assigned_to(session: AsyncSession, agent_id: int) -> list[Conversation]:
    rows = await session.execute(
        select(Conversation)
        .where(
            Conversation.status == ConversationStatus.ASSIGNED,
            Conversation.assignee_id == agent_id,
        )
        .order_by(Conversation.id)
        .with_for_update(key_share=True)
    )
    return list(rows.scalars())


async def overdue(session: AsyncSession, now: datetime) -> list[Conversation]:
    """Open conversations with an SLA due time passed, locked, skipping ones another process
    is handling."""
    rows = await session.execute(
        select(Conversation)
        .where(
            Conversation.status.in_((ConversationStatus.QUEUED, ConversationStatus.ASSIGNED)),
            (Conversation.first_response_due_at < now)
            | (Conversation.next_response_due_at < now)
            | (Conversation.resolution_due_at < now),
        )
        .order_by(Conversation.id)
        .limit(500)
        .with_for_update(skip_locked=True, key_share=True)
    )
    return list(rows.scalars())


async def handle_times(session: AsyncSession, limit: int = 100) -> list[float]:
    """Seconds from assignment to close of the latest closed conversations."""
    rows = await session.execute(
        select(Conversation.assigned_at, Conversation.closed_at)
        .where(
            Conversation.status == ConversationStatus.CLOSED,
            Conversation.assigned_at.is_not(None),
            Conversation.closed_at.is_not(None),
        )
        .order_by(Conversation.closed_at.desc())
        .limit(limit)
    )
    return [
        max((_aware(closed) - _aware(assigned)).total_seconds(), 0.0)
        for assigned, closed in rows.all()
        if assigned is not None and closed is not None
    ]


def _aware(value: datetime) -> datetime:
    """SQLite's aggregates lose the column type: naive values are UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def sla_due_before(session: AsyncSession, when: datetime) -> list[Conversation]:
    """Open conversations with an SLA target due before ``when`` (at risk or breached)."""
    rows = await session.execute(
        select(Conversation)
        .where(
            Conversation.status.in_((ConversationStatus.QUEUED, ConversationStatus.ASSIGNED)),
            (Conversation.first_response_due_at < when)
            | (Conversation.next_response_due_at < when)
            | (Conversation.resolution_due_at < when),
        )
        .order_by(Conversation.id)
        .limit(200)
    )
    return list(rows.scalars())


async def count_by_status(session: AsyncSession) -> dict[ConversationStatus, int]:
    rows = await session.execute(
        select(Conversation.status, func.count()).group_by(Conversation.status)
    )
    return {ConversationStatus(s): int(n) for s, n in rows.all()}


async def closed_since(session: AsyncSession, since: datetime) -> list[Conversation]:
    rows = await session.execute(
        select(Conversation).where(
            Conversation.status == ConversationStatus.CLOSED, Conversation.closed_at >= since
        )
    )
    return list(rows.scalars())
