"""How the agent workspace is run: teams, routing rules, SLAs, presence, close and survey.

Loaded from ``config/workspace.yaml`` by :mod:`switchboard.workspace`; plain frozen values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import timedelta

from routing.assignment import VIP_SEGMENTS, AssignMode, TeamPolicy, TeamRule
from routing.segments import SegmentPolicy
from routing.sla import AlwaysOpen, BusinessClock, SlaPolicy

DEFAULT_DISPOSITIONS = ("resolved", "no_response", "duplicate", "spam", "follow_up")


class OnDisconnect(enum.StrEnum):
    """What happens to an agent's conversations when they go offline or their console is lost."""

    REQUEUE = "requeue"  # back to the front of the queue for someone else
    KEEP = "keep"  # they stay with the agent


@dataclass(frozen=True)
class DeskPolicy:
    teams: tuple[TeamPolicy, ...] = ()
    rules: tuple[TeamRule, ...] = ()
    # Where a conversation no rule matches goes; None: no teams, any agent takes anything.
    default_team: str | None = None
    sla: tuple[SlaPolicy, ...] = ()
    calendar: BusinessClock = field(default_factory=AlwaysOpen)
    at_risk_within: timedelta = timedelta(minutes=5)
    vip_segments: frozenset[str] = VIP_SEGMENTS
    # A console silent this long past the presence timeout counts as a disconnect.
    disconnect_grace: timedelta = timedelta(seconds=60)
    on_disconnect: OnDisconnect = OnDisconnect.REQUEUE
    dispositions: tuple[str, ...] = DEFAULT_DISPOSITIONS
    disposition_required: bool = True
    csat: bool = True
    csat_window: timedelta = timedelta(hours=24)
    # A customer who writes again this soon after close reopens the conversation (to the queue).
    reopen_window: timedelta = timedelta(hours=24)
    average_handle: timedelta = timedelta(minutes=6)  # for wait estimates until there is history
    sweep_interval: timedelta = timedelta(seconds=5)
    # False: an agent sees and claims only their own teams' queues (supervisors any); True:
    # everyone sees and claims every queue. Automatic assignment goes by team either way.
    open_queues: bool = False
    # Segment rules, value tiers and lifecycle stages (routing.segments).
    segments: SegmentPolicy = field(default_factory=SegmentPolicy)

    def team(self, name: str | None) -> TeamPolicy:
        for team in self.teams:
            if team.team == name:
                return team
        return TeamPolicy(name or "", required_skills_from_locale=False)

    def team_names(self) -> tuple[str, ...]:
        return tuple(t.team for t in self.teams)

    def auto(self, name: str | None) -> bool:
        return self.team(name).mode is AssignMode.AUTO
