"""SLA targets per team and segment, counted in business time, and their status.

Pure: no database, no wall clock. The opening hours come from any object shaped like
``ivr.hours.BusinessHours`` (a zone, seven weekly lists of minute ranges, holidays); routing may
not import ``ivr``, so :class:`WeeklyHours` describes that shape and :class:`WeeklyCalendar`
does the arithmetic on it. The composition root hands in the same ``BusinessHours`` the IVR uses.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Protocol

# Holidays can close many days in a row; a year and a week with no opening means "never opens".
_MAX_CLOSED_DAYS = 372
_MINUTES_PER_DAY = 24 * 60


class SlaTarget(enum.StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


class SlaStatus(enum.StrEnum):
    OK = "ok"
    AT_RISK = "at_risk"
    BREACHED = "breached"


@dataclass(frozen=True)
class SlaPolicy:
    """Targets for one team (None: any team) and customer segment (None: any segment)."""

    team: str | None
    segment: str | None
    first_response: timedelta
    next_response: timedelta
    resolution: timedelta

    def target(self, kind: SlaTarget) -> timedelta:
        return {
            SlaTarget.FIRST_RESPONSE: self.first_response,
            SlaTarget.NEXT_RESPONSE: self.next_response,
            SlaTarget.RESOLUTION: self.resolution,
        }[kind]


def find_policy(
    policies: Sequence[SlaPolicy], team: str | None, segment: str | None
) -> SlaPolicy | None:
    """The most specific policy: team and segment, then team, then segment, then the catch-all."""
    for want_team, want_segment in ((team, segment), (team, None), (None, segment), (None, None)):
        for policy in policies:
            if policy.team == want_team and policy.segment == want_segment:
                return policy
    return None


class BusinessClock(Protocol):
    def add_business_time(self, start: datetime, delta: timedelta) -> datetime: ...


class AlwaysOpen:
    """Round-the-clock service: business time is wall time."""

    def add_business_time(self, start: datetime, delta: timedelta) -> datetime:
        return start + delta


class MinuteRange(Protocol):
    """Open from ``start`` (inclusive) to ``end`` (exclusive, may be 1440), in local minutes."""

    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...


class WeeklyHours(Protocol):
    """The shape of ``ivr.hours.BusinessHours``: weekly ranges (Monday first) and holidays."""

    @property
    def zone(self) -> tzinfo: ...

    @property
    def weekly(self) -> Sequence[Sequence[MinuteRange]]: ...

    @property
    def holidays(self) -> Collection[date]: ...


@dataclass(frozen=True)
class WeeklyCalendar:
    """Business-time arithmetic over weekly opening hours, holidays and a time zone."""

    hours: WeeklyHours

    def is_open(self, at: datetime) -> bool:
        at = _utc(at)
        day = at.astimezone(self.hours.zone).date() - timedelta(days=1)
        return any(start <= at < end for start, end in self._intervals(day, days=3))

    def add_business_time(self, start: datetime, delta: timedelta) -> datetime:
        """The instant ``delta`` of opening hours after ``start``, in the calendar's zone.

        Raises ValueError for a negative ``delta``, or when the calendar does not open for
        over a year.
        """
        if delta < timedelta():
            raise ValueError("business time to add must not be negative")
        cursor = _utc(start)
        remaining = delta
        day = cursor.astimezone(self.hours.zone).date() - timedelta(days=1)
        for open_at, close_at in self._intervals(day):
            if close_at <= cursor:
                continue
            begin = max(open_at, cursor)
            if remaining <= close_at - begin:
                return (begin + remaining).astimezone(self.hours.zone)
            remaining -= close_at - begin
        raise ValueError(f"business hours do not open for {_MAX_CLOSED_DAYS} days")

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Opening time from ``start`` to ``end`` (zero when ``end`` is not after ``start``)."""
        start, end = _utc(start), _utc(end)
        total = timedelta()
        if end <= start:
            return total
        day = start.astimezone(self.hours.zone).date() - timedelta(days=1)
        span = (end - start).days + 3
        for open_at, close_at in self._intervals(day, days=span):
            overlap = min(close_at, end) - max(open_at, start)
            if overlap > timedelta():
                total += overlap
        return total

    def _intervals(
        self, first: date, days: int | None = None
    ) -> Iterator[tuple[datetime, datetime]]:
        """Opening intervals in UTC, in order, from local day ``first`` on.

        UTC, because subtracting two aware datetimes of one zone ignores a DST change between.
        Unbounded (``days`` None) until a year passes without an opening.
        """
        closed_run = 0
        offset = 0
        while (days is None or offset < days) and closed_run <= _MAX_CLOSED_DAYS:
            day = first + timedelta(days=offset)
            offset += 1
            ranges = () if day in self.hours.holidays else self.hours.weekly[day.weekday()]
            closed_run = closed_run + 1 if not ranges else 0
            for r in ranges:
                yield self._at(day, r.start), self._at(day, r.end)

    def _at(self, day: date, minute: int) -> datetime:
        if minute >= _MINUTES_PER_DAY:
            day, minute = day + timedelta(days=1), minute - _MINUTES_PER_DAY
        local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.hours.zone)
        return local.astimezone(UTC)


def due_at(
    policy: SlaPolicy, kind: SlaTarget, start: datetime, calendar: BusinessClock
) -> datetime:
    """When ``kind`` is due for something that started at ``start``, counting business time."""
    return calendar.add_business_time(start, policy.target(kind))


def status(due: datetime | None, now: datetime, at_risk_within: timedelta) -> SlaStatus:
    """Breached once ``due`` has passed; at risk within ``at_risk_within`` of it; else ok."""
    if due is None:
        return SlaStatus.OK
    left = _utc(due) - _utc(now)
    if left <= timedelta():
        return SlaStatus.BREACHED
    if left <= at_risk_within:
        return SlaStatus.AT_RISK
    return SlaStatus.OK


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("business time needs an aware datetime")
    return at.astimezone(UTC)
