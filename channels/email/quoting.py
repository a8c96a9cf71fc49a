"""The new part of a reply: quoted history and the signature trimmed off.

What counts as history, in the order mail clients produce it:

* ``>``-quoted lines (interleaved answers between them are kept);
* an attribution line before the quote, possibly wrapped over up to three lines: English
  "On … wrote:", the usual European forms, and Gmail's Thai "เมื่อ … เขียนว่า:", Chinese
  "… 写道：" / "… 寫道：", Persian "… نوشت:" and Japanese "2024年1月1日(月) … <addr>:";
  it must contain a digit (the date), so "On Monday I wrote:" from a customer survives;
* Outlook's "-----Original Message-----" separator and its "From: … Sent: …" header block,
  in English, Chinese, Thai and Persian labels.

A forwarded message is the substance of the mail, not history: nothing after a forward marker
is trimmed. The signature starts at the first "-- " line (RFC 3676; "--" too, since HTML
conversion and some clients drop the trailing space).
"""

from __future__ import annotations

import re

__all__ = ["reply_text"]

_BIDI_MARKS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ATTRIBUTIONS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"^On\s.+\swrote\s*:$",
        r"^Am\s.+\sschrieb\s?.*:$",
        r"^Le\s.+\sa écrit\s*:$",
        r"^El\s.+\sescribió\s*:$",
        r"^Em\s.+\sescreveu\s*:$",
        r"^Op\s.+\sschreef\s*:$",
        r"^Il\s.+\sha scritto\s*:$",
        r"^เมื่อ.+เขียนว่า\s*:$",
        r"^.+(?:写道|寫道)\s*[:：]$",
        r"^.+\sنوشت\s*[:：]$",
        r"^\d{4}年\d{1,2}月\d{1,2}日.+<[^<>\s]+@[^<>\s]+>\s*[:：]$",
    )
)
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|"
    r"Mensaje original|原始邮件|原始郵件|邮件原件|ข้อความต้นฉบับ|پیام اصلی)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_FORWARD = re.compile(
    r"^\s*(?:-{2,}\s*(?:Forwarded message|Weitergeleitete Nachricht|转发的邮件|轉寄的郵件|"
    r"ข้อความที่ส่งต่อ|پیام بازارسال‌شده)|Begin forwarded message\s*:)",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(
    r"^\s*\*?(?:From|Von|De|发件人|發件人|寄件者|จาก|از)\s*\*?\s*[:：]\s*\S", re.I
)
_HEADER_SENT = re.compile(
    r"^\s*\*?(?:Sent|Date|Gesendet|Envoyé|Enviado|发送时间|發送時間|寄件日期|日期|ส่ง|วันที่|"
    r"ارسال\s*شده|تاریخ)\s*\*?\s*[:：]",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"^\s*>")
_SEPARATOR = re.compile(r"^\s*(?:[_\-—=*]{5,})?\s*$")
_MAX_ATTRIBUTION_LINES = 3
_MAX_ATTRIBUTION_CHARS = 400
_HEADER_BLOCK_SPAN = 4  # Outlook puts "Sent:" right below "From:", wrapped names aside


def _attribution_end(lines: list[str], start: int) -> int | None:
    """Index just past an attribution starting at ``start``, or None when there is none."""
    window = ""
    for end in range(start, min(start + _MAX_ATTRIBUTION_LINES, len(lines))):
        line = _BIDI_MARKS.sub("", lines[end]).strip()
        if not line or _QUOTED.match(line):
            return None
        window = f"{window} {line}".strip()
        if len(window) > _MAX_ATTRIBUTION_CHARS:
            return None
        if any(p.match(window) for p in _ATTRIBUTIONS) and any(c.isdigit() for c in window):
            return end + 1
    return None


def _next_text_is_quoted(lines: list[str], start: int) -> bool:
    for line in lines[start:]:
        if line.strip():
            return bool(_QUOTED.match(line))
    return False


def _is_header_block(lines: list[str], start: int) -> bool:
    if not _HEADER_FROM.match(lines[start]):
        return False
    following = lines[start + 1 : start + 1 + _HEADER_BLOCK_SPAN]
    return any(_HEADER_SENT.match(line) for line in following)


def _history(lines: list[str]) -> tuple[int, set[int]]:
    """Where the unquoted history starts, and attribution lines that only introduce a quote."""
    dropped: set[int] = set()
    index = 0
    while index < len(lines):
        if _ORIGINAL_MESSAGE.match(lines[index]) or _is_header_block(lines, index):
            return index, dropped
        end = _attribution_end(lines, index)
        if end is not None:
            if not _next_text_is_quoted(lines, end):
                return index, dropped
            # The quote below it is dropped line by line, which keeps answers written
            # between quoted paragraphs or below the quote.
            dropped.update(range(index, end))
            index = end
            continue
        index += 1
    return len(lines), dropped


def _without_signature(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if line.rstrip() == "--":
            return lines[:index]
    return lines


def _tidy(lines: list[str]) -> str:
    while lines and _SEPARATOR.match(lines[-1]):
        lines.pop()
    text = "\n".join(line.rstrip() for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def reply_text(text: str) -> str:
    """``text`` without quoted history and signature; ``text`` itself if nothing would be left."""
    lines = text.split("\n")
    forward = next((i for i, line in enumerate(lines) if _FORWARD.match(line)), len(lines))
    cut, dropped = _history(lines[:forward])
    kept = [line for index, line in enumerate(lines[:cut]) if index not in dropped]
    kept = [line for line in _without_signature(kept) if not _QUOTED.match(line)]
    if cut == forward:
        kept += lines[forward:]  # forwarded mail is kept whole, quotes and all
    return _tidy(kept) or text.strip()
