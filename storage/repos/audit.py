"""Audit events: who did what to what, for staff actions outside a conversation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEvent


def customer_target(customer_id: int) -> str:
    """The ``target`` of every audit event about one customer (what their export gathers)."""
    return f"customer:{customer_id}"


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    target: str,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEvent(actor=actor, action=action, target=target, data=data or {}, created_at=now)
    )
