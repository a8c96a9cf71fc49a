"""The engine and transactions. One ``Database`` per process, created in the app's cleanup context."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


class StorageError(Exception):
    """Base of storage errors that callers may turn into answers."""


class RecordNotFound(StorageError):
    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key} not found")
        self.kind = kind
        self.key = key


class Database:
    """Owns the async engine and hands out transactions.

    SQLite allows one writer at a time; to avoid ``database is locked`` between our own
    coroutines, transactions in one process take turns on an asyncio lock and open with
    ``BEGIN IMMEDIATE`` (so a second process, such as a CLI command, waits instead of failing).
    """

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["async_creator"] = partial(_sqlite_connect, database or ":memory:")
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.dialect == "sqlite":
            _sqlite_pragmas(self.engine)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._lock = asyncio.Lock() if self.dialect == "sqlite" else None
        # Transactions running now, and whether new ones may start (see between_transactions).
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._open = asyncio.Event()
        self._open.set()

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed on success, rolled back on error."""
        await self._open.wait()  # closed while the process stops its workers
        self._running += 1
        self._idle.clear()
        try:
            if self._lock is None:
                async with self._sessions() as session, session.begin():
                    yield session
            else:
                async with self._lock, self._sessions() as session, session.begin():
                    yield session
        finally:
            self._running -= 1
            if not self._running:
                self._idle.set()

    @asynccontextmanager
    async def between_transactions(self, seconds: float) -> AsyncIterator[bool]:
        """For the block, no transaction runs in this process and none starts, so tasks
        cancelled in it stop between transactions, never inside one: what a worker was
        writing is committed, not cut off, and on SQLite a cancellation that lands inside an
        aiosqlite call (which can leave the connection's shielded close waiting forever, and
        the process's shutdown with it) cannot happen. Waits at most ``seconds`` for running
        transactions to end and yields whether they did."""
        self._open.clear()
        try:
            try:
                async with asyncio.timeout(seconds):
                    await self._idle.wait()
                quiet = True
            except TimeoutError:
                quiet = False
            yield quiet
        finally:
            self._open.set()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


class _SqliteConnection(aiosqlite.Connection):
    """aiosqlite's connection, with two changes for cancellation.

    A call handed to the SQLite thread is waited for even when the awaiting task is
    cancelled, and the cancellation raised once it is done: the thread runs it to the end
    anyway, and letting the await end early had SQLAlchemy close the connection while its
    thread was still busy, which could leave a write transaction open on a connection
    nobody used again (every later writer then waited out the busy timeout) or a close
    waiting forever. And a second ``stop()`` does nothing: the thread ends at the first, so
    the future of a second one was never resolved.
    """

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        future = asyncio.get_running_loop().create_future()
        self._tx.put_nowait((future, partial(fn, *args, **kwargs)))
        cancelled = False
        while True:
            try:
                result = await asyncio.shield(future)
            except asyncio.CancelledError:
                if future.done():
                    raise
                cancelled = True  # finish the call first
                continue
            except BaseException:
                if cancelled:
                    raise asyncio.CancelledError from None
                raise
            if cancelled:
                raise asyncio.CancelledError
            return result

    def stop(self) -> asyncio.Future[Any] | None:
        if not self._running:
            return None
        return super().stop()


async def _sqlite_connect(database: str) -> _SqliteConnection:
    def connector() -> sqlite3.Connection:
        return sqlite3.connect(database, timeout=30, check_same_thread=False)

    connection = _SqliteConnection(connector, iter_chunk_size=64)
    connection._thread.daemon = True  # as SQLAlchemy's own aiosqlite connect does
    await connection
    return connection


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached or used just now (connection
    lost or refused, pool exhausted, locked, shutting down), so the same work may succeed
    later; a data or programming error (a value a column refuses, a bad statement) never will."""
    if isinstance(exc, sa_exc.DBAPIError):
        return (
            exc.connection_invalidated
            or isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError))
            # connection, rollback (deadlock, serialization), resources, shutdown
            or (sqlstate(exc) or "")[:2] in ("08", "40", "53", "57")
        )
    return isinstance(exc, (sa_exc.TimeoutError, sa_exc.DisconnectionError, OSError, TimeoutError))


def refuses_data(exc: BaseException) -> bool:
    """Whether the database refused the values or the statement itself (SQLSTATE classes 22
    data exception, 23 integrity violation, 42 syntax or access; SQLite's DataError,
    IntegrityError, ProgrammingError): the same statement fails the same way every time."""
    if not isinstance(exc, sa_exc.DBAPIError) or is_unavailable(exc):
        return False
    if isinstance(exc, (sa_exc.DataError, sa_exc.IntegrityError, sa_exc.ProgrammingError)):
        return True
    return (sqlstate(exc) or "")[:2] in ("22", "23", "42")


def sqlstate(exc: sa_exc.DBAPIError) -> str | None:
    """The SQLSTATE of a PostgreSQL error (asyncpg's errors reach SQLAlchemy as a generic
    DBAPIError, so the class alone does not tell a bad value from a deadlock)."""
    found: BaseException | None = exc.orig
    while found is not None:
        code = getattr(found, "sqlstate", None) or getattr(found, "pgcode", None)
        if isinstance(code, str):
            return code
        found = found.__cause__
    return None


def is_unique_violation(exc: IntegrityError) -> bool:
    message = str(exc.orig).lower()
    return "unique" in message or "duplicate key" in message


def _sqlite_pragmas(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
