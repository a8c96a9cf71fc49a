""" "Was this helpful?" on the bot's answers: the buttons each channel shows, and what a press
does (a vote recorded once per answer, changeable, a "not helpful" counted as a miss)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.feedback import classify
from bot.templates import say
from channels import line, messenger, telegram, whatsapp
from channels.base import OutboundMessage, Suggestion
from channels.buttons import HANDOFF, HELPFUL, NOT_HELPFUL, feedback_labels
from channels.sms import SmsAdapter
from channels.telegram_api import CALLBACK_DATA_LIMIT
from channels.text import sms_length
from storage.models import ArticleFeedback, AuthorKind, Conversation, Touchpoint, TouchpointKind
from storage.repos import feedback as feedback_repo
from switchboard.app import ROUTER, create_app
from switchboard.settings import Settings
from tests.conftest import PASSWORD, seed
from tests.fakes.twilio import FakeTwilio
from tests.fakes.twilio_webhooks import inbound_sms, signed
from tests.helpers import AgentApi, ChatClient, eventually
from tests.messenger_drivers import QUESTION, Desk, Driver, running

HELPFUL_EN, NOT_HELPFUL_EN = feedback_labels("en")
ANSWER = "Forgot password?"  # in the demo KB's reset-password article


# ---- reading a vote ----------------------------------------------------------------------


@pytest.mark.parametrize("locale", sorted(HELPFUL))
def test_every_button_label_reads_as_its_vote(locale: str) -> None:
    helpful, not_helpful = feedback_labels(locale)

    assert classify(helpful) is True
    assert classify(not_helpful) is False
    assert classify(helpful.split(" ", 1)[1]) is True  # the words without the emoji
    assert classify(f"  {not_helpful.upper()}!  ") is False


@pytest.mark.parametrize(
    ("text", "vote"),
    [
        ("👍", True),
        ("👎", False),
        ("👍🏽", True),
        ("👎🏿 ", False),
        ("👍👍", True),
        ("t:👍 Helpful", True),  # Telegram's callback data
        ("sb:text:👎 Not helpful", False),  # Messenger's quick-reply payload
        ("s:👎 ไม่มีประโยชน์", False),  # WhatsApp's reply id
        ('{"t":"👍 有帮助","f":1}', True),  # LINE's postback data
        ("👍 thanks", None),
        ("👎 where is my order?", None),
        ("👍👎", None),
        ("👍 Not helpful", None),
        ("Is the warranty helpful?", None),
        ("", None),
        ("   ", None),
        ("Talk to a person", None),
    ],
)
def test_bare_thumbs_and_payloads_are_votes_and_sentences_are_not(
    text: str, vote: bool | None
) -> None:
    assert classify(text) is vote


def test_labels_fit_every_providers_button() -> None:
    for labels in (HELPFUL, NOT_HELPFUL):
        for label in labels.values():
            assert sms_length(label) <= 20  # WhatsApp buttons, Messenger/LINE quick replies
            assert len(("t:" + label).encode()) <= CALLBACK_DATA_LIMIT  # Telegram
    assert set(HELPFUL) == set(NOT_HELPFUL) == set(HANDOFF)


# ---- rendering per channel ---------------------------------------------------------------


def answer(*, rate: bool = True, suggestions: int = 2, locale: str = "en") -> OutboundMessage:
    return OutboundMessage(
        channel="x",
        address="1234567",
        text="To reset your password, open Settings.",
        touchpoint_id=7,
        author_kind=AuthorKind.BOT,
        created_at=datetime(2026, 11, 23, tzinfo=UTC),
        suggestions=tuple(
            Suggestion(f"a{n}", f"Article number {n} about something") for n in range(suggestions)
        ),
        meta={"locale": locale, **({"asks_feedback": True} if rate else {})},
    )


def test_telegram_puts_the_vote_row_first() -> None:
    markup = telegram.keyboard(answer())
    assert markup is not None

    rows = [[button.text for button in row] for row in markup.inline_keyboard]
    data = [button.callback_data for button in markup.inline_keyboard[0]]

    assert rows[0] == [HELPFUL_EN, NOT_HELPFUL_EN]
    assert rows[1:] == [
        ["Article number 0 about something"],
        ["Article number 1 about something"],
        ["Talk to a person"],
    ]
    assert data == [f"t:{HELPFUL_EN}", f"t:{NOT_HELPFUL_EN}"]


def test_messenger_and_line_keep_within_13_quick_replies_votes_first() -> None:
    crowded = answer(suggestions=12, locale="th")

    titles = [q["title"] for q in messenger.quick_replies(crowded)]
    items = line.quick_reply(crowded)
    assert items is not None
    labels = [i["action"]["label"] for i in items["items"]]

    for shown in (titles, labels):
        assert len(shown) == 13
        assert shown[:2] == list(feedback_labels("th")) and shown[-1] == HANDOFF["th"]
    assert [q["payload"] for q in messenger.quick_replies(crowded)][:2] == [
        "sb:text:" + label for label in feedback_labels("th")
    ]


def test_whatsapp_votes_take_the_three_reply_buttons_over_suggestions() -> None:
    [message] = whatsapp.render(answer(suggestions=2))

    buttons = message["interactive"]["action"]["buttons"]
    assert message["interactive"]["type"] == "button"
    assert [b["reply"]["title"] for b in buttons] == [
        HELPFUL_EN,
        NOT_HELPFUL_EN,
        "Talk to a person",
    ]
    assert [b["reply"]["id"] for b in buttons][:2] == ["s:" + HELPFUL_EN, "s:" + NOT_HELPFUL_EN]


def test_an_answer_not_to_rate_renders_as_before() -> None:
    plain = answer(rate=False)

    buttons = whatsapp.render(plain)[-1]["interactive"]["action"]["buttons"]
    assert [b["reply"]["title"] for b in buttons][-1] == "Talk to a person"  # 2 suggestions + it
    assert HELPFUL_EN not in [q["title"] for q in messenger.quick_replies(plain)]
    markup = telegram.keyboard(plain)
    assert markup is not None and len(markup.inline_keyboard) == 3


def test_sms_shows_no_vote() -> None:
    text = SmsAdapter.render(answer(suggestions=0))
    assert text == "To reset your password, open Settings."


# ---- web chat, end to end ----------------------------------------------------------------


async def _votes(client: TestClient) -> list[ArticleFeedback]:
    async with client.app[ROUTER].db.transaction() as session:
        return list((await session.execute(select(ArticleFeedback))).scalars())


async def _conversation(client: TestClient, conv_id: int) -> Conversation:
    async with client.app[ROUTER].db.transaction() as session:
        conv = await session.get(Conversation, conv_id)
        assert conv is not None
        return conv


async def _touchpoint(client: TestClient, tp_id: int) -> Touchpoint:
    async with client.app[ROUTER].db.transaction() as session:
        tp = await session.get(Touchpoint, tp_id)
        assert tp is not None
        return tp


async def test_web_chat_vote_changes_and_a_not_helpful_is_a_miss_that_escalates(
    client: TestClient, chat: ChatClient, agent1: AgentApi
) -> None:
    await chat.connect()
    asked = await chat.say("How can I reset my password?")
    reply = await chat.reply()
    assert reply["feedback"] == {"helpful": HELPFUL_EN, "not_helpful": NOT_HELPFUL_EN}
    conv_id = (await _touchpoint(client, asked["message"]["id"])).conversation_id
    assert conv_id is not None

    await chat.say(HELPFUL_EN)
    thanks = await chat.reply()
    [vote] = await _votes(client)
    assert thanks["text"] == say("feedback_helpful", "en") and thanks["feedback"] is None
    assert (vote.touchpoint_id, vote.helpful, vote.article_id) == (
        reply["id"],
        True,
        "reset-password",
    )
    assert (vote.locale, vote.question, vote.channel) == (
        "en",
        "How can I reset my password?",
        "webchat",
    )
    assert vote.conversation_id == conv_id and vote.article_version is not None

    press = await chat.say(NOT_HELPFUL_EN)
    sorry = await chat.reply()
    [changed] = await _votes(client)
    assert sorry["text"] == say("feedback_unhelpful", "en")
    assert changed.id == vote.id and changed.helpful is False
    assert (await _touchpoint(client, press["message"]["id"])).meta["feedback"] == {
        "touchpoint_id": reply["id"],
        "helpful": False,
    }
    assert (await _conversation(client, conv_id)).bot_misses == 1
    assert (await agent1.queue())["items"] == []

    await chat.say("Do you sell pianos to penguins?")  # the second miss in a row
    notice = await chat.reply()

    assert notice["author"] == "system"
    [queued] = (await agent1.queue())["items"]
    messages = (await agent1.conversation(queued["id"]))["messages"]
    [escalation] = [m for m in messages if m["kind"] == "escalation"]
    assert escalation["meta"]["question"] == "Do you sell pianos to penguins?"
    votes = [m for m in messages if m["kind"] == "message" and "feedback" in m["meta"]]
    assert [m["text"] for m in votes] == [HELPFUL_EN, NOT_HELPFUL_EN]
    answers = [m for m in messages if m["kind"] == "bot_answer"]
    assert answers[0]["meta"]["question"] == "How can I reset my password?"
    assert answers[0]["meta"]["asks_feedback"] is True


async def test_the_same_vote_twice_is_one_miss(
    client: TestClient, chat: ChatClient, agent1: AgentApi
) -> None:
    await chat.connect()
    await chat.say("How can I reset my password?")
    rated = await chat.reply()

    await chat.say("👎")
    sorry = await chat.reply()
    await chat.say("👎")  # the same vote again: no second miss
    await chat.reply()
    assert sorry["author"] == "bot"
    assert (await agent1.queue())["items"] == []

    await chat.say("Do you sell pianos to penguins?")
    notice = await chat.reply()

    assert notice["author"] == "system"
    assert len((await agent1.queue())["items"]) == 1
    [vote] = await _votes(client)
    assert vote.touchpoint_id == rated["id"] and vote.helpful is False


async def test_an_unhelpful_vote_reaching_the_miss_limit_escalates_at_once(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(bot={"max_misses": 1})
    await seed(settings.effective_database_url)
    client = await aiohttp_client(create_app(settings))
    chat = ChatClient(client)
    agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)
    try:
        await chat.connect()
        await chat.say("How can I reset my password?")
        rated = await chat.reply()
        await chat.say(NOT_HELPFUL_EN)
        notice = await chat.reply()
    finally:
        await chat.close()

    assert notice["author"] == "system"
    [queued] = (await agent.queue())["items"]
    [escalation] = [
        m for m in (await agent.conversation(queued["id"]))["messages"] if m["kind"] == "escalation"
    ]
    assert escalation["meta"]["reason"] == "bot_unanswered"
    assert escalation["meta"]["question"] == "How can I reset my password?"
    assert escalation["meta"]["best_article_id"] == "reset-password"
    assert [v.touchpoint_id for v in await _votes(client)] == [rated["id"]]


async def test_a_vote_with_nothing_to_rate_is_an_ordinary_message(
    client: TestClient, chat: ChatClient
) -> None:
    await chat.connect()
    first = await chat.say("👍")  # nothing answered yet
    reply = await chat.reply()
    second = await chat.say(HELPFUL_EN)  # after a miss: nothing to rate either
    notice = await chat.reply()

    assert reply["author"] == "bot" and reply["text"] == say("not_sure", "en")
    assert notice["author"] == "system"  # two misses in a row: to the queue, as ever
    assert await _votes(client) == []
    for ack in (first, second):
        assert "feedback" not in (await _touchpoint(client, ack["message"]["id"])).meta


async def test_a_resent_press_counts_once_and_history_shows_the_buttons(
    client: TestClient, chat: ChatClient
) -> None:
    await chat.connect()
    await chat.say("How can I reset my password?")
    rated = await chat.reply()
    first = await chat.say(NOT_HELPFUL_EN, client_id="press-1")
    await chat.reply()

    again = await chat.say(NOT_HELPFUL_EN, client_id="press-1")  # no ack seen: the widget resends
    await chat.close()
    welcome = await chat.connect()

    assert again["message"]["id"] == first["message"]["id"]
    [vote] = await _votes(client)
    assert vote.helpful is False
    conv = await _conversation(client, vote.conversation_id)
    assert conv.bot_misses == 1
    history = welcome["history"]
    assert [m["feedback"] is not None for m in history] == [False, True, False, False]
    assert history[1]["id"] == rated["id"]


async def test_counts_and_unhelpful_list(
    client: TestClient, chat: ChatClient, agent1: AgentApi
) -> None:
    await chat.connect()
    await chat.say("How can I reset my password?")
    await chat.reply()
    await chat.say(NOT_HELPFUL_EN)
    await chat.reply()
    other = ChatClient(client)
    try:
        await other.connect()
        await other.say("How can I reset my password?")
        await other.reply()
        await other.say(HELPFUL_EN)
        await other.reply()
    finally:
        await other.close()

    async with client.app[ROUTER].db.transaction() as session:
        everything = await feedback_repo.counts(session)
        chosen = await feedback_repo.counts(
            session, [("reset-password", "en"), ("no-such-article", "en")]
        )
        later = await feedback_repo.counts(session, since=datetime(2999, 1, 1, tzinfo=UTC))
        unhelpful = await feedback_repo.unhelpful(session, article_id="reset-password")

    assert everything == {("reset-password", "en"): (1, 1)}
    assert chosen == {("reset-password", "en"): (1, 1), ("no-such-article", "en"): (0, 0)}
    assert later == {}
    assert [(u.question, u.helpful) for u in unhelpful] == [("How can I reset my password?", False)]

    # What the knowledge manager sees in the editor.
    article = await agent1.call("GET", "/api/v1/kb/articles/reset-password/en")
    assert (article["helpful"], article["unhelpful"], article["helpfulness"]) == (1, 1, 0.5)
    [said] = article["unhelpful_questions"]
    assert (said["question"], said["channel"]) == ("How can I reset my password?", "webchat")
    assert said["conversation_id"] == unhelpful[0].conversation_id


# ---- messengers and SMS, end to end ------------------------------------------------------


@pytest.fixture(params=["telegram", "whatsapp", "messenger"])
async def messenger_driver(request: pytest.FixtureRequest) -> AsyncIterator[Driver]:
    async with running(request.param) as found:
        yield found


@pytest.fixture
async def desk(
    aiohttp_client: Any, make_settings: Callable[..., Settings], messenger_driver: Driver
) -> Desk:
    settings = make_settings(**messenger_driver.settings())
    await seed(settings.effective_database_url)
    client = await aiohttp_client(create_app(settings))
    desk = Desk(client, messenger_driver)
    desk.agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)
    return desk


async def test_messenger_answer_has_vote_buttons_and_a_press_is_recorded_once(desk: Desk) -> None:
    user = desk.driver.new_user()
    await desk.post(desk.driver.text(user, QUESTION))
    [answer_sent] = await desk.sent(1)
    assert ANSWER in answer_sent.text
    assert {HELPFUL_EN, NOT_HELPFUL_EN, "Talk to a person"} <= set(answer_sent.buttons)
    assert len(answer_sent.buttons) <= (3 if desk.driver.name == "whatsapp" else 13)

    press = desk.driver.press(user, NOT_HELPFUL_EN)
    await desk.post(press)
    await desk.post(press)  # the provider redelivers it

    sent = await desk.sent(2)
    assert sent[1].text == say("feedback_unhelpful", "en")
    assert HELPFUL_EN not in sent[1].buttons and "Talk to a person" in sent[1].buttons
    [vote] = await _votes(desk.client)
    conv = await desk.conversation()
    assert vote.helpful is False and vote.channel == desk.driver.name
    assert vote.question == QUESTION and vote.conversation_id == conv["id"]
    inbound = [m for m in conv["messages"] if m["direction"] == "inbound"]
    assert [m["text"] for m in inbound] == [QUESTION, NOT_HELPFUL_EN]
    assert inbound[1]["meta"]["feedback"]["helpful"] is False
    assert (await _conversation(desk.client, conv["id"])).bot_misses == 1
    kinds = [m["kind"] for m in conv["messages"]]
    assert kinds == ["message", "bot_answer", "message", "bot_answer"]  # answered once


async def test_sms_answers_carry_no_vote_buttons(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    async with FakeTwilio() as twilio:
        settings = make_settings(
            public_url="https://support.acme.test", twilio=twilio.settings("+15005550006")
        )
        await seed(settings.effective_database_url)
        client = await aiohttp_client(create_app(settings))
        sms = inbound_sms(
            account_sid=twilio.account_sid, from_="+66812345678", to="+15005550006", body=QUESTION
        )
        request = signed(twilio.auth_token, "https://support.acme.test/webhooks/twilio/sms", sms)
        resp = await client.post("/webhooks/twilio/sms", data=request.body, headers=request.headers)
        assert resp.status == 200

        [sent] = await eventually(lambda: twilio.sent)

    assert ANSWER in sent.body
    assert "👍" not in sent.body and HELPFUL_EN not in sent.body
    async with client.app[ROUTER].db.transaction() as session:
        [bot_answer] = (
            await session.execute(
                select(Touchpoint).where(Touchpoint.kind == TouchpointKind.BOT_ANSWER)
            )
        ).scalars()
    assert bot_answer.meta["question"] == QUESTION  # recorded, whatever the channel shows
