"""Messages with no question in them, end to end through the real app and each provider's
local stand-in: media without words gets a request for words, and is no miss of the bot's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.templates import say
from storage.models import Conversation
from switchboard.app import ROUTER, create_app
from switchboard.settings import Settings
from tests.conftest import PASSWORD, seed
from tests.fakes.twilio import FakeTwilio
from tests.fakes.twilio_webhooks import inbound_sms, signed
from tests.helpers import AgentApi, eventually
from tests.messenger_drivers import (
    MESSENGERS,
    Desk,
    Driver,
    running,
)

WORDS_PLEASE = say("describe_in_words", "en")


@pytest.fixture(params=MESSENGERS)
async def driver(request: pytest.FixtureRequest) -> AsyncIterator[Driver]:
    async with running(request.param) as found:
        yield found


async def _desk(
    aiohttp_client: Any, make_settings: Callable[..., Settings], driver: Driver, **settings: Any
) -> Desk:
    sections = driver.settings()
    for name, values in settings.items():  # a provider's own settings besides its credentials
        sections[name] = {**sections.get(name, {}), **values}
    built = make_settings(**sections)
    await seed(built.effective_database_url)
    desk = Desk(await aiohttp_client(create_app(built)), driver)
    desk.agent = await AgentApi.login(desk.client, "agent1@example.com", PASSWORD)
    return desk


@pytest.fixture
async def desk(aiohttp_client: Any, make_settings: Callable[..., Settings], driver: Driver) -> Desk:
    return await _desk(aiohttp_client, make_settings, driver)


async def _stored(client: TestClient, conv_id: int) -> Conversation:
    async with client.app[ROUTER].db.transaction() as session:
        conv = await session.get(Conversation, conv_id)
        assert conv is not None
        return conv


# ---- every messenger ---------------------------------------------------------------------


async def test_media_without_words_asks_for_words_and_is_no_miss(desk: Desk) -> None:
    user = desk.driver.new_user()

    await desk.post(desk.driver.media(user))
    await desk.post(desk.driver.media(user))

    sent = await desk.sent(2)
    assert [s.text for s in sent] == [WORDS_PLEASE] * 2
    assert "Talk to a person" in sent[0].buttons
    conv = await desk.conversation()
    assert conv["status"] == "bot" and (await desk.agent.queue())["items"] == []
    assert (await _stored(desk.client, conv["id"])).bot_misses == 0
    inbound = [m for m in conv["messages"] if m["direction"] == "inbound"]
    assert len(inbound) == 2 and inbound[0]["meta"]["attachments"]  # kept for the agents
    answers = [m for m in conv["messages"] if m["kind"] == "bot_answer"]
    assert [m["meta"]["intent"] for m in answers] == ["media_only"] * 2


async def test_with_an_agent_media_goes_to_the_agent_and_the_bot_stays_quiet(desk: Desk) -> None:
    user = desk.driver.new_user()
    await desk.post(desk.driver.text(user, "I want to talk to a person"))
    conv = await desk.agent.claim_next()
    before = len(await desk.sent(2))  # the queue notice, "Agent 1 has joined"

    await desk.post(desk.driver.media(user))

    history = (await desk.agent.conversation(conv["id"]))["messages"]
    assert [m["kind"] for m in history if m["direction"] == "inbound"] == ["message"] * 2
    assert [m for m in history if m["direction"] == "inbound"][1]["meta"]["attachments"]
    assert not [m for m in history if m["kind"] == "bot_answer"]
    assert len(desk.driver.sent()) == before


# ---- SMS: the same rule in the core ------------------------------------------------------


async def test_an_mms_picture_without_words_asks_for_words(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    async with FakeTwilio() as twilio:
        settings = make_settings(
            public_url="https://support.acme.test", twilio=twilio.settings("+15005550006")
        )
        await seed(settings.effective_database_url)
        client = await aiohttp_client(create_app(settings))
        for _ in range(2):
            sms = inbound_sms(
                account_sid=twilio.account_sid,
                from_="+66812345678",
                to="+15005550006",
                body="",
                media=[("https://api.twilio.test/Media/ME1", "image/jpeg")],
            )
            url = "https://support.acme.test/webhooks/twilio/sms"
            request = signed(twilio.auth_token, url, sms)
            resp = await client.post(
                "/webhooks/twilio/sms", data=request.body, headers=request.headers
            )
            assert resp.status == 200

        sent = await eventually(lambda: twilio.sent if len(twilio.sent) >= 2 else None)
        agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)

    assert [s.body for s in sent] == [WORDS_PLEASE] * 2
    assert (await agent.queue())["items"] == []
