"""What a delivery report (``multipart/report``, RFC 6522) says about the mail it returns.

A bounce's own From: is often no address at all (``MAILER DAEMON <>``) and its envelope sender
is empty by rule, yet it usually carries the returned message, or its headers: their
Message-ID names the conversation our reply belonged to, and their To: the customer it was for.
The delivery-status part names the reporting mail server (``Reporting-MTA: dns; host``), whose
postmaster RFC 5321 section 4.5.1 says must exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses

from channels.email.charset import clean, decode_header_text

__all__ = ["Report", "read_report"]

_RETURNED = frozenset({"message/rfc822", "text/rfc822-headers", "message/rfc822-headers"})
_ID = re.compile(r"<([^<>\s]+@[^<>\s]+)>")
_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")


@dataclass(frozen=True)
class Report:
    returned_ids: tuple[str, ...]  # Message-ID of the returned message
    returned_to: tuple[str, ...]  # its To: and Cc: addresses, lower-cased
    reporting_host: str | None


def read_report(message: Message) -> Report | None:
    """The details of a ``multipart/report``; None for any other message."""
    if message.get_content_type() != "multipart/report":
        return None
    ids: list[str] = []
    to: list[str] = []
    host: str | None = None
    for part in message.walk():
        kind = part.get_content_type()
        if kind in _RETURNED:
            headers = _returned_headers(part)
            if headers is not None:
                ids += _ID.findall(str(headers.get("message-id", "")))
                found = getaddresses([str(v) for v in headers.get_all("to", [])])
                found += getaddresses([str(v) for v in headers.get_all("cc", [])])
                to += [decode_header_text(address).strip().lower() for _, address in found]
        elif kind == "message/delivery-status" and host is None:
            host = _reporting_host(part)
    return Report(
        tuple(dict.fromkeys(clean(i) for i in ids)),
        tuple(dict.fromkeys(a for a in to if a)),
        host,
    )


def _returned_headers(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list):  # message/rfc822: the standard library parsed it already
        inner = payload[0] if payload else None
        return inner if isinstance(inner, Message) else None
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return None
    return BytesParser().parsebytes(data, headersonly=True)


def _reporting_host(part: Message) -> str | None:
    payload = part.get_payload()
    blocks = payload if isinstance(payload, list) else []
    for block in blocks:
        if isinstance(block, Message):
            value = str(block.get("reporting-mta", ""))
            host = value.partition(";")[2].strip().rstrip(".").lower()
            if _HOST.match(host):
                return host
    return None
