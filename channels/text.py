"""Splitting and measuring message text for channels with length limits.

Lengths count UTF-16 code units (what most providers' limits count: an emoji is two); splits
fall at paragraphs, then sentences, then spaces, and never inside a grapheme (a Thai letter and
its marks, an emoji sequence, a flag).
"""

from __future__ import annotations

import re
import unicodedata

SMS_LIMIT = 1600  # Twilio's limit for one (concatenated) message body


# --- message size -------------------------------------------------------------------------

_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")  # an escape septet plus one each


def sms_length(text: str) -> int:
    """Length as Twilio's 1600 limit counts it, taken conservatively as UTF-16 code units
    (an emoji counts two)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def segments(text: str) -> int:
    """How many SMS segments Twilio bills for ``text``.

    GSM-7 when every character is in the GSM 03.38 alphabet: 160 septets in one segment,
    else 153 per segment (escaped characters take two and are never split). Otherwise UCS-2:
    70 code units in one, else 67 per segment, never splitting a surrogate pair.
    """
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in text):
        units = [2 if ch in _GSM7_EXTENDED else 1 for ch in text]
        single, multi = 160, 153
    else:
        units = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        single, multi = 70, 67
    if sum(units) <= single:
        return 1
    count, used = 1, 0
    for size in units:
        if used + size > multi:
            count, used = count + 1, 0
        used += size
    return count


# --- splitting long text ---------------------------------------------------------------------

_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_SENTENCE = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+")
_SPACE = re.compile(r"\s+")
_ZWJ = "\u200d"


def split_sms(text: str, limit: int = SMS_LIMIT) -> list[str]:
    """``text`` in order, in parts of at most ``limit`` (as ``sms_length`` counts).

    Cuts at the last paragraph break, else the last sentence end (each only if it keeps at
    least half a part), else the last space, else at the last grapheme boundary (for scripts
    without spaces, such as Thai): never between a character and its combining marks, inside
    an emoji sequence or a flag. Whitespace at a cut is dropped; empty parts are never made.
    """
    if limit < 2:
        raise ValueError("an SMS part must hold at least two UTF-16 code units")
    parts: list[str] = []
    start = len(text) - len(text.lstrip())
    while start < len(text):
        end = _fit(text, start, limit)
        if end >= len(text):
            parts.append(text[start:].rstrip())
            break
        cut, resume = _cut(text, start, end)
        part = text[start:cut].rstrip()
        if part:
            parts.append(part)
        start = resume
        while start < len(text) and text[start].isspace():
            start += 1
    return parts


def _fit(text: str, start: int, limit: int) -> int:
    """The largest end with ``sms_length(text[start:end]) <= limit`` (at least one character)."""
    used, end = 0, start
    while end < len(text):
        used += 2 if ord(text[end]) > 0xFFFF else 1
        if used > limit:
            break
        end += 1
    return max(end, start + 1)


def _cut(text: str, start: int, end: int) -> tuple[int, int]:
    """Where the part starting at ``start`` (and fitting up to ``end``) ends, and where the
    next one begins. A separator may start right at ``end``: it is dropped, not sent."""
    window = text[start : end + 1]
    half = (end - start) // 2
    for pattern, least in ((_PARAGRAPH, half), (_SENTENCE, half), (_SPACE, 1)):
        found = [m for m in pattern.finditer(window) if least <= m.start() <= end - start]
        if found:
            return start + found[-1].start(), start + found[-1].end()
    for cut in range(end, start, -1):
        if _grapheme_boundary(text, cut):
            return cut, cut
    return end, end  # one "character" longer than a part (pathological stacks of marks)


def _grapheme_boundary(text: str, i: int) -> bool:
    """Whether a cut before ``text[i]`` leaves whole user-perceived characters on both sides
    (the parts of UAX #29 that occur in messages)."""
    before, after = text[i - 1], text[i]
    if before == "\r" and after == "\n":
        return False
    if _ZWJ in (before, after):
        return False
    if unicodedata.category(after) in ("Mn", "Mc", "Me") or after in "\u0e33\u0eb3":
        return False  # combining marks, Thai/Lao vowel signs (SARA AM is a spacing mark)
    if 0x1F3FB <= ord(after) <= 0x1F3FF:  # skin-tone modifiers
        return False
    if 0x1160 <= ord(after) <= 0x11FF:  # conjoining Hangul vowels and final consonants
        return False
    if _regional(after) and _regional(before):
        pairs = 0
        j = i - 1
        while j >= 0 and _regional(text[j]):
            pairs, j = pairs + 1, j - 1
        return pairs % 2 == 0  # cut between two flags, never inside one
    return True


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF
