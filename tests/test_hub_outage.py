"""A Redis blip: replies made while the fan-out is away still reach the sockets that stayed
open, each exactly once and in order, and /healthz says "degraded" (naming Redis) meanwhile.

The shared Redis is never stopped (other tests use it): each app reaches it through a relay in
this test, which cuts every connection and refuses new ones until restored.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient

from routing.hub import QUEUE_SIZE, Hub
from storage.db import Database
from storage.repos import outbox as outbox_repo
from switchboard.app import create_app
from switchboard.settings import Settings
from tests.conftest import PASSWORD, seed
from tests.helpers import WAIT, AgentApi, ChatClient, eventually

QUESTIONS = [
    "I forgot my password",
    "Where is my order?",
    "How fast is express delivery?",
    "What is the minimum order for free shipping?",
]


class RedisLink:
    """A TCP relay to the shared Redis that can be cut (every connection dropped, new ones
    closed at once) and restored."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.up = True

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    def cut(self) -> None:
        self.up = False
        for writer in list(self._writers):
            writer.transport.abort()

    def restore(self) -> None:
        self.up = True

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink, (writer, up_writer)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        for writer in pair:  # one side hung up: so does the other
            writer.transport.abort()
            self._writers.discard(writer)


@pytest.fixture
def redis_target(redis_url: str) -> tuple[str, int]:
    target = urlsplit(redis_url)
    return target.hostname or "127.0.0.1", target.port or 6379


@pytest.fixture
async def redis_link(redis_target: tuple[str, int]) -> AsyncIterator[RedisLink]:
    link = RedisLink(*redis_target)
    yield link
    await link.close()


@pytest.fixture
async def second_link(redis_target: tuple[str, int]) -> AsyncIterator[RedisLink]:
    link = RedisLink(*redis_target)
    yield link
    await link.close()


async def _two_processes(
    aiohttp_client: Any, make_settings: Any, link: RedisLink
) -> tuple[Settings, TestClient, TestClient]:
    settings: Settings = make_settings(redis_url=await link.start())
    await seed(settings.effective_database_url)
    return (
        settings,
        await aiohttp_client(create_app(settings)),
        await aiohttp_client(create_app(settings)),
    )


async def _health(client: TestClient) -> dict[str, Any]:
    resp = await client.get("/healthz")
    assert resp.status == 200, await resp.text()  # degraded still serves
    body: dict[str, Any] = await resp.json()
    return body


async def _wait_health(processes: tuple[TestClient, ...], status: str) -> list[dict[str, Any]]:
    async def all_there() -> list[dict[str, Any]] | None:
        bodies = [await _health(p) for p in processes]
        return bodies if all(b["status"] == status for b in bodies) else None

    bodies: list[dict[str, Any]] = await eventually(all_there)
    return bodies


async def _outbox_settled(settings: Settings) -> None:
    """Every reply has been through the outbox (which saw Redis away)."""
    db = Database(settings.effective_database_url)
    try:

        async def settled() -> bool:
            async with db.transaction() as session:
                counts = await outbox_repo.backlog(session)
            return counts["pending"] == counts["sending"] == 0

        await eventually(settled)
    finally:
        await db.dispose()


async def _messages_until(chat: ChatClient, last_id: int) -> list[dict[str, Any]]:
    """Every message frame the socket gets, up to the one with ``last_id``."""
    received = []
    while not received or received[-1]["id"] < last_id:
        received.append(await chat.reply())
    return received


async def _redis_down(processes: tuple[TestClient, ...], link: RedisLink) -> None:
    link.cut()
    for body in await _wait_health(processes, "degraded"):
        assert body["database"] == "ok"
        assert body["redis"].startswith("unavailable"), body


async def _redis_back(processes: tuple[TestClient, ...], link: RedisLink) -> None:
    link.restore()
    for body in await _wait_health(processes, "ok"):
        assert body["redis"] == "ok" and body["database"] == "ok"


async def test_bot_answers_made_while_redis_is_away_reach_the_open_socket_once_in_order(
    redis_link: RedisLink, aiohttp_client: Any, make_settings: Any
) -> None:
    settings, process_a, process_b = await _two_processes(aiohttp_client, make_settings, redis_link)
    processes = (process_a, process_b)
    assert [(await _health(p))["redis"] for p in processes] == ["ok", "ok"]
    customer, reload = ChatClient(process_a), ChatClient(process_b)
    try:
        await customer.connect()
        await customer.say("hello")
        before = await customer.reply()

        await _redis_down(processes, redis_link)
        for question in QUESTIONS:
            await customer.say(question)
        await _outbox_settled(settings)
        # What a reload shows: the answers exist, and the outbox sent them.
        history = (await reload.connect(customer.visitor_id))["history"]
        answers = [m for m in history if m["author"] != "customer" and m["id"] > before["id"]]
        assert len(answers) == len(QUESTIONS)
        assert {m["state"] for m in answers} <= {"sent", "delivered"}
        await reload.close()

        await _redis_back(processes, redis_link)
        last = await customer.say("How do I track my package?")  # published live
        received = await _messages_until(customer, last["message"]["id"] + 1)

        assert [m["id"] for m in received[:-1]] == [m["id"] for m in answers]
        assert [m["text"] for m in received[:-1]] == [m["text"] for m in answers]
        assert received[-1]["author"] == "bot"
    finally:
        await customer.close()
        await reload.close()


async def test_agent_replies_and_console_catch_up_after_redis_returns(
    redis_link: RedisLink, aiohttp_client: Any, make_settings: Any
) -> None:
    _, process_a, process_b = await _two_processes(aiohttp_client, make_settings, redis_link)
    processes = (process_a, process_b)
    customer = ChatClient(process_a)
    agent = await AgentApi.login(process_b, "agent1@example.com", PASSWORD)
    console = await process_b.ws_connect("/api/v1/ws")
    try:
        await console.send_json({"type": "auth", "token": agent.token})
        assert (await console.receive_json(timeout=10))["type"] == "ready"
        await customer.connect()
        await customer.say("I need a human")
        await customer.reply()
        conversation = await agent.claim_next()
        joined = await customer.reply()

        await _redis_down(processes, redis_link)
        sent = [await agent.reply(conversation["id"], f"Answer {n}") for n in range(1, 4)]
        await eventually(lambda: _all_sent(agent, conversation["id"], {m["id"] for m in sent}))
        await _redis_back(processes, redis_link)
        last = await agent.reply(conversation["id"], "Anything else?")  # published live
        received = await _messages_until(customer, last["id"])

        assert received[0]["id"] > joined["id"]
        assert [(m["id"], m["text"]) for m in received] == [
            (m["id"], m["text"]) for m in [*sent, last]
        ]
        frames = []
        while "resync" not in frames:  # the console refetches what it shows
            frames.append((await console.receive_json(timeout=10))["type"])
    finally:
        await customer.close()
        await console.close()


async def _all_sent(agent: AgentApi, conversation_id: int, ids: set[int]) -> bool:
    messages = (await agent.conversation(conversation_id))["messages"]
    return all(m["state"] != "pending" for m in messages if m["id"] in ids)


async def test_a_process_that_lost_publishes_makes_the_others_catch_up(
    redis_link: RedisLink, second_link: RedisLink, aiohttp_client: Any, make_settings: Any
) -> None:
    """Only the replying process loses Redis: the process holding the socket never does, so
    only the replying process's word can tell it that events are missing."""
    settings: Settings = make_settings(redis_url=await redis_link.start())
    await seed(settings.effective_database_url)
    replying = await aiohttp_client(create_app(settings))
    # The holding process runs no outbox: every reply is published by the other one.
    holding_settings = dataclasses.replace(settings, redis_url=await second_link.start())
    holding = await aiohttp_client(create_app(holding_settings, run_workers=False))
    customer = ChatClient(holding)
    try:
        await customer.connect()
        await customer.say("hello")
        before = await customer.reply()

        await _redis_down((replying,), redis_link)
        assert (await _health(holding))["status"] == "ok"
        for question in QUESTIONS:
            await customer.say(question)
        await _outbox_settled(settings)
        await _redis_back((replying,), redis_link)
        last = await customer.say("How do I track my package?")
        received = await _messages_until(customer, last["message"]["id"] + 1)

        answers = received[:-1]
        assert len(answers) == len(QUESTIONS)
        assert answers[0]["id"] > before["id"]
        assert [m["id"] for m in answers] == sorted({m["id"] for m in answers})
    finally:
        await customer.close()


async def test_a_subscriber_too_far_behind_drops_its_backlog_and_catches_up() -> None:
    hub = Hub()
    subscription = await hub.subscribe("topic")
    for n in range(QUEUE_SIZE + 3):  # nobody reads: the queue overflows at QUEUE_SIZE
        await hub.publish("topic", {"n": n})
    seen: list[Any] = []
    done = asyncio.Event()

    async def send(event: dict[str, Any]) -> None:
        seen.append(event["n"])
        if event["n"] == "last":
            done.set()

    async def catch_up() -> None:
        seen.append("catch-up")

    pump = asyncio.create_task(subscription.pump(send, catch_up))
    try:
        await hub.publish("topic", {"n": "last"})
        async with asyncio.timeout(WAIT):
            await done.wait()
    finally:
        pump.cancel()
        await subscription.close()

    assert seen == ["catch-up", QUEUE_SIZE, QUEUE_SIZE + 1, QUEUE_SIZE + 2, "last"]
