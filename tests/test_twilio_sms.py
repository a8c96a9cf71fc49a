"""SMS through Twilio, against a local stand-in of Twilio's REST API: no database, no app."""

from __future__ import annotations

import base64
import unicodedata
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from twilio.request_validator import RequestValidator

from channels.base import ChannelAdapter, OutboundMessage, Suggestion
from channels.errors import PermanentChannelError, TransientChannelError
from channels.phone import InvalidPhoneNumber, normalize_phone
from channels.sms import SmsAdapter
from channels.text import segments, sms_length, split_sms
from channels.twilio_api import TwilioApi, TwilioRejected
from storage.models import AuthorKind, DeliveryState
from tests.fakes.twilio import FakeTwilio
from tests.fakes.twilio_webhooks import inbound_sms, message_status, sign, signed, voice

CUSTOMER = "+66812345678"
OUR_NUMBER = "+15005550006"
CALLBACK = "https://sb.example.com/twilio/sms/status"


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake


@pytest.fixture
async def api(twilio: FakeTwilio) -> AsyncIterator[TwilioApi]:
    client = TwilioApi(twilio.account_sid, twilio.auth_token, twilio.base_url, timeout=2)
    yield client
    await client.close()


@pytest.fixture
def adapter(api: TwilioApi) -> SmsAdapter:
    return SmsAdapter(api, from_number=OUR_NUMBER, status_callback_url=CALLBACK)


def outbound(text: str, *, address: str = CUSTOMER, **kwargs: object) -> OutboundMessage:
    return OutboundMessage(
        channel="sms",
        address=address,
        text=text,
        touchpoint_id=41,
        author_kind=AuthorKind.BOT,
        created_at=datetime(2024, 5, 1, tzinfo=UTC),
        **kwargs,  # type: ignore[arg-type]
    )


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def english(chars: int) -> str:
    """Paragraphs of sentences of whole words, about ``chars`` long."""
    sentence = "Your parcel left our warehouse this morning and should arrive within two days. "
    paragraphs, text = [], ""
    while len(text) < chars:
        paragraphs.append((sentence * 5).strip())
        text = "\n\n".join(paragraphs)
    return text


THAI = "ที่นี่มีน้ำใจและเราจะช่วยคุณทันที"  # no spaces; many combining vowels and tone marks


# --- the REST calls ---------------------------------------------------------------------------


async def test_send_sms_posts_twilio_form_with_basic_auth(
    api: TwilioApi, twilio: FakeTwilio
) -> None:
    sent = await api.send_sms(CUSTOMER, OUR_NUMBER, "Hello from Switchboard", CALLBACK)

    assert [(m.to, m.from_, m.body, m.status_callback) for m in twilio.sent] == [
        (CUSTOMER, OUR_NUMBER, "Hello from Switchboard", CALLBACK)
    ]
    assert sent.sid == twilio.sent[0].sid
    assert sent.sid.startswith("SM") and len(sent.sid) == 34
    assert (sent.status, sent.segments) == ("queued", 1)


async def test_messaging_service_sid_is_sent_as_such(api: TwilioApi, twilio: FakeTwilio) -> None:
    service = "MG" + "ab" * 16
    sent = await api.send_sms(CUSTOMER, service, "Hi", None)

    assert (twilio.sent[0].from_, twilio.sent[0].messaging_service_sid) == (None, service)
    assert twilio.sent[0].status_callback is None
    assert sent.segments == 1  # Twilio answers "0" for a service; counted here instead


async def test_segments_come_back_from_twilio(api: TwilioApi) -> None:
    assert (await api.send_sms(CUSTOMER, OUR_NUMBER, "a" * 161)).segments == 2
    assert (await api.send_sms(CUSTOMER, OUR_NUMBER, "ก" * 71)).segments == 2


async def test_the_fake_refuses_wrong_credentials_and_json_bodies(twilio: FakeTwilio) -> None:
    url = f"{twilio.base_url}/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    form = {"To": CUSTOMER, "From": OUR_NUMBER, "Body": "x"}
    async with aiohttp.ClientSession() as http:
        wrong = basic(twilio.account_sid, "not-the-token")
        async with http.post(url, data=form, headers={"Authorization": wrong}) as response:
            assert response.status == 401
            assert await response.json() == {
                "code": 20003,
                "message": "Authenticate",
                "more_info": "https://www.twilio.com/docs/errors/20003",
                "status": 401,
            }
        right = basic(twilio.account_sid, twilio.auth_token)
        async with http.post(url, json=form, headers={"Authorization": right}) as response:
            assert response.status == 400
        async with http.post(url, data=form, headers={"Authorization": right}) as response:
            assert response.status == 201
            resource = await response.json()
    assert resource["status"] == "queued" and resource["num_segments"] == "1"
    assert (
        resource["uri"]
        == f"/2010-04-01/Accounts/{twilio.account_sid}/Messages/{resource['sid']}.json"
    )
    assert resource["date_created"].endswith("+0000")
    assert len(twilio.sent) == 1


async def test_wrong_auth_token_is_transient(twilio: FakeTwilio) -> None:
    # The account's credentials, not the message, are wrong: retry once someone fixes them.
    api = TwilioApi(twilio.account_sid, "wrong", twilio.base_url)
    try:
        with pytest.raises(TransientChannelError, match="20003"):
            await api.send_sms(CUSTOMER, OUR_NUMBER, "Hi")
    finally:
        await api.close()
    assert twilio.sent == []


async def test_outage_with_retry_after_seconds_is_transient(
    api: TwilioApi, twilio: FakeTwilio
) -> None:
    twilio.outage(503, retry_after="7")
    with pytest.raises(TransientChannelError, match="503") as raised:
        await api.send_sms(CUSTOMER, OUR_NUMBER, "Hi")
    assert raised.value.retry_after == 7.0
    assert not isinstance(raised.value, PermanentChannelError)

    twilio.recover()
    assert (await api.send_sms(CUSTOMER, OUR_NUMBER, "Hi")).status == "queued"


async def test_retry_after_as_http_date(api: TwilioApi, twilio: FakeTwilio) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    twilio.fail_next(20429, 429, retry_after=later)
    with pytest.raises(TransientChannelError) as raised:
        await api.send_sms(CUSTOMER, OUR_NUMBER, "Hi")
    assert raised.value.retry_after is not None
    assert 100 < raised.value.retry_after <= 120


async def test_server_error_is_transient_without_retry_after(
    api: TwilioApi, twilio: FakeTwilio
) -> None:
    twilio.outage(500)
    with pytest.raises(TransientChannelError, match="500") as raised:
        await api.send_sms(CUSTOMER, OUR_NUMBER, "Hi")
    assert raised.value.retry_after is None


async def test_full_sender_queue_is_transient(api: TwilioApi, twilio: FakeTwilio) -> None:
    twilio.fail_next(
        21611, 400, "This 'From' number has exceeded the maximum number of queued messages"
    )
    with pytest.raises(TransientChannelError, match="21611") as raised:
        await api.send_sms(CUSTOMER, OUR_NUMBER, "Hi")
    assert not isinstance(raised.value, PermanentChannelError)


async def test_connection_refused_is_transient_and_recovers(twilio: FakeTwilio) -> None:
    await twilio.stop()
    api = TwilioApi(twilio.account_sid, twilio.auth_token, twilio.base_url, timeout=2)
    try:
        with pytest.raises(TransientChannelError, match="unreachable"):
            await api.send_sms(CUSTOMER, OUR_NUMBER, "Hi")
        await twilio.start()
        await api.send_sms(CUSTOMER, OUR_NUMBER, "Hi")
    finally:
        await api.close()
    assert len(twilio.sent) == 1


async def test_slow_answer_times_out_as_transient(twilio: FakeTwilio) -> None:
    api = TwilioApi(twilio.account_sid, twilio.auth_token, twilio.base_url, timeout=0.2)
    twilio.delay = 1.0
    try:
        with pytest.raises(TransientChannelError, match="did not answer"):
            await api.send_sms(CUSTOMER, OUR_NUMBER, "Hi")
    finally:
        await api.close()
    # Twilio took it although we gave up: why a retry can duplicate (see SmsAdapter's doc).
    assert len(twilio.sent) == 1


async def test_unsubscribed_recipient_is_permanent_with_code(
    api: TwilioApi, twilio: FakeTwilio
) -> None:
    twilio.unsubscribed.add(CUSTOMER)
    with pytest.raises(TwilioRejected, match="21610") as raised:
        await api.send_sms(CUSTOMER, OUR_NUMBER, "Hi")
    assert isinstance(raised.value, PermanentChannelError)
    assert (raised.value.code, raised.value.status) == (21610, 400)
    assert "unsubscribed recipient" in str(raised.value)
    assert twilio.sent == []


async def test_invalid_to_and_too_long_body_are_permanent(api: TwilioApi) -> None:
    with pytest.raises(PermanentChannelError, match="21211") as raised:
        await api.send_sms("+12", OUR_NUMBER, "Hi")
    assert "not a valid phone number" in str(raised.value)
    with pytest.raises(PermanentChannelError, match="21617"):
        await api.send_sms(CUSTOMER, OUR_NUMBER, "x" * 1601)


async def test_update_call_sends_twiml_or_url(api: TwilioApi, twilio: FakeTwilio) -> None:
    call = twilio.add_call(status="queued")
    twiml = "<Response><Say>An agent is free now.</Say></Response>"

    assert await api.update_call(call, twiml=twiml) == "queued"
    await api.update_call(call, url="https://sb.example.com/twilio/voice/agent")

    assert twilio.call_updates == [
        (call, {"Twiml": twiml}),
        (call, {"Url": "https://sb.example.com/twilio/voice/agent"}),
    ]
    with pytest.raises(ValueError):
        await api.update_call(call)
    with pytest.raises(ValueError):
        await api.update_call(call, twiml=twiml, url="https://sb.example.com/x")
    with pytest.raises(PermanentChannelError, match="20404"):
        await api.update_call("CA" + "0" * 32, twiml=twiml)


async def test_closed_api_refuses_calls_as_transient(api: TwilioApi) -> None:
    await api.send_sms(CUSTOMER, OUR_NUMBER, "Hi")
    await api.close()
    await api.close()  # twice is fine
    with pytest.raises(TransientChannelError, match="closed"):
        await api.send_sms(CUSTOMER, OUR_NUMBER, "Hi")


def test_api_is_built_without_a_loop_and_checks_its_settings() -> None:
    TwilioApi("AC" + "0" * 32, "token", "http://127.0.0.1:1")  # no event loop running here
    with pytest.raises(ValueError):
        TwilioApi("", "token")
    with pytest.raises(ValueError):
        TwilioApi("AC" + "0" * 32, "token", "api.twilio.com")


# --- the adapter ------------------------------------------------------------------------------


async def test_adapter_is_a_channel_adapter(adapter: SmsAdapter, twilio: FakeTwilio) -> None:
    assert isinstance(adapter, ChannelAdapter) and adapter.name == "sms"
    receipt = await adapter.send(outbound("Your order shipped."))

    assert receipt.state is DeliveryState.SENT
    assert receipt.provider_message_id == twilio.sent[0].sid
    # The delivery report names the touchpoint it is about.
    assert [(m.to, m.from_, m.body, m.status_callback) for m in twilio.sent] == [
        (CUSTOMER, OUR_NUMBER, "Your order shipped.", f"{CALLBACK}?tp=41")
    ]


async def test_long_english_reply_goes_as_three_ordered_parts(
    adapter: SmsAdapter, twilio: FakeTwilio
) -> None:
    text = english(3500)
    assert 3500 <= len(text) < 3700

    receipt = await adapter.send(outbound(text))

    bodies = [m.body for m in twilio.sent]
    assert len(bodies) == 3
    assert all(len(body) <= 1600 for body in bodies)
    assert " ".join(bodies).split() == text.split()  # every word, in order, none cut
    assert all(body.endswith(".") for body in bodies)  # cut at paragraph or sentence ends
    assert receipt.provider_message_id == twilio.sent[0].sid


async def test_long_thai_reply_keeps_marks_on_their_letters(
    adapter: SmsAdapter, twilio: FakeTwilio
) -> None:
    text = THAI * 120  # ~4,000 characters, not one space
    await adapter.send(outbound(text))

    bodies = [m.body for m in twilio.sent]
    assert len(bodies) == 3
    assert "".join(bodies) == text
    for body in bodies:
        assert len(body) <= 1600
        assert unicodedata.category(body[0]) not in ("Mn", "Mc")
        assert body[0] != "\u0e33"  # SARA AM belongs to the letter before it


async def test_suggestions_are_appended_as_a_numbered_list(
    adapter: SmsAdapter, twilio: FakeTwilio
) -> None:
    suggestions = (
        Suggestion(article_id="kb-1", title="Reset your password"),
        Suggestion(article_id="kb-2", title="Change  the\nbilling address", summary="not sent"),
    )
    await adapter.send(outbound("These may help:", suggestions=suggestions))

    assert twilio.sent[0].body == (
        "These may help:\n\n1. Reset your password\n2. Change the billing address"
    )


async def test_retry_after_a_failed_second_part_sends_only_the_rest(
    adapter: SmsAdapter, twilio: FakeTwilio
) -> None:
    message = outbound(english(2500))
    parts = split_sms(SmsAdapter.render(message))
    assert len(parts) == 2
    twilio.fail_next(20503, 503, after=1)  # part one goes through, part two does not

    with pytest.raises(TransientChannelError):
        await adapter.send(message)
    assert [m.body for m in twilio.sent] == parts[:1]

    receipt = await adapter.send(message)  # the outbox's retry of the same touchpoint

    assert [m.body for m in twilio.sent] == parts  # part one was not sent again
    assert receipt.provider_message_id == twilio.sent[0].sid
    assert twilio.requests == 3


async def test_a_changed_text_is_sent_whole_again(adapter: SmsAdapter, twilio: FakeTwilio) -> None:
    twilio.fail_next(20503, 503, after=1)
    with pytest.raises(TransientChannelError):
        await adapter.send(outbound(english(2500)))

    await adapter.send(outbound(english(2500) + " Thanks!"))

    assert len(twilio.sent) == 3  # one from the failed try, both parts of the new text


async def test_unusable_address_or_empty_reply_is_permanent(
    adapter: SmsAdapter, twilio: FakeTwilio
) -> None:
    with pytest.raises(PermanentChannelError, match="not a phone number"):
        await adapter.send(outbound("Hi", address="visitor-7f3a"))
    with pytest.raises(PermanentChannelError, match="empty"):
        await adapter.send(outbound("  \n "))
    assert twilio.requests == 0


async def test_opted_out_customer_fails_permanently(
    adapter: SmsAdapter, twilio: FakeTwilio
) -> None:
    twilio.unsubscribed.add(CUSTOMER)
    with pytest.raises(TwilioRejected) as raised:
        await adapter.send(outbound("Hi"))
    assert raised.value.code == 21610


# --- splitting and counting -------------------------------------------------------------------


def test_short_text_is_one_part_and_blank_text_none() -> None:
    assert split_sms("  Hello there.  ") == ["Hello there."]
    assert split_sms(" \n\t ") == []
    assert split_sms("x" * 1600) == ["x" * 1600]


def test_split_prefers_paragraphs_then_sentences_then_words() -> None:
    para = "One two three. " * 4 + "\n\n" + "Four five six. " * 4
    assert split_sms(para.strip(), limit=100) == [
        ("One two three. " * 4).strip(),
        ("Four five six. " * 4).strip(),
    ]
    sentences = "Alpha beta gamma delta epsilon. Zeta eta theta iota kappa lambda mu"
    assert split_sms(sentences, limit=40) == [
        "Alpha beta gamma delta epsilon.",
        "Zeta eta theta iota kappa lambda mu",
    ]
    # A sentence end early in the part would waste it: the last space is used instead.
    assert split_sms("Hi. Alpha beta gamma delta epsilon zeta", limit=20) == [
        "Hi. Alpha beta gamma",
        "delta epsilon zeta",
    ]
    assert split_sms("aaaa bbbb cccc", limit=9) == ["aaaa bbbb", "cccc"]


def test_a_word_longer_than_a_part_is_cut() -> None:
    assert split_sms("x" * 25, limit=10) == ["x" * 10, "x" * 10, "x" * 5]


def test_split_never_breaks_emoji_flags_or_marks() -> None:
    emoji = "😀" * 5  # two UTF-16 units each
    assert split_sms(emoji, limit=4) == ["😀😀", "😀😀", "😀"]
    family = "👩\u200d👩\u200d👧"
    assert split_sms(family * 3, limit=9) == [family, family, family]
    flags = "🇹🇭🇺🇸🇯🇵"
    assert split_sms(flags, limit=5) == ["🇹🇭", "🇺🇸", "🇯🇵"]
    assert split_sms("👍🏽" * 3, limit=6) == ["👍🏽"] * 3  # skin tone stays on its hand
    assert split_sms("กำ" * 3, limit=3) == ["กำ"] * 3  # SARA AM: a spacing mark, category Lo
    assert split_sms("कि" * 3, limit=3) == ["कि"] * 3  # a spacing mark (Mc)
    assert split_sms("น้ำ" * 3, limit=4) == ["น้ำ"] * 3
    accents = "e\u0301" * 6  # e + combining acute
    assert all(p.startswith("e") for p in split_sms(accents, limit=5))


def test_parts_measure_utf16_units() -> None:
    assert sms_length("a😀") == 3
    text = "😀" * 1000  # 2,000 units
    parts = split_sms(text)
    assert [len(p) for p in parts] == [800, 200]


def test_segments_gsm7_and_ucs2() -> None:
    assert segments("a" * 160) == 1
    assert segments("a" * 161) == 2
    assert segments("a" * 306) == 2
    assert segments("a" * 307) == 3
    assert segments("€" * 80) == 1  # extension characters take two septets
    assert segments("€" * 81) == 2
    assert segments("ก" * 70) == 1
    assert segments("ก" * 71) == 2
    assert segments("a" * 134 + "😀") == 3  # one emoji makes the whole message UCS-2
    # 134 units, but the emoji's pair would straddle segments one and two: it moves on.
    assert segments("ก" * 66 + "😀" + "ก" * 66) == 3


# --- phone numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+66 81 234 5678", "US", "+66812345678"),
        ("+66812345678", "US", "+66812345678"),
        ("081-234-5678", "TH", "+66812345678"),
        ("whatsapp:+66812345678", "US", "+66812345678"),
        ("WhatsApp:+1 415 555 2671", "US", "+14155552671"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("  +44 20 7946 0958 ", "US", "+442079460958"),
    ],
)
def test_normalize_phone(raw: str, region: str, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


def test_the_same_customer_on_every_channel_is_one_number() -> None:
    forms = ["+66812345678", "whatsapp:+66812345678", "+66 81-234-5678"]
    assert {normalize_phone(f) for f in forms} | {normalize_phone("0812345678", "TH")} == {
        "+66812345678"
    }


@pytest.mark.parametrize(
    "raw", ["", "hello", "12", "client:alice", "+999 123", "+1 415 555 2671 ext. 7", "whatsapp:"]
)
def test_normalize_phone_refuses_garbage(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as raised:
        normalize_phone(raw)
    assert isinstance(raised.value, ValueError)
    assert repr(raw) in str(raised.value)


# --- webhooks ---------------------------------------------------------------------------------

URL = "https://sb.example.com/twilio/sms?channel=main"


def test_signed_inbound_sms_validates_and_any_change_breaks_it() -> None:
    token = "12345678901234567890123456789012"
    params = inbound_sms(
        account_sid="AC" + "1" * 32,
        from_=CUSTOMER,
        to=OUR_NUMBER,
        body="สวัสดี, is my parcel coming?",
        media=[("https://api.twilio.com/media/ME1", "image/jpeg")],
    )
    request = signed(token, URL, params)
    validator = RequestValidator(token)

    assert validator.validate(URL, params, request.headers["X-Twilio-Signature"])
    assert request.headers["X-Twilio-Signature"] == sign(token, URL, params)
    assert (params["NumMedia"], params["MediaContentType0"]) == ("1", "image/jpeg")
    assert params["MessageSid"].startswith("MM") and params["SmsStatus"] == "received"

    tampered = {**params, "Body": "something else"}
    assert not validator.validate(URL, tampered, request.headers["X-Twilio-Signature"])
    assert not validator.validate(URL.replace("main", "other"), params, sign(token, URL, params))
    assert not RequestValidator("x" * 32).validate(URL, params, sign(token, URL, params))


def test_status_and_voice_webhooks_carry_twilio_parameters() -> None:
    token = "t" * 32
    failed = message_status(
        account_sid="AC" + "1" * 32,
        message_sid="SM" + "2" * 32,
        status="undelivered",
        from_=OUR_NUMBER,
        to=CUSTOMER,
        error_code=30003,
    )
    assert (failed["MessageStatus"], failed["ErrorCode"]) == ("undelivered", "30003")
    assert "ErrorCode" not in message_status(
        account_sid="AC1", message_sid="SM2", status="delivered", from_=OUR_NUMBER, to=CUSTOMER
    )
    with pytest.raises(ValueError):
        message_status(account_sid="A", message_sid="S", status="lost", from_="", to="")

    gathered = voice(
        account_sid="AC" + "1" * 32,
        call_sid="CA" + "3" * 32,
        from_=CUSTOMER,
        to=OUR_NUMBER,
        call_status="in-progress",
        digits="2",
        speech_result="billing",
        confidence=0.91,
    )
    assert (gathered["Digits"], gathered["SpeechResult"], gathered["Confidence"]) == (
        "2",
        "billing",
        "0.91000000",
    )
    voice_url = "https://sb.example.com/twilio/voice/gather"
    assert RequestValidator(token).validate(voice_url, gathered, sign(token, voice_url, gathered))

    whatsapp = inbound_sms(
        account_sid="AC1",
        from_="whatsapp:+66812345678",
        to="whatsapp:+15005550006",
        body="hi",
        profile_name="Somchai",
    )
    assert (whatsapp["WaId"], whatsapp["ProfileName"]) == ("66812345678", "Somchai")
    assert normalize_phone(whatsapp["From"]) == normalize_phone(CUSTOMER)
