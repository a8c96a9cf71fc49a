"""Webhook requests as LINE sends them: a JSON batch of events, signed with
``X-Line-Signature`` (base64 of HMAC-SHA256 over the raw body, keyed by the channel secret).

    body, headers = webhook(secret, [text_event(USER, "hello", reply_token=token)])
    await client.post("/webhooks/line", data=body, headers=headers)

``FakeLine`` (tests/fakes/line.py) has the same builders with reply tokens it honours.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterable
from typing import Any

SIGNATURE_HEADER = "X-Line-Signature"
_ULID = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_user_id() -> str:
    return "U" + secrets.token_hex(16)


def new_message_id() -> str:
    return str(10**17 + secrets.randbelow(9 * 10**17))  # 18 digits, as LINE's are


def new_event_id() -> str:
    return "".join(secrets.choice(_ULID) for _ in range(26))  # a ULID


def sign(channel_secret: str, body: bytes) -> str:
    """``X-Line-Signature``: base64 of HMAC-SHA256 over the raw body, keyed by the secret."""
    digest = hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def webhook(
    channel_secret: str, events: Iterable[dict[str, Any]], *, destination: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """One webhook POST (body and headers) carrying ``events``; no events is what the console's
    "Verify" button sends."""
    payload = {"destination": destination or "U" + "0" * 32, "events": list(events)}
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "LineBotWebhook/2.0",
        SIGNATURE_HEADER: sign(channel_secret, body),
    }
    return body, headers


def event(
    kind: str,
    user_id: str,
    *,
    reply_token: str | None = None,
    redelivery: bool = False,
    group_id: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """An event of ``kind`` from a one-to-one chat (or from ``group_id``'s group chat)."""
    source = {"type": "group", "groupId": group_id} if group_id else {"type": "user"}
    found: dict[str, Any] = {
        "type": kind,
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "source": {**source, "userId": user_id},
        "webhookEventId": new_event_id(),
        "deliveryContext": {"isRedelivery": redelivery},
        **fields,
    }
    if reply_token:
        found["replyToken"] = reply_token
    return found


def text_event(user_id: str, text: str, **kwargs: Any) -> dict[str, Any]:
    message = {"type": "text", "id": new_message_id(), "quoteToken": secrets.token_urlsafe(24)}
    return event("message", user_id, message={**message, "text": text}, **kwargs)


def media_event(
    user_id: str,
    kind: str = "image",
    *,
    message_id: str | None = None,
    file_name: str | None = None,
    file_size: int | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """An image, video or audio message (kept by LINE), or a file with its name and size."""
    message: dict[str, Any] = {"type": kind, "id": message_id or new_message_id()}
    if kind == "file":
        message |= {"fileName": file_name or "file.pdf", "fileSize": file_size or 0}
    else:
        message["contentProvider"] = {"type": "line"}
        if kind in ("video", "audio"):
            message["duration"] = 6000
    return event("message", user_id, message=message, **kwargs)


def postback_event(user_id: str, data: str, **kwargs: Any) -> dict[str, Any]:
    return event("postback", user_id, postback={"data": data}, **kwargs)


def follow_event(user_id: str, *, unblocked: bool = False, **kwargs: Any) -> dict[str, Any]:
    """The user added the account as a friend (or, ``unblocked``, unblocked it)."""
    return event("follow", user_id, follow={"isUnblocked": unblocked}, **kwargs)


def unfollow_event(user_id: str) -> dict[str, Any]:
    return event("unfollow", user_id)  # no reply token: nobody to answer
