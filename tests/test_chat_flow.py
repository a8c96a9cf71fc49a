"""A customer chats on the widget socket: bot answers, escalation, agents, history."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from storage.models import AuthorKind, Direction, TouchpointKind
from storage.repos import touchpoints as tp_repo
from switchboard.app import ROUTER
from tests.helpers import AgentApi, ChatClient


async def test_bot_answers_an_english_faq_with_article_and_suggestions(chat: ChatClient) -> None:
    welcome = await chat.connect()
    assert welcome["history"] == [] and welcome["conversation"] is None

    ack = await chat.say("How can I reset my password?")
    answer = await chat.reply()

    assert ack["message"]["author"] == "customer"
    assert ack["message"]["text"] == "How can I reset my password?"
    assert answer["author"] == "bot"
    assert "password" in answer["text"].lower()
    assert all(s["article_id"] != "reset-password" for s in answer["suggestions"])


async def test_bot_answers_in_thai_from_the_thai_article(
    chat: ChatClient, agent1: AgentApi
) -> None:
    await chat.connect()
    ack = await chat.say("ลืมรหัสผ่านต้องทำยังไงครับ")
    answer = await chat.reply()

    assert answer["author"] == "bot"
    assert any("\u0e00" <= ch <= "\u0e7f" for ch in answer["text"]), answer["text"]
    conversation = await agent1.conversation(await _conversation_id(chat, ack))
    bot_answer = [m for m in conversation["messages"] if m["kind"] == "bot_answer"][-1]
    assert bot_answer["meta"]["article_id"] == "reset-password"
    assert bot_answer["meta"]["article_locale"] == "th"
    assert bot_answer["meta"]["confidence"] >= 0.5


async def test_smalltalk_is_answered_without_escalating(chat: ChatClient, agent1: AgentApi) -> None:
    await chat.connect()
    await chat.say("hello")
    greeting = await chat.reply()
    await chat.say("ขอบคุณครับ")
    thanks = await chat.reply()

    assert greeting["author"] == "bot" and "assistant" in greeting["text"]
    assert "ยินดี" in thanks["text"]
    assert (await agent1.queue())["items"] == []


@pytest.mark.parametrize(
    "request_text",
    [
        "Can I talk to a human please?",
        "agent",
        "ขอคุยกับพนักงานครับ",
        "转人工",
        "می‌خواهم با اپراتور صحبت کنم",
    ],
)
async def test_asking_for_a_person_escalates_at_once(
    chat: ChatClient, agent1: AgentApi, request_text: str
) -> None:
    await chat.connect()
    await chat.say(request_text)
    notice = await chat.reply()

    queue = await agent1.queue()
    assert notice["author"] == "system"
    assert len(queue["items"]) == 1 and queue["items"][0]["status"] == "queued"


async def test_two_unanswered_questions_in_a_row_escalate(
    chat: ChatClient, agent1: AgentApi
) -> None:
    await chat.connect()
    await chat.say("Do you sell pianos to penguins?")
    first = await chat.reply()
    assert first["author"] == "bot"
    assert (await agent1.queue())["items"] == []

    await chat.say("What colour is the quantum flux capacitor?")
    second = await chat.reply()

    assert second["author"] == "system"
    assert "queue" in second["text"]
    assert len((await agent1.queue())["items"]) == 1


async def test_an_answer_in_between_resets_the_miss_count(
    chat: ChatClient, agent1: AgentApi
) -> None:
    await chat.connect()
    await chat.say("Do you sell pianos to penguins?")
    await chat.reply()
    await chat.say("How long does shipping take?")
    assert (await chat.reply())["author"] == "bot"
    await chat.say("What colour is the quantum flux capacitor?")
    assert (await chat.reply())["author"] == "bot"

    assert (await agent1.queue())["items"] == []


async def test_customer_is_told_when_no_agent_is_online_and_still_gets_a_later_reply(
    client, chat: ChatClient
) -> None:
    await chat.connect()
    await chat.say("I want to speak to a person")
    notice = await chat.reply()
    assert "No agent is online" in notice["text"]
    assert "number 1 in the queue" in notice["text"]

    agent = await AgentApi.login(client, "agent1@example.com", "correct horse battery")
    conversation = await agent.claim_next()
    await agent.reply(conversation["id"], "Hi, I'm here now.")

    reply = await chat.reply(lambda m: m["author"] == "agent")
    assert reply["text"] == "Hi, I'm here now."
    assert reply["author_name"] == "Agent 1"


async def test_queue_position_counts_customers_ahead(client, agent1: AgentApi) -> None:
    customers = [ChatClient(client) for _ in range(3)]
    try:
        for customer in customers:
            await customer.connect()
            await customer.say("agent")
        notices = [await c.reply() for c in customers]
        assert "number 1 in the queue" in notices[0]["text"]
        assert "number 3 in the queue" in notices[2]["text"]
        queue = await agent1.queue()
        assert [item["customer"]["id"] for item in queue["items"]] == sorted(
            item["customer"]["id"] for item in queue["items"]
        )
    finally:
        for customer in customers:
            await customer.close()


async def test_bot_stays_silent_while_the_conversation_is_with_humans(
    chat: ChatClient, agent1: AgentApi
) -> None:
    await chat.connect()
    await chat.say("agent")
    await chat.reply()
    await chat.say("How do I reset my password?")  # an FAQ, but a person is coming
    conversation = await agent1.claim_next()
    await agent1.reply(conversation["id"], "Let me help you with that.")
    await chat.say("thanks")

    detail = await agent1.conversation(conversation["id"])
    kinds = [m["kind"] for m in detail["messages"]]
    assert kinds.count("bot_answer") == 0
    agent_reply = await chat.reply(lambda m: m["author"] == "agent")
    assert agent_reply["text"] == "Let me help you with that."


async def test_two_agents_claiming_the_same_conversation_one_wins(
    chat: ChatClient, agent1: AgentApi, agent2: AgentApi
) -> None:
    await chat.connect()
    await chat.say("agent")
    await chat.reply()
    queued = (await agent1.queue())["items"][0]

    results = await asyncio.gather(
        agent1.claim(queued["id"], expect=None), agent2.claim(queued["id"], expect=None)
    )

    errors = [r for r in results if "error" in r]
    wins = [r for r in results if "error" not in r]
    assert len(wins) == 1 and len(errors) == 1
    assert errors[0]["error"]["code"] == "already_claimed"
    assert wins[0]["status"] == "assigned"


async def test_claim_next_by_two_agents_never_hands_out_one_conversation_twice(
    client, agent1: AgentApi, agent2: AgentApi
) -> None:
    customers = [ChatClient(client) for _ in range(2)]
    try:
        for customer in customers:
            await customer.connect()
            await customer.say("human please")
            await customer.reply()
        first, second = await asyncio.gather(agent1.claim_next(), agent2.claim_next())
        assert first["id"] != second["id"]
        assert {first["assignee"]["name"], second["assignee"]["name"]} == {"Agent 1", "Agent 2"}
        empty = await agent1.claim_next(expect=409)
        assert empty["error"]["code"] == "queue_empty"
    finally:
        for customer in customers:
            await customer.close()


async def test_claim_next_finds_a_conversation_while_a_message_is_being_stored_into_it(
    client: Any, chat: ChatClient, agent1: AgentApi, database_url: str
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite lets one writer at a time: no store runs beside a claim there")
    await chat.connect()
    await chat.say("agent")
    await chat.reply()
    [queued] = (await agent1.queue())["items"]
    router = client.app[ROUTER]
    # Another worker is mid-way through storing a touchpoint into the conversation: on
    # PostgreSQL its foreign key holds a key-share lock on the conversation's row.
    async with router.db.transaction() as session:
        await tp_repo.add(
            session,
            customer_id=queued["customer"]["id"],
            conversation_id=queued["id"],
            channel="webchat",
            kind=TouchpointKind.SYSTEM,
            direction=Direction.INTERNAL,
            author_kind=AuthorKind.SYSTEM,
            now=router.clock.now(),
        )
        claimed = await asyncio.wait_for(agent1.claim_next(expect=None), 30)

    assert claimed.get("id") == queued["id"], claimed


async def test_only_the_assignee_replies_and_closing_ends_it(
    chat: ChatClient, agent1: AgentApi, agent2: AgentApi
) -> None:
    await chat.connect()
    await chat.say("agent")
    await chat.reply()
    conversation = await agent1.claim_next()

    refused = await agent2.reply(conversation["id"], "I'm butting in", expect=409)
    assert refused["error"]["code"] == "assigned_to_another"

    closed = await agent1.close(conversation["id"])
    assert closed["status"] == "closed"
    closing_note = await chat.reply(lambda m: "closed" in m["text"])
    assert closing_note["author"] == "system"
    after = await agent1.reply(conversation["id"], "one more thing", expect=409)
    assert after["error"]["code"] == "conversation_closed"

    # Writing again opens a new conversation with the bot.
    await chat.say("How long does shipping take?")
    answer = await chat.reply(lambda m: m["author"] == "bot")
    assert answer["text"]


async def test_handing_back_to_the_bot_lets_it_answer_again(
    chat: ChatClient, agent1: AgentApi
) -> None:
    await chat.connect()
    await chat.say("agent")
    await chat.reply()
    conversation = await agent1.claim_next()
    await agent1.handback(conversation["id"])

    await chat.say("How long does shipping take?")
    answer = await chat.reply(lambda m: m["author"] == "bot")
    assert "business days" in answer["text"]


async def test_reconnect_replays_history_and_replies_sent_while_away(
    client, chat: ChatClient, agent1: AgentApi
) -> None:
    await chat.connect()
    await chat.say("agent")
    await chat.reply()
    conversation = await agent1.claim_next()
    visitor = chat.visitor_id
    await chat.close()

    sent = await agent1.reply(conversation["id"], "Sorry for the wait — your parcel left today.")

    again = ChatClient(client)
    try:
        welcome = await again.connect(visitor_id=visitor)
        texts = [m["text"] for m in welcome["history"]]
        assert welcome["visitor_id"] == visitor
        assert texts[0] == "agent"
        assert texts[-1] == "Sorry for the wait — your parcel left today."
        assert welcome["history"][-1]["id"] == sent["id"]
        assert welcome["conversation"]["status"] == "assigned"
    finally:
        await again.close()


async def test_delivery_receipts_reach_the_agent_view(chat: ChatClient, agent1: AgentApi) -> None:
    await chat.connect()
    await chat.say("agent")
    await chat.reply()
    conversation = await agent1.claim_next()
    sent = await agent1.reply(conversation["id"], "Hello from the agent")
    received = await chat.reply(lambda m: m["id"] == sent["id"])
    await chat.send_raw({"type": "delivered", "ids": [received["id"]]})

    async def state() -> str:
        detail = await agent1.conversation(conversation["id"])
        return next(m["state"] for m in detail["messages"] if m["id"] == sent["id"])

    from tests.helpers import eventually

    assert await eventually(lambda: _is(state(), "delivered"))


async def test_agent_opening_the_conversation_marks_customer_messages_read(
    chat: ChatClient, agent1: AgentApi
) -> None:
    await chat.connect()
    ack = await chat.say("agent")
    await chat.reply()
    conversation = await agent1.claim_next()
    await agent1.conversation(conversation["id"])

    status = await chat.next("status", lambda f: f["message_id"] == ack["message"]["id"])
    assert status["state"] == "read"


async def test_history_timeline_is_complete_and_ordered(chat: ChatClient, agent1: AgentApi) -> None:
    await chat.connect()
    await chat.say("How do I track my order?")
    await chat.reply()
    await chat.say("talk to an agent")
    await chat.reply()
    conversation = await agent1.claim_next()
    await agent1.reply(conversation["id"], "I can see your order.")
    await agent1.close(conversation["id"])

    history = await agent1.history(conversation["customer"]["id"])
    kinds = [item["kind"] for item in history["items"]]
    assert kinds == [
        "message",
        "bot_answer",
        "message",
        "escalation",
        "system",
        "claim",
        "system",
        "agent_reply",
        "close",
        "system",
    ]
    bot_answer = history["items"][1]
    assert bot_answer["meta"]["article_id"] == "order-tracking"
    assert 0 < bot_answer["meta"]["confidence"] <= 1
    assert history["items"][3]["meta"]["reason"] == "customer_request"
    assert history["items"][5]["author_name"] == "Agent 1"
    stamps = [item["created_at"] for item in history["items"]]
    assert stamps == sorted(stamps)
    ids = [item["id"] for item in history["items"]]
    assert ids == sorted(ids)


async def test_history_pages_backwards(chat: ChatClient, agent1: AgentApi) -> None:
    await chat.connect()
    for question in ("hello", "How long does shipping take?", "thanks"):
        await chat.say(question)
        await chat.reply()
    customer_id = (await agent1.call("GET", "/api/v1/conversations"))["items"][0]["customer"]["id"]

    page = await agent1.history(customer_id, limit=4)
    older = await agent1.history(customer_id, limit=4, before=page["next_before"])

    assert len(page["items"]) == 4 and page["next_before"] == page["items"][0]["id"]
    assert [i["id"] for i in older["items"]] == [
        page["items"][0]["id"] - 2,
        page["items"][0]["id"] - 1,
    ]
    assert older["next_before"] is None


async def _is(value, expected: str) -> bool:  # type: ignore[no-untyped-def]
    return (await value) == expected


async def _conversation_id(chat: ChatClient, ack: dict) -> int:  # type: ignore[type-arg]
    welcome = await ChatClient(chat.client).connect(visitor_id=chat.visitor_id)
    return int(welcome["conversation"]["id"])
