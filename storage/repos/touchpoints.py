"""Touchpoints: the customer's history, one row per thing that happened."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import is_unique_violation
from storage.models import AuthorKind, DeliveryState, Direction, Touchpoint, TouchpointKind

# What a customer sees of their own conversation; staff see everything.
CUSTOMER_VISIBLE = (
    TouchpointKind.MESSAGE,
    TouchpointKind.BOT_ANSWER,
    TouchpointKind.AGENT_REPLY,
    TouchpointKind.SYSTEM,
    TouchpointKind.SURVEY,  # the question and the customer's answers
)


async def find_by_provider_id(
    session: AsyncSession, channel: str, provider_message_id: str
) -> Touchpoint | None:
    return (
        await session.execute(
            select(Touchpoint).where(
                Touchpoint.channel == channel,
                Touchpoint.provider_message_id == provider_message_id,
            )
        )
    ).scalar_one_or_none()


async def add(
    session: AsyncSession,
    *,
    customer_id: int,
    conversation_id: int | None,
    channel: str,
    kind: TouchpointKind,
    direction: Direction,
    author_kind: AuthorKind,
    now: datetime,
    text: str = "",
    agent_id: int | None = None,
    provider_message_id: str | None = None,
    delivery_state: DeliveryState | None = None,
    meta: dict[str, Any] | None = None,
) -> Touchpoint:
    touchpoint = Touchpoint(
        customer_id=customer_id,
        conversation_id=conversation_id,
        channel=channel,
        kind=kind,
        direction=direction,
        author_kind=author_kind,
        agent_id=agent_id,
        text=text,
        provider_message_id=provider_message_id,
        delivery_state=delivery_state,
        meta=meta or {},
        created_at=now,
    )
    session.add(touchpoint)
    await session.flush()
    return touchpoint


async def for_conversation(
    session: AsyncSession,
    conversation_id: int,
    *,
    kinds: Sequence[TouchpointKind] | None = None,
    after_id: int = 0,
    limit: int = 1000,
) -> list[Touchpoint]:
    query = select(Touchpoint).where(
        Touchpoint.conversation_id == conversation_id, Touchpoint.id > after_id
    )
    if kinds:
        query = query.where(Touchpoint.kind.in_(kinds))
    rows = await session.execute(query.order_by(Touchpoint.id).limit(limit))
    return list(rows.scalars())


async def for_customer(
    session: AsyncSession,
    customer_id: int,
    *,
    before_id: int | None = None,
    channel: str | None = None,
    kinds: Collection[TouchpointKind] | None = None,
    limit: int = 500,
) -> list[Touchpoint]:
    """Newest ``limit`` touchpoints of a customer (before ``before_id``, on ``channel``, of
    ``kinds``), oldest first."""
    query = select(Touchpoint).where(Touchpoint.customer_id == customer_id)
    if before_id is not None:
        query = query.where(Touchpoint.id < before_id)
    if channel:
        query = query.where(Touchpoint.channel == channel)
    if kinds:
        query = query.where(Touchpoint.kind.in_(list(kinds)))
    rows = await session.execute(query.order_by(Touchpoint.id.desc()).limit(limit))
    return list(reversed(list(rows.scalars())))


async def last_message(session: AsyncSession, conversation_id: int) -> Touchpoint | None:
    return (
        await session.execute(
            select(Touchpoint)
            .where(
                Touchpoint.conversation_id == conversation_id,
                Touchpoint.kind.in_(CUSTOMER_VISIBLE),
            )
            .order_by(Touchpoint.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def set_delivery_state(
    session: AsyncSession,
    touchpoint_ids: Sequence[int],
    state: DeliveryState,
    *,
    only_from: Sequence[DeliveryState] | None = None,
    customer_id: int | None = None,
) -> list[int]:
    """Move touchpoints to ``state``; returns the ids that changed.

    One conditional UPDATE, so a concurrent writer (the outbox recording "sent" while the
    widget reports "delivered") can never move a state backwards.
    """
    if not touchpoint_ids:
        return []
    query = update(Touchpoint).where(Touchpoint.id.in_(list(touchpoint_ids)))
    if only_from is not None:
        query = query.where(Touchpoint.delivery_state.in_(list(only_from)))
    if customer_id is not None:
        query = query.where(Touchpoint.customer_id == customer_id)
    result = await session.execute(
        query.values(delivery_state=state)
        .returning(Touchpoint.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(result.scalars())


async def get(session: AsyncSession, touchpoint_id: int) -> Touchpoint | None:
    return await session.get(Touchpoint, touchpoint_id)


async def set_provider_id(
    session: AsyncSession, touchpoint_id: int, provider_message_id: str
) -> bool:
    """Record the provider's id of a sent message; False when another touchpoint of the channel
    already has it. In a savepoint: one odd id must not undo the rest of the outbox's batch."""
    try:
        async with session.begin_nested():
            await session.execute(
                update(Touchpoint)
                .where(Touchpoint.id == touchpoint_id)
                .values(provider_message_id=provider_message_id)
                .execution_options(synchronize_session=False)
            )
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        return False
    return True


async def conversation_of_provider_ids(
    session: AsyncSession, channel: str, provider_message_ids: Sequence[str]
) -> int | None:
    """The conversation of the newest touchpoint carrying one of these provider ids."""
    if not provider_message_ids:
        return None
    return (
        await session.execute(
            select(Touchpoint.conversation_id)
            .where(
                Touchpoint.channel == channel,
                Touchpoint.provider_message_id.in_(list(provider_message_ids)),
                Touchpoint.conversation_id.is_not(None),
            )
            .order_by(Touchpoint.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def last_inbound(session: AsyncSession, conversation_id: int) -> Touchpoint | None:
    """The customer's latest message in a conversation (what a reply answers)."""
    return (
        await session.execute(
            select(Touchpoint)
            .where(
                Touchpoint.conversation_id == conversation_id,
                Touchpoint.kind == TouchpointKind.MESSAGE,
                Touchpoint.direction == Direction.INBOUND,
            )
            .order_by(Touchpoint.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
