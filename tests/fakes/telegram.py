"""A local stand-in for the Telegram Bot API, speaking its wire format, and updates as Telegram
pushes them to a webhook.

It answers ``/bot<token>/<method>`` (query string, form, multipart or JSON parameters, as the
real API takes them) with the ``{"ok": true, "result": …}`` envelope, and errors as
``{"ok": false, "error_code": …, "description": …, "parameters": {"retry_after": …}}``.
Methods: getMe, sendMessage, answerCallbackQuery, setWebhook, deleteWebhook, getWebhookInfo,
getUpdates (long polling, offsets confirm) and getFile, plus file downloads from
``/file/bot<token>/<path>``. It records what it accepted and can be told to fail.

    async with FakeTelegram() as telegram:
        api = TelegramApi(token=telegram.token, api_base_url=telegram.base_url)
        body, headers = signed(SECRET, text_update("hi", sender=user(42)))
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.server import LocalServer, free_port, next_failure

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]{35}")
_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
    500: "Internal Server Error",
}
BAD_GATEWAY = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"


@dataclass(frozen=True)
class Sent:
    """One message the stand-in accepted: the parsed fields, the raw parameters as they came,
    and the Message it answered with (what a callback query quotes)."""

    chat_id: int
    text: str
    reply_markup: dict[str, Any] | None
    message: dict[str, Any]
    payload: dict[str, Any]

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) of every inline button, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]


@dataclass(frozen=True)
class FakeFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class Failure:
    status: int
    body: dict[str, Any] | None = None
    retry_after: int | None = None
    after: int = 0  # requests to let through first


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        description: str = "",
        retry_after: int | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.status, self.description = status, description
        self.retry_after, self.body = retry_after, body


class FakeTelegram(LocalServer):
    def __init__(self, token: str | None = None) -> None:
        self.bot_id = 7000000000 + secrets.randbelow(10**8)
        self.token = token or f"{self.bot_id}:AA{secrets.token_urlsafe(25)[:33]}"
        self.port = free_port()
        self.sent: list[Sent] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []  # (method, parameters), accepted ones
        self.answered: list[str] = []  # callback query ids
        self.webhook: dict[str, Any] | None = None
        self.blocked: set[int] = set()  # chats whose user blocked the bot
        self.files: dict[str, FakeFile] = {}
        self.updates: list[dict[str, Any]] = []  # pending: not yet confirmed by an offset
        self.downloads = 0
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._new_update = asyncio.Event()
        self._failures: deque[Failure] = deque()
        self._outage: int | None = None
        self._runner: web.AppRunner | None = None

    # --- controls ----------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        body: dict[str, Any] | None = None,
        retry_after: int | None = None,
        *,
        after: int = 0,
    ) -> None:
        """The next API request (or the one after ``after`` more that succeed) fails with
        ``status`` and Telegram's error envelope (``body`` replaces it). Calls queue up."""
        self._failures.append(Failure(status, body, retry_after, after))

    def rate_limit(self, n: int = 1, retry_after: int = 3) -> None:
        """The next ``n`` requests get 429 "Too Many Requests: retry after N"."""
        self._failures.extend(Failure(429, None, retry_after) for _ in range(n))

    def outage(self, status: int = 502) -> None:
        """Every request (downloads too) fails until ``recover()``: 502 is nginx's HTML page."""
        self._outage = status

    def recover(self) -> None:
        self._outage = None
        self._failures.clear()

    def add_file(self, data: bytes, path: str = "documents/file.bin") -> FakeFile:
        """A file a user uploaded, for getFile and download."""
        folder, _, name = path.rpartition("/")
        n = len(self.files)
        file = FakeFile(
            file_id=f"BQACAgIAAxkBAAI{secrets.token_urlsafe(24)}",
            file_unique_id=f"AgAD{secrets.token_urlsafe(8)}",
            file_path=f"{folder or 'documents'}/file_{n}{name[name.rfind('.') :] if '.' in name else ''}",
            data=data,
        )
        self.files[file.file_id] = file
        return file

    def push_update(self, update: dict[str, Any]) -> None:
        """An update for getUpdates (what Telegram queues while no webhook is set)."""
        self.updates.append(update)
        self._new_update.set()

    # --- lifecycle ---------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)

    def stopping(self) -> None:
        self._new_update.set()  # ends any long poll, else cleanup waits for it

    # --- the API -----------------------------------------------------------------------------

    async def _method(self, request: web.Request) -> web.Response:
        if self._outage == 502:
            return web.Response(status=502, text=BAD_GATEWAY, content_type="text/html")
        try:
            self._check(request)
            handler = self._methods().get(request.match_info["method"].lower())
            if handler is None:
                raise ApiError(404, "Not Found")
            params = await _params(request)
            result = await handler(params)
        except ApiError as exc:
            return _error(exc)
        self.calls.append((request.match_info["method"], params))
        return web.json_response({"ok": True, "result": result})

    def _methods(self) -> dict[str, Any]:
        return {
            "getme": self._get_me,
            "sendmessage": self._send_message,
            "answercallbackquery": self._answer,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._webhook_info,
            "getupdates": self._get_updates,
            "getfile": self._get_file,
        }

    def _check(self, request: web.Request) -> None:
        """Token, then injected failures, as the real API orders them."""
        token = request.match_info["token"]
        if not secrets.compare_digest(token.encode(), self.token.encode()):
            raise ApiError(401 if _TOKEN_SHAPE.fullmatch(token) else 404, _DESCRIPTIONS[401])
        if self._outage is not None:
            raise ApiError(self._outage)
        failure = next_failure(self._failures)
        if failure is not None:
            retry = failure.retry_after or (3 if failure.status == 429 else None)
            text = f"Too Many Requests: retry after {retry}" if failure.status == 429 else ""
            raise ApiError(failure.status, text, retry, failure.body)

    async def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Switchboard",
            "username": "switchboard_test_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _int(params, "chat_id")
        text = str(params.get("text", ""))
        markup = _json(params, "reply_markup")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                if not 1 <= len(button.get("callback_data", "x").encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                if not button.get("text"):
                    raise ApiError(
                        400, "Bad Request: text buttons are unallowed in the inline keyboard"
                    )
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        ids = self._message_ids.setdefault(chat_id, itertools.count(1))
        message: dict[str, Any] = {
            "message_id": next(ids),
            "from": {**(await self._get_me({})), "is_bot": True},
            "chat": {"id": chat_id, "first_name": "Customer", "type": "private"},
            "date": int(time.time()),
            "text": text,
        }
        if markup:
            message["reply_markup"] = markup
        self.sent.append(Sent(chat_id, text, markup, message, dict(params)))
        return message

    async def _answer(self, params: dict[str, Any]) -> bool:
        if not params.get("callback_query_id"):
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self.answered.append(str(params["callback_query_id"]))
        return True

    async def _set_webhook(self, params: dict[str, Any]) -> bool:
        url, secret = str(params.get("url", "")), params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if url and not url.startswith(("https://", "http://127.0.0.1")):
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        self.webhook = (
            {
                "url": url,
                "secret_token": secret,
                "allowed_updates": _json(params, "allowed_updates"),
            }
            if url
            else None
        )
        return True

    async def _delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self.updates.clear()
        return True

    async def _webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
        }

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(409, _DESCRIPTIONS[409])
        offset = _int(params, "offset", 0)
        if offset > 0:  # confirms every update before it
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        timeout = min(_int(params, "timeout", 0), 50)
        if not self.updates and timeout:
            self._new_update.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._new_update.wait()
            except TimeoutError:
                pass
        return [u for u in self.updates if u["update_id"] >= offset][: _int(params, "limit", 100)]

    async def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        file = self.files.get(str(params.get("file_id", "")))
        if file is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if file.size > 20 * 1024 * 1024:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": file.file_id,
            "file_unique_id": file.file_unique_id,
            "file_size": file.size,
            "file_path": file.file_path,
        }

    async def _download(self, request: web.Request) -> web.Response:
        if self._outage is not None:
            return web.Response(status=502, text=BAD_GATEWAY, content_type="text/html")
        token, path = request.match_info["token"], request.match_info["path"]
        file = next((f for f in self.files.values() if f.file_path == path), None)
        if token != self.token or file is None:
            return _error(ApiError(404, "Not Found"))
        self.downloads += 1
        return web.Response(body=file.data, content_type="application/octet-stream")


async def _params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.content_type == "application/json":
        body = await request.json()
        if not isinstance(body, dict):
            raise ApiError(400, "Bad Request: parameters must be an object")
        params.update(body)
    elif request.method == "POST":
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def _int(params: dict[str, Any], name: str, default: int | None = None) -> int:
    value = params.get(name, default)
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        if value is None:
            raise ApiError(400, f"Bad Request: {name} is empty") from None
        raise ApiError(400, f"Bad Request: invalid {name} specified") from None


def _json(params: dict[str, Any], name: str) -> Any:
    """Structured parameters arrive JSON-serialized in forms and queries."""
    value = params.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(400, f"Bad Request: can't parse {name} JSON object") from None
    return value


def _error(exc: ApiError) -> web.Response:
    description = exc.description or _DESCRIPTIONS.get(exc.status, "Internal Server Error")
    body: dict[str, Any] = {"ok": False, "error_code": exc.status, "description": description}
    headers = {}
    if exc.retry_after is not None:
        body["parameters"] = {"retry_after": exc.retry_after}
        headers["Retry-After"] = str(exc.retry_after)
    return web.json_response(exc.body or body, status=exc.status, headers=headers)
