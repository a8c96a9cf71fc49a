"""The assistant protocol every bot backend (embedded FAQ, Rasa) implements."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol


class Intent(enum.StrEnum):
    FAQ = "faq"
    GREET = "greet"
    THANKS = "thanks"
    GOODBYE = "goodbye"
    HANDOFF = "handoff"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class BotContext:
    text: str
    conversation_id: int | None  # None before the first message is stored
    customer_id: int | None
    channel: str
    locale: str | None = None


@dataclass(frozen=True)
class SuggestedArticle:
    article_id: str
    locale: str
    title: str
    score: float
    summary: str = ""  # the start of the article, for channels without links (email)


@dataclass(frozen=True)
class BotReply:
    """A proposal. ``confidence`` is 0..1; ``text`` is empty when the bot has nothing to say."""

    intent: Intent
    confidence: float
    text: str = ""
    locale: str = "en"
    article_id: str | None = None
    article_locale: str | None = None
    article_title: str | None = None
    suggestions: tuple[SuggestedArticle, ...] = field(default_factory=tuple)

    @property
    def handoff(self) -> bool:
        return self.intent is Intent.HANDOFF


class Assistant(Protocol):
    """``does_io`` tells the router whether ``respond`` may wait on the network (Rasa does, the
    embedded FAQ bot does not): only an assistant without I/O is asked inside the transaction
    that stores the message."""

    does_io: bool

    async def respond(self, context: BotContext) -> BotReply: ...
