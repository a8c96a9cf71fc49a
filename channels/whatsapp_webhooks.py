"""WhatsApp Cloud API's inbound side: the verification handshake and signed event webhooks.

``GET /webhooks/whatsapp`` answers Meta's handshake (``hub.mode=subscribe`` and our verify
token → the ``hub.challenge`` as plain text, else 403). Every ``POST`` must carry
``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>``: it is checked on the raw
bytes, in constant time, before the body is parsed (Meta escapes non-ASCII and "/" in its JSON,
so re-serialised JSON would never match). Missing → 401, wrong → 403, both logged.

One POST can carry several messages and statuses. The whole body is read into events first (a
body that is not JSON, nests too deep or is not a webhook → 400 and nothing handled; a single
malformed message or status in it is skipped and logged), then each message goes to ``handle``
and each status to ``report``, in order (``channels.intake.store_each``). Meta gets 200 once
all were stored, or skipped for an error that would recur on every delivery (logged with its
traceback); 503 when one failed for a reason that passes (the database is away), so Meta
redelivers the batch and the router drops the messages it already stored, by wamid.

Customers are addressed by phone number: ``address`` is the E.164 form of the sender's ``wa_id``,
so a WhatsApp customer is the same customer as on SMS and voice. Media arrive as ids only:
``Attachment.url`` is the Graph URL of the media object (``{api}/{version}/{media id}``, which
needs the access token and answers JSON with a short-lived download URL; ``WhatsAppAdapter.media``
fetches the file), and the id is kept in ``meta["media"]``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from channels import meta
from channels.base import Handle, InboundMessage, Report
from channels.intake import store_each
from channels.phone import InvalidPhoneNumber, normalize_phone
from channels.whatsapp_api import (
    DEFAULT_API_VERSION,
    DEFAULT_BASE_URL,
    REENGAGEMENT,
    normalize_version,
    window_closed_text,
)
from channels.whatsapp_content import BadPayload, content
from routing.ingest import BadJson, load_json
from storage.models import DeliveryState

__all__ = ["CHANNEL", "PATH", "SIGNATURE_HEADER", "StatusUpdate", "WhatsAppWebhooks", "wa_address"]

CHANNEL = "whatsapp"
PATH = "/webhooks/whatsapp"
SIGNATURE_HEADER = meta.SIGNATURE_HEADER
OBJECT = "whatsapp_business_account"
STATUSES = {
    "sent": DeliveryState.SENT,
    "delivered": DeliveryState.DELIVERED,
    "read": DeliveryState.READ,
    "failed": DeliveryState.FAILED,
}
# Not something the customer wrote: a reaction to a message, "changed number" notices.
IGNORED_TYPES = frozenset({"reaction", "system"})
log = logging.getLogger("switchboard.whatsapp")


@dataclass(frozen=True)
class StatusUpdate:
    """Meta's delivery status for one of our messages."""

    wamid: str
    state: DeliveryState
    error: str | None


def wa_address(wa_id: str, default_region: str = "US") -> str:
    """The E.164 number of a WhatsApp id ("16505551234" → "+16505551234").

    Mexican mobile ids still carry the old mobile prefix 1 ("521…", 13 digits), which is not a
    valid E.164 number: it is dropped, so the customer matches the number they text from.
    """
    digits = wa_id.strip().lstrip("+")
    if digits.startswith("521") and len(digits) == 13:
        digits = "52" + digits[3:]
    try:
        return normalize_phone("+" + digits, default_region)
    except InvalidPhoneNumber:
        return "+" + digits if digits.isdigit() else wa_id.strip()


class WhatsAppWebhooks:
    def __init__(
        self,
        *,
        handle: Handle,
        report: Report,
        verify_token: str,
        app_secret: str,
        default_region: str = "US",
        api_base_url: str = DEFAULT_BASE_URL,
        api_version: str = DEFAULT_API_VERSION,
    ) -> None:
        if not app_secret:
            raise ValueError("WhatsApp webhooks need the app secret to check signatures")
        self._handle = handle
        self._report = report
        self._verify_token = verify_token
        self._secret = app_secret.encode()
        self._region = default_region
        self._media_base = f"{api_base_url.rstrip('/')}/{normalize_version(api_version)}"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(PATH, self.verify)
        app.router.add_post(PATH, self.receive)

    async def verify(self, request: web.Request) -> web.Response:
        """Meta's subscription handshake."""
        return meta.subscription(request, self._verify_token, log)

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        refused = self._refuse_signature(request, body)
        if refused is not None:
            return refused
        try:
            events = self.events(load_json(body))
        except BadJson as exc:
            return _error(400, exc.code, exc.message)
        except BadPayload as exc:
            return _error(400, "bad_payload", str(exc))
        if not await store_each(events, self._deliver, log, CHANNEL):
            return _error(503, "unavailable", "could not store the events; retry later")
        messages = sum(1 for e in events if isinstance(e, InboundMessage))
        log.info(
            "whatsapp_webhook",
            extra={"fields": {"messages": messages, "statuses": len(events) - messages}},
        )
        return web.Response(text="EVENT_RECEIVED", content_type="text/plain")

    async def _deliver(self, event: InboundMessage | StatusUpdate) -> None:
        if isinstance(event, StatusUpdate):
            await self._report(event.wamid, event.state, event.error)
        else:
            await self._handle(event)

    def _refuse_signature(self, request: web.Request, body: bytes) -> web.Response | None:
        return meta.refuse_signature(request, body, self._secret, log)

    # --- payload → events ------------------------------------------------------------------

    def events(self, payload: Any) -> list[InboundMessage | StatusUpdate]:
        """Every message and status in a webhook body, in order.

        Raises:
            BadPayload: the body is not a WhatsApp webhook (missing or mistyped fields).
        """
        if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
            raise BadPayload("expected an object with an 'entry' list")
        if payload.get("object") != OBJECT:  # another product on the same app: not ours
            log.warning(
                "whatsapp_other_object", extra={"fields": {"object": payload.get("object")}}
            )
            return []
        events: list[InboundMessage | StatusUpdate] = []
        for entry in payload["entry"]:
            changes = entry.get("changes") if isinstance(entry, dict) else None
            if not isinstance(changes, list):
                raise BadPayload("each entry needs a 'changes' list")
            for change in changes:
                if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                    raise BadPayload("each change needs a 'value' object")
                if change.get("field") == "messages":
                    events.extend(self._value_events(change["value"]))
        return events

    def _value_events(self, value: dict[str, Any]) -> list[InboundMessage | StatusUpdate]:
        events: list[InboundMessage | StatusUpdate] = []
        names = {
            str(c.get("wa_id")): str(c["profile"]["name"])
            for c in _list(value, "contacts")
            if isinstance(c, dict)
            and isinstance(c.get("profile"), dict)
            and c["profile"].get("name")
        }
        metadata = value.get("metadata")
        if not isinstance(metadata, dict):
            metadata = {}
        for message in _list(value, "messages"):
            try:
                inbound = self._message(message, names, metadata)
            except BadPayload as exc:  # one bad message never holds back the others
                log.warning("whatsapp_message_skipped", extra={"fields": {"reason": str(exc)}})
                continue
            if inbound is not None:
                events.append(inbound)
        for status in _list(value, "statuses"):
            try:
                update = _status(status)
            except BadPayload as exc:
                log.warning("whatsapp_status_skipped", extra={"fields": {"reason": str(exc)}})
                continue
            if update is not None:
                events.append(update)
        for error in _list(value, "errors"):  # errors about the whole webhook, not a message
            code = error.get("code") if isinstance(error, dict) else None
            log.warning("whatsapp_webhook_error", extra={"fields": {"code": code}})
        return events

    def _message(
        self, message: Any, names: dict[str, str], metadata: dict[str, Any]
    ) -> InboundMessage | None:
        if not isinstance(message, dict):
            raise BadPayload("each message must be an object")
        sender, wamid, kind = message.get("from"), message.get("id"), message.get("type")
        if not (isinstance(sender, str) and sender and isinstance(wamid, str) and wamid):
            raise BadPayload("a message lacks 'from' or 'id'")
        if not isinstance(kind, str) or not kind:
            raise BadPayload(f"message {wamid} has no 'type'")
        if kind in IGNORED_TYPES:
            log.info("whatsapp_message_ignored", extra={"fields": {"type": kind}})
            return None
        address = wa_address(sender, self._region)
        found = content(kind, message, media_base=self._media_base)
        phone = _shared_phone(found.phones, address, self._region)
        meta: dict[str, Any] = {
            "type": kind,
            "wa_id": sender,
            "phone_number_id": metadata.get("phone_number_id"),
            "timestamp": message.get("timestamp"),
            **found.meta,
        }
        context = message.get("context")
        if isinstance(context, dict):
            if context.get("id"):
                meta["reply_to"] = context["id"]
            if context.get("forwarded") or context.get("frequently_forwarded"):
                meta["forwarded"] = True
        if isinstance(message.get("referral"), dict):
            meta["referral"] = message["referral"]  # the click-to-WhatsApp ad they came from
        return InboundMessage(
            channel=CHANNEL,
            address=address,
            text=found.text,
            external_id=wamid,
            display_name=names.get(sender),
            phone=phone,
            attachments=found.attachments,
            kind=found.kind,
            meta=meta,
        )


def _status(status: Any) -> StatusUpdate | None:
    if not isinstance(status, dict) or not isinstance(status.get("id"), str):
        raise BadPayload("each status needs an 'id'")
    state = STATUSES.get(str(status.get("status", "")).lower())
    if state is None:  # "deleted", "warning", …: nothing our delivery states say
        return None
    error = None
    errors = status.get("errors")
    if state is DeliveryState.FAILED and isinstance(errors, list) and errors:
        error = _error_text(errors[0])
    return StatusUpdate(status["id"], state, error)


def _error_text(error: Any) -> str:
    if not isinstance(error, dict):
        return "WhatsApp reported a failure"
    code = error.get("code")
    data = error.get("error_data")
    details = str(data.get("details") or "") if isinstance(data, dict) else ""
    if code == REENGAGEMENT:
        return window_closed_text(details)
    title = str(error.get("title") or error.get("message") or "failed")
    return f"WhatsApp error {code}: {title}" + (f" ({details})" if details else "")


def _shared_phone(phones: tuple[tuple[str, str], ...], address: str, region: str) -> str | None:
    """A number from a contact card the sender shared, only when the card is their own (it lists
    the WhatsApp number they write from): another number on it is theirs too. A card of someone
    else never links: that would merge a stranger's history into this customer's."""
    numbers = []
    own = False
    for raw, wa_id in phones:
        if wa_id and wa_address(wa_id, region) == address:
            own = True
            continue
        try:
            numbers.append(normalize_phone(raw, region))
        except InvalidPhoneNumber:
            continue
    others = [n for n in numbers if n != address]
    return others[0] if own and others else None


def _list(value: dict[str, Any], key: str) -> list[Any]:
    items = value.get(key, [])
    if not isinstance(items, list):
        raise BadPayload(f"'{key}' must be a list")
    return items


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
