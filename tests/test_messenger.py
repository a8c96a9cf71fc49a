"""Facebook Messenger: webhooks on a bare aiohttp app, the adapter against a local Graph stand-in."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from channels.base import ChannelAdapter, InboundMessage, MessageKind, OutboundMessage, Suggestion
from channels.errors import PermanentChannelError, TransientChannelError
from channels.messenger import (
    CHANNEL,
    TRAITS,
    MessengerAdapter,
    MessengerRejected,
    MessengerWebhooks,
    label,
)
from storage.models import AuthorKind, DeliveryState
from tests.fakes.messenger import FakeMessenger, graph_error, meta_json, sign

PATH = "/webhooks/messenger"


class Inbox:
    """The ``handle`` and ``report`` the router would pass, collecting what they are given."""

    def __init__(self) -> None:
        self.handled: list[InboundMessage] = []
        self.reports: list[tuple[str, DeliveryState, str | None]] = []
        self.broken = False

    async def handle(self, message: InboundMessage) -> None:
        if self.broken:
            raise RuntimeError("database is down")
        self.handled.append(message)

    async def report(self, mid: str, state: DeliveryState, error: str | None) -> bool:
        if self.broken:
            raise RuntimeError("database is down")
        self.reports.append((mid, state, error))
        return True


@pytest.fixture
async def meta() -> AsyncIterator[FakeMessenger]:
    async with FakeMessenger() as fake:
        yield fake


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
async def webhook(
    meta: FakeMessenger, inbox: Inbox, aiohttp_client: Callable[..., Any]
) -> TestClient:
    app = web.Application()
    MessengerWebhooks(
        handle=inbox.handle,
        report=inbox.report,
        verify_token=meta.verify_token,
        app_secret=meta.app_secret,
        page_access_token=meta.page_access_token,
        api_base_url=meta.base_url,
    ).add_routes(app)
    client: TestClient = await aiohttp_client(app)
    return client


@pytest.fixture
async def adapter(meta: FakeMessenger) -> AsyncIterator[MessengerAdapter]:
    sender = MessengerAdapter(
        api_base_url=meta.base_url, page_access_token=meta.page_access_token, timeout=2
    )
    yield sender
    await sender.close()


def outbound(
    address: str, text: str, *, author: AuthorKind = AuthorKind.AGENT, **kwargs: Any
) -> OutboundMessage:
    return OutboundMessage(
        channel=CHANNEL,
        address=address,
        text=text,
        touchpoint_id=17,
        author_kind=author,
        created_at=datetime(2024, 5, 1, tzinfo=UTC),
        **kwargs,
    )


async def post(client: TestClient, request: tuple[bytes, dict[str, str]]) -> aiohttp.ClientResponse:
    body, headers = request
    return await client.post(PATH, data=body, headers=headers)


# --- verification handshake -------------------------------------------------------------------


async def test_verification_with_our_token_echoes_the_challenge(
    webhook: TestClient, meta: FakeMessenger
) -> None:
    query = meta.webhooks.verification(meta.verify_token, challenge="1158201444")
    response = await webhook.get(PATH, params=query)

    assert response.status == 200
    assert response.content_type == "text/plain"
    assert await response.text() == "1158201444"


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "guessed", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "RIGHT", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
    ],
)
async def test_verification_with_a_wrong_token_or_mode_is_refused(
    webhook: TestClient, meta: FakeMessenger, query: dict[str, str]
) -> None:
    query = {k: meta.verify_token if v == "RIGHT" else v for k, v in query.items()}
    response = await webhook.get(PATH, params=query)

    assert response.status == 403
    assert "1" not in await response.text()


# --- inbound messages -------------------------------------------------------------------------


async def test_text_message_reaches_handle_with_psid_mid_and_profile_name(
    webhook: TestClient, meta: FakeMessenger, inbox: Inbox
) -> None:
    psid = meta.add_user("Somchai", "Jaidee")
    event = meta.webhooks.text_event(psid, "Where is my parcel?")

    response = await post(webhook, meta.webhooks.signed(event))

    assert response.status == 200
    [message] = inbox.handled
    assert (message.channel, message.address, message.text) == (
        "messenger",
        psid,
        "Where is my parcel?",
    )
    assert message.external_id == event["message"]["mid"]
    assert message.display_name == "Somchai Jaidee"
    assert message.meta["page_id"] == meta.page_id
    assert inbox.reports == []


async def test_the_profile_is_fetched_once_per_customer(
    webhook: TestClient, meta: FakeMessenger, inbox: Inbox
) -> None:
    psid = meta.add_user("Ana", "Lima")
    await post(webhook, meta.webhooks.text_message(psid, "one"))
    await post(webhook, meta.webhooks.text_message(psid, "two"))

    assert [m.display_name for m in inbox.handled] == ["Ana Lima", "Ana Lima"]
    assert meta.profile_requests == [psid]


async def test_a_failed_profile_lookup_never_fails_the_message(
    webhook: TestClient, meta: FakeMessenger, inbox: Inbox
) -> None:
    psid = meta.add_user()
    meta.outage(503)
    first = await post(webhook, meta.webhooks.text_message(psid, "hello?"))
    second = await post(webhook, meta.webhooks.text_message(psid, "anyone?"))

    assert (first.status, second.status) == (200, 200)
    assert [(m.text, m.display_name) for m in inbox.handled] == [
        ("hello?", None),
        ("anyone?", None),
    ]
    assert meta.requests == 1  # lookups pause after a failure: Meta's deadline is 20 s


async def test_without_a_page_token_no_profile_is_looked_up(
    meta: FakeMessenger, inbox: Inbox, aiohttp_client: Callable[..., Any]
) -> None:
    app = web.Application()
    MessengerWebhooks(
        handle=inbox.handle,
        report=inbox.report,
        verify_token=meta.verify_token,
        app_secret=meta.app_secret,
    ).add_routes(app)
    client = await aiohttp_client(app)
    psid = meta.add_user()

    assert (await post(client, meta.webhooks.text_message(psid, "hi"))).status == 200
    assert inbox.handled[0].display_name is None
    assert meta.requests == 0


async def test_non_ascii_text_is_checked_on_metas_escaped_bytes(
    webhook: TestClient, meta: FakeMessenger, inbox: Inbox
) -> None:
    psid = meta.add_user()
    text = "สวัสดีค่ะ ดูที่ https://shop.example/orders/7 ได้ไหม 🙏"
    body, headers = meta.webhooks.text_message(psid, text)
    assert b"\\u0e2a" in body and b"\\/orders\\/7" in body  # what Meta signs

    assert (await post(webhook, (body, headers))).status == 200
    assert inbox.handled[0].text == text


async def test_media_becomes_attachments_with_urls_and_types(
    webhook: TestClient, meta: FakeMessenger, inbox: Inbox
) -> None:
    psid = meta.add_user()
    photo = "https://scontent.xx.fbcdn.net/v/t1.15752-9/4411_n.png?_nc_cat=1&oh=abc"
    invoice = "https://cdn.fbsbx.com/v/t59.2708-21/invoice%20May.pdf/invoice%20May.pdf?oh=x"
    clip = "https://video.xx.fbcdn.net/v/t42.3356-2/clip?dl=1"
    request = meta.webhooks.media_message(
        psid, [("image", photo), ("file", invoice), ("video", clip)], text="see these"
    )

    assert (await post(webhook, request)).status == 200
    [message] = inbox.handled
    assert message.text == "see these"
    assert [(a.name, a.content_type, a.url) for a in message.attachments] == [
        ("4411_n.png", "image/png", photo),
        ("invoice May.pdf", "application/pdf", invoice),
        ("clip", "video/mp4", clip),
    ]


async def test_a_quick_reply_press_arrives_as_the_full_title(
    webhook: TestClient, meta: FakeMessenger, inbox: Inbox
) -> None:
    psid = meta.add_user()
    title = "How do I change my delivery address?"
    ours = meta.webhooks.quick_reply_event(psid, "How do I change my…", "sb:text:" + title)
    foreign = meta.webhooks.quick_reply_event(psid, "Yes", "SOME_OTHER_APP_PAYLOAD")

    assert (await post(webhook, meta.webhooks.signed(ours, foreign))).status == 200
    assert [m.text for m in inbox.handled] == [title, "Yes"]
    assert inbox.handled[0].meta["quick_reply_payload"] == "sb:text:" + title


async def test_a_postback_arrives_as_its_title(
    webhook: TestClient, meta: FakeMessenger, inbox: Inbox
) -> None:
    psid = meta.add_user()
    event = meta.webhooks.postback_event(psid, "Get Started", "GET_STARTED")
    old = meta.webhooks.postback_event(psid, "Opening hours", "HOURS", with_mid=False)

    assert (await post(webhook, meta.webhooks.signed(event, old))).status == 200
    assert [(m.text, m.meta["postback_payload"]) for m in inbox.handled] == [
        ("Get Started", "GET_STARTED"),
        ("Opening hours", "HOURS"),
    ]
    assert inbox.handled[0].external_id == event["postback"]["mid"]
    assert inbox.handled[1].external_id == f"pb:{psid}:{old['timestamp']}"
    # The Get Started button's payload (GET_STARTED unless set otherwise) opens the chat.
    assert [m.kind for m in inbox.handled] == [MessageKind.OPENER, MessageKind.TEXT]


async def test_a_location_without_a_file_is_named_and_has_no_words(
    webhook: TestClient, meta: FakeMessenger, inbox: Inbox
) -> None:
    psid = meta.add_user()
    event = meta.webhooks.media_event(psid, [])
    event["message"]["attachments"] = [
        {"type": "location", "payload": {"coordinates": {"lat": 13.7, "long": 100.5}}}
    ]

    assert (await post(webhook, meta.webhooks.signed(event))).status == 200
    [message] = inbox.handled
    assert (message.text, message.kind, message.attachments) == (
        "[location]",
        MessageKind.MEDIA,
        (),
    )


async def test_deliveries_are_reported_per_mid_and_never_handled(
    webhook: TestClient, meta: FakeMessenger, inbox: Inbox
) -> None:
    psid = meta.add_user()
    response = await post(webhook, meta.webhooks.delivery(psid, ["m_first", "m_second"]))

    assert response.status == 200
    assert inbox.reports == [
        ("m_first", DeliveryState.DELIVERED, None),
        ("m_second", DeliveryState.DELIVERED, None),
    ]
    assert inbox.handled == []


async def test_echoes_reads_and_watermark_only_deliveries_are_ignored(
    webhook: TestClient, meta: FakeMessenger, inbox: Inbox
) -> None:
    psid = meta.add_user()
    hooks = meta.webhooks
    request = hooks.signed(
        hooks.echo_event(psid, "Thanks for waiting!"),
        hooks.read_event(psid),
        hooks.delivery_event(psid, []),
    )

    assert (await post(webhook, request)).status == 200
    assert (inbox.handled, inbox.reports) == ([], [])
    assert meta.profile_requests == []


async def test_a_batch_is_handled_in_order(
    webhook: TestClient, meta: FakeMessenger, inbox: Inbox
) -> None:
    ana, bo = meta.add_user("Ana", "Lima"), meta.add_user("Bo", "Chen")
    hooks = meta.webhooks
    request = hooks.signed(
        hooks.text_event(ana, "first"),
        hooks.delivery_event(bo, ["m_ours"]),
        hooks.echo_event(bo, "an agent's reply"),
        hooks.postback_event(bo, "Talk to a person", "HANDOFF"),
        hooks.text_event(ana, "third"),
    )

    assert (await post(webhook, request)).status == 200
    assert [(m.display_name, m.text) for m in inbox.handled] == [
        ("Ana Lima", "first"),
        ("Bo Chen", "Talk to a person"),
        ("Ana Lima", "third"),
    ]
    assert inbox.reports == [("m_ours", DeliveryState.DELIVERED, None)]


async def test_a_reply_to_names_the_quoted_message(
    webhook: TestClient, meta: FakeMessenger, inbox: Inbox
) -> None:
    psid = meta.add_user()
    await post(webhook, meta.webhooks.text_message(psid, "this one", reply_to="m_quoted"))

    assert inbox.handled[0].thread_ids == ("m_quoted",)


# --- refused requests ---------------------------------------------------------------------------


async def test_missing_signature_is_refused(
    webhook: TestClient, meta: FakeMessenger, inbox: Inbox
) -> None:
    body, headers = meta.webhooks.text_message(meta.add_user(), "hi")
    del headers["X-Hub-Signature-256"]

    response = await post(webhook, (body, headers))

    assert response.status == 401
    assert (await response.json())["error"]["code"] == "missing_signature"
    assert inbox.handled == []


@pytest.mark.parametrize("forgery", ["other_secret", "tampered", "sha1_only", "garbage"])
async def test_forged_signatures_are_refused(
    webhook: TestClient, meta: FakeMessenger, inbox: Inbox, forgery: str
) -> None:
    psid = meta.add_user()
    body, headers = meta.webhooks.text_message(psid, "refund me")
    if forgery == "other_secret":
        headers["X-Hub-Signature-256"] = sign("not-the-app-secret", body)
    elif forgery == "tampered":
        body = body.replace(b"refund me", b"refund all")
    elif forgery == "sha1_only":
        headers["X-Hub-Signature-256"] = headers["X-Hub-Signature"]
    else:
        headers["X-Hub-Signature-256"] = "sha256=ünïcode"

    response = await post(webhook, (body, headers))

    assert response.status == 403
    assert (await response.json())["error"]["code"] == "bad_signature"
    assert inbox.handled == []


def _signed(meta: FakeMessenger, body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(meta.app_secret, body),
    }


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"object": "page", "entry": [', "not valid JSON"),
        (b'["page"]', "not a JSON object"),
        (b'{"object": "page"}', "entry"),
        (
            meta_json(
                {
                    "object": "page",
                    "entry": [{"id": "1", "messaging": [{"message": {"mid": "m_1"}}]}],
                }
            ),
            "sender.id",
        ),
        (
            meta_json(
                {
                    "object": "page",
                    "entry": [
                        {
                            "id": "1",
                            "messaging": [{"sender": {"id": "9"}, "message": {"text": "x"}}],
                        }
                    ],
                }
            ),
            "message.mid",
        ),
    ],
)
async def test_malformed_payloads_are_400_naming_the_problem(
    webhook: TestClient, meta: FakeMessenger, inbox: Inbox, body: bytes, problem: str
) -> None:
    response = await post(webhook, _signed(meta, body))

    assert response.status == 400
    assert problem in (await response.json())["error"]["message"]
    assert inbox.handled == []


async def test_other_objects_are_acknowledged_and_ignored(
    webhook: TestClient, meta: FakeMessenger, inbox: Inbox
) -> None:
    hooks = meta.webhooks
    request = hooks.signed(hooks.text_event(meta.add_user(), "hi"), object_="instagram")

    assert (await post(webhook, request)).status == 200
    assert inbox.handled == []


@pytest.mark.parametrize("kind", ["message", "delivery"])
async def test_a_store_failure_answers_503_so_meta_resends(
    webhook: TestClient, meta: FakeMessenger, inbox: Inbox, kind: str
) -> None:
    psid = meta.add_user()
    inbox.broken = True
    hooks = meta.webhooks
    request = hooks.text_message(psid, "hi") if kind == "message" else hooks.delivery(psid, ["m_1"])

    response = await post(webhook, request)

    assert response.status == 503
    assert (await response.json())["error"]["code"] == "unavailable"


def test_webhooks_refuse_to_run_without_secrets() -> None:
    async def nothing(*_: Any) -> bool:
        return False

    with pytest.raises(ValueError, match="app secret"):
        MessengerWebhooks(handle=nothing, report=nothing, verify_token="v", app_secret="")


# --- outbound: the Send API -----------------------------------------------------------------------


async def test_an_agent_reply_is_sent_in_the_send_api_shape(
    adapter: MessengerAdapter, meta: FakeMessenger
) -> None:
    psid = meta.add_user()
    receipt = await adapter.send(outbound(psid, "Your parcel arrives Friday."))

    [sent] = meta.sent
    assert sent.payload == {
        "recipient": {"id": psid},
        "messaging_type": "RESPONSE",
        "message": {"text": "Your parcel arrives Friday."},
    }
    assert (receipt.provider_message_id, receipt.state) == (sent.message_id, DeliveryState.SENT)
    assert isinstance(adapter, ChannelAdapter)
    assert TRAITS.reply_window is not None and TRAITS.reply_window.total_seconds() == 24 * 3600


async def test_a_bot_answer_offers_suggestions_and_a_person_as_quick_replies(
    adapter: MessengerAdapter, meta: FakeMessenger
) -> None:
    psid = meta.add_user()
    long_title = "How do I change the delivery address of an order already shipped?"
    suggestions = (Suggestion("kb-1", long_title), Suggestion("kb-2", "Opening hours"))
    await adapter.send(
        outbound(psid, "I found these:", author=AuthorKind.BOT, suggestions=suggestions)
    )

    replies = meta.sent[0].quick_replies
    assert [r["payload"] for r in replies] == [
        "sb:text:" + long_title,
        "sb:text:Opening hours",
        "sb:text:Talk to a person",
    ]
    assert [r["title"] for r in replies] == [
        "How do I change the…",
        "Opening hours",
        "Talk to a person",
    ]


async def test_the_handoff_label_follows_the_locale_and_quick_replies_stop_at_13(
    adapter: MessengerAdapter, meta: FakeMessenger
) -> None:
    psid = meta.add_user()
    many = tuple(Suggestion(f"kb-{n}", f"บทความที่ {n}") for n in range(20))
    await adapter.send(
        outbound(psid, "ลองดู", author=AuthorKind.BOT, suggestions=many, meta={"locale": "th-TH"})
    )

    replies = meta.sent[0].quick_replies
    assert len(replies) == 13
    assert replies[-1]["title"] == "คุยกับพนักงาน"
    assert replies[0]["title"] == "บทความที่ 0"


async def test_a_plain_bot_answer_still_offers_a_person(
    adapter: MessengerAdapter, meta: FakeMessenger
) -> None:
    psid = meta.add_user()
    await adapter.send(outbound(psid, "We open at nine.", author=AuthorKind.BOT))

    assert [r["title"] for r in meta.sent[0].quick_replies] == ["Talk to a person"]


async def test_long_text_goes_out_in_parts_in_order_with_buttons_on_the_last(
    adapter: MessengerAdapter, meta: FakeMessenger
) -> None:
    psid = meta.add_user()
    paragraph = "Your parcel left our warehouse this morning and should arrive soon. " * 10
    text = "\n\n".join(f"{n}. {paragraph.strip()}" for n in range(7))
    receipt = await adapter.send(outbound(psid, text, author=AuthorKind.BOT))

    parts = [s.text for s in meta.sent]
    assert len(parts) == 4 and all(len(p) <= 2000 for p in parts)  # 2 paragraphs each
    assert "\n\n".join(parts) == text
    assert [bool(s.quick_replies) for s in meta.sent] == [False, False, False, True]
    assert receipt.provider_message_id == meta.sent[0].message_id


async def test_a_retry_after_a_later_part_failed_sends_only_the_rest(
    adapter: MessengerAdapter, meta: FakeMessenger
) -> None:
    psid = meta.add_user()
    text = ("word " * 300).strip() + "\n\n" + ("more " * 300).strip()
    meta.fail_next(500, after=1)

    with pytest.raises(TransientChannelError):
        await adapter.send(outbound(psid, text))
    receipt = await adapter.send(outbound(psid, text))

    assert [s.text[:4] for s in meta.sent] == ["word", "more"]
    assert receipt.provider_message_id == meta.sent[0].message_id


async def test_429_with_retry_after_is_transient(
    adapter: MessengerAdapter, meta: FakeMessenger
) -> None:
    psid = meta.add_user()
    meta.rate_limit(1, retry_after="7")

    with pytest.raises(TransientChannelError) as caught:
        await adapter.send(outbound(psid, "hi"))

    assert caught.value.retry_after == 7
    assert "rate limit" in str(caught.value)
    assert meta.sent == []


async def test_rate_limits_sent_as_400_use_metas_regain_access_estimate(
    adapter: MessengerAdapter, meta: FakeMessenger
) -> None:
    psid = meta.add_user()
    usage = {
        meta.page_id: [
            {"type": "messenger", "call_count": 100, "estimated_time_to_regain_access": 3}
        ]
    }
    meta.fail_next(
        400,
        graph_error(80006, "There have been too many messenger api calls to this Page"),
        headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
    )

    with pytest.raises(TransientChannelError) as caught:
        await adapter.send(outbound(psid, "hi"))

    assert caught.value.retry_after == 180


@pytest.mark.parametrize("how", ["500", "outage", "stopped"])
async def test_server_errors_and_outages_are_transient_and_never_show_the_token(
    adapter: MessengerAdapter, meta: FakeMessenger, how: str
) -> None:
    psid = meta.add_user()
    if how == "500":
        meta.fail_next(500)
    elif how == "outage":
        meta.outage(503, retry_after="30")
    else:
        await meta.stop()

    with pytest.raises(TransientChannelError) as caught:
        await adapter.send(outbound(psid, "hi"))

    assert meta.page_access_token not in str(caught.value)
    if how == "outage":
        assert caught.value.retry_after == 30


async def test_an_invalid_token_is_transient_and_says_so(meta: FakeMessenger) -> None:
    wrong = MessengerAdapter(api_base_url=meta.base_url, page_access_token="EAAGwrong", timeout=2)
    try:
        with pytest.raises(TransientChannelError, match="access token is invalid or expired"):
            await wrong.send(outbound(meta.add_user(), "hi"))
    finally:
        await wrong.close()
    assert meta.sent == []


async def test_outside_the_24_hour_window_is_permanent_and_says_so(
    adapter: MessengerAdapter, meta: FakeMessenger
) -> None:
    psid = meta.add_user()
    meta.window_closed.add(psid)

    with pytest.raises(MessengerRejected, match="24-hour window") as caught:
        await adapter.send(outbound(psid, "Are you still there?"))

    assert (caught.value.code, caught.value.subcode) == (10, 2018278)


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("unknown", "No matching user found"),
        ("blocked", "isn't available"),
        ("403", "This Page is not allowed to send messages"),
        ("400", "Invalid parameter"),
    ],
)
async def test_refusals_are_permanent_with_metas_message(
    adapter: MessengerAdapter, meta: FakeMessenger, setup: str, expected: str
) -> None:
    psid = meta.add_user()
    if setup == "unknown":
        psid = "1234567890123456"
    elif setup == "blocked":
        meta.unavailable.add(psid)
    else:
        meta.fail_next(int(setup))

    with pytest.raises(PermanentChannelError, match=expected):
        await adapter.send(outbound(psid, "hi"))


async def test_an_address_that_is_no_psid_is_refused_without_a_call(
    adapter: MessengerAdapter, meta: FakeMessenger
) -> None:
    with pytest.raises(PermanentChannelError, match="PSID"):
        await adapter.send(outbound("+66812345678", "hi"))
    assert meta.requests == 0


async def test_appsecret_proof_is_sent_when_the_app_secret_is_given(meta: FakeMessenger) -> None:
    meta.require_appsecret_proof = True
    psid = meta.add_user()
    with_proof = MessengerAdapter(
        api_base_url=meta.base_url,
        page_access_token=meta.page_access_token,
        app_secret=meta.app_secret,
    )
    without = MessengerAdapter(api_base_url=meta.base_url, page_access_token=meta.page_access_token)
    try:
        await with_proof.send(outbound(psid, "hi"))
        with pytest.raises(PermanentChannelError, match="appsecret_proof"):
            await without.send(outbound(psid, "hi"))
    finally:
        await with_proof.close()
        await without.close()
    assert len(meta.sent) == 1


async def test_a_closed_adapter_refuses_transiently(
    adapter: MessengerAdapter, meta: FakeMessenger
) -> None:
    await adapter.close()
    with pytest.raises(TransientChannelError, match="closed"):
        await adapter.send(outbound(meta.add_user(), "hi"))


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Opening hours", "Opening hours"),
        ("Returns and refunds for damaged items", "Returns and refunds…"),
        ("ที่นี่มีน้ำใจและเราจะช่วยคุณทันที", "ที่นี่มีน้ำใจและเรา…"),
        ("👨‍👩‍👧 family plans and more", "👨‍👩‍👧 family…"),
    ],
)
def test_labels_fit_20_characters_without_breaking_one(title: str, expected: str) -> None:
    assert label(title) == expected
