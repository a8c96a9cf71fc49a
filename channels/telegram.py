"""Telegram: a bot customers write to in a private chat.

Outbound (here): replies as plain text (no parse mode, so nothing the text contains is read
as markup), split into messages of at most 4096 characters (counted as UTF-16 code units, as
conservative as Telegram's count) at paragraph, sentence or word ends, in order. Bot answers and
replies with suggestions get an inline keyboard under the last part: on an answer the customer
may rate, a row of "👍 Helpful" and "👎 Not helpful" first; then one button per suggestion (its
full title: Telegram sets no limit on a label, clients elide long ones) and a "talk to a person"
button; a press comes back as the label's text (see ``channels.telegram_api`` for how a button
carries it in 64 bytes: every feedback label fits whole).

Inbound, long polling and webhook setup: ``channels.telegram_receive`` and
``channels.telegram_api``, re-exported here. The address is the private chat's id (the user's
id), as a string.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from channels.base import ChannelTraits, DeliveryReceipt, OutboundMessage
from channels.buttons import asks_feedback, feedback_labels, handoff_label
from channels.errors import PermanentChannelError
from channels.telegram_api import (
    TEXT_LIMIT,
    TelegramApi,
    handoff_data,
    set_webhook,
    suggestion_data,
)
from channels.telegram_receive import CHANNEL, TelegramPoller, TelegramWebhooks
from channels.text import split_sms
from storage.models import AuthorKind, DeliveryState

__all__ = [
    "CHANNEL",
    "TRAITS",
    "TelegramAdapter",
    "TelegramPoller",
    "TelegramWebhooks",
    "keyboard",
    "set_webhook",
]

# A live chat: one open conversation per customer, agent events shown. Chat ids are not phone
# numbers (address_kind None: a number the customer shares links identities through
# ``InboundMessage.phone``), and a bot may write to a user at any time until they block it
# (no reply window).
TRAITS = ChannelTraits(live=True)
EMPTY_WITH_BUTTONS = "…"  # Telegram refuses an empty text, and buttons need a message
log = logging.getLogger("switchboard.telegram")


def keyboard(message: OutboundMessage) -> InlineKeyboardMarkup | None:
    """The feedback row (on an answer to rate), one row per suggestion, then the handoff
    button; None for a plain agent reply."""
    if not message.suggestions and message.author_kind != AuthorKind.BOT:
        return None
    locale = message.meta.get("locale")
    rows: list[list[InlineKeyboardButton]] = []
    if asks_feedback(message.meta):
        # "t:<label>": the label is what the press sends (it fits the 64 bytes whole).
        rows.append(
            [
                InlineKeyboardButton(label, callback_data=suggestion_data("feedback", label))
                for label in feedback_labels(locale)
            ]
        )
    rows += [
        [InlineKeyboardButton(title, callback_data=suggestion_data(s.article_id, title))]
        for s in message.suggestions
        if (title := " ".join(s.title.split()))
    ]
    rows.append([InlineKeyboardButton(handoff_label(locale), callback_data=handoff_data(locale))])
    return InlineKeyboardMarkup(rows)


class TelegramAdapter:
    """Sends ``OutboundMessage``s to ``message.address`` (a chat id) as the bot.

    The receipt's ``provider_message_id`` is ``"<chat id>:<message id>"`` of the first part
    (message ids are per chat). When a long reply's later part fails, the ids of the parts
    Telegram took are remembered (in memory, per touchpoint and text) and the outbox's retry
    sends only the rest; a timeout after Telegram took a part can still duplicate it.
    """

    name = CHANNEL

    def __init__(
        self, *, api_base_url: str, token: str, timeout: float = 15.0, remember: int = 1024
    ) -> None:
        self._api = TelegramApi(token=token, api_base_url=api_base_url, timeout=timeout)
        self._remember = remember
        self._accepted: OrderedDict[tuple[int, str], list[int | None]] = OrderedDict()

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        try:
            chat_id = int(message.address)
        except ValueError:
            raise PermanentChannelError(
                f"a Telegram address is a chat id, not {message.address!r}"
            ) from None
        markup = keyboard(message)
        parts = split_sms(message.text.strip(), TEXT_LIMIT)
        if not parts:
            if markup is None:
                raise PermanentChannelError("nothing to send: the reply is empty")
            parts = [EMPTY_WITH_BUTTONS]
        key = (message.touchpoint_id, _digest(parts))
        ids = self._accepted.pop(key, None) or [None] * len(parts)
        done = False
        try:
            for n, part in enumerate(parts):
                if ids[n] is None:
                    last = n == len(parts) - 1
                    sent = await self._api.send_message(chat_id, part, markup if last else None)
                    ids[n] = sent.message_id
            done = True
        finally:
            if not done and any(ids):  # failed or cancelled after Telegram took some parts
                self._keep(key, ids)
        log.info(
            "telegram_sent",
            extra={"fields": {"touchpoint": message.touchpoint_id, "parts": len(parts)}},
        )
        return DeliveryReceipt(provider_message_id=f"{chat_id}:{ids[0]}", state=DeliveryState.SENT)

    async def close(self) -> None:
        await self._api.close()

    def _keep(self, key: tuple[int, str], ids: list[int | None]) -> None:
        self._accepted[key] = ids
        while len(self._accepted) > self._remember:
            self._accepted.popitem(last=False)


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()
