"""The outbox: replies written with the touchpoint, delivered by a worker with retries."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxItem, OutboxStatus


async def enqueue(
    session: AsyncSession,
    *,
    touchpoint_id: int,
    channel: str,
    address: str,
    payload: dict[str, Any],
    now: datetime,
) -> OutboxItem:
    item = OutboxItem(
        touchpoint_id=touchpoint_id,
        channel=channel,
        address=address,
        payload=payload,
        status=OutboxStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(item)
    await session.flush()
    return item


async def readdress(session: AsyncSession, channel: str, old: str, new: str) -> None:
    """A chat visitor's id was rotated: their items, delivered or not, name the new one."""
    await session.execute(
        update(OutboxItem)
        .where(OutboxItem.channel == channel, OutboxItem.address == old)
        .values(address=new)
    )


async def claim_due(
    session: AsyncSession, now: datetime, lease: timedelta, limit: int
) -> list[OutboxItem]:
    """Lease due items to this worker. A crashed worker's lease runs out and the item is retried.

    On PostgreSQL ``SKIP LOCKED`` lets several processes claim disjoint batches.
    """
    rows = await session.execute(
        select(OutboxItem)
        .where(
            or_(
                (OutboxItem.status == OutboxStatus.PENDING) & (OutboxItem.next_attempt_at <= now),
                (OutboxItem.status == OutboxStatus.SENDING) & (OutboxItem.locked_until <= now),
            )
        )
        .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    items = list(rows.scalars())
    for item in items:
        item.status = OutboxStatus.SENDING
        item.locked_until = now + lease
        item.attempts += 1
    await session.flush()
    return items


async def finish(
    session: AsyncSession,
    item_id: int,
    *,
    status: OutboxStatus,
    now: datetime,
    error: str | None = None,
    next_attempt_at: datetime | None = None,
) -> None:
    values: dict[str, Any] = {"status": status, "locked_until": None, "last_error": error}
    if status == OutboxStatus.SENT:
        values["sent_at"] = now
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def mark_sent(session: AsyncSession, item_ids: list[int], now: datetime) -> None:
    """One statement for a whole delivered batch."""
    await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id.in_(item_ids))
        .values(status=OutboxStatus.SENT, locked_until=None, last_error=None, sent_at=now)
        .execution_options(synchronize_session=False)
    )


async def backlog(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(OutboxItem.status, func.count()).group_by(OutboxItem.status)
    )
    counts = {status.value: 0 for status in OutboxStatus}
    for status, count in rows:
        counts[OutboxStatus(status).value] = int(count)
    return counts


async def next_due(session: AsyncSession) -> datetime | None:
    return await session.scalar(
        select(func.min(OutboxItem.next_attempt_at)).where(
            OutboxItem.status == OutboxStatus.PENDING
        )
    )
