"""Facebook Messenger: replies through the Send API; the inbound side is ``messenger_webhooks``.

Customers are addressed by their page-scoped id (PSID), which is all a webhook says about
them. Replies go out as ``messaging_type: RESPONSE``, which Meta accepts only within 24 hours
of the customer's last message (``TRAITS.reply_window``; past it Meta answers 10/2018278, a
permanent error saying the window closed).

Rendering: the text, split into parts of at most 2000 characters (at paragraph, sentence or
word boundaries, never inside a character), sent one after another in order. A bot's answer,
and any reply with suggestions, gets quick replies on its last part: on an answer the customer
may rate, "👍 Helpful" and "👎 Not helpful" first; then one per suggestion (13 quick replies at
most: the suggestions get what the others leave, 10 or 12) and "talk to a person"
(``handoff_label``). A quick reply's title shows at most 20 characters, and the webhook gives back only the title as shown plus our payload, so the
payload carries the full title (``sb:text:<title>``): the press arrives as that text.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from datetime import timedelta
from typing import Any

from channels.base import ChannelTraits, DeliveryReceipt, OutboundMessage
from channels.buttons import asks_feedback, feedback_labels, handoff_label
from channels.errors import PermanentChannelError
from channels.messenger_api import CHANNEL, DEFAULT_API_VERSION, GraphApi, MessengerRejected
from channels.messenger_webhooks import QUICK_REPLY_PREFIX, MessengerWebhooks
from channels.text import sms_length, split_sms
from storage.models import AuthorKind, DeliveryState

__all__ = [
    "CHANNEL",
    "TRAITS",
    "MessengerAdapter",
    "MessengerRejected",
    "MessengerWebhooks",
    "quick_replies",
]

TRAITS = ChannelTraits(reply_window=timedelta(hours=24))
TEXT_LIMIT = 2000
QUICK_REPLIES = 13
TITLE_LIMIT = 20
PAYLOAD_LIMIT = 1000
log = logging.getLogger("switchboard.messenger")


class MessengerAdapter:
    """Sends ``OutboundMessage``s to ``message.address`` (a PSID) as the Page.

    The receipt names the first part's message id. When a long reply's later part fails
    transiently, the ids of the parts Meta already took are remembered (in memory, per
    touchpoint and text), and the outbox's retry sends only the rest. The Send API has no
    idempotency key: a timeout after Meta took a part, a restart, or a retry from another
    process can still repeat a part.
    """

    name = CHANNEL

    def __init__(
        self,
        *,
        api_base_url: str,
        page_access_token: str,
        api_version: str = DEFAULT_API_VERSION,
        app_secret: str | None = None,
        timeout: float = 15.0,
        remember: int = 1024,
    ) -> None:
        self._api = GraphApi(
            base_url=api_base_url,
            access_token=page_access_token,
            version=api_version,
            app_secret=app_secret,
            timeout=timeout,
        )
        self._remember = remember
        self._accepted: OrderedDict[tuple[int, str], list[str | None]] = OrderedDict()

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        psid = message.address.strip()
        if not psid.isdigit():
            raise PermanentChannelError(f"{message.address!r} is not a Messenger user id (PSID)")
        bodies = render(message)
        key = (message.touchpoint_id, _digest(bodies))
        mids = self._accepted.pop(key, None) or [None] * len(bodies)
        done = False
        try:
            for n, body in enumerate(bodies):
                if mids[n] is None:
                    mids[n] = await self._api.send_message(
                        {"recipient": {"id": psid}, "messaging_type": "RESPONSE", "message": body}
                    )
            done = True
        finally:
            if not done and any(mids):  # failed or cancelled after Meta took some parts
                self._keep(key, mids)
        log.info(
            "messenger_sent",
            extra={
                "fields": {"touchpoint": message.touchpoint_id, "parts": len(bodies), "mids": mids}
            },
        )
        return DeliveryReceipt(provider_message_id=mids[0], state=DeliveryState.SENT)

    async def close(self) -> None:
        await self._api.close()

    def _keep(self, key: tuple[int, str], mids: list[str | None]) -> None:
        self._accepted[key] = mids
        while len(self._accepted) > self._remember:
            self._accepted.popitem(last=False)


def render(message: OutboundMessage) -> list[dict[str, Any]]:
    """The Send API ``message`` objects for a reply, in order."""
    parts = split_sms(message.text, TEXT_LIMIT)
    if not parts:
        raise PermanentChannelError("nothing to send: the reply is empty")
    bodies: list[dict[str, Any]] = [{"text": part} for part in parts]
    replies = quick_replies(message)
    if replies:
        bodies[-1]["quick_replies"] = replies
    return bodies


def quick_replies(message: OutboundMessage) -> list[dict[str, str]]:
    """The feedback pair (on an answer to rate), one per suggestion, then "talk to a person";
    none unless the bot wrote or there are suggestions."""
    if not message.suggestions and message.author_kind is not AuthorKind.BOT:
        return []
    locale = message.meta.get("locale")
    rate = list(feedback_labels(locale)) if asks_feedback(message.meta) else []
    titles = [" ".join(s.title.split()) for s in message.suggestions]
    titles = [t for t in dict.fromkeys(titles) if t and t not in rate]
    titles = [*rate, *titles[: QUICK_REPLIES - 1 - len(rate)], handoff_label(locale)]
    room = PAYLOAD_LIMIT - len(QUICK_REPLY_PREFIX)
    return [
        {
            "content_type": "text",
            "title": label(title),
            "payload": QUICK_REPLY_PREFIX + (title if len(title) <= room else title[:room]),
        }
        for title in titles
    ]


def label(title: str, limit: int = TITLE_LIMIT) -> str:
    """``title`` cut to ``limit`` characters (counted as UTF-16 units, as Meta may count an
    emoji as two), at a word or at least a character boundary, with an ellipsis."""
    if sms_length(title) <= limit:
        return title
    head = split_sms(title, limit - 1)[0].rstrip(" ,.;:-")
    return (head or title[: limit - 1]) + "…"


def _digest(bodies: list[dict[str, Any]]) -> str:
    return hashlib.sha256(repr(bodies).encode()).hexdigest()
