"""Codes that prove an address given in a live chat (see routing.identify)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import IdentityVerification


def code_hash(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


async def start(
    session: AsyncSession,
    *,
    identity_id: int,
    channel: str,
    address: str,
    code: str,
    now: datetime,
    ttl: timedelta,
) -> IdentityVerification:
    """A new code for ``identity_id``; any code it was sent before stops working. Codes a day
    past their expiry are deleted (the history keeps that one was sent)."""
    await session.execute(
        delete(IdentityVerification).where(
            IdentityVerification.expires_at <= now - timedelta(days=1)
        )
    )
    for earlier in await pending(session, identity_id, now):
        earlier.expires_at = now
    salt = secrets.token_hex(16)
    row = IdentityVerification(
        identity_id=identity_id,
        channel=channel,
        address=address,
        code_hash=code_hash(salt, code),
        salt=salt,
        attempts=0,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(row)
    await session.flush()
    return row


async def pending(
    session: AsyncSession, identity_id: int, now: datetime
) -> list[IdentityVerification]:
    rows = await session.scalars(
        select(IdentityVerification).where(
            IdentityVerification.identity_id == identity_id,
            IdentityVerification.verified_at.is_(None),
            IdentityVerification.expires_at > now,
        )
    )
    return list(rows)


async def latest(session: AsyncSession, identity_id: int) -> IdentityVerification | None:
    """The code most recently sent to ``identity_id`` (for update: tries are counted)."""
    return (
        await session.scalars(
            select(IdentityVerification)
            .where(IdentityVerification.identity_id == identity_id)
            .order_by(IdentityVerification.id.desc())
            .limit(1)
            .with_for_update()
        )
    ).first()


async def sent_since(
    session: AsyncSession,
    since: datetime,
    *,
    identity_id: int | None = None,
    address: str | None = None,
) -> int:
    """How many codes one visitor asked for, or one address was sent, since ``since``."""
    query = select(func.count()).where(IdentityVerification.created_at >= since)
    if identity_id is not None:
        query = query.where(IdentityVerification.identity_id == identity_id)
    if address is not None:
        query = query.where(IdentityVerification.address == address)
    return int(await session.scalar(query) or 0)


def matches(row: IdentityVerification, code: str) -> bool:
    return hmac.compare_digest(row.code_hash, code_hash(row.salt, code))


async def forget(session: AsyncSession, identity_ids: list[int]) -> int:
    """Remove the codes (and the addresses they claimed) of these identities (erasure)."""
    if not identity_ids:
        return 0
    result = await session.execute(
        delete(IdentityVerification).where(IdentityVerification.identity_id.in_(identity_ids))
    )
    return int(getattr(result, "rowcount", 0) or 0)
