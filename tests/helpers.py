"""Clients that use Switchboard the way a customer's widget and an agent's console do."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient

WAIT = 10.0  # generous: a slow CI machine must not fail a correct test


class ChatClient:
    """A customer on the web-chat socket."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.ws: ClientWebSocketResponse | None = None
        self.visitor_id: str | None = None
        self.buffer: list[dict[str, Any]] = []

    async def connect(
        self, visitor_id: str | None = None, locale: str | None = None
    ) -> dict[str, Any]:
        self.ws = await self.client.ws_connect("/chat/ws")
        hello: dict[str, Any] = {"type": "hello"}
        if visitor_id or self.visitor_id:
            hello["visitor_id"] = visitor_id or self.visitor_id
        if locale:
            hello["locale"] = locale
        await self.ws.send_json(hello)
        welcome = await self.next("welcome")
        self.visitor_id = welcome["visitor_id"]
        return welcome

    async def send_raw(self, frame: Any) -> None:
        assert self.ws is not None
        await self.ws.send_str(frame if isinstance(frame, str) else json.dumps(frame))

    async def say(self, text: str, client_id: str | None = None) -> dict[str, Any]:
        client_id = client_id or uuid.uuid4().hex
        await self.send_raw({"type": "message", "client_id": client_id, "text": text})
        return await self.next("ack", lambda f: f["client_id"] == client_id)

    async def reply(
        self, predicate: Callable[[dict[str, Any]], bool] | None = None
    ) -> dict[str, Any]:
        """The next message the customer receives (bot, agent or system)."""
        frame = await self.next("message", lambda f: predicate is None or predicate(f["message"]))
        return frame["message"]

    async def next(
        self,
        kind: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = WAIT,
    ) -> dict[str, Any]:
        for i, frame in enumerate(self.buffer):
            if frame["type"] == kind and (predicate is None or predicate(frame)):
                return self.buffer.pop(i)
        assert self.ws is not None
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.ws.receive()
                if msg.type is not WSMsgType.TEXT:
                    raise AssertionError(
                        f"socket ended while waiting for {kind}: {msg.type} {msg.data!r}"
                    )
                frame = json.loads(msg.data)
                if frame["type"] == "identified" and frame.get("visitor_id"):
                    self.visitor_id = frame["visitor_id"]  # rotated, as the widget stores it
                if frame["type"] == kind and (predicate is None or predicate(frame)):
                    return frame
                self.buffer.append(frame)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None
        self.buffer.clear()


class AgentApi:
    """An agent using the JSON API."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.token = token

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @classmethod
    async def login(
        cls, client: TestClient, email: str, password: str, *, app: str = "console"
    ) -> AgentApi:
        """Sign in as the console does (``app="api"``: as a script does)."""
        body = {"email": email, "password": password, "client": app}
        resp = await client.post("/api/v1/auth/login", json=body)
        assert resp.status == 200, await resp.text()
        return cls(client, (await resp.json())["token"])

    async def call(self, method: str, path: str, expect: int | None = 200, **kwargs: Any) -> Any:
        resp = await self.client.request(method, path, headers=self.headers, **kwargs)
        body = await resp.json()
        if expect is not None:
            assert resp.status == expect, (resp.status, body)
        return body

    async def queue(self) -> dict[str, Any]:
        return await self.call("GET", "/api/v1/queue")

    async def claim_next(self, expect: int = 200) -> Any:
        return await self.call("POST", "/api/v1/queue/claim", expect=expect)

    async def claim(self, conversation_id: int, expect: int | None = 200) -> Any:
        return await self.call(
            "POST", f"/api/v1/conversations/{conversation_id}/claim", expect=expect
        )

    async def reply(self, conversation_id: int, text: str, expect: int = 201) -> Any:
        return await self.call(
            "POST",
            f"/api/v1/conversations/{conversation_id}/messages",
            expect=expect,
            json={"text": text},
        )

    async def conversation(self, conversation_id: int) -> Any:
        return await self.call("GET", f"/api/v1/conversations/{conversation_id}")

    async def close(self, conversation_id: int, expect: int = 200) -> Any:
        return await self.call(
            "POST", f"/api/v1/conversations/{conversation_id}/close", expect=expect
        )

    async def handback(self, conversation_id: int) -> Any:
        return await self.call("POST", f"/api/v1/conversations/{conversation_id}/handback")

    async def history(self, customer_id: int, **params: Any) -> Any:
        return await self.call("GET", f"/api/v1/customers/{customer_id}/history", params=params)


async def eventually(
    check: Callable[[], Any], timeout: float = WAIT, interval: float = 0.02
) -> Any:
    """Poll an async or sync check until it returns something truthy."""
    async with asyncio.timeout(timeout):
        while True:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(interval)
