"""The console's live socket: queue and conversation events, and agent presence."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import WSMsgType, web

from console import auth
from routing.errors import RoutingError
from routing.hub import CONSOLE, Hub
from routing.ingest import BadJson, load_json
from routing.router import Router
from storage.repos import agents as agent_repo

AUTH_TIMEOUT = 10.0


class ConsoleSocket:
    def __init__(self, router: Router, hub: Hub) -> None:
        self._router = router
        self._hub = hub

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/ws", self.socket)

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=65536)
        await ws.prepare(request)
        self._hub.track(ws)
        agent = await self._authenticate(ws)
        if agent is None:
            await ws.close(code=4401, message=b"unauthorized")
            return ws
        subscription = await self._hub.subscribe(CONSOLE)
        forwarder = asyncio.create_task(subscription.pump(ws.send_json))
        await ws.send_json(
            {"type": "ready", "agent": {"id": agent.id, "name": agent.name, "email": agent.email}}
        )
        await self._hub.publish(CONSOLE, {"type": "presence"})
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                try:
                    frame = load_json(msg.data, what="the frame")
                except BadJson as exc:
                    await ws.send_json({"type": "error", "code": exc.code, "message": exc.message})
                    continue
                if isinstance(frame, dict) and frame.get("type") == "ping":
                    async with self._router.db.transaction() as session:
                        await agent_repo.touch(session, agent.id, self._router.clock.now())
                    await ws.send_json({"type": "pong"})
                else:
                    await ws.send_json(
                        {
                            "type": "error",
                            "code": "unknown_type",
                            "message": "only ping is accepted",
                        }
                    )
        finally:
            forwarder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await forwarder
            await subscription.close()
        return ws

    async def _authenticate(self, ws: web.WebSocketResponse):  # type: ignore[no-untyped-def]
        try:
            msg = await ws.receive(timeout=AUTH_TIMEOUT)
        except TimeoutError:
            return None
        if msg.type is not WSMsgType.TEXT:
            return None
        try:
            frame = load_json(msg.data, what="the frame")
        except BadJson:
            frame = None
        if (
            not isinstance(frame, dict)
            or frame.get("type") != "auth"
            or not isinstance(frame.get("token"), str)
        ):
            await ws.send_json(
                {"type": "error", "code": "auth_first", "message": "send {type: auth, token} first"}
            )
            return None
        try:
            return await auth.authenticate(self._router.db, self._router.clock, frame["token"])
        except RoutingError as exc:
            await ws.send_json({"type": "error", "code": exc.code, "message": exc.message})
            return None
