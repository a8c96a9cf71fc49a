"""Bot API updates as Telegram sends them, and webhook requests carrying them.

Telegram signs nothing: a webhook request is authenticated by the ``secret_token`` given to
setWebhook, sent back in ``X-Telegram-Bot-Api-Secret-Token``. The same update dicts feed
``FakeTelegram.push_update`` for long polling.

    customer = user(42, "Ana", "Silva", language_code="pt-br")
    body, headers = signed(SECRET, text_update("Oi", sender=customer))
    await client.post("/webhooks/telegram", data=body, headers=headers)
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Sequence
from typing import Any

from tests.fakes.telegram import SECRET_HEADER, FakeFile

_update_ids = itertools.count(10_000 + secrets.randbelow(10**6))
_message_ids = itertools.count(1)


def signed(secret: str | None, update: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of Telegram's POST of ``update`` (no secret header when None)."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    return json.dumps(update, ensure_ascii=False).encode(), headers


def user(
    user_id: int = 5_100_000_001,
    first_name: str = "Ana",
    last_name: str | None = "Silva",
    *,
    language_code: str | None = "en",
    username: str | None = "ana_s",
) -> dict[str, Any]:
    found = {
        "id": user_id,
        "is_bot": False,
        "first_name": first_name,
        "last_name": last_name,
        "username": username,
        "language_code": language_code,
    }
    return {key: value for key, value in found.items() if value is not None}


def private_chat(sender: dict[str, Any]) -> dict[str, Any]:
    chat: dict[str, Any] = {
        key: sender[key] for key in ("id", "first_name", "last_name", "username") if key in sender
    }
    return {**chat, "type": "private"}


def group_chat(chat_id: int = -1_001_234_567_890, title: str = "Customers") -> dict[str, Any]:
    return {"id": chat_id, "title": title, "type": "supergroup"}


def message_update(
    sender: dict[str, Any],
    *,
    chat: dict[str, Any] | None = None,
    update_id: int | None = None,
    message_id: int | None = None,
    kind: str = "message",
    **content: Any,
) -> dict[str, Any]:
    """An update carrying a message (``kind="edited_message"`` for an edit) with ``content``
    (text, photo, document, contact, caption, …)."""
    message = {
        "message_id": message_id if message_id is not None else next(_message_ids),
        "from": sender,
        "chat": chat or private_chat(sender),
        "date": int(time.time()),
        **content,
    }
    if kind == "edited_message":
        message["edit_date"] = message["date"] + 1
    return {"update_id": update_id if update_id is not None else next(_update_ids), kind: message}


def text_update(text: str, *, sender: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    return message_update(sender or user(), text=text, **kw)


def photo_update(
    sizes: Sequence[FakeFile], *, sender: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    """A photo in the sizes Telegram made of it, smallest first (as Telegram lists them)."""
    photo = [
        {
            "file_id": f.file_id,
            "file_unique_id": f.file_unique_id,
            "file_size": f.size,
            "width": 90 * 2**n,
            "height": 60 * 2**n,
        }
        for n, f in enumerate(sizes)
    ]
    return message_update(sender or user(), photo=photo, **kw)


def sticker_update(
    emoji: str = "😀", *, sender: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    """A sticker (no file of ours is downloaded for it: it stands for its emoji)."""
    sticker = {
        "file_id": "CAACAgIAAxkBAAE" + secrets.token_urlsafe(16),
        "file_unique_id": "AgAD" + secrets.token_urlsafe(6),
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": emoji,
        "set_name": "HotCherry",
        "file_size": 24_000,
    }
    return message_update(sender or user(), sticker=sticker, **kw)


def document_update(
    file: FakeFile,
    file_name: str,
    mime_type: str,
    *,
    sender: dict[str, Any] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    document = {
        "file_id": file.file_id,
        "file_unique_id": file.file_unique_id,
        "file_name": file_name,
        "mime_type": mime_type,
        "file_size": file.size,
    }
    return message_update(sender or user(), document=document, **kw)


def contact_update(
    phone_number: str,
    *,
    sender: dict[str, Any] | None = None,
    owner: dict[str, Any] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """A shared contact: the sender's own (the "share my phone number" button) unless
    ``owner`` is someone else. Telegram sends the number without "+" for one's own."""
    sender = sender or user()
    owner = owner or sender
    contact = {
        "phone_number": phone_number,
        "first_name": owner["first_name"],
        "user_id": owner["id"],
    }
    if "last_name" in owner:
        contact["last_name"] = owner["last_name"]
    return message_update(sender, contact=contact, **kw)


def callback_update(
    data: str,
    *,
    message: dict[str, Any] | None,
    sender: dict[str, Any] | None = None,
    update_id: int | None = None,
) -> dict[str, Any]:
    """A press of an inline button with ``data`` on ``message`` (the bot's message, as the
    stand-in answered sendMessage; None when it is no longer accessible)."""
    sender = sender or user()
    query: dict[str, Any] = {
        "id": str(secrets.randbelow(10**19)),
        "from": sender,
        "chat_instance": str(-secrets.randbelow(10**18)),
        "data": data,
    }
    if message is not None:
        query["message"] = {**message, "chat": private_chat(sender)}
    return {
        "update_id": update_id if update_id is not None else next(_update_ids),
        "callback_query": query,
    }


def blocked_update(
    sender: dict[str, Any] | None = None, *, bot_id: int = 7_000_000_001
) -> dict[str, Any]:
    """``my_chat_member``: the user blocked the bot (a status change, never a message)."""
    sender = sender or user()
    bot = {
        "id": bot_id,
        "is_bot": True,
        "first_name": "Switchboard",
        "username": "switchboard_test_bot",
    }
    return {
        "update_id": next(_update_ids),
        "my_chat_member": {
            "chat": private_chat(sender),
            "from": sender,
            "date": int(time.time()),
            "old_chat_member": {"user": bot, "status": "member"},
            "new_chat_member": {"user": bot, "status": "kicked", "until_date": 0},
        },
    }
