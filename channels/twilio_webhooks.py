"""Twilio's inbound side: signed webhooks for SMS and for delivery reports.

Every request is checked against ``X-Twilio-Signature`` with the ``twilio`` package's
``RequestValidator``, computed over the *public* URL (``public_url`` + path and query), so the
check holds behind a proxy that rewrites the host. A bad or missing signature is refused with 403
and logged. A message is stored before the 200; when it cannot be stored Twilio gets 503 (and its
fallback URL, if one is set).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from twilio.request_validator import RequestValidator

from channels.base import Attachment, Control, InboundMessage
from channels.intake import store_each
from channels.phone import InvalidPhoneNumber, normalize_phone
from routing.ingest import storable
from storage.models import DeliveryState

log = logging.getLogger("switchboard.twilio")
CHANNEL = "sms"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

# Twilio's own opt-out keywords (its Advanced Opt-Out list); a message that is exactly one.
KEYWORDS: dict[str, Control] = {
    **dict.fromkeys(
        ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"),
        Control.OPT_OUT,
    ),
    **dict.fromkeys(("START", "YES", "UNSTOP"), Control.OPT_IN),
    **dict.fromkeys(("HELP", "INFO"), Control.HELP),
}
# Twilio's MessageStatus → our delivery state; queued/accepted/sending say nothing new.
STATUSES = {
    "sent": DeliveryState.SENT,
    "delivered": DeliveryState.DELIVERED,
    "read": DeliveryState.READ,
    "undelivered": DeliveryState.FAILED,
    "failed": DeliveryState.FAILED,
}

Handle = Callable[[InboundMessage], Awaitable[Any]]
Report = Callable[[int, DeliveryState, str | None], Awaitable[bool]]


class TwilioSignature:
    def __init__(self, auth_token: str, public_url: str) -> None:
        self._validator = RequestValidator(auth_token)
        self._public_url = public_url.rstrip("/")

    def url_for(self, request: web.Request) -> str:
        """The URL Twilio signed: the public base plus the path and query it called."""
        return self._public_url + request.rel_url.path_qs

    async def verified_form(self, request: web.Request) -> dict[str, str]:
        """The request's form fields, once its signature checks out (else 403)."""
        try:
            form = await request.post()
        except (UnicodeDecodeError, ValueError):  # bytes that are not UTF-8, a bad multipart
            raise web.HTTPBadRequest(
                text='{"error": {"code": "bad_form", "message": "the body is not a UTF-8 form"}}',
                content_type="application/json",
            ) from None
        params = {key: str(value) for key, value in form.items() if isinstance(value, str)}
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not self._validator.validate(self.url_for(request), params, signature):
            log.warning(
                "twilio_signature_refused",
                extra={"fields": {"path": request.path, "signed": bool(signature)}},
            )
            raise web.HTTPForbidden(
                text='{"error": {"code": "bad_signature", "message": "X-Twilio-Signature does '
                'not match this request"}}',
                content_type="application/json",
            )
        # Checked as sent; used as the ingest rule allows (no NUL, no lone surrogate), which
        # covers SMS bodies, a caller's SpeechResult and everything else Twilio posts.
        return {storable(key): storable(value) for key, value in params.items()}


class SmsWebhooks:
    def __init__(
        self,
        signature: TwilioSignature,
        handle: Handle,
        report: Report,
        *,
        default_region: str,
        help_text: str,
    ) -> None:
        self._signature = signature
        self._handle = handle
        self._report = report
        self._region = default_region
        self._help_text = help_text

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/webhooks/twilio/sms", self.inbound)
        app.router.add_post("/webhooks/twilio/sms/status", self.status)

    async def inbound(self, request: web.Request) -> web.Response:
        form = await self._signature.verified_form(request)
        missing = [name for name in ("MessageSid", "From") if not form.get(name)]
        if missing:
            return _bad_request("missing_field", f"missing form field(s): {', '.join(missing)}")
        if not await store_each([self.to_inbound(form)], self._handle, log, CHANNEL):
            return web.json_response(  # Twilio tries its fallback URL, if one is set
                {"error": {"code": "unavailable", "message": "could not store the message"}},
                status=503,
            )
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    def to_inbound(self, form: Mapping[str, str]) -> InboundMessage:
        body = form.get("Body", "")
        control = KEYWORDS.get(body.strip().upper())
        return InboundMessage(
            channel=CHANNEL,
            address=self._address(form["From"]),
            text=body,
            external_id=form["MessageSid"],
            control=control,
            attachments=_media(form),
            meta={"to": form.get("To"), **({"help_text": self._help_text} if control else {})},
        )

    async def status(self, request: web.Request) -> web.Response:
        form = await self._signature.verified_form(request)
        touchpoint = request.query.get("tp", "")
        state = STATUSES.get(form.get("MessageStatus", "").lower())
        if not touchpoint.isdigit():
            return _bad_request("bad_touchpoint", "the status callback URL lacks ?tp=<id>")
        if state is not None:
            code = form.get("ErrorCode")
            error = f"Twilio error {code}" if code else None
            await self._report(int(touchpoint), state, error)
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    def _address(self, raw: str) -> str:
        try:
            return normalize_phone(raw, self._region)
        except InvalidPhoneNumber:
            return raw.strip()  # short codes and alphanumeric senders stay as they came


def _media(form: Mapping[str, str]) -> tuple[Attachment, ...]:
    try:
        count = min(int(form.get("NumMedia", "0") or 0), 10)
    except ValueError:
        count = 0
    return tuple(
        Attachment(
            name=f"media-{n}",
            content_type=form.get(f"MediaContentType{n}", "application/octet-stream"),
            size=0,
            url=form[f"MediaUrl{n}"],
        )
        for n in range(count)
        if form.get(f"MediaUrl{n}")
    )


def _bad_request(code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=400)
