"""The figures of the contact-center reports, built from the touchpoints and conversations
(``storage.repos.reports``), never from counters; each with its definition, which the README's
"Reports" repeats. ``console.reports`` serves them as JSON and CSV.
"""

from __future__ import annotations

import asyncio
import math
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from console.report_definitions import COLUMNS, DEFINITIONS, DURATION_COLUMNS
from routing.policy import DeskPolicy
from routing.sla import SlaTarget, WeeklyCalendar, due_at, find_policy
from storage.db import RecordNotFound
from storage.repos import agents as agent_repo
from storage.repos import feedback as feedback_repo
from storage.repos import gaps as gaps_repo
from storage.repos import reports as repo

SATISFIED = (4, 5)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Range:
    since: datetime
    until: datetime
    zone: tzinfo
    zone_name: str
    now: datetime


class Report:
    """The figures of one range, built on one session."""

    def __init__(self, session: AsyncSession, policy: DeskPolicy, span: Range) -> None:
        self.session = session
        self.policy = policy
        self.span = span
        calendar = policy.calendar
        self.calendar = calendar if isinstance(calendar, WeeklyCalendar) else None
        self._names: dict[int, str] = {}
        self._episodes: list[repo.Episode] | None = None

    @property
    def builders(self) -> dict[str, Callable[[], Awaitable[dict[str, dict[str, Any]]]]]:
        """Figure name → the builder that makes it (one builder may make several)."""
        return {
            "volume_by_channel": self.volume,
            "volume_by_hour": self.volume,
            "volume_by_day": self.volume,
            "containment": self.containment,
            "escalation_reasons": self.escalation_reasons,
            "first_response": self.first_response,
            "resolution": self.resolution,
            "sla": self.sla,
            "csat": self.csat,
            "queue_wait": self.queue_wait,
            "top_articles": self.top_articles,
            "knowledge_gaps": self.knowledge_gaps,
        }

    async def all(self) -> dict[str, dict[str, Any]]:
        figures: dict[str, dict[str, Any]] = {}
        for name, build in self.builders.items():
            if name not in figures:
                figures.update(await build())
        return {name: {"definition": DEFINITIONS[name], **figures[name]} for name in DEFINITIONS}

    async def one(self, name: str) -> dict[str, Any]:
        build = self.builders.get(name)
        if build is None or name not in COLUMNS:
            raise RecordNotFound("report", name)
        return (await build())[name]

    # ---- volume, containment, escalations ---------------------------------------------

    async def volume(self) -> dict[str, dict[str, Any]]:
        counts = await repo.volume(self.session, self.span.since, self.span.until)
        zone = self.span.zone
        hours = [[0, 0] for _ in range(24)]
        first = self.span.since.astimezone(zone).date()
        last = (self.span.until - timedelta(microseconds=1)).astimezone(zone).date()
        days = {first + timedelta(days=n): [0, 0] for n in range((last - first).days + 1)}
        channels: dict[str, list[int]] = {}
        for (bucket, channel), (convs, msgs) in counts.items():
            local = repo.bucket_start(bucket).astimezone(zone)
            for cell in (
                hours[local.hour],
                days[local.date()],
                channels.setdefault(channel, [0, 0]),
            ):
                cell[0] += convs
                cell[1] += msgs
        total = [sum(c[0] for c in channels.values()), sum(c[1] for c in channels.values())]
        totals = {"conversations": total[0], "messages": total[1]}

        def row(key: str, value: Any, cell: list[int]) -> dict[str, Any]:
            return {key: value, "conversations": cell[0], "messages": cell[1]}

        ordered = sorted(channels.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
        return {
            "volume_by_channel": {**totals, "rows": [row("channel", c, v) for c, v in ordered]},
            "volume_by_hour": {**totals, "rows": [row("hour", h, v) for h, v in enumerate(hours)]},
            "volume_by_day": {
                **totals,
                "rows": [row("date", d.isoformat(), v) for d, v in sorted(days.items())],
            },
        }

    async def containment(self) -> dict[str, dict[str, Any]]:
        by_channel = await repo.containment(self.session, self.span.since, self.span.until)
        rows = [
            {
                "channel": channel,
                "started": started,
                "contained": started - humans,
                "escalated": humans,
                "rate": _share(started - humans, started),
            }
            for channel, (started, humans) in sorted(by_channel.items(), key=lambda kv: kv[0])
        ]
        started = sum(n for n, _ in by_channel.values())
        contained = started - sum(humans for _, humans in by_channel.values())
        return {
            "containment": {
                "started": started,
                "contained": contained,
                "escalated": started - contained,
                "rate": _share(contained, started),
                "rows": rows,
            }
        }

    async def escalation_reasons(self) -> dict[str, dict[str, Any]]:
        counts = await repo.escalation_reasons(self.session, self.span.since, self.span.until)
        total = sum(counts.values())
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return {
            "escalation_reasons": {
                "total": total,
                "rows": [
                    {"reason": reason, "count": n, "share": _share(n, total)}
                    for reason, n in ordered
                ],
            }
        }

    # ---- times ----------------------------------------------------------------------------

    async def episodes(self) -> list[repo.Episode]:
        if self._episodes is None:
            self._episodes = await repo.episodes(self.session, self.span.since, self.span.until)
        return self._episodes

    async def first_response(self) -> dict[str, dict[str, Any]]:
        answered = [e for e in await self.episodes() if e.replied_at is not None]
        unanswered = len(await self.episodes()) - len(answered)
        samples = [
            _Sample(e.team, e.replied_by, e.channel, e.queued_at, e.replied_at)
            for e in answered
            if e.replied_at is not None
        ]
        figure = await self._durations(samples)
        missing: dict[tuple[str, str], int] = {}
        for e in await self.episodes():
            if e.replied_at is None:
                for where in (("team", e.team or ""), ("channel", e.channel)):
                    missing[where] = missing.get(where, 0) + 1
        for r in figure["rows"]:
            r["unanswered"] = missing.pop((r["group"], r["key"]), 0)
        for (group, key), n in sorted(missing.items()):  # groups where nothing was answered
            label = key if group == "channel" else key or "No team"
            figure["rows"].append(
                {**dict.fromkeys(DURATION_COLUMNS), "group": group, "key": key, "label": label}
                | {"count": 0, "unanswered": n}
            )
        return {"first_response": {**figure, "unanswered": unanswered}}

    async def resolution(self) -> dict[str, dict[str, Any]]:
        done = await repo.resolutions(self.session, self.span.since, self.span.until)
        samples = [_Sample(r.team, r.agent_id, r.channel, r.created_at, r.closed_at) for r in done]
        return {"resolution": await self._durations(samples)}

    async def queue_wait(self) -> dict[str, dict[str, Any]]:
        episodes = await self.episodes()
        rows: list[dict[str, Any]] = []
        waits = [
            ((e.claimed_at - e.queued_at).total_seconds(), e)
            for e in episodes
            if e.claimed_at is not None
        ]
        for group, key_of in (("team", _team_key), ("channel", _channel_key)):
            keys = sorted({key_of(e) for e in episodes})
            for key in keys:
                values = [s for s, e in waits if key_of(e) == key]
                rows.append(
                    {
                        "group": group,
                        "key": key,
                        "label": key or "No team",
                        "count": len(values),
                        "median_seconds": _median(values),
                        "p90_seconds": _p90(values),
                        "unclaimed": sum(
                            1 for e in episodes if e.claimed_at is None and key_of(e) == key
                        ),
                    }
                )
        values = [s for s, _ in waits]
        return {
            "queue_wait": {
                "count": len(values),
                "unclaimed": len(episodes) - len(values),
                "median_seconds": _median(values),
                "p90_seconds": _p90(values),
                "rows": rows,
            }
        }

    async def _durations(self, samples: list[_Sample]) -> dict[str, Any]:
        names = await self._agent_names({s.agent_id for s in samples if s.agent_id})
        wall = [s.wall for s in samples]
        business = await asyncio.to_thread(lambda: [self._business(s) for s in samples])
        rows: list[dict[str, Any]] = []
        for group in ("team", "agent", "channel"):
            keys: dict[str, list[int]] = {}
            for i, s in enumerate(samples):
                keys.setdefault(s.key(group), []).append(i)
            for key in sorted(keys, key=lambda k: (_label(group, k, names).casefold(), k)):
                chosen = keys[key]
                rows.append(
                    {
                        "group": group,
                        "key": key,
                        "label": _label(group, key, names),
                        **self._stats([wall[i] for i in chosen], [business[i] for i in chosen]),
                    }
                )
        return {**self._stats(wall, business), "rows": rows}

    def _stats(self, wall: list[float], business: list[float | None]) -> dict[str, Any]:
        known = [b for b in business if b is not None]
        return {
            "count": len(wall),
            "median_seconds": _median(wall),
            "p90_seconds": _p90(wall),
            "median_business_seconds": _median(known) if self.calendar else None,
            "p90_business_seconds": _p90(known) if self.calendar else None,
        }

    def _business(self, s: _Sample) -> float | None:
        if self.calendar is None:
            return None
        return self.calendar.business_time_between(s.start, s.end).total_seconds()

    # ---- SLA, satisfaction ---------------------------------------------------------------

    async def sla(self) -> dict[str, dict[str, Any]]:
        # Business-time arithmetic for every stay: CPU work, off the event loop.
        by_team = await asyncio.to_thread(self._sla_cells, await self.episodes())

        def row(met: int, breached: int, pending: int) -> dict[str, Any]:
            return {
                "met": met,
                "breached": breached,
                "pending": pending,
                "attainment": _share(met, met + breached),
            }

        rows = [{"team": team, **row(*cell)} for team, cell in sorted(by_team.items())]
        totals = [sum(cell[i] for cell in by_team.values()) for i in range(3)]
        return {"sla": {**row(*totals), "rows": rows}}

    def _sla_cells(self, episodes: list[repo.Episode]) -> dict[str, list[int]]:
        """team → [met, breached, pending]."""
        by_team: dict[str, list[int]] = {}
        for e in episodes:
            policy = find_policy(self.policy.sla, e.team, e.segment)
            if policy is None or e.priority < 0:
                continue
            try:
                due = due_at(policy, SlaTarget.FIRST_RESPONSE, e.queued_at, self.policy.calendar)
            except ValueError:  # business hours that never open
                continue
            cell = by_team.setdefault(e.team or "", [0, 0, 0])
            if e.replied_at is not None:
                cell[0 if e.replied_at <= due else 1] += 1
            else:
                cell[1 if self.span.now > due else 2] += 1
        return by_team

    async def csat(self) -> dict[str, dict[str, Any]]:
        scores = await repo.ratings(self.session, self.span.since, self.span.until)
        names = await self._agent_names({r.agent_id for r in scores if r.agent_id})
        rows: list[dict[str, Any]] = []
        for group in ("agent", "team", "channel"):
            keys: dict[str, list[int]] = {}
            for r in scores:
                keys.setdefault(_Sample(r.team, r.agent_id, r.channel).key(group), []).append(
                    r.score
                )
            for key in sorted(keys, key=lambda k: (_label(group, k, names).casefold(), k)):
                label = _label(group, key, names)
                rows.append({"group": group, "key": key, "label": label, **_scores(keys[key])})
        return {"csat": {**_scores([r.score for r in scores]), "rows": rows}}

    # ---- knowledge ------------------------------------------------------------------------

    async def top_articles(self) -> dict[str, dict[str, Any]]:
        since, until = self.span.since, self.span.until
        answers = await repo.article_answers(self.session, since, until)
        keys = sorted(answers)
        votes = await feedback_repo.counts(self.session, keys, since, until)
        titles = await repo.article_titles(self.session, keys)
        rows: list[dict[str, Any]] = [
            {
                "article_id": article_id,
                "locale": locale,
                "title": titles.get((article_id, locale)),
                "answers": answers[(article_id, locale)],
                "helpful": votes[(article_id, locale)][0],
                "not_helpful": votes[(article_id, locale)][1],
                "helpful_share": _share(
                    votes[(article_id, locale)][0], sum(votes[(article_id, locale)])
                ),
            }
            for article_id, locale in keys
        ]
        rows.sort(key=lambda r: (-r["answers"], r["article_id"], r["locale"]))
        return {"top_articles": {"answers": sum(answers.values()), "rows": rows}}

    async def knowledge_gaps(self) -> dict[str, dict[str, Any]]:
        questions = await gaps_repo.questions(
            self.session, since=self.span.since, until=self.span.until
        )
        kinds = {k: 0 for k in (gaps_repo.MISSED, gaps_repo.ESCALATED, gaps_repo.UNHELPFUL)}
        for q in questions:
            kinds[q.kind] = kinds.get(q.kind, 0) + 1
        return {"knowledge_gaps": {"count": len(questions), **kinds}}

    async def _agent_names(self, ids: set[int]) -> dict[int, str]:
        missing = ids - set(self._names)
        if missing:
            self._names.update(await agent_repo.names(self.session, missing))
        return self._names


@dataclass(frozen=True)
class _Sample:
    team: str | None
    agent_id: int | None
    channel: str
    start: datetime = EPOCH
    end: datetime = EPOCH

    @property
    def wall(self) -> float:
        return max((self.end - self.start).total_seconds(), 0.0)

    def key(self, group: str) -> str:
        if group == "team":
            return self.team or ""
        if group == "agent":
            return str(self.agent_id) if self.agent_id else ""
        return self.channel


def _team_key(e: repo.Episode) -> str:
    return e.team or ""


def _channel_key(e: repo.Episode) -> str:
    return e.channel


def _label(group: str, key: str, names: dict[int, str]) -> str:
    if group == "agent":
        return names.get(int(key), f"Agent {key}") if key else "Nobody"
    if group == "team":
        return key or "No team"
    return key


def _scores(values: list[int]) -> dict[str, Any]:
    satisfied = sum(1 for v in values if v in SATISFIED)
    return {
        "count": len(values),
        "average": round(statistics.fmean(values), 2) if values else None,
        "satisfied": satisfied,
        "satisfied_share": _share(satisfied, len(values)),
    }


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _p90(values: list[float]) -> float | None:
    """Nearest rank: the smallest value at least 90% of the values are at or below."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[math.ceil(0.9 * len(ordered)) - 1], 1)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
