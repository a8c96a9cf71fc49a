"""Customers and their contact identities (one customer, many channel addresses)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import RecordNotFound, is_unique_violation
from storage.models import ContactIdentity, Customer


async def resolve_identity(
    session: AsyncSession,
    channel: str,
    address: str,
    now: datetime,
    display_name: str | None = None,
    locale: str | None = None,
) -> tuple[Customer, ContactIdentity]:
    """Find the customer behind ``(channel, address)``, creating both on first contact.

    Safe when two processes see the same new address at once: the loser of the unique
    constraint race reads the winner's row.
    """
    found = await _find(session, channel, address)
    if found:
        return found
    try:
        async with session.begin_nested():
            customer = Customer(
                display_name=display_name, locale=locale, created_at=now, updated_at=now
            )
            session.add(customer)
            await session.flush()
            identity = ContactIdentity(
                customer_id=customer.id,
                channel=channel,
                address=address,
                display_name=display_name,
                created_at=now,
            )
            session.add(identity)
            await session.flush()
            return customer, identity
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
    found = await _find(session, channel, address)
    if not found:  # pragma: no cover - the constraint said it exists
        raise RecordNotFound("identity", f"{channel}:{address}")
    return found


async def _find(
    session: AsyncSession, channel: str, address: str
) -> tuple[Customer, ContactIdentity] | None:
    row = (
        await session.execute(
            select(Customer, ContactIdentity)
            .join(ContactIdentity, ContactIdentity.customer_id == Customer.id)
            .where(ContactIdentity.channel == channel, ContactIdentity.address == address)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def find_identity(
    session: AsyncSession, channel: str, address: str
) -> ContactIdentity | None:
    return (
        await session.execute(
            select(ContactIdentity).where(
                ContactIdentity.channel == channel, ContactIdentity.address == address
            )
        )
    ).scalar_one_or_none()


async def get_customer(session: AsyncSession, customer_id: int) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise RecordNotFound("customer", customer_id)
    return customer


async def identities_of(session: AsyncSession, customer_id: int) -> list[ContactIdentity]:
    rows = await session.execute(
        select(ContactIdentity)
        .where(ContactIdentity.customer_id == customer_id)
        .order_by(ContactIdentity.id)
    )
    return list(rows.scalars())


async def get_identity(session: AsyncSession, identity_id: int) -> ContactIdentity:
    identity = await session.get(ContactIdentity, identity_id)
    if identity is None:
        raise RecordNotFound("identity", identity_id)
    return identity
