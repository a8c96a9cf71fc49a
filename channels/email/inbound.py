"""The email channel's inbound side: one raw message in, one stored InboundMessage out.

Both ways mail arrives (the SMTP receiver and IMAP polling) hand their raw bytes to
:meth:`EmailIngest.deliver`, which returns only once the message is stored (or known to be a
duplicate): the receiver answers 250 and the poller marks the message seen after that.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from channels.base import Attachment, InboundMessage
from channels.email.mime import (
    MailParseError,
    ParsedMail,
    parse,
    strip_reply_prefixes,
    without_tokens,
)
from channels.email.mime import subject_token as find_token
from channels.email.rules import automatic_reason

CHANNEL = "email"
HTML_KEEP_CHARS = 512 * 1024  # the original HTML kept for the agent, up to this much
log = logging.getLogger("switchboard.email")

Handle = Callable[[InboundMessage], Awaitable[Any]]


class Outcome(enum.StrEnum):
    STORED = "stored"
    REJECTED = "rejected"  # not mail, or no sender to answer: nothing to store


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    reason: str = ""


class EmailIngest:
    def __init__(
        self, handle: Handle, *, own_addresses: Collection[str], attachment_limit: int
    ) -> None:
        self._handle = handle
        self._own = frozenset(a.lower() for a in own_addresses)
        self._attachment_limit = attachment_limit
        domains = "|".join(re.escape(a.rpartition("@")[2]) for a in self._own if "@" in a)
        # Our own Message-IDs name the conversation (adapter.message_id): a reply threads by
        # them even before the send was recorded, and whatever a relay did to the subject.
        self._ours = re.compile(rf"^sb\.([a-z0-9]{{6,16}})\.\d+@(?:{domains})$", re.I)

    async def deliver(self, raw: bytes) -> Delivery:
        """Store one message. Raises when it could not be stored (the sender should retry)."""
        try:
            mail = parse(raw, attachment_limit=self._attachment_limit)
        except MailParseError as exc:
            log.warning("email_rejected", extra={"fields": {"reason": str(exc)}})
            return Delivery(Outcome.REJECTED, str(exc))
        sender = self._sender(mail)
        if sender is None:
            log.warning("email_rejected", extra={"fields": {"reason": "no sender address"}})
            return Delivery(Outcome.REJECTED, "no sender address")
        message = self.to_inbound(mail, sender)
        await self._handle(message)
        log.info(
            "email_received",
            extra={
                "fields": {"automatic": message.automatic, "threaded": bool(message.thread_ids)}
            },
        )
        return Delivery(Outcome.STORED)

    def _token_in_ids(self, mail: ParsedMail) -> str | None:
        for message_id in (*mail.in_reply_to, *reversed(mail.references)):
            found = self._ours.match(message_id)
            if found:
                return found.group(1).upper()
        return None

    def _sender(self, mail: ParsedMail) -> str | None:
        """Whom the mail is from, for the customer record: the From: address; else the
        envelope sender; else, for a bounce of our own mail, the customer it was for (so it
        joins their conversation); else the reporting server's postmaster. None: nobody."""
        returned = self._returned(mail)
        if returned is not None:
            return returned[1]
        if mail.from_address:
            return mail.from_address
        if mail.envelope_sender:
            return mail.envelope_sender
        if mail.report is not None and mail.report.reporting_host:
            return f"postmaster@{mail.report.reporting_host}"
        return None

    def _returned(self, mail: ParsedMail) -> tuple[str, str] | None:
        """(our Message-ID, its recipient) when ``mail`` is a bounce of a message we sent."""
        if mail.report is None or not mail.report.returned_to:
            return None
        for message_id in mail.report.returned_ids:
            if self._ours.match(message_id):
                recipients = [a for a in mail.report.returned_to if a not in self._own]
                return (message_id, recipients[0]) if recipients else None
        return None

    def to_inbound(self, mail: ParsedMail, sender: str | None = None) -> InboundMessage:
        sender = sender or mail.from_address
        assert sender is not None
        returned = self._returned(mail)
        returned_ids = [returned[0]] if returned else []
        ours = self._ours.match(returned[0]) if returned else None
        token = ours.group(1).upper() if ours else None
        token = token or find_token(mail.subject) or self._token_in_ids(mail)
        subject = strip_reply_prefixes(without_tokens(mail.subject))
        meta: dict[str, Any] = {
            "message_id": mail.message_id,
            # Oldest first, what this message answers last: our reply's References continue it.
            "references": _unique([*mail.references, *mail.in_reply_to]),
            "subject": mail.subject,
            "to": list(mail.to),
            "cc": list(mail.cc),
        }
        if mail.reply_text != mail.text:
            meta["full_text"] = mail.text
        if mail.html:
            meta["html"] = mail.html[:HTML_KEEP_CHARS]
            meta["html_truncated"] = len(mail.html) > HTML_KEEP_CHARS
        if mail.date is not None:
            meta["sent_at"] = mail.date.isoformat()
        return InboundMessage(
            channel=CHANNEL,
            address=sender,
            # What the bot and the agent list see: the new text, not the quoted thread below it.
            text=mail.reply_text.strip() or subject,
            external_id=_provider_id(mail),
            display_name=mail.from_name if sender == mail.from_address else None,
            thread_ref=token,
            thread_ids=_unique([*mail.in_reply_to, *mail.references, *returned_ids]),
            subject=subject or None,
            automatic=automatic_reason(mail, self._own),
            attachments=tuple(
                Attachment(a.name, a.content_type, a.size, data=a.data, omitted=a.omitted)
                for a in mail.attachments
            ),
            meta=meta,
        )


def _provider_id(mail: ParsedMail) -> str:
    """The Message-ID (the column holds 255 characters: longer ones are hashed)."""
    if not mail.message_id:
        return mail.content_hash
    if len(mail.message_id) <= 255:
        return mail.message_id
    return "sha256:" + hashlib.sha256(mail.message_id.encode("utf-8", "replace")).hexdigest()


def _unique(ids: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in ids if i))
