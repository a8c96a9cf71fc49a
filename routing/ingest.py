"""What comes in from outside, made safe once: the rule that cleans text for storage, and the
JSON parser every endpoint and socket uses.

Text from outside (a provider's webhook, a chat frame, a mail, a caller's speech) may carry
characters no database column takes: NUL (PostgreSQL refuses it in text and JSON) and unpaired
surrogates (half an emoji: valid as a JSON escape, ``"\\ud83d"``, but not encodable as UTF-8, so
SQLite and PostgreSQL both refuse it). Refusing such a message would make a provider redeliver
it forever, so every channel's message is cleaned at the one ingest boundary,
``Router.handle_inbound`` (:func:`storable_message`): those characters are dropped, everything
else is kept as it came. Staff input through the API is refused instead (:func:`is_storable`),
since a person can fix it.

:func:`load_json` turns everything a body can do wrong (bytes that are not UTF-8, invalid JSON,
nesting deep enough to exhaust the parser's recursion) into one :class:`BadJson` with a code the
caller maps to its answer (400 on HTTP, an ``error`` frame on a socket).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from channels.base import Attachment, InboundMessage

__all__ = [
    "MAX_JSON_DEPTH",
    "BadJson",
    "UnstorableMessage",
    "is_storable",
    "load_json",
    "storable",
    "storable_data",
    "storable_message",
    "storable_optional",
]

# Deeper than any provider's payload or our own API bodies (a few levels), far below where the
# parser (and any code walking the result recursively) would run out of stack.
MAX_JSON_DEPTH = 64

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """``text`` without NUL characters and unpaired surrogates, which no database stores.

    (A well-formed str never holds a surrogate *pair*: an emoji is one code point.)"""
    return _UNSTORABLE.sub("", text)


def storable_optional(text: str | None) -> str | None:
    return None if text is None else storable(text)


def is_storable(text: str) -> bool:
    """False for text holding a NUL or an unpaired surrogate."""
    return _UNSTORABLE.search(text) is None


def storable_data(value: Any) -> Any:
    """A JSON-like value (dicts, lists, tuples, scalars) with every string, keys included, made
    :func:`storable`. Walks iteratively, so no depth exhausts the stack."""
    if isinstance(value, str):
        return storable(value)
    if not isinstance(value, (dict, list, tuple)):
        return value
    root: list[Any] = [None]
    # (source container, where its copy goes: (parent copy, key or index))
    pending: list[tuple[Any, Any, Any]] = [(value, root, 0)]
    while pending:
        source, parent, slot = pending.pop()
        if isinstance(source, dict):
            copy: Any = {}
            for key, item in source.items():
                key = storable(key) if isinstance(key, str) else key
                copy[key] = _leaf(item, pending, copy, key)
        else:
            copy = [None] * len(source)
            for index, item in enumerate(source):
                copy[index] = _leaf(item, pending, copy, index)
        parent[slot] = copy
    return root[0]


def _leaf(item: Any, pending: list[tuple[Any, Any, Any]], parent: Any, slot: Any) -> Any:
    if isinstance(item, (dict, list, tuple)):
        pending.append((item, parent, slot))
        return None  # filled in when the container is walked
    return storable(item) if isinstance(item, str) else item


class UnstorableMessage(ValueError):
    """A message that no redelivery could store: an address or provider id longer than any
    real one (and than its column). Refused with a warning, never redelivered."""


# Column sizes (storage.models) of what identifies a message: longer is not a real one.
ADDRESS_MAX, EXTERNAL_ID_MAX, PHONE_MAX = 320, 255, 32
# ... and of what only describes it: cut to fit.
NAME_MAX, SUBJECT_MAX, LOCALE_MAX, FILE_FIELD_MAX = 200, 500, 16, 255


def storable_message(msg: InboundMessage) -> InboundMessage:
    """``msg`` with every string a channel took from outside made :func:`storable`: the text,
    the address and ids, names, subject, file names and the metadata, at any depth. Names, a
    subject and file names longer than their columns are cut; a locale that long is dropped.

    Raises:
        UnstorableMessage: the address or the provider's id is longer than any real one.
    """
    address, external_id = storable(msg.address), storable_optional(msg.external_id)
    if len(address) > ADDRESS_MAX or len(external_id or "") > EXTERNAL_ID_MAX:
        raise UnstorableMessage(
            f"the sender's address or the message id is over {ADDRESS_MAX} / "
            f"{EXTERNAL_ID_MAX} characters"
        )
    locale, phone = storable_optional(msg.locale), storable_optional(msg.phone)
    return dataclasses.replace(
        msg,
        address=address,
        text=storable(msg.text),
        external_id=external_id,
        display_name=_cut(msg.display_name, NAME_MAX),
        locale=locale if locale and len(locale) <= LOCALE_MAX else None,
        thread_ref=storable_optional(msg.thread_ref),
        thread_ids=tuple(storable(ref) for ref in msg.thread_ids),
        subject=_cut(msg.subject, SUBJECT_MAX),
        automatic=storable_optional(msg.automatic),
        phone=phone if phone and len(phone) <= PHONE_MAX else None,
        attachments=tuple(_storable_attachment(a) for a in msg.attachments),
        meta=_storable_meta(msg.meta),
    )


def _cut(text: str | None, limit: int) -> str | None:
    return None if text is None else storable(text)[:limit]


def _storable_attachment(item: Attachment) -> Attachment:
    return dataclasses.replace(
        item,
        name=storable(item.name)[:FILE_FIELD_MAX],
        content_type=storable(item.content_type)[:FILE_FIELD_MAX],
        url=storable_optional(item.url),
    )


def _storable_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    cleaned = storable_data(dict(meta))
    assert isinstance(cleaned, dict)
    return cleaned


class BadJson(ValueError):
    """A body or frame that is not usable JSON. ``code``: ``invalid_utf8``, ``bad_json`` or
    ``too_deep``; the message says where."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def load_json(data: bytes | str, *, what: str = "the body", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value in ``data`` (UTF-8 bytes or text), nested at most ``max_depth`` deep;
    ``what`` names ``data`` in the error messages.

    Raises:
        BadJson: the bytes are not UTF-8, the text is not JSON, or it nests too deep.
    """
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadJson("invalid_utf8", f"{what} is not valid UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(data)
    except json.JSONDecodeError as exc:
        raise BadJson(
            "bad_json",
            f"{what} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
        ) from None
    except RecursionError:
        raise BadJson("too_deep", f"{what} nests JSON more than {max_depth} levels deep") from None
    if _depth_over(value, max_depth):
        raise BadJson("too_deep", f"{what} nests JSON more than {max_depth} levels deep")
    return value


def _depth_over(value: Any, limit: int) -> bool:
    """Whether ``value`` nests containers more than ``limit`` deep (iteratively)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False
