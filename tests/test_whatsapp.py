"""WhatsApp Cloud API: the webhooks on a tiny app, the adapter against a local stand-in of the
Graph API. No database, no Switchboard app."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from channels.base import (
    ChannelAdapter,
    InboundMessage,
    MessageKind,
    OutboundMessage,
    Suggestion,
)
from channels.errors import PermanentChannelError, TransientChannelError
from channels.whatsapp import CHANNEL, TRAITS, WhatsAppAdapter, WhatsAppWebhooks
from channels.whatsapp_api import WhatsAppRejected
from storage.models import AuthorKind, DeliveryState
from tests.fakes.whatsapp import (
    FakeWhatsApp,
    button_webhook,
    graph_error,
    location_webhook,
    media_webhook,
    message,
    sign,
    signed,
    status,
    status_webhook,
    text_webhook,
    verification,
    webhook,
    welcome_webhook,
    window_closed,
)

APP_SECRET = "8f1c0e7d4b2a9d6e3f5a1b7c9d0e2f4a"
VERIFY_TOKEN = "switchboard-verify-2a9d"
WA_ID = "66812345678"
CUSTOMER = "+66812345678"
GRAPH = "https://graph.example.test"
PATH = "/webhooks/whatsapp"


class Collector:
    """The router's side: what was handled and reported; ``fail`` makes storing fail."""

    def __init__(self) -> None:
        self.handled: list[InboundMessage] = []
        self.reported: list[tuple[str, DeliveryState, str | None]] = []
        self.fail_on: int | None = None  # the index of the message that cannot be stored
        self.failure: Exception = RuntimeError("database unavailable")

    async def handle(self, message: InboundMessage) -> None:
        if self.fail_on is not None and len(self.handled) == self.fail_on:
            self.fail_on = None if isinstance(self.failure, ValueError) else self.fail_on
            raise self.failure
        self.handled.append(message)

    async def report(self, wamid: str, state: DeliveryState, error: str | None) -> bool:
        self.reported.append((wamid, state, error))
        return True


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
async def client(aiohttp_client: Any, collector: Collector) -> TestClient:
    app = web.Application()
    WhatsAppWebhooks(
        handle=collector.handle,
        report=collector.report,
        verify_token=VERIFY_TOKEN,
        app_secret=APP_SECRET,
        default_region="TH",
        api_base_url=GRAPH,
    ).add_routes(app)
    return await aiohttp_client(app)


@pytest.fixture
async def wa() -> AsyncIterator[FakeWhatsApp]:
    async with FakeWhatsApp() as fake:
        yield fake


@pytest.fixture
async def adapter(wa: FakeWhatsApp) -> AsyncIterator[WhatsAppAdapter]:
    sender = WhatsAppAdapter(
        api_base_url=wa.base_url,
        access_token=wa.access_token,
        phone_number_id=wa.phone_number_id,
        timeout=5,
    )
    yield sender
    await sender.close()


def outbound(
    text: str,
    *,
    author: AuthorKind = AuthorKind.AGENT,
    suggestions: tuple[Suggestion, ...] = (),
    locale: str | None = None,
    touchpoint: int = 7,
) -> OutboundMessage:
    return OutboundMessage(
        channel=CHANNEL,
        address=CUSTOMER,
        text=text,
        touchpoint_id=touchpoint,
        author_kind=author,
        created_at=datetime(2024, 5, 1, tzinfo=UTC),
        suggestions=suggestions,
        meta={"locale": locale} if locale else {},
    )


async def post(client: TestClient, request: tuple[bytes, dict[str, str]]) -> tuple[int, Any]:
    body, headers = request
    async with client.post(PATH, data=body, headers=headers) as response:
        text = await response.text()
        is_json = response.content_type == "application/json"
        return response.status, json.loads(text) if is_json else text


# --- verification handshake --------------------------------------------------------------------


async def test_handshake_with_our_token_echoes_the_challenge(client: TestClient) -> None:
    async with client.get(PATH, params=verification(VERIFY_TOKEN, "1158201444")) as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        assert await response.text() == "1158201444"


@pytest.mark.parametrize(
    "query",
    [
        verification("not-our-token"),
        {**verification(VERIFY_TOKEN), "hub.mode": "unsubscribe"},
        {"hub.challenge": "1158201444"},
    ],
)
async def test_handshake_with_anything_else_is_refused(
    client: TestClient, query: dict[str, str]
) -> None:
    async with client.get(PATH, params=query) as response:
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "bad_verify_token"
        assert "1158201444" not in await response.text()


# --- messages ------------------------------------------------------------------------------


async def test_text_message_is_handed_over_with_sender_and_name(
    client: TestClient, collector: Collector
) -> None:
    request = text_webhook(APP_SECRET, wa_id=WA_ID, text="Where is my order?", id="wamid.A1")

    assert (await post(client, request))[0] == 200

    [got] = collector.handled
    assert (got.channel, got.address, got.text) == ("whatsapp", CUSTOMER, "Where is my order?")
    assert (got.external_id, got.display_name, got.phone) == ("wamid.A1", "Ana", None)
    assert got.meta["wa_id"] == WA_ID
    assert collector.reported == []


async def test_non_ascii_text_survives_metas_escaped_json(
    client: TestClient, collector: Collector
) -> None:
    body, headers = text_webhook(APP_SECRET, wa_id=WA_ID, text="สวัสดีครับ 🙏 https://shop.example/a")
    assert b"\\u0e2a" in body and b"https:\\/\\/" in body  # as Meta writes it

    assert (await post(client, (body, headers)))[0] == 200
    assert collector.handled[0].text == "สวัสดีครับ 🙏 https://shop.example/a"


async def test_image_and_document_become_attachments(
    client: TestClient, collector: Collector
) -> None:
    image = media_webhook(
        APP_SECRET,
        wa_id=WA_ID,
        media_id="1037543291543636",
        mime_type="image/jpeg",
        caption="Broken",
    )
    document = media_webhook(
        APP_SECRET,
        wa_id=WA_ID,
        kind="document",
        media_id="2044",
        mime_type="application/pdf",
        filename="invoice-118.pdf",
    )
    assert (await post(client, image))[0] == 200
    assert (await post(client, document))[0] == 200

    photo, pdf = collector.handled
    assert photo.text == "Broken"
    [attached] = photo.attachments
    assert (attached.name, attached.content_type) == ("image.jpg", "image/jpeg")
    assert attached.url == f"{GRAPH}/v21.0/1037543291543636"
    assert photo.meta["media"][0]["id"] == "1037543291543636"
    assert pdf.text == ""
    assert [(a.name, a.content_type) for a in pdf.attachments] == [
        ("invoice-118.pdf", "application/pdf")
    ]


async def test_our_button_press_reads_as_the_full_title(
    client: TestClient, collector: Collector
) -> None:
    full = "How do I reset my password on the mobile app?"
    pressed = button_webhook(
        APP_SECRET, wa_id=WA_ID, reply_id=f"s:{full}", title="How do I reset my…"
    )
    picked = button_webhook(
        APP_SECRET,
        wa_id=WA_ID,
        reply_id="h:Talk to a person",
        title="Talk to a person",
        kind="list_reply",
    )
    foreign = button_webhook(APP_SECRET, wa_id=WA_ID, reply_id="promo-42", title="Yes please")

    for request in (pressed, picked, foreign):
        assert (await post(client, request))[0] == 200

    assert [m.text for m in collector.handled] == [full, "Talk to a person", "Yes please"]
    assert collector.handled[0].meta["reply_to"].startswith("wamid.")


async def test_template_quick_reply_reads_as_its_text(
    client: TestClient, collector: Collector
) -> None:
    pressed = message(WA_ID, "button", {"payload": "CONFIRM_118", "text": "Confirm delivery"})
    assert (await post(client, webhook(APP_SECRET, messages=[pressed])))[0] == 200
    assert collector.handled[0].text == "Confirm delivery"
    assert collector.handled[0].display_name is None  # no profile in this payload


async def test_location_and_shared_contacts_become_text(
    client: TestClient, collector: Collector
) -> None:
    place = message(
        WA_ID,
        "location",
        {"latitude": 13.7563, "longitude": 100.5018, "name": "Siam Paragon", "address": "Bangkok"},
    )
    friend = {
        "name": {"formatted_name": "Bee"},
        "phones": [{"phone": "+66 89 111 2222", "wa_id": "66891112222"}],
    }
    cards = message(WA_ID, "contacts", [friend])
    assert (await post(client, webhook(APP_SECRET, messages=[place, cards])))[0] == 200

    where, contact = collector.handled
    assert where.text == "Location: Siam Paragon, Bangkok (13.7563, 100.5018)"
    assert contact.text == "Contact: Bee +66 89 111 2222"
    assert contact.phone is None  # someone else's card never links identities


async def test_own_contact_card_links_the_other_number(
    client: TestClient, collector: Collector
) -> None:
    own = {
        "name": {"formatted_name": "Ana"},
        "phones": [
            {"phone": "+66 81 234 5678", "wa_id": WA_ID, "type": "CELL"},
            {"phone": "02 123 4567", "type": "HOME"},
        ],
    }
    card = message(WA_ID, "contacts", [own])
    assert (await post(client, webhook(APP_SECRET, messages=[card])))[0] == 200
    assert collector.handled[0].phone == "+6621234567"


async def test_mexican_wa_id_maps_to_the_e164_number(
    client: TestClient, collector: Collector
) -> None:
    assert (await post(client, text_webhook(APP_SECRET, wa_id="5215512345678", text="hola")))[
        0
    ] == 200
    assert collector.handled[0].address == "+525512345678"


async def test_batch_is_handled_in_order_and_reactions_are_not_messages(
    client: TestClient, collector: Collector
) -> None:
    first = message(WA_ID, "text", {"body": "one"})
    reaction = message(WA_ID, "reaction", {"message_id": "wamid.OURS", "emoji": "👍"})
    second = message("66899990000", "text", {"body": "two"})
    sent = status("wamid.OURS", "read", recipient_id=WA_ID)
    request = webhook(APP_SECRET, messages=[first, reaction, second], statuses=[sent])

    assert (await post(client, request))[0] == 200

    assert [(m.address, m.text) for m in collector.handled] == [
        (CUSTOMER, "one"),
        ("+66899990000", "two"),
    ]
    assert collector.reported == [("wamid.OURS", DeliveryState.READ, None)]


async def test_the_welcome_request_is_the_chats_opener(
    client: TestClient, collector: Collector
) -> None:
    assert (await post(client, welcome_webhook(APP_SECRET, wa_id=WA_ID)))[0] == 200

    [opened] = collector.handled
    assert (opened.address, opened.kind) == (CUSTOMER, MessageKind.OPENER)
    assert opened.text == "Opened the chat for the first time"
    assert opened.display_name == "Ana"


async def test_locations_and_contact_cards_have_no_words(
    client: TestClient, collector: Collector
) -> None:
    card = [{"name": {"formatted_name": "Somchai"}, "phones": [{"phone": "+66 81 234 5678"}]}]
    await post(client, location_webhook(APP_SECRET, wa_id=WA_ID))
    await post(client, webhook(APP_SECRET, messages=[message(WA_ID, "contacts", card)]))

    location, contacts = collector.handled
    assert location.text.startswith("Location: Siam Paragon") and location.media_only
    assert contacts.text.startswith("Contact: Somchai") and contacts.media_only


# --- statuses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("sent", DeliveryState.SENT),
        ("delivered", DeliveryState.DELIVERED),
        ("read", DeliveryState.READ),
    ],
)
async def test_status_is_reported_never_handled(
    client: TestClient, collector: Collector, state: str, expected: DeliveryState
) -> None:
    request = status_webhook(APP_SECRET, id="wamid.OUT1", state=state, recipient_id=WA_ID)
    assert (await post(client, request))[0] == 200
    assert collector.reported == [("wamid.OUT1", expected, None)]
    assert collector.handled == []


async def test_failed_status_carries_the_reason(client: TestClient, collector: Collector) -> None:
    closed = status_webhook(
        APP_SECRET,
        id="wamid.LATE",
        state="failed",
        recipient_id=WA_ID,
        error_code=131047,
        error_title="Re-engagement message",
        details="Message failed to send because more than 24 hours have passed",
    )
    undeliverable = status_webhook(
        APP_SECRET,
        id="wamid.GONE",
        state="failed",
        recipient_id=WA_ID,
        error_code=131026,
        error_title="Message undeliverable",
    )
    for request in (closed, undeliverable):
        assert (await post(client, request))[0] == 200

    (late, s1, why1), (gone, s2, why2) = collector.reported
    assert (late, s1, gone, s2) == (
        "wamid.LATE",
        DeliveryState.FAILED,
        "wamid.GONE",
        DeliveryState.FAILED,
    )
    assert why1 is not None and "24-hour window closed" in why1
    assert why2 == "WhatsApp error 131026: Message undeliverable"


# --- refusals ------------------------------------------------------------------------------


async def test_forged_or_missing_signature_is_refused(
    client: TestClient, collector: Collector
) -> None:
    body, headers = text_webhook(APP_SECRET, wa_id=WA_ID, text="hi")
    forged = {**headers, "X-Hub-Signature-256": sign("not-the-secret", body)}
    tampered = body.replace(b"hi", b"ho")
    missing = {k: v for k, v in headers.items() if k != "X-Hub-Signature-256"}

    status_forged, answer = await post(client, (body, forged))
    assert (status_forged, answer["error"]["code"]) == (403, "bad_signature")
    assert (await post(client, (tampered, headers)))[0] == 403
    status_missing, answer = await post(client, (body, missing))  # the sha1 one is not enough
    assert (status_missing, answer["error"]["code"]) == (401, "missing_signature")
    assert collector.handled == []


@pytest.mark.parametrize(
    ("body", "error", "reason"),
    [
        (b"{not json", "bad_json", "not valid JSON"),
        (b'{"entry": [' * 20_000, "too_deep", "levels deep"),
        (b'{"object": "whatsapp_business_account"}', "bad_payload", "'entry'"),
    ],
)
async def test_malformed_body_is_a_400(
    client: TestClient, collector: Collector, body: bytes, error: str, reason: str
) -> None:
    code, answer = await post(client, signed(APP_SECRET, body))
    assert code == 400
    assert answer["error"]["code"] == error and reason in answer["error"]["message"]
    assert collector.handled == []


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(message(WA_ID, "image", {"mime_type": "image/png"}), id="no-media-id"),
        pytest.param({"id": "wamid.X", "type": "text", "text": {"body": "hi"}}, id="no-from"),
        pytest.param("not a message", id="not-an-object"),
    ],
)
async def test_a_malformed_message_is_skipped_and_the_rest_of_the_batch_stored(
    client: TestClient, collector: Collector, broken: Any
) -> None:
    good = message(WA_ID, "text", {"body": "fine"})
    later = message(WA_ID, "text", {"body": "also fine"})

    code, _ = await post(client, webhook(APP_SECRET, messages=[good, broken, later]))

    assert code == 200
    assert [m.text for m in collector.handled] == ["fine", "also fine"]


async def test_store_failure_is_a_503_so_meta_redelivers(
    client: TestClient, collector: Collector
) -> None:
    request = webhook(
        APP_SECRET,
        messages=[message(WA_ID, "text", {"body": "one"}), message(WA_ID, "text", {"body": "two"})],
    )
    collector.fail_on = 1
    code, answer = await post(client, request)
    assert (code, answer["error"]["code"]) == (503, "unavailable")

    collector.fail_on = None  # Meta redelivers the same batch; the router drops "one" by wamid
    assert (await post(client, request))[0] == 200
    assert [m.text for m in collector.handled] == ["one", "one", "two"]
    assert collector.handled[0].external_id == collector.handled[1].external_id


async def test_a_message_that_can_never_be_stored_is_dropped_and_the_batch_answered_200(
    client: TestClient, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    request = webhook(
        APP_SECRET,
        messages=[
            message(WA_ID, "text", {"body": "one"}),
            message(WA_ID, "text", {"body": "bad"}),
            message(WA_ID, "text", {"body": "three"}),
        ],
    )
    collector.fail_on, collector.failure = 1, ValueError("a value no column takes")

    code, _ = await post(client, request)

    assert code == 200  # Meta would redeliver a 5xx forever: it would fail the same way
    assert [m.text for m in collector.handled] == ["one", "three"]
    assert "whatsapp_message_dropped" in [r.getMessage() for r in caplog.records]


async def test_other_products_on_the_app_are_acknowledged_and_ignored(
    client: TestClient, collector: Collector
) -> None:
    body = json.dumps({"object": "page", "entry": [{"id": "1", "messaging": []}]}).encode()
    assert (await post(client, signed(APP_SECRET, body)))[0] == 200
    assert collector.handled == [] and collector.reported == []


# --- sending -------------------------------------------------------------------------------


def test_traits_put_whatsapp_with_the_phone_channels() -> None:
    assert TRAITS.address_kind == "phone"
    assert TRAITS.reply_window is not None and TRAITS.reply_window.total_seconds() == 24 * 3600


async def test_agent_text_goes_out_in_the_graph_shape(
    adapter: WhatsAppAdapter, wa: FakeWhatsApp
) -> None:
    assert isinstance(adapter, ChannelAdapter)
    receipt = await adapter.send(outbound("Your parcel arrives tomorrow."))

    [sent] = wa.sent
    assert sent.payload == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": WA_ID,
        "type": "text",
        "text": {"body": "Your parcel arrives tomorrow.", "preview_url": False},
    }
    assert (receipt.provider_message_id, receipt.state) == (sent.id, DeliveryState.SENT)


async def test_suggestions_become_reply_buttons_that_send_the_full_title_back(
    adapter: WhatsAppAdapter, wa: FakeWhatsApp, client: TestClient, collector: Collector
) -> None:
    long_title = "How do I reset my password on the mobile app?"
    suggestions = (Suggestion("kb-1", long_title), Suggestion("kb-2", "Opening hours"))
    await adapter.send(
        outbound("Maybe one of these helps:", author=AuthorKind.BOT, suggestions=suggestions)
    )

    [sent] = wa.sent
    assert (sent.type, sent.payload["interactive"]["type"], sent.body) == (
        "interactive",
        "button",
        "Maybe one of these helps:",
    )
    titles = [title for _, title in sent.choices]
    assert titles == ["How do I reset my…", "Opening hours", "Talk to a person"]

    # The customer presses the first button: WhatsApp sends back its id and shown title.
    reply_id, shown = sent.choices[0]
    assert (
        await post(client, button_webhook(APP_SECRET, wa_id=WA_ID, reply_id=reply_id, title=shown))
    )[0] == 200
    assert collector.handled[0].text == long_title


async def test_many_suggestions_become_a_list_in_the_customers_language(
    adapter: WhatsAppAdapter, wa: FakeWhatsApp
) -> None:
    suggestions = tuple(
        Suggestion(f"kb-{n}", f"คำถามที่พบบ่อยเรื่องการจัดส่งสินค้า ข้อ {n}") for n in range(12)
    )
    await adapter.send(
        outbound("ลองดูหัวข้อเหล่านี้", author=AuthorKind.BOT, suggestions=suggestions, locale="th")
    )

    [sent] = wa.sent
    interactive = sent.payload["interactive"]
    assert interactive["type"] == "list" and interactive["action"]["button"] == "ตัวเลือก"
    assert len(sent.choices) == 10  # WhatsApp's maximum: nine suggestions and the handoff
    assert sent.choices[-1] == ("h:คุยกับพนักงาน", "คุยกับพนักงาน")
    assert all(len(title) <= 24 for _, title in sent.choices)
    assert len({title for _, title in sent.choices}) == 10
    row = interactive["action"]["sections"][0]["rows"][0]
    assert row["description"] == suggestions[0].title  # cut in the title, whole below it


async def test_bot_answer_without_suggestions_still_offers_a_person(
    adapter: WhatsAppAdapter, wa: FakeWhatsApp
) -> None:
    await adapter.send(outbound("We open at 9.", author=AuthorKind.BOT))
    assert wa.sent[0].choices == [("h:Talk to a person", "Talk to a person")]


async def test_titles_that_clip_alike_stay_distinct(
    adapter: WhatsAppAdapter, wa: FakeWhatsApp
) -> None:
    suggestions = (
        Suggestion("a", "Refund policy for damaged items"),
        Suggestion("b", "Refund policy for late deliveries"),
    )
    await adapter.send(outbound("See:", suggestions=suggestions))  # the fake refuses duplicates
    titles = [t for _, t in wa.sent[0].choices]
    assert len(set(titles)) == 3 and all(len(t) <= 20 for t in titles)


async def test_long_text_is_split_in_order(adapter: WhatsAppAdapter, wa: FakeWhatsApp) -> None:
    sentence = "Your parcel left our warehouse this morning and should arrive within two days. "
    text = "\n\n".join((sentence * 8).strip() for _ in range(16))  # about 10,000 characters

    receipt = await adapter.send(outbound(text, author=AuthorKind.BOT))

    # three parts of text (WhatsApp's limit is 4096), then the last ≤ 1024 with the button
    assert [s.type for s in wa.sent] == ["text", "text", "text", "interactive"]
    assert all(len(s.body) <= 4096 for s in wa.sent) and len(wa.sent[-1].body) <= 1024
    assert " ".join(" ".join(s.body for s in wa.sent).split()) == " ".join(text.split())
    assert receipt.provider_message_id == wa.sent[0].id


async def test_a_retry_after_a_partial_failure_sends_only_the_rest(
    adapter: WhatsAppAdapter, wa: FakeWhatsApp
) -> None:
    text = "\n\n".join("x" * 3000 for _ in range(3))
    wa.fail_next(503, after=1)
    with pytest.raises(TransientChannelError):
        await adapter.send(outbound(text))
    receipt = await adapter.send(outbound(text))
    assert len(wa.sent) == 3
    assert receipt.provider_message_id == wa.sent[0].id


async def test_rate_limit_is_transient_with_retry_after(
    adapter: WhatsAppAdapter, wa: FakeWhatsApp
) -> None:
    wa.rate_limit(1, retry_after="7")
    with pytest.raises(TransientChannelError) as caught:
        await adapter.send(outbound("hi"))
    assert caught.value.retry_after == 7.0
    assert "130429" in str(caught.value)
    await adapter.send(outbound("hi"))
    assert len(wa.sent) == 1


async def test_rate_limit_codes_on_a_400_are_transient(
    adapter: WhatsAppAdapter, wa: FakeWhatsApp
) -> None:
    wa.fail_next(400, graph_error(80007, "(#80007) Rate limit issues"))
    wa.fail_next(
        400,
        graph_error(131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit"),
    )
    with pytest.raises(TransientChannelError):
        await adapter.send(outbound("hi"))
    with pytest.raises(TransientChannelError) as caught:
        await adapter.send(outbound("hi"))
    assert caught.value.retry_after == 6.0  # one message per 6 s to the same customer


async def test_server_errors_and_outages_are_transient(
    adapter: WhatsAppAdapter, wa: FakeWhatsApp
) -> None:
    wa.fail_next(500)
    with pytest.raises(TransientChannelError):
        await adapter.send(outbound("hi"))
    wa.outage()
    with pytest.raises(TransientChannelError):
        await adapter.send(outbound("hi"))
    wa.recover()
    await adapter.send(outbound("hi"))
    await wa.stop()
    with pytest.raises(TransientChannelError, match="unreachable"):
        await adapter.send(outbound("hi"))
    assert len(wa.sent) == 1


async def test_rejections_are_permanent_with_metas_message(
    adapter: WhatsAppAdapter, wa: FakeWhatsApp
) -> None:
    wa.fail_next(
        400,
        graph_error(
            131026,
            "(#131026) Message undeliverable",
            details="Receiver is incapable of receiving this message",
        ),
    )
    with pytest.raises(WhatsAppRejected) as caught:
        await adapter.send(outbound("hi"))
    assert caught.value.code == 131026
    assert "Receiver is incapable of receiving this message" in str(caught.value)

    wa.fail_next(403, graph_error(10, "(#10) Application does not have permission for this action"))
    with pytest.raises(PermanentChannelError, match="does not have permission"):
        await adapter.send(outbound("hi"))


async def test_closed_24_hour_window_is_permanent_and_says_so(
    adapter: WhatsAppAdapter, wa: FakeWhatsApp
) -> None:
    wa.fail_next(400, window_closed())
    with pytest.raises(PermanentChannelError, match="24-hour window closed"):
        await adapter.send(outbound("Sorry for the wait!"))


async def test_invalid_content_is_refused_by_the_fake_like_meta(wa: FakeWhatsApp) -> None:
    sender = WhatsAppAdapter(
        api_base_url=wa.base_url, access_token="EAAG-revoked", phone_number_id=wa.phone_number_id
    )
    try:
        with pytest.raises(TransientChannelError, match="190"):  # fixable by an operator
            await sender.send(outbound("hi"))
    finally:
        await sender.close()
    wrong_number = WhatsAppAdapter(
        api_base_url=wa.base_url, access_token=wa.access_token, phone_number_id="999"
    )
    try:
        with pytest.raises(PermanentChannelError, match="does not exist"):
            await wrong_number.send(outbound("hi"))
    finally:
        await wrong_number.close()
    assert wa.sent == []


async def test_customer_media_is_fetched_with_the_token(
    adapter: WhatsAppAdapter, wa: FakeWhatsApp
) -> None:
    media_id = wa.add_media(b"%PDF-1.7 invoice", "application/pdf")
    data, content_type = await adapter.media(media_id)
    assert (data, content_type) == (b"%PDF-1.7 invoice", "application/pdf")


async def test_empty_reply_and_closed_adapter(adapter: WhatsAppAdapter, wa: FakeWhatsApp) -> None:
    with pytest.raises(PermanentChannelError, match="empty"):
        await adapter.send(outbound("   "))
    await adapter.close()
    with pytest.raises(TransientChannelError, match="closed"):
        await adapter.send(outbound("hi"))
    assert wa.sent == []
