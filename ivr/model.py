"""The call flow model: languages, hours, queue, texts and menus, frozen after validation
(``ivr.flow`` reads and validates it)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from channels.errors import SwitchboardError
from ivr.hours import BusinessHours

MAIN_MENU = "main"
AGENT_DIGIT = "0"  # pressing 0 reaches an agent from every menu; no option may use it
KEYS = "123456789*#"  # what an option or a language may be chosen with


class FlowError(SwitchboardError, ValueError):
    """The call flow is wrong; the message names the file and the place in one line."""


class OptionAction(enum.StrEnum):
    ASK_QUESTION = "ask_question"
    AGENT = "agent"
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"
    GOODBYE = "goodbye"


class LeaveMode(enum.StrEnum):
    """What a caller is offered when no agent can take the call."""

    VOICEMAIL = "voicemail"
    CALLBACK = "callback"
    CHOICE = "choice"  # press 1 for a voicemail, 2 for a call back


# Every text the engine speaks, per language; queue_position is a template.
TEXT_KEYS = (
    "greeting",
    "invalid",
    "goodbye",
    "ask_question",
    "more_help",
    "bot_unsure",
    "connecting",
    "queue_position",
    "agent_connected",
    "wait_too_long",
    "closed",
    "leave_choice",
    "voicemail_prompt",
    "voicemail_thanks",
    "callback_confirm",
)
TEXT_PLACEHOLDERS: Mapping[str, frozenset[str]] = {
    "queue_position": frozenset({"position", "minutes"})
}

# Words listened for outside the menu options, per language.
WORD_KEYS = ("agent", "main_menu", "another_question", "done", "voicemail", "callback")


@dataclass(frozen=True)
class Language:
    code: str  # the bot locale too: en, th, zh
    digit: str  # chosen with this key in the language menu
    say_language: str  # <Say language=…>
    voice: str  # <Say voice=…>
    speech_language: str  # <Gather language=…>
    prompt: str  # "For English, press 1.", spoken in this language's voice
    names: tuple[str, ...] = ()  # spoken names that choose it ("English", "ภาษาไทย")
    transcribe: bool = False  # Twilio transcribes voicemail in English only


@dataclass(frozen=True)
class Option:
    digit: str
    words: Mapping[str, tuple[str, ...]]  # language → phrases that choose this option
    goto: str | None = None
    action: OptionAction | None = None
    say: Mapping[str, str] | None = None  # spoken first; alone, the menu is offered again


@dataclass(frozen=True)
class Menu:
    name: str
    prompt: Mapping[str, str]  # language → prompt
    options: tuple[Option, ...]

    def by_digit(self, digit: str) -> Option | None:
        return next((o for o in self.options if o.digit == digit), None)


@dataclass(frozen=True)
class QueueConfig:
    name: str = "support"  # Twilio queue name (64 characters at most)
    max_wait_seconds: int = 600
    average_handle_seconds: int = 180
    hold_music_url: str = ""  # played between announcements; silence when empty
    announce_every_seconds: int = 30  # pause between announcements when there is no music
    on_wait_limit: LeaveMode = LeaveMode.CHOICE


@dataclass(frozen=True)
class GatherConfig:
    timeout_seconds: int = 5
    max_invalid: int = 3  # the third invalid or missing input in a row reaches an agent
    min_confidence: float = 0.0  # speech below this counts as not understood


@dataclass(frozen=True)
class Flow:
    languages: Mapping[str, Language]  # first is the default
    hours: BusinessHours
    queue: QueueConfig
    gather: GatherConfig
    after_hours: LeaveMode
    voicemail_max_seconds: int
    texts: Mapping[str, Mapping[str, str]]  # language → key → text
    words: Mapping[str, Mapping[str, tuple[str, ...]]]  # language → key → phrases
    menus: Mapping[str, Menu]

    @property
    def default_language(self) -> Language:
        return next(iter(self.languages.values()))

    def language(self, code: str) -> Language:
        return self.languages.get(code, self.default_language)

    def text(self, language: str, key: str, **values: Any) -> str:
        """Text ``key`` in ``language`` (the default one if unknown), placeholders filled."""
        return self.texts[self.language(language).code][key].format(**values)
