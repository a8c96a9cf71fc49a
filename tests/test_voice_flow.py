"""Phone calls driven the way Twilio drives them: signed form posts to the voice webhooks, step
by step, reading the TwiML that comes back. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from console.auth import create_agent
from routing.clock import FrozenClock, SystemClock
from storage.db import Database
from switchboard.app import create_app
from switchboard.settings import Settings
from tests.conftest import PASSWORD, seed
from tests.fakes.twilio import FakeTwilio, sid
from tests.fakes.twilio_webhooks import inbound_sms, signed, voice
from tests.helpers import AgentApi

PUBLIC_URL = "https://support.acme.test"
VOICE = "/webhooks/twilio/voice"
OUR_NUMBER = "+15005550006"
CALLER = "+66812345678"
# Monday 2026-01-05 10:00 in Bangkok (03:00 UTC): the line is open.
OPEN = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
# Sunday 2026-01-04 10:00 in Bangkok: closed all day.
CLOSED = datetime(2026, 1, 4, 3, 0, tzinfo=UTC)


class Call:
    """One caller on the line: posts what Twilio would post and reads the TwiML back."""

    def __init__(self, phone: Phone, caller: str = CALLER) -> None:
        self.phone = phone
        self.sid = sid("CA")
        self.caller = caller
        self.twiml: ET.Element = ET.Element("Response")

    async def post(self, path: str, **fields: Any) -> ET.Element:
        params = voice(
            account_sid=self.phone.twilio.account_sid,
            call_sid=self.sid,
            from_=self.caller,
            to=OUR_NUMBER,
            call_status=fields.pop("call_status", "in-progress"),
            **fields,
        )
        request = signed(self.phone.twilio.auth_token, PUBLIC_URL + VOICE + path, params)
        resp = await self.phone.client.post(
            VOICE + path, data=request.body, headers=request.headers
        )
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "text/xml"
        self.twiml = ET.fromstring(await resp.text())  # valid XML, or this fails
        assert self.twiml.tag == "Response"
        return self.twiml

    async def dial(self) -> ET.Element:
        return await self.post("/incoming", call_status="ringing")

    async def press(self, digits: str) -> ET.Element:
        return await self.post("/gather", digits=digits)

    async def say(self, words: str, confidence: float = 0.9) -> ET.Element:
        return await self.post("/gather", speech_result=words, confidence=confidence)

    def said(self) -> str:
        """Everything <Say> speaks, in this step's TwiML (gathers included)."""
        return " ".join(el.text or "" for el in self.twiml.iter("Say"))

    def verbs(self) -> list[str]:
        return [el.tag for el in self.twiml]


class Phone:
    def __init__(self, client: TestClient, twilio: FakeTwilio, clock: FrozenClock) -> None:
        self.client = client
        self.twilio = twilio
        self.clock = clock
        self.agent: AgentApi

    async def conversation(self) -> dict[str, Any]:
        listed = await self.agent.call("GET", "/api/v1/conversations")
        [conv] = [c for c in listed["items"] if c["channel"] == "voice"]
        return await self.agent.conversation(conv["id"])


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake


def phone_fixture(at: datetime) -> Callable[..., Any]:
    async def make(
        aiohttp_client: Any, make_settings: Callable[..., Settings], twilio: FakeTwilio
    ) -> Phone:
        settings = make_settings(
            public_url=PUBLIC_URL,
            twilio=twilio.settings(OUR_NUMBER),
        )
        await seed(settings.effective_database_url)
        clock = FrozenClock(at)
        client = await aiohttp_client(create_app(settings, clock=clock))
        phone = Phone(client, twilio, clock)
        phone.agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)
        return phone

    return make


phone = pytest.fixture(phone_fixture(OPEN), name="phone")


@pytest.fixture
def settings_url(database_url: str) -> str:
    return database_url


closed_phone = pytest.fixture(phone_fixture(CLOSED), name="closed_phone")


async def test_a_call_is_greeted_and_offered_a_language_by_key_and_by_voice(phone: Phone) -> None:
    call = Call(phone)

    twiml = await call.dial()

    gather = twiml.find("Gather")
    assert gather is not None and gather.get("input") == "dtmf speech"
    assert gather.get("action") == PUBLIC_URL + VOICE + "/gather"
    assert "Thank you for calling Acme Store" in call.said() and "กด 2" in call.said()
    await call.say("ภาษาไทย")
    says = call.twiml.findall(".//Say")
    assert says and all(s.get("language") == "th-TH" for s in says)
    assert "กด 1" in call.said()  # the Thai main menu
    assert call.twiml.find("Gather").get("language") == "th-TH"  # type: ignore[union-attr]


async def test_menus_are_walked_by_digit_and_by_speech(phone: Phone) -> None:
    call = Call(phone)
    await call.dial()
    await call.press("1")  # English

    await call.press("2")  # payments and refunds
    assert "For the ways you can pay, press 1" in call.said()
    await call.say("payment methods")
    assert "PromptPay" in call.said()
    await call.press("8")  # back to the main menu
    await call.say("orders")
    assert "To track an order, press 1" in call.said()


async def test_invalid_input_is_retried_and_the_third_goes_to_an_agent(phone: Phone) -> None:
    call = Call(phone)
    await call.dial()
    await call.press("1")

    await call.press("7")
    assert "Sorry, I didn't get that" in call.said() and call.twiml.find("Gather") is not None
    await call.post("/gather")  # silence
    twiml = await call.press("5")

    enqueue = twiml.find("Enqueue")
    assert enqueue is not None and enqueue.get("waitUrl") == PUBLIC_URL + VOICE + "/queue/wait"
    queue = await phone.agent.queue()
    assert [c["channel"] for c in queue["items"]] == ["voice"]


async def test_zero_from_a_submenu_joins_the_queue_and_hears_its_position(phone: Phone) -> None:
    call = Call(phone)
    await call.dial()
    await call.press("1")
    await call.press("1")  # orders

    twiml = await call.press("0")

    assert twiml.find("Enqueue") is not None
    await call.post("/queue/wait", QueuePosition="1", QueueTime="12", QueueSize="1")
    assert "You are number 1 in line" in call.said()
    assert "about 3 minutes" in call.said()  # 180 s per caller, no agent online counts as one


async def test_a_spoken_question_is_answered_by_the_bot_and_more_help_offered(
    phone: Phone,
) -> None:
    call = Call(phone)
    await call.dial()
    await call.press("1")
    await call.press("3")  # ask a question
    assert "ask your question" in call.said()

    await call.say("How do I reset my password?")

    assert "Forgot password?" in call.said()  # the FAQ answer, spoken
    assert call.twiml.find("Gather") is not None  # "anything else?"
    conv = await phone.conversation()
    kinds = [m["kind"] for m in conv["messages"]]
    assert "bot_answer" in kinds and conv["status"] == "bot"
    question = next(m for m in conv["messages"] if m["kind"] == "message")
    assert question["text"] == "How do I reset my password?"


async def test_a_question_the_bot_cannot_answer_goes_to_an_agent(phone: Phone) -> None:
    call = Call(phone)
    await call.dial()
    await call.press("1")
    await call.press("3")

    twiml = await call.say("My parrot chewed the manual of my blender")

    assert twiml.find("Enqueue") is not None
    conv = await phone.conversation()
    assert conv["status"] == "queued"


async def test_a_claimed_call_is_put_through_to_the_agents_phone(
    phone: Phone, twilio: FakeTwilio
) -> None:
    await phone.agent.call("GET", "/api/v1/me")
    call = Call(phone)
    twilio.add_call(call.sid, status="queued")
    await call.dial()
    await call.press("1")
    await call.press("0")
    # agent1 has no phone in its profile: the claim says so and the caller keeps holding.
    conv = await phone.agent.claim_next()

    history = (await phone.agent.conversation(conv["id"]))["messages"]
    assert any("no phone" in m["text"] for m in history)
    assert twilio.call_updates == []


async def test_a_claimed_call_is_redirected_from_the_queue_to_an_agent_with_a_phone(
    phone: Phone, twilio: FakeTwilio, settings_url: str
) -> None:
    db = Database(settings_url)
    try:
        await create_agent(
            db,
            SystemClock(),
            email="phone@example.com",
            name="Phone Agent",
            password=PASSWORD,
            role="agent",
            phone="+66899990000",
        )
    finally:
        await db.dispose()
    agent = await AgentApi.login(phone.client, "phone@example.com", PASSWORD)
    call = Call(phone)
    twilio.add_call(call.sid, status="queued")
    await call.dial()
    await call.press("1")
    await call.press("0")

    conv = await agent.claim_next()

    [(call_sid, update)] = twilio.call_updates
    assert call_sid == call.sid
    dial = ET.fromstring(update["Twiml"]).find("Dial")
    assert dial is not None and dial.findtext("Number") == "+66899990000"
    history = (await agent.conversation(conv["id"]))["messages"]
    assert any(m["text"] == "Call put through to Phone Agent" for m in history)


async def test_after_hours_the_caller_can_leave_a_voicemail_with_its_transcript(
    closed_phone: Phone,
) -> None:
    call = Call(closed_phone)
    await call.dial()
    await call.press("1")
    assert "closed right now" in call.said() and "leave a message, press 1" in call.said()

    twiml = await call.press("1")
    record = twiml.find("Record")
    assert record is not None and record.get("transcribe") == "true"
    assert record.get("transcribeCallback") == PUBLIC_URL + VOICE + "/voicemail/transcription"
    await call.post(
        "/voicemail",
        recording_url="https://api.twilio.com/recordings/RE1",
        recording_duration=14,
    )
    await call.post(
        "/voicemail/transcription", transcription_text="Please call me about order 1234"
    )

    conv = await closed_phone.conversation()
    texts = [m["text"] for m in conv["messages"]]
    assert conv["status"] == "queued"
    assert any("https://api.twilio.com/recordings/RE1" in t for t in texts)
    assert any("Please call me about order 1234" in t for t in texts)


async def test_after_hours_a_call_back_can_be_requested(closed_phone: Phone) -> None:
    call = Call(closed_phone)
    await call.dial()
    await call.press("1")

    await call.press("2")

    assert "call you back" in call.said()
    conv = await closed_phone.conversation()
    assert conv["status"] == "queued"
    assert any(f"Call back {CALLER}" in m["text"] for m in conv["messages"])


async def test_the_status_callback_records_the_call_once_in_the_history(phone: Phone) -> None:
    call = Call(phone)
    await call.dial()
    await call.press("1")
    await call.press("3")
    await call.say("How do I reset my password?")
    await call.press("9")  # done
    phone.clock.advance(95)

    await call.post("/status", call_status="completed", CallDuration="95")
    await call.post("/status", call_status="completed", CallDuration="95")  # a retry

    conv = await phone.conversation()
    ended = [m for m in conv["messages"] if m["meta"].get("event") == "call_ended"]
    assert len(ended) == 1
    record = ended[0]["meta"]["call"]
    assert record["outcome"] == "bot" and record["duration_seconds"] == 95
    assert record["caller"] == CALLER
    assert "bot:answered" in record["path"]


async def test_a_forged_voice_webhook_is_refused(phone: Phone) -> None:
    params = voice(
        account_sid=phone.twilio.account_sid, call_sid=sid("CA"), from_=CALLER, to=OUR_NUMBER
    )
    request = signed("wrong-token", PUBLIC_URL + VOICE + "/incoming", params)

    resp = await phone.client.post(VOICE + "/incoming", data=request.body, headers=request.headers)

    assert resp.status == 403
    listed = await phone.agent.call("GET", "/api/v1/conversations")
    assert listed["items"] == []


async def test_the_same_caller_is_one_customer_on_the_phone_and_by_sms(phone: Phone) -> None:
    call = Call(phone, caller="+66 81 234 5678")
    await call.dial()

    conv = await phone.conversation()
    customer = await phone.agent.call("GET", f"/api/v1/customers/{conv['customer']['id']}")
    assert ("voice", CALLER) in {(i["channel"], i["address"]) for i in customer["identities"]}


async def test_an_agent_sets_the_phone_claimed_calls_reach_them(phone: Phone) -> None:
    updated = await phone.agent.call("PATCH", "/api/v1/me", json={"phone": "081 234 9999"})
    refused = await phone.agent.call(
        "PATCH", "/api/v1/me", expect=400, json={"phone": "not a number"}
    )

    assert updated["phone"] == "+66812349999"  # written the Thai way, stored as E.164
    assert refused["error"]["code"] == "bad_phone"
    assert (await phone.agent.call("GET", "/api/v1/me"))["phone"] == "+66812349999"


async def test_a_caller_who_waits_too_long_is_offered_a_voicemail_or_a_call_back(
    phone: Phone,
) -> None:
    call = Call(phone)
    await call.dial()
    await call.press("1")
    await call.press("0")

    twiml = await call.post("/queue/wait", QueuePosition="3", QueueTime="700")
    assert call.verbs() == ["Leave"]
    twiml = await call.post("/queue/exit", QueueResult="leave", QueueTime="700")

    assert "all our agents are still busy" in call.said()
    assert "leave a message, press 1" in call.said() and twiml.find("Gather") is not None
    await call.press("2")
    conv = await phone.conversation()
    assert conv["status"] == "queued"
    assert any(f"Call back {CALLER}" in m["text"] for m in conv["messages"])


async def test_without_twilio_settings_the_twilio_routes_do_not_exist(
    client: TestClient,
) -> None:
    for path in ("/webhooks/twilio/sms", VOICE + "/incoming"):
        resp = await client.post(path, data={"From": CALLER})
        assert resp.status == 404


async def test_a_caller_who_texted_before_is_the_same_customer(phone: Phone) -> None:
    params = inbound_sms(
        account_sid=phone.twilio.account_sid, from_="+66 81 234 5678", to=OUR_NUMBER, body="Hi"
    )
    request = signed(phone.twilio.auth_token, PUBLIC_URL + "/webhooks/twilio/sms", params)
    resp = await phone.client.post(
        "/webhooks/twilio/sms", data=request.body, headers=request.headers
    )
    assert resp.status == 200

    await Call(phone).dial()

    listed = await phone.agent.call("GET", "/api/v1/conversations")
    assert {c["channel"] for c in listed["items"]} == {"sms", "voice"}
    assert len({c["customer"]["id"] for c in listed["items"]}) == 1
    customer = await phone.agent.call(
        "GET", f"/api/v1/customers/{listed['items'][0]['customer']['id']}"
    )
    assert {(i["channel"], i["address"]) for i in customer["identities"]} == {
        ("sms", CALLER),
        ("voice", CALLER),
    }
