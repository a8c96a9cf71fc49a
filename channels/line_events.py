"""LINE webhook payloads → ``InboundMessage``s, and the postback data our buttons carry.

A webhook POST is ``{"destination": <bot user id>, "events": [...]}``, with several events at
times. Customer messages are ``message`` events (text, image, video, audio, file, sticker,
location; a sticker or a location is ``MessageKind.MEDIA``, described in the text) and
``postback`` events (a button press). A ``follow`` event (the user added the account as a
friend, or unblocked it) is the chat's opener (``MessageKind.OPENER``), which the router greets
with a reply on the event's token. Everything else (unfollow, unsend, join, leave, beacon, …)
is no customer message and is skipped with a log line: nothing is sent to a user who blocked
the account.

Only one-to-one chats are handled (``source.type == "user"``): events from groups and
multi-person chats are skipped, because a reply pushed to the user would land in a private
chat they never opened, and a group is no customer. LINE's old console "Verify" sent message
events with dummy reply tokens (all zeros, all f's); those are skipped too.
"""

from __future__ import annotations

import json
import logging
import mimetypes
from collections.abc import Mapping
from typing import Any

from channels.base import Attachment, InboundMessage, MessageKind
from channels.text import sms_length as _units  # UTF-16 units: an emoji counts two
from routing.ingest import BadJson, load_json

__all__ = ["CHANNEL", "PayloadError", "encode_postback", "inbound_messages", "read_postback"]

CHANNEL = "line"
FOLLOWED_TEXT = "Added the LINE account as a friend"
UNBLOCKED_TEXT = "Unblocked the LINE account"
log = logging.getLogger("switchboard.line")

_DUMMY_REPLY_TOKENS = frozenset({"0" * 32, "f" * 32})
# What LINE's content endpoint serves for each kind (files keep their own type).
_MEDIA = {
    "image": ("image/jpeg", ".jpg"),
    "video": ("video/mp4", ".mp4"),
    "audio": ("audio/x-m4a", ".m4a"),
}


class PayloadError(ValueError):
    """The payload lacks something LINE always sends: ``where`` names it."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where


def inbound_messages(payload: Any, data_api_base_url: str) -> list[InboundMessage]:
    """The customer messages in one webhook payload, in order (no profile data yet).

    Raises PayloadError when the payload, or a message/postback event in it, is malformed:
    nothing is handled then, so a partly read batch is never half stored.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise PayloadError("events", "the payload must be an object with an events array")
    found = []
    for n, event in enumerate(payload["events"]):
        where = f"events[{n}]"
        if not isinstance(event, dict):
            raise PayloadError(where, "must be an object")
        kind = event.get("type")
        if kind not in ("message", "postback", "follow"):
            log.info("line_event_ignored", extra={"fields": {"type": kind}})
            continue
        source = _object(event, "source", where)
        if source.get("type") != "user":
            log.info(
                "line_event_skipped",
                extra={"fields": {"type": kind, "source": source.get("type")}},
            )
            continue
        if event.get("replyToken") in _DUMMY_REPLY_TOKENS:
            log.info("line_verification_event_skipped")
            continue
        user = _string(source, "userId", f"{where}.source")
        if kind == "message":
            found.append(_message(event, user, where, data_api_base_url.rstrip("/")))
        elif kind == "postback":
            found.append(_postback(event, user, where))
        else:
            found.append(_follow(event, user, where))
    return found


def encode_postback(title: str, limit: int, **extra: str | int) -> str:
    """The data of a button that stands for ``title``: compact JSON within ``limit`` UTF-16
    units (LINE's 300). LINE's postback webhook carries only this data (not the text shown in
    the chat), so the title travels in it, shortened if it must be."""

    def data(keep: int) -> str:
        return json.dumps({"t": title[:keep], **extra}, ensure_ascii=False, separators=(",", ":"))

    low, high = 0, len(title)  # the longest prefix of the title that fits
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if _units(data(middle)) <= limit else (low, middle - 1)
    return data(low)


def read_postback(data: str) -> tuple[str, dict[str, Any]]:
    """The text a postback stands for, and what else our button carried. Data from elsewhere
    (a rich menu set up in LINE's console) is taken as the text as it is."""
    try:
        decoded = load_json(data)
    except BadJson:
        decoded = None
    if isinstance(decoded, dict) and isinstance(decoded.get("t"), str):
        return decoded["t"], {k: v for k, v in decoded.items() if k != "t"}
    return data, {}


def _message(event: Mapping[str, Any], user: str, where: str, data_api: str) -> InboundMessage:
    message = _object(event, "message", where)
    where = f"{where}.message"
    message_id = _string(message, "id", where)
    kind = _string(message, "type", where)
    meta = _meta(event)
    attachments: tuple[Attachment, ...] = ()
    if kind == "text":
        text = _string(message, "text", where, allow_empty=True)
        for key, name in (("quoteToken", "quote_token"), ("quotedMessageId", "quoted_message_id")):
            if isinstance(message.get(key), str):
                meta[name] = message[key]
    elif kind in ("image", "video", "audio", "file"):
        text = ""
        attachments = (_attachment(message, message_id, kind, data_api),)
    elif kind == "sticker":
        text = "[sticker]"
        meta["sticker"] = {k: message.get(k) for k in ("packageId", "stickerId", "keywords")}
    elif kind == "location":
        text, meta["location"] = _location(message)
    else:  # a kind LINE added after this was written: keep a trace for the agents
        text = f"[{kind} message]"
    return InboundMessage(
        channel=CHANNEL,
        address=user,
        text=text,
        external_id=message_id,
        attachments=attachments,
        kind=MessageKind.TEXT if kind == "text" else MessageKind.MEDIA,
        meta=meta,
    )


def _postback(event: Mapping[str, Any], user: str, where: str) -> InboundMessage:
    postback = _object(event, "postback", where)
    data = _string(postback, "data", f"{where}.postback", allow_empty=True)
    text, carried = read_postback(data)
    meta = _meta(event)
    meta["postback"] = {"data": data, **carried}
    if isinstance(postback.get("params"), dict):  # date/time pickers
        meta["postback"]["params"] = postback["params"]
    return InboundMessage(
        channel=CHANNEL,
        address=user,
        text=text,
        # Postbacks have no message id; the event id stays the same on redelivery.
        external_id=_string(event, "webhookEventId", where),
        meta=meta,
    )


def _follow(event: Mapping[str, Any], user: str, where: str) -> InboundMessage:
    detail = event.get("follow")
    unblocked = isinstance(detail, dict) and detail.get("isUnblocked") is True
    meta = _meta(event)
    meta["follow"] = {"unblocked": unblocked}
    return InboundMessage(
        channel=CHANNEL,
        address=user,
        text=UNBLOCKED_TEXT if unblocked else FOLLOWED_TEXT,
        # Follow events have no message id; the event id stays the same on redelivery.
        external_id=_string(event, "webhookEventId", where),
        kind=MessageKind.OPENER,
        meta=meta,
    )


def _meta(event: Mapping[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    token = event.get("replyToken")
    if isinstance(token, str) and token:  # absent in standby mode (another module has the chat)
        meta["reply_context"] = {"reply_token": token}
    if isinstance(event.get("webhookEventId"), str):
        meta["event_id"] = event["webhookEventId"]
    context = event.get("deliveryContext")
    if isinstance(context, dict) and context.get("isRedelivery") is True:
        meta["redelivery"] = True
    if event.get("mode") == "standby":
        meta["standby"] = True
    return meta


def _attachment(
    message: Mapping[str, Any], message_id: str, kind: str, data_api: str
) -> Attachment:
    provider = message.get("contentProvider")
    external = isinstance(provider, dict) and provider.get("type") == "external"
    url = (
        str(provider.get("originalContentUrl"))
        if external and isinstance(provider, dict) and provider.get("originalContentUrl")
        else f"{data_api}/v2/bot/message/{message_id}/content"
    )
    if kind == "file":
        name = str(message.get("fileName") or f"{message_id}.bin")
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    else:
        content_type, suffix = _MEDIA[kind]
        name = f"{message_id}{suffix}"
    return Attachment(name=name, content_type=content_type, size=_size(message), url=url)


def _size(message: Mapping[str, Any]) -> int:
    raw = message.get("fileSize")  # a number; older payloads (and SDK types) had a string
    try:
        return max(int(raw), 0) if raw is not None and not isinstance(raw, bool) else 0
    except (TypeError, ValueError):
        return 0


def _location(message: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    place = {k: message.get(k) for k in ("title", "address", "latitude", "longitude")}
    text = ", ".join(str(place[k]) for k in ("title", "address") if place[k])
    if place["latitude"] is not None and place["longitude"] is not None:
        text += f" ({place['latitude']}, {place['longitude']})"
    return "Location: " + (text.strip() or "unknown"), place


def _object(parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise PayloadError(f"{where}.{key}", "missing or not an object")
    return value


def _string(parent: Mapping[str, Any], key: str, where: str, *, allow_empty: bool = False) -> str:
    value = parent.get(key)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise PayloadError(f"{where}.{key}", "missing or not a string")
    return value
