"""The WhatsApp channel (Meta's WhatsApp Cloud API): replies sent through the Graph API, and
the inbound webhooks (``channels.whatsapp_webhooks``).

Rendering a reply:

- Plain text, in parts of at most 4096 characters (WhatsApp's limit), cut at paragraph, sentence
  or word boundaries, sent one after another in order. Link previews are off.
- With suggestions, or any bot answer: the last part becomes an interactive message. Up to two
  suggestions: *reply buttons* (at most 3: the suggestions plus "talk to a person"; titles cut
  to 20 characters with "…"; the body of such a message holds only 1024 characters, so the text
  before it goes out as plain parts). Three or more: a *list message* (one "Options" button
  opening up to 10 rows: 9 suggestions plus "talk to a person"; row titles cut to 24
  characters, the full title or the summary as the row's description, 72 at most).
- An answer the customer may rate gets exactly three reply buttons, WhatsApp's most:
  "👍 Helpful", "👎 Not helpful" and "talk to a person" (every label fits 20 characters). The
  vote wins over the suggestions, which are left out: a list would hide the vote behind its
  "Options" button, and the "not helpful" reply leads on to rephrasing or to a person.
  Each button's id carries the full title, so a press reads as the whole title typed out.

Free-form messages reach a customer only within 24 hours of their last message (``TRAITS``
tells the router; Meta's error 131047 says the same if a retry comes too late). Addresses are
E.164 numbers; the API wants them as digits without "+".
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from channels.base import ChannelTraits, DeliveryReceipt, OutboundMessage
from channels.buttons import asks_feedback, feedback_labels, handoff_label
from channels.errors import PermanentChannelError
from channels.phone import InvalidPhoneNumber, normalize_phone
from channels.text import sms_length, split_sms
from channels.whatsapp_api import DEFAULT_API_VERSION, GraphApi
from channels.whatsapp_content import HANDOFF_ID, SUGGESTION_ID
from channels.whatsapp_webhooks import CHANNEL, WhatsAppWebhooks
from storage.models import AuthorKind, DeliveryState

__all__ = ["CHANNEL", "TRAITS", "WhatsAppAdapter", "WhatsAppWebhooks", "render"]

TRAITS = ChannelTraits(address_kind="phone", reply_window=timedelta(hours=24))

TEXT_LIMIT = 4096
BUTTON_BODY_LIMIT = 1024
MAX_BUTTONS = 3
BUTTON_TITLE = 20
BUTTON_ID = 256
MAX_ROWS = 10
ROW_TITLE = 24
ROW_ID = 200
ROW_DESCRIPTION = 72
LIST_BUTTON = 20
# The label of the button that opens a list message.
LIST_LABEL = {"en": "Options", "th": "ตัวเลือก", "zh": "选项", "fa": "گزینه‌ها"}
log = logging.getLogger("switchboard.whatsapp")


@dataclass(frozen=True)
class _Choice:
    title: str  # the full text a press sends back
    id_prefix: str
    summary: str = ""


def clip(text: str, limit: int, *, mark: str = "…") -> str:
    """``text`` on one line, cut to ``limit`` (UTF-16 units, conservatively) at a word or else
    a grapheme boundary, ending in ``mark`` when cut."""
    text = " ".join(text.split())
    if sms_length(text) <= limit:
        return text
    cut = split_sms(text, limit - sms_length(mark))[0].rstrip(" ,.;:-")
    return cut + mark


def render(message: OutboundMessage) -> list[dict[str, Any]]:
    """The Graph API message objects (without ``messaging_product``/``to``) to send, in order."""
    text = message.text.strip()
    if not text and not message.suggestions:
        return []
    choices = _choices(message)
    if not choices:
        return [_text(part) for part in split_sms(text, TEXT_LIMIT)]
    buttons = len(choices) <= MAX_BUTTONS
    parts, body = _split_before(text, BUTTON_BODY_LIMIT if buttons else TEXT_LIMIT)
    # The interactive message needs a body: the titles themselves when there is no text.
    body = body or "\n".join(c.title for c in choices)
    locale = message.meta.get("locale")
    last = _buttons(body, choices) if buttons else _list(body, choices, locale)
    return [*(_text(part) for part in parts), last]


def _split_before(text: str, last_limit: int) -> tuple[list[str], str]:
    """``text`` as plain parts plus a last part of at most ``last_limit`` (an interactive
    message's body), cut at the same kind of boundaries as ``split_sms``."""
    parts = split_sms(text, TEXT_LIMIT)
    if not parts:
        return [], ""
    if sms_length(parts[-1]) <= last_limit:
        return parts[:-1], parts[-1]
    tail = split_sms(parts[-1], last_limit)[-1]
    head = parts[-1].rstrip()[: -len(tail)].rstrip()
    return [*parts[:-1], *split_sms(head, TEXT_LIMIT)], tail


def _choices(message: OutboundMessage) -> list[_Choice]:
    if not message.suggestions and message.author_kind is not AuthorKind.BOT:
        return []
    locale = message.meta.get("locale")
    if asks_feedback(message.meta):  # three reply buttons, the most WhatsApp allows
        rate = [_Choice(label, SUGGESTION_ID) for label in feedback_labels(locale)]
        return [*rate, _Choice(handoff_label(locale), HANDOFF_ID)]
    seen: set[str] = set()
    choices = []
    for suggestion in message.suggestions:
        title = " ".join(suggestion.title.split())
        if title and title not in seen:  # identical ids would be refused
            seen.add(title)
            choices.append(_Choice(title, SUGGESTION_ID, " ".join(suggestion.summary.split())))
    choices = choices[: MAX_ROWS - 1]
    return [*choices, _Choice(handoff_label(locale), HANDOFF_ID)]


def _text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body, "preview_url": False}}


def _id(choice: _Choice, limit: int) -> str:
    return choice.id_prefix + clip(choice.title, limit - len(choice.id_prefix), mark="")


def _labels(choices: list[_Choice], limit: int) -> list[str]:
    """Titles cut to ``limit``, made unique (WhatsApp refuses two equal titles)."""
    labels: list[str] = []
    for choice in choices:
        label, n = clip(choice.title, limit), 2
        while label in labels:
            suffix = f" {n}"
            label, n = clip(choice.title, limit - len(suffix)) + suffix, n + 1
        labels.append(label)
    return labels


def _buttons(body: str, choices: list[_Choice]) -> dict[str, Any]:
    labels = _labels(choices, BUTTON_TITLE)
    buttons = [
        {"type": "reply", "reply": {"id": _id(choice, BUTTON_ID), "title": label}}
        for choice, label in zip(choices, labels, strict=True)
    ]
    return {
        "type": "interactive",
        "interactive": {"type": "button", "body": {"text": body}, "action": {"buttons": buttons}},
    }


def _list(body: str, choices: list[_Choice], locale: str | None) -> dict[str, Any]:
    rows = []
    for choice, label in zip(choices, _labels(choices, ROW_TITLE), strict=True):
        row = {"id": _id(choice, ROW_ID), "title": label}
        description = choice.title if label != choice.title else choice.summary
        if description:
            row["description"] = clip(description, ROW_DESCRIPTION)
        rows.append(row)
    button = LIST_LABEL.get((locale or "en").split("-")[0], LIST_LABEL["en"])
    return {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": body},
            "action": {"button": clip(button, LIST_BUTTON), "sections": [{"rows": rows}]},
        },
    }


class WhatsAppAdapter:
    """Sends ``OutboundMessage``s to ``message.address`` (an E.164 number) from one WhatsApp
    business phone number (``phone_number_id``).

    The receipt names the first message's wamid when a reply went out in several: status
    webhooks for the later parts name wamids the receipt does not. When a later part fails
    transiently, the wamids of the parts Meta already accepted are remembered (in memory, per
    touchpoint and content) and the outbox's retry sends only the rest.
    """

    name = CHANNEL

    def __init__(
        self,
        *,
        api_base_url: str,
        access_token: str,
        phone_number_id: str,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float = 15.0,
        remember: int = 1024,
    ) -> None:
        if not phone_number_id:
            raise ValueError("WhatsApp needs the business phone number's id (phone_number_id)")
        self._api = GraphApi(
            base_url=api_base_url,
            access_token=access_token,
            api_version=api_version,
            timeout=timeout,
        )
        self._phone_number_id = phone_number_id
        self._remember = remember
        self._accepted: OrderedDict[tuple[int, str], list[str | None]] = OrderedDict()

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        to = _recipient(message.address)
        parts = render(message)
        if not parts:
            raise PermanentChannelError("nothing to send: the reply is empty")
        key = (message.touchpoint_id, _digest(parts))
        ids = self._accepted.pop(key, None) or [None] * len(parts)
        done = False
        try:
            for n, part in enumerate(parts):
                if ids[n] is None:
                    payload = {"messaging_product": "whatsapp", "recipient_type": "individual"}
                    payload |= {"to": to, **part}
                    ids[n] = await self._api.send_message(self._phone_number_id, payload)
            done = True
        finally:
            if not done and any(ids):  # failed or cancelled after Meta took some parts
                self._keep(key, ids)
        log.info(
            "whatsapp_sent",
            extra={
                "fields": {"touchpoint": message.touchpoint_id, "parts": len(parts), "ids": ids}
            },
        )
        return DeliveryReceipt(provider_message_id=ids[0], state=DeliveryState.SENT)

    async def media(self, media_id: str) -> tuple[bytes, str]:
        """A file a customer sent (``meta["media"][n]["id"]``) and its content type."""
        return await self._api.media(media_id)

    async def close(self) -> None:
        await self._api.close()

    def _keep(self, key: tuple[int, str], ids: list[str | None]) -> None:
        self._accepted[key] = ids
        while len(self._accepted) > self._remember:
            self._accepted.popitem(last=False)


def _recipient(address: str) -> str:
    """The API's ``to``: the number's digits, without "+"."""
    try:
        return normalize_phone(address).removeprefix("+")
    except InvalidPhoneNumber:
        digits = address.strip().removeprefix("+")
        if digits.isdigit():  # a WhatsApp id the phone library does not know (yet)
            return digits
        raise PermanentChannelError(f"cannot send a WhatsApp message to {address!r}") from None


def _digest(parts: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
