"""SMS end to end: Twilio's signed webhooks in, replies out through a local server speaking
Twilio's REST wire format, agents through the staff API. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient

from bot.templates import say
from switchboard.app import create_app
from switchboard.settings import Settings
from tests.conftest import PASSWORD, seed
from tests.fakes.twilio import FakeTwilio, SentSms
from tests.fakes.twilio_webhooks import inbound_sms, message_status, signed
from tests.helpers import AgentApi, eventually

PUBLIC_URL = "https://support.acme.test"  # what Twilio calls; the app sits behind a proxy
OUR_NUMBER = "+15005550006"
CUSTOMER = "+66812345678"


class Sms:
    """A running Switchboard with Twilio on, the fake Twilio API it sends through, an agent."""

    def __init__(self, client: TestClient, twilio: FakeTwilio) -> None:
        self.client = client
        self.twilio = twilio
        self.agent: AgentApi

    async def post(self, path: str, params: dict[str, str], *, token: str | None = None) -> Any:
        request = signed(token or self.twilio.auth_token, PUBLIC_URL + path, params)
        return await self.client.post(path, data=request.body, headers=request.headers)

    async def text(
        self, body: str, *, sender: str = CUSTOMER, message_sid: str | None = None
    ) -> Any:
        params = inbound_sms(
            account_sid=self.twilio.account_sid,
            from_=sender,
            to=OUR_NUMBER,
            body=body,
            message_sid=message_sid,
        )
        resp = await self.post("/webhooks/twilio/sms", params)
        assert resp.status == 200, await resp.text()
        return resp

    async def replies(self, count: int) -> list[SentSms]:
        return await eventually(
            lambda: self.twilio.sent[:] if len(self.twilio.sent) >= count else None
        )

    async def conversation(self) -> dict[str, Any]:
        listed = await self.agent.call("GET", "/api/v1/conversations")
        [conv] = [c for c in listed["items"] if c["channel"] == "sms"]
        return await self.agent.conversation(conv["id"])


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake


@pytest.fixture
async def sms(
    aiohttp_client: Any, make_settings: Callable[..., Settings], twilio: FakeTwilio
) -> Sms:
    settings = make_settings(
        public_url=PUBLIC_URL,
        twilio=twilio.settings(OUR_NUMBER),
    )
    await seed(settings.effective_database_url)
    client = await aiohttp_client(create_app(settings))
    desk = Sms(client, twilio)
    desk.agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)
    return desk


async def test_a_text_is_answered_by_the_bot_by_sms(sms: Sms) -> None:
    resp = await sms.text("How do I reset my password?")

    assert resp.content_type == "text/xml"  # TwiML with nothing to say: the reply goes by API
    [reply] = await sms.replies(1)
    assert reply.to == CUSTOMER and reply.from_ == OUR_NUMBER
    assert "Forgot password?" in reply.body
    conv = await sms.conversation()
    assert [m["kind"] for m in conv["messages"]] == ["message", "bot_answer"]


async def test_an_mms_picture_without_words_asks_for_words_and_is_no_miss(sms: Sms) -> None:
    for _ in range(2):
        params = inbound_sms(
            account_sid=sms.twilio.account_sid,
            from_=CUSTOMER,
            to=OUR_NUMBER,
            body="",
            media=[("https://api.twilio.test/Media/ME1", "image/jpeg")],
        )
        assert (await sms.post("/webhooks/twilio/sms", params)).status == 200

    replies = await sms.replies(2)
    assert [r.body for r in replies] == [say("describe_in_words", "en")] * 2
    assert (await sms.agent.queue())["items"] == []  # still with the bot: no miss counted
    conv = await sms.conversation()
    assert conv["messages"][0]["meta"]["attachments"]


async def test_a_text_asking_for_a_person_is_queued_and_the_agents_reply_goes_out_by_sms(
    sms: Sms,
) -> None:
    await sms.text("I want to talk to a person")
    [notice] = await sms.replies(1)
    assert "queue" in notice.body
    conv = await sms.agent.claim_next()

    await sms.agent.reply(conv["id"], "Hi, Agent 1 here. How can I help?")

    sent = await sms.replies(2)
    assert sent[1].body == "Hi, Agent 1 here. How can I help?" and sent[1].to == CUSTOMER
    assert len(sms.twilio.sent) == 2  # the claim itself is not texted


async def test_the_same_customer_is_found_however_the_number_is_written(sms: Sms) -> None:
    await sms.text("Hello", sender="+66 81 234 5678")
    await sms.text("Thanks", sender="+66812345678")

    conv = await sms.conversation()
    assert [m["text"] for m in conv["messages"] if m["direction"] == "inbound"] == [
        "Hello",
        "Thanks",
    ]


async def test_a_repeated_message_sid_is_stored_and_answered_once(sms: Sms) -> None:
    await sms.text("How do I reset my password?", message_sid="SM" + "a" * 32)
    await sms.text("How do I reset my password?", message_sid="SM" + "a" * 32)

    await sms.text("Thanks", message_sid="SM" + "b" * 32)
    sent = await sms.replies(2)
    assert "Forgot password?" in sent[0].body and len(sent) == 2
    conv = await sms.conversation()
    assert [m["text"] for m in conv["messages"] if m["direction"] == "inbound"] == [
        "How do I reset my password?",
        "Thanks",
    ]


async def test_a_forged_or_missing_signature_is_refused_and_nothing_is_stored(sms: Sms) -> None:
    params = inbound_sms(
        account_sid=sms.twilio.account_sid, from_=CUSTOMER, to=OUR_NUMBER, body="Hi"
    )
    forged = await sms.post("/webhooks/twilio/sms", params, token="not-the-auth-token")
    unsigned = await sms.client.post("/webhooks/twilio/sms", data=params)

    assert forged.status == 403 and unsigned.status == 403
    assert (await forged.json())["error"]["code"] == "bad_signature"
    listed = await sms.agent.call("GET", "/api/v1/conversations")
    assert listed["items"] == []


async def test_a_webhook_without_its_fields_is_a_clear_400(sms: Sms) -> None:
    resp = await sms.post("/webhooks/twilio/sms", {"Body": "Hi", "AccountSid": "AC1"})

    assert resp.status == 400
    assert "MessageSid" in (await resp.json())["error"]["message"]


async def test_stop_silences_everything_until_start_and_help_answers(sms: Sms) -> None:
    await sms.text("I want to talk to a person")
    await sms.replies(1)
    conv = await sms.agent.claim_next()

    await sms.text("STOP")
    refused = await sms.agent.reply(conv["id"], "Are you still there?", expect=409)

    assert refused["error"]["code"] == "customer_opted_out"
    history = (await sms.agent.conversation(conv["id"]))["messages"]
    assert any("opted out" in m["text"] for m in history if m["kind"] == "system")

    await sms.text("start")
    await sms.agent.reply(conv["id"], "Welcome back!")
    await sms.text("HELP")
    sent = await sms.replies(3)
    assert sent[1].body == "Welcome back!"
    assert "STOP" in sent[2].body  # the configured help text
    assert [s.to for s in sent] == [CUSTOMER] * 3


async def test_the_bot_stays_silent_to_a_customer_who_opted_out(sms: Sms) -> None:
    await sms.text("STOP")
    await sms.text("How do I reset my password?")

    conv = await sms.conversation()
    [answer] = [m for m in conv["messages"] if m["kind"] == "bot_answer"]
    assert answer["state"] == "failed" and answer["meta"]["not_sent"] == "opted_out"
    assert sms.twilio.sent == []


async def test_delivery_reports_move_each_reply_forward_and_never_back(sms: Sms) -> None:
    await sms.text("How do I reset my password?")
    [reply] = await sms.replies(1)
    callback = reply.status_callback
    assert callback is not None and callback.startswith(PUBLIC_URL + "/webhooks/twilio/sms/status")
    path = urlsplit(callback).path + "?" + urlsplit(callback).query
    touchpoint = int(parse_qs(urlsplit(callback).query)["tp"][0])

    async def report(status: str, error_code: int | None = None) -> None:
        params = message_status(
            account_sid=sms.twilio.account_sid,
            message_sid=reply.sid,
            status=status,
            from_=OUR_NUMBER,
            to=CUSTOMER,
            error_code=error_code,
        )
        resp = await sms.post(path, params)
        assert resp.status == 200

    async def state() -> str:
        conv = await sms.conversation()
        return next(m["state"] for m in conv["messages"] if m["id"] == touchpoint)

    await eventually(lambda: _equals(state(), "sent"))
    await report("delivered")
    assert await state() == "delivered"
    await report("sent")  # a late report
    assert await state() == "delivered"


async def _equals(value: Any, expected: str) -> bool:
    return await value == expected


async def test_an_undelivered_report_marks_the_reply_failed_with_twilios_code(sms: Sms) -> None:
    await sms.text("How do I reset my password?")
    [reply] = await sms.replies(1)
    callback = urlsplit(reply.status_callback or "")

    params = message_status(
        account_sid=sms.twilio.account_sid,
        message_sid=reply.sid,
        status="undelivered",
        from_=OUR_NUMBER,
        to=CUSTOMER,
        error_code=30003,
    )
    await sms.post(f"{callback.path}?{callback.query}", params)

    conv = await sms.conversation()
    [answer] = [m for m in conv["messages"] if m["kind"] == "bot_answer"]
    assert answer["state"] == "failed" and answer["meta"]["delivery_error"] == "Twilio error 30003"


async def test_a_twilio_outage_delays_replies_and_loses_none(sms: Sms) -> None:
    sms.twilio.outage(503)
    await sms.text("How do I reset my password?")
    await sms.text("Where is my order?", sender="+66899999999")
    await eventually(lambda: sms.twilio.requests >= 2)  # tried, and refused
    assert sms.twilio.sent == []

    sms.twilio.recover()

    sent = await sms.replies(2)
    assert sorted(s.to for s in sent) == ["+66812345678", "+66899999999"]
    await sms.text("Thanks", sender="+66877777777")
    assert len(await sms.replies(3)) == 3  # each exactly once


async def test_a_number_the_carrier_reports_unsubscribed_is_treated_as_opted_out(
    sms: Sms,
) -> None:
    sms.twilio.unsubscribed.add(CUSTOMER)  # they texted STOP to the carrier, not to us
    await sms.text("I want to talk to a person")

    async def noted() -> bool:
        conv = await sms.conversation()
        return any(m["meta"].get("source") == "provider" for m in conv["messages"])

    await eventually(noted)
    conv = await sms.agent.claim_next()
    refused = await sms.agent.reply(conv["id"], "Hello?", expect=409)
    assert refused["error"]["code"] == "customer_opted_out"
    assert sms.twilio.sent == []
