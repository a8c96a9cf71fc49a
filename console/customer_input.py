"""Checking what staff (the API) and imports (the CLI) may write into a customer's profile:
each problem names the field, so the answer is a 400 a person can act on."""

from __future__ import annotations

import math
import re
from typing import Any

from routing.ingest import is_storable

ATTRIBUTES_MAX = 50
ATTRIBUTE_KEY_MAX = 64
ATTRIBUTE_TEXT_MAX = 1000
TAGS_MAX = 50
TAG_MAX = 64
NAME_MAX = 200
NOTE_MAX = 4000
LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,3}")
SEGMENT = re.compile(r"[a-z0-9_][a-z0-9_:.-]{0,31}")


class InvalidField(ValueError):
    """``field`` is the path of the bad value ("attributes.plan", "tags[2]")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def display_name(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidField("display_name", "must be text or null")
    name = " ".join(value.split())
    if len(name) > NAME_MAX:
        raise InvalidField("display_name", f"at most {NAME_MAX} characters")
    return name or None


def locale(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not LOCALE.fullmatch(value.strip()):
        raise InvalidField("locale", "a language tag such as 'en', 'th' or 'pt-BR'")
    return value.strip().replace("_", "-")


def segment(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not SEGMENT.fullmatch(value.strip().lower()):
        raise InvalidField("segment", "a short lowercase name such as 'vip' (up to 32 characters)")
    return value.strip().lower()


def tags(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise InvalidField("tags", "must be a list of text")
    result: list[str] = []
    for n, tag in enumerate(value):
        if not isinstance(tag, str) or not tag.strip():
            raise InvalidField(f"tags[{n}]", "must be non-empty text")
        clean = " ".join(tag.split()).lower()
        if len(clean) > TAG_MAX or "|" in clean or not is_storable(clean):
            raise InvalidField(f"tags[{n}]", f"at most {TAG_MAX} characters, no '|'")
        if clean not in result:
            result.append(clean)
    if len(result) > TAGS_MAX:
        raise InvalidField("tags", f"at most {TAGS_MAX} tags")
    return result


def attribute_value(key: str, value: Any) -> str | int | float | bool | None:
    """A JSON scalar (None: remove the key)."""
    field = f"attributes.{key}"
    if value is None or isinstance(value, bool | int):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
            raise InvalidField(field, "numbers must be within ±2^53")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidField(field, "numbers must be finite")
        return value
    if isinstance(value, str):
        if len(value) > ATTRIBUTE_TEXT_MAX:
            raise InvalidField(field, f"text is limited to {ATTRIBUTE_TEXT_MAX} characters")
        if not is_storable(value):
            raise InvalidField(field, "contains a NUL or an unpaired surrogate character")
        return value
    raise InvalidField(field, "must be text, a number, true/false or null (no lists or objects)")


def attribute_key(key: Any) -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidField("attributes", "keys must be non-empty text")
    if len(key) > ATTRIBUTE_KEY_MAX:
        raise InvalidField(f"attributes.{key[:20]}…", f"keys are limited to {ATTRIBUTE_KEY_MAX}")
    if key != key.strip() or any(ord(c) < 32 for c in key) or not is_storable(key):
        raise InvalidField(f"attributes.{key}", "keys have no surrounding spaces or controls")
    return key


def merge_attributes(current: dict[str, Any], changes: Any) -> dict[str, Any]:
    """``current`` with ``changes`` applied: a null value removes the key."""
    if not isinstance(changes, dict):
        raise InvalidField("attributes", "must be an object of key: value")
    result = dict(current)
    for key, value in changes.items():
        attribute_key(key)
        clean = attribute_value(key, value)
        if clean is None:
            result.pop(key, None)
        else:
            result[key] = clean
    if len(result) > ATTRIBUTES_MAX:
        raise InvalidField("attributes", f"at most {ATTRIBUTES_MAX} attributes per customer")
    return result


def note_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidField("text", "the note is empty")
    if len(value) > NOTE_MAX:
        raise InvalidField("text", f"notes are limited to {NOTE_MAX} characters")
    return value.strip()
