"""Replies go through a durable outbox: provider outages delay messages and lose none."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict, CIMultiDictProxy
from sqlalchemy import exc as sa_exc
from yarl import URL

from channels.base import InboundMessage
from channels.errors import (
    PermanentChannelError,
    TransientChannelError,
    fails_every_time,
    retry_can_help,
)
from routing.clock import FrozenClock
from routing.outbox import OutboxPolicy, OutboxWorker
from storage.models import OutboxStatus
from storage.repos import outbox as outbox_repo
from switchboard.app import CHANNELS, DB, HUB, METRICS, OUTBOX, ROUTER, create_app
from switchboard.settings import Settings
from tests.conftest import seed
from tests.fakes.channel import FakeChannel
from tests.helpers import AgentApi


def _request_info() -> aiohttp.RequestInfo:
    url = URL("https://api.provider.test/send")
    return aiohttp.RequestInfo(url, "POST", CIMultiDictProxy(CIMultiDict()), url)


QUESTION = "How do I reset my password?"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def paused(
    aiohttp_client: Any, settings: Settings, clock: FrozenClock
) -> AsyncIterator[tuple[TestClient, FakeChannel]]:
    """The app with its workers stopped, so each test drives the outbox step by step."""
    await seed(settings.effective_database_url)
    app = create_app(settings, clock=clock, run_workers=False)
    fake = FakeChannel()
    app[CHANNELS].register(fake)
    client = await aiohttp_client(app)
    yield client, fake


async def _ask(
    client: TestClient,
    text: str = QUESTION,
    address: str = "+15550001",
    external_id: str | None = None,
) -> Any:
    router = client.app[ROUTER]
    return await router.handle_inbound(
        InboundMessage(channel="fake", address=address, text=text, external_id=external_id)
    )


async def _state(client: TestClient, touchpoint_id: int) -> tuple[str, dict[str, Any]]:
    from storage.repos import touchpoints

    async with client.app[DB].transaction() as session:
        tp = await touchpoints.get(session, touchpoint_id)
        assert tp is not None
        return (tp.delivery_state.value if tp.delivery_state else ""), dict(tp.meta)


async def test_reply_is_delivered_once_by_the_worker(paused) -> None:
    client, fake = paused
    result = await _ask(client)

    assert fake.sent == []  # stored, not yet sent: the worker delivers
    assert await client.app[OUTBOX].run_once() == 1
    assert await client.app[OUTBOX].run_once() == 0

    assert len(fake.sent) == 1
    assert fake.sent[0].touchpoint_id == result.replies[0].id
    assert "password" in fake.sent[0].text.lower()
    state, _ = await _state(client, result.replies[0].id)
    assert state == "sent"


async def test_provider_outage_delays_then_delivers_exactly_once(
    paused, clock: FrozenClock
) -> None:
    client, fake = paused
    fake.fail_next(
        TransientChannelError("503 from provider"), TransientChannelError("connection refused")
    )
    result = await _ask(client)
    worker = client.app[OUTBOX]

    await worker.run_once()
    assert fake.sent == []
    assert await worker.run_once() == 0  # backing off: not due yet
    clock.advance(60)
    await worker.run_once()
    assert fake.sent == []
    clock.advance(600)
    await worker.run_once()
    clock.advance(600)
    await worker.run_once()

    assert fake.attempts == 3
    assert [m.touchpoint_id for m in fake.sent] == [result.replies[0].id]
    state, _ = await _state(client, result.replies[0].id)
    assert state == "sent"


async def test_retry_after_from_the_provider_is_respected(paused, clock: FrozenClock) -> None:
    client, fake = paused
    fake.fail_next(TransientChannelError("429 too many requests", retry_after=300))
    await _ask(client)
    worker = client.app[OUTBOX]

    await worker.run_once()
    clock.advance(200)
    await worker.run_once()
    assert fake.sent == []
    clock.advance(101)
    await worker.run_once()
    assert len(fake.sent) == 1


async def test_permanent_failure_is_marked_failed_and_shown_to_the_agent(paused) -> None:
    client, fake = paused
    fake.fail_next(PermanentChannelError("recipient unknown"))
    result = await _ask(client, "I want a human")
    worker = client.app[OUTBOX]

    await worker.run_once()
    await worker.run_once()

    assert fake.attempts == 1
    notice = result.replies[-1]
    state, meta = await _state(client, notice.id)
    assert state == "failed"
    assert meta["delivery_error"] == "recipient unknown"
    agent = await AgentApi.login(client, "agent1@example.com", "correct horse battery")
    view = await agent.conversation(result.conversation.id)
    shown = next(m for m in view["messages"] if m["id"] == notice.id)
    assert shown["state"] == "failed" and shown["meta"]["delivery_error"] == "recipient unknown"


async def test_giving_up_after_max_attempts(
    aiohttp_client: Any, make_settings, clock: FrozenClock
) -> None:
    settings = make_settings(outbox={"max_attempts": 3})
    await seed(settings.effective_database_url)
    app = create_app(settings, clock=clock, run_workers=False)
    fake = FakeChannel()
    app[CHANNELS].register(fake)
    client = await aiohttp_client(app)
    fake.fail_next(*[TransientChannelError("down")] * 5)
    result = await _ask(client)

    for _ in range(5):
        await client.app[OUTBOX].run_once()
        clock.advance(3600)

    assert fake.attempts == 3
    state, meta = await _state(client, result.replies[0].id)
    assert state == "failed" and meta["delivery_error"] == "down"


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(TypeError("send() got an unexpected keyword argument 'x'"), id="TypeError"),
        pytest.param(KeyError("chat_id"), id="KeyError"),
        pytest.param(ValueError("invalid literal for int()"), id="ValueError"),
        pytest.param(AttributeError("'NoneType' object has no attribute 'id'"), id="Attribute"),
        pytest.param(RuntimeError("bug in adapter"), id="RuntimeError"),
        pytest.param(
            aiohttp.ClientResponseError(_request_info(), (), status=400, message="Bad Request"),
            id="http-400",
        ),
        pytest.param(
            aiohttp.ClientResponseError(_request_info(), (), status=404, message="Not Found"),
            id="http-404",
        ),
    ],
)
async def test_a_programming_or_data_error_fails_at_once_with_the_reason_shown(
    paused, clock: FrozenClock, error: Exception
) -> None:
    client, fake = paused
    fake.fail_next(error)
    result = await _ask(client)
    worker = client.app[OUTBOX]

    await worker.run_once()
    clock.advance(3600)
    await worker.run_once()

    assert fake.attempts == 1 and fake.sent == []  # no retry: it would fail the same way
    state, meta = await _state(client, result.replies[0].id)
    assert state == "failed"
    assert meta["delivery_error"].startswith(f"not sent: {type(error).__name__}")
    async with client.app[DB].transaction() as session:
        backlog = await outbox_repo.backlog(session)
    assert backlog.get(OutboxStatus.FAILED.value) == 1 and not backlog.get(
        OutboxStatus.PENDING.value
    )


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(ConnectionResetError("Connection reset by peer"), id="reset"),
        pytest.param(ConnectionRefusedError("Connection refused"), id="refused"),
        pytest.param(TimeoutError(), id="timeout"),
        pytest.param(aiohttp.ServerDisconnectedError(), id="disconnected"),
        pytest.param(
            aiohttp.ClientResponseError(_request_info(), (), status=503, message="Unavailable"),
            id="http-503",
        ),
        pytest.param(
            aiohttp.ClientResponseError(_request_info(), (), status=429, message="Slow down"),
            id="http-429",
        ),
        pytest.param(
            aiohttp.ClientResponseError(_request_info(), (), status=408, message="Timeout"),
            id="http-408",
        ),
    ],
)
async def test_a_transport_error_the_adapter_let_through_is_retried_not_lost(
    paused, clock: FrozenClock, error: Exception
) -> None:
    client, fake = paused
    fake.fail_next(error)
    result = await _ask(client)

    await client.app[OUTBOX].run_once()
    assert fake.sent == []
    clock.advance(600)
    await client.app[OUTBOX].run_once()

    assert fake.attempts == 2 and len(fake.sent) == 1
    state, _ = await _state(client, result.replies[0].id)
    assert state == "sent"


async def test_a_worker_that_died_mid_send_is_taken_over_after_its_lease(
    paused, clock: FrozenClock
) -> None:
    client, fake = paused
    await _ask(client)
    async with client.app[DB].transaction() as session:  # a worker leases the item, then dies
        leased = await outbox_repo.claim_due(session, clock.now(), timedelta(seconds=60), 10)
    assert len(leased) == 1

    assert await client.app[OUTBOX].run_once() == 0  # still leased
    clock.advance(61)
    assert await client.app[OUTBOX].run_once() == 1
    assert len(fake.sent) == 1


async def test_replies_survive_a_restart(
    aiohttp_client: Any, settings: Settings, clock: FrozenClock
) -> None:
    await seed(settings.effective_database_url)
    first = create_app(settings, clock=clock, run_workers=False)
    first[CHANNELS].register(FakeChannel())
    client = await aiohttp_client(first)
    result = await _ask(client)
    await client.close()  # the process stops before the worker ran

    second = create_app(settings, clock=clock, run_workers=False)
    fake = FakeChannel()
    second[CHANNELS].register(fake)
    client2 = await aiohttp_client(second)
    await client2.app[OUTBOX].run_once()

    assert [m.touchpoint_id for m in fake.sent] == [result.replies[0].id]


async def test_two_workers_deliver_each_item_exactly_once(paused) -> None:
    client, fake = paused
    for n in range(20):
        await _ask(client, address=f"+1555000{n:02d}")
    app = client.app
    policy = OutboxPolicy(batch_size=5)
    workers = [
        OutboxWorker(app[DB], app[CHANNELS], app[HUB], app[ROUTER].clock, app[METRICS], policy)
        for _ in range(2)
    ]

    while sum(await asyncio.gather(*(w.run_once() for w in workers))):
        pass

    ids = [m.touchpoint_id for m in fake.sent]
    assert len(ids) == 20 and len(set(ids)) == 20
    async with app[DB].transaction() as session:
        backlog = await outbox_repo.backlog(session)
    assert backlog[OutboxStatus.SENT.value] == 20 and backlog[OutboxStatus.PENDING.value] == 0


async def test_a_provider_retry_of_an_inbound_message_is_not_duplicated(paused) -> None:
    client, fake = paused
    first = await _ask(client, external_id="SM123")
    again = await _ask(client, external_id="SM123")
    await client.app[OUTBOX].run_once()

    assert again.duplicate and again.touchpoint.id == first.touchpoint.id
    assert len(fake.sent) == 1


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


def _db_error(sqlstate: str) -> Exception:
    """What SQLAlchemy raises for an asyncpg error: a generic DBAPIError over the driver's."""
    return sa_exc.DBAPIError("INSERT …", {}, _PgError(sqlstate))


@pytest.mark.parametrize(
    ("error", "retry", "never"),
    [
        pytest.param(TransientChannelError("503"), True, False, id="transient"),
        pytest.param(PermanentChannelError("unknown recipient"), False, True, id="permanent"),
        pytest.param(ConnectionResetError(), True, False, id="reset"),
        pytest.param(TimeoutError(), True, False, id="timeout"),
        pytest.param(aiohttp.ClientPayloadError("cut"), True, False, id="payload-cut"),
        pytest.param(_db_error("40P01"), True, False, id="pg-deadlock"),
        pytest.param(_db_error("08006"), True, False, id="pg-connection-failure"),
        pytest.param(_db_error("22021"), False, True, id="pg-bad-byte-sequence"),
        pytest.param(_db_error("22001"), False, True, id="pg-value-too-long"),
        pytest.param(_db_error("23503"), False, True, id="pg-foreign-key"),
        pytest.param(sa_exc.OperationalError("BEGIN", {}, Exception("locked")), True, False),
        pytest.param(TypeError("x"), False, True, id="TypeError"),
        pytest.param(KeyError("x"), False, True, id="KeyError"),
        pytest.param(UnicodeEncodeError("utf-8", "\ud83d", 0, 1, "surrogates"), False, True),
        pytest.param(RuntimeError("unknown"), False, False, id="unknown"),
    ],
)
def test_errors_are_classified_by_whether_a_retry_can_help(
    error: Exception, retry: bool, never: bool
) -> None:
    assert retry_can_help(error) is retry
    assert fails_every_time(error) is never
