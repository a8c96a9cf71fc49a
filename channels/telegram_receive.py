"""Telegram's inbound side: Bot API updates, by webhook or by long polling, as InboundMessages.

Only private chats are read: there the chat id is the user's id and is the address. Updates
from groups, supergroups and channels, edited messages, service messages and anything that is
not a message or a button press are logged and dropped (the Bot API has no delivery or read
receipts for bots, so ``report`` is never called).

Files (photos at their largest size, documents, voice, audio, video, animations) are downloaded
through getFile while the update is read and handed over as ``Attachment.data``: the Bot API's
file URL holds the bot token and expires after an hour, so it is never stored. A file over
``attachment_max_bytes`` (or the Bot API's 20 MB) is listed as omitted; when the download fails
for a reason a retry can cure, the update is refused (webhook: 503, Telegram redelivers;
polling: the offset stays and the update is read again). What a message says (its text, what
it holds without words, the ``/start`` opener and ``/help``) is ``channels.telegram_content``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from telegram import CallbackQuery, Message, Update, User

from channels.base import Attachment, InboundMessage
from channels.errors import ChannelError, PermanentChannelError
from channels.intake import store_each
from channels.telegram_api import FILE_DOWNLOAD_LIMIT, TelegramApi, button_title
from channels.telegram_content import content
from routing.ingest import BadJson, load_json

__all__ = [
    "CHANNEL",
    "MalformedUpdate",
    "Received",
    "TelegramPoller",
    "TelegramWebhooks",
    "UpdateReader",
    "parse_update",
]

CHANNEL = "telegram"
log = logging.getLogger("switchboard.telegram")
Handle = Callable[[InboundMessage], Awaitable[Any]]


class MalformedUpdate(ValueError):
    """The body is not a Bot API update we can read (answered with 400)."""


@dataclass(frozen=True)
class Received:
    message: InboundMessage
    callback_query_id: str | None = None  # a button press to answer (answerCallbackQuery)


def parse_update(data: object) -> Update | None:
    """The update, if it is a message or a button press (else None, logged).

    Only those two are parsed: a kind we ignore can never be refused for its shape, which
    would make Telegram redeliver it for a day.
    """
    if not isinstance(data, dict):
        raise MalformedUpdate("the body must be a JSON object (a Telegram Update)")
    update_id = data.get("update_id")
    if not isinstance(update_id, int):
        raise MalformedUpdate("update_id is missing or not an integer")
    wanted = {key: data[key] for key in ("message", "callback_query") if key in data}
    if not wanted:
        kind = next((key for key in data if key != "update_id"), "empty")
        _ignored(update_id, kind)
        return None
    try:
        return Update.de_json({"update_id": update_id, **wanted}, None)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedUpdate(f"not a Telegram update: {type(exc).__name__}: {exc}") from None


class UpdateReader:
    """Turns one update into what the router stores, downloading its files."""

    def __init__(self, api: TelegramApi, *, attachment_max_bytes: int) -> None:
        self._api = api
        self._max_bytes = min(attachment_max_bytes, FILE_DOWNLOAD_LIMIT)

    async def read(self, update: Update) -> Received | None:
        """None for updates that are not a customer's message (logged).

        Raises:
            MalformedUpdate: a message without the fields every message has.
            TransientChannelError: a file could not be downloaded, for now.
        """
        if update.message is not None:
            message = await self._from_message(update.update_id, update.message)
            return Received(message) if message else None
        if update.callback_query is not None:
            return self._from_press(update.update_id, update.callback_query)
        kind = next((str(t) for t in Update.ALL_TYPES if getattr(update, t, None) is not None), "")
        _ignored(update.update_id, kind or next(iter(update.api_kwargs), "unknown"))
        return None

    async def _from_message(self, update_id: int, msg: Message) -> InboundMessage | None:
        sender = msg.from_user
        if msg.chat is None or not isinstance(msg.message_id, int):
            raise MalformedUpdate("message.chat or message.message_id is missing")
        if msg.chat.type != "private" or sender is None or sender.is_bot:
            _ignored(update_id, f"{msg.chat.type} chat message")
            return None
        attachments = await self._attachments(msg)
        said = content(msg, sender, has_files=bool(attachments))
        if said is None:
            _ignored(update_id, "service message")
            return None
        return InboundMessage(
            channel=CHANNEL,
            address=str(msg.chat.id),
            text=said.text,
            external_id=f"{msg.chat.id}:{msg.message_id}",
            display_name=_name(sender),
            locale=_locale(sender),
            control=said.control,
            phone=said.phone,
            attachments=attachments,
            kind=said.kind,
            meta=_meta(sender, update_id) | said.meta | {"message_id": msg.message_id},
        )

    def _from_press(self, update_id: int, query: CallbackQuery) -> Received | None:
        sender = query.from_user
        pressed_on = query.message if isinstance(query.message, Message) else None
        if pressed_on is not None and pressed_on.chat.type != "private":
            _ignored(update_id, f"{pressed_on.chat.type} chat button press")
            return None
        if query.data is None:  # a game's button: nothing of ours
            _ignored(update_id, "callback query without data")
            return None
        markup = pressed_on.reply_markup if pressed_on is not None else None
        keyboard = markup.inline_keyboard if markup is not None else ()
        message = InboundMessage(
            channel=CHANNEL,
            address=str(sender.id),  # in a private chat the chat id is the user's id
            text=button_title(query.data, keyboard),
            external_id=f"cb:{query.id}",
            display_name=_name(sender),
            locale=_locale(sender),
            meta=_meta(sender, update_id) | {"callback_data": query.data},
        )
        return Received(message, callback_query_id=query.id)

    async def _attachments(self, msg: Message) -> tuple[Attachment, ...]:
        files: list[tuple[Any, str, str]] = []  # (file object, name, default content type)
        if msg.photo:
            files.append((msg.photo[-1], f"photo-{msg.message_id}.jpg", "image/jpeg"))
        for kind, default_type, extension in (
            ("document", "application/octet-stream", ""),
            ("video", "video/mp4", ".mp4"),
            ("animation", "video/mp4", ".mp4"),
            ("audio", "audio/mpeg", ".mp3"),
            ("voice", "audio/ogg", ".ogg"),
            ("video_note", "video/mp4", ".mp4"),
        ):
            item = getattr(msg, kind, None)
            if kind == "document" and msg.animation is not None:
                continue  # a GIF comes as both "animation" and "document": one file
            if item is not None:
                name = getattr(item, "file_name", None) or f"{kind}-{msg.message_id}{extension}"
                files.append((item, name, default_type))
        return tuple([await self._attachment(*file) for file in files])

    async def _attachment(self, item: Any, name: str, default_type: str) -> Attachment:
        content_type = getattr(item, "mime_type", None) or default_type
        size = item.file_size or 0
        if size > self._max_bytes:
            return Attachment(name, content_type, size, omitted=True)
        try:
            data = await self._api.download(item.file_id)
        except PermanentChannelError as exc:  # "file is too big", an expired file id
            log.warning("telegram_file_unavailable", extra={"fields": {"error": str(exc)}})
            return Attachment(name, content_type, size, omitted=True)
        if len(data) > self._max_bytes:
            return Attachment(name, content_type, len(data), omitted=True)
        return Attachment(name, content_type, len(data), data=data)


def _name(user: User) -> str | None:
    return " ".join(filter(None, (user.first_name, user.last_name))).strip() or None


def _locale(user: User) -> str | None:
    """The two-letter language of the user's Telegram app ("pt-br" → "pt")."""
    language = (user.language_code or "").split("-")[0].lower()
    return language if len(language) == 2 and language.isalpha() else None


def _meta(user: User, update_id: int) -> dict[str, Any]:
    return {"update_id": update_id, "user_id": user.id, "username": user.username}


def _ignored(update_id: int, kind: str) -> None:
    log.info("telegram_update_ignored", extra={"fields": {"update_id": update_id, "kind": kind}})


class TelegramWebhooks:
    """``POST /webhooks/telegram``: updates Telegram pushes once ``set_webhook`` pointed it here.

    Each request must carry ``X-Telegram-Bot-Api-Secret-Token`` equal to ``webhook_secret``
    (else 403). A message is stored before the 200; when it cannot be, Telegram gets 503 and
    redelivers. A button press is answered in the webhook's reply (``answerCallbackQuery``).
    """

    PATH = "/webhooks/telegram"
    SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

    def __init__(
        self,
        *,
        handle: Handle,
        report: Callable[..., Awaitable[bool]],
        token: str,
        webhook_secret: str,
        api_base_url: str,
        attachment_max_bytes: int = 10 * 1024 * 1024,
        timeout: float = 15.0,
    ) -> None:
        if not webhook_secret:
            raise ValueError("the Telegram webhook needs a secret")
        self._handle = handle
        self._report = report  # the Bot API has no delivery or read receipts for bots
        self._secret = webhook_secret.encode()
        self._api = TelegramApi(token=token, api_base_url=api_base_url, timeout=timeout)
        self._reader = UpdateReader(self._api, attachment_max_bytes=attachment_max_bytes)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(self.PATH, self.receive)
        app.on_cleanup.append(self._close)

    async def _close(self, app: web.Application) -> None:
        await self._api.close()

    async def receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(self.SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            log.warning("telegram_secret_refused", extra={"fields": {"given": bool(given)}})
            return _error(403, "bad_secret", f"{self.SECRET_HEADER} does not match")
        try:
            update = parse_update(load_json(await request.read()))
            received = await self._reader.read(update) if update is not None else None
        except BadJson as exc:  # Telegram stops redelivering on a 4xx
            return _error(400, exc.code, exc.message)
        except ValueError as exc:  # MalformedUpdate
            return _error(400, "bad_update", str(exc))
        except ChannelError as exc:
            log.warning("telegram_file_download_failed", extra={"fields": {"error": str(exc)}})
            return _error(503, "unavailable", "could not download the message's files")
        if received is None:
            return web.Response()
        if not await store_each([received.message], self._handle, log, "telegram"):
            return _error(503, "unavailable", "could not store the message")  # redelivered
        if received.callback_query_id is None:
            return web.Response()
        # The Bot API runs a method given as the webhook's reply: stops the button's spinner.
        return web.json_response(
            {"method": "answerCallbackQuery", "callback_query_id": received.callback_query_id}
        )


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class TelegramPoller:
    """Long polling (getUpdates) instead of a webhook, for a machine without a public URL.

    ``run`` deletes any webhook first (Telegram refuses getUpdates while one is set; pending
    updates are kept), then reads updates in order. The offset, which tells Telegram an update
    may be forgotten, moves past an update only once ``handle`` has stored it: an update whose
    handling fails is read again after a backoff (doubling from ``backoff`` up to
    ``max_backoff``, or Telegram's retry_after). Runs until cancelled.
    """

    def __init__(
        self,
        *,
        handle: Handle,
        token: str,
        api_base_url: str,
        poll_timeout: int = 30,
        attachment_max_bytes: int = 10 * 1024 * 1024,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        timeout: float = 15.0,
    ) -> None:
        if poll_timeout < 0 or backoff <= 0 or max_backoff < backoff:
            raise ValueError("poll_timeout >= 0 and 0 < backoff <= max_backoff, please")
        self._handle = handle
        self._new_api = lambda: TelegramApi(token=token, api_base_url=api_base_url, timeout=timeout)
        self._new_api()  # checks the token and URL now, not on the first poll
        self._poll_timeout = poll_timeout
        self._max_bytes = attachment_max_bytes
        self._backoff = (backoff, max_backoff)

    async def run(self) -> None:
        api = self._new_api()  # one HTTP client per run, closed when it ends
        reader = UpdateReader(api, attachment_max_bytes=self._max_bytes)
        offset: int | None = None
        webhook_deleted = False
        failures = 0
        try:
            while True:
                try:
                    if not webhook_deleted:
                        await api.delete_webhook()
                        webhook_deleted = True
                        log.info("telegram_polling_started")
                    for update in await api.get_updates(offset, self._poll_timeout):
                        await self._process(api, reader, update)
                        offset = update.update_id + 1
                    failures = 0
                # The polling loop is this channel's boundary, as the webhook handler is: any
                # failure (Telegram, the database behind ``handle``) is retried, never fatal.
                except Exception as exc:
                    failures += 1
                    delay = self._delay(exc, failures)
                    log.warning(
                        "telegram_poll_failed",
                        extra={
                            "fields": {"error": str(exc) or type(exc).__name__, "retry_in": delay}
                        },
                    )
                    await asyncio.sleep(delay)
        finally:
            await api.close()

    async def _process(self, api: TelegramApi, reader: UpdateReader, update: Update) -> None:
        try:
            received = await reader.read(update)
        except MalformedUpdate as exc:  # can never succeed: skipped, or it blocks the queue
            log.warning(
                "telegram_update_unreadable",
                extra={"fields": {"update_id": update.update_id, "error": str(exc)}},
            )
            return
        if received is None:
            return
        await self._handle(received.message)
        if received.callback_query_id is not None:
            try:
                await api.answer_callback_query(received.callback_query_id)
            except ChannelError as exc:  # the press is stored; only the spinner stays longer
                log.warning("telegram_answer_failed", extra={"fields": {"error": str(exc)}})

    def _delay(self, exc: Exception, failures: int) -> float:
        first, most = self._backoff
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(exc, ChannelError) and isinstance(retry_after, float | int):
            return min(float(retry_after), most)
        return min(first * 2 ** (failures - 1), most)
