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
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
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

from channels.errors import PermanentChannelError, TransientChannelError

__all__ = [
    "DEFAULT_BASE_URL",
    "SMS_LIMIT",
    "SentMessage",
    "TwilioApi",
    "TwilioRejected",
    "segments",
    "sms_length",
    "split_sms",
]

DEFAULT_BASE_URL = "https://api.twilio.com"
SMS_LIMIT = 1600  # Twilio's limit for one (concatenated) message body
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
            segments=count if count else segments(body),
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
        retry_after = _retry_after(headers.get("Retry-After") if headers else None)
        return TransientChannelError(message, retry_after=retry_after)
    return TwilioRejected(message, code=code, status=status)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


# --- message size ----------------------------------------------------------------------------

_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")  # an escape septet plus one each


def sms_length(text: str) -> int:
    """Length as Twilio's 1600 limit counts it, taken conservatively as UTF-16 code units
    (an emoji counts two)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def segments(text: str) -> int:
    """How many SMS segments Twilio bills for ``text``.

    GSM-7 when every character is in the GSM 03.38 alphabet: 160 septets in one segment,
    else 153 per segment (escaped characters take two and are never split). Otherwise UCS-2:
    70 code units in one, else 67 per segment, never splitting a surrogate pair.
    """
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in text):
        units = [2 if ch in _GSM7_EXTENDED else 1 for ch in text]
        single, multi = 160, 153
    else:
        units = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        single, multi = 70, 67
    if sum(units) <= single:
        return 1
    count, used = 1, 0
    for size in units:
        if used + size > multi:
            count, used = count + 1, 0
        used += size
    return count


# --- splitting long text ---------------------------------------------------------------------

_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_SENTENCE = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+")
_SPACE = re.compile(r"\s+")
_ZWJ = "\u200d"


def split_sms(text: str, limit: int = SMS_LIMIT) -> list[str]:
    """``text`` in order, in parts of at most ``limit`` (as ``sms_length`` counts).

    Cuts at the last paragraph break, else the last sentence end (each only if it keeps at
    least half a part), else the last space, else at the last grapheme boundary (for scripts
    without spaces, such as Thai): never between a character and its combining marks, inside
    an emoji sequence or a flag. Whitespace at a cut is dropped; empty parts are never made.
    """
    if limit < 2:
        raise ValueError("an SMS part must hold at least two UTF-16 code units")
    parts: list[str] = []
    start = len(text) - len(text.lstrip())
    while start < len(text):
        end = _fit(text, start, limit)
        if end >= len(text):
            parts.append(text[start:].rstrip())
            break
        cut, resume = _cut(text, start, end)
        part = text[start:cut].rstrip()
        if part:
            parts.append(part)
        start = resume
        while start < len(text) and text[start].isspace():
            start += 1
    return parts


def _fit(text: str, start: int, limit: int) -> int:
    """The largest end with ``sms_length(text[start:end]) <= limit`` (at least one character)."""
    used, end = 0, start
    while end < len(text):
        used += 2 if ord(text[end]) > 0xFFFF else 1
        if used > limit:
            break
        end += 1
    return max(end, start + 1)


def _cut(text: str, start: int, end: int) -> tuple[int, int]:
    """Where the part starting at ``start`` (and fitting up to ``end``) ends, and where the
    next one begins. A separator may start right at ``end``: it is dropped, not sent."""
    window = text[start : end + 1]
    half = (end - start) // 2
    for pattern, least in ((_PARAGRAPH, half), (_SENTENCE, half), (_SPACE, 1)):
        found = [m for m in pattern.finditer(window) if least <= m.start() <= end - start]
        if found:
            return start + found[-1].start(), start + found[-1].end()
    for cut in range(end, start, -1):
        if _grapheme_boundary(text, cut):
            return cut, cut
    return end, end  # one "character" longer than a part (pathological stacks of marks)


def _grapheme_boundary(text: str, i: int) -> bool:
    """Whether a cut before ``text[i]`` leaves whole user-perceived characters on both sides
    (the parts of UAX #29 that occur in messages)."""
    before, after = text[i - 1], text[i]
    if before == "\r" and after == "\n":
        return False
    if _ZWJ in (before, after):
        return False
    if unicodedata.category(after) in ("Mn", "Mc", "Me") or after in "\u0e33\u0eb3":
        return False  # combining marks, Thai/Lao vowel signs (SARA AM is a spacing mark)
    if 0x1F3FB <= ord(after) <= 0x1F3FF:  # skin-tone modifiers
        return False
    if 0x1160 <= ord(after) <= 0x11FF:  # conjoining Hangul vowels and final consonants
        return False
    if _regional(after) and _regional(before):
        pairs = 0
        j = i - 1
        while j >= 0 and _regional(text[j]):
            pairs, j = pairs + 1, j - 1
        return pairs % 2 == 0  # cut between two flags, never inside one
    return True


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF
