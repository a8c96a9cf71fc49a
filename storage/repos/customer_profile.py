"""A customer's profile: figures computed from their history, notes, and the queries that
find likely duplicates (same address, same name)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ContactIdentity, Conversation, Customer, CustomerNote, Touchpoint


async def lifetime(session: AsyncSession, customer_id: int) -> dict[str, Any]:
    """Conversations, first and last contact, CSAT average and count, and the locales of the
    customer's conversations."""
    convs = (
        await session.execute(
            select(
                func.count(Conversation.id),
                func.avg(Conversation.csat_score),
                func.count(Conversation.csat_score),
            ).where(Conversation.customer_id == customer_id)
        )
    ).one()
    first, last, touchpoints = (
        await session.execute(
            select(
                func.min(Touchpoint.created_at),
                func.max(Touchpoint.created_at),
                func.count(Touchpoint.id),
            ).where(Touchpoint.customer_id == customer_id)
        )
    ).one()
    locales = (
        await session.scalars(
            select(Conversation.locale)
            .where(Conversation.customer_id == customer_id, Conversation.locale.is_not(None))
            .distinct()
        )
    ).all()
    average = float(convs[1]) if convs[1] is not None else None
    return {
        "conversations": int(convs[0] or 0),
        "touchpoints": int(touchpoints or 0),
        "first_contact_at": _aware(first),
        "last_contact_at": _aware(last),
        "csat_average": round(average, 2) if average is not None else None,
        "csat_count": int(convs[2] or 0),
        "conversation_locales": sorted(str(x) for x in locales),
    }


def _aware(value: Any) -> str | None:
    # min()/max() skip the column type on some backends: the value may come back naive text.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.isoformat() + "+00:00"
    return str(value.isoformat())


async def add_note(
    session: AsyncSession,
    customer_id: int,
    *,
    agent_id: int | None,
    author: str,
    text: str,
    now: datetime,
) -> CustomerNote:
    note = CustomerNote(
        customer_id=customer_id, agent_id=agent_id, author=author, text=text, created_at=now
    )
    session.add(note)
    await session.flush()
    return note


async def notes_of(session: AsyncSession, customer_id: int) -> list[CustomerNote]:
    return list(
        (
            await session.scalars(
                select(CustomerNote)
                .where(CustomerNote.customer_id == customer_id)
                .order_by(CustomerNote.id.desc())
            )
        ).all()
    )


async def owners_of(
    session: AsyncSession, channels: Collection[str], addresses: Collection[str]
) -> dict[int, list[ContactIdentity]]:
    """Live customers holding one of ``addresses`` on one of ``channels`` (case-insensitive)."""
    if not channels or not addresses:
        return {}
    rows = await session.scalars(
        select(ContactIdentity)
        .join(Customer, Customer.id == ContactIdentity.customer_id)
        .where(
            ContactIdentity.channel.in_(list(channels)),
            func.lower(ContactIdentity.address).in_([a.lower() for a in addresses]),
            Customer.erased_at.is_(None),
        )
    )
    found: dict[int, list[ContactIdentity]] = {}
    for identity in rows:
        found.setdefault(identity.customer_id, []).append(identity)
    return found


async def phone_identities(
    session: AsyncSession, channels: Collection[str], digits: Collection[str]
) -> list[ContactIdentity]:
    """Identities on phone channels whose address ends with one of ``digits`` (the caller
    normalises and compares): a cheap pre-filter that works for '+66…' and '66…' alike."""
    if not digits:
        return []
    clauses = [ContactIdentity.address.like(f"%{d[-8:]}") for d in digits]
    query = (
        select(ContactIdentity)
        .join(Customer, Customer.id == ContactIdentity.customer_id)
        .where(ContactIdentity.channel.in_(list(channels)), Customer.erased_at.is_(None))
    )
    return list((await session.scalars(query.where(or_(*clauses)).limit(500))).all())


async def customers_named(
    session: AsyncSession, name: str, exclude: int, limit: int = 20
) -> list[Customer]:
    return list(
        (
            await session.scalars(
                select(Customer)
                .where(
                    func.lower(Customer.display_name) == name.strip().lower(),
                    Customer.id != exclude,
                    Customer.erased_at.is_(None),
                )
                .order_by(Customer.id)
                .limit(limit)
            )
        ).all()
    )
