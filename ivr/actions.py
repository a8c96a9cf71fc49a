"""What the engine asks for: TwiML verbs to render, and work for its caller (ask the bot, book a
call back). Small frozen values, so tests compare them and ``ivr.twiml`` renders them."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class GatherPurpose(enum.StrEnum):
    """What a ``<Gather>`` collects; the engine reads it back from the call state."""

    LANGUAGE = "language"
    MENU = "menu"
    QUESTION = "question"  # the caller asks the bot
    MORE_HELP = "more_help"  # after a bot answer: another question, main menu, agent, done
    LEAVE_CHOICE = "leave_choice"  # no agent: 1 voicemail, 2 call back


class EscalationReason(enum.StrEnum):
    REQUESTED = "requested"  # an agent option, 0, or "agent" said
    INVALID_INPUT = "invalid_input"  # too many invalid or missing inputs in a row
    BOT_UNSURE = "bot_unsure"  # the bot had no confident answer


class NoAgentReason(enum.StrEnum):
    """Why a caller is offered a voicemail or a call back instead of an agent."""

    CLOSED = "closed"  # outside business hours
    WAIT_LIMIT = "wait_limit"  # held longer than queue.max_wait_seconds
    QUEUE_ERROR = "queue_error"  # Twilio could not queue the call (full, error)
    CHOSEN = "chosen"  # a menu option for voicemail or call back


@dataclass(frozen=True)
class Say:
    text: str
    language: str  # <Say language=…>, e.g. th-TH
    voice: str  # <Say voice=…>, e.g. Google.th-TH-Standard-A


@dataclass(frozen=True)
class Play:
    url: str


@dataclass(frozen=True)
class Pause:
    seconds: int


@dataclass(frozen=True)
class Gather:
    """Speak ``prompts`` while listening; on no input Twilio falls through to a redirect back to
    the same gather URL, which the engine counts as an invalid input."""

    purpose: GatherPurpose
    prompts: tuple[Say, ...]
    language: str  # speech recognition language, e.g. th-TH
    hints: tuple[str, ...] = ()
    input: str = "dtmf speech"
    num_digits: int = 1
    timeout: int = 5
    menu: str | None = None  # for GatherPurpose.MENU


@dataclass(frozen=True)
class Enqueue:
    """Join the Twilio queue and hold there (the wait URL announces position and wait)."""

    queue: str
    reason: EscalationReason


@dataclass(frozen=True)
class Leave:
    """Leave the queue (only in wait-URL TwiML); Twilio then calls the queue exit URL."""


@dataclass(frozen=True)
class Record:
    max_length: int
    transcribe: bool
    purpose: str = "voicemail"


@dataclass(frozen=True)
class Hangup:
    pass


Action = Say | Play | Pause | Gather | Enqueue | Leave | Record | Hangup


@dataclass(frozen=True)
class AskBot:
    """Ask the bot ``question`` in ``locale``, then call ``Engine.bot_answered``."""

    question: str
    locale: str


@dataclass(frozen=True)
class CallbackRequest:
    """Book a call back to ``number`` (the caller ID), not before ``due``."""

    number: str
    locale: str
    due: datetime | None  # None: the line never opens (every day closed)
    reason: NoAgentReason
