"""Build the outgoing reply: a UTF-8 text + HTML message that threads and does not loop.

Bot replies carry ``Auto-Submitted: auto-replied`` (RFC 3834 section 5) so other responders
stay quiet, and ``X-Auto-Response-Suppress: All`` for Exchange, which ignores that header.
RFC 3834 advises against ``Precedence``, so it is never set. Replies written by an agent get
neither: an out-of-office notice for a person's reply is worth seeing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from html import escape
from types import MappingProxyType

from channels.email.mime import strip_reply_prefixes

__all__ = ["compose", "new_message_id", "reply_subject", "text_to_html", "usable_id"]

# 7-bit transfer encodings: the generator picks quoted-printable or base64 (whichever is
# shorter, so base64 for Thai and Chinese), and no relay has to support 8BITMIME.
_POLICY = policy.SMTP.clone(cte_type="7bit")
_MAX_REFERENCES = 20  # the root plus the most recent ones keep threading and short headers
_OWN_HEADERS = frozenset(
    {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "auto-submitted",
        "x-auto-response-suppress",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)
_REFERENCE = re.compile(r"^[A-Z0-9]{6,16}$")
_OLD_TOKEN = re.compile(r"\[#[A-Za-z0-9]{6,16}\]")
_ID = re.compile(r"^[^<>\s@]+@[^<>\s@]+$")
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_DEFAULT_SUBJECT = "Your request"
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


def _bare_id(value: str) -> str:
    bare = value.strip().removeprefix("<").removesuffix(">")
    if not _ID.match(bare):
        raise ValueError(f"not a message id: {value!r}")
    return bare


def usable_id(value: str | None) -> str | None:
    """``value`` without angle brackets when it is a ``left@right`` message id, else None.

    Other mail's ids are not ours to vouch for: ``<1234567>`` and ``<xxxx>`` arrive in real
    mail, and threading headers we cannot reuse are left out rather than failing a reply.
    """
    bare = (value or "").strip().removeprefix("<").removesuffix(">")
    return bare if _ID.match(bare) else None


def _references(references: Sequence[str], in_reply_to: str | None) -> list[str]:
    ids = [bare for value in references if (bare := usable_id(value))]
    parent = usable_id(in_reply_to)
    if parent:
        ids.append(parent)  # RFC 5322 3.6.4: the parent's id comes last
    ids = list(dict.fromkeys(ids))
    if len(ids) > _MAX_REFERENCES:
        ids = ids[:1] + ids[-(_MAX_REFERENCES - 1) :]
    return ids


def text_to_html(text: str) -> str:
    """A safe HTML rendering of plain ``text``: everything escaped, blank lines make paragraphs,
    http(s) addresses links.

    ``dir="auto"`` lets each paragraph pick its own direction, so Persian reads right-to-left
    next to Thai or English.
    """
    blocks = [block for block in re.split(r"\n[ \t]*\n", text.strip()) if block.strip()]
    paragraphs = "\n".join(
        '<p dir="auto">' + "<br>\n".join(_linked(line) for line in block.split("\n")) + "</p>"
        for block in blocks
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        f'<body><div dir="auto">\n{paragraphs}\n</div></body></html>\n'
    )


_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")


def _linked(line: str) -> str:
    """A line escaped, its http(s) addresses made links."""
    out, last = [], 0
    for match in _URL.finditer(line):
        url = escape(match.group())
        out += [escape(line[last : match.start()]), f'<a href="{url}">{url}</a>']
        last = match.end()
    out.append(escape(line[last:]))
    return "".join(out)


def compose(
    *,
    from_address: str,
    from_name: str | None,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    message_id: str,
    in_reply_to: str | None,
    references: Sequence[str],
    auto_submitted: bool,
    date: datetime,
    extra_headers: Mapping[str, str] = _NO_HEADERS,
) -> EmailMessage:
    """A multipart/alternative reply; ``html`` defaults to :func:`text_to_html` of ``text``.

    Ids are given without angle brackets. ``in_reply_to`` and ``references`` that are not
    ``left@right`` ids are left out (they come from other people's mail). ``extra_headers``
    may not replace the headers set here. Raises ValueError for a naive ``date``, a malformed
    ``message_id``, an address that is not one, or a header that would inject a line break.
    """
    if date.tzinfo is None:
        raise ValueError("date must be timezone-aware")
    message = EmailMessage(policy=_POLICY)
    message["From"] = Address(display_name=from_name or "", addr_spec=from_address)
    message["To"] = to
    message["Subject"] = " ".join(subject.split())
    message["Date"] = date
    message["Message-ID"] = f"<{_bare_id(message_id)}>"
    parent = usable_id(in_reply_to)
    if parent:
        message["In-Reply-To"] = f"<{parent}>"
    thread = _references(references, in_reply_to)
    if thread:
        message["References"] = " ".join(f"<{value}>" for value in thread)
    if auto_submitted:
        message["Auto-Submitted"] = "auto-replied"
        message["X-Auto-Response-Suppress"] = "All"
    for name, value in extra_headers.items():
        if name.lower() in _OWN_HEADERS:
            raise ValueError(f"{name} is set by compose() and cannot be overridden")
        message[name] = value
    message.set_content(text, charset="utf-8")
    message.add_alternative(html if html is not None else text_to_html(text), subtype="html")
    for part in message.iter_parts():
        # EmailMessage.set_content stamps MIME-Version on every part; it belongs on top only.
        del part["MIME-Version"]
    return message


def reply_subject(original_subject: str, reference: str) -> str:
    """``Re: <original without prefixes or an old token> [#REF]``; ``reference`` like "AB12CD34"."""
    token = reference.strip().removeprefix("[#").removesuffix("]").upper()
    if not _REFERENCE.match(token):
        raise ValueError(f"not a conversation reference: {reference!r}")
    base = strip_reply_prefixes(_OLD_TOKEN.sub(" ", original_subject))
    if not base:
        return f"{_DEFAULT_SUBJECT} [#{token}]"
    return f"Re: {base} [#{token}]"


def new_message_id(domain: str) -> str:
    """A unique Message-ID (without angle brackets) in ``domain``."""
    domain = domain.strip().lower()
    if not _DOMAIN.match(domain):
        raise ValueError(f"not a domain: {domain!r}")
    return f"{uuid.uuid4().hex}@{domain}"
