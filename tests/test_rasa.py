"""Rasa as the bot backend: its answers and handoffs mapped, the embedded FAQ bot whenever Rasa
is slow, down or answers nonsense, and a real ``rasa run`` server when
SWITCHBOARD_TEST_RASA_URL names one (``scripts/rasa-server`` starts it; ``.ci/run`` does)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.assistant import BotContext, BotReply, Intent
from bot.rasa import CircuitBreaker, RasaAssistant
from bot.templates import say
from switchboard.app import create_app
from switchboard.settings import Settings, SettingsError, load_settings
from tests.conftest import PASSWORD, seed
from tests.fakes import rasa as fake
from tests.fakes.rasa import FakeRasa
from tests.fakes.server import HOST, free_port
from tests.helpers import AgentApi, ChatClient

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED = "the embedded FAQ bot's answer"
REAL_RASA_URL = os.environ.get("SWITCHBOARD_TEST_RASA_URL", "")


class Embedded:
    """The fallback: records that it was asked."""

    does_io = False

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def respond(self, context: BotContext) -> BotReply:
        self.asked.append(context.text)
        return BotReply(Intent.FAQ, 0.9, EMBEDDED)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ask(text: str, conversation_id: int | None = 7, customer_id: int | None = 3) -> BotContext:
    return BotContext(text, conversation_id, customer_id, "webchat", "en")


@pytest.fixture
async def rasa() -> AsyncIterator[FakeRasa]:
    async with FakeRasa() as server:
        yield server


@asynccontextmanager
async def running(url: str, **options: Any) -> AsyncIterator[tuple[RasaAssistant, list[str]]]:
    """A started assistant on ``url`` and the reasons it fell back, in order."""
    fallbacks: list[str] = []
    options.setdefault("timeout", 10.0)  # generous: only outages should time out
    options.setdefault("fallback", Embedded())
    assistant = RasaAssistant(url, on_fallback=fallbacks.append, **options)
    await assistant.start()
    try:
        yield assistant, fallbacks
    finally:
        await assistant.close()


# ---- answers --------------------------------------------------------------------------------


async def test_an_faq_is_answered_with_rasas_text_and_confidence(rasa: FakeRasa) -> None:
    async with running(rasa.base_url) as (bot, fallbacks):
        reply = await bot.respond(ask("How long does shipping take?"))

    assert (reply.intent, reply.confidence, reply.text) == (Intent.FAQ, 0.93, fake.SHIPPING)
    assert fallbacks == []
    [sent] = rasa.received
    assert sent["sender"] == "conversation-7" and sent["message"] == "How long does shipping take?"
    assert sent["metadata"] == {
        "channel": "webchat",
        "locale": "en",
        "conversation_id": 7,
        "customer_id": 3,
    }
    assert rasa.parsed == ["How long does shipping take?"]


async def test_several_text_messages_become_one_answer(rasa: FakeRasa) -> None:
    async with running(rasa.base_url) as (bot, _):
        reply = await bot.respond(ask("When do I get my refund?"))

    assert reply.intent is Intent.FAQ
    assert reply.text == fake.REFUND + "\n\nAnything else?"


async def test_smalltalk_intents_map_to_ours_with_our_words_when_rasa_has_none(
    rasa: FakeRasa,
) -> None:
    async with running(rasa.base_url) as (bot, _):
        greeting = await bot.respond(ask("hello"))
        thanks = await bot.respond(ask("thank you"))

    assert (greeting.intent, greeting.text) == (Intent.GREET, fake.GREETING)
    assert (thanks.intent, thanks.text) == (Intent.THANKS, say("thanks", "en"))


async def test_a_handoff_payload_asks_for_a_person(rasa: FakeRasa) -> None:
    async with running(rasa.base_url, handoff_intents=()) as (bot, _):
        reply = await bot.respond(ask("Can I talk to a human?"))

    assert reply.handoff and reply.text == ""


@pytest.mark.parametrize(
    ("handoff_intents", "expected"),
    [(("human_handoff", "complaint"), Intent.HANDOFF), (("human_handoff",), Intent.FAQ)],
)
async def test_a_configured_handoff_intent_asks_for_a_person(
    rasa: FakeRasa, handoff_intents: tuple[str, ...], expected: Intent
) -> None:
    async with running(rasa.base_url, handoff_intents=handoff_intents) as (bot, _):
        reply = await bot.respond(ask("I want to complain about my order"))

    assert reply.intent is expected


@pytest.mark.parametrize(
    "text",
    [
        "Do you sell pianos to penguins?",  # nlu_fallback
        "maybe something about my account",  # an intent below the threshold
        "What does the warranty cover?",  # an intent the project has no response for
    ],
)
async def test_what_rasa_did_not_understand_is_not_answered(rasa: FakeRasa, text: str) -> None:
    async with running(rasa.base_url, threshold=0.5) as (bot, fallbacks):
        reply = await bot.respond(ask(text))

    assert reply.intent is Intent.UNKNOWN and reply.text == ""
    assert fallbacks == []  # Rasa answered: the router's miss and escalation rules apply


async def test_the_sender_is_the_conversation_else_the_customer_else_a_one_off(
    rasa: FakeRasa,
) -> None:
    async with running(rasa.base_url) as (bot, _):
        await bot.respond(ask("hello", conversation_id=11, customer_id=4))
        await bot.respond(ask("hello", conversation_id=None, customer_id=4))
        await bot.respond(ask("hello", conversation_id=None, customer_id=None))
        await bot.respond(ask("hello", conversation_id=None, customer_id=None))

    senders = [body["sender"] for body in rasa.received]
    assert senders[:2] == ["conversation-11", "customer-4"]
    assert senders[2] != senders[3] and all(s.startswith("visitor-") for s in senders[2:])


# ---- falling back ---------------------------------------------------------------------------


async def test_a_slow_rasa_gives_way_to_the_embedded_bot(rasa: FakeRasa) -> None:
    rasa.delay = 60.0  # held until the server stops
    embedded = Embedded()
    async with running(rasa.base_url, timeout=0.2, fallback=embedded) as (bot, fallbacks):
        reply = await bot.respond(ask("How long does shipping take?"))

    assert reply.text == EMBEDDED and embedded.asked == ["How long does shipping take?"]
    assert fallbacks == ["timeout"]


async def test_a_rasa_that_is_down_gives_way_to_the_embedded_bot(rasa: FakeRasa) -> None:
    await rasa.stop()
    async with running(rasa.base_url) as (bot, fallbacks):
        reply = await bot.respond(ask("How long does shipping take?"))

    assert reply.text == EMBEDDED
    assert fallbacks == ["connection"]


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (500, None, "http_5xx"),
        (503, "<html>Service Unavailable</html>", "http_5xx"),
        (404, None, "http_4xx"),  # the REST channel or --enable-api is missing
        (200, "<html>not json</html>", "malformed"),
        (200, '{"unexpected": "shape"}', "malformed"),
    ],
)
async def test_an_error_or_a_malformed_answer_gives_way_to_the_embedded_bot(
    rasa: FakeRasa, status: int, body: str | None, reason: str
) -> None:
    rasa.fail_next(status, body=body, times=2)
    async with running(rasa.base_url) as (bot, fallbacks):
        reply = await bot.respond(ask("How long does shipping take?"))
        again = await bot.respond(ask("How long does shipping take?"))

    assert reply.text == EMBEDDED and fallbacks == [reason]
    assert again.text == fake.SHIPPING  # the next message is Rasa's again


async def test_the_circuit_breaker_skips_rasa_after_failures_then_tries_again(
    rasa: FakeRasa,
) -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=2, cooldown=30.0, now=clock)
    rasa.fail_next(500, times=4)  # two messages, two requests each
    async with running(rasa.base_url, breaker=breaker) as (bot, fallbacks):
        await bot.respond(ask("How long does shipping take?"))
        await bot.respond(ask("How long does shipping take?"))
        tried = rasa.requests
        skipped = await bot.respond(ask("How long does shipping take?"))
        clock.now += 29
        still_skipped = await bot.respond(ask("How long does shipping take?"))
        assert rasa.requests == tried  # Rasa was not asked while the breaker was open

        clock.now += 2
        recovered = await bot.respond(ask("How long does shipping take?"))

    assert fallbacks == ["http_5xx", "http_5xx", "circuit_open", "circuit_open"]
    assert skipped.text == still_skipped.text == EMBEDDED
    assert recovered.text == fake.SHIPPING and rasa.requests == tried + 2


async def test_one_success_resets_the_failure_count(rasa: FakeRasa) -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=2, cooldown=30.0, now=clock)
    async with running(rasa.base_url, breaker=breaker) as (bot, fallbacks):
        rasa.fail_next(500, times=2)
        await bot.respond(ask("How long does shipping take?"))
        await bot.respond(ask("How long does shipping take?"))
        rasa.fail_next(500, times=2)
        await bot.respond(ask("How long does shipping take?"))
        last = await bot.respond(ask("How long does shipping take?"))

    assert fallbacks == ["http_5xx", "http_5xx"] and last.text == fake.SHIPPING


# ---- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"SWITCHBOARD_BOT__BACKEND": "rasa"}, "setting bot.rasa_url: must be set"),
        (
            {"SWITCHBOARD_BOT__BACKEND": "rasa", "SWITCHBOARD_BOT__RASA_URL": "localhost:5005"},
            "setting bot.rasa_url: must be an http(s) URL",
        ),
        ({"SWITCHBOARD_BOT__BACKEND": "dialogflow"}, "setting bot.backend: must be faq or rasa"),
        ({"SWITCHBOARD_BOT__RASA_TIMEOUT_SECONDS": "0"}, "bot.rasa_timeout_seconds"),
    ],
)
def test_rasa_settings_are_checked_at_boot(env: dict[str, str], problem: str) -> None:
    with pytest.raises(SettingsError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        load_settings(ROOT / "config" / "switchboard.yaml", environ=env)


def test_rasa_settings_from_the_environment() -> None:
    settings = load_settings(
        ROOT / "config" / "switchboard.yaml",
        environ={
            "SWITCHBOARD_BOT__BACKEND": "rasa",
            "SWITCHBOARD_BOT__RASA_URL": "http://127.0.0.1:5005/",
            "SWITCHBOARD_BOT__RASA_HANDOFF_INTENTS": "human_handoff, complaint",
        },
    )

    assert settings.bot.backend == "rasa" and settings.bot.rasa_timeout_seconds == 2.0
    assert settings.bot.rasa_handoff_intent_names == ("human_handoff", "complaint")


# ---- through the app ------------------------------------------------------------------------


@asynccontextmanager
async def chatting(
    aiohttp_client: Any, settings: Settings
) -> AsyncIterator[tuple[TestClient, ChatClient, AgentApi]]:
    await seed(settings.effective_database_url)
    client = await aiohttp_client(create_app(settings))
    chat = ChatClient(client)
    await chat.connect()
    try:
        yield client, chat, await AgentApi.login(client, "agent1@example.com", PASSWORD)
    finally:
        await chat.close()


def rasa_settings(make_settings: Callable[..., Settings], url: str, timeout: float) -> Settings:
    return make_settings(bot={"backend": "rasa", "rasa_url": url, "rasa_timeout_seconds": timeout})


async def test_a_chat_is_answered_by_rasa_then_by_the_faq_bot_when_rasa_stops(
    aiohttp_client: Any, make_settings: Callable[..., Settings], rasa: FakeRasa
) -> None:
    settings = rasa_settings(make_settings, rasa.base_url, 10.0)
    async with chatting(aiohttp_client, settings) as (client, chat, agent):
        await chat.say("How long does shipping take?")
        from_rasa = await chat.reply()
        await rasa.stop()
        await chat.say("How can I reset my password?")
        from_kb = await chat.reply()
        metrics = await (await client.get("/metrics")).text()

        assert (from_rasa["author"], from_rasa["text"]) == ("bot", fake.SHIPPING)
        assert from_kb["author"] == "bot" and "password" in from_kb["text"].lower()
        assert 'switchboard_bot_fallbacks_total{backend="rasa",reason="connection"} 1.0' in metrics
        assert (await agent.queue())["items"] == []
        assert rasa.received[0]["metadata"]["channel"] == "webchat"


async def test_a_handoff_from_rasa_puts_the_chat_in_the_queue_and_rasa_hears_no_more(
    aiohttp_client: Any, make_settings: Callable[..., Settings], rasa: FakeRasa
) -> None:
    settings = rasa_settings(make_settings, rasa.base_url, 10.0)
    async with chatting(aiohttp_client, settings) as (_client, chat, agent):
        await chat.say("hello")
        greeting = await chat.reply()
        await chat.say("Can I talk to a human?")
        notice = await chat.reply()
        asked = len(rasa.received)
        await chat.say("Are you there?")  # acknowledged once stored: the router has decided

        assert greeting["text"] == fake.GREETING
        assert notice["author"] == "system"
        [queued] = (await agent.queue())["items"]
        assert queued["status"] == "queued"
        assert len(rasa.received) == asked


@pytest.mark.parametrize("outage", ["dead_port", "slow", "server_error"])
async def test_a_customer_is_never_left_in_silence_when_rasa_fails(
    aiohttp_client: Any, make_settings: Callable[..., Settings], rasa: FakeRasa, outage: str
) -> None:
    url = f"http://{HOST}:{free_port()}" if outage == "dead_port" else rasa.base_url
    if outage == "slow":
        rasa.delay = 60.0
    if outage == "server_error":
        rasa.fail_next(500, times=100)
    async with chatting(aiohttp_client, rasa_settings(make_settings, url, 0.3)) as (_, chat, agent):
        for question in ("How can I reset my password?", "How long does shipping take?"):
            await chat.say(question)
            answer = await chat.reply()
            assert answer["author"] == "bot" and answer["text"], answer
        for _ in range(2):  # the circuit breaker opens after three failures: still answered
            await chat.say("hello")
            assert (await chat.reply())["author"] == "bot"
        await chat.say("agent")
        notice = await chat.reply()

        assert notice["author"] == "system"
        assert len((await agent.queue())["items"]) == 1


# ---- a real Rasa server ---------------------------------------------------------------------


@pytest.fixture
def real_rasa_url() -> str:
    if not REAL_RASA_URL:
        message = (
            "SWITCHBOARD_TEST_RASA_URL is not set: start a Rasa server with scripts/rasa-server "
            "and export the URL it prints (README, 'Rasa backend')"
        )
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(message)
        pytest.skip(message)
    return REAL_RASA_URL


@pytest.mark.parametrize(
    ("text", "intent", "words"),
    [
        ("How long does shipping take?", Intent.FAQ, "Standard shipping takes 3 to 5"),
        ("I forgot my password", Intent.FAQ, "Forgot password"),
        ("What are your opening hours?", Intent.FAQ, "Monday to Friday"),
        ("hello", Intent.GREET, "Acme support assistant"),
        ("I want to talk to a human", Intent.HANDOFF, ""),
        ("转人工", Intent.HANDOFF, ""),
        ("asdf qwerty", Intent.UNKNOWN, ""),
    ],
)
async def test_a_real_rasa_server_answers_the_example_project(
    real_rasa_url: str, text: str, intent: Intent, words: str
) -> None:
    embedded = Embedded()
    async with running(real_rasa_url, timeout=30.0, fallback=embedded) as (bot, fallbacks):
        reply = await bot.respond(ask(text, conversation_id=None, customer_id=None))

    assert fallbacks == [] and embedded.asked == []
    assert reply.intent is intent, reply
    assert words in reply.text
    if intent is not Intent.UNKNOWN:
        assert reply.confidence >= 0.5


async def test_a_real_rasa_server_answers_and_hands_off_a_chat(
    aiohttp_client: Any, make_settings: Callable[..., Settings], real_rasa_url: str
) -> None:
    settings = rasa_settings(make_settings, real_rasa_url, 30.0)
    async with chatting(aiohttp_client, settings) as (client, chat, agent):
        await chat.say("Can I get a refund?")
        answer = await chat.reply()
        await chat.say("I want to talk to a human")
        notice = await chat.reply()
        metrics = await (await client.get("/metrics")).text()

        assert answer["author"] == "bot" and "within 30 days" in answer["text"]
        assert notice["author"] == "system"
        assert len((await agent.queue())["items"]) == 1
        assert "switchboard_bot_fallbacks_total{" not in metrics
