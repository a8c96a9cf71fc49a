"""Messages with no question in them, end to end through the real app and each provider's
local stand-in: a platform's opener (Telegram /start, Messenger's Get Started, LINE's follow,
WhatsApp's welcome request) and a first "hi" get the greeting, media without words gets a
request for words, and none of them is a miss of the bot's (an MMS without words: see
test_sms_flow.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.templates import TEMPLATES, say
from channels.line_events import FOLLOWED_TEXT
from storage.models import Conversation
from switchboard.app import ROUTER, create_app
from switchboard.settings import Settings
from tests.conftest import PASSWORD, seed
from tests.fakes import telegram_updates as tgu
from tests.helpers import AgentApi, eventually
from tests.messenger_drivers import (
    MESSENGERS,
    Desk,
    Driver,
    LineDriver,
    MessengerDriver,
    TelegramDriver,
    running,
)

MISS = "Do you sell pianos to penguins?"  # nothing in the demo KB
GREETING = say("greet", "en")
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


async def test_the_platforms_opener_is_greeted_and_is_no_miss(desk: Desk) -> None:
    user = desk.driver.new_user()

    await desk.post(desk.driver.opener(user))
    [greeting] = await desk.sent(1)
    await desk.post(desk.driver.text(user, MISS))  # the first real miss: no escalation yet
    sent = await desk.sent(2)

    assert greeting.to == user and greeting.text == GREETING
    assert sent[1].text == say("not_sure", "en")
    assert (await desk.agent.queue())["items"] == []
    conv = await desk.conversation()
    assert conv["status"] == "bot"
    assert [m["kind"] for m in conv["messages"]] == ["message", "bot_answer"] * 2
    assert conv["messages"][1]["meta"] == {"intent": "greet", "event": "opener"}
    assert (await _stored(desk.client, conv["id"])).bot_misses == 1

    await desk.post(desk.driver.text(user, "And pianos for whales?"))  # the second real miss

    assert len((await desk.agent.queue())["items"]) == 1


async def test_media_without_words_asks_for_words_and_is_no_miss(desk: Desk) -> None:
    user = desk.driver.new_user()

    await desk.post(desk.driver.media(user))
    await desk.post(desk.driver.media(user))
    await desk.post(desk.driver.wordless(user))  # a sticker, or a location on WhatsApp

    sent = await desk.sent(3)
    assert [s.text for s in sent] == [WORDS_PLEASE] * 3
    assert "Talk to a person" in sent[0].buttons
    conv = await desk.conversation()
    assert conv["status"] == "bot" and (await desk.agent.queue())["items"] == []
    assert (await _stored(desk.client, conv["id"])).bot_misses == 0
    inbound = [m for m in conv["messages"] if m["direction"] == "inbound"]
    assert len(inbound) == 3 and inbound[0]["meta"]["attachments"]  # kept for the agents
    answers = [m for m in conv["messages"] if m["kind"] == "bot_answer"]
    assert [m["meta"]["intent"] for m in answers] == ["media_only"] * 3


async def test_with_an_agent_media_goes_to_the_agent_and_the_bot_stays_quiet(desk: Desk) -> None:
    user = desk.driver.new_user()
    await desk.post(desk.driver.text(user, "I want to talk to a person"))
    conv = await desk.agent.claim_next()
    before = len(await desk.sent(2))  # the queue notice, "Agent 1 has joined"

    await desk.post(desk.driver.media(user))
    await desk.post(desk.driver.opener(user))

    history = (await desk.agent.conversation(conv["id"]))["messages"]
    assert [m["kind"] for m in history if m["direction"] == "inbound"] == ["message"] * 3
    assert [m for m in history if m["direction"] == "inbound"][1]["meta"]["attachments"]
    assert not [m for m in history if m["kind"] == "bot_answer"]
    assert len(desk.driver.sent()) == before


async def test_a_first_hi_is_small_talk_never_a_miss(desk: Desk) -> None:
    user = desk.driver.new_user()

    await desk.post(desk.driver.text(user, "hi"))

    [greeting] = await desk.sent(1)
    assert greeting.text == GREETING
    conv = await desk.conversation()
    assert (await _stored(desk.client, conv["id"])).bot_misses == 0


# ---- the first words on WhatsApp, in the languages people greet in ----------------------


@pytest.mark.parametrize("driver", ["whatsapp"], indirect=True)
@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("hi", "en"),
        ("Hello!", "en"),
        ("Hi there 👋", "en"),
        ("¡Hola!", None),  # no Spanish templates: a greeting in a language we have
        ("Bonjour", None),
        ("สวัสดีครับ", "th"),
        ("你好", "zh"),
        ("سلام", "fa"),
    ],
)
async def test_a_first_greeting_on_whatsapp_is_answered_in_kind(
    desk: Desk, text: str, locale: str | None
) -> None:
    user = desk.driver.new_user()

    await desk.post(desk.driver.text(user, text))

    [greeting] = await desk.sent(1)
    if locale is None:
        assert greeting.text in {say("greet", known) for known in TEMPLATES}
    else:
        assert greeting.text == say("greet", locale)
    conv = await desk.conversation()
    assert conv["status"] == "bot"
    assert (await _stored(desk.client, conv["id"])).bot_misses == 0


# ---- Telegram ----------------------------------------------------------------------------


def _thai_telegram_user(driver: TelegramDriver) -> str:
    found = tgu.user(5_200_000_001, "สมชาย", None, language_code="th", username=None)
    driver.users[str(found["id"])] = found
    return str(found["id"])


@pytest.mark.parametrize("driver", ["telegram"], indirect=True)
@pytest.mark.parametrize("command", ["/start", "/start promo-42", "/start@switchboard_test_bot"])
async def test_telegram_start_greets_in_the_users_app_language(desk: Desk, command: str) -> None:
    assert isinstance(desk.driver, TelegramDriver)
    user = _thai_telegram_user(desk.driver)
    update = tgu.text_update(command, sender=desk.driver.users[user])

    await desk.post(tgu.signed(desk.driver.secret, update))

    [greeting] = await desk.sent(1)
    assert greeting.text == say("greet", "th")
    conv = await desk.conversation()
    [start] = [m for m in conv["messages"] if m["direction"] == "inbound"]
    assert start["text"] == command  # what the customer's app sent, for the agents
    assert start["meta"].get("start_payload") == ("promo-42" if "promo" in command else None)


@pytest.mark.parametrize("driver", ["telegram"], indirect=True)
async def test_telegram_help_answers_with_help_in_the_users_language(desk: Desk) -> None:
    assert isinstance(desk.driver, TelegramDriver)
    user = _thai_telegram_user(desk.driver)

    await desk.post(
        tgu.signed(desk.driver.secret, tgu.text_update("/help", sender=desk.driver.users[user]))
    )

    [help_text] = await desk.sent(1)
    assert help_text.text == say("help", "th")
    conv = await desk.conversation()
    assert conv["status"] == "bot"
    assert (await _stored(desk.client, conv["id"])).bot_misses == 0


@pytest.mark.parametrize("driver", ["telegram"], indirect=True)
async def test_telegram_start_after_a_close_starts_afresh_with_the_bot(desk: Desk) -> None:
    user = desk.driver.new_user()
    await desk.post(desk.driver.text(user, "agent"))
    conv = await desk.agent.claim_next()
    await desk.agent.close(conv["id"])  # the customer is asked the satisfaction survey

    await desk.post(desk.driver.opener(user))

    await eventually(lambda: [s for s in desk.driver.sent() if s.text == GREETING])
    async with desk.client.app[ROUTER].db.transaction() as session:
        rows = (await session.execute(select(Conversation).order_by(Conversation.id))).scalars()
        found = [(c.id, c.status.value, c.csat_state) for c in rows]
    assert found[0][:2] == (conv["id"], "closed")  # neither reopened nor its survey answered
    assert found[0][2] != "comment"
    assert found[1][1] == "bot"


# ---- LINE --------------------------------------------------------------------------------


@pytest.mark.parametrize("driver", ["line"], indirect=True)
async def test_a_line_follow_is_answered_with_a_reply_and_an_unfollow_with_nothing(
    desk: Desk,
) -> None:
    assert isinstance(desk.driver, LineDriver)
    fake = desk.driver.fake
    user = "U" + "7" * 32
    fake.add_profile(user, "สมชาย ใจดี", "th")

    await desk.post(fake.follow(user))
    [reply] = await eventually(lambda: fake.sent[:] or None)
    await desk.post(fake.unfollow(user))

    assert (reply.kind, reply.to, reply.texts) == ("reply", user, [say("greet", "th")])
    conv = await desk.conversation()
    assert [(m["kind"], m["text"]) for m in conv["messages"]] == [
        ("message", FOLLOWED_TEXT),
        ("bot_answer", say("greet", "th")),
    ]
    assert conv["messages"][1]["state"] in ("pending", "sent")
    assert len(fake.sent) == 1  # the unfollow: nothing sent, nothing stored


# ---- Messenger ---------------------------------------------------------------------------


@pytest.mark.parametrize("driver", ["messenger"], indirect=True)
async def test_messengers_get_started_payload_is_a_setting(
    aiohttp_client: Any, make_settings: Callable[..., Settings], driver: Driver
) -> None:
    assert isinstance(driver, MessengerDriver)
    desk = await _desk(
        aiohttp_client, make_settings, driver, messenger={"get_started_payload": "START_HERE"}
    )
    user = driver.new_user()

    await desk.post(driver.events.postback(user, "Get Started", "START_HERE"))

    [greeting] = await desk.sent(1)
    assert greeting.text == GREETING
    conv = await desk.conversation()
    assert conv["messages"][1]["meta"]["event"] == "opener"
