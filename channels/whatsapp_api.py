"""The few WhatsApp Cloud API (Meta Graph API) calls Switchboard makes, with failures mapped
into our error hierarchy.

Plain aiohttp: one ``ClientSession``, opened on the first call (never in ``__init__``), every
call under the configured total timeout, ``Authorization: Bearer <access token>``.

Graph API errors are JSON ``{"error": {"message", "type", "code", "error_subcode",
"error_data": {"details"}, "fbtrace_id"}}``, and the HTTP status alone says little: Meta answers
rate limits (codes 4, 80007, 130429, 131056) with 400 as often as with 429. So the *code* decides
first, the status second:

- 131047 ("Re-engagement message"): the customer's last message is more than 24 hours old; only
  an approved template could reach them now: permanent, saying so. (Usually this arrives later,
  as a "failed" status webhook for a message the API had accepted; see ``whatsapp_webhooks``.)
- rate limits, 429, 5xx, codes 1/2/131000/131016/133004 (Meta's own trouble), 401/190 (our
  token expired or was revoked: an operator fixes it, then a retry can work), timeouts and
  refused connections: transient, with ``Retry-After`` when Meta sends one.
- every other 4xx: permanent (invalid number, not on WhatsApp, rejected content).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from channels.errors import PermanentChannelError, TransientChannelError, retry_after_seconds

__all__ = [
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "REENGAGEMENT",
    "GraphApi",
    "WhatsAppRejected",
    "window_closed_text",
]

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"
REENGAGEMENT = 131047
# Throughput (130429), WABA (80007), app (4) and per-recipient pair (131056) rate limits.
RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131056})
# Meta's side: unknown error, temporary downtime, "something went wrong", service unavailable.
SERVER_CODES = frozenset({1, 2, 131000, 131016, 133004})
EXPIRED_TOKEN = 190
# Meta allows one message every 6 seconds to the same user (the "pair rate limit").
PAIR_RATE_LIMIT = 131056
PAIR_INTERVAL = 6.0
log = logging.getLogger("switchboard.whatsapp")


class WhatsAppRejected(PermanentChannelError):
    """Meta refused the request. ``code`` is the Graph API error code, e.g. 131047 (outside
    the 24-hour window), 131026 (undeliverable) or 100 (invalid parameter)."""

    def __init__(self, message: str, *, code: int | None, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def window_closed_text(details: str = "") -> str:
    text = (
        "the 24-hour window closed: WhatsApp allows free-form replies only within 24 hours of "
        "the customer's last message (after that, only approved templates)"
    )
    return f"{text} ({details})" if details else text


def normalize_version(version: str) -> str:
    version = version.strip().strip("/")
    if not version:
        raise ValueError("WhatsApp API version must not be empty (e.g. v21.0)")
    return version if version.startswith("v") else f"v{version}"


class GraphApi:
    """The Graph API at ``base_url`` (a local stand-in in tests) for one access token."""

    def __init__(
        self,
        *,
        base_url: str,
        access_token: str,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float = 15.0,
    ) -> None:
        if not access_token:
            raise ValueError("WhatsApp needs an access token")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"WhatsApp API base URL {base_url!r} must be an http(s) URL")
        if timeout <= 0:
            raise ValueError("WhatsApp timeout must be positive")
        self.base_url = base_url.rstrip("/")
        self.version = normalize_version(api_version)
        self._token = access_token
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def url(self, path: str) -> str:
        return f"{self.base_url}/{self.version}/{path.lstrip('/')}"

    async def send_message(self, phone_number_id: str, payload: dict[str, Any]) -> str:
        """POST one message; returns its WhatsApp message id ("wamid.…")."""
        answer = await self._request(
            "send message", "POST", self.url(f"{phone_number_id}/messages"), payload
        )
        try:
            return str(answer["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise TransientChannelError(
                "WhatsApp accepted a message but its answer names no message id"
            ) from None

    async def media(
        self, media_id: str, *, max_bytes: int = 100 * 1024 * 1024
    ) -> tuple[bytes, str]:
        """A customer's media file and its content type: Meta's media URL (valid for five
        minutes, also behind the bearer token) is looked up, then fetched."""
        info = await self._request("look up media", "GET", self.url(media_id), None)
        url = info.get("url")
        if not isinstance(url, str) or not url:
            raise PermanentChannelError(f"WhatsApp media {media_id} has no download URL")
        size = info.get("file_size")
        if isinstance(size, int) and size > max_bytes:
            raise PermanentChannelError(
                f"WhatsApp media {media_id} is {size} bytes, over {max_bytes}"
            )
        session = self._open()
        try:
            async with asyncio.timeout(self._timeout):
                async with session.get(url, headers=self._headers()) as response:
                    if response.status >= 400:
                        body = await response.read()
                        raise _mapped("download media", response.status, body, response.headers)
                    data = await response.content.read(max_bytes + 1)
                    served_type = response.content_type
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _unreachable("download media", self.base_url, exc, self._timeout) from None
        if len(data) > max_bytes:
            raise PermanentChannelError(f"WhatsApp media {media_id} is over {max_bytes} bytes")
        return data, str(info.get("mime_type") or served_type)

    async def close(self) -> None:
        """Close the HTTP session. Later calls raise TransientChannelError."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise TransientChannelError("the WhatsApp client is closed (shutting down)")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        return self._session

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    async def _request(
        self, what: str, method: str, url: str, payload: dict[str, Any] | None
    ) -> dict[str, Any]:
        session = self._open()
        try:
            async with asyncio.timeout(self._timeout):
                async with session.request(
                    method, url, json=payload, headers=self._headers()
                ) as response:
                    body = await response.read()
                    if response.status >= 300:
                        raise _mapped(what, response.status, body, response.headers)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _unreachable(what, self.base_url, exc, self._timeout) from None
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):  # a 2xx that is not Graph JSON (a proxy's page)
            raise TransientChannelError(f"WhatsApp answered {what} with an unreadable body")
        return answer


def _unreachable(
    what: str, base_url: str, exc: BaseException, timeout: float
) -> TransientChannelError:
    if isinstance(exc, TimeoutError):
        return TransientChannelError(f"WhatsApp did not answer {what} within {timeout:g}s")
    reason = str(exc) or type(exc).__name__
    return TransientChannelError(f"WhatsApp unreachable at {base_url} ({what}): {reason}")


def _graph_error(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return error if isinstance(error, dict) else {}


def _mapped(
    what: str, status: int, body: bytes, headers: Any
) -> TransientChannelError | PermanentChannelError:
    error = _graph_error(body)
    code = error.get("code") if isinstance(error.get("code"), int) else None
    text = str(error.get("message") or f"HTTP {status}")
    data = error.get("error_data")
    details = str(data.get("details") or "") if isinstance(data, dict) else ""
    if details and details not in text:
        text = f"{text}: {details}"
    message = f"WhatsApp {what}: error {code} ({text}), HTTP {status}"
    log.warning(
        "whatsapp_api_error",
        extra={
            "fields": {
                "what": what,
                "status": status,
                "code": code,
                "subcode": error.get("error_subcode"),
                "fbtrace_id": error.get("fbtrace_id"),
            }
        },
    )
    if code == REENGAGEMENT:
        return WhatsAppRejected(
            f"WhatsApp {what}: {window_closed_text()} (error {code})", code=code, status=status
        )
    retry_after = retry_after_seconds(headers.get("Retry-After"))
    if code in RATE_LIMIT_CODES or status == 429:
        if retry_after is None and code == PAIR_RATE_LIMIT:
            retry_after = PAIR_INTERVAL
        return TransientChannelError(message, retry_after=retry_after)
    if (
        status >= 500
        or status in (401, 408)
        or status < 400
        or code in SERVER_CODES
        or code == EXPIRED_TOKEN
    ):
        return TransientChannelError(message, retry_after=retry_after)
    return WhatsAppRejected(message, code=code, status=status)
