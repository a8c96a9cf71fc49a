"""What operators and tools see: health check, Prometheus metrics, the API description, and
the front page."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import ChannelRegistry
from routing.clock import FrozenClock
from routing.hub import Hub
from routing.metrics import Metrics
from routing.outbox import OutboxPolicy, OutboxWorker
from storage.db import Database
from storage.models import Customer
from switchboard.app import create_app
from switchboard.settings import Settings
from tests.conftest import PASSWORD, seed
from tests.helpers import WAIT, AgentApi, ChatClient, eventually


async def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of GET /metrics, keyed by name and sorted labels."""
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    text = await resp.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


INBOUND = ("switchboard_messages_total", (("channel", "webchat"), ("direction", "inbound")))
QUEUE = ("switchboard_queue_length", ())


async def test_healthz_reports_the_database_ok(client: TestClient) -> None:
    resp = await client.get("/healthz")

    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["kb_articles"] > 0


async def test_metrics_count_inbound_chat_messages_and_bot_outcomes(
    client: TestClient, chat: ChatClient
) -> None:
    before = await samples(client)
    await chat.connect()
    await chat.say("How long does shipping take?")
    await chat.reply()

    after = await samples(client)

    assert after[INBOUND] == before.get(INBOUND, 0) + 1
    outcomes = {
        labels: value
        for (name, labels), value in after.items()
        if name == "switchboard_bot_outcomes_total"
    }
    assert outcomes == {(("outcome", "answered"),): 1.0}


async def test_metrics_show_the_queue_length_after_an_escalation(
    client: TestClient, chat: ChatClient, agent1: AgentApi
) -> None:
    assert (await samples(client))[QUEUE] == 0
    await chat.connect()
    await chat.say("I want to talk to a person")
    await chat.reply()

    queued = await samples(client)
    await agent1.claim_next()
    claimed = await samples(client)

    assert queued[QUEUE] == 1
    assert queued[("switchboard_escalations_total", (("reason", "customer_request"),))] == 1
    assert claimed[QUEUE] == 0


async def test_metrics_show_the_outbox_items_by_status(
    client: TestClient, chat: ChatClient
) -> None:
    await chat.connect()
    await chat.say("How long does shipping take?")
    await chat.reply()

    async def delivered() -> bool:
        sent = ("switchboard_outbox_items", (("status", "sent"),))
        return (await samples(client)).get(sent, 0.0) >= 1

    assert await eventually(delivered)
    statuses = {
        dict(labels)["status"]
        for (name, labels) in await samples(client)
        if name == "switchboard_outbox_items"
    }
    assert {"pending", "sent", "failed"} <= statuses


async def test_openapi_json_describes_the_staff_api(client: TestClient) -> None:
    resp = await client.get("/api/v1/openapi.json")

    assert resp.status == 200
    assert resp.content_type == "application/json"
    spec = json.loads(await resp.text())
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/queue" in spec["paths"]
    assert "get" in spec["paths"]["/api/v1/queue"]
    assert "/api/v1/auth/login" in spec["paths"]


async def test_every_staff_api_route_is_in_the_openapi_document(client: TestClient) -> None:
    # The socket is described in docs/protocol.md; the document does not describe itself.
    spec = json.loads(await (await client.get("/api/v1/openapi.json")).text())
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in client.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1/")
        and route.resource.canonical not in ("/api/v1/ws", "/api/v1/openapi.json")
        and route.method not in ("HEAD", "*")
    }
    documented = {(method, path) for path, ops in spec["paths"].items() for method in ops}

    assert served - documented == set()


async def test_the_front_page_redirects_to_the_chat_demo(client: TestClient) -> None:
    resp = await client.get("/", allow_redirects=False)
    followed = await client.get("/")

    assert resp.status == 302
    assert resp.headers["Location"] == "/chat/"
    assert followed.status == 200 and followed.content_type == "text/html"
    assert str(followed.url).endswith("/chat/")


class _SignallingDatabase(Database):
    """A database that announces the end of each transaction."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.idle = asyncio.Event()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with super().transaction() as session:
            yield session
        self.idle.set()


async def test_the_outbox_worker_stops_when_shut_down_just_as_it_is_woken(
    database_url: str,
) -> None:
    db = _SignallingDatabase(database_url)
    worker = OutboxWorker(
        db, ChannelRegistry(), Hub(), FrozenClock(), Metrics(), OutboxPolicy(poll_seconds=30)
    )
    task = asyncio.create_task(worker.run())
    try:
        await db.idle.wait()  # the first cycle found nothing to send: the worker now idles
        worker.wake()  # a reply was just stored ...
        task.cancel()  # ... as the server shuts down

        done, _ = await asyncio.wait({task}, timeout=WAIT)

        assert task in done and task.cancelled()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await db.dispose()


async def test_a_worker_stopped_at_shutdown_finishes_the_transaction_it_is_in(
    database_url: str,
) -> None:
    """Shutdown stops workers between transactions: one writing as the server stops commits
    what it wrote, and one about to start a transaction stops without writing anything."""
    db = Database(database_url)
    now = datetime.now(UTC)
    writing, go_on = asyncio.Event(), asyncio.Event()

    async def add(name: str) -> None:
        async with db.transaction() as session:
            session.add(Customer(display_name=name, created_at=now, updated_at=now))
            await session.flush()
            writing.set()
            await go_on.wait()

    async def stop(tasks: list[asyncio.Task[None]]) -> bool:
        async with db.between_transactions(WAIT) as quiet:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
        return quiet

    try:
        first = asyncio.create_task(add("Written as the server stopped"))
        await writing.wait()
        workers = [first]
        stopping = asyncio.create_task(stop(workers))
        await asyncio.sleep(0)  # the stop has begun: it waits for the running transaction
        later = asyncio.create_task(add("Never written"))
        workers.append(later)
        go_on.set()

        assert await stopping is True
        assert not first.cancelled() and first.exception() is None
        assert later.cancelled()
        async with db.transaction() as session:  # transactions run again afterwards
            names = set(await session.scalars(select(Customer.display_name)))
        assert "Written as the server stopped" in names
        assert "Never written" not in names
    finally:
        await db.dispose()


async def test_shutting_down_tells_open_chat_and_console_sockets_to_reconnect(
    aiohttp_client: Any, settings: Settings
) -> None:
    """Open sockets are closed with 1001 (going away), which the widget and the console
    answer by reconnecting, rather than being cut off."""
    await seed(settings.effective_database_url)
    client = await aiohttp_client(create_app(settings))
    chat = await client.ws_connect("/chat/ws")
    await chat.send_json({"type": "hello"})
    assert (await chat.receive_json(timeout=WAIT))["type"] == "welcome"
    agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)
    console = await client.ws_connect("/api/v1/ws")
    await console.send_json({"type": "auth", "token": agent.token})
    assert (await console.receive_json(timeout=WAIT))["type"] == "ready"

    stopping = asyncio.create_task(client.server.close())
    closes = [await _close_of(chat), await _close_of(console)]
    await asyncio.wait_for(stopping, WAIT)

    assert [(m.type, m.data) for m in closes] == [(WSMsgType.CLOSE, 1001)] * 2
    assert chat.close_code == console.close_code == 1001


async def _close_of(ws: Any) -> Any:
    """The close frame, after any events sent before it."""
    while True:
        msg = await ws.receive(timeout=WAIT)
        if msg.type is not WSMsgType.TEXT:
            return msg
