"""Segments over HTTP, for supervisors and admins: the workspace's definitions with their
customer counts, the customers of one segment (paginated), and a recompute on demand.
See console/openapi.yaml and the README's "Segments, value tiers and lifecycle"."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from console.http import BadRequest
from routing import views
from routing.segments import Segmenter, SegmentPolicy
from storage.db import RecordNotFound
from storage.repos import segments as segment_repo

if TYPE_CHECKING:
    from console.api import ConsoleApi

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
DEFAULT_PAGE = 50
MAX_PAGE = 500


class SegmentsApi:
    def __init__(self, console: ConsoleApi) -> None:
        self.console = console
        self.db = console.db

    @property
    def policy(self) -> SegmentPolicy:
        return self.console.router.desk.policy.segments

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/segments", self.definitions)
        app.router.add_post("/api/v1/segments/recompute", self.recompute)
        app.router.add_get("/api/v1/segments/{name}/customers", self.customers)

    async def _supervisor(self, request: web.Request) -> None:
        self.console.router.desk.require_supervisor(await self.console.agent(request))

    async def definitions(self, request: web.Request) -> web.Response:
        await self._supervisor(request)
        async with self.db.transaction() as session:
            counts = await segment_repo.counts_by_segment(session)
        vip = self.console.router.desk.policy.vip_segments
        defined = self.policy.names()
        return web.json_response(
            {
                "segments": [
                    {
                        "name": rule.name,
                        "position": i,
                        "rule": rule.condition.to_data(),
                        "vip": rule.name in vip,
                        "customers": counts.get(rule.name, 0),
                    }
                    for i, rule in enumerate(self.policy.rules, 1)
                ],
                # Segments customers have that no rule defines (set by a person or an import).
                "other": [
                    {"name": name, "vip": name in vip, "customers": n}
                    for name, n in sorted(counts.items(), key=lambda kv: str(kv[0]))
                    if name is not None and name not in defined
                ],
                "unsegmented": counts.get(None, 0),
                "value_attribute": self.policy.value_attribute,
                "interval_minutes": self.policy.interval.total_seconds() / 60,
            }
        )

    async def customers(self, request: web.Request) -> web.Response:
        await self._supervisor(request)
        name = request.match_info["name"]
        if not _NAME.fullmatch(name):
            raise BadRequest(
                "bad_segment", "a segment name is lowercase letters, digits, _ or -, up to 32"
            )
        limit = _whole(request.query.get("limit", str(DEFAULT_PAGE)), "limit", 1, MAX_PAGE)
        after = request.query.get("after")
        after_id = _whole(after, "after", 1, 2**62) if after is not None else None
        async with self.db.transaction() as session:
            rows = await segment_repo.customers_in(
                session, name, after_id=after_id, limit=limit + 1
            )
            page = rows[:limit]
            owners = await segment_repo.last_segment_events(session, [c.id for c in page])
        defined = name in self.policy.names()
        if not page and after_id is None and not defined:
            raise RecordNotFound("segment", name)
        items: list[dict[str, Any]] = [
            {
                "id": c.id,
                "display_name": c.display_name,
                "segment": c.segment,
                "segment_source": segment_repo.segment_source(c.segment, owners.get(c.id)),
                "value_tier": c.value_tier,
                "lifecycle": c.lifecycle,
                "profiled_at": views.iso(c.profiled_at) if c.profiled_at else None,
                "tags": list(c.tags or []),
            }
            for c in page
        ]
        return web.json_response(
            {
                "segment": name,
                "defined": defined,
                "items": items,
                "next_after": page[-1].id if len(rows) > limit else None,
            }
        )

    async def recompute(self, request: web.Request) -> web.Response:
        await self._supervisor(request)
        console = self.console
        summary = await Segmenter(console.db, console.clock, self.policy).recompute()
        summary["profiled_at"] = views.iso(summary["profiled_at"])
        return web.json_response(summary)


def _whole(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"bad_{name}", f"{name} must be a whole number") from None
    if not low <= number <= high:
        raise BadRequest(f"bad_{name}", f"{name} must be {low}..{high}")
    return number
