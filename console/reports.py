"""Contact-center reports over HTTP: ``GET /api/v1/reports`` (every figure with its definition)
and ``GET /api/v1/reports/{figure}.csv`` (one table), for supervisors and admins, in a range
[since, until) and an IANA time zone (see console/openapi.yaml and the README's "Reports").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from aiohttp.helpers import content_disposition_header

from console.http import BadRequest
from console.report_definitions import COLUMNS, PERCENTILES
from console.report_figures import Range, Report
from console.supervisor import desk_zone
from routing import views
from routing.policy import DeskPolicy
from routing.sla import WeeklyCalendar
from storage.db import RecordNotFound

if TYPE_CHECKING:
    from console.api import ConsoleApi

DEFAULT_DAYS = 7
MAX_DAYS = 366
# Dates outside these are typing mistakes (or probes), and near year 1 or 9999 the zone
# arithmetic overflows.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


class ReportsApi:
    def __init__(self, console: ConsoleApi) -> None:
        self.console = console
        self.db = console.db
        self.clock = console.clock

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/reports", self.report)
        app.router.add_get("/api/v1/reports/{figure}.csv", self.report_csv)

    async def report(self, request: web.Request) -> web.Response:
        policy = await self._allowed(request)
        span = self._params(request, policy)
        async with self.db.transaction() as session:
            figures = await Report(session, policy, span).all()
        zone = desk_zone(policy)
        return web.json_response(
            {
                "since": views.iso(span.since),
                "until": views.iso(span.until),
                "tz": span.zone_name,
                "generated_at": views.iso(span.now),
                "business_hours": {
                    "defined": isinstance(policy.calendar, WeeklyCalendar),
                    "tz": getattr(zone, "key", "UTC"),
                },
                "percentiles": PERCENTILES,
                "columns": COLUMNS,
                "figures": figures,
            }
        )

    async def report_csv(self, request: web.Request) -> web.Response:
        policy = await self._allowed(request)
        name = request.match_info["figure"]
        if name not in COLUMNS:
            raise RecordNotFound("report", name)
        span = self._params(request, policy)
        async with self.db.transaction() as session:
            figure = await Report(session, policy, span).one(name)
        local = span.since.astimezone(span.zone), span.until.astimezone(span.zone)
        filename = f"{name.replace('_', '-')}-{local[0]:%Y%m%d}-{local[1]:%Y%m%d}.csv"
        return web.Response(
            body=to_csv(COLUMNS[name], figure["rows"]).encode("utf-8-sig"),  # BOM: Excel
            content_type="text/csv",
            charset="utf-8",
            headers={
                "Content-Disposition": content_disposition_header("attachment", filename=filename)
            },
        )

    async def _allowed(self, request: web.Request) -> DeskPolicy:
        me = await self.console.agent(request)
        desk = self.console.router.desk
        desk.require_supervisor(me)
        return desk.policy

    def _params(self, request: web.Request, policy: DeskPolicy) -> Range:
        query = request.query
        unknown = sorted(set(query) - {"since", "until", "tz"})
        if unknown:
            raise BadRequest("unknown_parameter", f"unknown parameter(s): {', '.join(unknown)}")
        zone, zone_name = _zone(query.get("tz"), policy)
        now = self.clock.now()
        given = query.get("since")
        since = moment(given, "since", zone) if given else None
        if query.get("until"):
            until = moment(query["until"], "until", zone)
        else:  # the end of today
            until = _local_midnight(now.astimezone(zone).date() + timedelta(days=1), zone)
        if since is None:
            since = _local_midnight(
                until.astimezone(zone).date() - timedelta(days=DEFAULT_DAYS), zone
            )
        if since >= until:
            raise BadRequest("bad_range", "since must be before until")
        if until - since > timedelta(days=MAX_DAYS):
            raise BadRequest(
                "bad_range", f"since and until: the range is limited to {MAX_DAYS} days"
            )
        return Range(since, until, zone, zone_name, now)


def to_csv(columns: list[str], rows: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
    return out.getvalue()


def _cell(value: Any) -> Any:
    """Titles and names are typed by people: a leading = + - @ must not run as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _zone(name: str | None, policy: DeskPolicy) -> tuple[tzinfo, str]:
    if not name:
        zone = desk_zone(policy)
        return zone, getattr(zone, "key", "UTC")
    try:
        if len(name) > 64:
            raise ValueError(name)
        return ZoneInfo(name), name
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise BadRequest(
            "bad_tz", f"tz must be an IANA time zone like Asia/Bangkok or UTC, got {name!r}"
        ) from None


def _local_midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def moment(value: str, name: str, zone: tzinfo) -> datetime:
    """An ISO date (its midnight in ``zone``) or date-time (in ``zone`` unless it has an
    offset), in UTC, between ``EARLIEST`` and ``LATEST``; else 400 ``bad_<name>``."""
    try:
        if len(value) == 10:
            moment = datetime.combine(date.fromisoformat(value), time(0), tzinfo=zone)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            moment = moment if moment.tzinfo else moment.replace(tzinfo=zone)
    except ValueError:
        raise BadRequest(
            f"bad_{name}", f"{name} must be an ISO date or date-time, got {value!r}"
        ) from None
    try:
        utc = moment.astimezone(UTC)  # 0001-01-01 east of UTC is before year 1
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise BadRequest(
            f"bad_{name}",
            f"{name} must be between {EARLIEST.date()} and {LATEST.date()}, got {value!r}",
        )
    return utc
