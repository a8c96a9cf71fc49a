"""The base of every provider stand-in: an aiohttp server on 127.0.0.1 at a fixed port, so
``stop()`` plays an outage (connections refused) and ``start()`` the recovery."""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Any, Self, TypeVar

from aiohttp import web

from tests.ports import HOST, free_port

F = TypeVar("F", bound=Any)
__all__ = ["HOST", "LocalServer", "free_port", "next_failure"]


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
