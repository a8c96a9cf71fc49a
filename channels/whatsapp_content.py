"""What a WhatsApp message says, by type, as text and attachments (the inbound direction), and
the reply-button ids that carry a suggestion's full title both ways.

A location, contact cards or a type WhatsApp does not pass on are described in the text and
are ``MessageKind.MEDIA`` (nothing in words); ``request_welcome``, which WhatsApp sends when
someone opens a chat with the number for the first time (if welcome messages are switched on
for it), is the chat's opener (``MessageKind.OPENER``), which the router greets.

Button presses and list picks come back as the *title* shown, which is cut to 20 (buttons) or
24 (list rows) characters; so the id of each button we send is a prefix plus the full title,
and a press becomes that full title as text, as if the customer had typed it.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from typing import Any

from channels.base import Attachment, MessageKind

__all__ = ["HANDOFF_ID", "MEDIA_TYPES", "SUGGESTION_ID", "BadPayload", "Content", "content"]

SUGGESTION_ID = "s:"  # + the suggestion's full title
HANDOFF_ID = "h:"  # + the "talk to a person" label
MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")
WELCOME_TEXT = "Opened the chat for the first time"


class BadPayload(ValueError):
    """The webhook body is not what WhatsApp sends."""


@dataclass(frozen=True)
class Content:
    text: str
    attachments: tuple[Attachment, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    phones: tuple[tuple[str, str], ...] = ()  # (number, wa_id) from shared contact cards
    kind: MessageKind = MessageKind.TEXT


def content(kind: str, message: dict[str, Any], *, media_base: str) -> Content:
    """The text and attachments of one message of type ``kind``."""
    body = message.get(kind)
    part: dict[str, Any] = body if isinstance(body, dict) else {}
    if kind == "text":
        return Content(str(part.get("body") or ""))
    if kind in MEDIA_TYPES:
        return _media(kind, part, media_base)
    if kind == "interactive":
        return _interactive(part)
    if kind == "button":  # a template's quick-reply button
        return Content(
            str(part.get("text") or part.get("payload") or ""), meta=_kept(part, "payload")
        )
    if kind == "location":
        return _location(part)
    if kind == "contacts":
        return _contacts(body if isinstance(body, list) else [])
    if kind == "request_welcome":
        return Content(WELCOME_TEXT, kind=MessageKind.OPENER)
    return _unsupported(kind, message)


def picked(reply_id: str, title: str) -> str:
    """The text of a pressed button or picked row: the full title our id carries, else the
    title shown (a button someone else's template defined)."""
    for prefix in (SUGGESTION_ID, HANDOFF_ID):
        if reply_id.startswith(prefix) and len(reply_id) > len(prefix):
            return reply_id[len(prefix) :]
    return title


def _media(kind: str, part: dict[str, Any], media_base: str) -> Content:
    media_id = part.get("id")
    if not isinstance(media_id, str) or not media_id:
        raise BadPayload(f"a {kind} message has no media id")
    mime = str(part.get("mime_type") or "application/octet-stream")
    name = part.get("filename")
    if not isinstance(name, str) or not name:
        extension = mimetypes.guess_extension(mime.split(";")[0].strip()) or ""
        name = f"{kind}{extension}"
    attachment = Attachment(
        name=name,
        content_type=mime,
        size=int(part["file_size"]) if isinstance(part.get("file_size"), int) else 0,
        url=f"{media_base}/{media_id}",
    )
    kept = {"id": media_id, **_kept(part, "sha256", "voice", "animated")}
    return Content(str(part.get("caption") or ""), (attachment,), {"media": [kept]})


def _interactive(part: dict[str, Any]) -> Content:
    kind = part.get("type")
    reply = part.get(kind) if isinstance(kind, str) else None
    if not isinstance(reply, dict):
        raise BadPayload("an interactive message has no reply")
    if kind in ("button_reply", "list_reply"):
        reply_id, title = str(reply.get("id") or ""), str(reply.get("title") or "")
        return Content(picked(reply_id, title), meta={"reply_id": reply_id, "interactive": kind})
    # A WhatsApp Flow's answer ("nfm_reply"): the summary it shows, the answers kept.
    return Content(
        str(reply.get("body") or ""), meta={"interactive": kind, **_kept(reply, "response_json")}
    )


def _location(part: dict[str, Any]) -> Content:
    where = ", ".join(str(part[k]) for k in ("name", "address") if part.get(k))
    lat, lon = part.get("latitude"), part.get("longitude")
    point = f"{lat}, {lon}" if lat is not None and lon is not None else ""
    text = f"{where} ({point})" if where and point else where or point
    return Content(
        f"Location: {text}",
        meta={"location": _kept(part, "latitude", "longitude", "name", "address", "url")},
        kind=MessageKind.MEDIA,
    )


def _contacts(cards: list[Any]) -> Content:
    lines: list[str] = []
    phones: list[tuple[str, str]] = []
    kept: list[dict[str, Any]] = []
    for card in cards:
        if not isinstance(card, dict):
            continue
        name = _dict(card.get("name"))
        shown = str(name.get("formatted_name") or name.get("first_name") or "")
        numbers = [p for p in card.get("phones") or [] if isinstance(p, dict) and p.get("phone")]
        phones.extend((str(p["phone"]), str(p.get("wa_id") or "")) for p in numbers)
        listed = ", ".join(str(p["phone"]) for p in numbers)
        lines.append(f"Contact: {shown}" + (f" {listed}" if listed else ""))
        kept.append({"name": shown, "phones": [str(p["phone"]) for p in numbers]})
    return Content(
        "\n".join(lines), meta={"contacts": kept}, phones=tuple(phones), kind=MessageKind.MEDIA
    )


def _unsupported(kind: str, message: dict[str, Any]) -> Content:
    """Types WhatsApp does not pass on to businesses ("unsupported"), or new ones."""
    errors = message.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    reason = str(first.get("title") or kind)
    return Content(
        f"[unsupported WhatsApp message: {reason}]",
        meta={"unsupported": kind},
        kind=MessageKind.MEDIA,
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _kept(part: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: part[k] for k in keys if part.get(k) is not None}
