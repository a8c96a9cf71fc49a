"""An SMTP receiver (aiosmtpd) that a mail relay forwards support mail to.

Only the configured recipient domains are accepted (it is not an open relay), messages over the
size limit are refused with 552 by aiosmtpd, and a message is answered 250 only once it is
stored: when storing fails the relay gets 451 and tries again later, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.email.inbound import Delivery, Outcome

log = logging.getLogger("switchboard.email.receiver")
Deliver = Callable[[bytes], Awaitable[Delivery]]
# aiosmtpd's own logger: at INFO it writes every connection's peer, each command line and the
# envelope addresses (personal data), as free text.
AIOSMTPD_LOG = "mail.log"


class _LibraryLogFilter(logging.Filter):
    """Only aiosmtpd's warnings and errors get through, as our own event: the message template
    is kept, its arguments (peers, command lines, addresses) are dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        detail = str(record.msg)
        error = record.levelno >= logging.ERROR
        record.msg = "smtp_session_error" if error else "smtp_session_warning"
        record.args = ()
        record.fields = {"detail": detail}
        return True


def quiet_library_log() -> None:
    """Keep aiosmtpd's log to structured warnings without personal data (idempotent)."""
    library = logging.getLogger(AIOSMTPD_LOG)
    if not any(isinstance(f, _LibraryLogFilter) for f in library.filters):
        library.addFilter(_LibraryLogFilter())


class SmtpReceiver:
    def __init__(
        self,
        deliver: Deliver,
        *,
        host: str,
        port: int,
        domains: Collection[str],
        max_bytes: int,
        hostname: str = "switchboard.local",
    ) -> None:
        self._deliver = deliver
        self._host = host
        self._port = port
        self._domains = frozenset(d.lower() for d in domains)
        self._max_bytes = max_bytes
        self._hostname = hostname
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when configured as 0 in tests)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        quiet_library_log()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(
                self,
                data_size_limit=self._max_bytes,
                enable_SMTPUTF8=True,
                hostname=self._hostname,
                loop=loop,
            ),
            self._host,
            self._port,
        )
        log.info(
            "smtp_receiver_listening", extra={"fields": {"host": self._host, "port": self.port}}
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    # ---- aiosmtpd handler hooks --------------------------------------------------------

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        domain = address.rpartition("@")[2].lower().rstrip(">")
        if domain not in self._domains:
            return "550 5.7.1 Relaying denied: not a support address here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content: Any = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else str(content).encode("utf-8")
        # As the final delivery agent we record the envelope sender (RFC 5321 §4.4): an empty
        # one marks a bounce, which must never be answered.
        sender = (envelope.mail_from or "").strip().strip("<>")
        raw = f"Return-Path: <{sender}>\r\n".encode() + raw
        try:
            delivery = await self._deliver(raw)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("smtp_receiver_store_failed")
            return "451 4.3.0 Temporary failure storing the message, try again later"
        if delivery.outcome is Outcome.REJECTED:
            return f"550 5.6.0 Message refused: {delivery.reason}"
        return "250 2.0.0 OK: stored"
