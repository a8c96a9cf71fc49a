"""A local stand-in for the WhatsApp Cloud API (Meta's Graph API), and webhook requests as Meta
sends them.

The server covers what ``WhatsAppAdapter`` calls: ``POST /{version}/{phone-number-id}/messages``
(text and interactive button/list messages, validated against WhatsApp's documented limits),
``GET /{version}/{media-id}`` (media metadata with a download URL) and that download URL, all
behind ``Authorization: Bearer <access token>``, answering Graph JSON and Graph error bodies.

    async with FakeWhatsApp() as wa:
        adapter = WhatsAppAdapter(api_base_url=wa.base_url, access_token=wa.access_token,
                                  phone_number_id=wa.phone_number_id)
        ...
        wa.sent[0].payload  # the JSON the adapter posted

Webhook requests (``text_webhook``, ``media_webhook``, ``button_webhook``, ``status_webhook``,
or ``webhook`` for a batch) come back as ``(body, headers)``, signed with the app secret the way
Meta signs them: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`` over
a body that, like Meta's, escapes non-ASCII characters and "/".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.server import LocalServer, free_port, next_failure
from tests.fakes.whatsapp_graph import GraphError, check_message, graph_error, window_closed

__all__ = [
    "FakeWhatsApp",
    "GraphError",
    "SentWhatsApp",
    "button_webhook",
    "graph_error",
    "media_webhook",
    "sign",
    "status_webhook",
    "text_webhook",
    "verification",
    "webhook",
    "window_closed",
]

API_VERSION = "v21.0"


def wamid() -> str:
    return "wamid.HBgL" + secrets.token_urlsafe(30)


@dataclass(frozen=True)
class SentWhatsApp:
    """One message the stand-in accepted."""

    id: str
    to: str
    type: str
    payload: dict[str, Any]

    @property
    def body(self) -> str:
        """The text a customer reads (a text's body, an interactive message's body)."""
        part = self.payload.get(self.type, {})
        return str(part.get("body") if self.type == "text" else part.get("body", {}).get("text"))

    @property
    def choices(self) -> list[tuple[str, str]]:
        """(id, title) of an interactive message's buttons or list rows."""
        if self.type != "interactive":
            return []
        action = self.payload["interactive"]["action"]
        if "buttons" in action:
            return [(b["reply"]["id"], b["reply"]["title"]) for b in action["buttons"]]
        return [(r["id"], r["title"]) for s in action["sections"] for r in s["rows"]]


@dataclass(frozen=True)
class _Failure:
    status: int
    body: dict[str, Any]
    retry_after: str | None = None
    after: int = 0  # requests to let through first


class FakeWhatsApp(LocalServer):
    def __init__(
        self,
        *,
        access_token: str | None = None,
        phone_number_id: str | None = None,
        api_version: str = API_VERSION,
    ) -> None:
        self.access_token = access_token or "EAAG" + secrets.token_hex(24)
        self.phone_number_id = phone_number_id or str(100000000000000 + secrets.randbelow(10**14))
        self.api_version = api_version
        self.port = free_port()
        self.sent: list[SentWhatsApp] = []
        self.requests = 0  # every request that reached the server
        self.media: dict[str, tuple[bytes, str]] = {}  # media id → (data, mime type)
        self._failures: deque[_Failure] = deque()
        self._outage: _Failure | None = None
        self._runner: web.AppRunner | None = None

    # --- controls ----------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        body: dict[str, Any] | None = None,
        retry_after: str | None = None,
        *,
        after: int = 0,
    ) -> None:
        """The next request (or the one after ``after`` more that succeed) gets this answer: a
        Graph error body, a generic one by default. Calls queue up."""
        default = graph_error(2, "Service temporarily unavailable") if status >= 500 else None
        body = body or default or graph_error(100, "(#100) Invalid parameter")
        self._failures.append(_Failure(status, body, retry_after, after))

    def rate_limit(self, n: int = 1, retry_after: str = "7") -> None:
        """The next ``n`` requests get 429, Retry-After and Meta's throughput error 130429."""
        body = graph_error(
            130429,
            "(#130429) Rate limit hit",
            details="Cloud API message throughput has been reached.",
        )
        for _ in range(n):
            self._failures.append(_Failure(429, body, retry_after))

    def outage(self, status: int = 503) -> None:
        """Every request fails with ``status`` until ``recover()``."""
        self._outage = _Failure(status, graph_error(2, "Service temporarily unavailable"))

    def recover(self) -> None:
        self._outage = None
        self._failures.clear()

    def add_media(self, data: bytes, mime_type: str) -> str:
        """A file a customer sent; returns its media id."""
        media_id = str(10**15 + secrets.randbelow(10**15))
        self.media[media_id] = (data, mime_type)
        return media_id

    # --- lifecycle ---------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{version}/{phone}/messages", self._send)
        app.router.add_get("/{version}/{media}", self._media_info)
        app.router.add_get("/download/{media}", self._download)

    # --- handlers ----------------------------------------------------------------------------

    async def _send(self, request: web.Request) -> web.Response:
        try:
            self._accept(request)
            if request.match_info["phone"] != self.phone_number_id:
                raise GraphError(400, _unknown_object(request.match_info["phone"]))
            try:
                payload = await request.json()
            except ValueError:
                raise GraphError(400, graph_error(100, "(#100) Invalid JSON")) from None
            check_message(payload)
        except GraphError as exc:
            return _answer(exc)
        sent = SentWhatsApp(wamid(), payload["to"], payload["type"], payload)
        self.sent.append(sent)
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": sent.to, "wa_id": sent.to.lstrip("+")}],
                "messages": [{"id": sent.id}],
            }
        )

    async def _media_info(self, request: web.Request) -> web.Response:
        try:
            self._accept(request)
            media_id = request.match_info["media"]
            if media_id not in self.media:
                raise GraphError(400, _unknown_object(media_id))
        except GraphError as exc:
            return _answer(exc)
        data, mime = self.media[media_id]
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "url": f"{self.base_url}/download/{media_id}?ext={int(time.time())}",
                "mime_type": mime,
                "sha256": hashlib.sha256(data).hexdigest(),
                "file_size": len(data),
                "id": media_id,
            }
        )

    async def _download(self, request: web.Request) -> web.Response:
        try:
            self._accept(request)
        except GraphError as exc:
            return _answer(exc)
        found = self.media.get(request.match_info["media"])
        if found is None:
            return web.Response(status=404)
        return web.Response(body=found[0], content_type=found[1])

    def _accept(self, request: web.Request) -> None:
        """Injected failures, the API version and the bearer token, as Meta checks them."""
        self.requests += 1
        failure = self._outage or next_failure(self._failures)
        if failure is not None:
            raise GraphError(failure.status, failure.body, failure.retry_after)
        version = request.match_info.get("version")
        if version is not None and version != self.api_version:
            raise GraphError(400, graph_error(2500, f"Unknown path components: /{version}"))
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(token, self.access_token):
            body = graph_error(190, "Invalid OAuth access token - Cannot parse access token")
            raise GraphError(401, body)


def _unknown_object(object_id: str) -> dict[str, Any]:
    return graph_error(
        100,
        f"Unsupported post request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation.",
        subcode=33,
    )


def _answer(exc: GraphError) -> web.Response:
    headers = (
        {"WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_token"'}
        if exc.status == 401
        else {}
    )
    if exc.retry_after:
        headers["Retry-After"] = exc.retry_after
    return web.json_response(exc.body, status=exc.status, headers=headers)


# --- webhook requests as Meta sends them ------------------------------------------------------


def sign(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def meta_json(payload: Any) -> bytes:
    """JSON the way Meta writes webhook bodies: ASCII only (\\uXXXX) and "/" escaped."""
    return json.dumps(payload, separators=(",", ":")).replace("/", "\\/").encode()


def webhook(
    app_secret: str,
    *,
    messages: Sequence[dict[str, Any]] = (),
    statuses: Sequence[dict[str, Any]] = (),
    names: dict[str, str] | None = None,
    phone_number_id: str = "106540352242922",
) -> tuple[bytes, dict[str, str]]:
    """One signed POST carrying ``messages`` and ``statuses``; ``names`` maps wa_id → profile."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
    }
    if messages:
        value["contacts"] = [
            {"profile": {"name": name}, "wa_id": wa_id} for wa_id, name in (names or {}).items()
        ]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }
    return signed(app_secret, meta_json(payload))


def signed(app_secret: str, body: bytes) -> tuple[bytes, dict[str, str]]:
    legacy = "sha1=" + hmac.new(app_secret.encode(), body, hashlib.sha1).hexdigest()
    return body, {
        "Content-Type": "application/json",
        "User-Agent": "facebookexternalua",
        "X-Hub-Signature": legacy,
        "X-Hub-Signature-256": sign(app_secret, body),
    }


def message(wa_id: str, kind: str, part: Any, *, id: str | None = None) -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": id or wamid(),
        "timestamp": str(int(time.time())),
        "type": kind,
        kind: part,
    }


def text_webhook(
    app_secret: str, *, wa_id: str, text: str, name: str | None = "Ana", id: str | None = None
) -> tuple[bytes, dict[str, str]]:
    found = message(wa_id, "text", {"body": text}, id=id)
    return webhook(app_secret, messages=[found], names={wa_id: name} if name else None)


def media_webhook(
    app_secret: str,
    *,
    wa_id: str,
    media_id: str,
    mime_type: str,
    kind: str = "image",
    caption: str | None = None,
    filename: str | None = None,
    name: str | None = "Ana",
) -> tuple[bytes, dict[str, str]]:
    part: dict[str, Any] = {"mime_type": mime_type, "sha256": secrets.token_hex(32), "id": media_id}
    if caption is not None:
        part["caption"] = caption
    if filename is not None:
        part["filename"] = filename
    if kind == "audio":
        part["voice"] = True
    found = message(wa_id, kind, part)
    return webhook(app_secret, messages=[found], names={wa_id: name} if name else None)


def welcome_webhook(
    app_secret: str, *, wa_id: str, name: str | None = "Ana"
) -> tuple[bytes, dict[str, str]]:
    """``request_welcome``: the user opened a chat with the number for the first time (sent when
    welcome messages are switched on for it); the message has no body of its own."""
    found = {"from": wa_id, "id": wamid(), "timestamp": str(int(time.time()))}
    found["type"] = "request_welcome"
    return webhook(app_secret, messages=[found], names={wa_id: name} if name else None)


def location_webhook(
    app_secret: str, *, wa_id: str, latitude: float = 13.746, longitude: float = 100.535
) -> tuple[bytes, dict[str, str]]:
    part = {"latitude": latitude, "longitude": longitude, "name": "Siam Paragon"}
    found = message(wa_id, "location", part)
    return webhook(app_secret, messages=[found], names={wa_id: "Ana"})


def button_webhook(
    app_secret: str, *, wa_id: str, reply_id: str, title: str, kind: str = "button_reply"
) -> tuple[bytes, dict[str, str]]:
    """A press of a reply button (``kind="button_reply"``) or a pick from a list
    (``"list_reply"``), answering our message ``context.id``."""
    found = message(wa_id, "interactive", {"type": kind, kind: {"id": reply_id, "title": title}})
    found["context"] = {"from": "15550783881", "id": wamid()}
    return webhook(app_secret, messages=[found], names={wa_id: "Ana"})


def status(
    id: str,
    state: str,
    *,
    recipient_id: str,
    error_code: int | None = None,
    error_title: str = "",
    details: str = "",
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": id,
        "status": state,
        "timestamp": str(int(time.time())),
        "recipient_id": recipient_id,
    }
    if state in ("sent", "delivered"):
        found["conversation"] = {"id": secrets.token_hex(16), "origin": {"type": "service"}}
        found["pricing"] = {"billable": True, "pricing_model": "CBP", "category": "service"}
    if error_code is not None:
        found["errors"] = [
            {
                "code": error_code,
                "title": error_title,
                "message": error_title,
                "error_data": {"details": details},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
            }
        ]
    return found


def status_webhook(
    app_secret: str, *, id: str, state: str, recipient_id: str, **error: Any
) -> tuple[bytes, dict[str, str]]:
    """A status ("sent", "delivered", "read", "failed") for our message ``id``; a failure takes
    ``error_code``, ``error_title`` and ``details``."""
    return webhook(app_secret, statuses=[status(id, state, recipient_id=recipient_id, **error)])


def verification(verify_token: str, challenge: str = "1158201444") -> dict[str, str]:
    """The query of Meta's GET handshake."""
    return {"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": verify_token}
