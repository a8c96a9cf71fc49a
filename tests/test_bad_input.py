"""Bad input never breaks anything: every refusal is a 4xx naming the problem, never a 500.

The staff JSON API answers `{"error":{"code","message"}}`; the customer chat socket answers an
`error` frame and stays open and usable."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from channels.visitor_ids import VisitorIds
from routing.clock import FrozenClock
from switchboard.app import create_app
from switchboard.settings import Settings
from tests.conftest import PASSWORD, seed
from tests.helpers import AgentApi, ChatClient

LOGIN = "/api/v1/auth/login"
JSON = {"Content-Type": "application/json"}


async def refused(resp: ClientResponse, status: int) -> str:
    """The error code of a refused request, after checking its status and shape."""
    assert resp.content_type == "application/json", (resp.status, await resp.text())
    body = await resp.json()
    assert resp.status == status, (resp.status, body)
    assert set(body) == {"error"}, body
    assert body["error"]["message"], body
    return str(body["error"]["code"])


@pytest.fixture
async def assigned(chat: ChatClient, agent1: AgentApi) -> dict[str, Any]:
    """A conversation agent 1 has claimed, so agent 1 may reply in it."""
    await chat.connect()
    await chat.say("I want to talk to a person")
    await chat.reply()
    return await agent1.claim_next()


# ---- request bodies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(b'{"email": "agent1@example.com", "password": ', "bad_json", id="truncated"),
        pytest.param(b"{'email': 'agent1@example.com'}", "bad_json", id="single-quotes"),
        pytest.param(b"", "bad_json", id="empty-body"),
        pytest.param(b'["agent1@example.com", "secret"]', "bad_json", id="array"),
        pytest.param(b'"agent1@example.com"', "bad_json", id="string"),
        pytest.param(b"null", "bad_json", id="null"),
        pytest.param(
            b'{"email": "agent1@example.com", "password": "x", "remember": true}',
            "unknown_field",
            id="unknown-field",
        ),
        pytest.param(b'{"email": "agent1@example.com"}', "missing_field", id="missing-password"),
        pytest.param(b"{}", "missing_field", id="missing-both"),
        pytest.param(b'{"email": 42, "password": "x"}', "bad_field", id="number-for-string"),
        pytest.param(b'{"email": "a@b.c", "password": true}', "bad_field", id="bool-for-string"),
        pytest.param(b'{"email": "a@b.c", "password": null}', "bad_field", id="null-for-string"),
        pytest.param(b'{"email": ["a@b.c"], "password": "x"}', "bad_field", id="list-for-string"),
        pytest.param(
            b'{"email": "caf\xe9@example.com", "password": "x"}', "invalid_utf8", id="latin-1"
        ),
        pytest.param(b'\xff\xfe{"email": 1}', "invalid_utf8", id="utf-16-bom"),
        pytest.param(b"[" * 30_000 + b"]" * 30_000, "too_deep", id="deep-nesting"),
        pytest.param(b'{"email": ' * 5_000, "too_deep", id="deep-unclosed"),
        pytest.param(
            b'{"email": "agent1@example.com\\u0000", "password": "x"}', "bad_field", id="nul-char"
        ),
        pytest.param(
            b'{"email": "agent1@example.com", "password": "\\ud800"}',
            "bad_field",
            id="lone-surrogate",
        ),
    ],
)
async def test_bad_login_bodies_are_refused_with_a_code_naming_the_problem(
    client: TestClient, body: bytes, code: str
) -> None:
    resp = await client.post(LOGIN, data=body, headers=JSON)

    assert await refused(resp, 400) == code


async def test_the_error_message_names_the_offending_field(client: TestClient) -> None:
    unknown = await client.post(
        LOGIN, json={"email": "a@b.c", "password": "x", "remember_me": True}
    )
    missing = await client.post(LOGIN, json={"email": "a@b.c"})
    mistyped = await client.post(LOGIN, json={"email": 7, "password": "x"})

    assert "remember_me" in (await unknown.json())["error"]["message"]
    assert "password" in (await missing.json())["error"]["message"]
    assert "email" in (await mistyped.json())["error"]["message"]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
async def test_a_body_that_is_not_json_is_refused_as_unsupported_media_type(
    client: TestClient, content_type: str
) -> None:
    body = json.dumps({"email": "agent1@example.com", "password": PASSWORD})
    resp = await client.post(LOGIN, data=body, headers={"Content-Type": content_type})

    assert await refused(resp, 415) == "unsupported_media_type"


async def test_a_json_body_without_any_content_type_is_accepted(client: TestClient) -> None:
    body = json.dumps({"email": "agent1@example.com", "password": PASSWORD}).encode()
    resp = await client.post(LOGIN, data=body, skip_auto_headers=["Content-Type"])

    assert resp.status == 200, await resp.text()
    assert (await resp.json())["agent"]["email"] == "agent1@example.com"


async def test_an_oversized_body_is_refused_with_413(
    client: TestClient, agent1: AgentApi, assigned: dict[str, Any]
) -> None:
    huge = json.dumps({"text": "a" * (2 * 1024 * 1024)})
    resp = await client.post(
        f"/api/v1/conversations/{assigned['id']}/messages",
        data=huge,
        headers={**agent1.headers, **JSON},
    )

    assert await refused(resp, 413) == "too_large"
    detail = await agent1.conversation(assigned["id"])
    assert [m for m in detail["messages"] if m["kind"] == "agent_reply"] == []


# ---- agent replies -------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", "\n\t  \n"])
async def test_an_empty_or_blank_reply_is_refused(
    agent1: AgentApi, assigned: dict[str, Any], text: str
) -> None:
    body = await agent1.reply(assigned["id"], text, expect=400)

    assert body["error"]["code"] == "empty_message"
    detail = await agent1.conversation(assigned["id"])
    assert [m for m in detail["messages"] if m["kind"] == "agent_reply"] == []


async def test_a_reply_over_the_character_limit_is_refused_and_one_at_the_limit_is_sent(
    agent1: AgentApi, assigned: dict[str, Any], settings: Settings
) -> None:
    limit = settings.chat.max_message_chars

    too_long = await agent1.reply(assigned["id"], "x" * (limit + 1), expect=400)
    at_limit = await agent1.reply(assigned["id"], "y" * limit)

    assert too_long["error"]["code"] == "message_too_long"
    assert str(limit) in too_long["error"]["message"]
    assert at_limit["text"] == "y" * limit


@pytest.mark.parametrize("text", ["before\x00after", "half an emoji \ud83d"])
async def test_a_reply_with_a_nul_or_an_unpaired_surrogate_is_refused(
    client: TestClient, agent1: AgentApi, assigned: dict[str, Any], text: str
) -> None:
    resp = await client.post(
        f"/api/v1/conversations/{assigned['id']}/messages",
        data=json.dumps({"text": text}),
        headers={**agent1.headers, **JSON},
    )

    assert await refused(resp, 400) == "bad_field"


# ---- ids -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/conversations/999999", None),
        ("POST", "/api/v1/conversations/999999/claim", None),
        ("POST", "/api/v1/conversations/999999/messages", {"text": "hello?"}),
        ("POST", "/api/v1/conversations/999999/close", None),
        ("POST", "/api/v1/conversations/999999/handback", None),
    ],
)
async def test_an_unknown_conversation_is_404_conversation_not_found(
    client: TestClient, agent1: AgentApi, method: str, path: str, body: Any
) -> None:
    resp = await client.request(method, path, headers=agent1.headers, json=body)

    assert await refused(resp, 404) == "conversation_not_found"


async def test_an_unknown_customer_is_404_customer_not_found(
    client: TestClient, agent1: AgentApi
) -> None:
    profile = await client.get("/api/v1/customers/999999", headers=agent1.headers)
    history = await client.get("/api/v1/customers/999999/history", headers=agent1.headers)

    assert await refused(profile, 404) == "customer_not_found"
    assert await refused(history, 404) == "customer_not_found"


@pytest.mark.parametrize("bad_id", ["abc", "1.5", "0", "-3", "1e3", "99999999999999999999999"])
async def test_a_conversation_id_that_is_not_a_positive_whole_number_is_400(
    client: TestClient, agent1: AgentApi, bad_id: str
) -> None:
    resp = await client.get(f"/api/v1/conversations/{bad_id}", headers=agent1.headers)

    assert await refused(resp, 400) == "bad_id"


async def test_bad_query_parameters_are_400_naming_them(
    client: TestClient, agent1: AgentApi, assigned: dict[str, Any]
) -> None:
    customer = assigned["customer"]["id"]
    bad_status = await client.get(
        "/api/v1/conversations", params={"status": "sleeping"}, headers=agent1.headers
    )
    bad_limit = await client.get(
        f"/api/v1/customers/{customer}/history", params={"limit": "lots"}, headers=agent1.headers
    )
    bad_before = await client.get(
        f"/api/v1/customers/{customer}/history", params={"before": "x"}, headers=agent1.headers
    )

    assert await refused(bad_status, 400) == "bad_status"
    assert await refused(bad_limit, 400) == "bad_limit"
    assert await refused(bad_before, 400) == "bad_id"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/kb/articles?q=a%00b",
        "/api/v1/kb/articles?category=%00&tag=%00&locale=%00",
        "/api/v1/queue?team=%00",
        "/api/v1/canned-responses?q=%00",
        "/api/v1/kb/articles/a%00b/en",
        "/api/v1/kb/articles?q%00=x",
    ],
)
async def test_a_nul_in_a_path_or_query_parameter_is_400_naming_it(
    client: TestClient, agent1: AgentApi, path: str
) -> None:
    # No database column takes a NUL: PostgreSQL answered these with a 500.
    resp = await client.get(path, headers=agent1.headers)

    assert await refused(resp, 400) == "bad_parameter"


# ---- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        pytest.param({}, "missing_token", id="no-header"),
        pytest.param({"Authorization": ""}, "missing_token", id="empty-header"),
        pytest.param({"Authorization": "Bearer "}, "missing_token", id="bearer-without-token"),
        pytest.param({"Authorization": "Basic YWdlbnQ6cGFzcw=="}, "missing_token", id="basic"),
        pytest.param({"Authorization": "Bearer not-a-real-token"}, "invalid_token", id="garbage"),
        pytest.param({"Authorization": "Bearer " + "A" * 4000}, "invalid_token", id="huge"),
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v1/me"), ("POST", "/api/v1/queue/claim")],
)
async def test_calls_without_a_valid_token_are_401(
    client: TestClient, method: str, path: str, headers: dict[str, str], code: str
) -> None:
    resp = await client.request(method, path, headers=headers)

    assert await refused(resp, 401) == code


async def test_a_token_stops_working_once_it_has_expired(
    aiohttp_client: Any, settings: Settings
) -> None:
    await seed(settings.effective_database_url, agents=1, kb=None)
    clock = FrozenClock()
    client = await aiohttp_client(create_app(settings, clock=clock))
    agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)
    ttl_seconds = settings.auth.token_ttl_hours * 3600

    clock.advance(ttl_seconds - 60)
    still_valid = await client.get("/api/v1/me", headers=agent.headers)
    clock.advance(120)
    expired = await client.get("/api/v1/me", headers=agent.headers)

    assert still_valid.status == 200, await still_valid.text()
    assert await refused(expired, 401) == "token_expired"


async def test_a_token_is_refused_after_logout(client: TestClient, agent1: AgentApi) -> None:
    logout = await client.post("/api/v1/auth/logout", headers=agent1.headers)
    assert logout.status == 200, await logout.text()

    again = await client.get("/api/v1/me", headers=agent1.headers)
    second_logout = await client.post("/api/v1/auth/logout", headers=agent1.headers)

    assert await refused(again, 401) == "invalid_token"
    assert await refused(second_logout, 401) == "invalid_token"


async def test_logging_out_one_session_leaves_the_agents_other_sessions_working(
    client: TestClient,
) -> None:
    laptop = await AgentApi.login(client, "agent1@example.com", PASSWORD)
    phone = await AgentApi.login(client, "agent1@example.com", PASSWORD)

    await laptop.call("POST", "/api/v1/auth/logout")

    me = await phone.call("GET", "/api/v1/me")
    assert me["email"] == "agent1@example.com"


async def test_a_wrong_password_and_an_unknown_email_get_the_same_401(client: TestClient) -> None:
    wrong_password = await client.post(
        LOGIN, json={"email": "agent1@example.com", "password": "not the password"}
    )
    unknown_email = await client.post(
        LOGIN, json={"email": "nobody@example.com", "password": PASSWORD}
    )

    assert await refused(wrong_password, 401) == "bad_credentials"
    assert await refused(unknown_email, 401) == "bad_credentials"
    assert (await wrong_password.json()) == (await unknown_email.json())


# ---- routing -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v2/queue", "/api/v1/conversations/1/x"])
async def test_an_unknown_api_path_is_a_json_404(
    client: TestClient, agent1: AgentApi, path: str
) -> None:
    resp = await client.get(path, headers=agent1.headers)

    assert await refused(resp, 404) == "not_found"


async def test_a_wrong_method_on_an_api_path_is_a_json_405(
    client: TestClient, agent1: AgentApi
) -> None:
    resp = await client.delete("/api/v1/queue", headers=agent1.headers)

    assert await refused(resp, 405) == "method_not_allowed"


# ---- the customer chat socket --------------------------------------------------------------

LONG_IDS = list(range(1, 502))


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param('{"type": "message", "text": ', "bad_json", id="truncated-json"),
        pytest.param("hello", "bad_json", id="not-json"),
        pytest.param([{"type": "ping"}], "bad_frame", id="array"),
        pytest.param('"just a string"', "bad_frame", id="json-string"),
        pytest.param(None, "bad_frame", id="null"),
        pytest.param({"type": "shout", "text": "HI"}, "unknown_type", id="unknown-type"),
        pytest.param({"text": "no type at all"}, "unknown_type", id="missing-type"),
        pytest.param({"type": 7}, "unknown_type", id="numeric-type"),
        pytest.param({"type": ["message"]}, "unknown_type", id="list-type"),
        pytest.param({"type": {"a": 1}}, "unknown_type", id="object-type"),
        pytest.param(
            {"type": "message", "client_id": "c-1", "text": "hi", "urgent": True},
            "unknown_field",
            id="unknown-field",
        ),
        pytest.param({"type": "hello"}, "already_greeted", id="second-hello"),
        pytest.param(
            {"type": "message", "client_id": "c-1", "text": ""}, "empty_message", id="empty"
        ),
        pytest.param(
            {"type": "message", "client_id": "c-1", "text": " \n\t "}, "empty_message", id="blank"
        ),
        pytest.param({"type": "message", "client_id": "c-1"}, "bad_text", id="no-text"),
        pytest.param({"type": "message", "client_id": "c-1", "text": 5}, "bad_text", id="int-text"),
        pytest.param(
            {"type": "message", "client_id": "c-1", "text": "\x00\ud83d"},
            "empty_message",
            id="only-unstorable-characters",
        ),
        pytest.param({"type": "message", "text": "hi"}, "bad_client_id", id="no-client-id"),
        pytest.param(
            {"type": "message", "client_id": "", "text": "hi"}, "bad_client_id", id="empty-id"
        ),
        pytest.param(
            {"type": "message", "client_id": "has spaces", "text": "hi"},
            "bad_client_id",
            id="spaces-in-id",
        ),
        pytest.param(
            {"type": "message", "client_id": "x" * 65, "text": "hi"},
            "bad_client_id",
            id="id-too-long",
        ),
        pytest.param(
            {"type": "message", "client_id": 12, "text": "hi"}, "bad_client_id", id="numeric-id"
        ),
        pytest.param({"type": "delivered"}, "bad_ids", id="delivered-without-ids"),
        pytest.param({"type": "delivered", "ids": 12}, "bad_ids", id="ids-not-a-list"),
        pytest.param({"type": "delivered", "ids": ["12"]}, "bad_ids", id="string-ids"),
        pytest.param({"type": "delivered", "ids": [1.5]}, "bad_ids", id="float-ids"),
        pytest.param({"type": "delivered", "ids": [True]}, "bad_ids", id="bool-ids"),
        pytest.param({"type": "delivered", "ids": [0, -4]}, "bad_ids", id="non-positive-ids"),
        pytest.param({"type": "delivered", "ids": [2**70]}, "bad_ids", id="huge-id"),
        pytest.param({"type": "delivered", "ids": LONG_IDS}, "bad_ids", id="too-many-ids"),
    ],
)
async def test_a_bad_frame_gets_an_error_and_the_socket_keeps_working(
    chat: ChatClient, frame: Any, code: str
) -> None:
    await chat.connect()
    await chat.send_raw(frame if isinstance(frame, str) else json.dumps(frame))

    error = await chat.next("error")
    ack = await chat.say("How long does shipping take?")

    assert error["code"] == code, error
    assert error["message"]
    assert ack["message"]["text"] == "How long does shipping take?"
    assert ack["message"]["author"] == "customer"


async def test_a_refused_message_names_its_client_id(chat: ChatClient) -> None:
    await chat.connect()
    await chat.send_raw({"type": "message", "client_id": "blank-1", "text": "   "})

    error = await chat.next("error")

    assert error["code"] == "empty_message"
    assert error["client_id"] == "blank-1"


async def test_a_binary_frame_gets_an_error_and_the_socket_keeps_working(
    chat: ChatClient,
) -> None:
    await chat.connect()
    assert chat.ws is not None
    await chat.ws.send_bytes(json.dumps({"type": "ping"}).encode())

    error = await chat.next("error")
    ack = await chat.say("hello")

    assert error["code"] == "bad_frame"
    assert ack["message"]["text"] == "hello"


async def test_a_message_before_hello_is_refused_and_hello_then_works(client: TestClient) -> None:
    chat = ChatClient(client)
    try:
        chat.ws = await client.ws_connect("/chat/ws")
        await chat.send_raw({"type": "message", "client_id": "early-1", "text": "anyone?"})
        error = await chat.next("error")
        await chat.send_raw({"type": "delivered", "ids": [1]})
        error_delivered = await chat.next("error")

        await chat.send_raw({"type": "hello"})
        welcome = await chat.next("welcome")
        ack = await chat.say("anyone?", client_id="early-1")

        assert error["code"] == "hello_first"
        assert error_delivered["code"] == "hello_first"
        assert welcome["history"] == []
        assert ack["message"]["text"] == "anyone?"
    finally:
        await chat.close()


@pytest.fixture
async def short_chat_client(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> TestClient:
    settings = make_settings(chat={"max_message_chars": 50})
    await seed(settings.effective_database_url, agents=1)
    return await aiohttp_client(create_app(settings))


@pytest.fixture
async def short_chat(short_chat_client: TestClient) -> AsyncIterator[ChatClient]:
    customer = ChatClient(short_chat_client)
    yield customer
    await customer.close()


async def test_a_message_over_the_limit_is_refused_and_one_at_the_limit_is_stored(
    short_chat: ChatClient,
) -> None:
    await short_chat.connect()
    await short_chat.send_raw({"type": "message", "client_id": "long-1", "text": "é" * 51})

    error = await short_chat.next("error")
    ack = await short_chat.say("é" * 50, client_id="ok-1")

    assert error["code"] == "message_too_long"
    assert error["client_id"] == "long-1"
    assert "50" in error["message"]
    assert ack["message"]["text"] == "é" * 50


async def test_an_agent_reply_over_a_configured_limit_is_refused(
    short_chat_client: TestClient, short_chat: ChatClient
) -> None:
    agent = await AgentApi.login(short_chat_client, "agent1@example.com", PASSWORD)
    await short_chat.connect()
    await short_chat.say("agent")
    conversation = await agent.claim_next()

    refused_reply = await agent.reply(conversation["id"], "z" * 51, expect=400)

    assert refused_reply["error"]["code"] == "message_too_long"


# ---- idempotent resends ---------------------------------------------------------------------


async def _only_conversation(agent: AgentApi) -> dict[str, Any]:
    listed = await agent.call("GET", "/api/v1/conversations")
    assert len(listed["items"]) == 1, listed
    return await agent.conversation(listed["items"][0]["id"])


async def test_resending_the_same_client_id_stores_the_message_once(
    chat: ChatClient, agent1: AgentApi
) -> None:
    await chat.connect()
    first = await chat.say("How long does shipping take?", client_id="retry-1")
    await chat.reply()

    second = await chat.say("How long does shipping take?", client_id="retry-1")

    assert second["message"]["id"] == first["message"]["id"]
    detail = await _only_conversation(agent1)
    customer_messages = [m for m in detail["messages"] if m["kind"] == "message"]
    assert [m["id"] for m in customer_messages] == [first["message"]["id"]]
    assert [m["kind"] for m in detail["messages"]].count("bot_answer") == 1


async def test_resending_after_a_reconnect_stores_the_message_once(
    client: TestClient, chat: ChatClient, agent1: AgentApi
) -> None:
    await chat.connect()
    first = await chat.say("Do you ship to Norway?", client_id="retry-2")
    await chat.close()

    again = ChatClient(client)
    try:
        await again.connect(visitor_id=chat.visitor_id)
        second = await again.say("Do you ship to Norway?", client_id="retry-2")
        await again.close()
        welcome = await again.connect(visitor_id=chat.visitor_id)
    finally:
        await again.close()

    assert second["message"]["id"] == first["message"]["id"]
    texts = [m["text"] for m in welcome["history"] if m["author"] == "customer"]
    assert texts == ["Do you ship to Norway?"]
    detail = await _only_conversation(agent1)
    assert [m["kind"] for m in detail["messages"]].count("message") == 1


async def test_the_same_client_id_resent_on_two_sockets_at_once_is_stored_once(
    client: TestClient, agent1: AgentApi
) -> None:
    first, second = ChatClient(client), ChatClient(client)
    try:
        await first.connect()
        await second.connect(visitor_id=first.visitor_id)
        acks = await asyncio.gather(
            first.say("Where is my parcel?", client_id="retry-3"),
            second.say("Where is my parcel?", client_id="retry-3"),
        )
    finally:
        await first.close()
        await second.close()

    assert acks[0]["message"]["id"] == acks[1]["message"]["id"]
    detail = await _only_conversation(agent1)
    assert [m["kind"] for m in detail["messages"]].count("message") == 1


async def test_different_client_ids_with_the_same_text_are_two_messages(
    chat: ChatClient, agent1: AgentApi
) -> None:
    await chat.connect()
    first = await chat.say("thanks", client_id="thanks-1")
    second = await chat.say("thanks", client_id="thanks-2")

    assert first["message"]["id"] != second["message"]["id"]
    detail = await _only_conversation(agent1)
    assert [m["kind"] for m in detail["messages"]].count("message") == 2


# ---- visitor ids --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "visitor_id",
    [
        pytest.param("short", id="too-short"),
        pytest.param("has spaces in it, and more", id="bad-characters"),
        pytest.param("x" * 65, id="too-long"),
        pytest.param(12345678901234567890, id="number"),
        pytest.param(["abcdefghijklmnopqrstuvwxyz"], id="list"),
        # Well-formed, but not issued by this server: a client may not choose its id.
        pytest.param("never-seen-before-0123456789", id="chosen-by-the-client"),
        pytest.param("A" * 24 + "." + "B" * 22, id="forged-signature"),
        pytest.param(VisitorIds(b"another deployment's key").issue(), id="another-key"),
    ],
)
async def test_an_invalid_visitor_id_starts_a_fresh_visitor(
    client: TestClient, chat: ChatClient, agent1: AgentApi, visitor_id: Any
) -> None:
    await chat.connect()
    await chat.say("agent")
    existing = chat.visitor_id

    fresh = ChatClient(client)
    try:
        fresh.ws = await client.ws_connect("/chat/ws")
        await fresh.send_raw({"type": "hello", "visitor_id": visitor_id})
        welcome = await fresh.next("welcome")
        ack = await fresh.say("hello there")
    finally:
        await fresh.close()

    assert welcome["visitor_id"] not in (visitor_id, existing)
    assert welcome["conversation"] is None and welcome["history"] == []
    assert ack["message"]["text"] == "hello there"
    customers = {
        c["customer"]["id"] for c in (await agent1.call("GET", "/api/v1/conversations"))["items"]
    }
    assert len(customers) == 2


async def test_a_visitor_id_is_a_secret_the_server_issued_and_keeps_honouring(
    client: TestClient, chat: ChatClient
) -> None:
    welcome = await chat.connect()
    issued = chat.visitor_id
    assert issued and issued == welcome["visitor_id"]
    await chat.say("hello")
    again = ChatClient(client)
    try:
        back = await again.connect(visitor_id=issued)
    finally:
        await again.close()
    assert back["visitor_id"] == issued
    assert back["history"][0]["text"] == "hello"
    # The same id with one character of its signature changed is a stranger's.
    tampered = issued[:-1] + ("A" if issued[-1] != "A" else "B")
    stranger = ChatClient(client)
    try:
        other = await stranger.connect(visitor_id=tampered)
    finally:
        await stranger.close()
    assert other["visitor_id"] not in (issued, tampered) and other["history"] == []


async def test_visitor_ids_outlive_a_restart_and_processes_sharing_the_secret_key_agree(
    aiohttp_client: Any, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    first = make_settings()
    await seed(first.effective_database_url)

    async def visit(settings: Settings, visitor_id: str | None) -> dict[str, Any]:
        chat = ChatClient(await aiohttp_client(create_app(settings)))
        try:
            welcome = await chat.connect(visitor_id=visitor_id)
            if visitor_id is None:
                await chat.say("hello")
            return welcome
        finally:
            await chat.close()

    issued = (await visit(first, None))["visitor_id"]
    # Without secret_key the key is made once and kept, for its owner only, in data_dir.
    key_file = Path(first.data_dir) / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (await visit(first, issued))["visitor_id"] == issued  # a restart
    # Another data_dir means another key: the id is unknown there...
    elsewhere = make_settings(data_dir=str(tmp_path / "other"))
    assert (await visit(elsewhere, issued))["visitor_id"] != issued
    # ... unless the processes share secret_key.
    shared = "k" * 40
    a = make_settings(secret_key=shared)
    b = make_settings(secret_key=shared, data_dir=str(tmp_path / "b"))
    from_a = (await visit(a, None))["visitor_id"]
    welcome = await visit(b, from_a)
    assert welcome["visitor_id"] == from_a and welcome["history"][0]["text"] == "hello"


async def test_an_unknown_visitor_id_starts_with_an_empty_history(
    client: TestClient, chat: ChatClient, agent1: AgentApi
) -> None:
    await chat.connect()
    await chat.say("agent")

    stranger = ChatClient(client)
    try:
        welcome = await stranger.connect(visitor_id="never-seen-before-0123456789")
        ack = await stranger.say("hello there")
    finally:
        await stranger.close()

    assert welcome["visitor_id"] != "never-seen-before-0123456789"
    assert welcome["conversation"] is None and welcome["history"] == []
    assert ack["message"]["text"] == "hello there"
    items = (await agent1.call("GET", "/api/v1/conversations"))["items"]
    assert len({c["customer"]["id"] for c in items}) == 2
