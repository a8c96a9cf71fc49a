"""The knowledge-gap report: what customers asked that the bot could not answer, grouped by
topic, with a draft article for each gap (see console/openapi.yaml)."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.helpers import content_disposition_header

from console.http import BadRequest
from knowledge_base.gaps import Cluster, cluster
from routing import views
from storage.repos import gaps as gaps_repo

if TYPE_CHECKING:
    from console.api import ConsoleApi

DEFAULT_DAYS = 30
MAX_DAYS = 366
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_QUESTIONS = 20_000  # per source: the report's bound on work
DRAFT_BODY = "TODO: answer"
DRAFT_TAGS = ["from-gap"]
LOCALE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")  # en, th-TH, zh-Hant
CSV_FIELDS = [
    "key",
    "locale",
    "count",
    "missed",
    "escalated",
    "unhelpful",
    "representative",
    "suggested_title",
    "top_terms",
    "nearest_article_id",
    "examples",
    "conversation_ids",
    "first_at",
    "last_at",
]


class GapsApi:
    def __init__(self, console: ConsoleApi) -> None:
        self.console = console
        self.db = console.db
        self.clock = console.clock

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/kb/gaps", self.report)
        app.router.add_get("/api/v1/kb/gaps.csv", self.report_csv)

    async def report(self, request: web.Request) -> web.Response:
        await self.console.agent(request)  # any signed-in staff
        since, until, locale, limit, clusters, total = await self._clusters(request)
        return web.json_response(
            {
                "clusters": [_json(c) for c in clusters[:limit]],
                "total_questions": total,
                "total_clusters": len(clusters),
                "since": views.iso(since),
                "until": views.iso(until),
                "locale": locale,
            }
        )

    async def report_csv(self, request: web.Request) -> web.Response:
        await self.console.agent(request)
        since, until, _locale, limit, clusters, _total = await self._clusters(request)
        out = io.StringIO()
        writer = csv.DictWriter(out, CSV_FIELDS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(_row(c) for c in clusters[:limit])
        name = f"knowledge-gaps-{since:%Y%m%d}-{until:%Y%m%d}.csv"
        return web.Response(
            body=out.getvalue().encode("utf-8-sig"),  # the BOM makes Excel read UTF-8
            content_type="text/csv",
            charset="utf-8",
            headers={
                "Content-Disposition": content_disposition_header("attachment", filename=name)
            },
        )

    async def _clusters(
        self, request: web.Request
    ) -> tuple[datetime, datetime, str | None, int, list[Cluster], int]:
        since, until, locale, limit = self._params(request)
        async with self.db.transaction() as session:
            questions = await gaps_repo.questions(
                session, since=since, until=until, locale=locale, limit=MAX_QUESTIONS
            )
        # Clustering is CPU work (about a second for 10,000 questions): off the event loop.
        clusters = await asyncio.to_thread(cluster, questions)
        return since, until, locale, limit, clusters, len(questions)

    def _params(self, request: web.Request) -> tuple[datetime, datetime, str | None, int]:
        query = request.query
        unknown = sorted(set(query) - {"since", "until", "locale", "limit"})
        if unknown:
            raise BadRequest("unknown_parameter", f"unknown parameter(s): {', '.join(unknown)}")
        until = _moment(query["until"], "until") if query.get("until") else self.clock.now()
        if query.get("since"):
            since = _moment(query["since"], "since")
        elif until.date() > date.min + timedelta(days=DEFAULT_DAYS):
            since = until - timedelta(days=DEFAULT_DAYS)
        else:
            raise BadRequest("bad_until", f"until: {DEFAULT_DAYS} days before it are not a date")
        if since >= until:
            raise BadRequest("bad_since", "since must be before until")
        if until - since > timedelta(days=MAX_DAYS):
            raise BadRequest("bad_since", f"since: the range is limited to {MAX_DAYS} days")
        locale = query.get("locale") or None
        if locale is not None and not LOCALE_TAG.fullmatch(locale):
            raise BadRequest(
                "bad_locale", f"locale must be a language tag like en or th-TH, got {locale!r}"
            )
        limit = DEFAULT_LIMIT
        if query.get("limit"):
            try:
                limit = int(query["limit"])
            except ValueError:
                raise BadRequest(
                    "bad_limit", f"limit must be a whole number, got {query['limit']!r}"
                ) from None
            if not 1 <= limit <= MAX_LIMIT:
                raise BadRequest("bad_limit", f"limit must be 1..{MAX_LIMIT}")
        return since, until, locale, limit


def _moment(value: str, name: str) -> datetime:
    """An ISO date (midnight UTC) or date-time (UTC when it names no offset)."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"bad_{name}", f"{name} must be an ISO date or date-time, got {value!r}"
        ) from None
    try:  # compared and stored in UTC, which can be past the calendar's ends
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise BadRequest(f"bad_{name}", f"{name} is out of range: {value!r}") from None


def draft(c: Cluster) -> dict[str, Any]:
    """A body for ``POST /api/v1/kb/articles`` that starts the missing article."""
    return {
        "locale": c.locale,
        "title": c.title,
        "body": DRAFT_BODY,
        "questions": c.questions,
        "tags": list(DRAFT_TAGS),
    }


def _json(c: Cluster) -> dict[str, Any]:
    return {
        "key": c.key,
        "locale": c.locale,
        "count": c.count,
        "kinds": c.kinds,
        "representative": c.representative,
        "suggested_title": c.title,
        "examples": [
            {
                "text": e.text,
                "conversation_id": e.conversation_id,
                "touchpoint_id": e.touchpoint_id,
                "kind": e.kind,
                "created_at": views.iso(e.created_at),
            }
            for e in c.examples
        ],
        "top_terms": c.top_terms,
        "nearest_article_id": c.nearest_article_id,
        "conversation_ids": c.conversation_ids,
        "first_at": views.iso(c.first_at),
        "last_at": views.iso(c.last_at),
        "draft": draft(c),
    }


def _row(c: Cluster) -> dict[str, Any]:
    return {
        "key": c.key,
        "locale": c.locale,
        "count": c.count,
        "missed": c.kinds.get("missed", 0),
        "escalated": c.kinds.get("escalated", 0),
        "unhelpful": c.kinds.get("unhelpful", 0),
        "representative": _cell(c.representative),
        "suggested_title": _cell(c.title),
        "top_terms": _cell(" ".join(c.top_terms)),
        "nearest_article_id": c.nearest_article_id or "",
        "examples": _cell("\n".join(e.text for e in c.examples)),
        "conversation_ids": " ".join(str(i) for i in c.conversation_ids),
        "first_at": views.iso(c.first_at),
        "last_at": views.iso(c.last_at),
    }


def _cell(text: str) -> str:
    """Customers wrote these: a leading = + - @ must not make a spreadsheet run a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
