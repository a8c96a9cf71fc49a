"""Receive email by polling an IMAP folder: hand each new message over, then mark it done.

A message is marked ``\\Seen`` (or moved to ``processed_folder``) only after ``deliver`` has
stored it, so a failure anywhere before that leaves it unseen and the next pass reads it again.
A crash between storing and marking re-delivers it; the caller dedupes by Message-ID.

Between passes the poller waits in IDLE when the server offers it, else sleeps; either way it
looks again after ``poll_seconds`` (mail that lands during a pass may wait that long). A message
``deliver`` keeps refusing is retried every pass; ``BATCH`` of them would hold up the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import aioimaplib

from channels.errors import PermanentChannelError, TransientChannelError

__all__ = ["Deliver", "ImapAuthError", "ImapError", "ImapPoller", "ImapSettings"]

log = logging.getLogger("switchboard.email.imap")

BATCH = 50
T = TypeVar("T")
Deliver = Callable[[bytes], Awaitable[object]]  # stores the message or raises
TlsMode = Literal["ssl", "starttls", "none"]


class ImapError(TransientChannelError):
    """The IMAP server could not be reached, dropped us, or refused a command."""


class ImapAuthError(PermanentChannelError):
    """The IMAP server refused the user name or password."""


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    folder: str = "INBOX"
    tls: TlsMode = "none"
    poll_seconds: float = 30.0
    timeout: float = 30.0
    processed_folder: str | None = None  # move here after storing, else just mark \Seen
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.tls not in ("ssl", "starttls", "none"):
            raise ValueError(f"tls must be 'ssl', 'starttls' or 'none', not {self.tls!r}")
        if self.poll_seconds <= 0 or self.timeout <= 0:
            raise ValueError("poll_seconds and timeout must be positive")


class _Session:
    """One logged-in connection with the folder selected. Every wait is bounded, and a dropped
    connection fails the command in flight at once (aioimaplib would wait for its timeout)."""

    def __init__(self, settings: ImapSettings) -> None:
        self.s = settings
        self._lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._client: aioimaplib.IMAP4 | None = None

    @property
    def client(self) -> aioimaplib.IMAP4:
        assert self._client is not None, "session not open"
        return self._client

    def _on_lost(self, exc: Exception | None) -> None:
        if not self._lost.done():
            self._lost.set_result(None)

    async def call(self, aw: Awaitable[T], what: str, *, bounded: bool = True) -> T:
        """Await one client step within ``timeout``; ``bounded=False`` for steps that carry
        their own limit (FETCH has aioimaplib's inactivity timer, so a large message on a slow
        link is not cut off)."""
        task = asyncio.ensure_future(aw)
        limit = self.s.timeout if bounded else None
        waiters: set[asyncio.Future[Any]] = {task, self._lost}
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=limit, return_when=asyncio.FIRST_COMPLETED
            )
            if task in done:
                return task.result()
        except (aioimaplib.AioImapException, OSError) as exc:  # TimeoutError and SSLError too
            raise ImapError(f"IMAP {what} failed: {exc!r}") from exc
        finally:
            if not task.done():
                task.cancel()
        if self._lost.done():
            raise ImapError(f"IMAP connection lost during {what}")
        raise ImapError(f"IMAP {what} timed out after {limit} s")

    async def command(self, aw: Awaitable[Any], what: str, *, bounded: bool = True) -> Any:
        response = await self.call(aw, what, bounded=bounded)
        if response.result != "OK":
            raise ImapError(f"IMAP {what} refused: {_text(response)}")
        return response

    async def open(self) -> None:
        s = self.s
        context = (s.ssl_context or ssl.create_default_context()) if s.tls != "none" else None
        self._client = aioimaplib.IMAP4(
            s.host,
            s.port,
            timeout=s.timeout,
            conn_lost_cb=self._on_lost,
            ssl_context=context if s.tls == "ssl" else None,
        )
        await self.call(self.client.wait_hello_from_server(), "connect")
        if context is not None and s.tls == "starttls":
            await self._starttls(context)
        response = await self.call(self.client.login(s.user, s.password), "login")
        if response.result != "OK":
            raise ImapAuthError(f"IMAP login as {s.user!r} refused: {_text(response)}")
        # Capabilities change after login and some servers announce them only in a response
        # code that aioimaplib misparses, so ask again.
        await self.call(self.client.protocol.capability(), "capability")
        if s.processed_folder:
            await self._ensure_folder(s.processed_folder)
        await self.command(self.client.select(_quote(s.folder)), f"select {s.folder!r}")

    async def _ensure_folder(self, folder: str) -> None:
        """Create ``folder`` unless it exists; fail now rather than after delivering mail."""
        created = await self.call(self.client.create(_quote(folder)), "create")
        if created.result == "OK":
            return
        listed = await self.command(self.client.list('""', _quote(folder)), "list")
        if not any(line.strip() for line in listed.lines[:-1]):
            raise ImapError(f"IMAP folder {folder!r} cannot be created: {_text(created)}")

    async def _starttls(self, context: ssl.SSLContext) -> None:
        # aioimaplib lists STARTTLS but cannot send it, so upgrade its transport here.
        protocol = self.client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise ImapError(f"IMAP server {self.s.host} does not offer STARTTLS")
        starttls = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        await self.command(protocol.execute(starttls), "starttls")
        loop = asyncio.get_running_loop()
        upgrade = loop.start_tls(protocol.transport, protocol, context, server_hostname=self.s.host)
        protocol.transport = await self.call(upgrade, "TLS handshake")
        await self.call(protocol.capability(), "capability")  # RFC 3501: forget pre-TLS ones

    async def unseen(self) -> list[int]:
        response = await self.command(self.client.uid_search("UNSEEN", charset=None), "search")
        return sorted({int(t) for line in response.lines[:-1] for t in line.split() if t.isdigit()})

    async def fetch(self, uid: int) -> bytes | None:
        """The raw message, without setting \\Seen; None if it was expunged meanwhile."""
        fetch = self.client.uid("fetch", str(uid), "(BODY.PEEK[])")
        lines = (await self.command(fetch, "fetch", bounded=False)).lines
        wanted = re.compile(rb"\bUID %d\b" % uid)
        for i, line in enumerate(lines):
            # aioimaplib gives a literal as a bytearray between its FETCH line and the ")" line
            if isinstance(line, bytearray) and i > 0:
                around = bytes(lines[i - 1]) + (bytes(lines[i + 1]) if i + 1 < len(lines) else b"")
                if wanted.search(around) and b"BODY[]" in lines[i - 1]:
                    return bytes(line)
        return None

    async def mark_done(self, uid: int) -> None:
        client, target = self.client, self.s.processed_folder
        await self.command(client.uid("store", str(uid), "+FLAGS.SILENT", r"(\Seen)"), "store")
        if not target:
            return
        if client.has_capability("MOVE"):
            await self.command(client.uid("move", str(uid), _quote(target)), "move")
            return
        await self.command(client.uid("copy", str(uid), _quote(target)), "copy")
        await self.command(client.uid("store", str(uid), "+FLAGS.SILENT", r"(\Deleted)"), "store")
        if client.has_capability("UIDPLUS"):
            await self.command(client.uid("expunge", str(uid)), "expunge")
        else:  # also expunges anything else already flagged \Deleted in this folder
            await self.command(client.expunge(), "expunge")

    async def wait_for_news(self, seconds: float) -> None:
        """Return when the server reports a change (IDLE) or after ``seconds``."""
        client = self.client
        if not client.has_capability("IDLE"):
            await self.call(asyncio.sleep(seconds), "wait", bounded=False)
            # NOOP is the poll RFC 3501 prescribes: Dovecot, for one, rescans a maildir for new
            # mail on NOOP but only every 5 s on other commands such as SEARCH.
            await self.command(client.noop(), "noop")
            return
        idle = await self.call(client.idle_start(timeout=seconds), "idle")
        try:
            # idle_start queues a stop marker after `seconds`, so this returns by then at most.
            push = client.wait_server_push(timeout=seconds + self.s.timeout)
            await self.call(push, "idle", bounded=False)
        finally:
            if client.has_pending_idle() and not self._lost.done():
                client.idle_done()
        await self.command(idle, "idle")

    async def logout(self) -> None:
        # A courtesy: the server may close the connection before its OK is read, and the
        # mail is already marked by now.
        with contextlib.suppress(ImapError):
            await self.call(self.client.logout(), "logout")

    def abort(self) -> None:
        if self._client is None:
            return
        for task in (*self._client.tasks, *self._client.protocol.tasks):
            task.cancel()
        transport = self._client.protocol.transport
        if transport is not None:
            transport.close()


class ImapPoller:
    """Polls one IMAP folder and hands every unseen message to ``deliver``, oldest first."""

    def __init__(
        self,
        settings: ImapSettings,
        deliver: Deliver,
        *,
        on_error: Callable[[Exception], None] | None = None,
        retry_seconds: float = 1.0,
        retry_max_seconds: float = 60.0,
    ) -> None:
        self._settings = settings
        self._deliver = deliver
        self._on_error = on_error
        self._retry = (retry_seconds, retry_max_seconds)

    async def poll_once(self) -> int:
        """Connect, deliver up to one batch of unseen messages, log out; how many delivered."""
        session = _Session(self._settings)
        try:
            await session.open()
            delivered, _ = await self._fetch_new(session)
            await session.logout()
            return delivered
        finally:
            session.abort()

    async def run(self) -> None:
        """Deliver new mail until cancelled, reconnecting with backoff after any failure."""
        s = self._settings
        delay = self._retry[0]
        while True:
            session = _Session(s)
            try:
                await session.open()
                log.info("imap_connected", extra={"fields": self._where()})
                while True:
                    _, more = await self._fetch_new(session)
                    delay = self._retry[0]
                    if not more:
                        await session.wait_for_news(s.poll_seconds)
            except (ImapError, ImapAuthError) as exc:
                # A bad password will not fix itself: do not hammer the server with it.
                delay = self._retry[1] if isinstance(exc, ImapAuthError) else delay
                level = logging.ERROR if isinstance(exc, ImapAuthError) else logging.WARNING
                fields = {**self._where(), "error": str(exc), "retry_in": round(delay, 1)}
                log.log(level, "imap_connection_failed", extra={"fields": fields})
                self._report(exc)
            finally:
                session.abort()
            await asyncio.sleep(delay * random.uniform(0.8, 1.0))
            delay = min(delay * 2, self._retry[1])

    async def _fetch_new(self, session: _Session) -> tuple[int, bool]:
        """Deliver the oldest unseen batch; returns (delivered, whether more are waiting)."""
        uids = await session.unseen()
        delivered = failed = 0
        for uid in uids[:BATCH]:
            raw = await session.fetch(uid)
            if raw is None:
                continue
            try:
                await self._deliver(raw)
            # deliver is the caller's code (storage); whatever it raises, this message stays
            # unseen for the next pass and the others still go through.
            except Exception as exc:
                failed += 1
                fields = {**self._where(), "uid": uid, "error": repr(exc)}
                log.warning("imap_deliver_failed", extra={"fields": fields})
                self._report(exc)
                continue
            await session.mark_done(uid)
            delivered += 1
        if uids:
            fields = {
                **self._where(),
                "delivered": delivered,
                "failed": failed,
                "unseen": len(uids),
            }
            log.info("imap_polled", extra={"fields": fields})
        return delivered, len(uids) > BATCH

    def _where(self) -> dict[str, Any]:
        s = self._settings
        return {"host": s.host, "port": s.port, "user": s.user, "folder": s.folder}

    def _report(self, exc: Exception) -> None:
        if self._on_error is not None:
            self._on_error(exc)


def _quote(mailbox: str) -> str:
    """A quoted IMAP string (non-ASCII folder names would need modified UTF-7: not supported)."""
    return aioimaplib.quoted(mailbox)


def _text(response: Any) -> str:
    return " ".join(bytes(line).decode(errors="replace") for line in response.lines)[:300]
