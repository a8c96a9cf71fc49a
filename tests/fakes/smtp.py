"""A real SMTP server (aiosmtpd) on loopback standing in for the outbound mail relay.

It keeps what it accepted, and can be told to refuse (4xx / 5xx) or be stopped and started
again on the same port, to play an outage.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.fakes.server import free_port

__all__ = ["Received", "SmtpSink", "free_port"]


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.raw)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain",))
        assert body is not None
        return str(body.get_content())  # type: ignore[attr-defined]


class SmtpSink:
    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self.refuse_with: str | None = None  # e.g. "451 4.3.0 busy" or "550 5.1.1 no such user"
        self._server: asyncio.Server | None = None
        self._arrived = asyncio.Event()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="relay.test", enable_SMTPUTF8=True, loop=loop),
            "127.0.0.1",
            self.port,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse_with:
            return self.refuse_with
        raw = envelope.original_content or b""
        assert isinstance(raw, bytes)
        self.received.append(Received(envelope.mail_from or "", tuple(envelope.rcpt_tos), raw))
        self._arrived.set()
        return "250 2.0.0 OK"

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        """Until at least ``count`` messages arrived (fails the test after ``timeout``)."""
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return list(self.received)
