"""The few Telegram Bot API calls Switchboard makes, through python-telegram-bot, with failures
in our own error hierarchy, plus the inline-button codec both directions share.

Things about the library and the API that shape this module:

- ``Bot(token, base_url=f"{api_base_url}/bot")``: the library appends the token, then
  ``/<method>``; files come from ``{api_base_url}/file/bot<token>/<file_path>``. Both URLs hold
  the token, so they are never logged or stored (attachments are downloaded, see
  ``channels.telegram_receive``).
- httpx logs every request's URL, token included, at INFO: its logger is raised to WARNING
  unless someone configured it.
- PTB 22.2+ emits a deprecation warning whenever it builds a ``RetryAfter`` (its constructor
  reads its own deprecated ``retry_after``): an error under ``-W error``, noise otherwise. So
  the transport (``_Transport``) turns a 429 into ``FloodWait`` before PTB sees it, reading
  ``parameters.retry_after`` from the body as PTB would.
- PTB rewrites error texts: "Bad Request: chat not found" becomes "Chat not found" (prefix
  dropped, the rest lower-cased). ``BadRequest`` subclasses ``NetworkError``: the order of
  the checks in ``_mapped`` matters.
- The bot's HTTP clients are ours (``HTTPXRequest``), built on first use and shut down by
  ``close``, so ``Bot.initialize`` (a getMe round trip) is never needed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, ChatMigrated, Forbidden, TelegramError
from telegram.request import HTTPXRequest

from channels.buttons import handoff_label
from channels.errors import ChannelError, PermanentChannelError, TransientChannelError

__all__ = [
    "ALLOWED_UPDATES",
    "CALLBACK_DATA_LIMIT",
    "DEFAULT_API_BASE_URL",
    "FILE_DOWNLOAD_LIMIT",
    "TEXT_LIMIT",
    "FloodWait",
    "TelegramApi",
    "TelegramRejected",
    "button_title",
    "handoff_data",
    "set_webhook",
    "suggestion_data",
]

DEFAULT_API_BASE_URL = "https://api.telegram.org"
TEXT_LIMIT = 4096  # characters of one message, counted here as UTF-16 code units
CALLBACK_DATA_LIMIT = 64  # bytes of an inline button's callback_data
FILE_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile refuses larger files ("file is too big")
ALLOWED_UPDATES = ("message", "callback_query")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what setWebhook accepts as secret_token
_T = TypeVar("_T")
log = logging.getLogger("switchboard.telegram")


class TelegramRejected(PermanentChannelError):
    """Telegram refused the request (400 Bad Request, 403 Forbidden): retrying cannot help."""


class FloodWait(TelegramError):
    """A 429, with Telegram's ``parameters.retry_after`` (seconds) when it gave one."""

    def __init__(self, payload: bytes) -> None:
        try:
            body = json.loads(payload)
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        super().__init__(str(body.get("description") or "Too Many Requests"))
        value = (body.get("parameters") or {}).get("retry_after")
        self.retry_after = float(value) if isinstance(value, int | float) else None


class _Transport(HTTPXRequest):
    """PTB's httpx transport, but a 429 raises ``FloodWait`` (see the module doc)."""

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(*args, **kwargs)
        if code == 429:
            raise FloodWait(payload)
        return code, payload


class TelegramApi:
    """The Bot API at ``api_base_url`` (a local stand-in in tests). No I/O until first used."""

    def __init__(
        self, *, token: str, api_base_url: str = DEFAULT_API_BASE_URL, timeout: float = 15.0
    ) -> None:
        if not token:
            raise ValueError("Telegram needs the bot token BotFather gave")
        parts = urlsplit(api_base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"Telegram API base URL {api_base_url!r} must be an http(s) URL")
        if timeout <= 0:
            raise ValueError("Telegram timeout must be positive")
        self.api_base_url = api_base_url.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._requests: tuple[_Transport, _Transport] | None = None
        self._bot: Bot | None = None
        self._closed = False

    def bot(self) -> Bot:
        if self._closed:
            raise TransientChannelError("the Telegram client is closed (shutting down)")
        if self._bot is None:
            httpx_log = logging.getLogger("httpx")
            if httpx_log.level == logging.NOTSET:
                httpx_log.setLevel(logging.WARNING)  # its INFO lines carry the token
            polling, other = self._http(pool=1), self._http(pool=256)
            self._requests = (polling, other)
            self._bot = Bot(
                self._token,
                base_url=f"{self.api_base_url}/bot",
                base_file_url=f"{self.api_base_url}/file/bot",
                request=other,
                get_updates_request=polling,
            )
        return self._bot

    def _http(self, *, pool: int) -> _Transport:
        t = self._timeout
        return _Transport(
            connection_pool_size=pool,
            read_timeout=t,
            write_timeout=t,
            connect_timeout=t,
            pool_timeout=t,
        )

    async def send_message(
        self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> Message:
        return await self._call(
            "send message", lambda bot: bot.send_message(chat_id, text, reply_markup=markup)
        )

    async def answer_callback_query(self, query_id: str) -> None:
        await self._call("answer callback query", lambda bot: bot.answer_callback_query(query_id))

    async def download(self, file_id: str) -> bytes:
        """A file a user sent, through getFile and the file endpoint."""
        file = await self._call("get file", lambda bot: bot.get_file(file_id))
        data = await self._call("download file", lambda bot: file.download_as_bytearray())
        return bytes(data)

    async def get_updates(self, offset: int | None, poll_timeout: int) -> tuple[Update, ...]:
        return await self._call(
            "get updates",
            lambda bot: bot.get_updates(
                offset=offset, timeout=poll_timeout, allowed_updates=list(ALLOWED_UPDATES)
            ),
            limit=poll_timeout + self._timeout,
        )

    async def delete_webhook(self) -> None:
        await self._call("delete webhook", lambda bot: bot.delete_webhook())

    async def set_webhook(self, url: str, secret: str) -> None:
        await self._call(
            "set webhook",
            lambda bot: bot.set_webhook(
                url=url, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES)
            ),
        )

    async def close(self) -> None:
        """Close the HTTP clients. Later calls raise TransientChannelError."""
        self._closed = True
        requests, self._requests, self._bot = self._requests, None, None
        if requests is not None:
            await asyncio.gather(*(request.shutdown() for request in requests))

    async def _call(
        self, what: str, request: Callable[[Bot], Awaitable[_T]], *, limit: float | None = None
    ) -> _T:
        bot = self.bot()
        try:
            async with asyncio.timeout(limit or self._timeout):
                return await request(bot)
        except TelegramError as exc:
            raise self._mapped(what, exc) from None
        except TimeoutError:
            raise TransientChannelError(
                f"Telegram did not answer {what} within {limit or self._timeout:g}s"
            ) from None

    def _mapped(self, what: str, exc: TelegramError) -> ChannelError:
        # Error texts can quote the URL; the URL holds the token.
        text = exc.message.replace(self._token, "<token>")
        message = f"Telegram {what}: {text}"
        if isinstance(exc, FloodWait):
            return TransientChannelError(message, retry_after=exc.retry_after)
        if isinstance(exc, BadRequest | Forbidden | ChatMigrated):
            return TelegramRejected(message)
        # InvalidToken (401/404: retry once an operator fixes the token), Conflict (another
        # poller or a webhook), TimedOut, NetworkError (5xx, refused connections, unreadable
        # bodies).
        return TransientChannelError(message)


async def set_webhook(*, token: str, api_base_url: str, url: str, secret: str) -> None:
    """Point the bot's updates at ``url`` (``…/webhooks/telegram``), each carrying ``secret``
    in ``X-Telegram-Bot-Api-Secret-Token``. Telegram only calls HTTPS URLs on ports 443, 80,
    88 or 8443.

    Raises:
        ValueError: ``secret`` has characters Telegram refuses (it allows A-Z a-z 0-9 _ -).
        ChannelError: Telegram refused the URL or could not be reached.
    """
    if not _SECRET.fullmatch(secret):
        raise ValueError(
            "the Telegram webhook secret must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
        )
    api = TelegramApi(token=token, api_base_url=api_base_url)
    try:
        await api.set_webhook(url, secret)
    finally:
        await api.close()
    log.info("telegram_webhook_set", extra={"fields": {"url": url}})


# --- inline buttons ------------------------------------------------------------------------
# callback_data is at most 64 bytes and comes back alone with the press, so a button carries
# what it needs: "h:<locale>" for the handoff button, "t:<title>" when the title fits, else
# "s:<article id>", whose title is read back from the keyboard of the message pressed (a
# CallbackQuery carries that message). Nothing is kept in memory: any process can read a press.


def handoff_data(locale: str | None) -> str:
    return _fit_bytes(f"h:{(locale or 'en').split('-')[0]}")


def suggestion_data(article_id: str, title: str) -> str:
    data = f"t:{title}"
    if len(data.encode()) <= CALLBACK_DATA_LIMIT:
        return data
    return _fit_bytes(f"s:{article_id}")


def button_title(data: str, keyboard: Sequence[Sequence[InlineKeyboardButton]]) -> str:
    """The text a press of the button with ``data`` stands for."""
    kind, _, value = data.partition(":")
    if kind == "h":
        return handoff_label(value or None)
    if kind == "t":
        return value
    for row in keyboard:
        for button in row:
            if button.callback_data == data:
                return button.text
    return value if kind == "s" else data  # the message is gone: the article id is all we have


def _fit_bytes(text: str) -> str:
    """``text`` cut to CALLBACK_DATA_LIMIT bytes of UTF-8 on a character boundary."""
    return text.encode()[:CALLBACK_DATA_LIMIT].decode(errors="ignore")
