"""Canned responses in the agent console: list (rendered for a conversation), and managing
them (supervisors, admins and knowledge managers). See console/openapi.yaml."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from console.http import BadRequest, int_param, read_json
from routing import placeholders, views
from routing.errors import Conflict, Forbidden
from storage.models import Agent, CannedResponse
from storage.repos import audit
from storage.repos import canned as canned_repo
from storage.repos import conversations as conv_repo
from storage.repos import customers as customer_repo

if TYPE_CHECKING:
    from console.api import ConsoleApi

# Who may create, edit and delete canned responses; they also see every team's.
MANAGERS = frozenset({"supervisor", "admin", "knowledge_manager"})
SHORTCUT = re.compile(r"[a-z0-9_-]{1,64}")
TITLE_MAX = 200
TEXT_MAX = 4000
TEAM_MAX = 64
_FIELDS: dict[str, type | tuple[type, ...]] = {
    "shortcut": str,
    "title": str,
    "text": str,
    "team": (str, type(None)),
}


class CannedApi:
    def __init__(self, console: ConsoleApi) -> None:
        self.console = console
        self.db = console.db
        self.clock = console.clock

    async def _audit(
        self, session: AsyncSession, agent: Agent, action: str, row_id: int, data: dict[str, Any]
    ) -> None:
        await audit.record(
            session,
            actor=agent.email,
            action=f"canned_response.{action}",
            target=f"canned_response:{row_id}",
            now=self.clock.now(),
            data=data,
        )

    def _clean(self, body: dict[str, Any]) -> dict[str, Any]:
        clean = _clean(body)
        teams = self.console.router.desk.policy.team_names()
        team = clean.get("team")
        if team is not None and teams and team not in teams:
            raise BadRequest("unknown_team", f"no team {team!r}; teams: {', '.join(teams)}")
        return clean

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/v1/canned-responses", self.list_responses)
        r.add_post("/api/v1/canned-responses", self.create)
        r.add_patch("/api/v1/canned-responses/{id}", self.update)
        r.add_delete("/api/v1/canned-responses/{id}", self.delete)

    async def list_responses(self, request: web.Request) -> web.Response:
        agent = await self.console.agent(request)
        search = request.query.get("q", "").strip() or None
        conversation_id = (
            int_param(request, "conversation_id") if request.query.get("conversation_id") else None
        )
        # Managers and agents in no team see every row; others the shared ones and their teams'.
        teams = None if agent.role in MANAGERS or not agent.teams else set(agent.teams)
        async with self.db.transaction() as session:
            rows = await canned_repo.list_for(session, search=search, teams=teams)
            values = (
                await self._values(session, conversation_id, agent)
                if conversation_id is not None
                else None
            )
        items = []
        for row in rows:
            item = _item(row)
            if values is not None:
                item["rendered"] = placeholders.render(row.text, values)
            items.append(item)
        return web.json_response({"items": items})

    async def create(self, request: web.Request) -> web.Response:
        agent = await self._manager(request)
        body = self._clean(await read_json(request, _FIELDS, {"shortcut", "title", "text"}))
        async with self.db.transaction() as session:
            try:
                row = await canned_repo.add(
                    session,
                    shortcut=body["shortcut"],
                    title=body["title"],
                    text=body["text"],
                    team=body.get("team"),
                    created_by=agent.id,
                    now=self.clock.now(),
                )
            except canned_repo.DuplicateShortcut as exc:
                raise _conflict(exc) from None
            await self._audit(
                session,
                agent,
                "create",
                row.id,
                {"shortcut": row.shortcut, "title": row.title, "team": row.team},
            )
            item = _item(row)
        return web.json_response(item, status=201)

    async def update(self, request: web.Request) -> web.Response:
        agent = await self._manager(request)
        response_id = int_param(request, "id")
        body = self._clean(await read_json(request, _FIELDS, set()))
        async with self.db.transaction() as session:
            try:
                row, changed = await canned_repo.update(
                    session, response_id, body, self.clock.now()
                )
            except canned_repo.DuplicateShortcut as exc:
                raise _conflict(exc) from None
            if changed:
                await self._audit(
                    session, agent, "update", row.id, {"shortcut": row.shortcut, "changed": changed}
                )
            item = _item(row)
        return web.json_response(item)

    async def delete(self, request: web.Request) -> web.Response:
        agent = await self._manager(request)
        response_id = int_param(request, "id")
        async with self.db.transaction() as session:
            row = await canned_repo.delete(session, response_id)
            await self._audit(
                session,
                agent,
                "delete",
                response_id,
                {"shortcut": row.shortcut, "title": row.title, "team": row.team},
            )
        return web.Response(status=204)

    async def _manager(self, request: web.Request) -> Agent:
        agent = await self.console.agent(request)
        if agent.role not in MANAGERS:
            raise Forbidden(
                "forbidden",
                "only supervisors, admins and knowledge managers may change canned responses",
            )
        return agent

    async def _values(
        self, session: Any, conversation_id: int, agent: Agent
    ) -> dict[str, str | None]:
        conv = await conv_repo.get(session, conversation_id)
        customer = await customer_repo.get_customer(session, conv.customer_id)
        return {
            "customer_name": customer.display_name,
            "first_name": placeholders.first_name(customer.display_name),
            "agent_name": agent.name,
            "reference": conv.reference,
            "channel": conv.channel,
            "subject": conv.subject,
        }


def _item(row: CannedResponse) -> dict[str, Any]:
    return {
        "id": row.id,
        "shortcut": row.shortcut,
        "title": row.title,
        "text": row.text,
        "team": row.team,
        "updated_at": views.iso(row.updated_at),
    }


def _clean(body: dict[str, Any]) -> dict[str, Any]:
    """The fields given, normalized and checked (400 naming what is wrong)."""
    clean: dict[str, Any] = {}
    if "shortcut" in body:
        shortcut = body["shortcut"].strip().lower()
        if not SHORTCUT.fullmatch(shortcut):
            raise BadRequest(
                "bad_shortcut",
                "shortcut: 1 to 64 of a-z, 0-9, _ and - (letters are lowercased), "
                f"got {body['shortcut']!r}",
            )
        clean["shortcut"] = shortcut
    if "title" in body:
        title = body["title"].strip()
        if not 1 <= len(title) <= TITLE_MAX:
            raise BadRequest("bad_title", f"title: 1 to {TITLE_MAX} characters")
        clean["title"] = title
    if "text" in body:
        text = body["text"].strip()
        if not 1 <= len(text) <= TEXT_MAX:
            raise BadRequest("bad_text", f"text: 1 to {TEXT_MAX} characters")
        try:
            placeholders.check(text)
        except placeholders.PlaceholderError as exc:
            raise BadRequest("bad_placeholder", str(exc)) from None
        clean["text"] = text
    if "team" in body:
        team = (body["team"] or "").strip()
        if len(team) > TEAM_MAX:
            raise BadRequest("bad_team", f"team: at most {TEAM_MAX} characters")
        clean["team"] = team or None
    return clean


def _conflict(exc: canned_repo.DuplicateShortcut) -> Conflict:
    return Conflict("duplicate_shortcut", str(exc))
