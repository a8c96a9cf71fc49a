"""What a Telegram message says, as the router reads it: its text, or a description of what
it holds without words (a location, a sticker, a contact, a poll: ``MessageKind.MEDIA``), the
``/start`` opener and the ``/help`` command.

``/start`` comes when a user presses the chat's Start button (or opens a
``t.me/<bot>?start=<payload>`` link, whose payload follows the command); it is the chat's
opener, which the router greets. Commands may name the bot (``/start@our_bot``). Other
commands are read as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from telegram import Message, User

from channels.base import Control, MessageKind
from channels.phone import InvalidPhoneNumber, normalize_phone

__all__ = ["SHARED_PHONE_TEXT", "Content", "content"]

SHARED_PHONE_TEXT = "Shared their phone number"
# What carries no text or file of ours: stored as a placeholder, so nobody thinks the
# customer sent nothing.
_OTHER_CONTENT = ("poll", "dice", "venue", "game", "story", "invoice", "giveaway", "paid_media")
# A bot command: "/name", "/name@bot_username", then anything after a space (a deep link's
# payload). Telegram's names are 1-32 of a-z, 0-9 and _.
_COMMAND = re.compile(r"/(?P<name>[A-Za-z0-9_]{1,32})(?:@\w+)?(?:\s+(?P<argument>.*))?$", re.S)


@dataclass(frozen=True)
class Content:
    """What a message says, as the router reads it."""

    text: str
    kind: MessageKind = MessageKind.TEXT
    control: Control | None = None
    phone: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def content(msg: Message, sender: User, *, has_files: bool) -> Content | None:
    """The text of a message, or a description of what it holds (a location, a sticker, a
    contact: ``MessageKind.MEDIA``); ``/start`` is the chat's opener and ``/help`` asks for
    help. None for a service message (someone joined, a pinned message): nothing to store."""
    text = msg.text or msg.caption or ""
    if msg.contact is not None:
        text, phone = _contact(msg, sender)
        return Content(text, MessageKind.MEDIA, phone=phone)
    if msg.location is not None:
        where = f"Shared a location: {msg.location.latitude}, {msg.location.longitude}"
        return Content(text or where, MessageKind.MEDIA)
    if msg.sticker is not None:
        return Content(text or msg.sticker.emoji or "[sticker]", MessageKind.MEDIA)
    if not text and not has_files:
        other = next((k for k in _OTHER_CONTENT if getattr(msg, k, None) is not None), None)
        return Content(f"[{other}]", MessageKind.MEDIA) if other is not None else None
    command = _command(msg.text) if msg.text else None
    if command is not None and command[0] == "start":
        # The chat's Start button, or a t.me/<bot>?start=<payload> link.
        meta = {"start_payload": command[1]} if command[1] else {}
        return Content(text, MessageKind.OPENER, meta=meta)
    if command is not None:  # /help
        return Content(text, control=Control.HELP)
    return Content(text)


def _contact(msg: Message, sender: User) -> tuple[str, str | None]:
    """A shared contact: the customer's own number (the "share my number" button) becomes
    ``phone``; someone else's card is only text."""
    contact = msg.contact
    assert contact is not None
    raw = contact.phone_number.strip()
    # Telegram sends international numbers without the "+"; read as national they would be
    # taken for US numbers.
    number = raw if raw.startswith("+") else f"+{raw}"
    if contact.user_id != sender.id:
        name = " ".join(filter(None, (contact.first_name, contact.last_name)))
        return f"Shared a contact: {name} {number}".strip(), None
    try:
        return SHARED_PHONE_TEXT, normalize_phone(number)
    except InvalidPhoneNumber:
        return f"{SHARED_PHONE_TEXT}: {raw}", None


def _command(text: str) -> tuple[str, str] | None:
    """``/start``, ``/help`` (also ``/start@OurBot`` and ``/start <payload>``): the command's
    name and what follows it; None for other text, and for commands we do not answer (they are
    read as text)."""
    found = _COMMAND.match(text.strip())
    if found is None or found["name"].lower() not in ("start", "help"):
        return None
    return found["name"].lower(), (found["argument"] or "").strip()
