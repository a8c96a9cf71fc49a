"""Several processes behind a load balancer: the database is shared, events fan out through
Redis, so a customer on one process hears an agent working on another."""

from __future__ import annotations

from typing import Any

from switchboard.app import create_app
from switchboard.settings import Settings
from tests.conftest import PASSWORD, seed
from tests.helpers import AgentApi, ChatClient


async def test_agent_on_one_process_reaches_customer_on_another(
    aiohttp_client: Any, make_settings: Any, redis_url: str
) -> None:
    settings: Settings = make_settings(redis_url=redis_url)
    await seed(settings.effective_database_url)
    process_a = await aiohttp_client(create_app(settings))
    process_b = await aiohttp_client(create_app(settings))
    customer = ChatClient(process_a)
    try:
        await customer.connect()
        await customer.say("I need a human")
        await customer.reply()
        agent = await AgentApi.login(process_b, "agent1@example.com", PASSWORD)
        conversation = await agent.claim_next()
        await agent.reply(conversation["id"], "Hello from the other process")

        reply = await customer.reply(lambda m: m["author"] == "agent")
        assert reply["text"] == "Hello from the other process"
    finally:
        await customer.close()


async def test_console_on_one_process_sees_queue_events_from_another(
    aiohttp_client: Any, make_settings: Any, redis_url: str
) -> None:
    settings: Settings = make_settings(redis_url=redis_url)
    await seed(settings.effective_database_url)
    process_a = await aiohttp_client(create_app(settings))
    process_b = await aiohttp_client(create_app(settings))
    agent = await AgentApi.login(process_b, "agent1@example.com", PASSWORD)
    console = await process_b.ws_connect("/api/v1/ws")
    customer = ChatClient(process_a)
    try:
        await console.send_json({"type": "auth", "token": agent.token})
        assert (await console.receive_json())["type"] == "ready"
        await customer.connect()
        await customer.say("agent please")

        seen = []
        while "queue" not in seen:
            seen.append((await console.receive_json(timeout=10))["type"])
        assert "queue" in seen
    finally:
        await customer.close()
        await console.close()
