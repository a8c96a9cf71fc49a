"""Sending email that never silences a customer and never reaches them twice (issue 17):
threading headers we cannot reuse, a message that cannot be built, and a relay that is slow to
confirm. Replies leave through a real SMTP relay on loopback (aiosmtpd)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from storage.db import Database
from storage.models import OutboxItem, OutboxStatus
from switchboard.settings import Settings
from tests.conftest import ROOT
from tests.email_fixtures import ALICE, UNANSWERABLE, MailDesk, email_section, mail, open_desk
from tests.fakes.smtp import Received, SmtpSink
from tests.helpers import eventually


async def outbound(desk: MailDesk, conversation_id: int, state: str) -> list[dict[str, Any]]:
    history = await desk.history(conversation_id)
    return [m for m in history if m["direction"] == "outbound" and m["state"] == state]


async def outbox_items(settings: Settings) -> list[OutboxItem]:
    db = Database(settings.effective_database_url)
    try:
        async with db.transaction() as session:
            return list((await session.scalars(select(OutboxItem))).all())
    finally:
        await db.dispose()


# ---- threading headers we cannot reuse (17.10) ------------------------------------------------


async def test_ids_without_an_at_sign_are_left_out_of_replies_and_never_block_them(
    desk: MailDesk,
) -> None:
    # Both shapes are in CPython's email test corpus; RFC 5322 wants "left@right".
    question = mail(UNANSWERABLE, subject="Blender")
    question.replace_header("Message-ID", "<xxxx>")
    question["References"] = "<1234567> <root@customer.test>"

    await desk.send(question)

    [ack] = await desk.relay.wait_for(1)
    assert ack.rcpt_tos == (ALICE,)
    assert ack.message["In-Reply-To"] is None
    assert ack.message["References"] == "<root@customer.test>"
    conv = await desk.agent.claim_next()
    await desk.agent.reply(conv["id"], "We will post you a paper copy.")
    [_, reply] = await desk.relay.wait_for(2)
    assert "We will post you a paper copy." in reply.text
    assert reply.message["References"] == "<root@customer.test>"


async def test_a_reply_that_cannot_be_built_fails_at_once_with_its_reason(
    aiohttp_client: Any,
    make_settings: Callable[..., Settings],
    relay: SmtpSink,
    tmp_path: Path,
) -> None:
    # A site's templates file with a typo in one placeholder: the bot's acknowledgement
    # still goes out, the agent's reply cannot be written and says why, at the first try.
    shipped = yaml.safe_load((ROOT / "config" / "email_templates.yaml").read_text("utf-8"))
    shipped["en"]["agent_signature"] = "{agnet}\n{team}"
    templates = tmp_path / "templates.yaml"
    templates.write_text(yaml.safe_dump(shipped, allow_unicode=True), "utf-8")
    settings = make_settings(email=email_section(relay, templates=str(templates)))
    desk = await open_desk(aiohttp_client, settings, relay)
    await desk.send(mail(UNANSWERABLE, subject="Blender"))
    await relay.wait_for(1)
    conv = await desk.agent.claim_next()

    await desk.agent.reply(conv["id"], "Send us a photo of the receipt.")

    [failed] = await eventually(lambda: outbound(desk, conv["id"], "failed"))
    assert "could not be built" in failed["meta"]["delivery_error"]
    assert "agnet" in failed["meta"]["delivery_error"]
    [item] = [i for i in await outbox_items(settings) if i.status is OutboxStatus.FAILED]
    assert item.attempts == 1
    assert len(relay.received) == 1


# ---- a relay slow to confirm (17.14) ------------------------------------------------------------


class SlowRelay(SmtpSink):
    """Stores every message at once, then takes ``delay`` seconds to say so, as a relay that
    scans or writes to slow storage before its final 250 does."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(self.delay)
        return answer


@pytest.fixture
async def slow_relay() -> AsyncIterator[SlowRelay]:
    sink = SlowRelay(delay=1.5)
    await sink.start()
    yield sink
    await sink.stop()


def ids(received: list[Received]) -> list[str]:
    return [str(r.message["Message-ID"]) for r in received]


async def test_a_relay_that_confirms_after_the_command_timeout_gets_the_mail_once(
    aiohttp_client: Any, make_settings: Callable[..., Settings], slow_relay: SlowRelay
) -> None:
    # Every other command must answer within 0.5 s; the end of the data gets its own timeout.
    section = email_section(slow_relay, smtp_timeout_seconds=0.5)
    desk = await open_desk(aiohttp_client, make_settings(email=section), slow_relay)

    await desk.send(mail(UNANSWERABLE, subject="Blender"))

    [conv] = await desk.conversations_of(ALICE)
    await eventually(lambda: outbound(desk, conv["id"], "sent"))
    assert [r.rcpt_tos for r in slow_relay.received] == [(ALICE,)]


async def test_a_lost_confirmation_is_retried_once_with_the_same_message_id_then_reported(
    aiohttp_client: Any, make_settings: Callable[..., Settings], slow_relay: SlowRelay
) -> None:
    # The relay stores the message but its answer never arrives in time: maybe delivered.
    section = email_section(slow_relay, smtp_timeout_seconds=5, smtp_data_timeout_seconds=0.5)
    desk = await open_desk(aiohttp_client, make_settings(email=section), slow_relay)

    await desk.send(mail(UNANSWERABLE, subject="Blender"))

    [conv] = await desk.conversations_of(ALICE)
    [failed] = await eventually(lambda: outbound(desk, conv["id"], "failed"))
    assert "may have been delivered" in failed["meta"]["delivery_error"]
    copies = slow_relay.received
    assert len(copies) == 2 and len(set(ids(copies))) == 1  # one cautious retry, same id
    assert [r.rcpt_tos for r in copies] == [(ALICE,), (ALICE,)]


async def test_a_confirmation_lost_once_is_sent_again_once_and_counts_as_sent(
    aiohttp_client: Any, make_settings: Callable[..., Settings], slow_relay: SlowRelay
) -> None:
    section = email_section(slow_relay, smtp_timeout_seconds=5, smtp_data_timeout_seconds=0.5)
    desk = await open_desk(aiohttp_client, make_settings(email=section), slow_relay)

    async def confirm_quickly_after_the_first() -> None:
        await slow_relay.wait_for(1)
        slow_relay.delay = 0

    helper = asyncio.create_task(confirm_quickly_after_the_first())
    await desk.send(mail(UNANSWERABLE, subject="Blender"))

    [conv] = await desk.conversations_of(ALICE)
    await eventually(lambda: outbound(desk, conv["id"], "sent"))
    await helper
    assert len(slow_relay.received) == 2 and len(set(ids(slow_relay.received))) == 1
