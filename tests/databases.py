"""Test databases: a migrated SQLite template copied per test, and a PostgreSQL database
created once per run and truncated between tests."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage import migrate
from storage.db import Database
from storage.models import Base

T = TypeVar("T")

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def run(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on its own loop in a thread: session fixtures are first
    requested from inside a test's running loop, where asyncio.run is not allowed."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(coro_fn())).result()


def pg_admin_url() -> str:
    return os.environ.get("SWITCHBOARD_TEST_DATABASE_URL", DEFAULT_PG)


def backends() -> list[str]:
    wanted = os.environ.get("SWITCHBOARD_TEST_BACKENDS", "sqlite,postgresql")
    return [b.strip() for b in wanted.split(",") if b.strip()]


async def _upgrade(url: str) -> None:
    db = Database(url)
    try:
        await migrate.upgrade(db)
    finally:
        await db.dispose()


def make_sqlite_template(folder: Path) -> Path:
    path = folder / "template.db"
    run(lambda: _upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


def sqlite_copy(template: Path, folder: Path) -> str:
    target = folder / "switchboard.db"
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"


class PostgresTestDatabase:
    """A throwaway database on the configured server, dropped at the end of the run."""

    def __init__(self) -> None:
        admin = make_url(pg_admin_url())
        self.name = f"switchboard_test_{uuid.uuid4().hex[:10]}"
        self.admin_url = admin.render_as_string(hide_password=False)
        self.url = admin.set(database=self.name).render_as_string(hide_password=False)

    async def _admin(self, sql: str) -> None:
        db = Database(self.admin_url)
        try:
            async with db.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text(sql))
        finally:
            await db.dispose()

    def create(self) -> None:
        run(lambda: self._admin(f'CREATE DATABASE "{self.name}"'))
        run(lambda: _upgrade(self.url))

    def drop(self) -> None:
        run(lambda: self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))

    async def truncate(self) -> None:
        db = Database(self.url)
        try:
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            async with db.engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        finally:
            await db.dispose()


def postgres_available() -> str | None:
    """None when the server answers, else why not."""

    async def ping() -> None:
        db = Database(pg_admin_url())
        try:
            await asyncio.wait_for(db.ping(), 5)
        finally:
            await db.dispose()

    try:
        run(ping)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None
