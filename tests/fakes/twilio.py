"""A local stand-in for Twilio's REST API (2010-04-01), speaking its wire format.

What it covers: creating Messages and updating/fetching Calls, with HTTP Basic auth (account
SID / auth token), form-encoded bodies, Twilio's JSON resources and error bodies. It records
what it accepted and can be told to fail: the next request(s) with a given Twilio error, every
request (an outage, with or without Retry-After), slowly, or not at all (stopped: connections
are refused), and it restarts on the same port.

    async with FakeTwilio() as twilio:
        api = TwilioApi(twilio.account_sid, twilio.auth_token, twilio.base_url)
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import secrets
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web

from channels.text import SMS_LIMIT, segments
from tests.fakes.server import LocalServer, free_port, next_failure

API_VERSION = "2010-04-01"
_E164 = re.compile(r"\+[1-9]\d{6,14}")

# Twilio's texts for the errors the stand-in produces.
ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource {path} was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "The 'To' number {to} is not a valid phone number.",
    21220: "Invalid parameter",
    21602: "Message body is required.",
    21603: "The 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21617: "The concatenated message body exceeds the 1600 character limit.",
}
_CODE_FOR_STATUS = {401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}


def sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def rfc2822(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC))  # "Mon, 16 Aug 2010 03:45:01 +0000"


@dataclass(frozen=True)
class SentSms:
    """One message the stand-in accepted."""

    sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status_callback: str | None


@dataclass(frozen=True)
class Failure:
    status: int
    code: int
    message: str | None = None
    retry_after: str | None = None
    after: int = 0  # requests to let through first


class TwilioError(Exception):
    def __init__(self, status: int, code: int, message: str, retry_after: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


class FakeTwilio(LocalServer):
    def __init__(self, account_sid: str | None = None, auth_token: str | None = None) -> None:
        self.account_sid = account_sid or sid("AC")
        self.auth_token = auth_token or secrets.token_hex(16)
        self.port = free_port()
        self.sent: list[SentSms] = []
        self.unsubscribed: set[str] = set()  # To numbers that replied STOP (error 21610)
        self.calls: dict[str, dict[str, Any]] = {}  # CallSid → the call resource
        self.call_updates: list[tuple[str, dict[str, str]]] = []
        self.requests = 0  # every request that reached the server
        self.delay = 0.0  # seconds to wait before answering (after recording), for timeouts
        self._failures: deque[Failure] = deque()
        self._outage: Failure | None = None
        self._runner: web.AppRunner | None = None

    def settings(self, phone_number: str, region: str = "TH") -> dict[str, Any]:
        """Switchboard's ``twilio`` settings section pointing at this stand-in."""
        return {
            "account_sid": self.account_sid,
            "auth_token": self.auth_token,
            "phone_number": phone_number,
            "api_base_url": self.base_url,
            "default_region": region,
        }

    # --- controls ----------------------------------------------------------------------------

    def fail_next(
        self,
        code: int,
        status: int = 400,
        message: str | None = None,
        *,
        retry_after: str | None = None,
        after: int = 0,
    ) -> None:
        """The next request (or the one after ``after`` more that succeed) gets this Twilio
        error instead of its answer. Calls queue up."""
        self._failures.append(Failure(status, code, message, retry_after, after))

    def outage(self, status: int = 503, *, retry_after: str | None = None) -> None:
        """Every request fails with ``status`` (and ``Retry-After``) until ``recover()``."""
        self._outage = Failure(status, _CODE_FOR_STATUS.get(status, 20500), None, retry_after)

    def recover(self) -> None:
        self._outage = None
        self._failures.clear()

    def add_call(self, call_sid: str | None = None, *, status: str = "in-progress") -> str:
        """A live call the API can then update (as if someone had rung our number)."""
        call_sid = call_sid or sid("CA")
        now = rfc2822(datetime.now(UTC))
        self.calls[call_sid] = {
            "sid": call_sid,
            "account_sid": self.account_sid,
            "status": status,
            "direction": "inbound",
            "from": "+15005550006",
            "to": "+15005550001",
            "date_created": now,
            "date_updated": now,
            "api_version": API_VERSION,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{call_sid}.json",
        }
        return call_sid

    # --- lifecycle ---------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        prefix = f"/{API_VERSION}/Accounts/{{account}}"
        app.router.add_post(f"{prefix}/Messages.json", self._create_message)
        app.router.add_post(f"{prefix}/Calls/{{call}}.json", self._update_call)
        app.router.add_get(f"{prefix}/Calls/{{call}}.json", self._fetch_call)

    # --- handlers ----------------------------------------------------------------------------

    async def _create_message(self, request: web.Request) -> web.Response:
        try:
            form = await self._accept(request, form=True)
            to = form.get("To", "")
            sender = form.get("From") or None
            service = form.get("MessagingServiceSid") or None
            body = form.get("Body", "")
            if not to:
                raise TwilioError(400, 21604, ERROR_MESSAGES[21604])
            if not sender and not service:
                raise TwilioError(400, 21603, ERROR_MESSAGES[21603])
            if not body and "MediaUrl" not in form:
                raise TwilioError(400, 21602, ERROR_MESSAGES[21602])
            if not _E164.fullmatch(to):
                raise TwilioError(400, 21211, ERROR_MESSAGES[21211].format(to=to))
            if len(body) > SMS_LIMIT:
                raise TwilioError(400, 21617, ERROR_MESSAGES[21617])
            if to in self.unsubscribed:
                raise TwilioError(400, 21610, ERROR_MESSAGES[21610])
        except TwilioError as exc:
            return self._error(exc)
        message = SentSms(
            sid=sid("SM"),
            to=to,
            from_=sender,
            messaging_service_sid=service,
            body=body,
            status_callback=form.get("StatusCallback") or None,
        )
        self.sent.append(message)
        await self._slow()
        return web.json_response(self._message_resource(message), status=201)

    async def _update_call(self, request: web.Request) -> web.Response:
        try:
            form = await self._accept(request, form=True)
            call = self._call(request)
            if "Twiml" in form and "Url" in form:
                raise TwilioError(400, 21220, "Twiml and Url are mutually exclusive")
            self.call_updates.append((call["sid"], dict(form)))
            if form.get("Status") in ("completed", "canceled"):
                call["status"] = form["Status"]
            call["date_updated"] = rfc2822(datetime.now(UTC))
        except TwilioError as exc:
            return self._error(exc)
        await self._slow()
        return web.json_response(call)

    async def _fetch_call(self, request: web.Request) -> web.Response:
        try:
            await self._accept(request, form=False)
            call = self._call(request)
        except TwilioError as exc:
            return self._error(exc)
        return web.json_response(call)

    # --- helpers -----------------------------------------------------------------------------

    async def _accept(self, request: web.Request, *, form: bool) -> dict[str, str]:
        """Auth, injected failures, and the form body, as Twilio checks them."""
        self.requests += 1
        failure = self._outage or next_failure(self._failures)
        if failure is not None:
            raise TwilioError(
                failure.status,
                failure.code,
                failure.message or ERROR_MESSAGES.get(failure.code, "Error"),
                failure.retry_after,
            )
        if not self._authorised(request):
            raise TwilioError(401, 20003, ERROR_MESSAGES[20003])
        if not form:
            return {}
        if request.content_type != "application/x-www-form-urlencoded":
            raise TwilioError(400, 21220, f"expected a form body, got {request.content_type}")
        posted = await request.post()
        return {key: str(value) for key, value in posted.items()}

    def _authorised(self, request: web.Request) -> bool:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (
            secrets.compare_digest(user, self.account_sid)
            and secrets.compare_digest(password, self.auth_token)
            and request.match_info["account"] == self.account_sid
        )

    def _call(self, request: web.Request) -> dict[str, Any]:
        call = self.calls.get(request.match_info["call"])
        if call is None:
            raise TwilioError(404, 20404, ERROR_MESSAGES[20404].format(path=request.path))
        return call

    async def _slow(self) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)

    def _error(self, exc: TwilioError) -> web.Response:
        headers = {"Retry-After": exc.retry_after} if exc.retry_after else {}
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
        body = {
            "code": exc.code,
            "message": exc.message,
            "more_info": f"https://www.twilio.com/docs/errors/{exc.code}",
            "status": exc.status,
        }
        return web.json_response(body, status=exc.status, headers=headers)

    def _message_resource(self, message: SentSms) -> dict[str, Any]:
        now = rfc2822(datetime.now(UTC))
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": message.body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": message.from_,
            "messaging_service_sid": message.messaging_service_sid,
            "num_media": "0",
            # Twilio sends a string, and "0" when a Messaging Service picks the sender.
            "num_segments": "0" if message.messaging_service_sid else str(segments(message.body)),
            "price": None,
            "price_unit": "USD",
            "sid": message.sid,
            "status": "accepted" if message.messaging_service_sid else "queued",
            "subresource_uris": {
                "media": f"{uri}/Media.json",
                "feedback": f"{uri}/Feedback.json",
            },
            "to": message.to,
            "uri": f"{uri}.json",
        }
