"""One error hierarchy, so callers can catch broadly or narrowly."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
from sqlalchemy import exc as sa_exc

from storage.db import is_unavailable, refuses_data


class SwitchboardError(Exception):
    """Root of every error Switchboard raises on purpose."""


class ChannelError(SwitchboardError):
    """A channel could not deliver a message."""


class TransientChannelError(ChannelError):
    """Worth retrying later (timeouts, 5xx, rate limits); ``retry_after`` in seconds if known."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentChannelError(ChannelError):
    """Retrying cannot help (unknown recipient, rejected content, opted out)."""


class RecipientOptedOut(PermanentChannelError):
    """The provider says the customer opted out (Twilio 21610: they texted STOP to the carrier):
    nothing more may be sent to this address until they opt back in."""


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# HTTP statuses that say "later": timeout, too many requests, and every server error.
RETRY_STATUSES = frozenset({408, 425, 429})


def retry_can_help(exc: BaseException) -> bool:
    """Whether doing the same thing again later may succeed.

    Yes for transport and availability errors: a ``TransientChannelError``, connection
    refused or reset, timeouts, a dropped HTTP connection, an HTTP 408/425/429 or 5xx, a
    database that is away. No for everything else: a ``PermanentChannelError``, and
    programming or data errors (``TypeError``, ``ValueError``, ``KeyError``, a value a column
    refuses, any other 4xx), which fail the same way every time.
    """
    if isinstance(exc, TransientChannelError):
        return True
    if isinstance(exc, ChannelError):
        return False
    if isinstance(exc, aiohttp.ClientResponseError):
        return exc.status in RETRY_STATUSES or exc.status >= 500
    if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)):
        return True
    return is_unavailable(exc)  # OSError (connections), timeouts, the database


def fails_every_time(exc: BaseException) -> bool:
    """Whether ``exc`` is a programming or data error that the same input will raise again:
    ``TypeError``, ``ValueError`` (``UnicodeError`` included), ``LookupError`` (``KeyError``,
    ``IndexError``), ``AttributeError``, a value or statement the database refuses, a
    ``PermanentChannelError``. Narrower than ``not retry_can_help(exc)``: an error of unknown
    kind is neither, and a caller that would lose data by giving up retries it."""
    if isinstance(exc, sa_exc.DBAPIError):
        return refuses_data(exc)
    if isinstance(exc, sa_exc.StatementError):  # a driver's own error, e.g. while encoding
        return exc.orig is not None and fails_every_time(exc.orig)
    return isinstance(
        exc, (TypeError, ValueError, LookupError, AttributeError, PermanentChannelError)
    )
