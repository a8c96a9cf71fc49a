"""Phone calls: the IVR's per-call state and the call record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Call

ENDED = ("completed", "busy", "failed", "no-answer", "canceled")


async def by_sid(session: AsyncSession, call_sid: str, *, lock: bool = False) -> Call | None:
    query = select(Call).where(Call.call_sid == call_sid)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def add(
    session: AsyncSession,
    *,
    call_sid: str,
    conversation_id: int,
    from_number: str,
    to_number: str,
    state: dict[str, Any],
    now: datetime,
) -> Call:
    call = Call(
        call_sid=call_sid,
        conversation_id=conversation_id,
        from_number=from_number,
        to_number=to_number,
        status="in-progress",
        state=state,
        started_at=now,
    )
    session.add(call)
    await session.flush()
    return call


async def live_for_conversation(session: AsyncSession, conversation_id: int) -> Call | None:
    """The conversation's newest call that has not ended."""
    return (
        await session.execute(
            select(Call)
            .where(Call.conversation_id == conversation_id, Call.status.not_in(ENDED))
            .order_by(Call.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
