"""Repairing a header block whose folding is broken.

A continuation line must start with white space (RFC 5322 section 2.2.3). Some senders fold
without it (``Content-Type: multipart/mixed;`` then ``boundary="x"`` on its own line, or a long
Subject: wrapped at column 78). The parser then ends the headers at that line, and the MIME
structure below is shown as raw text. Such a line, inside the header block (before the first
empty line), is read as the continuation it was meant to be when a header field follows it,
when it is a MIME parameter (``name=value``) or when the line before ends with ``;``.
"""

from __future__ import annotations

import re

__all__ = ["repair_folding"]

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FIELD = re.compile(rb"^[!-9;-~]+[ \t]*:")  # a field name (printable, no colon), then a colon
_LINE = re.compile(rb"\r?\n")
_PARAMETER = re.compile(rb"^[A-Za-z0-9_.*-]+=")  # boundary="x", charset=utf-8


def repair_folding(raw: bytes) -> bytes | None:
    """``raw`` with unindented continuation lines indented; None when there were none."""
    end = _HEADER_END.search(raw)
    head, rest = (raw[: end.start()], raw[end.start() :]) if end else (raw, b"")
    lines = _LINE.split(head)
    separators = _LINE.findall(head)
    repaired = False
    for number, line in enumerate(lines):
        if number == 0 or not line or line[:1] in b" \t" or _FIELD.match(line):
            continue
        continues = lines[number - 1].rstrip().endswith(b";") or _PARAMETER.match(line)
        if not continues and not any(_FIELD.match(later) for later in lines[number + 1 :]):
            break  # the body of a message without its separator line, not a broken header
        lines[number] = b" " + line
        repaired = True
    if not repaired:
        return None
    out = lines[0]
    for separator, line in zip(separators, lines[1:], strict=True):
        out += separator + line
    return out + rest
