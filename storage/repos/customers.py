"""Customers and their contact identities (one customer, many channel addresses)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import RecordNotFound, is_unique_violation
from storage.models import ContactIdentity, Customer, CustomerMerge
from storage.repos import merges as merge_repo


async def resolve_identity(
    session: AsyncSession,
    channel: str,
    address: str,
    now: datetime,
    display_name: str | None = None,
    locale: str | None = None,
    kin: Collection[str] = (),
) -> tuple[Customer, ContactIdentity]:
    """Find the customer behind ``(channel, address)``, creating both on first contact.

    ``kin`` are channels sharing this address space (a phone number on SMS, voice and
    WhatsApp): an address known on one of them is that customer's on this channel too.
    Safe when two processes see the same new address at once: the loser of the unique
    constraint race reads the winner's row.
    """
    found = await _find(session, channel, address)
    if found:
        if display_name and not found[0].display_name:
            found[0].display_name = display_name  # the provider's profile name, when unknown
        return found
    relative = await _find_kin(session, kin, address) if kin else None
    try:
        async with session.begin_nested():
            if relative is not None:
                customer = relative
            else:
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


async def _find_kin(
    session: AsyncSession, channels: Collection[str], address: str
) -> Customer | None:
    return (
        await session.execute(
            select(Customer)
            .join(ContactIdentity, ContactIdentity.customer_id == Customer.id)
            .where(ContactIdentity.channel.in_(list(channels)), ContactIdentity.address == address)
            .order_by(ContactIdentity.id)
            .limit(1)
        )
    ).scalar_one_or_none()


async def customer_with_address(
    session: AsyncSession, channels: Collection[str], address: str
) -> Customer | None:
    """The customer who has ``address`` on one of ``channels``."""
    return await _find_kin(session, channels, address)


async def add_identity(
    session: AsyncSession, customer_id: int, channel: str, address: str, now: datetime
) -> ContactIdentity | None:
    """Give a customer another address; None when it already belongs to someone."""
    if await find_identity(session, channel, address) is not None:
        return None
    identity = ContactIdentity(
        customer_id=customer_id, channel=channel, address=address, created_at=now
    )
    session.add(identity)
    await session.flush()
    return identity


async def merge(
    session: AsyncSession,
    source_id: int,
    target_id: int,
    now: datetime,
    *,
    actor: str = "system",
    reason: str | None = None,
) -> CustomerMerge | None:
    """Move everything of customer ``source_id`` to ``target_id``: one person, one history.
    Recorded in ``customer_merges`` (see storage.repos.merges), so it can be undone."""
    if source_id == target_id:
        return None
    return await merge_repo.merge(session, source_id, target_id, now, actor=actor, reason=reason)


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
