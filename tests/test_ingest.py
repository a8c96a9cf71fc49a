"""Text from outside is cleaned for storage at one ingest boundary, whatever the channel: a
correctly signed message carrying half an emoji (a lone surrogate, valid as a JSON escape) or a
NUL is stored without them and answered 200, so no provider redelivers it forever. Runs on
SQLite and PostgreSQL (PostgreSQL refuses NUL even where SQLite takes it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from routing.ingest import (
    BadJson,
    is_storable,
    load_json,
    storable,
    storable_data,
)
from switchboard.app import create_app
from switchboard.settings import Settings
from tests import test_messengers
from tests.conftest import PASSWORD, seed
from tests.fakes import whatsapp as wa
from tests.fakes.twilio import FakeTwilio
from tests.fakes.twilio_webhooks import inbound_sms, signed
from tests.helpers import AgentApi, ChatClient
from tests.messenger_drivers import Desk, Driver, WhatsAppDriver
from tests.test_voice_flow import OPEN, Call, Phone, phone_fixture

# JSON escapes as a provider's body carries them; the placeholder is swapped in after the body
# is built, then the body is signed again.
POISON = {"surrogate": b"\\ud83d", "nul": b"\\u0000"}
MARK = "QQPOISONQQ"

phone = pytest.fixture(phone_fixture(OPEN), name="phone")
# The messengers' signed webhooks, each with a desk agent signed in.
driver, desk = test_messengers.driver, test_messengers.desk


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake


def poisoned(driver: Driver, user: str, text: str, escape: bytes) -> tuple[bytes, dict[str, str]]:
    """The driver's signed text message with ``MARK`` in ``text`` replaced by a JSON escape."""
    body, headers = driver.text(user, text)
    assert MARK.encode() in body
    body = body.replace(MARK.encode(), escape)
    return body, driver.sign(body, headers)


@pytest.mark.parametrize("poison", list(POISON))
async def test_a_signed_message_with_an_unstorable_character_is_stored_cleaned(
    desk: Desk, poison: str
) -> None:
    user = desk.driver.new_user()
    request = poisoned(desk.driver, user, f"How do I reset my password? {MARK}", POISON[poison])

    await desk.post(request)  # 200, not a 5xx the provider would redeliver forever
    await desk.post(request)  # the provider's retry: deduplicated, still 200

    conv = await desk.conversation()
    inbound = [m for m in conv["messages"] if m["direction"] == "inbound"]
    assert [m["text"] for m in inbound] == ["How do I reset my password? "]
    [answer] = await desk.sent(1)  # answered by the bot like any message
    assert "Forgot password?" in answer.text


async def test_a_whatsapp_batch_with_a_poisoned_message_stores_both_and_answers_200(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    async with wa.FakeWhatsApp() as fake:
        whats = WhatsAppDriver(fake)
        settings = make_settings(**whats.settings())
        await seed(settings.effective_database_url)
        client = await aiohttp_client(create_app(settings))
        agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)
        bad = wa.message("66812345678", "text", {"body": "half an emoji \ud83d and a \x00"})
        good = wa.message("66898765432", "text", {"body": "Where is my order?"})
        body, headers = wa.webhook(
            whats.app_secret,
            messages=[bad, good],
            names={"66812345678": "Som\x00chai \ud83d"},
        )

        first = await client.post(whats.path, data=body, headers=headers)
        again = await client.post(whats.path, data=body, headers=headers)  # Meta's retry

        assert (first.status, again.status) == (200, 200)
        listed = await agent.call("GET", "/api/v1/conversations")
        texts = {}
        for conv in listed["items"]:
            detail = await agent.conversation(conv["id"])
            texts[detail["customer"]["display_name"]] = [
                m["text"] for m in detail["messages"] if m["direction"] == "inbound"
            ]
        assert texts.pop("Somchai ") == ["half an emoji  and a "]
        assert list(texts.values()) == [["Where is my order?"]]


@pytest.mark.parametrize("poison", ["\x00", "before\x00after"])
async def test_an_sms_with_a_nul_is_stored_cleaned_and_answered_200(
    aiohttp_client: Any, make_settings: Callable[..., Settings], poison: str
) -> None:
    async with FakeTwilio() as twilio:
        settings = make_settings(
            public_url="https://support.acme.test", twilio=twilio.settings("+15005550006")
        )
        await seed(settings.effective_database_url)
        client = await aiohttp_client(create_app(settings))
        agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)
        sms = inbound_sms(
            account_sid=twilio.account_sid,
            from_="+66812345678",
            to="+15005550006",
            body=f"Where is my order? {poison}",
        )
        request = signed(twilio.auth_token, "https://support.acme.test/webhooks/twilio/sms", sms)

        resp = await client.post("/webhooks/twilio/sms", data=request.body, headers=request.headers)

        assert resp.status == 200, await resp.text()
        [conv] = (await agent.call("GET", "/api/v1/conversations"))["items"]
        detail = await agent.conversation(conv["id"])
        inbound = [m["text"] for m in detail["messages"] if m["direction"] == "inbound"]
        assert inbound == ["Where is my order? " + poison.replace("\x00", "")]


async def test_a_callers_speech_with_a_nul_is_stored_cleaned(phone: Phone) -> None:
    call = Call(phone)
    await call.dial()
    await call.press("1")
    await call.press("3")  # ask a question

    await call.say("How do I reset\x00 my password?")

    assert "Forgot password?" in call.said()
    conv = await phone.conversation()
    question = next(m for m in conv["messages"] if m["kind"] == "message")
    assert question["text"] == "How do I reset my password?"


async def test_a_chat_message_with_half_an_emoji_or_a_nul_is_stored_cleaned(
    chat: ChatClient,
) -> None:
    await chat.connect()

    ack = await chat.say("half an emoji \ud83d, a \x00 and a whole one 😀")

    assert ack["message"]["text"] == "half an emoji , a  and a whole one 😀"


# ---- the rule itself -------------------------------------------------------------------------


def test_storable_drops_only_nul_and_unpaired_surrogates() -> None:
    text = "ok \x00 \ud83d \ude00 😀 สวัสดี سلام \x01 \t"

    assert storable(text) == "ok    😀 สวัสดี سلام \x01 \t"
    assert is_storable(storable(text)) and not is_storable(text)


def test_storable_data_cleans_keys_and_values_at_any_depth() -> None:
    deep: Any = "leaf\x00"
    for _ in range(5000):  # deeper than Python's recursion limit: walked iteratively
        deep = [deep]
    value = {"a\x00": ["x\ud800", {"b": ("y\x00", 3, None, True)}], "deep": deep}

    cleaned = storable_data(value)

    assert cleaned["a"] == ["x", {"b": ["y", 3, None, True]}]
    inner = cleaned["deep"]
    for _ in range(5000):
        inner = inner[0]
    assert inner == "leaf"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"[" * 60_000, "too_deep"),
        (b"[" * 65 + b"]" * 65, "too_deep"),
        ('{"a": ' * 100 + "1" + "}" * 100, "too_deep"),
        (b"caf\xe9", "invalid_utf8"),
        (b"{'a': 1}", "bad_json"),
        (b"", "bad_json"),
    ],
)
def test_load_json_turns_every_failure_into_one_error_with_a_code(
    data: bytes | str, code: str
) -> None:
    with pytest.raises(BadJson) as caught:
        load_json(data)

    assert caught.value.code == code and caught.value.message


def test_load_json_takes_64_levels_and_lone_surrogates() -> None:
    assert load_json(b"[" * 64 + b"]" * 64) is not None
    assert load_json(b'{"t": "\\ud83d"}') == {"t": "\ud83d"}  # valid JSON: cleaned later
