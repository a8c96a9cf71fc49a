"""Turning mail bytes into text when the declared charset is wrong, unknown to Python or missing.

Real mail mislabels its charset all the time, and Python's codec registry has gaps that matter
for our customers, so every decode goes through :func:`decode_bytes`, which tries an ordered list
of codecs and never raises:

* ``windows-874`` (Thai Outlook) is not a Python alias at all; ``tis-620`` decodes the windows-874
  punctuation (``€``, ``…``, curly quotes) *without error* as C1 control characters. Both labels
  are decoded as ``cp874``.
* ``gb2312`` mail usually holds GBK characters, and ``x-gbk`` is unknown: all go to ``gb18030``.
* ``ks_c_5601-1987`` is mapped by Python to EUC-KR, but Outlook sends CP949 under that label.
* ``iso-2022-jp`` from Windows carries NEC row-13 characters (``①``) that no Python
  ``iso2022_jp*`` codec accepts; :func:`_iso2022jp_as_cp932` decodes them the way Windows does.
* A Latin-1/ASCII label on bytes that are valid UTF-8 is almost always a mislabel.

Text coming out is safe to store: NUL characters and lone surrogates (left behind by
``surrogateescape``) are removed, since the database rejects both.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from urllib.parse import unquote_to_bytes

from routing.ingest import storable as clean  # the one ingest rule: no NUL, no lone surrogate

__all__ = ["clean", "decode_bytes", "decode_header_text", "decode_param"]

# Declared label (as normalised by codecs.lookup, or raw when Python does not know it)
# -> codecs to try, in order. Supersets first, because mail mislabels upwards.
_SUPERSETS: dict[str, tuple[str, ...]] = {
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "x-gbk": ("gb18030",),
    "gb18030": ("gb18030",),
    "tis-620": ("cp874",),
    "iso8859-11": ("cp874",),
    "windows-874": ("cp874",),
    "x-windows-874": ("cp874",),
    "cp874": ("cp874",),
    # Python's big5 and its two extensions disagree on a few hundred codes, so none is a
    # superset: keep the declared table first and use the extensions for what it lacks.
    "big5": ("big5", "cp950", "big5hkscs"),
    "euc_kr": ("cp949",),
    "shift_jis": ("cp932",),
    # "iso2022_jp_ms" is not a Python codec: see _iso2022jp_as_cp932.
    "iso2022_jp": ("iso2022_jp", "iso2022_jp_ms", "iso2022_jp_2", "iso2022_jp_2004"),
}

# Labels whose codec accepts (almost) any byte, so a mislabel never shows up as an error.
_LATIN = frozenset({"ascii", "iso8859-1", "cp1252", "iso8859-15"})

# The last resort for bytes no candidate decodes strictly: it never fails.
_LAST_RESORT = "latin-1"

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
# One "; name[*n][*]=value" parameter of a MIME header; the value is a quoted string or a token.
_PARAM = re.compile(r';\s*([^\s=;*]+)(\*\d+)?(\*)?\s*=\s*("(?:[^"\\]|\\.)*"?|[^;]*)')


def _label(charset: str | None) -> tuple[str | None, bool]:
    """The codec name for a declared label (the label itself if Python lacks it), and whether
    it is one we can decode with."""
    if not charset:
        return None, False
    name = charset.strip().strip("\"'").lower()
    try:
        return codecs.lookup(name).name, True
    except (LookupError, ValueError):
        return name, name in _SUPERSETS


def _candidates(charset: str | None, hint: str | None) -> list[str]:
    label, known = _label(charset)
    # Single-byte fallbacks accept nearly any byte, so they only make sense where no real
    # charset was declared; otherwise they would hide a mislabel behind mojibake.
    guessing = not known or label in _LATIN
    found: list[str] = ["utf-8"] if guessing else []
    if label is not None:
        found.extend(_SUPERSETS.get(label, (label,)))
    if label is None and hint:
        # Raw 8-bit header bytes carry no label; the body's charset is the best guess.
        found.extend(_candidates(hint, None))
    found.append("utf-8")
    if guessing:
        found.append("cp1252")
    return list(dict.fromkeys(found))


def _try(data: bytes, codec: str) -> str | None:
    if codec == "iso2022_jp_ms":
        return _iso2022jp_as_cp932(data)
    try:
        return data.decode(codec)
    except (LookupError, ValueError):
        return None


def decode_bytes(data: bytes, charset: str | None, *, hint: str | None = None) -> str:
    """Decode ``data`` labelled ``charset``; ``hint`` is a fallback label for unlabelled bytes.

    Never raises. Order: the declared charset's superset, the declared charset, UTF-8, and
    when no usable charset was declared, Windows-1252 (UTF-8 goes first for Latin-1/ASCII
    labels). When nothing decodes strictly, a known
    declared charset is used with replacement characters (a few ``�`` beat a whole message of
    Latin-1 mojibake), else Latin-1.
    """
    for codec in _candidates(charset, hint):
        text = _try(data, codec)
        if text is not None:
            return clean(text)
    label, known = _label(charset)
    fallback = _LAST_RESORT
    if label is not None and known and label not in _LATIN:
        fallback = _SUPERSETS.get(label, (label,))[0]
    try:
        return clean(data.decode(fallback, errors="replace"))
    except (LookupError, ValueError):
        return clean(data.decode(_LAST_RESORT))


_ISO2022JP_MODES = {b"$B": "jis", b"$@": "jis", b"(I": "kana", b"(B": "ascii", b"(J": "ascii"}


def _iso2022jp_as_cp932(data: bytes) -> str | None:
    """Decode ISO-2022-JP as Windows does (CP50221): JIS pairs are re-encoded as CP932 bytes.

    Windows mail uses NEC row 13 (circled numbers, roman numerals) and IBM extensions inside
    ``ESC $ B``, which the strict codecs reject.
    """
    out = bytearray()
    mode = "ascii"
    i = 0
    while i < len(data):
        if data[i] == 0x1B:
            escape = bytes(data[i + 1 : i + 3])
            if escape not in _ISO2022JP_MODES:
                return None  # JIS X 0212 and friends: leave those to the iso2022_jp_2 codec
            mode = _ISO2022JP_MODES[escape]
            i += 3
        elif mode == "jis" and data[i] > 0x20 and i + 1 < len(data):
            out += _jis_to_sjis(data[i], data[i + 1])
            i += 2
        else:
            byte = data[i]
            out.append(byte + 0x80 if mode == "kana" and 0x21 <= byte <= 0x5F else byte)
            i += 1
    try:
        return out.decode("cp932")
    except UnicodeDecodeError:
        return None


def _jis_to_sjis(j1: int, j2: int) -> bytes:
    s1 = (j1 + 1) // 2 + 0x70
    if s1 >= 0xA0:
        s1 += 0x40
    if j1 % 2:
        s2 = j2 + 0x1F + (1 if j2 >= 0x60 else 0)
    else:
        s2 = j2 + 0x7E
    return bytes((s1 & 0xFF, s2 & 0xFF))


def _word_bytes(encoding: str, payload: str) -> bytes | None:
    try:
        if encoding in "bB":
            # Senders drop the padding often enough that being strict about it loses subjects.
            return base64.b64decode(payload + "=" * (-len(payload) % 4))
        return binascii.a2b_qp(payload.encode("ascii"), header=True)
    except (binascii.Error, ValueError):
        return None


def _raw_text(text: str, hint: str | None) -> str:
    # Headers reach us as ASCII with surrogate-escaped 8-bit bytes; recover and decode those.
    data = text.encode("utf-8", "surrogateescape")
    return text if data.isascii() else decode_bytes(data, None, hint=hint)


def decode_header_text(value: str, *, hint: str | None = None) -> str:
    """Decode a raw header value: RFC 2047 encoded words and raw 8-bit bytes.

    Unlike the standard library, adjacent encoded words in one charset are joined *before*
    decoding, because clients split multi-byte characters across them.
    """
    value = _FOLD.sub("", value).replace("\r", "").replace("\n", "")
    parts: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    end = 0

    def flush() -> None:
        if pending:
            parts.append(decode_bytes(b"".join(pending), pending_charset))
            pending.clear()

    for match in _ENCODED_WORD.finditer(value):
        between = value[end : match.start()]
        data = _word_bytes(match.group(2), match.group(3))
        charset = match.group(1).partition("*")[0]  # RFC 2231 adds "*language"
        if between.strip() or data is None or charset.lower() != pending_charset.lower():
            flush()
            # Whitespace between two encoded words is folding, not text (RFC 2047 section 6.2).
            if between.strip() or end == 0:
                parts.append(_raw_text(between, hint))
        if data is None:
            parts.append(match.group(0))
            pending_charset = ""
        else:
            pending.append(data)
            pending_charset = charset
        end = match.end()
    flush()
    parts.append(_raw_text(value[end:], hint))
    return clean("".join(parts))


def _unquote(value: str) -> str:
    value = value.strip()
    if value.startswith('"'):
        return re.sub(r"\\(.)", r"\1", value[1:-1] if value.endswith('"') else value[1:])
    return value


def _rfc2231(sections: dict[int, tuple[bool, str]], hint: str | None) -> str:
    """Join RFC 2231 continuations; only the first extended one names the charset."""
    charset: str | None = None
    data = bytearray()
    for number in sorted(sections):
        extended, value = sections[number]
        if extended and number == min(sections) and value.count("'") >= 2:
            charset, _language, value = value.split("'", 2)
        if extended:
            data += unquote_to_bytes(value.encode("utf-8", "surrogateescape"))
        else:
            data += value.encode("utf-8", "surrogateescape")
    return decode_bytes(bytes(data), charset or None, hint=hint)


def decode_param(value: str, name: str, *, hint: str | None = None) -> str | None:
    """A parameter (``filename``, ``name``) of a raw MIME header value, decoded, or None.

    Handles RFC 2231 (``filename*0*=gb2312''%D7%A3``) and the RFC 2047 words inside quotes
    that Outlook and Gmail send, in any charset :func:`decode_bytes` understands.
    """
    name = name.lower()
    simple: str | None = None
    sections: dict[int, tuple[bool, str]] = {}
    for match in _PARAM.finditer(_FOLD.sub("", value)):
        key, number, extended, raw = match.groups()
        if key.lower() != name:
            continue
        if number is None and extended is None:
            simple = _unquote(raw) if simple is None else simple
        else:
            sections.setdefault(int(number[1:]) if number else 0, (bool(extended), _unquote(raw)))
    if sections:
        return _rfc2231(sections, hint)
    return None if simple is None else decode_header_text(simple, hint=hint)
