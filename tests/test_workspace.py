"""The agent workspace end to end through the HTTP API, on SQLite and PostgreSQL: automatic
assignment by team, skills, capacity and fairness; presence and lost consoles; VIP and SLA
priority; SLA breaches raised to supervisors; transfer, internal notes, close with a
disposition, the satisfaction survey, reopening; the supervisor's view.

Time is a FrozenClock moved by the tests, and the desk's sweeps are run by hand where a test
is about what one sweep does; the background sweeper runs too, on the same clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from console.auth import create_agent
from routing.clock import FrozenClock
from routing.router import Router
from storage.db import Database
from storage.models import Customer
from storage.repos import conversations as conv_repo
from switchboard.app import ROUTER, create_app
from tests.conftest import PASSWORD, seed
from tests.helpers import AgentApi, ChatClient, eventually

WORKSPACE = """
default_team: general
teams:
  general: {assignment: auto}
  billing: {assignment: auto}
  thai: {assignment: auto, language_skills: true, channel_skills: true}
  desk: {assignment: manual}
rules:
  - team: billing
    keywords: [chargeback]
    skills: [product:cards]
  - team: billing
    keywords: [refund, invoice, คืนเงิน]
  - team: thai
    locales: [th]
vip_segments: [vip, gold]
sla:
  at_risk_minutes: 2
  policies:
    - first_response_minutes: 10
      next_response_minutes: 15
      resolution_hours: 8
    - segment: vip
      first_response_minutes: 3
      next_response_minutes: 5
      resolution_hours: 2
presence:
  disconnect_grace_seconds: 30
  on_disconnect: requeue
close:
  dispositions: [resolved, no_response, spam]
  require_disposition: true
  reopen_window_hours: 24
csat:
  enabled: true
  window_hours: 24
assignment:
  average_handle_minutes: 4
  sweep_seconds: 0.1
"""


class Desk:
    """One server with the test workspace, a frozen clock and named agents."""

    def __init__(self, client: TestClient, clock: FrozenClock) -> None:
        self.client = client
        self.clock = clock
        self.customers: list[ChatClient] = []

    @property
    def router(self) -> Router:
        return self.client.server.app[ROUTER]

    async def login(self, email: str) -> AgentApi:
        return await AgentApi.login(self.client, email, PASSWORD)

    async def customer(self, *lines: str, locale: str | None = None) -> ChatClient:
        chat = ChatClient(self.client)
        self.customers.append(chat)
        await chat.connect(locale=locale)
        for line in lines:
            await chat.say(line)
        return chat

    async def conversation_of(self, chat: ChatClient) -> int:
        welcome = await ChatClient(self.client).connect(visitor_id=chat.visitor_id)
        return int(welcome["conversation"]["id"])

    async def set_segment(self, chat: ChatClient, segment: str) -> None:
        """What a CRM import does (the customers API comes with customer 360)."""
        conv_id = await self.conversation_of(chat)
        async with self.router.db.transaction() as session:
            customer_id = (await conv_repo.get(session, conv_id)).customer_id
            await session.execute(
                update(Customer).where(Customer.id == customer_id).values(segment=segment)
            )


@pytest.fixture
async def desk(aiohttp_client: Any, make_settings: Any, tmp_path: Path) -> AsyncIterator[Desk]:
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(WORKSPACE, encoding="utf-8")
    settings = make_settings(workspace_file=str(workspace))
    await seed(settings.effective_database_url, agents=3)
    db = Database(settings.effective_database_url)
    clock = FrozenClock()
    try:
        await create_agent(
            db, clock, email="boss@example.com", name="Boss", password=PASSWORD, role="supervisor"
        )
    finally:
        await db.dispose()
    client = await aiohttp_client(create_app(settings, clock=clock))
    d = Desk(client, clock)
    yield d
    for chat in d.customers:
        await chat.close()


async def _away(*agents: AgentApi) -> None:
    for agent in agents:
        await agent.call("PATCH", "/api/v1/me", json={"presence": "away"})


async def _assignee(agent: AgentApi, conv_id: int) -> int | None:
    conv = await agent.conversation(conv_id)
    return conv["assignee"]["id"] if conv["assignee"] else None


async def _me(agent: AgentApi) -> dict[str, Any]:
    return await agent.call("GET", "/api/v1/me")


# ---- assignment ------------------------------------------------------------------------------


async def test_signing_in_is_online_and_a_handoff_is_assigned_without_a_click(desk: Desk) -> None:
    agent1 = await desk.login("agent1@example.com")
    me = await _me(agent1)
    assert me["presence"] == "online"
    assert me["capacity"] == {"chat": 3, "message": 5, "call": 1}

    chat = await desk.customer("I want to talk to a person")
    joined = await chat.reply(lambda m: "joined" in m["text"])
    assert joined["text"] == "Agent 1 has joined the conversation."

    conv_id = await desk.conversation_of(chat)
    conv = await agent1.conversation(conv_id)
    assert conv["status"] == "assigned" and conv["assignee"]["name"] == "Agent 1"
    assert conv["team"] == "general"
    claim = [m for m in conv["messages"] if m["kind"] == "claim"]
    assert claim[0]["text"] == "Assigned to Agent 1 automatically"
    assert claim[0]["meta"] == {"auto": True}
    mine = await agent1.call("GET", "/api/v1/conversations", params={"assignee": "me"})
    assert [c["id"] for c in mine["items"]] == [conv_id]
    metrics = await (await desk.client.get("/metrics")).text()
    assert 'switchboard_assignments_total{how="auto"} 1.0' in metrics
    assert 'switchboard_agents{presence="online"} 1.0' in metrics


async def test_assignment_is_fair_least_busy_first(desk: Desk) -> None:
    agent1 = await desk.login("agent1@example.com")
    agent2 = await desk.login("agent2@example.com")
    agent3 = await desk.login("agent3@example.com")
    await _away(agent3)
    chats = [await desk.customer("agent please") for _ in range(4)]
    ids = [await desk.conversation_of(c) for c in chats]
    owners = [await eventually(lambda i=i: _assignee(agent1, i)) for i in ids]

    me1, me2 = (await _me(agent1))["id"], (await _me(agent2))["id"]
    assert sorted(owners) == sorted([me1, me1, me2, me2])  # two each, nobody piles up
    assert owners[0] != owners[1]  # the second goes to the one still idle


async def test_keywords_route_to_a_team_and_only_its_agents_get_it(desk: Desk) -> None:
    boss = await desk.login("boss@example.com")
    agent1 = await desk.login("agent1@example.com")
    agent2 = await desk.login("agent2@example.com")
    await _away(boss, agent1, agent2)
    id1, id2 = (await _me(agent1))["id"], (await _me(agent2))["id"]
    await boss.call("PATCH", f"/api/v1/agents/{id1}", json={"teams": ["billing"]})
    await boss.call("PATCH", f"/api/v1/agents/{id2}", json={"teams": ["general"]})
    await agent2.call("PATCH", "/api/v1/me", json={"presence": "online"})

    chat = await desk.customer("I was charged twice, I want a refund", "agent")
    conv_id = await desk.conversation_of(chat)
    queued = await agent2.conversation(conv_id)
    assert queued["team"] == "billing"
    await desk.router.desk.assign_waiting()
    assert (await agent2.conversation(conv_id))["status"] == "queued"  # not agent2's team

    await agent1.call("PATCH", "/api/v1/me", json={"presence": "online"})
    assert await eventually(lambda: _assignee(agent1, conv_id)) == id1


async def test_a_thai_conversation_waits_for_an_agent_who_speaks_thai(desk: Desk) -> None:
    boss = await desk.login("boss@example.com")
    agent1 = await desk.login("agent1@example.com")
    await _away(boss)
    id1 = (await _me(agent1))["id"]
    chat = await desk.customer("ขอคุยกับพนักงานครับ", locale="th")
    conv_id = await desk.conversation_of(chat)
    await desk.router.desk.assign_waiting()
    conv = await agent1.conversation(conv_id)
    assert conv["team"] == "thai" and conv["status"] == "queued"

    await boss.call("PATCH", f"/api/v1/agents/{id1}", json={"skills": ["lang:th"]})
    await desk.router.desk.assign_waiting()
    assert (await agent1.conversation(conv_id))["status"] == "queued"  # the team wants chat too
    skills = ["lang:th", "channel:webchat"]
    await boss.call("PATCH", f"/api/v1/agents/{id1}", json={"skills": skills})
    assert await eventually(lambda: _assignee(agent1, conv_id)) == id1


async def test_a_rule_asking_for_a_skill_passes_over_a_less_busy_agent_without_it(
    desk: Desk,
) -> None:
    boss = await desk.login("boss@example.com")
    agent1 = await desk.login("agent1@example.com")
    agent2 = await desk.login("agent2@example.com")
    await _away(boss, agent2)
    id2 = (await _me(agent2))["id"]
    await boss.call("PATCH", f"/api/v1/agents/{id2}", json={"skills": ["product:cards"]})
    chat = await desk.customer("I want to raise a chargeback on my card", "agent")
    conv_id = await desk.conversation_of(chat)
    conv = await agent1.conversation(conv_id)
    assert conv["team"] == "billing" and conv["required_skills"] == ["product:cards"]
    await desk.router.desk.assign_waiting()
    assert (await agent1.conversation(conv_id))["status"] == "queued"  # agent1 is idle but lacks it

    await agent2.call("PATCH", "/api/v1/me", json={"presence": "online"})
    assert await eventually(lambda: _assignee(agent2, conv_id)) == id2


async def test_capacity_is_respected_and_a_close_frees_a_slot(desk: Desk) -> None:
    boss = await desk.login("boss@example.com")
    agent1 = await desk.login("agent1@example.com")
    await _away(boss)
    id1 = (await _me(agent1))["id"]
    await boss.call("PATCH", f"/api/v1/agents/{id1}", json={"capacity": {"chat": 1}})
    first = await desk.customer("agent")
    second = await desk.customer("agent")
    first_id, second_id = await desk.conversation_of(first), await desk.conversation_of(second)
    assert await eventually(lambda: _assignee(agent1, first_id)) == id1
    await desk.router.desk.assign_waiting()
    assert (await agent1.conversation(second_id))["status"] == "queued"

    await agent1.call(
        "POST", f"/api/v1/conversations/{first_id}/close", json={"disposition": "resolved"}
    )
    assert await eventually(lambda: _assignee(agent1, second_id)) == id1


async def test_manual_team_is_pulled_by_hand_not_assigned(desk: Desk) -> None:
    agent1 = await desk.login("agent1@example.com")
    chat = await desk.customer("agent")
    conv_id = await desk.conversation_of(chat)
    await eventually(lambda: _assignee(agent1, conv_id))
    await agent1.call(
        "POST",
        f"/api/v1/conversations/{conv_id}/transfer",
        json={"team": "desk", "note": "for the front desk"},
    )
    await desk.router.desk.assign_waiting()
    conv = await agent1.conversation(conv_id)
    assert conv["status"] == "queued" and conv["team"] == "desk"
    pulled = await agent1.claim_next()
    assert pulled["id"] == conv_id


async def test_backlog_drains_vip_first_when_an_agent_comes_online(desk: Desk) -> None:
    boss = await desk.login("boss@example.com")
    agent1 = await desk.login("agent1@example.com")
    await _away(boss, agent1)
    id1 = (await _me(agent1))["id"]
    await boss.call("PATCH", f"/api/v1/agents/{id1}", json={"capacity": {"chat": 1}})
    early = await desk.customer("hello")
    late = await desk.customer("hello")
    await desk.set_segment(late, "gold")  # a VIP segment of this workspace
    await early.say("agent")
    desk.clock.advance(30)
    await late.say("agent")
    notice = await late.reply(lambda m: "queue" in m["text"])
    assert "number 1 in the queue" in notice["text"]  # VIP goes ahead of the earlier one
    assert "No agent is online" in notice["text"]

    early_id, late_id = await desk.conversation_of(early), await desk.conversation_of(late)
    queue = await agent1.queue()
    assert [c["id"] for c in queue["items"]] == [late_id, early_id]
    assert queue["items"][0]["customer"]["segment"] == "gold"

    await agent1.call("PATCH", "/api/v1/me", json={"presence": "online"})
    assert await eventually(lambda: _assignee(agent1, late_id)) == id1
    assert (await agent1.conversation(early_id))["status"] == "queued"


async def test_customer_hears_position_and_estimated_wait(desk: Desk) -> None:
    boss = await desk.login("boss@example.com")
    agent1 = await desk.login("agent1@example.com")
    id1 = (await _me(agent1))["id"]
    await _away(boss)
    await boss.call("PATCH", f"/api/v1/agents/{id1}", json={"capacity": {"chat": 0}})
    first = await desk.customer("agent")
    notice = await first.reply(lambda m: "queue" in m["text"])
    assert "number 1 in the queue" in notice["text"]
    assert "estimated wait" not in notice["text"]  # next in line: no estimate to give
    second = await desk.customer("agent")
    notice = await second.reply(lambda m: "queue" in m["text"])
    # One agent online, one conversation ahead, 4 minutes a conversation (no history yet).
    assert "number 2 in the queue" in notice["text"]
    assert "The estimated wait is about 4 min." in notice["text"]


# ---- presence ---------------------------------------------------------------------------------


async def test_lost_console_goes_offline_and_its_conversations_go_to_a_colleague(
    desk: Desk,
) -> None:
    agent1 = await desk.login("agent1@example.com")
    chat = await desk.customer("agent")
    conv_id = await desk.conversation_of(chat)
    id1 = (await _me(agent1))["id"]
    assert await eventually(lambda: _assignee(agent1, conv_id)) == id1

    desk.clock.advance(60 + 31)  # presence timeout and the grace, with no ping from agent1
    agent2 = await desk.login("agent2@example.com")
    await desk.router.desk.sweep()
    id2 = (await _me(agent2))["id"]
    assert await eventually(lambda: _assignee(agent2, conv_id)) == id2
    agents = {a["id"]: a for a in (await agent2.call("GET", "/api/v1/agents"))["items"]}
    assert agents[id1]["presence"] == "offline"
    conv = await agent2.conversation(conv_id)
    notes = [m["text"] for m in conv["messages"] if m["kind"] == "system"]
    assert any("Agent 1 lost connection to the console" in n for n in notes)


async def test_going_away_keeps_conversations_and_signing_out_hands_them_on(desk: Desk) -> None:
    agent1 = await desk.login("agent1@example.com")
    chat = await desk.customer("agent")
    conv_id = await desk.conversation_of(chat)
    await eventually(lambda: _assignee(agent1, conv_id))
    await _away(agent1)
    assert (await agent1.conversation(conv_id))["status"] == "assigned"

    agent2 = await desk.login("agent2@example.com")
    await agent1.call("POST", "/api/v1/auth/logout")
    id2 = (await _me(agent2))["id"]
    assert await eventually(lambda: _assignee(agent2, conv_id)) == id2


async def test_bad_presence_is_a_clear_error(desk: Desk) -> None:
    agent1 = await desk.login("agent1@example.com")
    body = await agent1.call("PATCH", "/api/v1/me", expect=400, json={"presence": "busy"})
    assert body["error"]["code"] == "bad_presence"
    assert "online, away, offline" in body["error"]["message"]


# ---- SLA --------------------------------------------------------------------------------------


async def test_sla_at_risk_then_breached_is_raised_to_supervisors_once(desk: Desk) -> None:
    boss = await desk.login("boss@example.com")
    agent1 = await desk.login("agent1@example.com")
    await _away(boss, agent1)
    console = await desk.client.ws_connect("/api/v1/ws")
    await console.send_json({"type": "auth", "token": boss.token})
    assert (await console.receive_json())["type"] == "ready"

    chat = await desk.customer("agent")
    conv_id = await desk.conversation_of(chat)
    conv = await boss.conversation(conv_id)
    assert conv["sla"]["target"] == "first_response" and conv["sla"]["status"] == "ok"

    desk.clock.advance(9 * 60)
    assert (await boss.conversation(conv_id))["sla"]["status"] == "at_risk"
    overview = await boss.call("GET", "/api/v1/supervisor")
    assert [c["id"] for c in overview["sla"]["at_risk"]] == [conv_id]

    desk.clock.advance(2 * 60)
    await desk.router.desk.raise_breaches()  # or the background sweeper already did
    assert await desk.router.desk.raise_breaches() == 0  # raised once per target
    seen: list[dict[str, Any]] = []
    while not any(e.get("type") == "sla" for e in seen):
        seen.append(await console.receive_json(timeout=10))
    sla_event = next(e for e in seen if e["type"] == "sla")
    assert sla_event == {
        "type": "sla",
        "conversation_id": conv_id,
        "target": "first_response",
        "status": "breached",
    }
    conv = await boss.conversation(conv_id)
    assert conv["sla"]["status"] == "breached"
    assert conv["sla_breached"] == ["first_response"]
    assert any(m["text"].startswith("SLA breached: first response") for m in conv["messages"])
    overview = await boss.call("GET", "/api/v1/supervisor")
    assert [c["id"] for c in overview["sla"]["breached"]] == [conv_id]
    metrics = await (await desk.client.get("/metrics")).text()
    assert 'switchboard_sla_breaches_total{target="first_response"} 1.0' in metrics
    await console.close()


async def test_first_reply_meets_the_sla_and_the_next_customer_message_starts_the_next(
    desk: Desk,
) -> None:
    agent1 = await desk.login("agent1@example.com")
    chat = await desk.customer("agent")
    conv_id = await desk.conversation_of(chat)
    await eventually(lambda: _assignee(agent1, conv_id))
    desk.clock.advance(60)
    await agent1.reply(conv_id, "Hello, how can I help?")
    conv = await agent1.conversation(conv_id)
    assert conv["sla"]["target"] == "resolution"

    await chat.say("My parcel is late")
    conv = await agent1.conversation(conv_id)
    assert conv["sla"]["target"] == "next_response"
    due = conv["sla"]["due_at"]
    assert due.startswith("2026-01-05T09:16")  # 9:01 + 15 minutes


# ---- transfer, notes, close, survey, reopen ---------------------------------------------------


async def test_transfer_to_an_agent_with_a_note_the_customer_never_sees(desk: Desk) -> None:
    agent1 = await desk.login("agent1@example.com")
    chat = await desk.customer("agent")
    conv_id = await desk.conversation_of(chat)
    await eventually(lambda: _assignee(agent1, conv_id))
    agent2 = await desk.login("agent2@example.com")
    id2 = (await _me(agent2))["id"]

    note = await agent1.call(
        "POST",
        f"/api/v1/conversations/{conv_id}/notes",
        expect=201,
        json={"text": "Customer is upset about order 1234"},
    )
    assert note["kind"] == "note" and note["direction"] == "internal"
    moved = await agent1.call(
        "POST",
        f"/api/v1/conversations/{conv_id}/transfer",
        json={"agent_id": id2, "note": "Billing question, over to you"},
    )
    assert moved["assignee"]["id"] == id2
    transfer = next(m for m in moved["messages"] if m["kind"] == "transfer")
    assert transfer["text"] == (
        "Agent 1 transferred the conversation to Agent 2: Billing question, over to you"
    )
    joined = await chat.reply(lambda m: "Agent 2" in m["text"])
    assert joined["text"] == "Agent 2 has joined the conversation."

    refused = await agent1.reply(conv_id, "still me", expect=409)
    assert refused["error"]["code"] == "assigned_to_another"
    await agent2.reply(conv_id, "Hi, Agent 2 here")
    await chat.reply(lambda m: m["author"] == "agent")
    replay = await ChatClient(desk.client).connect(visitor_id=chat.visitor_id)
    seen = [m["text"] for m in replay["history"]]
    assert "Hi, Agent 2 here" in seen
    assert not any("order 1234" in t or "over to you" in t for t in seen)


async def test_transfer_errors_name_the_problem(desk: Desk) -> None:
    agent1 = await desk.login("agent1@example.com")
    agent2 = await desk.login("agent2@example.com")
    await _away(agent2)
    chat = await desk.customer("agent")
    conv_id = await desk.conversation_of(chat)
    await eventually(lambda: _assignee(agent1, conv_id))
    path = f"/api/v1/conversations/{conv_id}/transfer"
    cases = [
        ({"team": "nope", "note": "x"}, 400, "unknown_team"),
        ({"team": "billing", "agent_id": 1, "note": "x"}, 400, "bad_transfer"),
        ({"team": "billing", "note": "  "}, 400, "empty_note"),
        ({"team": "billing"}, 400, "missing_field"),
        ({"agent_id": 999, "note": "x"}, 400, "unknown_agent"),
    ]
    for body, status, code in cases:
        answer = await agent1.call("POST", path, expect=status, json=body)
        assert answer["error"]["code"] == code, (body, answer)
    await agent2.call("POST", "/api/v1/auth/logout")
    id2 = (await _me(agent1))["id"] + 1
    answer = await agent1.call("POST", path, expect=409, json={"agent_id": id2, "note": "x"})
    assert answer["error"]["code"] == "agent_offline"
    other = await desk.login("agent3@example.com")
    answer = await other.call("POST", path, expect=409, json={"team": "billing", "note": "x"})
    assert answer["error"]["code"] == "assigned_to_another"


async def test_close_needs_a_disposition_then_the_survey_lands_in_the_history(
    desk: Desk,
) -> None:
    agent1 = await desk.login("agent1@example.com")
    chat = await desk.customer("agent")
    conv_id = await desk.conversation_of(chat)
    await eventually(lambda: _assignee(agent1, conv_id))
    path = f"/api/v1/conversations/{conv_id}/close"
    missing = await agent1.call("POST", path, expect=400, json={})
    assert missing["error"]["code"] == "disposition_required"
    assert "resolved, no_response, spam" in missing["error"]["message"]
    wrong = await agent1.call("POST", path, expect=400, json={"disposition": "happy"})
    assert wrong["error"]["code"] == "unknown_disposition"

    closed = await agent1.call(
        "POST", path, json={"disposition": "resolved", "note": "refund issued"}
    )
    assert closed["status"] == "closed" and closed["disposition"] == "resolved"
    assert closed["csat"] == {"score": None, "comment": None, "state": "asked"}
    ask = await chat.reply(lambda m: "1 (poor) to 5" in m["text"])
    assert ask["author"] == "system"

    await chat.say("๔")  # Thai digit four
    follow = await chat.reply(lambda m: "anything you would like to add" in m["text"])
    assert follow["author"] == "system"
    await chat.say("Quick and friendly, thanks")
    await chat.reply(lambda m: m["text"] == "Thank you for your feedback.")

    conv = await agent1.conversation(conv_id)
    assert conv["status"] == "closed"
    assert conv["csat"] == {"score": 4, "comment": "Quick and friendly, thanks", "state": "done"}
    replay = await ChatClient(desk.client).connect(visitor_id=chat.visitor_id)
    shown = [m["text"] for m in replay["history"]]
    assert shown[-4:] == [
        "๔",
        "Thank you! Is there anything you would like to add? (optional)",
        "Quick and friendly, thanks",
        "Thank you for your feedback.",
    ]
    kinds = [(m["kind"], m["direction"]) for m in conv["messages"]]
    assert ("survey", "inbound") in kinds and ("note", "internal") in kinds
    history = await agent1.history(conv["customer"]["id"])
    surveys = [m for m in history["items"] if m["kind"] == "survey" and m["meta"].get("csat")]
    assert [m["meta"]["csat"] for m in surveys] == [4]

    boss = await desk.login("boss@example.com")
    figures = (await boss.call("GET", "/api/v1/supervisor"))["figures"]
    assert figures["csat_average"] == 4.0 and figures["csat_count"] == 1
    assert figures["closed_today"] == 1


async def test_writing_again_after_close_reopens_to_the_queue(desk: Desk) -> None:
    agent1 = await desk.login("agent1@example.com")
    chat = await desk.customer("agent")
    conv_id = await desk.conversation_of(chat)
    await eventually(lambda: _assignee(agent1, conv_id))
    await agent1.call(
        "POST", f"/api/v1/conversations/{conv_id}/close", json={"disposition": "resolved"}
    )
    await _away(agent1)
    desk.clock.advance(3600)
    await chat.say("Actually, one more thing about my order")  # not a rating: reopens
    conv = await agent1.conversation(conv_id)
    assert conv["status"] == "queued"
    assert conv["csat"]["state"] == "skipped"
    escalations = [m for m in conv["messages"] if m["kind"] == "escalation"]
    assert escalations[-1]["meta"]["reason"] == "reopened"


async def test_a_new_question_long_after_close_is_a_new_conversation(desk: Desk) -> None:
    agent1 = await desk.login("agent1@example.com")
    chat = await desk.customer("agent")
    conv_id = await desk.conversation_of(chat)
    await eventually(lambda: _assignee(agent1, conv_id))
    await agent1.call(
        "POST", f"/api/v1/conversations/{conv_id}/close", json={"disposition": "resolved"}
    )
    desk.clock.advance(25 * 3600)  # past the survey and the reopen windows
    await chat.say("What are your opening hours?")
    assert await desk.conversation_of(chat) != conv_id
    agent1 = await desk.login("agent1@example.com")  # the old token has expired
    conv = await agent1.conversation(conv_id)
    assert conv["status"] == "closed" and conv["csat"]["state"] == "asked"


# ---- supervisor --------------------------------------------------------------------------------


async def test_only_supervisors_see_the_supervisor_view_and_edit_agents(desk: Desk) -> None:
    agent1 = await desk.login("agent1@example.com")
    boss = await desk.login("boss@example.com")
    id1 = (await _me(agent1))["id"]
    denied = await agent1.call("GET", "/api/v1/supervisor", expect=403)
    assert denied["error"]["code"] == "supervisors_only"
    denied = await agent1.call("PATCH", f"/api/v1/agents/{id1}", expect=403, json={"teams": []})
    assert denied["error"]["code"] == "supervisors_only"

    bad = [
        ({"teams": ["nowhere"]}, "unknown_teams"),
        ({"teams": [3]}, "bad_teams"),
        ({"capacity": {"fax": 1}}, "bad_capacity"),
        ({"capacity": {"chat": -1}}, "bad_capacity"),
        ({"role": "king"}, "bad_role"),
    ]
    for body, code in bad:
        answer = await boss.call("PATCH", f"/api/v1/agents/{id1}", expect=400, json=body)
        assert answer["error"]["code"] == code, body
    await boss.call("PATCH", "/api/v1/agents/999", expect=404, json={"teams": []})

    edited = await boss.call(
        "PATCH",
        f"/api/v1/agents/{id1}",
        json={"teams": ["billing", "general"], "skills": ["lang:th", "product:cards"]},
    )
    assert edited["teams"] == ["billing", "general"]
    assert edited["skills"] == ["lang:th", "product:cards"]

    chat = await desk.customer("agent")
    conv_id = await desk.conversation_of(chat)
    await eventually(lambda: _assignee(agent1, conv_id))
    overview = await boss.call("GET", "/api/v1/supervisor")
    general = next(t for t in overview["teams"] if t["name"] == "general")
    assert general == {
        "name": "general",
        "mode": "auto",
        "waiting": 0,
        "longest_wait_seconds": 0,
        "agents_online": 1,  # the supervisor, in no team, works no queue
    }
    rows = {a["email"]: a for a in overview["agents"]}
    assert rows["agent1@example.com"]["load"] == {"chat": 1, "message": 0, "call": 0}
    assert overview["figures"]["assigned"] == 1 and overview["figures"]["agents_online"] == 1
    workspace = await agent1.call("GET", "/api/v1/workspace")
    assert [t["name"] for t in workspace["teams"]] == ["general", "billing", "thai", "desk"]
    assert workspace["dispositions"] == ["resolved", "no_response", "spam"]
