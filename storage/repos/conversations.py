"""Conversations: opening, the escalation queue and claiming."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import RecordNotFound
from storage.models import Conversation, ConversationStatus

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


async def queue(session: AsyncSession, limit: int = 200) -> list[Conversation]:
    rows = await session.execute(
        select(Conversation)
        .where(Conversation.status == ConversationStatus.QUEUED)
        .order_by(Conversation.priority.desc(), Conversation.queued_at, Conversation.id)
        .limit(limit)
    )
    return list(rows.scalars())


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


async def claim_next(session: AsyncSession) -> Conversation | None:
    """Lock the head of the queue; other processes skip it instead of waiting.

    FOR NO KEY UPDATE, not FOR UPDATE: a transaction inserting a touchpoint into the
    conversation holds a key-share lock on its row, which FOR UPDATE SKIP LOCKED would take as
    "claimed by someone" and skip, leaving the queue looking empty."""
    return (
        await session.execute(
            select(Conversation)
            .where(Conversation.status == ConversationStatus.QUEUED)
            .order_by(Conversation.priority.desc(), Conversation.queued_at, Conversation.id)
            .limit(1)
            .with_for_update(skip_locked=True, key_share=True)
        )
    ).scalar_one_or_none()


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
