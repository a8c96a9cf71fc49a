"""Canned responses: managed by supervisors, filled in per conversation for agents."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from console.auth import create_agent
from routing import placeholders
from storage.models import AuditEvent
from storage.repos import agents as agent_repo
from switchboard.app import ROUTER
from tests.conftest import PASSWORD
from tests.helpers import AgentApi, ChatClient

PATH = "/api/v1/canned-responses"


async def _staff(
    client: TestClient, email: str, role: str, teams: list[str] | None = None
) -> AgentApi:
    router = client.app[ROUTER]
    agent = await create_agent(
        router.db,
        router.clock,
        email=email,
        name=email.split("@")[0].title(),
        password=PASSWORD,
        role=role,
    )
    if teams is not None:
        await _set_teams(client, email, teams)
    assert agent.role == role
    return await AgentApi.login(client, email, PASSWORD)


async def _set_teams(client: TestClient, email: str, teams: list[str]) -> None:
    db = client.app[ROUTER].db
    async with db.transaction() as session:
        agent = await agent_repo.by_email(session, email)
        assert agent is not None
        agent.teams = teams


@pytest.fixture
async def supervisor(client: TestClient) -> AgentApi:
    return await _staff(client, "supervisor@example.com", "supervisor")


async def _create(api: AgentApi, expect: int = 201, **body: Any) -> Any:
    return await api.call("POST", PATH, expect=expect, json=body)


async def _list(api: AgentApi, **params: Any) -> list[dict[str, Any]]:
    return (await api.call("GET", PATH, params=params))["items"]


async def _delete(api: AgentApi, response_id: int | str) -> tuple[int, Any]:
    resp = await api.client.delete(f"{PATH}/{response_id}", headers=api.headers)
    body = await resp.read()
    return resp.status, (await resp.json() if body else None)


async def test_a_supervisor_creates_one_and_an_agent_gets_it_filled_in_for_a_web_chat(
    client: TestClient, chat: ChatClient, supervisor: AgentApi, agent1: AgentApi
) -> None:
    await chat.connect()
    await chat.say("agent")
    await chat.reply()
    [queued] = (await agent1.queue())["items"]

    created = await _create(
        supervisor,
        shortcut=" Greet ",
        title=" Greeting ",
        text="Hi {first_name}, I'm {agent_name}. Ref {reference} on {channel}{subject}. {{literal}}",
    )
    items = await _list(agent1, conversation_id=queued["id"])
    plain = await _list(agent1)

    assert created["shortcut"] == "greet" and created["title"] == "Greeting"
    assert created["team"] is None and created["updated_at"]
    assert set(created) == {"id", "shortcut", "title", "text", "team", "updated_at"}
    [item] = items
    assert item["id"] == created["id"] and item["text"] == created["text"]
    # A web-chat visitor has no name: "customer" stands in; no subject renders as nothing.
    assert item["rendered"] == (
        f"Hi customer, I'm Agent 1. Ref {queued['reference']} on webchat. {{literal}}"
    )
    assert plain == [created]


async def test_the_customers_name_and_the_reference_are_filled_in(
    client: TestClient, supervisor: AgentApi, agent1: AgentApi
) -> None:
    router = client.app[ROUTER]
    conv = await router.open_conversation(
        "sms", "+66812345678", "called in", display_name="สมชาย ใจดี"
    )
    await _create(
        supervisor,
        shortcut="th-hello",
        title="ทักทาย",
        text="สวัสดีค่ะ คุณ{first_name} ({customer_name}) เลขอ้างอิง {reference} — {agent_name}",
    )

    [item] = await _list(agent1, conversation_id=conv.id)

    assert item["rendered"] == f"สวัสดีค่ะ คุณสมชาย (สมชาย ใจดี) เลขอ้างอิง {conv.reference} — Agent 1"


async def test_search_is_case_insensitive_over_shortcut_title_and_text(
    supervisor: AgentApi, agent1: AgentApi
) -> None:
    await _create(supervisor, shortcut="greet", title="Greeting", text="Hello {first_name}!")
    await _create(supervisor, shortcut="refund", title="Refund policy", text="Refunds take 5 days.")
    await _create(supervisor, shortcut="track", title="Where is it", text="Your TRACKING link: …")
    await _create(supervisor, shortcut="discount", title="50% off", text="Half price 今天.")

    def shortcuts(items: list[dict[str, Any]]) -> list[str]:
        return [i["shortcut"] for i in items]

    assert shortcuts(await _list(agent1, q="REFUND")) == ["refund"]
    assert shortcuts(await _list(agent1, q="tracking")) == ["track"]
    assert shortcuts(await _list(agent1, q="GrEe")) == ["greet"]
    assert shortcuts(await _list(agent1, q="今天")) == ["discount"]
    assert shortcuts(await _list(agent1, q="%")) == ["discount"]  # no LIKE wildcards
    assert shortcuts(await _list(agent1, q="_")) == ["greet"]  # {first_name}: no wildcard
    assert shortcuts(await _list(agent1, q="nothing like it")) == []
    assert shortcuts(await _list(agent1, q="  ")) == ["discount", "greet", "refund", "track"]


async def test_agents_see_shared_responses_and_their_own_teams(
    client: TestClient, supervisor: AgentApi, agent1: AgentApi, agent2: AgentApi
) -> None:
    await _create(supervisor, shortcut="everyone", title="For all", text="Hello")
    await _create(supervisor, shortcut="billing", title="Invoices", text="Invoice", team="billing")
    await _create(supervisor, shortcut="tech", title="Reboot", text="Reboot it", team="tech")
    await _set_teams(client, "agent1@example.com", ["billing", "sales"])
    manager = await _staff(client, "km@example.com", "knowledge_manager", teams=["sales"])

    def shortcuts(items: list[dict[str, Any]]) -> set[str]:
        return {i["shortcut"] for i in items}

    everything = {"everyone", "billing", "tech"}
    assert shortcuts(await _list(agent1)) == {"everyone", "billing"}
    assert shortcuts(await _list(agent1, q="reboot")) == set()
    assert shortcuts(await _list(agent2)) == everything  # in no team: sees all
    assert shortcuts(await _list(supervisor)) == everything
    assert shortcuts(await _list(manager)) == everything


async def test_only_supervisors_admins_and_knowledge_managers_may_change_them(
    client: TestClient, supervisor: AgentApi, agent1: AgentApi
) -> None:
    created = await _create(supervisor, shortcut="greet", title="Greeting", text="Hello")

    refused = await _create(agent1, expect=403, shortcut="mine", title="Mine", text="Hi")
    edit = await agent1.call(
        "PATCH", f"{PATH}/{created['id']}", expect=403, json={"title": "Hijacked"}
    )
    status, deleted = await _delete(agent1, created["id"])

    assert refused["error"]["code"] == "forbidden" and set(refused["error"]) == {"code", "message"}
    assert edit["error"]["code"] == "forbidden"
    assert status == 403 and deleted["error"]["code"] == "forbidden"
    assert [i["title"] for i in await _list(agent1)] == ["Greeting"]
    manager = await _staff(client, "km@example.com", "knowledge_manager")
    admin = await _staff(client, "admin@example.com", "admin")
    await _create(manager, shortcut="km", title="From KM", text="Hi")
    await _create(admin, shortcut="adm", title="From admin", text="Hi")


async def test_a_bad_placeholder_is_refused_naming_it_and_the_allowed_ones(
    supervisor: AgentApi,
) -> None:
    unknown = await _create(
        supervisor, expect=400, shortcut="x", title="X", text="Hi {customer_nmae}"
    )
    malformed = await _create(
        supervisor, expect=400, shortcut="x", title="X", text="Hi {customer_name"
    )
    attribute = await _create(
        supervisor, expect=400, shortcut="x", title="X", text="{customer_name.upper}"
    )

    assert unknown["error"]["code"] == "bad_placeholder"
    message = unknown["error"]["message"]
    assert "{customer_nmae}" in message
    assert all(f"{{{name}}}" in message for name in placeholders.PLACEHOLDERS)
    assert malformed["error"]["code"] == "bad_placeholder"
    assert attribute["error"]["code"] == "bad_placeholder"
    assert "{customer_name.upper}" in attribute["error"]["message"]
    assert await _list(supervisor) == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"shortcut": "two words", "title": "T", "text": "x"}, "bad_shortcut"),
        ({"shortcut": "ทักทาย", "title": "T", "text": "x"}, "bad_shortcut"),
        ({"shortcut": "a" * 65, "title": "T", "text": "x"}, "bad_shortcut"),
        ({"shortcut": "ok", "title": "  ", "text": "x"}, "bad_title"),
        ({"shortcut": "ok", "title": "T" * 201, "text": "x"}, "bad_title"),
        ({"shortcut": "ok", "title": "T", "text": ""}, "bad_text"),
        ({"shortcut": "ok", "title": "T", "text": "x" * 4001}, "bad_text"),
        ({"shortcut": "ok", "title": "T", "text": "x", "team": "t" * 65}, "bad_team"),
        ({"shortcut": "ok", "title": "T"}, "missing_field"),
        ({"shortcut": "ok", "title": "T", "text": "x", "owner": 1}, "unknown_field"),
        ({"shortcut": "ok", "title": 5, "text": "x"}, "bad_field"),
    ],
)
async def test_bad_input_is_a_400_naming_it(
    supervisor: AgentApi, body: dict[str, Any], code: str
) -> None:
    refused = await _create(supervisor, expect=400, **body)

    assert refused["error"]["code"] == code


async def test_a_shortcut_is_unique_whatever_its_case(supervisor: AgentApi) -> None:
    first = await _create(supervisor, shortcut="greet", title="Greeting", text="Hello")
    other = await _create(supervisor, shortcut="bye", title="Goodbye", text="Bye")

    again = await _create(supervisor, expect=409, shortcut="GREET", title="Again", text="Hi")
    renamed = await supervisor.call(
        "PATCH", f"{PATH}/{other['id']}", expect=409, json={"shortcut": "Greet"}
    )

    assert again["error"]["code"] == "duplicate_shortcut" and "greet" in again["error"]["message"]
    assert renamed["error"]["code"] == "duplicate_shortcut"
    assert [(i["id"], i["shortcut"]) for i in await _list(supervisor)] == [
        (other["id"], "bye"),
        (first["id"], "greet"),
    ]


async def test_editing_changes_only_the_fields_given(
    client: TestClient, supervisor: AgentApi, agent1: AgentApi
) -> None:
    created = await _create(
        supervisor, shortcut="greet", title="Greeting", text="Hello", team="billing"
    )
    url = f"{PATH}/{created['id']}"

    edited = await supervisor.call(
        "PATCH", url, json={"title": "Welcome", "text": "Hi {agent_name}"}
    )
    shared = await supervisor.call("PATCH", url, json={"team": None, "shortcut": "GREET"})
    bad = await supervisor.call("PATCH", url, expect=400, json={"text": "Hi {name}"})
    unchanged = await supervisor.call("PATCH", url, json={})

    assert edited == {
        **created,
        "title": "Welcome",
        "text": "Hi {agent_name}",
        "updated_at": edited["updated_at"],
    }
    assert shared["team"] is None and shared["shortcut"] == "greet" and shared["title"] == "Welcome"
    assert bad["error"]["code"] == "bad_placeholder" and "{name}" in bad["error"]["message"]
    assert unchanged == shared
    await _set_teams(client, "agent1@example.com", ["tech"])
    assert [i["text"] for i in await _list(agent1)] == ["Hi {agent_name}"]


async def test_deleting_and_unknown_ids(
    client: TestClient, supervisor: AgentApi, agent1: AgentApi
) -> None:
    created = await _create(supervisor, shortcut="greet", title="Greeting", text="Hello")

    status, body = await _delete(supervisor, created["id"])
    again_status, again = await _delete(supervisor, created["id"])
    missing_edit = await supervisor.call(
        "PATCH", f"{PATH}/{created['id']}", expect=404, json={"title": "Gone"}
    )
    bad_id = await supervisor.call("PATCH", f"{PATH}/abc", expect=400, json={"title": "x"})
    no_conversation = await agent1.call(
        "GET", PATH, expect=404, params={"conversation_id": "987654"}
    )
    bad_conversation = await agent1.call("GET", PATH, expect=400, params={"conversation_id": "x"})

    assert status == 204 and body is None
    assert await _list(agent1) == []
    assert again_status == 404 and again["error"]["code"] == "canned_response_not_found"
    assert missing_edit["error"]["code"] == "canned_response_not_found"
    assert bad_id["error"]["code"] == "bad_id"
    assert no_conversation["error"]["code"] == "conversation_not_found"
    assert bad_conversation["error"]["code"] == "bad_id"


async def test_changes_are_audited_with_the_staff_members_email(
    client: TestClient, supervisor: AgentApi
) -> None:
    created = await _create(supervisor, shortcut="greet", title="Greeting", text="Hello")
    await supervisor.call("PATCH", f"{PATH}/{created['id']}", json={"title": "Welcome"})
    await supervisor.call("PATCH", f"{PATH}/{created['id']}", json={"title": "Welcome"})  # no-op
    await _delete(supervisor, created["id"])

    async with client.app[ROUTER].db.transaction() as session:
        events = list((await session.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars())

    assert [(e.actor, e.action, e.target) for e in events] == [
        ("supervisor@example.com", "canned_response.create", f"canned_response:{created['id']}"),
        ("supervisor@example.com", "canned_response.update", f"canned_response:{created['id']}"),
        ("supervisor@example.com", "canned_response.delete", f"canned_response:{created['id']}"),
    ]
    assert events[1].data == {"shortcut": "greet", "changed": ["title"]}


async def test_listing_needs_a_token(client: TestClient) -> None:
    resp = await client.get(PATH)

    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "missing_token"


# ---- placeholders, without a database --------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "No placeholders at all",
        "Hi {customer_name}, {first_name}! {agent_name} {reference} {channel} {subject}",
        "Literal {{braces}} and {{{customer_name}}}",
        "ภาษาไทย {first_name} 中文 {customer_name} فارسی {reference}",
    ],
)
def test_check_accepts_the_known_placeholders(text: str) -> None:
    placeholders.check(text)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("Hi {name}", "{name}"),
        ("Hi {Customer_Name}", "{Customer_Name}"),
        ("Hi {}", "{}"),
        ("Hi {0}", "{0}"),
        ("{customer_name.__class__}", "{customer_name.__class__}"),
        ("{customer_name[0]}", "{customer_name[0]}"),
        ("{customer_name!r}", "{customer_name!r}"),
        ("{customer_name:>20}", "{customer_name:>20}"),
        ("{ชื่อ}", "{ชื่อ}"),
        ("Hi {customer_name", "malformed"),
        ("Hi customer_name}", "malformed"),
        ("Hi {customer_name}}", "malformed"),
    ],
)
def test_check_refuses_naming_the_problem(text: str, named: str) -> None:
    with pytest.raises(ValueError) as caught:
        placeholders.check(text)

    assert named in str(caught.value)
    assert "{customer_name}, {first_name}, {agent_name}" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("Ana Souza", "Ana"),
        ("สมชาย ใจดี", "สมชาย"),
        ("王小明", "王小明"),
        ("علی رضایی", "علی"),
        ("محمد\u200cرضا کریمی", "محمد\u200cرضا"),  # a ZWNJ joins a Persian name: not a space
        ("  Ana  ", "Ana"),
    ],
)
def test_first_name_is_the_first_word_of_the_display_name(name: str, first: str) -> None:
    assert placeholders.first_name(name) == first
    assert placeholders.render("Hi {first_name}", {"customer_name": name}) == f"Hi {first}"


def test_render_fills_values_and_falls_back() -> None:
    text = "Dear {customer_name} ({first_name}), {agent_name} here about {reference}{subject}."

    assert (
        placeholders.render(
            text,
            {"customer_name": "王小明", "agent_name": "Agent 1", "reference": "7KQ2M9XA"},
        )
        == "Dear 王小明 (王小明), Agent 1 here about 7KQ2M9XA."
    )
    assert placeholders.render(text, {}) == "Dear customer (customer),  here about ."
    assert (
        placeholders.render("{first_name}", {"customer_name": "علی رضایی", "first_name": "Ali"})
        == "Ali"
    )


def test_render_inserts_values_as_they_are() -> None:
    values = {"customer_name": "{agent_name} {0.__class__}", "agent_name": "Agent 1"}

    assert placeholders.render("{{x}} {customer_name}", values) == "{x} {agent_name} {0.__class__}"


def test_render_leaves_a_text_that_does_not_check_as_it_is() -> None:
    assert placeholders.render("Hi {customer_name", {"customer_name": "Ana"}) == "Hi {customer_name"
    assert (
        placeholders.render("Hi {nope} {customer_name}", {"customer_name": "Ana"})
        == "Hi {nope} Ana"
    )


async def test_a_team_must_exist_in_the_workspace(client: TestClient) -> None:
    supervisor = await _staff(client, "lead@example.com", "supervisor")
    answer = await supervisor.call(
        "POST",
        "/api/v1/canned-responses",
        expect=400,
        json={"shortcut": "x", "title": "X", "text": "X", "team": "astronauts"},
    )
    assert answer["error"]["code"] == "unknown_team"
    assert "general, billing, tech" in answer["error"]["message"]
