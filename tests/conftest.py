"""Fixtures: every end-to-end test runs against SQLite and against PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher

from console.auth import create_agent, set_hasher
from knowledge_base.importer import read_articles
from knowledge_base.service import KnowledgeBase
from routing.clock import SystemClock
from storage.db import Database
from switchboard.app import create_app
from switchboard.settings import Settings, load_settings
from tests import databases
from tests.helpers import AgentApi, ChatClient

pytest_plugins = ["tests.email_fixtures"]  # dovecot, dovecot_basic, mailbox

ROOT = Path(__file__).resolve().parent.parent
DEMO_KB = ROOT / "config" / "demo_kb.yaml"
PASSWORD = "correct horse battery"
REDIS_URL = os.environ.get("SWITCHBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# Every test signs agents in: argon2 at its cheapest parameters (hashing and verifying the
# same way, ~0.1 ms instead of ~100 ms each). The CLI's own processes keep the real ones.
set_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return databases.make_sqlite_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def postgres_db() -> Any:
    problem = databases.postgres_available()
    if problem:
        message = f"PostgreSQL at {databases.pg_admin_url()} is not reachable: {problem}"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    pg = databases.PostgresTestDatabase()
    pg.create()
    yield pg
    pg.drop()


@pytest.fixture(params=databases.backends())
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return databases.sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path)
    pg = request.getfixturevalue("postgres_db")
    await pg.truncate()
    return str(pg.url)


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "database_url": database_url,
            "data_dir": str(tmp_path),
            "log_format": "text",
            "outbox": {"poll_seconds": 0.05, "backoff_seconds": 0.05, "backoff_max_seconds": 0.2},
            "kb": {"refresh_seconds": 0.2},
            "workspace_file": str(ROOT / "tests" / "workspace_manual.yaml"),
            # Runs in parallel share one Redis: each test hears only its own processes.
            "redis_channel": f"switchboard-test-{uuid.uuid4().hex[:12]}",
        }
        for key, value in overrides.items():
            if isinstance(value, dict):
                base[key] = {**base.get(key, {}), **value}
            else:
                base[key] = value
        return load_settings(ROOT / "config" / "switchboard.yaml", environ={}, overrides=base)

    return build


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


async def seed(url: str, *, agents: int = 2, kb: Path | None = DEMO_KB) -> None:
    db = Database(url)
    try:
        if kb is not None:
            await KnowledgeBase(db).import_articles(read_articles(kb), SystemClock().now())
        for n in range(1, agents + 1):
            await create_agent(
                db,
                SystemClock(),
                email=f"agent{n}@example.com",
                name=f"Agent {n}",
                password=PASSWORD,
                role="agent",
            )
    finally:
        await db.dispose()


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings) -> TestClient:
    await seed(settings.effective_database_url)
    return await aiohttp_client(create_app(settings))


@pytest.fixture
async def chat(client: TestClient) -> AsyncIterator[ChatClient]:
    customer = ChatClient(client)
    yield customer
    await customer.close()


@pytest.fixture
async def agent1(client: TestClient) -> AgentApi:
    return await AgentApi.login(client, "agent1@example.com", PASSWORD)


@pytest.fixture
async def agent2(client: TestClient) -> AgentApi:
    return await AgentApi.login(client, "agent2@example.com", PASSWORD)


@pytest.fixture
async def redis_url() -> str:
    """The shared test Redis (skipped when it is not running, except in CI)."""
    client = redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        if _in_ci():
            pytest.fail(f"Redis at {REDIS_URL} is not reachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {exc}")
    finally:
        await client.aclose()
    return REDIS_URL
