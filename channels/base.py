"""The message types and the adapter protocol: the one module of ``channels`` the router imports."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
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
    "Handle",
    "InboundMessage",
    "MessageKind",
    "OutboundMessage",
    "PermanentChannelError",
    "Report",
    "Suggestion",
    "SwitchboardError",
    "TransientChannelError",
]


class Control(enum.StrEnum):
    """Keywords carriers and customers expect to work on messaging channels."""

    OPT_OUT = "opt_out"  # STOP, UNSUBSCRIBE, CANCEL, END, QUIT
    OPT_IN = "opt_in"  # START, UNSTOP
    HELP = "help"  # HELP, INFO; Telegram's /help


class MessageKind(enum.StrEnum):
    """What a message is to the router, whatever the provider called it."""

    TEXT = "text"  # words the customer wrote or a button they pressed (files may come along)
    # The customer opened the chat (Telegram's /start, Messenger's Get Started, LINE's follow,
    # WhatsApp's welcome request): greeted, never asked of the bot, never a miss.
    OPENER = "opener"
    # Something without words whose ``text`` only describes it (a sticker, a location, a
    # contact card, a poll): like a picture without a caption, nothing the bot can answer.
    MEDIA = "media"


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
    control: Control | None = None  # a keyword the channel recognised (SMS STOP/START/HELP, /help)
    phone: str | None = None  # an E.164 number the customer shared: links their phone identities
    attachments: tuple[Attachment, ...] = ()
    kind: MessageKind = MessageKind.TEXT
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def media_only(self) -> bool:
        """Media without words: files without a text or caption, or a ``MEDIA`` message."""
        if self.kind is MessageKind.MEDIA:
            return True
        return self.kind is MessageKind.TEXT and bool(self.attachments) and not self.text.strip()


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
    # "phone": addresses are E.164 numbers shared with the other phone channels (SMS, voice,
    # WhatsApp), so a number known on one is the same customer on another.
    address_kind: str | None = None
    # Replies are only allowed this long after the customer's last message (WhatsApp: 24 h).
    reply_window: timedelta | None = None
    # The adapter wants the customer's last message's ``meta["reply_context"]`` (LINE's reply
    # token) in ``OutboundMessage.meta["reply_context"]``, with ``received_at``.
    reply_context: bool = False


# What a channel's inbound side is handed (the router's handle_inbound), and how it reports a
# provider's delivery status for one of our messages by the provider's id.
Handle = Callable[[InboundMessage], Awaitable[Any]]
Report = Callable[[str, DeliveryState, str | None], Awaitable[bool]]


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

    def kin(self, name: str) -> tuple[str, ...]:
        """Channels sharing ``name``'s address space (SMS, voice and WhatsApp: phone numbers),
        plus "phone", where numbers customers shared are kept."""
        kind = self.traits(name).address_kind
        if kind is None:
            return ()
        others = [n for n, t in self._traits.items() if t.address_kind == kind and n != name]
        return (*others, kind) if kind == "phone" else tuple(others)

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
