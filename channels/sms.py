"""The SMS channel's outbound side: replies sent as Twilio Messages.

SMS has no buttons, so suggestions become a numbered list under the text. Twilio joins up to
1600 characters into one message on the handset; longer replies go out as several messages,
submitted one after another in order (carriers usually, not always, deliver them in order).
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict

from channels.base import DeliveryReceipt, OutboundMessage
from channels.errors import PermanentChannelError
from channels.phone import InvalidPhoneNumber, normalize_phone
from channels.text import SMS_LIMIT, split_sms
from channels.twilio_api import TwilioApi
from storage.models import DeliveryState

__all__ = ["CHANNEL", "SmsAdapter"]

CHANNEL = "sms"
log = logging.getLogger("switchboard.sms")


class SmsAdapter:
    """Sends ``OutboundMessage``s to ``message.address`` (a phone number) through Twilio.

    The receipt's ``provider_message_id`` is the SID of the first message when a reply went
    out in several: status callbacks for the later parts carry SIDs the receipt does not name.

    Retries: when a long reply's later part fails transiently, the SIDs of the parts Twilio
    already accepted are remembered (in memory, per touchpoint and text), and the outbox's
    retry of the same touchpoint sends only the rest. Duplicates remain possible when a request
    timed out after Twilio had accepted it (no SID came back, and Twilio's Messages API has no
    idempotency key), after a restart, or when another process retries the touchpoint.
    """

    name = CHANNEL

    def __init__(
        self,
        api: TwilioApi,
        *,
        from_number: str,
        status_callback_url: str | None,
        remember: int = 1024,
    ) -> None:
        self._api = api
        self._from = from_number
        self._status_callback = status_callback_url or None
        self._remember = remember
        self._accepted: OrderedDict[tuple[int, str], list[str | None]] = OrderedDict()

    @staticmethod
    def render(message: OutboundMessage) -> str:
        """The text, then the suggestions as "1. Title" lines."""
        text = message.text.strip()
        if not message.suggestions:
            return text
        items = "\n".join(
            f"{n}. {' '.join(s.title.split())}" for n, s in enumerate(message.suggestions, 1)
        )
        return f"{text}\n\n{items}" if text else items

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        try:
            to = normalize_phone(message.address)
        except InvalidPhoneNumber as exc:
            raise PermanentChannelError(f"cannot send an SMS to {exc}") from None
        parts = split_sms(self.render(message), SMS_LIMIT)
        if not parts:
            raise PermanentChannelError("nothing to send: the reply is empty")
        key = (message.touchpoint_id, _digest(parts))
        sids = self._accepted.pop(key, None) or [None] * len(parts)
        done = False
        try:
            for n, part in enumerate(parts):
                if sids[n] is None:
                    sent = await self._api.send_sms(
                        to, self._from, part, self._callback_for(message, n)
                    )
                    sids[n] = sent.sid
            done = True
        finally:
            if not done and any(sids):  # failed or cancelled after Twilio took some parts
                self._keep(key, sids)
        log.info(
            "sms_sent",
            extra={
                "fields": {"touchpoint": message.touchpoint_id, "parts": len(parts), "sids": sids}
            },
        )
        return DeliveryReceipt(provider_message_id=sids[0], state=DeliveryState.SENT)

    def _callback_for(self, message: OutboundMessage, part: int) -> str | None:
        """Delivery reports name the touchpoint, so they never race the outbox's bookkeeping.
        Only the first part reports: its state stands for the reply."""
        if self._status_callback is None or part > 0:
            return None
        separator = "&" if "?" in self._status_callback else "?"
        return f"{self._status_callback}{separator}tp={message.touchpoint_id}"

    def _keep(self, key: tuple[int, str], sids: list[str | None]) -> None:
        self._accepted[key] = sids
        while len(self._accepted) > self._remember:
            self._accepted.popitem(last=False)


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()
