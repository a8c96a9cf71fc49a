"""Failed sign-in counters per key ("account:<email>", "address:<ip>"), shared by every
process through the database."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import LoginThrottle


async def locked(session: AsyncSession, keys: Iterable[str], now: datetime) -> list[LoginThrottle]:
    """The keys' rows, created when missing and locked in key order (no deadlock between two
    processes locking the same pair), so concurrent sign-ins are counted one after another."""
    ordered = sorted(set(keys))
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(LoginThrottle)
        .values([{"key": k, "failures": 0, "last_failure_at": now} for k in ordered])
        .on_conflict_do_nothing(index_elements=["key"])
    )
    rows = await session.execute(
        select(LoginThrottle)
        .where(LoginThrottle.key.in_(ordered))
        .order_by(LoginThrottle.key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(rows.scalars())


async def forget(session: AsyncSession, key: str) -> None:
    await session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


async def forget_older(session: AsyncSession, before: datetime) -> None:
    """Drop counters with no failure since ``before`` and no hold left (keeps the table small
    when someone tries many made-up addresses)."""
    await session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.last_failure_at < before,
            LoginThrottle.blocked_until.is_(None) | (LoginThrottle.blocked_until < before),
        )
    )
