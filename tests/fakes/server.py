"""The base of every provider stand-in: an aiohttp server on 127.0.0.1 at a fixed port, so
``stop()`` plays an outage (connections refused) and ``start()`` the recovery."""

from __future__ import annotations

import random
import socket
from collections import deque
from dataclasses import replace
from typing import Any, Self, TypeVar

from aiohttp import web

HOST = "127.0.0.1"
F = TypeVar("F", bound=Any)


# Ports are chosen below Linux's ephemeral range (32768-60999 by default): a port the kernel
# hands out for binding to 0 can be taken by any outgoing connection (a database client, say)
# between choosing it and the server binding it, which made a test fail now and then with
# "address already in use". System randomness, so parallel workers do not pick in step.
_PORTS = range(20000, 32768)
_RANDOM = random.SystemRandom()


def free_port() -> int:
    """A port on ``HOST`` that nothing listens on now and no client connection will take."""
    for _ in range(200):
        port = _RANDOM.choice(_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port on {HOST} in {_PORTS.start}-{_PORTS.stop - 1}")


class LocalServer:
    """Subclasses set ``self.port`` (usually ``free_port()``) and add their routes."""

    port: int
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        """Listen (again) on ``port``."""
        if self._runner is not None:
            return
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, HOST, self.port).start()

    async def stop(self) -> None:
        """Stop listening: connections are refused until ``start()``."""
        if self._runner is not None:
            self.stopping()
            await self._runner.cleanup()
            self._runner = None

    def stopping(self) -> None:
        """Called before the server closes (end long polls here)."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def next_failure(failures: deque[F]) -> F | None:
    """The queued failure due now, if any. A failure (a dataclass with ``after``) first lets
    ``after`` more requests through."""
    if not failures:
        return None
    head = failures[0]
    if head.after:
        failures[0] = replace(head, after=head.after - 1)
        return None
    return failures.popleft()
