"""The call flow as a pure state machine: each Twilio request becomes one engine call that takes
the stored ``CallState`` and returns a ``Step`` (the new state, the verbs to answer with, and
any work for the caller: ask the bot, book a call back). No I/O, no clock: time is passed in.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from datetime import datetime

from ivr import speech
from ivr.actions import (
    Action,
    AskBot,
    CallbackRequest,
    Enqueue,
    EscalationReason,
    GatherPurpose,
    Hangup,
    Leave,
    NoAgentReason,
    Pause,
    Play,
    Record,
    Say,
)
from ivr.model import AGENT_DIGIT, MAIN_MENU, Flow, LeaveMode, Option, OptionAction
from ivr.prompts import Prompts
from ivr.state import CallState, CallSummary, Outcome, after, summarize

# Keys in the built-in gathers; the texts more_help and leave_choice should name them.
MORE_HELP_KEYS = {"1": "another_question", "2": "main_menu", "9": "done"}
LEAVE_CHOICE_KEYS = {"1": "voicemail", "2": "callback"}
# Caller IDs that cannot be called back: SIP and client identities are not numbers, and
# withheld numbers arrive as the keypad spelling of ANONYMOUS, RESTRICTED, BLOCKED, UNKNOWN
# or UNAVAILABLE.
_DIALABLE = re.compile(r"^\+?[1-9]\d{5,14}$")
_WITHHELD = frozenset({"+266696687", "+7378742833", "+2562533", "+8656696", "+86282452253"})


@dataclass(frozen=True)
class IncomingCall:
    caller: str  # Twilio From
    called: str  # Twilio To
    now: datetime


@dataclass(frozen=True)
class Step:
    state: CallState
    actions: tuple[Action, ...] = ()
    ask: AskBot | None = None  # ask the bot, then call Engine.bot_answered (actions are empty)
    callback: CallbackRequest | None = None  # book this call back

    @property
    def enqueue(self) -> Enqueue | None:
        """The queue join in this step, if any: the call now waits for an agent."""
        return next((a for a in self.actions if isinstance(a, Enqueue)), None)


class Engine:
    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.prompts = Prompts(flow)

    # ----------------------------------------------------------------------------- entry points

    def start(self, call: IncomingCall) -> Step:
        """A new call: greeting, then the language menu (or the main menu with one language).
        Closed lines are told so once the caller's language is known."""
        state = CallState(
            caller=call.caller,
            called=call.called,
            started_at=call.now,
            language=self.flow.default_language.code,
        )
        greeting = (self._say(state, "greeting"),)
        if len(self.flow.languages) > 1:
            return self._gather(state.step("menu:language"), GatherPurpose.LANGUAGE, greeting)
        if not self.flow.hours.is_open(call.now):
            return self._closed(state, call.now, greeting)
        return self._menu(state, MAIN_MENU, greeting)

    def on_input(
        self,
        state: CallState,
        digits: str | None,
        speech_result: str | None,
        confidence: float | None,
        now: datetime,
    ) -> Step:
        """The gather action: what the caller pressed or said (both None when nothing came)."""
        heard = speech.hear(digits, speech_result, confidence, self.flow.gather.min_confidence)
        state = self._current(state)
        if state.awaiting is None:  # a stray request: offer the main menu again
            return self._menu(state.step("resync"), MAIN_MENU)
        if heard is None:
            if state.awaiting is GatherPurpose.MORE_HELP:  # silence after an answer: all done
                return self._goodbye(state)
            return self._invalid(state, now)
        purpose = state.awaiting
        state = state.step(heard.describe())
        handlers = {
            GatherPurpose.LANGUAGE: self._on_language,
            GatherPurpose.MENU: self._on_menu,
            GatherPurpose.QUESTION: self._on_question,
            GatherPurpose.MORE_HELP: self._on_more_help,
            GatherPurpose.LEAVE_CHOICE: self._on_leave_choice,
        }
        return handlers[purpose](state, heard, now)

    def bot_answered(
        self, state: CallState, answer: str | None, now: datetime, locale: str | None = None
    ) -> Step:
        """The bot's confident answer (spoken, then "anything else?"), or None: to an agent.
        ``locale`` is the answer's language when it differs from the caller's."""
        text = speech.to_speakable(answer) if answer else ""
        state = dataclasses.replace(state, question=None)
        if not text:
            lead = (self._say(state, "bot_unsure"),)
            return self._to_agent(state.step("bot:unsure"), EscalationReason.BOT_UNSURE, now, lead)
        voice = self.flow.language(locale or state.language)
        said = Say(text, voice.say_language, voice.voice)
        state = state.step("bot:answered", answers=state.answers + 1)
        return self._gather(state, GatherPurpose.MORE_HELP, (said,))

    def queue_wait(
        self,
        state: CallState,
        position: int,
        waited_seconds: int,
        agents_online: int,
        now: datetime,
    ) -> Step:
        """The queue wait URL, requested again each time its TwiML ends: position and estimated
        wait, then hold music or a pause; a ``<Leave>`` once closed or past the wait limit."""
        queue = self.flow.queue
        if not self.flow.hours.is_open(now):
            return Step(state.step("queue:left", no_agent=NoAgentReason.CLOSED), (Leave(),))
        if waited_seconds >= queue.max_wait_seconds:
            return Step(state.step("queue:left", no_agent=NoAgentReason.WAIT_LIMIT), (Leave(),))
        position = max(position, 1)
        seconds = queue.average_handle_seconds * position / max(agents_online, 1)
        minutes = max(1, math.ceil(seconds / 60))
        announce = self._say(state, "queue_position", position=position, minutes=minutes)
        hold = Play(queue.hold_music_url) if queue.hold_music_url else None
        return Step(state, (announce, hold or Pause(queue.announce_every_seconds)))

    def queue_exit(
        self, state: CallState, result: str, waited_seconds: int | None, now: datetime
    ) -> Step:
        """The Enqueue action: Twilio's QueueResult once the caller left the queue."""
        state = dataclasses.replace(state, queue_seconds=waited_seconds)
        if result == "bridged":  # the agent conversation is over
            bridged_at = state.bridged_at or after(state.enqueued_at, waited_seconds) or now
            talk = max(0, int((now - bridged_at).total_seconds()))
            state = state.step("agent:done", bridged_at=bridged_at, talk_seconds=talk)
            return self._goodbye(dataclasses.replace(state, result=state.result or Outcome.AGENT))
        if result == "hangup":
            return Step(state.step("queue:hangup"), (Hangup(),))
        if result in ("redirected", "redirected-from-bridged"):
            return Step(state.step(f"queue:{result}"))  # the call went elsewhere
        reason = state.no_agent if result == "leave" else None
        reason = reason or NoAgentReason.QUEUE_ERROR
        if reason is NoAgentReason.CLOSED:
            return self._closed(state, now)
        lead = (self._say(state, "wait_too_long"),)
        return self._no_agent(state, reason, self.flow.queue.on_wait_limit, now, lead)

    def agent_connected(self, state: CallState, now: datetime) -> Step:
        """The ``<Queue url=…>`` request, on the caller's leg just before the agent is bridged."""
        state = state.step("agent:connected", bridged_at=now, result=Outcome.AGENT)
        return Step(state, (self._say(state, "agent_connected"),))

    def after_hours(self, state: CallState, now: datetime) -> Step:
        return self._closed(state, now)

    def callback_requested(self, state: CallState, now: datetime) -> Step:
        return self._callback(state, now)

    def voicemail_done(self, state: CallState) -> Step:
        """The Record action: a message was recorded (the transcription arrives separately)."""
        state = state.step("voicemail:left", result=Outcome.VOICEMAIL)
        return Step(state, (self._say(state, "voicemail_thanks"), Hangup()))

    def call_ended(
        self, state: CallState, status: str, duration_seconds: int | None, now: datetime
    ) -> CallSummary:
        """The status callback: what to record about the call."""
        return summarize(state, status, duration_seconds, now)

    # ---------------------------------------------------------------------------- the gathers

    def _on_language(self, state: CallState, heard: speech.Heard, now: datetime) -> Step:
        if self._wants_agent(state, heard):
            return self._to_agent(state, EscalationReason.REQUESTED, now)
        languages = self.flow.languages.values()
        if heard.digit is not None:
            chosen = next((lang for lang in languages if lang.digit == heard.digit), None)
        else:
            scored = [(speech.longest_match(heard.text, lang.names), lang) for lang in languages]
            best = max(scored, key=lambda s: s[0])
            chosen = best[1] if best[0] else None
        if chosen is None:
            return self._invalid(state, now)
        state = state.step(f"lang:{chosen.code}", language=chosen.code, invalid=0)
        if not self.flow.hours.is_open(now):
            return self._closed(state, now)
        return self._menu(state, MAIN_MENU)

    def _on_menu(self, state: CallState, heard: speech.Heard, now: datetime) -> Step:
        if self._wants_agent(state, heard):
            return self._to_agent(state, EscalationReason.REQUESTED, now)
        menu = self.flow.menus[state.menu]
        if heard.digit is not None:
            option = menu.by_digit(heard.digit)
        else:
            scored = [
                (speech.longest_match(heard.text, o.words.get(state.language, ())), o)
                for o in menu.options
            ]
            best = max(scored, key=lambda s: s[0])
            option = best[1] if best[0] else None
            if option is None and self._said(state, heard, "main_menu"):
                return self._menu(state, MAIN_MENU)
        if option is None:
            return self._invalid(state, now)
        return self._choose(dataclasses.replace(state, invalid=0), option, now)

    def _choose(self, state: CallState, option: Option, now: datetime) -> Step:
        lead = (
            (self.prompts.speak(state.language, option.say[state.language]),) if option.say else ()
        )
        if option.goto is not None:
            return self._menu(state, option.goto, lead)
        match option.action:
            case OptionAction.ASK_QUESTION:
                return self._gather(state.step("ask"), GatherPurpose.QUESTION, lead)
            case OptionAction.AGENT:
                return self._to_agent(state, EscalationReason.REQUESTED, now, lead)
            case OptionAction.VOICEMAIL:
                state = dataclasses.replace(state, no_agent=NoAgentReason.CHOSEN)
                return self._voicemail(state, lead)
            case OptionAction.CALLBACK:
                state = dataclasses.replace(state, no_agent=NoAgentReason.CHOSEN)
                return self._callback(state, now, lead)
            case OptionAction.GOODBYE:
                return self._goodbye(state, lead)
        return self._menu(state, state.menu, lead)  # say only: the same menu again

    def _on_question(self, state: CallState, heard: speech.Heard, now: datetime) -> Step:
        if self._wants_agent(state, heard):
            return self._to_agent(state, EscalationReason.REQUESTED, now)
        if heard.digit is not None or not heard.text:  # a key, or speech too unsure to pass on
            return self._invalid(state, now)
        state = state.step("ask:bot", awaiting=None, invalid=0, question=heard.raw)
        return Step(state, ask=AskBot(heard.raw, state.language))

    def _on_more_help(self, state: CallState, heard: speech.Heard, now: datetime) -> Step:
        if self._wants_agent(state, heard):
            return self._to_agent(state, EscalationReason.REQUESTED, now)
        choice = MORE_HELP_KEYS.get(heard.digit or "")
        if heard.digit is None and heard.text:
            words = self.flow.words[state.language]  # _current made it a known language
            if any(speech.is_exactly(heard.text, w) for w in words["done"]):
                choice = "done"
            elif any(speech.is_exactly(heard.text, w) for w in words["another_question"]):
                choice = "another_question"
            elif self._said(state, heard, "main_menu"):
                choice = "main_menu"
            else:  # anything else said is taken as the next question
                return self._on_question(state, heard, now)
        if choice == "done":
            return self._goodbye(state)
        if choice == "another_question":
            return self._gather(state.step("ask"), GatherPurpose.QUESTION)
        if choice == "main_menu":
            return self._menu(state, MAIN_MENU)
        return self._invalid(state, now)

    def _on_leave_choice(self, state: CallState, heard: speech.Heard, now: datetime) -> Step:
        choice = LEAVE_CHOICE_KEYS.get(heard.digit or "")
        if heard.digit is None:
            said = [key for key in LEAVE_CHOICE_KEYS.values() if self._said(state, heard, key)]
            choice = said[0] if len(said) == 1 else None
        if choice == "voicemail":
            return self._voicemail(state)
        if choice == "callback":
            return self._callback(state, now)
        return self._invalid(state, now)

    def _invalid(self, state: CallState, now: datetime) -> Step:
        count = state.invalid + 1
        state = state.step("invalid", invalid=count)
        if count >= self.flow.gather.max_invalid:
            if state.awaiting is GatherPurpose.LEAVE_CHOICE:  # no agent to fall back on
                return self._voicemail(state)
            return self._to_agent(state, EscalationReason.INVALID_INPUT, now)
        assert state.awaiting is not None
        return self._gather(state, state.awaiting, (self._say(state, "invalid"),), state.menu)

    # ---------------------------------------------------------------------------- destinations

    def _menu(self, state: CallState, name: str, lead: tuple[Say, ...] = ()) -> Step:
        state = state.step(f"menu:{name}", invalid=0)
        return self._gather(state, GatherPurpose.MENU, lead, name)

    def _to_agent(
        self, state: CallState, reason: EscalationReason, now: datetime, lead: tuple[Say, ...] = ()
    ) -> Step:
        if not self.flow.hours.is_open(now):
            return self._closed(state, now, lead)
        state = state.step("agent", awaiting=None, invalid=0, enqueued_at=now, no_agent=None)
        enqueue = Enqueue(self.flow.queue.name, reason)
        return Step(state, (*lead, self._say(state, "connecting"), enqueue))

    def _closed(self, state: CallState, now: datetime, lead: tuple[Say, ...] = ()) -> Step:
        state = state.step("closed")
        lead = (*lead, self._say(state, "closed"))
        return self._no_agent(state, NoAgentReason.CLOSED, self.flow.after_hours, now, lead)

    def _no_agent(
        self,
        state: CallState,
        reason: NoAgentReason,
        mode: LeaveMode,
        now: datetime,
        lead: tuple[Say, ...],
    ) -> Step:
        state = dataclasses.replace(state, no_agent=reason)
        if mode is LeaveMode.CALLBACK:
            return self._callback(state, now, lead)
        if mode is LeaveMode.CHOICE and _dialable(state.caller):
            return self._gather(state.step("leave:choice"), GatherPurpose.LEAVE_CHOICE, lead)
        return self._voicemail(state, lead)

    def _voicemail(self, state: CallState, lead: tuple[Say, ...] = ()) -> Step:
        state = state.step("voicemail", awaiting=None, invalid=0)
        language = self.flow.language(state.language)
        record = Record(self.flow.voicemail_max_seconds, transcribe=language.transcribe)
        prompt = self._say(state, "voicemail_prompt")
        # The goodbye only plays when nothing was recorded: Twilio then skips the action URL.
        return Step(state, (*lead, prompt, record, self._say(state, "goodbye"), Hangup()))

    def _callback(self, state: CallState, now: datetime, lead: tuple[Say, ...] = ()) -> Step:
        if not _dialable(state.caller):
            return self._voicemail(state, lead)
        state = state.step("callback", awaiting=None, invalid=0, result=Outcome.CALLBACK)
        request = CallbackRequest(
            number=state.caller,
            locale=state.language,
            due=self.flow.hours.next_open(now),
            reason=state.no_agent or NoAgentReason.CHOSEN,
        )
        actions: tuple[Action, ...] = (*lead, self._say(state, "callback_confirm"), Hangup())
        return Step(state, actions, callback=request)

    def _goodbye(self, state: CallState, lead: tuple[Say, ...] = ()) -> Step:
        state = state.step("goodbye", awaiting=None)
        return Step(state, (*lead, self._say(state, "goodbye"), Hangup()))

    def _gather(
        self,
        state: CallState,
        purpose: GatherPurpose,
        lead: tuple[Say, ...] = (),
        menu: str | None = None,
    ) -> Step:
        gather = self.prompts.gather(state.language, purpose, lead, menu)
        state = dataclasses.replace(state, awaiting=purpose, menu=menu or state.menu)
        return Step(state, (gather,))

    # ---------------------------------------------------------------------------- helpers

    def _current(self, state: CallState) -> CallState:
        """The state with a language and menu this flow has (the flow may have been edited
        and reloaded while the call was going on)."""
        language = self.flow.language(state.language).code
        menu = state.menu if state.menu in self.flow.menus else MAIN_MENU
        if (language, menu) == (state.language, state.menu):
            return state
        return dataclasses.replace(state, language=language, menu=menu)

    def _wants_agent(self, state: CallState, heard: speech.Heard) -> bool:
        return heard.digit == AGENT_DIGIT or self._said(state, heard, "agent")

    def _said(self, state: CallState, heard: speech.Heard, key: str) -> bool:
        phrases = self.flow.words[self.flow.language(state.language).code][key]
        return bool(heard.text) and speech.longest_match(heard.text, phrases) > 0

    def _say(self, state: CallState, key: str, **values: object) -> Say:
        return self.prompts.say(state.language, key, **values)


def _dialable(number: str) -> bool:
    return bool(_DIALABLE.match(number)) and number not in _WITHHELD
