"""The supervisor's view: queues per team, agents and their load, SLA trouble, today's figures.

Every figure is computed from the conversations' own rows, never from counters that drift; the
median first response is the Reports' own, for today in the desk's time zone.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from console.report_figures import Range, Report
from routing.access import Staff, takes
from routing.policy import DeskPolicy
from routing.sla import SlaStatus, WeeklyCalendar
from storage.models import ConversationStatus
from storage.repos import conversations as conv_repo

if TYPE_CHECKING:
    from console.api import ConsoleApi


def desk_zone(policy: DeskPolicy) -> tzinfo:
    """The desk's time zone: its business hours' zone, else UTC."""
    calendar = policy.calendar
    return calendar.hours.zone if isinstance(calendar, WeeklyCalendar) else UTC


def day_start(now: datetime, zone: tzinfo, days: int = 0) -> datetime:
    """Midnight of ``now``'s day in the desk's time zone (the business hours' zone), or of the
    day ``days`` later."""
    local = now.astimezone(zone)
    day = local.date() + timedelta(days=days)
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


async def supervisor_overview(api: ConsoleApi, session: AsyncSession) -> dict[str, Any]:
    desk = api.router.desk
    policy = desk.policy
    now = api.clock.now()
    agents = await desk.agents_overview(session)
    waiting = [w for w, _ in await desk.queue(session)]
    online = [a for a in agents if a["presence"] == "online"]
    all_teams = policy.team_names()
    names: list[str | None] = list(all_teams) or [None]
    if any(w.team is None for w in waiting) and None not in names:
        names.append(None)
    teams = []
    for name in names:
        queued = [w for w in waiting if w.team == name]
        oldest = min((w.queued_at for w in queued), default=None)
        teams.append(
            {
                "name": name,
                "mode": policy.team(name).mode.value if name else "auto",
                "waiting": len(queued),
                "longest_wait_seconds": int((now - oldest).total_seconds()) if oldest else 0,
                "agents_online": sum(
                    1 for a in online if takes(Staff.of(a["role"], a["teams"]), name, all_teams)
                ),
            }
        )
    at_risk: list[dict[str, Any]] = []
    breached: list[dict[str, Any]] = []
    for conv in await conv_repo.sla_due_before(session, now + policy.at_risk_within):
        view = desk.sla_view(conv, now)
        if view is None or view.status is SlaStatus.OK:
            continue
        summary = await api._summary(session, conv)
        (breached if view.status is SlaStatus.BREACHED else at_risk).append(summary)
    zone = desk_zone(policy)
    today = day_start(now, zone)
    closed = await conv_repo.closed_since(session, today)
    scores = [c.csat_score for c in closed if c.csat_score is not None]
    # What Reports says for today: every stay in the queue (a reopened conversation queues
    # again), from its escalation to the first agent reply after it.
    span = Range(today, day_start(now, zone, 1), zone, getattr(zone, "key", "UTC"), now)
    first = (await Report(session, policy, span).first_response())["first_response"]
    counts = await conv_repo.count_by_status(session)
    return {
        "teams": teams,
        "agents": agents,
        "sla": {"at_risk": at_risk, "breached": breached},
        "figures": {
            "waiting": counts.get(ConversationStatus.QUEUED, 0),
            "assigned": counts.get(ConversationStatus.ASSIGNED, 0),
            "agents_online": len(online),
            "closed_today": len(closed),
            "median_first_response_seconds": first["median_seconds"],
            "csat_average": round(statistics.fmean(scores), 2) if scores else None,
            "csat_count": len(scores),
            "day_starts_at": today.isoformat(),
        },
    }
