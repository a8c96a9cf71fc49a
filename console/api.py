"""The staff JSON API under /api/v1/ (see console/openapi.yaml)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from aiohttp import web
from aiohttp.helpers import content_disposition_header

from channels.phone import InvalidPhoneNumber, normalize_phone
from console import auth
from console.customers import CustomersApi
from console.gaps import GapsApi
from console.http import BadRequest, Gone, int_param, read_json
from console.reports import ReportsApi
from console.segments import SegmentsApi
from console.staff import StaffApi, parse_presence
from console.supervisor import supervisor_overview
from console.throttle import LoginThrottle, ThrottlePolicy, TooManyAttempts, client_address
from routing import views
from routing.assignment import Presence
from routing.desk import capacity_of
from routing.errors import Forbidden
from routing.placeholders import PLACEHOLDERS
from routing.router import Router
from storage.models import Agent, Conversation, ConversationStatus, Touchpoint
from storage.repos import agents as agent_repo
from storage.repos import attachments as attachment_repo
from storage.repos import conversations as conv_repo
from storage.repos import customers as customer_repo
from storage.repos import touchpoints as tp_repo

_CLIENT_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


class ConsoleApi:
    def __init__(
        self,
        router: Router,
        *,
        token_ttl: timedelta,
        presence_timeout: timedelta,
        max_chars: int,
        default_region: str = "US",
        login_throttle: ThrottlePolicy | None = None,
    ) -> None:
        self.router = router
        self.db = router.db
        self.clock = router.clock
        self.token_ttl = token_ttl
        self.presence_timeout = presence_timeout
        self.max_chars = max_chars
        self.default_region = default_region
        self.login_throttle = LoginThrottle(self.db, self.clock, login_throttle or ThrottlePolicy())

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/api/v1/auth/login", self.login)
        r.add_post("/api/v1/auth/logout", self.logout)
        r.add_get("/api/v1/me", self.me)
        r.add_patch("/api/v1/me", self.update_me)
        r.add_get("/api/v1/agents", self.agents)
        r.add_get("/api/v1/workspace", self.workspace)
        r.add_get("/api/v1/supervisor", self.supervisor)
        r.add_get("/api/v1/queue", self.queue)
        r.add_post("/api/v1/queue/claim", self.claim_next)
        r.add_get("/api/v1/conversations", self.conversations)
        r.add_get("/api/v1/conversations/{id}", self.conversation)
        r.add_post("/api/v1/conversations/{id}/claim", self.claim)
        r.add_post("/api/v1/conversations/{id}/messages", self.reply)
        r.add_post("/api/v1/conversations/{id}/close", self.close)
        r.add_post("/api/v1/conversations/{id}/handback", self.handback)
        r.add_post("/api/v1/conversations/{id}/transfer", self.transfer)
        r.add_post("/api/v1/conversations/{id}/notes", self.add_note)
        r.add_post("/api/v1/conversations/{id}/typing", self.typing)
        r.add_get("/api/v1/attachments/{id}", self.attachment)
        CustomersApi(self).add_routes(app)
        GapsApi(self).add_routes(app)
        ReportsApi(self).add_routes(app)
        SegmentsApi(self).add_routes(app)
        StaffApi(self).add_routes(app)

    async def agent(self, request: web.Request) -> Agent:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise auth.Unauthorized(
                "missing_token", "send Authorization: Bearer <token> (POST /api/v1/auth/login)"
            )
        return await auth.authenticate(self.db, self.clock, token.strip())

    async def login(self, request: web.Request) -> web.Response:
        body = await read_json(
            request,
            {"email": str, "password": str, "client": str},
            {"email", "password"},
        )
        client = body.get("client", auth.API)
        if client not in auth.CLIENTS:
            raise BadRequest("bad_client", f"client must be one of {', '.join(auth.CLIENTS)}")
        address = client_address(request, self.login_throttle.policy.trusted_proxies)
        try:
            attempt = await self.login_throttle.begin(body["email"], address)
        except TooManyAttempts as exc:
            return exc.response()
        try:
            token, agent, expires = await auth.login(
                self.db, self.clock, body["email"], body["password"], self.token_ttl, client=client
            )
        except auth.BadCredentials as exc:
            await self.login_throttle.failed(attempt, exc.agent_id)
            raise
        await self.login_throttle.succeeded(attempt)
        # Signing in to the console is coming to work, for those who work a queue; a script's
        # sign-in, or a knowledge manager's, leaves presence alone.
        desk = self.router.desk
        if (
            client == auth.CONSOLE
            and agent.presence == Presence.OFFLINE.value
            and desk.works_queue(agent)
        ):
            agent = await desk.set_presence(agent, Presence.ONLINE)
        return web.json_response(
            {"token": token, "expires_at": views.iso(expires), "agent": _agent(agent)}
        )

    async def logout(self, request: web.Request) -> web.Response:
        agent = await self.agent(request)
        token = request.headers["Authorization"].partition(" ")[2].strip()
        if await auth.logout(self.db, self.clock, token) == auth.CONSOLE:
            await self.router.desk.set_presence(agent, Presence.OFFLINE, why="signed out")
        return web.json_response({"ok": True})

    async def me(self, request: web.Request) -> web.Response:
        return web.json_response(_agent(await self.agent(request)))

    async def update_me(self, request: web.Request) -> web.Response:
        """An agent sets where claimed phone calls reach them (empty clears it)."""
        agent = await self.agent(request)
        body = await read_json(request, {"phone": str, "voice_client": str, "presence": str}, set())
        values: dict[str, str | None] = {}
        if "presence" in body:
            agent = await self.router.desk.set_presence(agent, parse_presence(body["presence"]))
        if "phone" in body:
            raw = body["phone"].strip()
            try:
                values["phone"] = normalize_phone(raw, self.default_region) if raw else None
            except InvalidPhoneNumber as exc:
                raise BadRequest("bad_phone", str(exc)) from None
        if "voice_client" in body:
            client = body["voice_client"].strip()
            if client and not _CLIENT_NAME.fullmatch(client):
                raise BadRequest(
                    "bad_voice_client", "voice_client: letters, digits, _ . - @ only, up to 64"
                )
            values["voice_client"] = client or None
        async with self.db.transaction() as session:
            row = await agent_repo.get(session, agent.id)
            assert row is not None
            for key, value in values.items():
                setattr(row, key, value)
            updated = _agent(row)
        return web.json_response(updated)

    async def queue(self, request: web.Request) -> web.Response:
        agent = await self.agent(request)
        team = request.query.get("team") or None
        desk = self.router.desk
        if team is not None and not desk.sees(agent, team):
            raise Forbidden("not_your_team", f"{team} is not one of your teams' queues")
        async with self.db.transaction() as session:
            ranked = await desk.queue(session, team=team, only_team=team is not None)
            ranked = [(w, c) for w, c in ranked if desk.sees(agent, w.team)]
            listed = [await self._summary(session, conv) for _, conv in ranked[:200]]
            online = await agent_repo.count_online(
                session, self.clock.now() - self.presence_timeout
            )
        return web.json_response({"items": listed, "agents_online": online})

    async def claim_next(self, request: web.Request) -> web.Response:
        agent = await self.agent(request)
        conv = await self.router.claim(agent)
        return await self._conversation_response(conv.id)

    async def claim(self, request: web.Request) -> web.Response:
        agent = await self.agent(request)
        conv = await self.router.claim(agent, int_param(request, "id"))
        return await self._conversation_response(conv.id)

    async def conversations(self, request: web.Request) -> web.Response:
        agent = await self.agent(request)
        assignee = request.query.get("assignee")
        status_text = request.query.get("status")
        try:
            status = ConversationStatus(status_text) if status_text else None
        except ValueError:
            raise BadRequest(
                "bad_status",
                f"status must be one of {', '.join(s.value for s in ConversationStatus)}",
            ) from None
        assignee_id = (
            agent.id if assignee == "me" else (int_param(request, "assignee") if assignee else None)
        )
        async with self.db.transaction() as session:
            items = await conv_repo.list_for(session, assignee_id=assignee_id, status=status)
            # Other teams' queues stay out of sight unless the workspace opens them.
            items = [
                c
                for c in items
                if c.status is not ConversationStatus.QUEUED or self.router.desk.sees(agent, c.team)
            ]
            listed = [await self._summary(session, c) for c in items]
        return web.json_response({"items": listed})

    async def conversation(self, request: web.Request) -> web.Response:
        agent = await self.agent(request)
        conversation_id = int_param(request, "id")
        response = await self._conversation_response(conversation_id)
        async with self.db.transaction() as session:
            conv = await conv_repo.get(session, conversation_id)
        if conv.assignee_id == agent.id and conv.status is ConversationStatus.ASSIGNED:
            await self.router.mark_read_by_agent(conversation_id)
        return response

    async def reply(self, request: web.Request) -> web.Response:
        agent = await self.agent(request)
        conversation_id = int_param(request, "id")
        body = await read_json(request, {"text": str}, {"text"})
        text = body["text"].strip()
        if not text:
            raise BadRequest("empty_message", "the message is empty")
        if len(text) > self.max_chars:
            raise BadRequest(
                "message_too_long", f"messages are limited to {self.max_chars} characters"
            )
        tp = await self.router.agent_reply(agent, conversation_id, text)
        return web.json_response(views.staff_message(tp, agent.name), status=201)

    async def close(self, request: web.Request) -> web.Response:
        agent = await self.agent(request)
        conversation_id = int_param(request, "id")
        body = (
            await read_json(request, {"disposition": str, "note": str}, set())
            if request.can_read_body
            else {}
        )
        conv = await self.router.close(
            agent, conversation_id, body.get("disposition"), body.get("note")
        )
        return await self._conversation_response(conv.id)

    async def transfer(self, request: web.Request) -> web.Response:
        agent = await self.agent(request)
        conversation_id = int_param(request, "id")
        body = await read_json(request, {"agent_id": int, "team": str, "note": str}, {"note"})
        conv = await self.router.desk.transfer(
            agent,
            conversation_id,
            to_agent_id=body.get("agent_id"),
            team=body.get("team"),
            note=body["note"],
        )
        return await self._conversation_response(conv.id)

    async def add_note(self, request: web.Request) -> web.Response:
        agent = await self.agent(request)
        conversation_id = int_param(request, "id")
        body = await read_json(request, {"text": str}, {"text"})
        tp = await self.router.desk.add_note(agent, conversation_id, body["text"])
        return web.json_response(views.staff_message(tp, agent.name), status=201)

    async def agents(self, request: web.Request) -> web.Response:
        await self.agent(request)
        async with self.db.transaction() as session:
            items = await self.router.desk.agents_overview(session)
        return web.json_response({"items": items})

    async def workspace(self, request: web.Request) -> web.Response:
        await self.agent(request)
        policy = self.router.desk.policy
        return web.json_response(
            {
                "teams": [{"name": t.team, "mode": t.mode.value} for t in policy.teams],
                "dispositions": list(policy.dispositions),
                "disposition_required": policy.disposition_required,
                "placeholders": list(PLACEHOLDERS),
                "csat": policy.csat,
                "at_risk_seconds": int(policy.at_risk_within.total_seconds()),
            }
        )

    async def supervisor(self, request: web.Request) -> web.Response:
        me = await self.agent(request)
        self.router.desk.require_supervisor(me)
        async with self.db.transaction() as session:
            body = await supervisor_overview(self, session)
        return web.json_response(body)

    async def handback(self, request: web.Request) -> web.Response:
        agent = await self.agent(request)
        conv = await self.router.hand_back(agent, int_param(request, "id"))
        return await self._conversation_response(conv.id)

    async def typing(self, request: web.Request) -> web.Response:
        agent = await self.agent(request)
        conversation_id = int_param(request, "id")
        body = await read_json(request, {"on": bool}, {"on"})
        await self.router.agent_typing(agent, conversation_id, body["on"])
        return web.json_response({"ok": True})

    async def attachment(self, request: web.Request) -> web.Response:
        """A file a customer sent, as they sent it (a download, never rendered inline)."""
        await self.agent(request)
        async with self.db.transaction() as session:
            row = await attachment_repo.get(session, int_param(request, "id"))
        if row.data is None:
            raise Gone(
                "attachment_omitted",
                f"{row.name} ({row.size} bytes) was over the size limit and was not kept",
            )
        return web.Response(
            body=row.data,
            content_type="application/octet-stream",
            headers={
                "Content-Disposition": content_disposition_header("attachment", filename=row.name),
                "X-Content-Type-Options": "nosniff",
                "X-Original-Content-Type": row.content_type,
            },
        )

    async def _summary(self, session: Any, conv: Conversation) -> dict[str, Any]:
        customer = await customer_repo.get_customer(session, conv.customer_id)
        last = await tp_repo.last_message(session, conv.id)
        names = await agent_repo.names(session, {conv.assignee_id} if conv.assignee_id else set())
        body = views.conversation(
            conv, customer, last=last, assignee_name=names.get(conv.assignee_id or 0)
        )
        sla = self.router.desk.sla_view(conv)
        traits = self.router._traits(conv.channel)
        window_ends = None
        if traits.reply_window is not None and conv.status is not ConversationStatus.CLOSED:
            inbound = await tp_repo.last_inbound(session, conv.id)
            window_ends = views.iso(inbound.created_at + traits.reply_window) if inbound else None
        identity = await customer_repo.get_identity(session, conv.identity_id)
        body["customer"]["segment"] = customer.segment
        body.update(
            team=conv.team,
            required_skills=list(conv.required_skills or []),
            sla=(
                {
                    "target": sla.target.value,
                    "due_at": views.iso(sla.due_at),
                    "status": sla.status.value,
                }
                if sla
                else None
            ),
            sla_breached=list(conv.sla_breached or []),
            disposition=conv.disposition,
            csat=(
                {"score": conv.csat_score, "comment": conv.csat_comment, "state": conv.csat_state}
                if conv.csat_state
                else None
            ),
            constraints={
                "max_chars": self.max_chars,
                "sms": traits.address_kind == "phone" and conv.channel == "sms",
                "reply_window_ends_at": window_ends,
                "opted_out": identity.opted_out_at is not None,
                "outbound": traits.outbound,
            },
        )
        return body

    async def _conversation_response(self, conversation_id: int) -> web.Response:
        async with self.db.transaction() as session:
            conv = await conv_repo.get(session, conversation_id)
            body = await self._summary(session, conv)
            items: list[Touchpoint] = await tp_repo.for_conversation(session, conversation_id)
            names = await agent_repo.names(session, {t.agent_id for t in items if t.agent_id})
        body["messages"] = [views.staff_message(t, names.get(t.agent_id or 0)) for t in items]
        return web.json_response(body)


def _agent(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "email": agent.email,
        "name": agent.name,
        "role": agent.role,
        "phone": agent.phone,
        "voice_client": agent.voice_client,
        "presence": agent.presence,
        "teams": list(agent.teams or []),
        "skills": list(agent.skills or []),
        "capacity": {k.value: v for k, v in capacity_of(agent).items()},
    }
