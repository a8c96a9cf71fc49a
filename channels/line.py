"""LINE: signed webhooks in, answers out through the Messaging API (a reply, else a push).

Inbound: ``POST /webhooks/line``, signed with ``X-Line-Signature`` (base64 HMAC-SHA256 of the
raw body, keyed by the channel secret); a missing or wrong signature is refused with 401. Each
customer message in the batch is stored in order before LINE gets its 200; when one cannot be
stored LINE gets 503 and, if "Webhook redelivery" is switched on in the LINE Developers console
(it is off by default), sends the whole batch again: the router drops what it already stored.
The console's "Verify" button posts a signed batch with no events and gets 200. The sender's
display name and language come from LINE's profile API (cached; a failure never loses the
message). LINE sends no delivery or read statuses, so ``report`` is never called.

Outbound: LINE's reply tokens are free but work once and for about a minute, so an answer goes
as a reply when the customer's last message brought a token less than ``REPLY_TOKEN_TTL`` ago,
else (or when LINE refuses the token: already used, expired) as a push with a retry key derived
from the touchpoint id, so the outbox's retries never deliver twice. Text over 5,000 characters
is split at paragraph, sentence or word boundaries, five message objects per request; a reply
that needs more than one request is pushed, never half-replied. The feedback pair ("👍 Helpful",
"👎 Not helpful": on an answer the customer may rate), the suggestions and the handoff button
are quick-reply postback buttons on the last message (13 at most: the suggestions give way). A reply whose answer was lost (a
timeout after LINE took it) can reach the customer twice: the reply API has no retry key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from channels.base import (
    ChannelTraits,
    DeliveryReceipt,
    Handle,
    InboundMessage,
    OutboundMessage,
    Report,
)
from channels.buttons import asks_feedback, feedback_labels, handoff_label
from channels.errors import ChannelError, PermanentChannelError
from channels.intake import store_each
from channels.line_api import (
    DEFAULT_API_BASE_URL,
    DEFAULT_DATA_API_BASE_URL,
    MAX_MESSAGES,
    LineApi,
    LineRejected,
    Profile,
    retry_key,
)
from channels.line_events import CHANNEL, PayloadError, encode_postback, inbound_messages
from channels.text import sms_length, split_sms
from routing.clock import Clock, SystemClock
from routing.ingest import BadJson, load_json
from storage.models import AuthorKind, DeliveryState

__all__ = ["CHANNEL", "PATH", "TRAITS", "LineAdapter", "LineWebhooks", "render"]

# A live messenger; the adapter wants the last customer message's reply token.
TRAITS = ChannelTraits(reply_context=True)
PATH = "/webhooks/line"
SIGNATURE_HEADER = "X-Line-Signature"
REPLY_TOKEN_TTL = timedelta(seconds=50)  # LINE's tokens last about a minute after the event
TEXT_LIMIT = 5000
QUICK_REPLY_ITEMS = 13
LABEL_LIMIT = 20
DATA_LIMIT = 300
DISPLAY_TEXT_LIMIT = 300
log = logging.getLogger("switchboard.line")


class LineAdapter:
    """Sends ``OutboundMessage``s to ``message.address`` (a LINE user id)."""

    name = CHANNEL

    def __init__(
        self,
        *,
        api_base_url: str = DEFAULT_API_BASE_URL,
        channel_access_token: str,
        timeout: float = 15.0,
        clock: Clock | None = None,
    ) -> None:
        self._api = LineApi(api_base_url, channel_access_token, timeout=timeout)
        self._clock = clock or SystemClock()

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        to = message.address.strip()
        if not to:
            raise PermanentChannelError("no LINE user id to send to")
        objects = render(message)
        if not objects:
            raise PermanentChannelError("nothing to send: the reply is empty")
        batches = [objects[n : n + MAX_MESSAGES] for n in range(0, len(objects), MAX_MESSAGES)]
        token = self._fresh_reply_token(message) if len(batches) == 1 else None
        ids: list[str] = []
        via = "push"
        for n, batch in enumerate(batches):
            sent = await self._reply(token, batch) if n == 0 and token else None
            if sent is not None:
                via = "reply"
            else:
                sent = await self._api.push(to, batch, retry_key(message.touchpoint_id, n))
            ids += sent
        log.info(
            "line_sent",
            extra={
                "fields": {
                    "touchpoint": message.touchpoint_id,
                    "messages": len(objects),
                    "requests": len(batches),
                    "via": via,
                }
            },
        )
        return DeliveryReceipt(
            provider_message_id=ids[0] if ids else None, state=DeliveryState.SENT
        )

    async def close(self) -> None:
        await self._api.close()

    async def _reply(self, token: str, batch: list[dict[str, Any]]) -> list[str] | None:
        """LINE's ids, or None when LINE refused the token (push instead)."""
        try:
            return await self._api.reply(token, batch)
        except LineRejected as exc:
            if not exc.invalid_reply_token:
                raise
            log.info("line_reply_token_refused")  # used by an earlier answer, or expired
            return None

    def _fresh_reply_token(self, message: OutboundMessage) -> str | None:
        context = message.meta.get("reply_context")
        if not isinstance(context, Mapping):
            return None
        token, received = context.get("reply_token"), _parse_time(context.get("received_at"))
        if not isinstance(token, str) or not token or received is None:
            return None
        return token if self._clock.now() - received < REPLY_TOKEN_TTL else None


def render(message: OutboundMessage) -> list[dict[str, Any]]:
    """LINE message objects for ``message``: its text in parts of at most 5,000 characters,
    the last part carrying the quick-reply buttons (LINE shows only the last one's)."""
    objects: list[dict[str, Any]] = [
        {"type": "text", "text": part} for part in split_sms(message.text, TEXT_LIMIT)
    ]
    quick = quick_reply(message)
    if quick is not None and objects:
        objects[-1]["quickReply"] = quick
    return objects


def quick_reply(message: OutboundMessage) -> dict[str, Any] | None:
    """On suggestions or any bot answer: the feedback pair when the answer may be rated, one
    postback button per suggestion (what is left of 13), then "talk to a person". Pressing one
    shows the full title in the chat and sends it back as the customer's text (it travels in
    the postback data: LINE's webhook omits the shown text)."""
    if not message.suggestions and message.author_kind is not AuthorKind.BOT:
        return None
    locale = message.meta.get("locale")
    items = []
    if asks_feedback(message.meta):
        items += [_button(label, f=1) for label in feedback_labels(locale)]
    for suggestion in message.suggestions[: QUICK_REPLY_ITEMS - 1 - len(items)]:
        title = " ".join(suggestion.title.split())
        if title:
            items.append(_button(title, a=suggestion.article_id))
    items.append(_button(handoff_label(locale), h=1))
    return {"items": items}


def _button(title: str, **extra: str | int) -> dict[str, Any]:
    return {
        "type": "action",
        "action": {
            "type": "postback",
            "label": clip(title, LABEL_LIMIT),
            "data": encode_postback(title, DATA_LIMIT, **extra),
            "displayText": clip(title, DISPLAY_TEXT_LIMIT),
        },
    }


def clip(text: str, limit: int) -> str:
    """``text`` within ``limit`` UTF-16 units: whole, else up to its last word (or character)
    boundary that fits, then "…"."""
    if sms_length(text) <= limit:
        return text
    return split_sms(text, limit - 1)[0] + "…"


class LineWebhooks:
    """The inbound side: ``POST /webhooks/line``."""

    def __init__(
        self,
        *,
        handle: Handle,
        report: Report,
        channel_secret: str,
        channel_access_token: str = "",
        api_base_url: str = DEFAULT_API_BASE_URL,
        data_api_base_url: str = DEFAULT_DATA_API_BASE_URL,
        profile_timeout: float = 3.0,
        remember: int = 4096,
    ) -> None:
        if not channel_secret:
            raise ValueError("LINE webhooks need the channel secret to check signatures")
        self._handle = handle
        self._report = report  # LINE sends no delivery statuses: kept for the common contract
        self._secret = channel_secret.encode()
        self._data_api = data_api_base_url
        # Without a token no profiles are fetched: messages come without display names.
        self._api = (
            LineApi(api_base_url, channel_access_token, timeout=profile_timeout)
            if channel_access_token
            else None
        )
        self._profiles: OrderedDict[str, Profile | None] = OrderedDict()
        self._remember = remember

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(PATH, self.webhook)
        app.on_cleanup.append(self._cleanup)

    async def close(self) -> None:
        if self._api is not None:
            await self._api.close()

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.read()
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not self._signed(body, signature):
            log.warning(
                "line_signature_refused",
                extra={"fields": {"path": request.path, "signed": bool(signature)}},
            )
            if not signature:
                return _error(401, "missing_signature", f"{SIGNATURE_HEADER} is missing")
            return _error(401, "bad_signature", f"{SIGNATURE_HEADER} does not match this body")
        try:
            payload = load_json(body)
        except BadJson as exc:
            return _error(400, exc.code, exc.message)
        try:
            messages = inbound_messages(payload, self._data_api)
        except PayloadError as exc:
            log.warning("line_payload_refused", extra={"fields": {"where": exc.where}})
            return _error(400, "missing_field", str(exc))
        if not await store_each(messages, self._deliver, log, CHANNEL):
            return _error(503, "unavailable", "could not store the message")
        return web.json_response({})

    async def _deliver(self, message: InboundMessage) -> None:
        await self._handle(await self._with_profile(message))

    def _signed(self, body: bytes, signature: str) -> bool:
        if not signature:
            return False
        expected = base64.b64encode(hmac.new(self._secret, body, hashlib.sha256).digest())
        return hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace"))

    async def _with_profile(self, message: InboundMessage) -> InboundMessage:
        profile = await self._profile(message.address)
        if profile is None:
            return message
        return replace(message, display_name=profile.display_name, locale=_locale(profile.language))

    async def _profile(self, user_id: str) -> Profile | None:
        if self._api is None:
            return None
        if user_id in self._profiles:
            self._profiles.move_to_end(user_id)
            return self._profiles[user_id]
        try:
            profile = await self._api.profile(user_id)
        except ChannelError as exc:  # never lose a message over a name: try again next time
            log.warning("line_profile_failed", extra={"fields": {"error": str(exc)}})
            return None
        self._profiles[user_id] = profile
        while len(self._profiles) > self._remember:
            self._profiles.popitem(last=False)
        return profile

    async def _cleanup(self, app: web.Application) -> None:
        await self.close()


def _locale(language: str | None) -> str | None:
    primary = (language or "").split("-")[0].lower()
    return primary if len(primary) == 2 and primary.isalpha() else None


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
