"""The few Twilio REST calls Switchboard makes, async, with failures in our own error hierarchy.

The official ``twilio`` client does the wire work, over its aiohttp-based
``AsyncTwilioHttpClient``. Four things about that client shape this module:

- Its aiohttp session is opened in its constructor, which needs a running event loop, so the
  client is built on the first call, not in ``TwilioApi.__init__``.
- Its own ``timeout`` setting is never applied (each request passes ``timeout=None``, which
  aiohttp reads as "no limit"): every call here runs under ``asyncio.timeout``.
- Its errors keep the status, Twilio's code and message, but drop the response headers, so
  ``Retry-After`` is read by an aiohttp trace hook into a per-call holder.
- Given the account's credentials as ``auth``, it builds ``aiohttp.BasicAuth``, deprecated
  since aiohttp 3.14 (a DeprecationWarning per request), so they go through the SDK's own
  ``credential_provider`` hook as a ready ``Authorization`` header instead.
- The host comes from each API area's ``base_url`` (only ``client.api`` is used here). The
  client's ``edge``/``region`` (also read from ``TWILIO_EDGE``/``TWILIO_REGION``) would rewrite
  that host, so both are switched off: to use an edge, put its host in ``base_url``.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDictProxy
from twilio.auth_strategy.auth_strategy import AuthStrategy
from twilio.auth_strategy.auth_type import AuthType
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.credential.credential_provider import CredentialProvider
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from channels.errors import (
    PermanentChannelError,
    RecipientOptedOut,
    TransientChannelError,
    retry_after_seconds,
)
from channels.text import segments as count_segments

__all__ = [
    "DEFAULT_BASE_URL",
    "SentMessage",
    "TwilioApi",
    "TwilioRejected",
]

DEFAULT_BASE_URL = "https://api.twilio.com"
log = logging.getLogger("switchboard.twilio")
# The SDK logs every request's URL and headers at INFO; keep that out of our logs by default.
_sdk_log = logging.getLogger("switchboard.twilio.sdk")
_MESSAGING_SERVICE = re.compile(r"MG[0-9a-fA-F]{32}")
_T = TypeVar("_T")
# 4xx codes that a later retry can get past: 21611, the sender's queue of unsent messages is full.
_TRANSIENT_CODES = frozenset({21611})


@dataclass(frozen=True)
class SentMessage:
    """What Twilio said when it took a message (``status`` is usually "queued")."""

    sid: str
    status: str
    segments: int


class TwilioRejected(PermanentChannelError):
    """Twilio refused the request (4xx). ``code`` is Twilio's error code, e.g. 21610
    (the recipient replied STOP) or 21211 (invalid To number)."""

    def __init__(self, message: str, *, code: int | None, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class TwilioOptedOut(TwilioRejected, RecipientOptedOut):
    """21610: the recipient unsubscribed (replied STOP); Twilio refuses every message to them."""


UNSUBSCRIBED = 21610

# One holder per call (see ``TwilioApi._call``): the trace hook runs inside the same task.
_response_holder: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "twilio_response_holder", default=None
)


async def _remember_headers(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestEndParams,
) -> None:
    holder = _response_holder.get()
    if holder is not None:
        holder["headers"] = params.response.headers


class _BasicAuthHeader(AuthStrategy):
    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__(AuthType.BASIC)
        pair = f"{account_sid}:{auth_token}".encode()
        self._header = "Basic " + base64.b64encode(pair).decode("ascii")

    def get_auth_string(self) -> str:
        return self._header

    def requires_authentication(self) -> bool:
        return True


class _AccountCredentials(CredentialProvider):
    """HTTP Basic auth with the account SID and auth token, as a header (see the module doc)."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__(AuthType.BASIC)
        self._strategy = _BasicAuthHeader(account_sid, auth_token)

    def to_auth_strategy(self) -> AuthStrategy:
        return self._strategy


class TwilioApi:
    """Twilio's REST API at ``base_url`` (a local stand-in in tests)."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 15.0,
    ) -> None:
        if not account_sid or not auth_token:
            # The SDK would quietly fall back to TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN.
            raise ValueError("Twilio needs an account SID and an auth token")
        if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).netloc:
            raise ValueError(f"Twilio base URL {base_url!r} must be an http(s) URL")
        if timeout <= 0:
            raise ValueError("Twilio timeout must be positive")
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._http: AsyncTwilioHttpClient | None = None
        self._client: Client | None = None
        self._closed = False

    def _rest(self) -> Client:
        if self._closed:
            raise TransientChannelError("the Twilio client is closed (shutting down)")
        if self._client is None:
            trace = aiohttp.TraceConfig()
            trace.on_request_end.append(_remember_headers)
            if _sdk_log.level == logging.NOTSET:
                _sdk_log.setLevel(logging.WARNING)
            self._http = AsyncTwilioHttpClient(trace_configs=[trace], logger=_sdk_log)
            client = Client(
                self.account_sid,
                self._auth_token,
                http_client=self._http,
                credential_provider=_AccountCredentials(self.account_sid, self._auth_token),
            )
            client.edge = None
            client.region = None
            client.api.base_url = self.base_url
            self._client = client
        return self._client

    async def send_sms(
        self, to: str, from_: str, body: str, status_callback: str | None = None
    ) -> SentMessage:
        """POST a Message. ``from_`` may be a number or a Messaging Service SID ("MG…")."""
        sender: dict[str, Any] = (
            {"messaging_service_sid": from_}
            if _MESSAGING_SERVICE.fullmatch(from_)
            else {"from_": from_}
        )
        if status_callback:
            sender["status_callback"] = status_callback
        messages = self._rest().api.v2010.account.messages
        created = await self._call(
            "send SMS", lambda: messages.create_async(to=to, body=body, **sender)
        )
        count = _int_or_none(created.num_segments)
        return SentMessage(
            sid=str(created.sid),
            status=str(created.status or "queued"),
            segments=count if count else count_segments(body),
        )

    async def update_call(
        self, call_sid: str, *, twiml: str | None = None, url: str | None = None
    ) -> str:
        """Give a live call new instructions (inline TwiML or a URL to fetch them from).

        Returns the call's status as Twilio reports it ("queued", "in-progress", …).
        """
        if (twiml is None) == (url is None):
            raise ValueError("update_call needs exactly one of twiml or url")
        call = self._rest().api.v2010.account.calls(call_sid)
        update: dict[str, Any] = {"twiml": twiml} if twiml is not None else {"url": url}
        updated = await self._call("update call", lambda: call.update_async(**update))
        return str(updated.status)

    async def close(self) -> None:
        """Close the HTTP session. Later calls raise TransientChannelError."""
        self._closed = True
        http, self._http, self._client = self._http, None, None
        if http is not None:
            await http.close()

    async def _call(self, what: str, request: Callable[[], Awaitable[_T]]) -> _T:
        holder: dict[str, Any] = {}
        token = _response_holder.set(holder)
        try:
            async with asyncio.timeout(self._timeout):
                return await request()
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _mapped(what, exc, holder.get("headers")) from None
        except TimeoutError:
            raise TransientChannelError(
                f"Twilio did not answer {what} within {self._timeout:g}s"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TransientChannelError(
                f"Twilio unreachable at {self.base_url} ({what}): {exc or type(exc).__name__}"
            ) from None
        except json.JSONDecodeError as exc:  # a 2xx whose body is not JSON (a proxy's page)
            raise TransientChannelError(
                f"Twilio answered {what} with an unreadable body: {exc}"
            ) from None
        finally:
            _response_holder.reset(token)


def _mapped(
    what: str,
    exc: TwilioRestException | TwilioServiceException,
    headers: CIMultiDictProxy[str] | None,
) -> TransientChannelError | PermanentChannelError:
    status = int(exc.status)
    code = exc.code if isinstance(exc.code, int) else _int_or_none(exc.code)
    if isinstance(exc, TwilioServiceException):
        text = exc.detail or exc.title
    else:
        text = str(exc.msg).removeprefix("Unable to create record: ")
        text = text.removeprefix("Unable to update record: ")
    message = f"Twilio {what}: error {code} ({text}), HTTP {status}"
    # 401: our credentials are wrong, not this message: retry once an operator fixes them.
    if status in (401, 429) or status >= 500 or status < 400 or code in _TRANSIENT_CODES:
        retry_after = retry_after_seconds(headers.get("Retry-After") if headers else None)
        return TransientChannelError(message, retry_after=retry_after)
    if code == UNSUBSCRIBED:
        return TwilioOptedOut(message, code=code, status=status)
    return TwilioRejected(message, code=code, status=status)


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None
