"""Business hours: a time zone, opening ranges per weekday, and holidays closed all day."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()
CLOSED = "closed"
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_MINUTES_PER_DAY = 24 * 60
# Holidays can close many days in a row; a year and a week covers any real calendar.
_SEARCH_DAYS = 372


@dataclass(frozen=True)
class OpenRange:
    """Open from ``start`` (inclusive) to ``end`` (exclusive), in minutes after local midnight;
    ``end`` may be 1440 ("24:00")."""

    start: int
    end: int

    def __contains__(self, minute: float) -> bool:
        return self.start <= minute < self.end


@dataclass(frozen=True)
class BusinessHours:
    zone: ZoneInfo
    weekly: tuple[tuple[OpenRange, ...], ...]  # seven entries, Monday first
    holidays: frozenset[date] = frozenset()

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` (an aware datetime, any zone) falls in opening hours."""
        local = _local(at, self.zone)
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute + local.second / 60
        return any(minute in r for r in self.weekly[local.weekday()])

    def next_open(self, at: datetime) -> datetime | None:
        """The first moment at or after ``at`` when the line is open, in the configured zone;
        ``at`` itself when open now; None when it never opens."""
        local = _local(at, self.zone)
        if self.is_open(local):
            return local
        for offset in range(_SEARCH_DAYS):
            day = local.date() + timedelta(days=offset)
            if day in self.holidays:
                continue
            for r in self.weekly[day.weekday()]:
                start = datetime.combine(day, _clock(r.start), tzinfo=self.zone)
                if start > local:
                    return start
        return None


def parse_ranges(text: str) -> tuple[OpenRange, ...]:
    """``"09:00-12:00, 13:00-18:00"`` or ``"closed"``; raises ValueError saying what is wrong."""
    if text.strip().lower() == CLOSED:
        return ()
    ranges = [_parse_range(part.strip()) for part in text.split(",")]
    ranges.sort(key=lambda r: r.start)
    for before, after in itertools.pairwise(ranges):
        if after.start < before.end:
            raise ValueError(f"ranges overlap in {text!r}")
    return tuple(ranges)


def _parse_range(part: str) -> OpenRange:
    match = _RANGE.match(part)
    if match is None:
        raise ValueError(f"{part!r} is not HH:MM-HH:MM (or 'closed')")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = _minutes(h1, m1, part), _minutes(h2, m2, part)
    if end <= start:
        raise ValueError(
            f"{part!r} ends before it starts (split hours past midnight across two days)"
        )
    return OpenRange(start, end)


def _minutes(hour: int, minute: int, part: str) -> int:
    value = hour * 60 + minute
    if minute > 59 or value > _MINUTES_PER_DAY:
        raise ValueError(f"{part!r} has a time that does not exist")
    return value


def parse_zone(name: str) -> ZoneInfo:
    """An IANA zone such as ``Asia/Bangkok``; raises ValueError for an unknown name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name like Asia/Bangkok)"
        ) from exc


def parse_holidays(values: Iterable[object]) -> frozenset[date]:
    """ISO dates (strings, or the dates YAML makes of unquoted ones)."""
    days: set[date] = set()
    for value in values:
        if isinstance(value, datetime):
            raise ValueError(f"{value} is a moment, not a date (write YYYY-MM-DD)")
        if isinstance(value, date):
            days.add(value)
            continue
        try:
            days.add(date.fromisoformat(str(value)))
        except ValueError:
            raise ValueError(f"{value!r} is not a date (write YYYY-MM-DD)") from None
    return frozenset(days)


def _local(at: datetime, zone: ZoneInfo) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("business hours need an aware datetime")
    return at.astimezone(zone)


def _clock(minute: int) -> time:
    return time(minute // 60, minute % 60)
