"""A web-chat visitor proves an email address and becomes the customer who writes from it: by a
code emailed through a real SMTP relay, or by the website's signed login. Runs on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from routing.clock import FrozenClock
from routing.identify import sign
from storage.db import Database
from storage.models import IdentityVerification
from storage.repos import privacy as privacy_repo
from switchboard.app import create_app
from switchboard.settings import Settings
from tests.conftest import PASSWORD, seed
from tests.fakes.smtp import Received, SmtpSink, free_port
from tests.helpers import WAIT, AgentApi, ChatClient
from tests.test_email_flow import SUPPORT, mail

ALICE = "alice@customer.test"
SECRET = "site-backend-shared-secret"


class Desk:
    def __init__(self, client: TestClient, relay: SmtpSink, receiver_port: int) -> None:
        self.client = client
        self.relay = relay
        self.receiver_port = receiver_port
        self.chats: list[ChatClient] = []
        self.agent: AgentApi

    async def chat(self, locale: str | None = None) -> tuple[ChatClient, dict[str, Any]]:
        chat = ChatClient(self.client)
        self.chats.append(chat)
        return chat, await chat.connect(locale=locale)

    async def email_customer(self) -> int:
        """Alice writes an email first: the customer the chat visitor will turn out to be."""
        import aiosmtplib

        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=self.receiver_port, start_tls=False)
        async with smtp:
            await smtp.send_message(mail("Where is my order 1234?", sender=ALICE))
        await self.relay.wait_for(1)  # the acknowledgement
        self.relay.received.clear()
        [conv] = (await self.agent.call("GET", "/api/v1/conversations"))["items"]
        return int(conv["customer"]["id"])

    async def customer_of_chat(self, chat: ChatClient) -> dict[str, Any]:
        welcome = await ChatClient(self.client).connect(visitor_id=chat.visitor_id)
        conv = await self.agent.conversation(welcome["conversation"]["id"])
        return dict(await self.agent.call("GET", f"/api/v1/customers/{conv['customer']['id']}"))


@pytest.fixture
async def relay() -> AsyncIterator[SmtpSink]:
    sink = SmtpSink()
    await sink.start()
    yield sink
    await sink.stop()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


def _settings(make_settings: Callable[..., Settings], relay: SmtpSink | None) -> Settings:
    email = (
        {
            "address": SUPPORT,
            "display_name": "Acme Support",
            "smtp_host": "127.0.0.1",
            "smtp_port": relay.port,
            "smtp_tls": "none",
            "smtp_timeout_seconds": 5,
            "receiver_host": "127.0.0.1",
            "receiver_port": free_port(),
        }
        if relay is not None
        else {}
    )
    return make_settings(email=email, chat={"identity_secret": SECRET})


@pytest.fixture
async def desk(
    aiohttp_client: Any,
    make_settings: Callable[..., Settings],
    relay: SmtpSink,
    clock: FrozenClock,
) -> AsyncIterator[Desk]:
    settings = _settings(make_settings, relay)
    await seed(settings.effective_database_url)
    client = await aiohttp_client(create_app(settings, clock=clock))
    desk = Desk(client, relay, settings.email.receiver_port)
    desk.agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)
    yield desk
    for chat in desk.chats:
        await chat.close()


def code_in(received: Received) -> str:
    found = re.search(r"\b(\d{6})\b", received.text)
    assert found, received.text
    return found.group(1)


async def ask_code(chat: ChatClient, email: str) -> dict[str, Any]:
    await chat.send_raw({"type": "identify", "email": email})
    return await chat.next("verification_sent")


async def refused(chat: ChatClient, frame: dict[str, Any]) -> dict[str, Any]:
    await chat.send_raw(frame)
    return await chat.next("error")


async def test_a_visitor_proves_their_email_with_a_code_and_joins_that_customers_history(
    desk: Desk,
) -> None:
    alice = await desk.email_customer()
    chat, welcome = await desk.chat()
    assert welcome["identity"] == {"email": None, "verify_by_code": True, "signed": True}
    await chat.say("hello")

    sent = await ask_code(chat, " Alice@Customer.test ")
    assert sent["email"] == ALICE
    [mail_] = await desk.relay.wait_for(1)
    assert mail_.rcpt_tos == (ALICE,)
    assert str(mail_.message["Subject"]) == "Your verification code"
    assert "It expires in 15 minutes" in mail_.text
    code = code_in(mail_)

    wrong = "000000" if code != "000000" else "111111"
    error = await refused(chat, {"type": "verify", "code": wrong})
    assert (error["code"], error["request"]) == ("wrong_code", "verify")
    assert "4 more tries" in error["message"]

    await chat.send_raw({"type": "verify", "code": code})
    assert (await chat.next("identified"))["email"] == ALICE

    # The visitor is Alice now: one customer, her email and her chat, every touchpoint kept.
    customer = await desk.customer_of_chat(chat)
    assert customer["id"] == alice
    assert {(i["channel"], i["address"]) for i in customer["identities"]} >= {
        ("email", ALICE),
        ("webchat", chat.visitor_id),
    }
    [merge] = customer["merges"]
    assert merge["actor"] == "system" and "a code sent to it" in merge["reason"]
    history = await desk.agent.call("GET", f"/api/v1/customers/{alice}/history")
    texts = [(h["channel"], h["text"]) for h in history["items"]]
    assert ("email", "Where is my order 1234?") in texts
    assert ("webchat", "hello") in texts
    assert ("email", f"Verification code for webchat sent to {ALICE}") in texts
    assert any(c == "webchat" and t.startswith(f"Verified {ALICE}") for c, t in texts)
    # The widget knows who it is talking to on the next visit.
    _, again = await desk.chat()
    again_welcome = await ChatClient(desk.client).connect(visitor_id=chat.visitor_id)
    assert again_welcome["identity"]["email"] == ALICE
    assert again["identity"]["email"] is None  # ... and a stranger does not


async def test_proving_an_email_rotates_the_visitor_id_and_the_old_one_leads_nowhere(
    desk: Desk,
) -> None:
    chat, _ = await desk.chat()
    await chat.say("agent")  # a person will answer: the reply goes through the outbox
    before = chat.visitor_id
    other_tab = ChatClient(desk.client)  # the same browser, another tab: the same id
    desk.chats.append(other_tab)
    await other_tab.connect(visitor_id=before)
    await ask_code(chat, ALICE)
    [mail_] = await desk.relay.wait_for(1)
    await chat.send_raw({"type": "verify", "code": code_in(mail_)})
    identified = await chat.next("identified")
    after = identified["visitor_id"]
    assert after and after != before

    # The other tab holding the old id is told to reconnect (it reads the new id from storage).
    assert other_tab.ws is not None
    async with asyncio.timeout(WAIT):
        while (await other_tab.ws.receive()).type is WSMsgType.TEXT:
            pass  # what was published before the rotation
    assert other_tab.ws.close_code == 4001
    # This socket lives on under the new id: an agent's reply reaches it.
    [conv] = (await desk.agent.call("GET", "/api/v1/conversations"))["items"]
    await desk.agent.call("POST", f"/api/v1/conversations/{conv['id']}/claim")
    await desk.agent.call(
        "POST",
        f"/api/v1/conversations/{conv['id']}/messages",
        expect=201,
        json={"text": "Hi Alice"},
    )
    assert (await chat.reply(lambda m: m["author"] == "agent"))["text"] == "Hi Alice"

    # Whoever saw the old id gets an empty chat; the new id is the verified customer's.
    old, new = ChatClient(desk.client), ChatClient(desk.client)
    desk.chats += [old, new]
    stale = await old.connect(visitor_id=before)
    assert stale["history"] == [] and stale["identity"]["email"] is None
    fresh = await new.connect(visitor_id=after)
    assert fresh["visitor_id"] == after and fresh["identity"]["email"] == ALICE
    assert [m["text"] for m in fresh["history"]][:1] == ["agent"]
    assert "Hi Alice" in [m["text"] for m in fresh["history"]]
    customer = await desk.customer_of_chat(chat)
    assert ("webchat", after) in {(i["channel"], i["address"]) for i in customer["identities"]}
    assert ("webchat", before) not in {(i["channel"], i["address"]) for i in customer["identities"]}


async def test_a_signed_login_rotates_the_visitor_id_too(desk: Desk) -> None:
    chat, _ = await desk.chat()
    before = chat.visitor_id
    await chat.send_raw({"type": "identify", "email": ALICE, "signature": sign(SECRET, ALICE)})
    identified = await chat.next("identified")
    assert identified["visitor_id"] not in (None, before)
    again = ChatClient(desk.client)
    desk.chats.append(again)
    assert (await again.connect(visitor_id=identified["visitor_id"]))["identity"]["email"] == ALICE
    # A refused proof changes nothing.
    error = await refused(chat, {"type": "identify", "email": "x@y.test", "signature": "0" * 64})
    assert error["code"] == "bad_signature" and chat.visitor_id == identified["visitor_id"]


async def test_an_email_nobody_uses_yet_is_added_to_the_visitor_and_codes_follow_the_language(
    desk: Desk,
) -> None:
    chat, _ = await desk.chat(locale="th")
    await ask_code(chat, "new@customer.test")
    [mail_] = await desk.relay.wait_for(1)
    assert "รหัสของคุณคือ" in mail_.text and str(mail_.message["Subject"]) == "รหัสยืนยันของคุณ"

    await chat.send_raw({"type": "verify", "code": code_in(mail_)})
    await chat.next("identified")
    await chat.say("สวัสดี")
    customer = await desk.customer_of_chat(chat)
    assert ("email", "new@customer.test") in {
        (i["channel"], i["address"]) for i in customer["identities"]
    }
    assert customer["merges"] == []


async def test_a_signed_login_from_the_website_links_at_once_without_a_code(desk: Desk) -> None:
    alice = await desk.email_customer()
    chat, _ = await desk.chat()

    error = await refused(
        chat, {"type": "identify", "email": ALICE, "signature": sign("wrong-secret-xxxxx", ALICE)}
    )
    assert (error["code"], error["request"]) == ("bad_signature", "identify")
    error = await refused(chat, {"type": "identify", "email": ALICE, "signature": "abc"})
    assert error["code"] == "bad_signature"

    await chat.send_raw(
        {"type": "identify", "email": ALICE, "name": "Alice A.", "signature": sign(SECRET, ALICE)}
    )
    assert (await chat.next("identified"))["email"] == ALICE
    assert desk.relay.received == []  # no code needed
    await chat.say("hello again")
    customer = await desk.customer_of_chat(chat)
    assert customer["id"] == alice
    assert "signed login" in customer["merges"][0]["reason"]


async def test_codes_are_limited_spent_by_wrong_tries_and_expire(
    desk: Desk, clock: FrozenClock
) -> None:
    chat, _ = await desk.chat()
    for _ in range(3):
        await ask_code(chat, ALICE)
    error = await refused(chat, {"type": "identify", "email": ALICE})
    assert (error["code"], error["request"]) == ("too_many_codes", "identify")
    received = await desk.relay.wait_for(3)
    first, latest = code_in(received[0]), code_in(received[-1])

    # Only the latest code counts, and five wrong tries spend it.
    if first != latest:
        assert (await refused(chat, {"type": "verify", "code": first}))["code"] == "wrong_code"
    wrong = "000000" if latest != "000000" else "111111"
    codes = []
    while True:
        error = await refused(chat, {"type": "verify", "code": wrong})
        codes.append(error["code"])
        if error["code"] != "wrong_code":
            break
    assert codes[-1] == "too_many_attempts"
    assert (await refused(chat, {"type": "verify", "code": latest}))["code"] == (
        "too_many_attempts"
    )

    # An hour later a new code may be asked for; it lasts 15 minutes.
    clock.advance(3601)
    await ask_code(chat, ALICE)
    [*_, fresh] = await desk.relay.wait_for(4)
    clock.advance(15 * 60 + 1)
    assert (await refused(chat, {"type": "verify", "code": code_in(fresh)}))["code"] == (
        "code_expired"
    )


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "identify", "email": "not an address"}, "bad_email"),
        ({"type": "identify", "email": 42}, "bad_email"),
        ({"type": "verify", "code": "12ab56"}, "bad_code"),
        ({"type": "verify", "code": "123456"}, "no_code"),
        ({"type": "identify", "email": ALICE, "phone": "1"}, "unknown_field"),
    ],
)
async def test_bad_identify_frames_are_refused_clearly(
    desk: Desk, frame: dict[str, Any], code: str
) -> None:
    chat, _ = await desk.chat()
    error = await refused(chat, frame)
    assert error["code"] == code and error["message"]
    await chat.say("still works")  # the socket stays usable


async def test_without_email_the_widget_offers_no_code_and_a_code_is_refused(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    settings = _settings(make_settings, None)
    await seed(settings.effective_database_url)
    client = await aiohttp_client(create_app(settings))
    chat = ChatClient(client)
    try:
        welcome = await chat.connect()
        assert welcome["identity"]["verify_by_code"] is False
        error = await refused(chat, {"type": "identify", "email": ALICE})
        assert error["code"] == "verification_off"
    finally:
        await chat.close()


async def test_a_second_signed_in_user_on_the_same_browser_is_never_joined_to_the_first(
    desk: Desk,
) -> None:
    chat, _ = await desk.chat()
    await chat.send_raw({"type": "identify", "email": ALICE, "signature": sign(SECRET, ALICE)})
    await chat.next("identified")
    bob = "bob@customer.test"

    error = await refused(chat, {"type": "identify", "email": bob, "signature": sign(SECRET, bob)})

    assert (error["code"], error["request"]) == ("identity_conflict", "identify")
    await chat.say("hi")
    customer = await desk.customer_of_chat(chat)
    assert [i["address"] for i in customer["identities"] if i["channel"] == "email"] == [ALICE]


async def test_erasing_the_customer_forgets_the_addresses_their_visitor_claimed(
    desk: Desk, database_url: str, clock: FrozenClock
) -> None:
    chat, _ = await desk.chat()
    await chat.say("hello")
    await ask_code(chat, "someone@customer.test")
    customer = await desk.customer_of_chat(chat)

    db = Database(database_url)
    try:
        async with db.transaction() as session:
            await privacy_repo.erase(session, customer["id"], actor="admin", now=clock.now())
        async with db.transaction() as session:
            left = await session.scalar(select(func.count()).select_from(IdentityVerification))
    finally:
        await db.dispose()
    assert left == 0
