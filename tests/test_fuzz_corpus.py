"""A corpus of hostile bodies against every webhook, a few API endpoints and the chat socket:
deep nesting, lone surrogates, NUL, invalid UTF-8, over-long strings, 10 MB bodies, wrong types.
Webhooks get each item correctly signed, so it reaches the parser. Whatever comes in, the answer
is never a 5xx and nothing is logged with a traceback; the socket answers an ``error`` frame (or
closes with 1009 for a frame over its size limit) and a new message is still stored. Runs on
SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from switchboard.app import create_app
from switchboard.settings import Settings
from tests.conftest import PASSWORD, seed
from tests.fakes.twilio import FakeTwilio, sid
from tests.fakes.twilio_webhooks import SIGNATURE_HEADER, inbound_sms, sign, voice
from tests.helpers import AgentApi, ChatClient
from tests.messenger_drivers import MESSENGERS, Driver, running

PUBLIC_URL = "https://support.acme.test"
OUR_NUMBER = "+15005550006"
MARK = "QQMARKQQ"
TEXT = "Where is my order?"
TEN_MB = 10 * 1024 * 1024


# ---- the corpus ------------------------------------------------------------------------------


def _strings(value: Any, change: Callable[[str], Any]) -> Any:
    """``value`` with every string value (not key) replaced by ``change(string)``."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {key: _strings(item, change) for key, item in value.items()}
    if isinstance(value, list):
        return [_strings(item, change) for item in value]
    return value


def _in_text(value: Any, change: Callable[[str], str]) -> bytes:
    """The sample with ``change`` applied where the customer's words are (so it is stored)."""
    return _dumps(_strings(value, lambda v: change(v) if TEXT in v else v))


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()  # ASCII: lone surrogates and NUL as JSON escapes


def _deep_inside(sample: Any) -> bytes:
    """The sample with its first string value replaced by 20,000 nested lists."""
    body = _dumps(_strings(sample, lambda _s: MARK)).replace(f'"{MARK}"'.encode(), b"0")
    return body.replace(b"0", b"[" * 20_000 + b"]" * 20_000, 1)


JSON_CORPUS: dict[str, Callable[[Any], bytes]] = {
    "deep-array": lambda _s: b"[" * 30_000 + b"]" * 30_000,
    "deep-object": lambda _s: b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "deep-unclosed": lambda _s: b"[" * 60_000,
    "deep-inside-a-payload": _deep_inside,
    "lone-high-surrogates": lambda s: _dumps(_strings(s, lambda v: v + " \ud83d")),
    "lone-low-surrogates": lambda s: _dumps(_strings(s, lambda v: "\udc00" + v)),
    "nul": lambda s: _dumps(_strings(s, lambda v: v + "\x00")),
    "nul-in-text": lambda s: _in_text(s, lambda v: v + " \x00 after"),
    "lone-surrogate-in-text": lambda s: _in_text(s, lambda v: "\udc00" + v + " \ud83d"),
    "long-text": lambda s: _in_text(s, lambda v: v + " " + "w" * 20_000),
    "invalid-utf8": lambda s: _dumps(_strings(s, lambda v: v + MARK)).replace(
        MARK.encode(), b"\xed\xa0\xbd\xff\xc3"
    ),
    "over-long-strings": lambda s: _dumps(_strings(s, lambda v: v + "y" * 3000)),
    "one-string-near-the-limit": lambda _s: _dumps({"text": "z" * 60_000}),
    "ten-mb-body": lambda _s: b'{"text": "' + b"a" * TEN_MB + b'"}',
    "strings-to-objects": lambda s: _dumps(_strings(s, lambda v: {"v": [v]})),
    "strings-to-numbers": lambda s: _dumps(_strings(s, lambda _v: 1e308)),
    "strings-to-null": lambda s: _dumps(_strings(s, lambda _v: None)),
    "empty": lambda _s: b"",
    "not-json": lambda _s: b"\x00\x01\x02 not json",
    "utf8-bom": lambda s: b"\xef\xbb\xbf" + _dumps(s),
}

# Form bodies (Twilio): values percent-encoded as sent; lone surrogates can only arrive as the
# UTF-8 bytes of one (invalid UTF-8), escaped or raw.
# Poisoned only where the customer's words are: cleaned and stored, like any message.
STORED = ("nul-in-text", "lone-surrogate-in-text")

FORM_CORPUS: dict[str, Callable[[dict[str, str]], bytes]] = {
    "nul": lambda p: _form(p, lambda v: quote(v + "\x00")),
    "escaped-surrogates": lambda p: _form(p, lambda v: quote(v) + "%ED%A0%BD"),
    "escaped-invalid-utf8": lambda p: _form(p, lambda v: quote(v) + "%FF%C3"),
    "raw-invalid-utf8": lambda p: _form(p, lambda v: quote(v) + MARK).replace(
        MARK.encode(), b"\xff\xed\xa0\xbd"
    ),
    "over-long-strings": lambda p: _form(p, lambda v: quote(v + "y" * 3000)),
    "ten-mb-body": lambda p: _form(p, quote) + b"&Body=" + b"a" * TEN_MB,
    "empty": lambda _p: b"",
}


def _form(params: dict[str, str], encode: Callable[[str], str]) -> bytes:
    return "&".join(f"{quote(k)}={encode(v)}" for k, v in params.items()).encode()


# ---- the system under test -------------------------------------------------------------------


@dataclass
class World:
    client: TestClient
    drivers: dict[str, Driver]
    twilio: FakeTwilio
    agent: AgentApi
    customer_id: int


@pytest.fixture
async def world(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> AsyncIterator[World]:
    async with contextlib.AsyncExitStack() as stack:
        drivers = {name: await stack.enter_async_context(running(name)) for name in MESSENGERS}
        twilio = await stack.enter_async_context(FakeTwilio())
        overrides: dict[str, Any] = {}
        for driver in drivers.values():
            overrides |= driver.settings()
        settings = make_settings(
            public_url=PUBLIC_URL, twilio=twilio.settings(OUR_NUMBER), **overrides
        )
        await seed(settings.effective_database_url)
        client = await aiohttp_client(create_app(settings))
        agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)
        chat = ChatClient(client)
        await chat.connect()
        await chat.say("I want to talk to a person")
        await chat.close()
        [conv] = (await agent.call("GET", "/api/v1/conversations"))["items"]
        yield World(client, drivers, twilio, agent, conv["customer"]["id"])


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def assert_no_traceback(caplog: pytest.LogCaptureFixture, seen: str | None = None) -> None:
    """Nothing at ERROR and no traceback logged; ``seen``: an event that must have been logged
    (so the capture is known to hear the app)."""
    if seen is not None:
        assert seen in [r.getMessage() for r in caplog.records], "the app's log is not captured"
    bad = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR or r.exc_info
    ]
    assert bad == []


def check(answers: dict[str, tuple[int, str, str]]) -> None:
    """No 5xx, and every refusal is JSON naming the problem (not an HTML error page)."""
    wrong = {
        item: (status, body[:200])
        for item, (status, content_type, body) in answers.items()
        if status >= 500 or (status >= 400 and content_type != "application/json")
    }
    assert wrong == {}


# ---- webhooks --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MESSENGERS)
async def test_json_webhooks_survive_the_corpus(
    world: World, logged: pytest.LogCaptureFixture, name: str
) -> None:
    driver = world.drivers[name]
    body, headers = driver.text(driver.new_user(), TEXT)
    sample = json.loads(body)
    answers = {}
    for item, make in JSON_CORPUS.items():
        data = make(sample)
        resp = await world.client.post(driver.path, data=data, headers=driver.sign(data, headers))
        answers[item] = (resp.status, resp.content_type, await resp.text())

    check(answers)
    assert answers["deep-array"][0] == 400 and "too_deep" in answers["deep-array"][2]
    assert answers["ten-mb-body"][0] == 413 and "too_large" in answers["ten-mb-body"][2]
    assert answers["nul-in-text"][0] == 200 and answers["lone-surrogate-in-text"][0] == 200
    assert_no_traceback(logged, seen="inbound_stored")


TWILIO_PATHS = {
    "sms": "/webhooks/twilio/sms",
    "voice": "/webhooks/twilio/voice/incoming",
}


@pytest.mark.parametrize("name", list(TWILIO_PATHS))
async def test_twilio_webhooks_survive_the_corpus(
    world: World, logged: pytest.LogCaptureFixture, name: str
) -> None:
    path = TWILIO_PATHS[name]
    answers = {}
    for item, make in FORM_CORPUS.items():
        account = world.twilio.account_sid
        if name == "sms":
            params = inbound_sms(
                account_sid=account, from_="+66812345678", to=OUR_NUMBER, body="Hi"
            )
        else:
            params = voice(
                account_sid=account, call_sid=sid("CA"), from_="+66812345678", to=OUR_NUMBER
            )
        data = make(params)
        try:  # signed over the fields as the server reads them
            parsed = dict(parse_qsl(data.decode(), keep_blank_values=True))
        except UnicodeDecodeError:
            parsed = params
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            SIGNATURE_HEADER: sign(world.twilio.auth_token, PUBLIC_URL + path, parsed),
        }
        resp = await world.client.post(path, data=data, headers=headers)
        answers[item] = (resp.status, resp.content_type, await resp.text())

    check(answers)
    assert answers["nul"][0] == 200 and answers["escaped-surrogates"][0] == 200
    assert answers["ten-mb-body"][0] == 413
    assert_no_traceback(logged, seen="inbound_stored" if name == "sms" else None)


# ---- the staff API ---------------------------------------------------------------------------


async def test_api_endpoints_survive_the_corpus(
    world: World, logged: pytest.LogCaptureFixture
) -> None:
    claimed = await world.agent.claim_next()
    targets: list[tuple[str, str, dict[str, Any], bool]] = [
        (
            "POST",
            "/api/v1/auth/login",
            {"email": "agent1@example.com", "password": PASSWORD},
            False,
        ),
        ("POST", f"/api/v1/conversations/{claimed['id']}/messages", {"text": "On its way"}, True),
        ("PATCH", f"/api/v1/customers/{world.customer_id}", {"display_name": "Ana"}, True),
        ("PATCH", "/api/v1/me", {"presence": "online"}, True),
    ]
    answers = {}
    for method, path, sample, auth in targets:
        for item, make in JSON_CORPUS.items():
            headers = {"Content-Type": "application/json"} | (world.agent.headers if auth else {})
            resp = await world.client.request(method, path, data=make(sample), headers=headers)
            answers[f"{method} {path} {item}"] = (resp.status, resp.content_type, await resp.text())

    check(answers)
    login = "POST /api/v1/auth/login"
    assert answers[f"{login} deep-array"][0] == 400
    assert json.loads(answers[f"{login} deep-array"][2])["error"]["code"] == "too_deep"
    assert answers[f"{login} ten-mb-body"][0] == 413
    assert_no_traceback(logged)


# ---- the chat socket -------------------------------------------------------------------------


async def test_the_chat_socket_survives_the_corpus(
    world: World, logged: pytest.LogCaptureFixture
) -> None:
    sample = {"type": "message", "text": TEXT}
    chat = ChatClient(world.client)
    errors: dict[str, str] = {}
    closed: list[str] = []
    try:
        await chat.connect()
        for n, (item, make) in enumerate(JSON_CORPUS.items()):
            data = make(sample | {"client_id": f"c-{n}"})
            assert chat.ws is not None
            if len(data) > 65536:  # over the frame limit: aiohttp closes the socket (1009)
                with contextlib.suppress(ConnectionError):  # closed while we were sending
                    await chat.ws.send_str(data.decode())
                msg = await chat.ws.receive()
                assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
                assert chat.ws.close_code in (1009, 1006)  # 1006: it closed as we sent
                closed.append(item)
                await chat.close()
                await chat.connect()
                continue
            try:
                await chat.ws.send_str(data.decode())
            except UnicodeDecodeError:  # not text: the browser could only send it as binary
                await chat.ws.send_bytes(data)
            if item in STORED:
                ack = await chat.next("ack")
                errors[item] = "stored: " + ack["message"]["text"]
            else:
                errors[item] = (await chat.next("error"))["code"]
            ack = await chat.say("still there?")  # the socket stays usable
            assert ack["message"]["text"] == "still there?"
    finally:
        await chat.close()

    assert errors["deep-array"] == errors["deep-object"] == "too_deep"
    assert errors["deep-inside-a-payload"] == "too_deep"
    assert errors["invalid-utf8"] == "bad_frame"  # sent as binary
    assert errors["nul"] == "unknown_type"  # every string poisoned, "type" too
    assert errors["long-text"] == "message_too_long"
    assert errors["nul-in-text"] == f"stored: {TEXT}  after"
    assert errors["lone-surrogate-in-text"] == f"stored: {TEXT}"
    assert closed == ["ten-mb-body"]
    assert_no_traceback(logged, seen="inbound_stored")


async def test_the_agent_socket_answers_deep_nesting_with_an_error_frame(
    world: World, logged: pytest.LogCaptureFixture
) -> None:
    ws = await world.client.ws_connect("/api/v1/ws")
    try:
        await ws.send_json({"type": "auth", "token": world.agent.token})
        assert (await ws.receive_json())["type"] == "ready"

        await ws.send_str("[" * 30_000 + "]" * 30_000)
        error = await _next(ws, "error")
        await ws.send_json({"type": "ping"})
        pong = await _next(ws, "pong")
    finally:
        await ws.close()

    assert error["code"] == "too_deep" and pong == {"type": "pong"}
    assert_no_traceback(logged)


async def _next(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        frame = await ws.receive_json(timeout=10)
        if frame["type"] == kind:
            return dict(frame)
