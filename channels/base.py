"""The message types and the adapter protocol: the one module of ``channels`` the router imports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from channels.errors import (
    ChannelError,
    PermanentChannelError,
    SwitchboardError,
    TransientChannelError,
)
from storage.models import AuthorKind, DeliveryState

__all__ = [
    "Attachment",
    "ChannelAdapter",
    "ChannelError",
    "ChannelRegistry",
    "DeliveryReceipt",
    "InboundMessage",
    "OutboundMessage",
    "PermanentChannelError",
    "Suggestion",
    "SwitchboardError",
    "TransientChannelError",
]


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    size: int
    url: str | None = None


@dataclass(frozen=True)
class Suggestion:
    """A follow-up the customer can pick (a button where the channel has them)."""

    article_id: str
    title: str


@dataclass(frozen=True)
class InboundMessage:
    """What every channel hands the router, whatever the provider."""

    channel: str
    address: str
    text: str
    external_id: str | None = None
    display_name: str | None = None
    locale: str | None = None
    thread_ref: str | None = None
    attachments: tuple[Attachment, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboundMessage:
    """One reply to deliver: the adapter knows the address and thread, nothing of conversations."""

    channel: str
    address: str
    text: str
    touchpoint_id: int
    author_kind: AuthorKind
    created_at: datetime
    author_name: str | None = None
    reference: str | None = None
    suggestions: tuple[Suggestion, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeliveryReceipt:
    provider_message_id: str | None = None
    state: DeliveryState = DeliveryState.SENT


@runtime_checkable
class ChannelAdapter(Protocol):
    """The outbound half of a channel. ``send`` raises a ChannelError subclass on failure."""

    name: str

    async def send(self, message: OutboundMessage) -> DeliveryReceipt: ...


class ChannelRegistry:
    """Name → adapter, filled by the composition root."""

    def __init__(self) -> None:
        self._adapters: dict[str, ChannelAdapter] = {}

    def register(self, adapter: ChannelAdapter) -> None:
        if adapter.name in self._adapters:
            raise ValueError(f"channel {adapter.name} registered twice")
        self._adapters[adapter.name] = adapter

    def get(self, name: str) -> ChannelAdapter:
        try:
            return self._adapters[name]
        except KeyError:
            raise PermanentChannelError(f"no adapter for channel {name!r}") from None

    def names(self) -> list[str]:
        return sorted(self._adapters)
