"""The IMAP poller against a real Dovecot: what arrives, what gets marked, what survives failure."""

from __future__ import annotations

import asyncio
import email
import logging
import os
import socket
import ssl
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.policy import SMTP

import pytest

from channels.email import imap
from channels.email.imap import ImapAuthError, ImapError, ImapPoller, ImapSettings
from tests.fakes.dovecot import DovecotServer, Mailbox

WAIT = 20.0  # generous bound for things that should happen within a second


def message(n: int, body: str = "hello", attachment: bytes | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"customer{n}@example.test"
    msg["To"] = "support@example.test"
    msg["Subject"] = f"Question {n}"
    msg["Message-ID"] = f"<msg-{n}@example.test>"
    msg.set_content(f"{body} {n}\n")
    if attachment is not None:
        msg.add_attachment(
            attachment, maintype="application", subtype="octet-stream", filename="a.bin"
        )
    return msg.as_bytes(policy=SMTP)


def message_id(raw: bytes) -> str:
    return str(email.message_from_bytes(raw)["Message-ID"])


def settings_for(box: Mailbox, **overrides: object) -> ImapSettings:
    base: dict[str, object] = {
        "host": box.server.host,
        "port": box.server.port,
        "user": box.user,
        "password": box.password,
        "poll_seconds": 600.0,  # so only IDLE can explain a prompt pick-up
        "timeout": 10.0,
    }
    return ImapSettings(**{**base, **overrides})  # type: ignore[arg-type]


class Inbox:
    """A deliver callback that keeps what it was given and can be told to fail."""

    def __init__(self) -> None:
        self.raws: list[bytes] = []
        self.fail_ids: set[str] = set()
        self.arrived = asyncio.Event()

    async def __call__(self, raw: bytes) -> None:
        if message_id(raw) in self.fail_ids:
            raise RuntimeError("database is down")
        self.raws.append(raw)
        self.arrived.set()

    def ids(self) -> list[str]:
        return [message_id(raw) for raw in self.raws]

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(WAIT):
            while len(self.raws) < count:
                self.arrived.clear()
                await self.arrived.wait()


async def fill(box: Mailbox, *numbers: int) -> list[bytes]:
    raws = [message(n) for n in numbers]
    for raw in raws:
        await asyncio.to_thread(box.deliver, raw)
    return raws


def seen(box: Mailbox, folder: str = "INBOX") -> dict[str, bool]:
    return {message_id(m.raw): "\\Seen" in m.flags for m in box.messages(folder)}


@pytest.fixture
async def running() -> AsyncIterator[list[asyncio.Task[None]]]:
    """Pollers started by a test are cancelled when it ends, even when it fails."""
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_poll_once_delivers_every_unseen_message_oldest_first_then_marks_it_seen(
    mailbox: Mailbox,
) -> None:
    sent = await fill(mailbox, 1, 2, 3)
    inbox = Inbox()

    assert await ImapPoller(settings_for(mailbox), inbox).poll_once() == 3

    assert inbox.raws == sent  # byte for byte, in arrival order
    assert await asyncio.to_thread(seen, mailbox) == {message_id(raw): True for raw in sent}
    assert await ImapPoller(settings_for(mailbox), inbox).poll_once() == 0
    assert len(inbox.raws) == 3


async def test_poll_of_an_empty_folder_delivers_nothing(mailbox: Mailbox) -> None:
    inbox = Inbox()
    assert await ImapPoller(settings_for(mailbox), inbox).poll_once() == 0
    assert inbox.raws == []


async def test_a_message_whose_delivery_fails_stays_unseen_and_only_it_comes_again(
    mailbox: Mailbox,
) -> None:
    await fill(mailbox, 1, 2, 3)
    inbox = Inbox()
    inbox.fail_ids = {"<msg-2@example.test>"}
    errors: list[Exception] = []
    poller = ImapPoller(settings_for(mailbox), inbox, on_error=errors.append)

    assert await poller.poll_once() == 2
    assert inbox.ids() == ["<msg-1@example.test>", "<msg-3@example.test>"]
    assert await asyncio.to_thread(seen, mailbox) == {
        "<msg-1@example.test>": True,
        "<msg-2@example.test>": False,
        "<msg-3@example.test>": True,
    }
    assert [str(e) for e in errors] == ["database is down"]

    inbox.fail_ids.clear()
    assert await poller.poll_once() == 1
    assert inbox.ids()[2:] == ["<msg-2@example.test>"]
    assert all((await asyncio.to_thread(seen, mailbox)).values())


async def test_processed_folder_receives_the_delivered_messages(mailbox: Mailbox) -> None:
    await fill(mailbox, 1, 2)
    inbox = Inbox()
    settings = settings_for(mailbox, processed_folder="Switchboard.Done")

    assert await ImapPoller(settings, inbox).poll_once() == 2
    assert await asyncio.to_thread(mailbox.messages) == []
    assert await asyncio.to_thread(seen, mailbox, "Switchboard.Done") == {
        "<msg-1@example.test>": True,
        "<msg-2@example.test>": True,
    }

    await fill(mailbox, 3)  # the folder exists now
    assert await ImapPoller(settings, inbox).poll_once() == 1
    assert len(await asyncio.to_thread(mailbox.messages, "Switchboard.Done")) == 3


async def test_a_processed_folder_the_server_refuses_stops_before_anything_is_delivered(
    mailbox: Mailbox,
) -> None:
    await fill(mailbox, 1)
    inbox = Inbox()
    settings = settings_for(mailbox, processed_folder="Done/Today")  # Dovecot's separator is "."

    with pytest.raises(ImapError, match="Done/Today"):
        await ImapPoller(settings, inbox).poll_once()
    assert inbox.raws == []
    assert await asyncio.to_thread(seen, mailbox) == {"<msg-1@example.test>": False}


async def test_without_move_the_processed_folder_is_filled_by_copy_and_expunge(
    dovecot_basic: DovecotServer,
) -> None:
    box = dovecot_basic.new_mailbox()
    await fill(box, 1, 2)
    settings = settings_for(box, processed_folder="Done")

    assert await ImapPoller(settings, Inbox()).poll_once() == 2

    assert await asyncio.to_thread(box.messages) == []
    assert await asyncio.to_thread(seen, box, "Done") == {
        "<msg-1@example.test>": True,
        "<msg-2@example.test>": True,
    }


async def test_a_pass_takes_one_batch_and_run_drains_the_rest_without_waiting(
    mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch, running: list[asyncio.Task[None]]
) -> None:
    monkeypatch.setattr(imap, "BATCH", 2)
    await fill(mailbox, 1, 2, 3, 4, 5)
    inbox = Inbox()

    assert await ImapPoller(settings_for(mailbox), inbox).poll_once() == 2
    assert inbox.ids() == ["<msg-1@example.test>", "<msg-2@example.test>"]

    running.append(asyncio.create_task(ImapPoller(settings_for(mailbox), inbox).run()))
    await inbox.wait_for(5)
    assert inbox.ids()[2:] == [f"<msg-{n}@example.test>" for n in (3, 4, 5)]


async def test_run_picks_up_new_mail_through_idle_and_stops_when_cancelled(
    mailbox: Mailbox,
) -> None:
    inbox = Inbox()
    task = asyncio.create_task(ImapPoller(settings_for(mailbox), inbox).run())
    try:
        await fill(mailbox, 1)
        await inbox.wait_for(1)  # connected; from here on it is idling
        await fill(mailbox, 2)
        await inbox.wait_for(2)  # poll_seconds is 600: only IDLE can have woken it
        assert inbox.ids() == ["<msg-1@example.test>", "<msg-2@example.test>"]
    finally:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):
            await task
    assert all((await asyncio.to_thread(seen, mailbox)).values())


async def test_run_polls_a_server_without_idle(
    dovecot_basic: DovecotServer, running: list[asyncio.Task[None]]
) -> None:
    box = dovecot_basic.new_mailbox()
    inbox = Inbox()
    poller = ImapPoller(settings_for(box, poll_seconds=0.1), inbox)
    running.append(asyncio.create_task(poller.run()))
    await fill(box, 1)
    await inbox.wait_for(1)
    await fill(box, 2)
    await inbox.wait_for(2)
    assert inbox.ids() == ["<msg-1@example.test>", "<msg-2@example.test>"]


async def test_run_reconnects_after_the_server_drops_the_connection(
    mailbox: Mailbox, running: list[asyncio.Task[None]]
) -> None:
    inbox = Inbox()
    errors: list[Exception] = []
    poller = ImapPoller(settings_for(mailbox), inbox, on_error=errors.append, retry_seconds=0.05)
    running.append(asyncio.create_task(poller.run()))
    await fill(mailbox, 1)
    await inbox.wait_for(1)

    await asyncio.to_thread(mailbox.server.kick, mailbox.user)
    await fill(mailbox, 2)
    await inbox.wait_for(2)

    assert inbox.ids() == ["<msg-1@example.test>", "<msg-2@example.test>"]
    assert errors and all(isinstance(e, ImapError) for e in errors)


async def test_a_wrong_password_fails_clearly_and_is_never_logged(
    mailbox: Mailbox, caplog: pytest.LogCaptureFixture, running: list[asyncio.Task[None]]
) -> None:
    settings = settings_for(mailbox, password="not-the-password")
    with pytest.raises(ImapAuthError, match="refused"):
        async with asyncio.timeout(WAIT):
            await ImapPoller(settings, Inbox()).poll_once()

    caplog.set_level(logging.DEBUG)
    failed = asyncio.Event()
    errors: list[Exception] = []

    def on_error(exc: Exception) -> None:
        errors.append(exc)
        failed.set()

    running.append(asyncio.create_task(ImapPoller(settings, Inbox(), on_error=on_error).run()))
    async with asyncio.timeout(WAIT):
        await failed.wait()
    assert isinstance(errors[0], ImapAuthError)
    records = [r for r in caplog.records if r.name == "switchboard.email.imap"]
    assert [r.levelno for r in records if r.msg == "imap_connection_failed"] == [logging.ERROR]
    assert records[-1].fields["user"] == mailbox.user  # type: ignore[attr-defined]
    everything = caplog.text + repr([getattr(r, "fields", None) for r in caplog.records])
    assert "not-the-password" not in everything


async def test_an_unreachable_server_is_an_error_not_a_hang(mailbox: Mailbox) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    settings = settings_for(mailbox, port=port)
    with pytest.raises(ImapError):
        await ImapPoller(settings, Inbox()).poll_once()


async def test_a_server_that_never_answers_times_out(mailbox: Mailbox) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept, then say nothing
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ImapError, match="timed out"):
            async with asyncio.timeout(WAIT):
                await ImapPoller(settings_for(mailbox, port=port, timeout=0.3), Inbox()).poll_once()
    finally:
        server.close()


async def test_a_message_with_a_megabyte_attachment_arrives_intact(mailbox: Mailbox) -> None:
    payload = os.urandom(1024 * 1024)
    raw = message(1, attachment=payload)
    await asyncio.to_thread(mailbox.deliver, raw)
    inbox = Inbox()

    assert await ImapPoller(settings_for(mailbox), inbox).poll_once() == 1

    assert inbox.raws == [raw]
    parsed = email.message_from_bytes(inbox.raws[0])
    attachments = [p for p in parsed.walk() if p.get_filename() == "a.bin"]
    assert attachments[0].get_payload(decode=True) == payload


@pytest.mark.parametrize("mode", ["ssl", "starttls"])
async def test_tls_modes_reach_the_server_and_verify_its_certificate(
    mailbox: Mailbox, mode: str
) -> None:
    box, server = mailbox, mailbox.server
    await fill(box, 1)
    port = server.ssl_port if mode == "ssl" else server.port
    trusted = ssl.create_default_context(cafile=str(server.cafile))
    inbox = Inbox()

    settings = settings_for(box, port=port, tls=mode, ssl_context=trusted)
    assert await ImapPoller(settings, inbox).poll_once() == 1
    assert inbox.ids() == ["<msg-1@example.test>"]

    untrusted = settings_for(box, port=port, tls=mode)  # system CAs do not know this one
    with pytest.raises(ImapError, match="CERTIFICATE_VERIFY_FAILED"):
        await ImapPoller(untrusted, inbox).poll_once()


async def test_starttls_is_an_error_when_the_server_does_not_offer_it(
    dovecot_basic: DovecotServer,
) -> None:
    box = dovecot_basic.new_mailbox()
    await fill(box, 1)
    inbox = Inbox()
    with pytest.raises(ImapError, match="STARTTLS"):
        await ImapPoller(settings_for(box, tls="starttls"), inbox).poll_once()
    assert inbox.raws == []


def test_settings_reject_an_unknown_tls_mode_and_hide_the_password() -> None:
    with pytest.raises(ValueError, match="tls"):
        ImapSettings("h", 143, "u", "p", tls="tls")  # type: ignore[arg-type]
    assert "s3cret" not in repr(ImapSettings("h", 143, "u", "s3cret"))
