"""Steps of storing an inbound message that only touch storage: which conversation it
belongs to, a phone number it links, its attachments, whether an automatic reply may go out."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import ChannelTraits, InboundMessage
from storage.models import ContactIdentity, Conversation, Customer, Touchpoint
from storage.repos import attachments as attachment_repo
from storage.repos import conversations as conv_repo
from storage.repos import customers as customer_repo
from storage.repos import touchpoints as tp_repo

log = logging.getLogger("switchboard.router")
# Where phone numbers live as addresses: the phone channels and numbers customers shared.
PHONE_CHANNELS = ("sms", "voice", "whatsapp", "phone")


async def conversation_for(
    session: AsyncSession, msg: InboundMessage, identity: ContactIdentity, threaded: bool
) -> Conversation | None:
    """The conversation a message belongs to; None when it starts a new one.

    Live channels keep one open conversation per address. Threaded ones (email) follow the
    reference the customer quoted, then the messages it answers; anything else is new.
    """
    if not threaded:
        return await conv_repo.open_for_identity(session, identity.id)
    if msg.thread_ref:
        conv = await conv_repo.by_reference(session, msg.thread_ref)
        # A quoted reference only threads mail from the same customer: anyone can type one.
        if conv is not None and conv.customer_id == identity.customer_id:
            return conv
    conv_id = await tp_repo.conversation_of_provider_ids(session, msg.channel, msg.thread_ids)
    if conv_id is not None:
        conv = await conv_repo.get(session, conv_id)
        if conv.customer_id == identity.customer_id:
            return conv
    return None


async def link_phone(
    session: AsyncSession,
    customer: Customer,
    identity: ContactIdentity,
    phone: str,
    now: datetime,
) -> tuple[Customer, str | None]:
    """The customer shared their number: they are whoever texts or calls from it. Returns the
    customer they turned out to be, and a note for the history when anything changed."""
    return await _link(
        session,
        customer,
        identity,
        PHONE_CHANNELS,
        "phone",
        phone,
        now,
        reason="shared a phone number this customer already uses",
        linked=f"Linked to the customer who uses {phone}: one history across channels",
        added=f"The customer shared their phone number {phone}",
    )


async def link_email(
    session: AsyncSession,
    customer: Customer,
    identity: ContactIdentity,
    email: str,
    now: datetime,
    how: str,
) -> tuple[Customer, str | None]:
    """The customer proved ``email`` is theirs (``how``: "code" or "signed"): they are whoever
    writes from it. Like link_phone."""
    proof = "a code sent to it" if how == "code" else "the website's signed login"
    return await _link(
        session,
        customer,
        identity,
        ("email",),
        "email",
        email,
        now,
        reason=f"verified an email address this customer uses ({proof})",
        linked=f"Verified {email} ({proof}): linked to the customer who uses it, "
        "one history across channels",
        added=f"Verified {email} ({proof})",
    )


async def _link(
    session: AsyncSession,
    customer: Customer,
    identity: ContactIdentity,
    channels: tuple[str, ...],
    channel: str,
    address: str,
    now: datetime,
    *,
    reason: str,
    linked: str,
    added: str,
) -> tuple[Customer, str | None]:
    owner = await customer_repo.customer_with_address(session, channels, address)
    if owner is not None and owner.id != customer.id:
        await customer_repo.merge(
            session, customer.id, owner.id, now, actor="system", reason=reason
        )
        await session.refresh(identity)
        customer, text = owner, linked
    elif owner is None:
        await customer_repo.add_identity(session, customer.id, channel, address, now)
        text = added
    else:
        return customer, None
    log.info("identity_linked", extra={"fields": {"customer": customer.id, "channel": channel}})
    return customer, text


def may_auto_reply(identity: ContactIdentity, traits: ChannelTraits, now: datetime) -> bool:
    """RFC 3834: at most one automatic reply to an address per the channel's window."""
    window, last = traits.auto_reply_window, identity.last_auto_reply_at
    return window is None or last is None or now - last >= window


async def store_attachments(
    session: AsyncSession, inbound: Touchpoint, msg: InboundMessage, now: datetime
) -> None:
    """Keep the message's files and list them on it (``meta.attachments``)."""
    listed: list[dict[str, Any]] = []
    for item in msg.attachments:
        row = await attachment_repo.add(
            session,
            touchpoint_id=inbound.id,
            name=item.name,
            content_type=item.content_type,
            size=item.size,
            data=item.data,
            omitted=item.omitted,
            now=now,
        )
        listed.append(
            {
                "id": row.id,
                "name": row.name,
                "content_type": row.content_type,
                "size": row.size,
                "omitted": row.omitted,
                **({"url": item.url} if item.url else {}),
            }
        )
    inbound.meta = {**inbound.meta, "attachments": listed}
