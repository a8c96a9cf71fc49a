"""Who a live-chat visitor is: an email address they prove, linked to the customer who uses it.

Two proofs (docs/protocol.md, "Identifying a visitor"):

* **signed**: the website the chat is embedded in has logged its user in, and its backend
  signs their email with the shared ``chat.identity_secret`` (hex HMAC-SHA256 of the address as
  sent). The widget passes address and signature on; a valid signature links at once.
* **code**: the visitor types their address; a six-digit code goes there by email through the
  outbox, and typing it back within ``code_ttl`` links. A code is spent by ``max_attempts``
  wrong tries; a visitor may ask for ``max_codes_per_hour`` codes, an address receive
  ``max_codes_per_address`` an hour (nobody can flood someone else's inbox).

Linking is routing.inbound.link_email: the visitor's customer is merged into the customer who
already writes from that address (recorded and undoable like any merge), or the address is
added to the visitor's customer. Either way the history says so and consoles are told.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from routing import inbound as inbound_steps
from routing import views
from routing.clock import Clock
from routing.errors import RoutingError
from routing.hub import CONSOLE, Hub
from routing.ingest import storable
from storage.db import Database
from storage.models import (
    AuthorKind,
    ContactIdentity,
    Customer,
    DeliveryState,
    Direction,
    Touchpoint,
    TouchpointKind,
)
from storage.repos import conversations as conv_repo
from storage.repos import customers as customer_repo
from storage.repos import outbox as outbox_repo
from storage.repos import touchpoints as tp_repo
from storage.repos import verifications as verification_repo

log = logging.getLogger("switchboard.identify")
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
_CODE = re.compile(r"^[0-9]{6}$")
_SIGNATURE = re.compile(r"^[0-9a-fA-F]{64}$")


class IdentifyError(RoutingError):
    """The visitor's proof was refused; ``code`` says why (docs/protocol.md)."""


@dataclass(frozen=True)
class IdentifyPolicy:
    secret: str = ""  # chat.identity_secret; empty: signed identification is off
    by_code: bool = False  # codes can be emailed (the email channel is configured)
    code_ttl: timedelta = timedelta(minutes=15)
    max_attempts: int = 5
    max_codes_per_hour: int = 3
    max_codes_per_address: int = 5


@dataclass(frozen=True)
class Identified:
    email: str
    customer_id: int
    linked: bool  # an earlier customer's history was joined to this visitor's


@dataclass(frozen=True)
class CodeSent:
    email: str
    expires_at: datetime


@dataclass
class _Events:
    items: list[dict[str, Any]] = field(default_factory=list)
    outbox: bool = False


def normalise_email(raw: object) -> str:
    if not isinstance(raw, str):
        raise IdentifyError("bad_email", "email must be a string")
    email = raw.strip().lower()
    if len(email) > 320 or not EMAIL.fullmatch(email):
        raise IdentifyError("bad_email", "that is not an email address")
    return email


def sign(secret: str, email: str) -> str:
    """What the website's backend computes for a logged-in user (hex HMAC-SHA256)."""
    return hmac.new(secret.encode(), email.encode(), hashlib.sha256).hexdigest()


def _wrong_code(left: int) -> IdentifyError:
    if left <= 0:
        return IdentifyError("too_many_attempts", "too many wrong codes; ask for a new one")
    tries = "try" if left == 1 else "tries"
    return IdentifyError("wrong_code", f"that code is not right; {left} more {tries}")


class ChatIdentity:
    def __init__(
        self,
        db: Database,
        hub: Hub,
        clock: Clock,
        policy: IdentifyPolicy,
        wake_outbox: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = db
        self._hub = hub
        self._clock = clock
        self.policy = policy
        self._wake_outbox = wake_outbox

    async def known_email(self, channel: str, address: str) -> str | None:
        """The email address the visitor's customer is known by, if any."""
        async with self._db.transaction() as session:
            identity = await customer_repo.find_identity(session, channel, address)
            if identity is None:
                return None
            for other in await customer_repo.identities_of(session, identity.customer_id):
                if other.channel == "email":
                    return other.address
        return None

    async def signed(
        self,
        channel: str,
        address: str,
        raw_email: object,
        signature: object,
        name: object = None,
        locale: str | None = None,
        *,
        rotate_to: str | None = None,
    ) -> Identified:
        """``rotate_to``: the visitor's new address once linked (see ``_link``)."""
        if not self.policy.secret:
            raise IdentifyError(
                "signature_off",
                "signed identification is not configured here (chat.identity_secret)",
            )
        if not isinstance(raw_email, str) or not isinstance(signature, str):
            raise IdentifyError("bad_signature", "email and signature must be strings")
        if not _SIGNATURE.match(signature) or not hmac.compare_digest(
            sign(self.policy.secret, raw_email), signature.lower()
        ):
            raise IdentifyError(
                "bad_signature", "the signature does not match the email (HMAC-SHA256)"
            )
        email = normalise_email(raw_email)
        given = storable(name).strip() if isinstance(name, str) else ""
        display = given[:200] or None
        events = _Events()
        async with self._db.transaction() as session:
            customer, identity = await customer_repo.resolve_identity(
                session, channel, address, self._clock.now(), locale=locale
            )
            emails = [
                i.address
                for i in await customer_repo.identities_of(session, customer.id)
                if i.channel == "email"
            ]
            if emails and email not in emails:
                # Another signed-in user's chat on a shared browser: never join the two.
                raise IdentifyError(
                    "identity_conflict",
                    "this chat belongs to another email address: start a new chat "
                    "(hello without visitor_id) for this user",
                )
            if display and not customer.display_name:
                customer.display_name = display
            result = await self._link(
                session, customer, identity, email, "signed", events, rotate_to
            )
        await self._announce(events)
        return result

    async def send_code(
        self, channel: str, address: str, raw_email: object, locale: str | None = None
    ) -> CodeSent:
        if not self.policy.by_code:
            raise IdentifyError(
                "verification_off", "email verification needs the email channel configured"
            )
        email = normalise_email(raw_email)
        now = self._clock.now()
        hour_ago = now - timedelta(hours=1)
        code = f"{secrets.randbelow(1_000_000):06d}"
        events = _Events(outbox=True)
        async with self._db.transaction() as session:
            customer, identity = await customer_repo.resolve_identity(
                session, channel, address, now, locale=locale
            )
            if (
                await verification_repo.sent_since(session, hour_ago, identity_id=identity.id)
                >= self.policy.max_codes_per_hour
                or await verification_repo.sent_since(session, hour_ago, address=email)
                >= self.policy.max_codes_per_address
            ):
                raise IdentifyError(
                    "too_many_codes", "too many codes were asked for; try again in an hour"
                )
            row = await verification_repo.start(
                session,
                identity_id=identity.id,
                channel="email",
                address=email,
                code=code,
                now=now,
                ttl=self.policy.code_ttl,
            )
            tp = await tp_repo.add(
                session,
                customer_id=customer.id,
                conversation_id=None,
                channel="email",
                kind=TouchpointKind.SYSTEM,
                direction=Direction.OUTBOUND,
                author_kind=AuthorKind.SYSTEM,
                now=now,
                text=f"Verification code for {channel} sent to {email}",
                delivery_state=DeliveryState.PENDING,
                meta={"verification": row.id},
            )
            await outbox_repo.enqueue(
                session,
                touchpoint_id=tp.id,
                channel="email",
                address=email,
                payload={
                    "text": "",
                    "author_kind": AuthorKind.SYSTEM.value,
                    "locale": locale,
                    "verification_code": code,
                    "verification_minutes": int(self.policy.code_ttl.total_seconds() // 60),
                },
                now=now,
            )
        await self._announce(events)
        log.info("verification_sent", extra={"fields": {"identity": identity.id}})
        return CodeSent(email, row.expires_at)

    async def verify(
        self, channel: str, address: str, raw_code: object, *, rotate_to: str | None = None
    ) -> Identified:
        """``rotate_to``: the visitor's new address once linked (see ``_link``)."""
        # Typed on a Persian, Arabic or Thai keyboard the digits are theirs: read them as 0-9.
        code = (
            "".join(str(unicodedata.decimal(c, c)) for c in raw_code.strip())
            if isinstance(raw_code, str)
            else ""
        )
        if not _CODE.match(code):
            raise IdentifyError("bad_code", "the code is six digits")
        now = self._clock.now()
        events = _Events()
        refused: IdentifyError | None = None
        async with self._db.transaction() as session:
            identity = await customer_repo.find_identity(session, channel, address)
            row = await verification_repo.latest(session, identity.id) if identity else None
            if identity is None or row is None or row.verified_at is not None:
                raise IdentifyError("no_code", "ask for a code first")
            if row.expires_at <= now:
                raise IdentifyError("code_expired", "the code has expired; ask for a new one")
            if row.attempts >= self.policy.max_attempts:
                raise IdentifyError("too_many_attempts", "too many wrong codes; ask for a new one")
            if verification_repo.matches(row, code):
                row.verified_at = now
                customer = await customer_repo.get_customer(session, identity.customer_id)
                result = await self._link(
                    session, customer, identity, row.address, "code", events, rotate_to
                )
            else:
                # Counted in a committed transaction, so guessing is bounded.
                row.attempts += 1
                refused = _wrong_code(self.policy.max_attempts - row.attempts)
        if refused is not None:
            raise refused
        await self._announce(events)
        return result

    async def _link(
        self,
        session: AsyncSession,
        customer: Customer,
        identity: ContactIdentity,
        email: str,
        how: str,
        events: _Events,
        rotate_to: str | None = None,
    ) -> Identified:
        """Link ``email`` to the visitor's customer. With ``rotate_to`` the visitor's address
        (the web-chat visitor id) becomes that one in the same transaction, and so do their
        outbox items: an id seen before the proof no longer leads to the customer after it."""
        before = customer.id
        now = self._clock.now()
        if rotate_to is not None and rotate_to != identity.address:
            old, identity.address = identity.address, rotate_to
            await session.flush()
            await outbox_repo.readdress(session, identity.channel, old, rotate_to)
        customer, note = await inbound_steps.link_email(
            session, customer, identity, email, now, how
        )
        if note is not None:
            conv = await conv_repo.latest_for_identity(session, identity.id)
            if conv is not None:
                tp: Touchpoint = await tp_repo.add(
                    session,
                    customer_id=customer.id,
                    conversation_id=conv.id,
                    channel=conv.channel,
                    kind=TouchpointKind.SYSTEM,
                    direction=Direction.INTERNAL,
                    author_kind=AuthorKind.SYSTEM,
                    now=now,
                    text=note,
                )
                events.items += [
                    {
                        "type": "message",
                        "conversation_id": conv.id,
                        "message": views.staff_message(tp),
                    },
                    {"type": "conversation", "conversation_id": conv.id},
                ]
            events.items += [
                {"type": "customer", "customer_id": cid} for cid in {before, customer.id}
            ]
        log.info(
            "visitor_identified",
            extra={
                "fields": {"customer": customer.id, "how": how, "linked": before != customer.id}
            },
        )
        return Identified(email, customer.id, linked=before != customer.id)

    async def _announce(self, events: _Events) -> None:
        if events.outbox:
            self._wake_outbox()
        for event in events.items:
            try:
                await self._hub.publish(CONSOLE, event)
            except Exception:  # consoles refetch; the data is committed
                log.exception("console_event_failed")
