"""The social messengers end to end: signed webhooks in through the real app, the bot's answer
and an agent's reply out through a local stand-in of each provider's API. The same scenarios
run for every messenger (and on SQLite and PostgreSQL); a small driver per provider knows its
wire format (tests/messenger_drivers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from routing.clock import FrozenClock
from switchboard.app import create_app
from switchboard.settings import Settings
from tests.conftest import PASSWORD, seed
from tests.fakes import telegram as tg
from tests.fakes import telegram_updates as tgu
from tests.fakes import whatsapp as wa
from tests.fakes.twilio import FakeTwilio
from tests.fakes.twilio_webhooks import inbound_sms, signed
from tests.helpers import AgentApi, eventually
from tests.messenger_drivers import (
    MESSENGERS,
    QUESTION,
    Desk,
    Driver,
    LineDriver,
    TelegramDriver,
    WhatsAppDriver,
    running,
)


@pytest.fixture(params=MESSENGERS)
async def driver(request: pytest.FixtureRequest) -> AsyncIterator[Driver]:
    async with running(request.param) as found:
        yield found


@pytest.fixture
async def desk(aiohttp_client: Any, make_settings: Callable[..., Settings], driver: Driver) -> Desk:
    settings = make_settings(**driver.settings())
    await seed(settings.effective_database_url)
    client = await aiohttp_client(create_app(settings))
    desk = Desk(client, driver)
    desk.agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)
    return desk


@pytest.mark.parametrize("driver", ["whatsapp", "messenger", "line"], indirect=True)
async def test_the_webhook_verification_handshake(desk: Desk) -> None:
    query = desk.driver.verification()
    if query is None:  # LINE: a signed POST with no events must get 200
        assert isinstance(desk.driver, LineDriver)
        await desk.post(desk.driver.fake.verification())
        return

    good = await desk.client.get(desk.driver.path, params=query)
    bad = await desk.client.get(desk.driver.path, params={**query, "hub.verify_token": "nope"})

    assert good.status == 200 and await good.text() == query["hub.challenge"]
    assert bad.status == 403


async def test_a_message_gets_the_bots_answer_with_buttons_and_a_way_to_a_person(
    desk: Desk,
) -> None:
    user = desk.driver.new_user()

    await desk.post(desk.driver.text(user, QUESTION))

    [answer] = await desk.sent(1)
    assert answer.to == user and "Forgot password?" in answer.text
    assert "Talk to a person" in answer.buttons
    conv = await desk.conversation()
    assert conv["customer"]["display_name"]  # the provider's profile name
    assert [m["kind"] for m in conv["messages"]] == ["message", "bot_answer"]


async def test_the_handoff_button_reaches_an_agent_whose_reply_is_delivered(desk: Desk) -> None:
    user = desk.driver.new_user()
    await desk.post(desk.driver.text(user, QUESTION))
    await desk.sent(1)

    await desk.post(desk.driver.press(user, "Talk to a person"))
    conv = await desk.agent.claim_next()
    await desk.agent.reply(conv["id"], "Hi, Agent 1 here.")

    sent = await eventually(
        lambda: [s for s in desk.driver.sent() if s.text == "Hi, Agent 1 here."]
    )
    assert sent[0].to == user
    history = (await desk.agent.conversation(conv["id"]))["messages"]
    assert "Talk to a person" in [m["text"] for m in history if m["kind"] == "message"]


async def test_media_is_kept_as_an_attachment(desk: Desk) -> None:
    user = desk.driver.new_user()

    await desk.post(desk.driver.media(user))

    conv = await desk.conversation()
    [inbound] = [m for m in conv["messages"] if m["direction"] == "inbound"]
    [attachment] = inbound["meta"]["attachments"]
    assert attachment["content_type"].startswith("image/")


async def test_a_forged_signature_is_refused_and_nothing_stored(desk: Desk) -> None:
    user = desk.driver.new_user()
    body, headers = desk.driver.text(user, QUESTION)

    resp = await desk.client.post(
        desk.driver.path, data=body, headers=desk.driver.forge(body, headers)
    )

    assert resp.status in (401, 403)
    listed = await desk.agent.call("GET", "/api/v1/conversations")
    assert listed["items"] == []


async def test_a_redelivered_message_is_stored_and_answered_once(desk: Desk) -> None:
    user = desk.driver.new_user()
    request = desk.driver.text(user, QUESTION)

    await desk.post(request)
    await desk.post(request)
    await desk.post(desk.driver.text(user, "thanks"))

    sent = await desk.sent(2)
    assert sum("Forgot password?" in s.text for s in sent) == 1
    conv = await desk.conversation()
    assert [m["text"] for m in conv["messages"] if m["direction"] == "inbound"] == [
        QUESTION,
        "thanks",
    ]


async def test_a_rate_limited_send_is_retried_and_delivered_once(desk: Desk) -> None:
    desk.driver.rate_limit(2)
    user = desk.driver.new_user()

    await desk.post(desk.driver.text(user, QUESTION))

    [answer] = await desk.sent(1)
    assert "Forgot password?" in answer.text
    conv = await desk.conversation()
    [bot] = [m for m in conv["messages"] if m["kind"] == "bot_answer"]
    await eventually(lambda: _state_is(desk, bot["id"], "sent"))


async def _state_is(desk: Desk, touchpoint_id: int, state: str) -> bool:
    conv = await desk.conversation()
    return any(m["id"] == touchpoint_id and m["state"] == state for m in conv["messages"])


@pytest.mark.parametrize("driver", ["messenger", "whatsapp"], indirect=True)  # LINE: no window
async def test_an_agent_cannot_write_after_the_24_hour_window_and_is_told_why(
    aiohttp_client: Any, make_settings: Callable[..., Settings], driver: Driver
) -> None:
    settings = make_settings(**driver.settings())
    await seed(settings.effective_database_url)
    clock = FrozenClock(datetime.now(UTC))
    desk = Desk(await aiohttp_client(create_app(settings, clock=clock)), driver)
    desk.agent = await AgentApi.login(desk.client, "agent1@example.com", PASSWORD)
    user = desk.driver.new_user()
    await desk.post(desk.driver.text(user, "I want to talk to a person"))
    conv = await desk.agent.claim_next()

    clock.advance(25 * 3600)
    desk.agent = await AgentApi.login(desk.client, "agent1@example.com", PASSWORD)  # next shift
    refused = await desk.agent.reply(conv["id"], "Sorry for the wait!", expect=409)

    assert refused["error"]["code"] == "outside_reply_window"
    assert "24 hours" in refused["error"]["message"]
    await desk.post(desk.driver.text(user, "Hello again?"))
    await desk.agent.reply(conv["id"], "Sorry for the wait!")  # the customer wrote: open again


async def test_one_customer_across_sms_whatsapp_and_telegram_once_linked(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    async with FakeTwilio() as twilio, wa.FakeWhatsApp() as fake_wa, tg.FakeTelegram() as fake_tg:
        whats, tele = WhatsAppDriver(fake_wa), TelegramDriver(fake_tg)
        settings = make_settings(
            public_url="https://support.acme.test",
            twilio=twilio.settings("+15005550006"),
            **whats.settings(),
            **tele.settings(),
        )
        await seed(settings.effective_database_url)
        client = await aiohttp_client(create_app(settings))
        agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)

        sms = inbound_sms(
            account_sid=twilio.account_sid, from_="+66812345678", to="+15005550006", body="Hi"
        )
        request = signed(twilio.auth_token, "https://support.acme.test/webhooks/twilio/sms", sms)
        resp = await client.post("/webhooks/twilio/sms", data=request.body, headers=request.headers)
        assert resp.status == 200
        body, headers = whats.text("66812345678", "Hello from WhatsApp")
        assert (await client.post(whats.path, data=body, headers=headers)).status == 200
        user = tele.new_user()
        body, headers = tele.text(user, "Hi from Telegram")  # a stranger, until they share
        assert (await client.post(tele.path, data=body, headers=headers)).status == 200
        body, headers = tgu.signed(
            tele.secret, tgu.contact_update("66812345678", sender=tele.users[user])
        )
        assert (await client.post(tele.path, data=body, headers=headers)).status == 200

        listed = await agent.call("GET", "/api/v1/conversations")
        customers = {c["customer"]["id"] for c in listed["items"]}
        assert {c["channel"] for c in listed["items"]} == {"sms", "whatsapp", "telegram"}
        assert len(customers) == 1
        profile = await agent.call("GET", f"/api/v1/customers/{customers.pop()}")
        assert {(i["channel"], i["address"]) for i in profile["identities"]} >= {
            ("sms", "+66812345678"),
            ("whatsapp", "+66812345678"),
            ("telegram", user),
        }
        history = await agent.history(profile["id"])
        assert {m["channel"] for m in history["items"]} == {"sms", "whatsapp", "telegram"}


async def test_whatsapp_status_webhooks_move_the_reply_to_delivered_and_read(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    async with wa.FakeWhatsApp() as fake:
        whats = WhatsAppDriver(fake)
        settings = make_settings(**whats.settings())
        await seed(settings.effective_database_url)
        desk = Desk(await aiohttp_client(create_app(settings)), whats)
        desk.agent = await AgentApi.login(desk.client, "agent1@example.com", PASSWORD)
        user = whats.new_user()
        await desk.post(whats.text(user, QUESTION))
        [answer] = await eventually(lambda: fake.sent[:] or None)
        conv = await desk.conversation()
        [bot] = [m for m in conv["messages"] if m["kind"] == "bot_answer"]
        await eventually(lambda: _state_is(desk, bot["id"], "sent"))

        for state in ("delivered", "read", "delivered"):  # a late "delivered" changes nothing
            await desk.post(
                wa.status_webhook(whats.app_secret, id=answer.id, state=state, recipient_id=user)
            )

        assert await _state_is(desk, bot["id"], "read")
