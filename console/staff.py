"""Editing staff: teams, skills, capacity and presence (supervisors), role and whether the
account is active (admins). Every change is audited (``agent.<field>``, from → to).

Nobody changes their own role or deactivates themselves, and the last active admin can be
neither demoted nor deactivated, so the desk always has someone who can manage it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from console.http import BadRequest, int_param, read_json
from routing.assignment import ChannelKind, Presence, Role
from routing.desk import agent_view, capacity_of
from routing.errors import Conflict, Forbidden
from routing.hub import CONSOLE
from storage.db import RecordNotFound
from storage.models import Agent
from storage.repos import agents as agent_repo
from storage.repos import audit
from storage.repos import conversations as conv_repo

if TYPE_CHECKING:
    from console.api import ConsoleApi

_FIELDS: dict[str, type | tuple[type, ...]] = {
    "teams": list,
    "skills": list,
    "capacity": dict,
    "role": str,
    "presence": str,
    "active": bool,
}
_ADMIN_FIELDS = ("role", "active")
_NAME = re.compile(r"[a-z0-9_][a-z0-9_:.-]{0,63}")


class StaffApi:
    def __init__(self, console: ConsoleApi) -> None:
        self.console = console
        self.router = console.router
        self.db = console.db
        self.clock = console.clock

    def add_routes(self, app: web.Application) -> None:
        app.router.add_patch("/api/v1/agents/{id}", self.update_agent)

    async def update_agent(self, request: web.Request) -> web.Response:
        """A supervisor sets an agent's teams, skills, capacity or presence; an admin also
        their role and whether the account is active."""
        me = await self.console.agent(request)
        desk = self.router.desk
        desk.require_supervisor(me)
        agent_id = int_param(request, "id")
        body = await read_json(request, _FIELDS, set())
        wanted = _checked(body, desk.policy.team_names())
        if any(key in wanted for key in _ADMIN_FIELDS) and me.role != Role.ADMIN.value:
            raise Forbidden("admins_only", "only admins may change a role or deactivate an agent")
        async with self.db.transaction() as session:
            row = await agent_repo.get(session, agent_id)
            if row is None or (not row.active and "active" not in wanted):
                raise RecordNotFound("agent", agent_id)
            await _check_admin_rules(session, me, row, wanted)
            changes = _apply(row, wanted)
            if wanted.get("active") is False:
                await agent_repo.revoke_tokens(session, row.id, self.clock.now())
            for name, (old, new) in changes.items():
                await audit.record(
                    session,
                    actor=me.email,
                    action=f"agent.{name}",
                    target=f"agent:{row.id}",
                    now=self.clock.now(),
                    data={"from": old, "to": new},
                )
        if wanted.get("active") is False:
            row = await desk.set_presence(row, Presence.OFFLINE, why="was deactivated")
        elif "presence" in wanted:
            row = await self._set_presence(me, row, Presence(wanted["presence"]))
        desk.wake()
        await self.router.hub.publish(CONSOLE, {"type": "agents"})
        async with self.db.transaction() as session:
            loads = await conv_repo.loads(session, [agent_id])
        return web.json_response(agent_view(row, loads.get(agent_id, {}), True))

    async def _set_presence(self, me: Agent, row: Agent, presence: Presence) -> Agent:
        old = row.presence
        row = await self.router.desk.set_presence(row, presence)
        if old != row.presence:
            async with self.db.transaction() as session:
                await audit.record(
                    session,
                    actor=me.email,
                    action="agent.presence",
                    target=f"agent:{row.id}",
                    now=self.clock.now(),
                    data={"from": old, "to": row.presence},
                )
        return row


async def _check_admin_rules(
    session: AsyncSession, me: Agent, row: Agent, wanted: dict[str, Any]
) -> None:
    role, active = wanted.get("role"), wanted.get("active")
    if role is not None and row.id == me.id and role != row.role:
        raise Forbidden("own_role", "nobody may change their own role; ask another admin")
    if active is False and row.id == me.id:
        raise Forbidden("own_account", "nobody may deactivate themselves; ask another admin")
    demoted = role is not None and role != Role.ADMIN.value
    if row.role == Role.ADMIN.value and row.active and (demoted or active is False):
        # Locked, so two admins demoting each other at once cannot both succeed.
        others = [a for a in await agent_repo.admins_for_update(session) if a.id != row.id]
        if not others:
            raise Conflict(
                "last_admin",
                f"{row.name} is the last active admin; make someone else admin first",
            )


def _apply(row: Agent, wanted: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Set the wanted values (presence apart) and return what changed, as (from, to)."""
    changes: dict[str, tuple[Any, Any]] = {}
    for name, new in wanted.items():
        if name == "presence":
            continue
        old: Any
        if name == "capacity":  # kinds left out take the defaults, as when first set
            old, row.capacity = _capacity_view(row), new
            new = _capacity_view(row)
        else:
            old = getattr(row, name)
            old = list(old or []) if name in ("teams", "skills") else old
            setattr(row, name, new)
        if old != new:
            changes[name] = (old, new)
    return changes


def _capacity_view(row: Agent) -> dict[str, int]:
    return {k.value: v for k, v in capacity_of(row).items()}


def _checked(body: dict[str, Any], teams: tuple[str, ...]) -> dict[str, Any]:
    wanted: dict[str, Any] = {}
    if "teams" in body:
        wanted["teams"] = _names(body["teams"], "teams", allowed=teams)
    if "skills" in body:
        wanted["skills"] = _names(body["skills"], "skills")
    if "capacity" in body:
        wanted["capacity"] = _capacity(body["capacity"])
    if "role" in body:
        if body["role"] not in Role._value2member_map_:
            raise BadRequest("bad_role", f"role must be one of {', '.join(r.value for r in Role)}")
        wanted["role"] = body["role"]
    if "presence" in body:
        wanted["presence"] = parse_presence(body["presence"]).value
    if "active" in body:
        wanted["active"] = body["active"]
    return wanted


def parse_presence(value: str) -> Presence:
    try:
        return Presence(value)
    except ValueError:
        raise BadRequest(
            "bad_presence", f"presence must be one of {', '.join(p.value for p in Presence)}"
        ) from None


def _names(values: list[Any], field: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    result: list[str] = []
    for value in values:
        if not isinstance(value, str) or not _NAME.fullmatch(value.strip().lower()):
            raise BadRequest(
                f"bad_{field}", f"{field}: short lowercase names like 'billing' or 'lang:th'"
            )
        name = value.strip().lower()
        if allowed is not None and name not in allowed:
            raise BadRequest(
                f"unknown_{field}", f"no team {name!r}; teams: {', '.join(allowed) or 'none'}"
            )
        if name not in result:
            result.append(name)
    return result


def _capacity(value: dict[str, Any]) -> dict[str, int]:
    kinds = [k.value for k in ChannelKind]
    result: dict[str, int] = {}
    for key, n in value.items():
        if key not in kinds:
            raise BadRequest("bad_capacity", f"capacity kinds are {', '.join(kinds)}")
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 50:
            raise BadRequest("bad_capacity", f"capacity.{key} must be a whole number 0..50")
        result[key] = n
    return result
