"""Who takes which waiting conversation: team rules, priority, skills, capacity and fairness.

Pure policy for the agent workspace: plain frozen values in, assignments out. No database and
no clock; the caller loads the queue and the agents, applies the assignments in a transaction
(claiming rows so that two processes never take the same one) and passes ``now`` in.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from fractions import Fraction
from types import MappingProxyType

from knowledge_base.text import normalize
from routing.sla import SlaStatus, status

VIP_SEGMENTS = frozenset({"vip"})
DEFAULT_AT_RISK = timedelta(minutes=5)


class ChannelKind(enum.StrEnum):
    """How much of an agent a conversation takes: several chats, a few messages, one call."""

    CHAT = "chat"
    MESSAGE = "message"
    CALL = "call"


_KIND_OF_CHANNEL = MappingProxyType(
    {
        "webchat": ChannelKind.CHAT,
        "telegram": ChannelKind.CHAT,
        "whatsapp": ChannelKind.CHAT,
        "messenger": ChannelKind.CHAT,
        "line": ChannelKind.CHAT,
        "sms": ChannelKind.MESSAGE,
        "email": ChannelKind.MESSAGE,
        "voice": ChannelKind.CALL,
    }
)
DEFAULT_CAPACITY: Mapping[ChannelKind, int] = MappingProxyType(
    {ChannelKind.CHAT: 3, ChannelKind.MESSAGE: 5, ChannelKind.CALL: 1}
)
_NO_LOAD: Mapping[ChannelKind, int] = MappingProxyType({})


def kind_of(channel: str) -> ChannelKind:
    """The kind of a channel name (``"line"`` → chat); ValueError for an unknown channel."""
    try:
        return _KIND_OF_CHANNEL[channel]
    except KeyError:
        raise ValueError(f"unknown channel {channel!r}") from None


class Presence(enum.StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class Role(enum.StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    KNOWLEDGE_MANAGER = "knowledge_manager"
    ADMIN = "admin"


class AssignMode(enum.StrEnum):
    AUTO = "auto"
    MANUAL = "manual"


@dataclass(frozen=True, kw_only=True)
class AgentState:
    """An agent as assignment sees them. A kind missing from ``capacity`` is never assigned."""

    agent_id: int
    teams: frozenset[str] = frozenset()
    skills: frozenset[str] = frozenset()  # "lang:th", "product:billing", "channel:voice"
    presence: Presence = Presence.OFFLINE
    capacity: Mapping[ChannelKind, int] = field(default_factory=lambda: DEFAULT_CAPACITY)
    load: Mapping[ChannelKind, int] = field(default_factory=lambda: _NO_LOAD)
    last_assigned_at: datetime | None = None
    role: Role = Role.AGENT

    def spare(self, kind: ChannelKind) -> int:
        return self.capacity.get(kind, 0) - self.load.get(kind, 0)

    def busy(self) -> Fraction:
        """How full the agent is: the sum over kinds of load / capacity (a call of one is 1)."""
        return sum(
            (Fraction(self.load.get(kind, 0), cap) for kind, cap in self.capacity.items() if cap),
            Fraction(0),
        )


@dataclass(frozen=True, kw_only=True)
class Waiting:
    """A queued conversation. ``team`` None: not routed to a team, any agent may take it."""

    conversation_id: int
    channel: str
    locale: str | None = None
    text: str = ""  # the first message, for keyword rules
    segment: str | None = None  # "vip", …
    queued_at: datetime
    team: str | None = None
    required_skills: frozenset[str] = frozenset()
    sla_due_at: datetime | None = None

    def __post_init__(self) -> None:
        kind_of(self.channel)  # refuse an unknown channel where the row is loaded, not mid-pass

    @property
    def kind(self) -> ChannelKind:
        return kind_of(self.channel)

    @property
    def vip(self) -> bool:
        return self.segment in VIP_SEGMENTS


@dataclass(frozen=True)
class Assignment:
    conversation_id: int
    agent_id: int


# --- team routing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamRule:
    """Conditions joined by AND; each matches any of its values, and an empty one matches all.

    Locales match exactly or by language (``"th"`` matches ``"th-TH"``). Keywords match as
    normalised substrings (case, width, Arabic/Persian letter variants), since Thai and Chinese
    are written without spaces. ``skills``: what a conversation this rule routes needs of its
    agent besides the team ("product:cards").
    """

    team: str
    channels: frozenset[str] = frozenset()
    locales: frozenset[str] = frozenset()
    keywords: tuple[str, ...] = ()
    segments: frozenset[str] = frozenset()
    skills: frozenset[str] = frozenset()

    def matches(self, waiting: Waiting) -> bool:
        return (
            (not self.channels or waiting.channel in self.channels)
            and (not self.locales or _locale_matches(waiting.locale, self.locales))
            and (not self.keywords or _has_keyword(waiting.text, self.keywords))
            and (not self.segments or waiting.segment in self.segments)
        )


def route(waiting: Waiting, rules: Sequence[TeamRule], default_team: str) -> str:
    """The team of the first rule that matches, else ``default_team``."""
    rule = first_match(waiting, rules)
    return rule.team if rule else default_team


def first_match(waiting: Waiting, rules: Sequence[TeamRule]) -> TeamRule | None:
    return next((rule for rule in rules if rule.matches(waiting)), None)


def _locale_tag(locale: str) -> str:
    return locale.strip().lower().replace("_", "-")


def language(locale: str | None) -> str | None:
    """The language subtag: ``"th_TH"`` → ``"th"``; None for no locale."""
    if not locale:
        return None
    return _locale_tag(locale).split("-")[0] or None


def _locale_matches(locale: str | None, wanted: frozenset[str]) -> bool:
    if not locale:
        return False
    tags = {_locale_tag(w) for w in wanted}
    return _locale_tag(locale) in tags or language(locale) in tags


def _has_keyword(text: str, keywords: Iterable[str]) -> bool:
    haystack = normalize(text)  # the search index's folding: case, width, Arabic-script variants
    return any(normalize(k) in haystack for k in keywords if k.strip())


# --- priority ---------------------------------------------------------------------------------

PriorityKey = tuple[int, tuple[int, datetime] | tuple[int], datetime, int]


def at_risk(waiting: Waiting, now: datetime, at_risk_within: timedelta = DEFAULT_AT_RISK) -> bool:
    """Whether the conversation's SLA is at risk or already breached."""
    return status(waiting.sla_due_at, now, at_risk_within) is not SlaStatus.OK


def priority_key(
    waiting: Waiting, now: datetime, at_risk_within: timedelta = DEFAULT_AT_RISK
) -> PriorityKey:
    """Sorts first: VIP, then SLA at risk or breached (earliest due first), then oldest."""
    risk: tuple[int, datetime] | tuple[int]
    if waiting.sla_due_at is not None and at_risk(waiting, now, at_risk_within):
        risk = (0, waiting.sla_due_at)
    else:
        risk = (1,)
    return (0 if waiting.vip else 1, risk, waiting.queued_at, waiting.conversation_id)


def order(
    queue: Iterable[Waiting], now: datetime, at_risk_within: timedelta = DEFAULT_AT_RISK
) -> list[Waiting]:
    return sorted(queue, key=lambda w: priority_key(w, now, at_risk_within))


# --- assignment -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamPolicy:
    """``manual``: agents pull work themselves. ``required_skills_from_locale``: a conversation
    in Thai needs an agent with ``lang:th``. ``channel_skills``: a call needs ``channel:voice``,
    a LINE chat ``channel:line``."""

    team: str
    mode: AssignMode = AssignMode.AUTO
    required_skills_from_locale: bool = True
    channel_skills: bool = False


def skills_needed(waiting: Waiting, policy: TeamPolicy) -> frozenset[str]:
    needed = set(waiting.required_skills)
    lang = language(waiting.locale) if policy.required_skills_from_locale else None
    if lang:
        needed.add(f"lang:{lang}")
    if policy.channel_skills:
        needed.add(f"channel:{waiting.channel}")
    return frozenset(needed)


def can_take(agent: AgentState, waiting: Waiting, skills: frozenset[str]) -> bool:
    """Online, in the conversation's team, with every skill and room for its channel kind."""
    return (
        agent.presence is Presence.ONLINE
        and (waiting.team is None or waiting.team in agent.teams)
        and skills <= agent.skills
        and agent.spare(waiting.kind) > 0
    )


def fairness_key(
    agent: AgentState, kind: ChannelKind
) -> tuple[Fraction, int, tuple[int, datetime] | tuple[int], int]:
    """Least busy overall, then on this kind, then longest idle (never assigned first)."""
    idle = (0,) if agent.last_assigned_at is None else (1, agent.last_assigned_at)
    return (agent.busy(), agent.load.get(kind, 0), idle, agent.agent_id)


def take(agent: AgentState, kind: ChannelKind, now: datetime) -> AgentState:
    """The agent after taking one more conversation of ``kind`` at ``now``."""
    load = MappingProxyType({**agent.load, kind: agent.load.get(kind, 0) + 1})
    return replace(agent, load=load, last_assigned_at=now)


def assign(
    queue: Sequence[Waiting],
    agents: Sequence[AgentState],
    policies: Iterable[TeamPolicy],
    now: datetime,
    *,
    at_risk_within: timedelta = DEFAULT_AT_RISK,
) -> list[Assignment]:
    """One pass over the queue in priority order, assigning what can be assigned now.

    A team without a policy is assigned automatically. A conversation no agent can take is
    left queued and the pass goes on, so one missing skill never blocks the rest.
    """
    by_team = {p.team: p for p in policies}
    pool: dict[int, AgentState] = {}
    for agent in agents:
        if agent.agent_id in pool:
            raise ValueError(f"agent {agent.agent_id} listed twice")
        pool[agent.agent_id] = agent
    done: set[int] = set()
    result: list[Assignment] = []
    for waiting in order(queue, now, at_risk_within):
        policy = by_team.get(waiting.team or "") or TeamPolicy(
            waiting.team or "", required_skills_from_locale=False
        )
        if waiting.conversation_id in done or policy.mode is AssignMode.MANUAL:
            continue
        chosen = _choose(pool.values(), waiting, skills_needed(waiting, policy))
        if chosen is None:
            continue
        pool[chosen.agent_id] = take(chosen, waiting.kind, now)
        done.add(waiting.conversation_id)
        result.append(Assignment(waiting.conversation_id, chosen.agent_id))
    return result


def _choose(
    agents: Iterable[AgentState], waiting: Waiting, skills: frozenset[str]
) -> AgentState | None:
    fit = [a for a in agents if can_take(a, waiting, skills)]
    return min(fit, key=lambda a: fairness_key(a, waiting.kind), default=None)


def estimated_wait(
    position: int, agents_available: int, average_handle: timedelta
) -> timedelta | None:
    """Expected wait with ``position`` conversations ahead (0: next in line), the queue
    draining at ``agents_available`` conversations per ``average_handle``. None without agents.
    """
    if position < 0:
        raise ValueError("position must not be negative")
    if agents_available <= 0:
        return None
    seconds = average_handle.total_seconds() * position / agents_available
    return timedelta(seconds=round(seconds))
