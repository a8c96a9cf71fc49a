"""Who works which queue, and which queues a member of staff may see and claim from.

Pure rules over an agent's role and teams and the workspace's teams; no database, no clock.

- Staff put in a team work that team's queue, whatever their role (a supervisor who also
  answers customers is put in a team).
- An agent (role ``agent``) in no team works every queue, so a small desk needs no set-up.
  A supervisor, knowledge manager or admin in no team works no queue: they are never
  assigned work automatically and signing in to the console does not show them online.
- Conversations in no team (a desk without teams) are anyone's who works a queue.
- With the workspace's ``assignment.open_queues`` false (the default), an agent sees and
  claims only their own teams' queued conversations; supervisors and admins see and claim
  any. With it true, everyone sees and claims every queue (automatic assignment still goes
  by team).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from routing.assignment import Role

SUPERVISORS = frozenset({Role.SUPERVISOR.value, Role.ADMIN.value})


@dataclass(frozen=True)
class Staff:
    """What the rules need of an agent row."""

    role: str
    teams: frozenset[str]

    @classmethod
    def of(cls, role: str, teams: Collection[str] | None) -> Staff:
        return cls(role, frozenset(teams or ()))


def is_supervisor(staff: Staff) -> bool:
    return staff.role in SUPERVISORS


def works_queue(staff: Staff) -> bool:
    """Whether they take customers' conversations at all (and so come online on sign-in)."""
    return bool(staff.teams) or staff.role == Role.AGENT.value


def work_teams(staff: Staff, all_teams: Collection[str]) -> frozenset[str]:
    """The teams whose conversations they take: their own; every team for an agent in none;
    none for other staff in no team."""
    if staff.teams:
        return staff.teams
    return frozenset(all_teams) if staff.role == Role.AGENT.value else frozenset()


def takes(staff: Staff, team: str | None, all_teams: Collection[str]) -> bool:
    """Whether they take (are assigned, or pull next) a conversation of ``team``."""
    if not works_queue(staff):
        return False
    return team is None or team in work_teams(staff, all_teams)


def sees(staff: Staff, team: str | None, all_teams: Collection[str], open_queues: bool) -> bool:
    """Whether they may see and claim by id a queued conversation of ``team``."""
    if open_queues or is_supervisor(staff):
        return True
    return team is None or team in work_teams(staff, all_teams)


__all__ = ["SUPERVISORS", "Staff", "is_supervisor", "sees", "takes", "work_teams", "works_queue"]
