"""One error hierarchy, so callers can catch broadly or narrowly."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


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
