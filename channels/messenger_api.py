"""The two Graph API calls the Messenger channel makes: the Send API and a user's profile.

Plain aiohttp: one ``ClientSession``, opened on the first call (never in ``__init__``), every
call under the configured total timeout. The page access token goes in the ``access_token``
query parameter, as Meta documents the Send API; with the app secret also given, every call
carries ``appsecret_proof`` (HMAC-SHA256 of the token), which the app's "Require App Secret"
setting makes mandatory. Since the URL holds the token, no URL is ever logged or put in an
error message (aiohttp's own ``ClientResponseError`` text includes it, so bodies are read as
bytes and decoded here).

Graph API errors are ``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``
and the HTTP status alone says little (rate limits usually come as 400), so the *code* decides:

- 10 / 2018278: the customer's last message is over 24 hours old: permanent, saying so.
- 551: the person isn't available (blocked the page, left Messenger): permanent.
- rate limits (4, 17, 32, 613, 80006) and 429: transient, retry after ``Retry-After`` or the
  ``estimated_time_to_regain_access`` of ``X-Business-Use-Case-Usage`` (minutes).
- Meta's own trouble (1, 2, 1200 "temporary send message failure"), 5xx, timeouts, refused
  connections, 190 / 401 (our token expired or was revoked: retrying works once an operator
  replaces it): transient.
- any other 4xx (unknown recipient 100/2018001, bad parameters): permanent, with Meta's text.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from channels.errors import PermanentChannelError, TransientChannelError, retry_after_seconds

__all__ = [
    "CHANNEL",
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "GraphApi",
    "MessengerRejected",
]

CHANNEL = "messenger"
DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80006})
SERVER_CODES = frozenset({1, 2, 1200})
EXPIRED_TOKEN = 190
OUTSIDE_WINDOW = (10, 2018278)
UNAVAILABLE = 551
log = logging.getLogger("switchboard.messenger")


class MessengerRejected(PermanentChannelError):
    """Meta refused the request. ``code``/``subcode`` are the Graph API's, e.g. 10/2018278
    (outside the 24-hour window), 551 (person unavailable) or 100/2018001 (no such user)."""

    def __init__(self, message: str, *, code: int | None, subcode: int | None, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.status = status


class GraphApi:
    """Meta's Graph API at ``base_url`` (a local stand-in in tests), as one Page."""

    def __init__(
        self,
        *,
        base_url: str,
        access_token: str,
        version: str = DEFAULT_API_VERSION,
        app_secret: str | None = None,
        timeout: float = 15.0,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"Messenger API base URL {base_url!r} must be an http(s) URL")
        if not access_token:
            raise ValueError("Messenger needs a page access token")
        if timeout <= 0:
            raise ValueError("Messenger timeout must be positive")
        self.base_url = base_url.rstrip("/")
        self.version = version.strip("/")
        self._token = access_token
        self._proof = (
            hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()
            if app_secret
            else None
        )
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    async def send_message(self, payload: dict[str, Any]) -> str | None:
        """POST one Send API request; Meta's ``message_id`` for it."""
        body = await self._call("send a message", "POST", "me/messages", payload=payload)
        mid = body.get("message_id")
        return str(mid) if mid else None

    async def profile(self, psid: str) -> dict[str, Any]:
        """A customer's public profile fields (first and last name) by their page-scoped id."""
        return await self._call(
            "fetch a profile",
            "GET",
            quote(psid, safe=""),
            params={"fields": "first_name,last_name"},
        )

    async def close(self) -> None:
        """Close the HTTP session. Later calls raise TransientChannelError."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._closed:
            raise TransientChannelError("the Messenger client is closed (shutting down)")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        return self._session

    async def _call(
        self,
        what: str,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        payload: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        query = {**(params or {}), "access_token": self._token}
        if self._proof:
            query["appsecret_proof"] = self._proof
        url = f"{self.base_url}/{self.version}/{path}"
        try:
            async with self._http().request(method, url, params=query, json=payload) as response:
                raw = await response.read()
                status, headers = response.status, response.headers
        except TimeoutError:
            raise TransientChannelError(
                f"Messenger did not answer ({what}) within {self._timeout:g}s"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            # Connection errors name host and port only; never the URL (it holds the token).
            reason = str(exc) if isinstance(exc, aiohttp.ClientConnectionError) else ""
            raise TransientChannelError(
                f"Messenger unreachable at {self.base_url} ({what}): {reason or type(exc).__name__}"
            ) from None
        body = _json_object(raw)
        if 200 <= status < 300:
            if body is None:
                raise TransientChannelError(f"Messenger answered ({what}) with an unreadable body")
            return body
        raise _mapped(what, status, body, headers)


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _mapped(
    what: str, status: int, body: dict[str, Any] | None, headers: Any
) -> TransientChannelError | PermanentChannelError:
    error = body.get("error") if body else None
    error = error if isinstance(error, dict) else {}
    code, subcode = _int(error.get("code")), _int(error.get("error_subcode"))
    text = str(error.get("message") or f"HTTP {status}")
    trace = f", fbtrace_id {error['fbtrace_id']}" if error.get("fbtrace_id") else ""
    detail = f"error {code}" + (f"/{subcode}" if subcode else "") if code is not None else ""
    message = f"Messenger {what}: {text} ({detail + ', ' if detail else ''}HTTP {status}{trace})"
    if status == 429 or code in RATE_LIMIT_CODES:
        return TransientChannelError(
            f"rate limited by Meta. {message}", retry_after=_retry_after(headers)
        )
    if (code, subcode) == OUTSIDE_WINDOW:
        return MessengerRejected(
            "the 24-hour window to reply has closed: the customer last wrote over 24 hours ago, "
            f"so Messenger accepts nothing until they write again. {message}",
            code=code,
            subcode=subcode,
            status=status,
        )
    if code == UNAVAILABLE:
        return MessengerRejected(
            f"the person isn't available on Messenger (they may have blocked the page). {message}",
            code=code,
            subcode=subcode,
            status=status,
        )
    if status >= 500 or status < 400 or status == 401 or code in SERVER_CODES:
        return TransientChannelError(message, retry_after=_retry_after(headers))
    if code == EXPIRED_TOKEN:
        return TransientChannelError(
            f"the page access token is invalid or expired; replace it. {message}"
        )
    return MessengerRejected(message, code=code, subcode=subcode, status=status)


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait: ``Retry-After`` (delta-seconds or an HTTP date), else Meta's
    ``estimated_time_to_regain_access`` (minutes) in ``X-Business-Use-Case-Usage``."""
    waited = retry_after_seconds(headers.get("Retry-After") if headers else None)
    if waited is not None:
        return waited
    return _regain_access(headers.get("X-Business-Use-Case-Usage") if headers else None)


def _regain_access(usage: str | None) -> float | None:
    try:
        buckets = json.loads(usage) if usage else {}
    except json.JSONDecodeError:
        return None
    minutes = [
        _int(entry.get("estimated_time_to_regain_access")) or 0
        for entries in (buckets.values() if isinstance(buckets, dict) else ())
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]
    return max(minutes) * 60.0 if minutes and max(minutes) > 0 else None


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None
