"""A local stand-in for the Graph API calls of the Messenger channel, and webhooks as Meta
sends them.

The server speaks the Send API (``POST /{version}/me/messages?access_token=…``) and the user
profile (``GET /{version}/{PSID}?fields=…``): the page access token is checked as Meta does
(query parameter, or an ``Authorization: Bearer`` header), ``appsecret_proof`` when required,
the Send API's limits (2000 characters of text, 13 quick replies, 20-character titles,
1000-character payloads), and errors come back in Graph's shape with its codes. It records
what it accepted and can be told to fail.

    async with FakeMessenger() as meta:
        psid = meta.add_user("Somchai", "Jaidee")
        adapter = MessengerAdapter(api_base_url=meta.base_url,
                                   page_access_token=meta.page_access_token)
        body, headers = meta.webhooks.text_message(psid, "hello")
        await client.post("/webhooks/messenger", data=body, headers=headers)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.server import LocalServer, free_port

_VERSION = re.compile(r"v\d+\.\d+")
MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
PROFILE_FIELDS = ("id", "name", "first_name", "last_name", "profile_pic")


def numeric_id() -> str:
    """A page-scoped or page id: 16 digits, as a string (as Meta sends them)."""
    return str(10**15 + secrets.randbelow(9 * 10**15))


def new_mid() -> str:
    return "m_" + secrets.token_urlsafe(48)


def graph_error(
    code: int, message: str, *, subcode: int | None = None, kind: str = "OAuthException"
) -> dict[str, Any]:
    """A Graph API error body."""
    error: dict[str, Any] = {"message": message, "type": kind, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if code in (1, 2, 4, 17, 32, 613):
        error["is_transient"] = True
    error["fbtrace_id"] = secrets.token_urlsafe(8)
    return {"error": error}


class GraphError(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(body)
        self.status, self.body, self.headers = status, body, headers or {}


def _param(code: int, message: str, subcode: int | None = None) -> GraphError:
    return GraphError(400, graph_error(code, message, subcode=subcode))


@dataclass(frozen=True)
class SentMessage:
    """One Send API request the stand-in accepted."""

    message_id: str
    recipient: str
    messaging_type: str
    text: str
    quick_replies: list[dict[str, Any]]
    payload: dict[str, Any]  # the request's JSON as sent


@dataclass
class FakeMessenger(LocalServer):
    page_access_token: str = field(default_factory=lambda: "EAAG" + secrets.token_urlsafe(40))
    app_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    verify_token: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    page_id: str = field(default_factory=numeric_id)
    require_appsecret_proof: bool = False
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.users: dict[str, dict[str, str]] = {}  # PSID → profile fields
        self.window_closed: set[str] = set()  # last wrote over 24 hours ago (10/2018278)
        self.unavailable: set[str] = set()  # blocked the page (551)
        self.sent: list[SentMessage] = []
        self.profile_requests: list[str] = []
        self.requests = 0
        self._failures: deque[GraphError | None] = deque()  # None: let one through
        self._outage: GraphError | None = None
        self._runner: web.AppRunner | None = None

    @property
    def webhooks(self) -> MessengerEvents:
        return MessengerEvents(self.app_secret, self.page_id)

    def add_user(self, first_name: str = "Somchai", last_name: str = "Jaidee") -> str:
        psid = numeric_id()
        self.users[psid] = {"first_name": first_name, "last_name": last_name}
        return psid

    # --- controls ----------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        body: dict[str, Any] | None = None,
        retry_after: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        after: int = 0,
    ) -> None:
        """The next request (or the one after ``after`` more that succeed) gets ``status`` and
        ``body`` (a Graph error for the status by default). Calls queue up."""
        extra = {**(headers or {}), **({"Retry-After": retry_after} if retry_after else {})}
        self._failures.extend([None] * after)
        self._failures.append(GraphError(status, body or _default_error(status), extra))

    def rate_limit(self, n: int = 1, retry_after: str = "7") -> None:
        """The next ``n`` requests get 429 with ``Retry-After`` and Graph's code 613."""
        for _ in range(n):
            self.fail_next(
                429,
                graph_error(613, "Calls to this api have exceeded the rate limit."),
                retry_after,
            )

    def outage(self, status: int = 503, retry_after: str | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after else {}
        self._outage = GraphError(status, _default_error(status), headers)

    def recover(self) -> None:
        self._outage = None
        self._failures.clear()

    # --- lifecycle ---------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{version}/me/messages", self._send)
        app.router.add_get("/{version}/{psid}", self._profile)

    # --- handlers ----------------------------------------------------------------------------

    async def _send(self, request: web.Request) -> web.Response:
        try:
            self._accept(request)
            try:
                payload = await request.json()
            except ValueError:
                raise _param(100, "(#100) The request body is not valid JSON") from None
            if not isinstance(payload, dict):
                raise _param(100, "(#100) param recipient must be non-empty.")
            psid, text, quick_replies = self._check_send(payload)
        except GraphError as exc:
            return _answer(exc)
        sent = SentMessage(new_mid(), psid, payload["messaging_type"], text, quick_replies, payload)
        self.sent.append(sent)
        return web.json_response({"recipient_id": psid, "message_id": sent.message_id})

    def _check_send(self, payload: dict[str, Any]) -> tuple[str, str, list[dict[str, Any]]]:
        recipient = payload.get("recipient")
        psid = str(recipient.get("id") or "") if isinstance(recipient, dict) else ""
        if not psid:
            raise _param(100, "(#100) The parameter recipient is required")
        if payload.get("messaging_type") not in MESSAGING_TYPES:
            raise _param(
                100,
                "(#100) param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG} - "
                f'got "{payload.get("messaging_type")}"',
            )
        message = payload.get("message")
        if not isinstance(message, dict) or not (message.get("text") or message.get("attachment")):
            raise _param(
                100, "(#100) Message cannot be empty, must provide valid attachment or text"
            )
        text = str(message.get("text") or "")
        if len(text) > 2000:
            raise _param(
                100, "(#100) Length of param message[text] must be less than or equal to 2000"
            )
        quick_replies = message.get("quick_replies") or []
        _check_quick_replies(quick_replies)
        if psid not in self.users:
            raise _param(100, "(#100) No matching user found", 2018001)
        if psid in self.window_closed:
            raise GraphError(
                400,
                graph_error(
                    10, "(#10) This message is sent outside of allowed window.", subcode=2018278
                ),
            )
        if psid in self.unavailable:
            raise GraphError(
                400, graph_error(551, "This person isn't available right now.", subcode=1545041)
            )
        return psid, text, quick_replies

    async def _profile(self, request: web.Request) -> web.Response:
        try:
            self._accept(request)
            psid = request.match_info["psid"]
            self.profile_requests.append(psid)
            user = self.users.get(psid)
            if user is None:
                raise _param(
                    100,
                    f"Unsupported get request. Object with ID '{psid}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.",
                    33,
                )
        except GraphError as exc:
            return _answer(exc)
        fields = request.query.get("fields", "first_name,last_name").split(",")
        profile = {"id": psid, "name": f"{user['first_name']} {user['last_name']}", **user}
        return web.json_response(
            {name: profile[name] for name in fields if name in profile} | {"id": psid}
        )

    def _accept(self, request: web.Request) -> None:
        """Injected failures, the version, the token and the proof, as Graph checks them."""
        self.requests += 1
        failure = self._outage or (self._failures.popleft() if self._failures else None)
        if failure is not None:
            raise failure
        if not _VERSION.fullmatch(request.match_info["version"]):
            raise _param(2500, f"Unknown path components: /{request.match_info['version']}")
        token = request.query.get("access_token", "")
        scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
        token = token or (bearer if scheme.lower() in ("bearer", "oauth") else "")
        if not token:
            raise _param(104, "An access token is required to request this resource.")
        if not hmac.compare_digest(token.encode(), self.page_access_token.encode()):
            raise _param(190, "Invalid OAuth access token - Cannot parse access token")
        proof = request.query.get("appsecret_proof", "")
        if proof or self.require_appsecret_proof:
            expected = hmac.new(
                self.app_secret.encode(), token.encode(), hashlib.sha256
            ).hexdigest()
            if not proof:
                raise GraphError(
                    400,
                    graph_error(
                        100,
                        "API calls from the server require an appsecret_proof argument",
                        kind="GraphMethodException",
                    ),
                )
            if not hmac.compare_digest(proof.encode(), expected.encode()):
                raise GraphError(
                    400,
                    graph_error(
                        100,
                        "Invalid appsecret_proof provided in the API argument",
                        kind="GraphMethodException",
                    ),
                )


def _check_quick_replies(quick_replies: Any) -> None:
    if not isinstance(quick_replies, list) or len(quick_replies) > 13:
        raise _param(
            100, "(#100) param message[quick_replies] must be an array of at most 13 elements"
        )
    for n, reply in enumerate(quick_replies):
        if not isinstance(reply, dict) or reply.get("content_type") != "text":
            raise _param(
                100,
                f"(#100) param message[quick_replies][{n}][content_type] must be one of {{text, user_phone_number, user_email}}",
            )
        title, payload = str(reply.get("title") or ""), str(reply.get("payload") or "")
        if not title or not payload:
            raise _param(
                100, f"(#100) param message[quick_replies][{n}] requires a title and a payload"
            )
        if len(title) > 20:
            raise _param(
                100,
                f"(#100) Length of param message[quick_replies][{n}][title] must be less than or equal to 20",
            )
        if len(payload) > 1000:
            raise _param(
                100,
                f"(#100) Length of param message[quick_replies][{n}][payload] must be less than or equal to 1000",
            )


def _default_error(status: int) -> dict[str, Any]:
    if status == 429:
        return graph_error(613, "Calls to this api have exceeded the rate limit.")
    if status >= 500:
        return graph_error(2, "An unexpected error has occurred. Please retry your request later.")
    if status == 403:
        return graph_error(
            200, "(#200) This Page is not allowed to send messages", kind="OAuthException"
        )
    return graph_error(100, "(#100) Invalid parameter")


def _answer(exc: GraphError) -> web.Response:
    headers = (
        {"WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_token"'}
        if exc.status == 401
        else {}
    )
    return web.json_response(exc.body, status=exc.status, headers={**headers, **exc.headers})


# --- webhooks as Meta sends them ---------------------------------------------------------------


def meta_json(payload: Any) -> bytes:
    """JSON as Meta serialises webhooks: compact, non-ASCII as ``\\uXXXX``, ``/`` as ``\\/``.
    The signature is over exactly these bytes."""
    return (
        json.dumps(payload, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()
    )


def sign(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value for ``body``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class MessengerEvents:
    """Signed webhook requests from one Page: ``(body, headers)`` to POST as they are.

    The ``*_event`` methods build single messaging events; ``signed(*events)`` puts them in
    one POST, one entry each, as Meta batches them."""

    app_secret: str
    page_id: str

    def signed(
        self, *events: dict[str, Any], object_: str = "page"
    ) -> tuple[bytes, dict[str, str]]:
        entries = [
            {"id": self.page_id, "time": event.get("timestamp", now_ms()), "messaging": [event]}
            for event in events
        ]
        body = meta_json({"object": object_, "entry": entries})
        return body, {
            "Content-Type": "application/json",
            "User-Agent": "facebookexternalua",
            "X-Hub-Signature": "sha1="
            + hmac.new(self.app_secret.encode(), body, hashlib.sha1).hexdigest(),
            "X-Hub-Signature-256": sign(self.app_secret, body),
        }

    def verification(self, verify_token: str, challenge: str = "1158201444") -> dict[str, str]:
        """The query of Meta's subscription check (a GET on the webhook URL)."""
        return {
            "hub.mode": "subscribe",
            "hub.challenge": challenge,
            "hub.verify_token": verify_token,
        }

    def _envelope(self, psid: str, **event: Any) -> dict[str, Any]:
        return {
            "sender": {"id": psid},
            "recipient": {"id": self.page_id},
            "timestamp": now_ms(),
            **event,
        }

    def text_event(
        self, psid: str, text: str, *, mid: str | None = None, reply_to: str | None = None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"mid": mid or new_mid(), "text": text}
        if reply_to:
            message["reply_to"] = {"mid": reply_to}
        return self._envelope(psid, message=message)

    def media_event(
        self,
        psid: str,
        media: Sequence[tuple[str, str]],
        *,
        text: str | None = None,
        mid: str | None = None,
    ) -> dict[str, Any]:
        """``media``: (type, url) pairs; type is image, video, audio, file or fallback."""
        message: dict[str, Any] = {
            "mid": mid or new_mid(),
            "attachments": [{"type": kind, "payload": {"url": url}} for kind, url in media],
        }
        if text:
            message["text"] = text
        return self._envelope(psid, message=message)

    def quick_reply_event(
        self, psid: str, title: str, payload: str, *, mid: str | None = None
    ) -> dict[str, Any]:
        """A quick reply press: the text is the title as shown, plus our payload."""
        message = {"mid": mid or new_mid(), "text": title, "quick_reply": {"payload": payload}}
        return self._envelope(psid, message=message)

    def postback_event(
        self, psid: str, title: str, payload: str, *, mid: str | None = None, with_mid: bool = True
    ) -> dict[str, Any]:
        """A button press (persistent menu, Get Started); ``with_mid=False`` as older API
        versions sent it, without a message id."""
        postback: dict[str, Any] = {"title": title, "payload": payload}
        if with_mid:
            postback["mid"] = mid or new_mid()
        return self._envelope(psid, postback=postback)

    def delivery_event(
        self, psid: str, mids: Sequence[str], *, watermark: int | None = None
    ) -> dict[str, Any]:
        delivery: dict[str, Any] = {"watermark": watermark or now_ms()}
        if mids:
            delivery["mids"] = list(mids)
        return self._envelope(psid, delivery=delivery)

    def read_event(self, psid: str, *, watermark: int | None = None) -> dict[str, Any]:
        return self._envelope(psid, read={"watermark": watermark or now_ms()})

    def echo_event(self, psid: str, text: str, *, app_id: int = 1517776481860111) -> dict[str, Any]:
        """One of the page's own messages, echoed back: sender is the page, recipient the user."""
        message = {"is_echo": True, "app_id": app_id, "mid": new_mid(), "text": text}
        return {
            "sender": {"id": self.page_id},
            "recipient": {"id": psid},
            "timestamp": now_ms(),
            "message": message,
        }

    # One signed POST each, for the common cases.
    def text_message(self, psid: str, text: str, **kw: Any) -> tuple[bytes, dict[str, str]]:
        return self.signed(self.text_event(psid, text, **kw))

    def media_message(
        self, psid: str, media: Sequence[tuple[str, str]], **kw: Any
    ) -> tuple[bytes, dict[str, str]]:
        return self.signed(self.media_event(psid, media, **kw))

    def quick_reply(
        self, psid: str, title: str, payload: str, **kw: Any
    ) -> tuple[bytes, dict[str, str]]:
        return self.signed(self.quick_reply_event(psid, title, payload, **kw))

    def postback(
        self, psid: str, title: str, payload: str, **kw: Any
    ) -> tuple[bytes, dict[str, str]]:
        return self.signed(self.postback_event(psid, title, payload, **kw))

    def delivery(self, psid: str, mids: Sequence[str], **kw: Any) -> tuple[bytes, dict[str, str]]:
        return self.signed(self.delivery_event(psid, mids, **kw))
