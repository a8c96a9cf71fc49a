"""One error hierarchy, so callers can catch broadly or narrowly."""

from __future__ import annotations


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
