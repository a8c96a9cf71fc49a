"""Fixtures for the email channel's real peers and a running desk; conftest imports them.

``dovecot`` is one real Dovecot for the whole session (it starts in ~0.1 s but stops in ~1 s);
``mailbox`` is a fresh user on it for each test, so tests stay isolated; ``dovecot_basic``
lacks the extensions a poller would like to use. Without Dovecot (or
without root) the tests skip, except under CI, where they fail.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiohttp.test_utils import TestClient

from switchboard.app import create_app
from switchboard.settings import Settings
from tests.conftest import PASSWORD, seed
from tests.fakes.dovecot import DovecotServer, Mailbox, unavailable_reason
from tests.fakes.smtp import Received, SmtpSink, free_port
from tests.helpers import AgentApi


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def start_dovecot(*, tls: bool = False, extra_config: str = "") -> Iterator[DovecotServer]:
    """Start a private Dovecot (skip or fail when there is none) and remove it afterwards."""
    reason = unavailable_reason()
    if reason:
        if _in_ci():
            pytest.fail(f"Dovecot is required under CI: {reason}")
        pytest.skip(reason)
    # Not pytest's tmp_path: its parents are private to root, and Dovecot's mail and login
    # processes run as other users.
    root = Path(tempfile.mkdtemp(prefix="switchboard-dovecot-"))
    try:
        with DovecotServer(root, tls=tls, extra_config=extra_config) as server:
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """Plain IMAP on ``port``, implicit TLS on ``ssl_port``, certificate in ``cafile``."""
    yield from start_dovecot(tls=True)


@pytest.fixture(scope="module")
def dovecot_basic() -> Iterator[DovecotServer]:
    """A server offering neither IDLE, MOVE nor STARTTLS, like many older or hosted ones."""
    yield from start_dovecot(extra_config="imap_capability = IMAP4rev1 LITERAL+ UIDPLUS")


@pytest.fixture
def mailbox(dovecot: DovecotServer) -> Mailbox:
    return dovecot.new_mailbox()


# ---- a running desk with email on ------------------------------------------------------

SUPPORT = "support@acme.test"
ALICE = "alice@customer.test"
PASSWORD_QUESTION = "Hi, I forgot my password and can't log in. How do I reset it?"
UNANSWERABLE = "My parrot chewed the manual of my blender, can you post me a paper copy?"


class MailDesk:
    """A running Switchboard with email on, the relay it sends through, and an agent."""

    def __init__(self, client: TestClient, relay: SmtpSink, receiver_port: int) -> None:
        self.client = client
        self.relay = relay
        self.receiver_port = receiver_port
        self.agent: AgentApi

    async def send(self, message: EmailMessage, *, sender: str | None = None) -> Any:
        """Hand a message to Switchboard's SMTP receiver as a mail relay would; ``sender=""``
        sends it with a null envelope sender (MAIL FROM:<>), as bounces come."""
        if sender is None:
            sender = message["From"].addresses[0].addr_spec
        smtp = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=self.receiver_port, start_tls=False, timeout=15
        )
        async with smtp:
            # SMTP.send_message would replace an empty sender with From: sendmail keeps it.
            return await smtp.sendmail(sender, [SUPPORT], message.as_bytes())

    async def conversations_of(self, address: str) -> list[dict[str, Any]]:
        listed = await self.agent.call("GET", "/api/v1/conversations")
        return [
            c
            for c in listed["items"]
            if c["channel"] == "email" and await self._address_of(c["customer"]["id"]) == address
        ]

    async def _address_of(self, customer_id: int) -> str:
        customer = await self.agent.call("GET", f"/api/v1/customers/{customer_id}")
        return next(i["address"] for i in customer["identities"] if i["channel"] == "email")

    async def history(self, conversation_id: int) -> list[dict[str, Any]]:
        conv = await self.agent.conversation(conversation_id)
        return list(conv["messages"])


def mail(
    body: str = PASSWORD_QUESTION,
    *,
    subject: str = "Password help",
    sender: str = ALICE,
    name: str = "Alice Example",
    headers: dict[str, str] | None = None,
    reply_to: Received | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"{name} <{sender}>"
    message["To"] = SUPPORT
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="customer.test")
    if reply_to is not None:
        message["In-Reply-To"] = reply_to.message["Message-ID"]
        message["References"] = reply_to.message["Message-ID"]
    for key, value in (headers or {}).items():
        message[key] = value
    message.set_content(body)
    return message


@pytest.fixture
async def relay() -> AsyncIterator[SmtpSink]:
    sink = SmtpSink()
    await sink.start()
    yield sink
    await sink.stop()


def email_section(relay: SmtpSink, **changes: Any) -> dict[str, Any]:
    """The ``email`` settings of a desk that sends through ``relay`` and receives over SMTP."""
    return {
        "address": SUPPORT,
        "display_name": "Acme Support",
        "smtp_host": "127.0.0.1",
        "smtp_port": relay.port,
        "smtp_tls": "none",
        "smtp_timeout_seconds": 5,
        "receiver_host": "127.0.0.1",
        "receiver_port": free_port(),
        "attachment_max_bytes": 100_000,
        **changes,
    }


@pytest.fixture
def email_settings(make_settings: Callable[..., Settings], relay: SmtpSink) -> Settings:
    return make_settings(email=email_section(relay))


async def open_desk(aiohttp_client: Any, settings: Settings, relay: SmtpSink) -> MailDesk:
    """A running Switchboard on ``settings`` with agent 1 logged in."""
    await seed(settings.effective_database_url)
    client = await aiohttp_client(create_app(settings))
    desk = MailDesk(client, relay, settings.email.receiver_port)
    desk.agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)
    return desk


@pytest.fixture
async def desk(aiohttp_client: Any, email_settings: Settings, relay: SmtpSink) -> MailDesk:
    return await open_desk(aiohttp_client, email_settings, relay)


def token_of(received: Received) -> str:
    subject = str(received.message["Subject"])
    return subject[subject.index("[#") + 2 : subject.index("]", subject.index("[#"))]
