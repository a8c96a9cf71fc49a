"""A local stand-in for LINE's Messaging API, which also builds signed webhook requests.

The server covers reply and push (Bearer channel access token; JSON bodies checked as LINE
checks them: 1-5 message objects, text up to 5,000, up to 13 quick-reply buttons with LINE's
label/data/displayText limits; errors as ``{"message", "details"}``), reply tokens that work
once, push retry keys (a repeated key gets 409 with the first answer's ``sentMessages``), the
monthly push quota, profiles, and message content (LINE's api-data host: the same server here).
It records what it accepted and can be told to fail, be rate limited, have an outage, or stop.

    async with FakeLine() as line:
        adapter = LineAdapter(api_base_url=line.base_url,
                              channel_access_token=line.channel_access_token)
        body, headers = line.text_message(USER, "hello")  # signed, with a reply token it honours
        await client.post("/webhooks/line", data=body, headers=headers)
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.line_webhooks import (
    SIGNATURE_HEADER,
    event,
    follow_event,
    media_event,
    new_event_id,
    new_message_id,
    new_user_id,
    postback_event,
    sign,
    text_event,
    unfollow_event,
    webhook,
)
from tests.fakes.server import LocalServer, free_port

__all__ = [
    "SIGNATURE_HEADER",
    "FakeLine",
    "Sent",
    "event",
    "follow_event",
    "media_event",
    "new_event_id",
    "new_message_id",
    "new_user_id",
    "postback_event",
    "sign",
    "text_event",
    "unfollow_event",
    "webhook",
]

_ID = re.compile(r"[UCR][0-9a-f]{32}")
MESSAGES = {
    400: "Bad Request",
    401: "Authentication failed. Confirm that the access token in the authorization header is valid.",
    403: "Access to this API is not available for your account",
    404: "Not found",
    409: "The retry key is already accepted",
    429: "The API rate limit has been exceeded. Try again later.",
    500: "Internal server error",
}
MONTHLY_LIMIT = "You have reached your monthly limit."


# --- the API ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One reply or push the stand-in accepted."""

    kind: str  # "reply" or "push"
    to: str  # the user the reply token was issued for, or the push's "to"
    payload: dict[str, Any]  # the JSON body as received
    retry_key: str | None
    ids: tuple[str, ...]  # sentMessages ids, one per message object

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.payload["messages"])

    @property
    def texts(self) -> list[str]:
        return [m.get("text", "") for m in self.messages]


class LineError(Exception):
    def __init__(
        self, status: int, message: str | None = None, details: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message or MESSAGES.get(status, "Error")}
        if details:
            self.body["details"] = details
        self.headers: dict[str, str] = {}


class FakeLine(LocalServer):
    def __init__(
        self, *, channel_access_token: str | None = None, channel_secret: str | None = None
    ) -> None:
        self.channel_access_token = channel_access_token or secrets.token_urlsafe(128)
        self.channel_secret = channel_secret or secrets.token_hex(16)
        self.port = free_port()
        self.sent: list[Sent] = []
        self.requests: list[str] = []  # "METHOD /path" of every request that reached it
        self.profiles: dict[str, dict[str, str]] = {}
        self.contents: dict[str, tuple[bytes, str]] = {}  # message id → (bytes, content type)
        self.push_quota: int | None = None  # pushes left this month; None: no limit
        self._reply_tokens: dict[str, str] = {}  # unused token → the user it answers
        self._accepted: dict[str, tuple[str, ...]] = {}  # retry key → ids it was answered with
        self._failures: deque[LineError] = deque()
        self._outage: LineError | None = None
        self._runner: web.AppRunner | None = None

    # --- controls ----------------------------------------------------------------------------

    def fail_next(
        self, status: int, body: dict[str, Any] | None = None, retry_after: str | None = None
    ) -> None:
        """The next request gets ``status`` with ``body`` (LINE's usual one if None)."""
        error = LineError(status)
        error.body = body if body is not None else error.body
        if retry_after is not None:
            error.headers["Retry-After"] = retry_after
        self._failures.append(error)

    def rate_limit(self, n: int, retry_after: str | None = None) -> None:
        """The next ``n`` requests get 429. LINE itself sends no Retry-After."""
        for _ in range(n):
            self.fail_next(429, retry_after=retry_after)

    def outage(self, status: int = 500) -> None:
        self._outage = LineError(status)

    def recover(self) -> None:
        self._outage = None
        self._failures.clear()

    def add_profile(self, user_id: str, display_name: str, language: str | None = "en") -> None:
        profile = {"userId": user_id, "displayName": display_name, "statusMessage": "Hello!"}
        profile["pictureUrl"] = f"https://profile.line-scdn.net/{secrets.token_hex(8)}"
        self.profiles[user_id] = profile | ({"language": language} if language else {})

    def issue_reply_token(self, user_id: str) -> str:
        token = secrets.token_hex(16)
        self._reply_tokens[token] = user_id
        return token

    def expire_reply_tokens(self) -> None:
        """A minute has passed: no reply token works any more."""
        self._reply_tokens.clear()

    # --- signed webhooks with reply tokens this server honours ------------------------------

    def webhook(self, *events: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        return webhook(self.channel_secret, events)

    def text_message(self, user_id: str, text: str) -> tuple[bytes, dict[str, str]]:
        return self.webhook(text_event(user_id, text, reply_token=self.issue_reply_token(user_id)))

    def media_message(
        self, user_id: str, data: bytes, kind: str = "image", *, file_name: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A media message whose content the server then serves (api-data's content URL)."""
        token = self.issue_reply_token(user_id)
        found = media_event(
            user_id, kind, file_name=file_name, file_size=len(data), reply_token=token
        )
        types = {"image": "image/jpeg", "video": "video/mp4", "audio": "audio/x-m4a"}
        self.contents[found["message"]["id"]] = (data, types.get(kind, "application/pdf"))
        return self.webhook(found)

    def sticker_message(self, user_id: str) -> tuple[bytes, dict[str, str]]:
        sticker = {"type": "sticker", "id": new_message_id(), "packageId": "446"}
        sticker |= {"stickerId": "1988", "stickerResourceType": "STATIC", "keywords": ["Hi"]}
        token = self.issue_reply_token(user_id)
        return self.webhook(event("message", user_id, message=sticker, reply_token=token))

    def follow(self, user_id: str, *, unblocked: bool = False) -> tuple[bytes, dict[str, str]]:
        """The user adds the account as a friend (or unblocks it): the event has a reply token."""
        token = self.issue_reply_token(user_id)
        return self.webhook(follow_event(user_id, unblocked=unblocked, reply_token=token))

    def unfollow(self, user_id: str) -> tuple[bytes, dict[str, str]]:
        """The user blocks the account: no reply token, nobody to answer."""
        return self.webhook(unfollow_event(user_id))

    def press(self, user_id: str, item: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """The customer taps a quick-reply button we sent (an item of ``quickReply.items``)."""
        data = item["action"]["data"]
        return self.webhook(
            postback_event(user_id, data, reply_token=self.issue_reply_token(user_id))
        )

    def verification(self) -> tuple[bytes, dict[str, str]]:
        return self.webhook()

    # --- lifecycle ---------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/bot/message/reply", self._reply)
        app.router.add_post("/v2/bot/message/push", self._push)
        app.router.add_get("/v2/bot/profile/{user}", self._profile)
        app.router.add_get("/v2/bot/message/{message}/content", self._content)

    # --- handlers ----------------------------------------------------------------------------

    async def _reply(self, request: web.Request) -> web.Response:
        try:
            payload = await self._accept(request)
            if "X-Line-Retry-Key" in request.headers:  # only push and the like take one
                raise LineError(400, "The retry key is not supported for this API")
            _check_messages(payload)
            user = self._reply_tokens.pop(str(payload.get("replyToken")), None)
            if user is None:
                raise LineError(400, "Invalid reply token")
        except LineError as exc:
            return _error(exc)
        return self._accepted_answer(Sent("reply", user, payload, None, _ids(payload)))

    async def _push(self, request: web.Request) -> web.Response:
        try:
            payload = await self._accept(request)
            key = request.headers.get("X-Line-Retry-Key")
            if key is not None and not _is_uuid(key):
                raise LineError(400, "The value of the X-Line-Retry-Key header is invalid")
            if key in self._accepted:
                previous = [{"id": i, "quoteToken": "q" + i} for i in self._accepted[key]]
                conflict = web.json_response(
                    {"message": MESSAGES[409], "sentMessages": previous}, status=409
                )
                conflict.headers["x-line-accepted-request-id"] = str(uuid.uuid4())
                return _stamped(conflict)
            if not isinstance(payload.get("to"), str) or not _ID.fullmatch(payload["to"]):
                raise LineError(
                    400, "The property, 'to', in the request body is invalid (line: -, column: -)"
                )
            _check_messages(payload)
            if self.push_quota is not None:
                if self.push_quota <= 0:
                    raise LineError(429, MONTHLY_LIMIT)
                self.push_quota -= 1
        except LineError as exc:
            return _error(exc)
        sent = Sent("push", payload["to"], payload, key, _ids(payload))
        if key is not None:
            self._accepted[key] = sent.ids
        return self._accepted_answer(sent)

    async def _profile(self, request: web.Request) -> web.Response:
        try:
            await self._accept(request)
            profile = self.profiles.get(request.match_info["user"])
            if profile is None:
                raise LineError(404)
        except LineError as exc:
            return _error(exc)
        return _stamped(web.json_response(profile))

    async def _content(self, request: web.Request) -> web.Response:
        try:
            await self._accept(request)
            found = self.contents.get(request.match_info["message"])
            if found is None:
                raise LineError(404)
        except LineError as exc:
            return _error(exc)
        return _stamped(web.Response(body=found[0], content_type=found[1]))

    # --- helpers -----------------------------------------------------------------------------

    async def _accept(self, request: web.Request) -> dict[str, Any]:
        """Injected failures, the Bearer token and (for POST) the JSON body, as LINE checks."""
        self.requests.append(f"{request.method} {request.path}")
        failure = self._outage or (self._failures.popleft() if self._failures else None)
        if failure is not None:
            raise failure
        expected = f"Bearer {self.channel_access_token}"
        if not secrets.compare_digest(request.headers.get("Authorization", ""), expected):
            raise LineError(401)
        if request.method != "POST":
            return {}
        if request.content_type != "application/json":
            raise LineError(415, "Unsupported Media Type")
        try:
            payload = json.loads(await request.read())
        except ValueError:
            raise LineError(400, "The request body has 1 error(s)") from None
        if not isinstance(payload, dict):
            raise LineError(400, "The request body has 1 error(s)")
        return payload

    def _accepted_answer(self, sent: Sent) -> web.Response:
        self.sent.append(sent)
        body = {
            "sentMessages": [{"id": i, "quoteToken": secrets.token_urlsafe(24)} for i in sent.ids]
        }
        return _stamped(web.json_response(body))


def _ids(payload: dict[str, Any]) -> tuple[str, ...]:
    return tuple(new_message_id() for _ in payload["messages"])


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _check_messages(payload: dict[str, Any]) -> None:
    """LINE's validation of message objects (text ones; the rest are not modelled here)."""
    messages = payload.get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
        problems = [("messages", "Size must be between 1 and 5")]
    else:
        problems = [p for n, m in enumerate(messages) for p in _message_problems(m, n)]
    if problems:
        details = [{"message": message, "property": where} for where, message in problems]
        raise LineError(400, f"The request body has {len(problems)} error(s)", details)


def _message_problems(message: Any, n: int) -> list[tuple[str, str]]:
    where = f"messages[{n}]"
    if not isinstance(message, dict) or message.get("type") != "text":
        return [(f"{where}.type", "The stand-in knows text messages only")]
    text = message.get("text")
    if not isinstance(text, str) or not text:
        return [(f"{where}.text", "May not be empty")]
    problems = []
    if _units(text) > 5000:
        problems.append((f"{where}.text", "Length must be between 0 and 5000"))
    quick = message.get("quickReply")
    if quick is not None:
        items = quick.get("items") if isinstance(quick, dict) else None
        if not isinstance(items, list) or not 1 <= len(items) <= 13:
            return [*problems, (f"{where}.quickReply.items", "Size must be between 1 and 13")]
        for i, item in enumerate(items):
            problems += _action_problems(item, f"{where}.quickReply.items[{i}]")
    return problems


def _action_problems(item: Any, where: str) -> list[tuple[str, str]]:
    action = item.get("action") if isinstance(item, dict) else None
    if not isinstance(action, dict) or item.get("type") != "action":
        return [(f"{where}.action", "May not be empty")]
    where = f"{where}.action"
    limits = {"label": 20, "data": 300, "displayText": 300, "text": 300}
    required = {"postback": ("label", "data", "displayText"), "message": ("label", "text")}
    if action.get("type") not in required:
        return [(f"{where}.type", "The stand-in knows postback and message actions only")]
    problems = []
    for key in required[action["type"]]:
        value = action.get(key)
        if not isinstance(value, str) or not value:
            problems.append((f"{where}.{key}", "May not be empty"))
        elif _units(value) > limits[key]:
            problems.append((f"{where}.{key}", f"Length must be between 0 and {limits[key]}"))
    return problems


def _stamped(response: web.Response) -> web.Response:
    response.headers["x-line-request-id"] = str(uuid.uuid4())
    return response


def _error(exc: LineError) -> web.Response:
    return _stamped(web.json_response(exc.body, status=exc.status, headers=exc.headers))
