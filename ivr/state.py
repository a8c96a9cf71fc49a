"""Where a call stands, kept between Twilio's requests (stored per CallSid as JSON), and the
record of a finished call."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from ivr.actions import GatherPurpose, NoAgentReason
from ivr.model import MAIN_MENU

_E = TypeVar("_E", bound=enum.Enum)
MAX_PATH = 200  # steps kept per call; a caller looping through menus keeps the latest
STATE_VERSION = 1


class Outcome(enum.StrEnum):
    AGENT = "agent"  # talked to an agent
    BOT = "bot"  # the bot answered and the caller needed nobody else
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"
    ABANDONED = "abandoned"  # hung up while holding for an agent
    HUNG_UP = "hung_up"  # hung up in the menus
    FAILED = "failed"  # busy, no answer, failed or canceled before the flow ran


FAILED_STATUSES = frozenset({"busy", "failed", "no-answer", "canceled"})


@dataclass(frozen=True)
class CallState:
    """One call between requests. ``awaiting`` says what the pending ``<Gather>`` collects."""

    caller: str  # From
    called: str  # To
    started_at: datetime
    language: str
    awaiting: GatherPurpose | None = None  # None: no gather pending (queue, voicemail, ended)
    menu: str = MAIN_MENU  # current menu, or the last one
    invalid: int = 0  # invalid or missing inputs in a row
    path: tuple[str, ...] = ()
    question: str | None = None  # the question the bot is being asked
    answers: int = 0  # bot answers spoken
    no_agent: NoAgentReason | None = None  # why the caller was offered voicemail / call back
    enqueued_at: datetime | None = None
    queue_seconds: int | None = None  # time held, as Twilio reported it
    bridged_at: datetime | None = None
    talk_seconds: int | None = None
    result: Outcome | None = None  # set once the call reached an agent, voicemail or call back

    def step(self, entry: str, **changes: Any) -> CallState:
        """A copy with ``entry`` appended to the path and ``changes`` applied."""
        path = (*self.path, entry)[-MAX_PATH:]
        return dataclasses.replace(self, path=path, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; ``from_dict`` reads it back."""
        out: dict[str, Any] = {"v": STATE_VERSION}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallState:
        """Raises ValueError for data this version cannot read."""
        if data.get("v") != STATE_VERSION:
            raise ValueError(f"call state version {data.get('v')!r} is not {STATE_VERSION}")
        try:
            return cls(
                caller=str(data["caller"]),
                called=str(data["called"]),
                started_at=_when(data["started_at"]),
                language=str(data["language"]),
                awaiting=_opt(GatherPurpose, data.get("awaiting")),
                menu=str(data.get("menu", MAIN_MENU)),
                invalid=int(data.get("invalid", 0)),
                path=tuple(str(p) for p in data.get("path", ())),
                question=data.get("question"),
                answers=int(data.get("answers", 0)),
                no_agent=_opt(NoAgentReason, data.get("no_agent")),
                enqueued_at=_opt_when(data.get("enqueued_at")),
                queue_seconds=_opt_int(data.get("queue_seconds")),
                bridged_at=_opt_when(data.get("bridged_at")),
                talk_seconds=_opt_int(data.get("talk_seconds")),
                result=_opt(Outcome, data.get("result")),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"call state is incomplete: {exc}") from None


@dataclass(frozen=True)
class CallSummary:
    """What a status callback records: who, when, the path through the menus, wait, talk time
    and outcome."""

    caller: str
    called: str
    started_at: datetime
    ended_at: datetime
    status: str  # Twilio CallStatus: completed, busy, no-answer, failed, canceled
    language: str
    path: tuple[str, ...]
    outcome: Outcome
    duration_seconds: int
    wait_seconds: int | None
    talk_seconds: int | None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.update(
            started_at=self.started_at.isoformat(),
            ended_at=self.ended_at.isoformat(),
            outcome=self.outcome.value,
            path=list(self.path),
        )
        return data


def summarize(
    state: CallState, status: str, duration_seconds: int | None, now: datetime
) -> CallSummary:
    """The record of a call from its last state and Twilio's CallStatus and CallDuration."""
    ended = after(state.started_at, duration_seconds) or now
    talk = state.talk_seconds
    if talk is None and state.bridged_at is not None:
        talk = _seconds(state.bridged_at, ended)
    wait = state.queue_seconds
    if wait is None and state.enqueued_at is not None:
        wait = _seconds(state.enqueued_at, state.bridged_at or ended)
    return CallSummary(
        caller=state.caller,
        called=state.called,
        started_at=state.started_at,
        ended_at=ended,
        status=status,
        language=state.language,
        path=state.path,
        outcome=outcome_of(state, status),
        duration_seconds=_seconds(state.started_at, ended),
        wait_seconds=wait,
        talk_seconds=talk,
    )


def outcome_of(state: CallState, status: str) -> Outcome:
    if state.result is not None:
        return state.result
    if status in FAILED_STATUSES:
        return Outcome.FAILED
    if state.enqueued_at is not None:
        return Outcome.ABANDONED
    return Outcome.BOT if state.answers else Outcome.HUNG_UP


def after(start: datetime | None, seconds: int | None) -> datetime | None:
    return None if start is None or seconds is None else start + timedelta(seconds=seconds)


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds()))


def _when(value: Any) -> datetime:
    when = datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        raise ValueError(f"call state time {value!r} has no time zone")
    return when


def _opt_when(value: Any) -> datetime | None:
    return None if value is None else _when(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt(kind: type[_E], value: Any) -> _E | None:
    return None if value is None else kind(value)
