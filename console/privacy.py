"""A customer's data on request: export it all (supervisors, admins) and erase it (admins).
See console/openapi.yaml."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.helpers import content_disposition_header

from console.http import BadRequest, int_param, read_json
from routing.assignment import Role
from routing.errors import Forbidden
from routing.privacy import Privacy
from storage.models import Agent

if TYPE_CHECKING:
    from console.api import ConsoleApi

EXPORTERS = frozenset({Role.SUPERVISOR.value, Role.ADMIN.value})
REASON_MAX = 1000


class PrivacyApi:
    def __init__(self, console: ConsoleApi) -> None:
        self.console = console
        self.privacy = Privacy(console.db, console.clock, console.router.desk)

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/v1/customers/{id}/export", self.export)
        r.add_post("/api/v1/customers/{id}/erase", self.erase)

    async def export(self, request: web.Request) -> web.Response:
        agent = await self._role(request, EXPORTERS, "supervisors and admins")
        customer_id = int_param(request, "id")
        data = await self.privacy.export(customer_id, agent.email)
        return web.Response(
            body=json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8"),
            content_type="application/json",
            charset="utf-8",
            headers={
                "Content-Disposition": content_disposition_header(
                    "attachment", filename=f"customer-{customer_id}.json"
                ),
                "Cache-Control": "no-store",
            },
        )

    async def erase(self, request: web.Request) -> web.Response:
        agent = await self._role(request, frozenset({Role.ADMIN.value}), "admins")
        customer_id = int_param(request, "id")
        if not request.can_read_body:
            raise BadRequest("missing_field", 'missing field(s): reason (send {"reason": "..."})')
        body = await read_json(request, {"reason": str}, {"reason"})
        reason = body["reason"].strip()
        if not reason:
            raise BadRequest("missing_reason", "reason: say why the customer's data is erased")
        if len(reason) > REASON_MAX:
            raise BadRequest("bad_reason", f"reason: at most {REASON_MAX} characters")
        counts = await self.privacy.erase(customer_id, agent.email, reason)
        return web.json_response({"customer_id": customer_id, "erased": counts})

    async def _role(self, request: web.Request, roles: frozenset[str], who: str) -> Agent:
        agent = await self.console.agent(request)
        if agent.role not in roles:
            raise Forbidden("forbidden", f"only {who} may do this")
        return agent
