"""Files that came with messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import RecordNotFound
from storage.models import StoredAttachment


async def add(
    session: AsyncSession,
    *,
    touchpoint_id: int,
    name: str,
    content_type: str,
    size: int,
    data: bytes | None,
    omitted: bool,
    now: datetime,
) -> StoredAttachment:
    row = StoredAttachment(
        touchpoint_id=touchpoint_id,
        name=name,
        content_type=content_type,
        size=size,
        data=data,
        omitted=omitted,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def get(session: AsyncSession, attachment_id: int) -> StoredAttachment:
    row = await session.get(StoredAttachment, attachment_id)
    if row is None:
        raise RecordNotFound("attachment", attachment_id)
    return row


async def for_touchpoints(
    session: AsyncSession, touchpoint_ids: list[int]
) -> list[StoredAttachment]:
    if not touchpoint_ids:
        return []
    rows = await session.execute(
        select(StoredAttachment)
        .where(StoredAttachment.touchpoint_id.in_(touchpoint_ids))
        .order_by(StoredAttachment.id)
    )
    return list(rows.scalars())
