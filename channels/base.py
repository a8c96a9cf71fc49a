"""The message types and the adapter protocol: the one module of ``channels`` the router imports."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
    "ChannelTraits",
    "Control",
    "DeliveryReceipt",
    "InboundMessage",
    "OutboundMessage",
    "PermanentChannelError",
    "Suggestion",
    "SwitchboardError",
    "TransientChannelError",
]


class Control(enum.StrEnum):
    """Keywords carriers and customers expect to work on messaging channels."""

    OPT_OUT = "opt_out"  # STOP, UNSUBSCRIBE, CANCEL, END, QUIT
    OPT_IN = "opt_in"  # START, UNSTOP
    HELP = "help"  # HELP, INFO


@dataclass(frozen=True)
class Attachment:
    """A file that came with a message. ``data`` is None when it was over the size limit
    (``omitted``): it is still listed so nobody thinks the customer sent nothing."""

    name: str
    content_type: str
    size: int
    url: str | None = None
    data: bytes | None = None
    omitted: bool = False


@dataclass(frozen=True)
class Suggestion:
    """A follow-up the customer can pick (a button where the channel has them)."""

    article_id: str
    title: str
    summary: str = ""


@dataclass(frozen=True)
class InboundMessage:
    """What every channel hands the router, whatever the provider."""

    channel: str
    address: str
    text: str
    external_id: str | None = None
    display_name: str | None = None
    locale: str | None = None
    thread_ref: str | None = None  # a conversation reference the customer quoted ("[#A1B2]")
    thread_ids: tuple[str, ...] = ()  # provider ids of earlier messages this one answers
    subject: str | None = None
    automatic: str | None = None  # why this was sent by a machine (auto-reply, bounce, list)
    control: Control | None = None  # a keyword the channel recognised (SMS STOP/START/HELP)
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


@dataclass(frozen=True)
class ChannelTraits:
    """How the router treats a channel's conversations.

    Live channels (chat, messengers) have one open conversation per customer and show agent
    events ("Ana joined"). Threaded ones (email) thread by ``thread_ref``/``thread_ids`` instead,
    acknowledge each new conversation once, send the customer only answers to what they wrote,
    and send at most one automatic reply per address per ``auto_reply_window`` (RFC 3834).
    """

    live: bool = True
    threaded: bool = False
    acknowledges: bool = False
    max_misses: int | None = None  # None: the bot's setting
    auto_reply_window: timedelta | None = None
    # False for a phone call: replies are spoken in the call (recorded as delivered, never
    # queued for sending) and agents talk instead of writing.
    outbound: bool = True


@runtime_checkable
class ChannelAdapter(Protocol):
    """The outbound half of a channel. ``send`` raises a ChannelError subclass on failure."""

    name: str

    async def send(self, message: OutboundMessage) -> DeliveryReceipt: ...


class ChannelRegistry:
    """Name → adapter, filled by the composition root."""

    def __init__(self) -> None:
        self._adapters: dict[str, ChannelAdapter] = {}
        self._traits: dict[str, ChannelTraits] = {}

    def register(self, adapter: ChannelAdapter, traits: ChannelTraits | None = None) -> None:
        if adapter.name in self._adapters:
            raise ValueError(f"channel {adapter.name} registered twice")
        self._adapters[adapter.name] = adapter
        self._traits[adapter.name] = traits or ChannelTraits()

    def traits(self, name: str) -> ChannelTraits:
        """A channel's traits; an unknown channel is treated as a live one."""
        return self._traits.get(name, DEFAULT_TRAITS)

    def get(self, name: str) -> ChannelAdapter:
        try:
            return self._adapters[name]
        except KeyError:
            raise PermanentChannelError(f"no adapter for channel {name!r}") from None

    def names(self) -> list[str]:
        return sorted(self._adapters)


DEFAULT_TRAITS = ChannelTraits()
