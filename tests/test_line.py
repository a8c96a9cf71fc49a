"""LINE, against a local stand-in of the Messaging API: webhooks on a tiny app, the adapter on
its own. No database, no Switchboard app."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from channels.base import ChannelAdapter, InboundMessage, MessageKind, OutboundMessage, Suggestion
from channels.errors import PermanentChannelError, TransientChannelError
from channels.line import CHANNEL, PATH, TRAITS, LineAdapter, LineWebhooks
from channels.line_api import retry_key
from channels.line_events import FOLLOWED_TEXT, UNBLOCKED_TEXT
from routing.clock import FrozenClock
from storage.models import AuthorKind, DeliveryState
from tests.fakes.line import (
    FakeLine,
    event,
    follow_event,
    media_event,
    new_user_id,
    sign,
    text_event,
    unfollow_event,
    webhook,
)

USER = "U" + "4af4980629" * 3 + "ab"
THAI = "ที่นี่มีน้ำใจและเราจะช่วยคุณทันที"


class Inbox:
    """A collecting ``handle`` (fails while ``failing`` says so) and a ``report`` that must
    never be called: LINE sends no delivery statuses."""

    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self.failing: Callable[[InboundMessage], bool] = lambda message: False
        self.reports: list[tuple[str, DeliveryState, str | None]] = []

    async def handle(self, message: InboundMessage) -> None:
        if self.failing(message):
            raise RuntimeError("database is down")
        self.messages.append(message)

    async def report(self, provider_id: str, state: DeliveryState, error: str | None) -> bool:
        self.reports.append((provider_id, state, error))
        return True


@pytest.fixture
async def line() -> AsyncIterator[FakeLine]:
    async with FakeLine() as fake:
        yield fake


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def adapter(line: FakeLine, clock: FrozenClock) -> AsyncIterator[LineAdapter]:
    adapter = LineAdapter(
        api_base_url=line.base_url,
        channel_access_token=line.channel_access_token,
        timeout=2,
        clock=clock,
    )
    yield adapter
    await adapter.close()


@pytest.fixture
def inbox() -> Any:
    inbox = Inbox()
    yield inbox
    assert inbox.reports == []


def webhooks_app(line: FakeLine, inbox: Inbox, **kwargs: Any) -> web.Application:
    app = web.Application()
    options: dict[str, Any] = {
        "channel_access_token": line.channel_access_token,
        "api_base_url": line.base_url,
        "data_api_base_url": line.base_url,
        **kwargs,
    }
    LineWebhooks(
        handle=inbox.handle,
        report=inbox.report,
        channel_secret=line.channel_secret,
        **options,
    ).add_routes(app)
    return app


@pytest.fixture
async def client(line: FakeLine, inbox: Inbox, aiohttp_client: Any) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await aiohttp_client(webhooks_app(line, inbox))
    return client


async def post(client: TestClient[Any, Any], signed: tuple[bytes, dict[str, str]]) -> Any:
    body, headers = signed
    response = await client.post(PATH, data=body, headers=headers)
    return response.status, await response.json()


def outbound(
    text: str,
    *,
    touchpoint_id: int = 41,
    author_kind: AuthorKind = AuthorKind.BOT,
    suggestions: tuple[Suggestion, ...] = (),
    **meta: Any,
) -> OutboundMessage:
    return OutboundMessage(
        channel=CHANNEL,
        address=USER,
        text=text,
        touchpoint_id=touchpoint_id,
        author_kind=author_kind,
        created_at=datetime(2026, 1, 5, 9, tzinfo=UTC),
        suggestions=suggestions,
        meta=meta,
    )


def context(token: str, received_at: datetime) -> dict[str, str]:
    return {"reply_token": token, "received_at": received_at.isoformat()}


def english(chars: int) -> str:
    sentence = "Your parcel left our warehouse this morning and should arrive within two days. "
    paragraphs: list[str] = []
    while len("\n\n".join(paragraphs)) < chars:
        paragraphs.append((sentence * 5).strip())
    return "\n\n".join(paragraphs)


# --- webhooks ---------------------------------------------------------------------------------


async def test_console_verify_gets_200_and_stores_nothing(
    client: TestClient[Any, Any], line: FakeLine, inbox: Inbox
) -> None:
    assert await post(client, line.verification()) == (200, {})
    assert inbox.messages == []


async def test_text_message_is_stored_with_the_profile_and_reply_token(
    client: TestClient[Any, Any], line: FakeLine, inbox: Inbox
) -> None:
    line.add_profile(USER, "Somchai Jaidee", language="th")
    signed = line.text_message(USER, "Where is my parcel?")
    sent_event = json.loads(signed[0])["events"][0]

    assert await post(client, signed) == (200, {})

    [message] = inbox.messages
    assert (message.channel, message.address, message.text) == (
        "line",
        USER,
        "Where is my parcel?",
    )
    assert message.external_id == sent_event["message"]["id"]
    assert (message.display_name, message.locale) == ("Somchai Jaidee", "th")
    assert message.meta["reply_context"] == {"reply_token": sent_event["replyToken"]}
    assert message.meta["event_id"] == sent_event["webhookEventId"]


async def test_a_batch_is_handled_in_order_and_non_messages_are_skipped(
    client: TestClient[Any, Any], line: FakeLine, inbox: Inbox
) -> None:
    group = "C" + "1" * 32
    signed = line.webhook(
        follow_event(USER, reply_token="r1"),
        text_event(USER, "first"),
        event("unsend", USER, unsend={"messageId": "1"}),
        text_event(USER, "in the group", group_id=group, reply_token="r2"),
        text_event(USER, "second"),
        unfollow_event(USER),
    )
    assert (await post(client, signed))[0] == 200
    assert [(m.kind, m.text) for m in inbox.messages] == [
        (MessageKind.OPENER, FOLLOWED_TEXT),  # the follow: the chat's opener
        (MessageKind.TEXT, "first"),
        (MessageKind.TEXT, "second"),
    ]  # the unsend, the group's message and the unfollow: nothing


async def test_a_follow_is_the_chats_opener_with_its_reply_token(
    client: TestClient[Any, Any], line: FakeLine, inbox: Inbox
) -> None:
    line.add_profile(USER, "Somchai Jaidee", "th")
    followed = follow_event(USER, reply_token="r1")
    unblocked = follow_event(USER, reply_token="r2", unblocked=True)

    assert (await post(client, line.webhook(followed)))[0] == 200
    assert (await post(client, line.webhook(unblocked)))[0] == 200

    first, again = inbox.messages
    assert (first.kind, first.text, first.locale) == (MessageKind.OPENER, FOLLOWED_TEXT, "th")
    assert first.external_id == followed["webhookEventId"]
    assert first.meta["reply_context"] == {"reply_token": "r1"}
    assert first.meta["follow"] == {"unblocked": False}
    assert (again.text, again.meta["follow"]) == (UNBLOCKED_TEXT, {"unblocked": True})


async def test_media_become_attachments_that_the_content_url_serves(
    client: TestClient[Any, Any], line: FakeLine, inbox: Inbox
) -> None:
    signed = line.media_message(USER, b"\xff\xd8 a photo")
    photo_id = json.loads(signed[0])["events"][0]["message"]["id"]
    await post(client, signed)
    await post(client, line.media_message(USER, b"%PDF-1.7", "file", file_name="invoice.pdf"))

    photo, pdf = (m.attachments[0] for m in inbox.messages)
    assert photo.url == f"{line.base_url}/v2/bot/message/{photo_id}/content"
    assert photo.content_type == "image/jpeg"
    assert (pdf.name, pdf.content_type, pdf.size) == ("invoice.pdf", "application/pdf", 8)
    auth = {"Authorization": f"Bearer {line.channel_access_token}"}
    async with aiohttp.ClientSession() as http, http.get(photo.url, headers=auth) as response:
        assert await response.read() == b"\xff\xd8 a photo"


async def test_sticker_and_location_are_readable_text_without_words(
    client: TestClient[Any, Any], line: FakeLine, inbox: Inbox
) -> None:
    sticker = {"type": "sticker", "id": "1", "packageId": "446", "stickerId": "1988"}
    place = {
        "type": "location",
        "id": "2",
        "title": "Siam Paragon",
        "address": "991 Rama I Rd, Bangkok",
        "latitude": 13.746,
        "longitude": 100.535,
    }
    signed = line.webhook(
        event("message", USER, message=sticker), event("message", USER, message=place)
    )
    await post(client, signed)
    assert [m.text for m in inbox.messages] == [
        "[sticker]",
        "Location: Siam Paragon, 991 Rama I Rd, Bangkok (13.746, 100.535)",
    ]
    assert all(m.media_only for m in inbox.messages)  # nothing for the bot to answer


async def test_pressing_a_quick_reply_sends_the_full_title_back(
    client: TestClient[Any, Any], line: FakeLine, inbox: Inbox, adapter: LineAdapter
) -> None:
    title = "How do I change the delivery address of my order?"
    suggestions = (Suggestion("kb-7", title), Suggestion("kb-9", THAI))
    await adapter.send(outbound("Maybe one of these:", suggestions=suggestions, locale="th"))
    items = line.sent[0].messages[-1]["quickReply"]["items"]

    for item in items:
        assert (await post(client, line.press(USER, item)))[0] == 200

    assert [m.text for m in inbox.messages] == [title, THAI, "คุยกับพนักงาน"]
    assert inbox.messages[0].meta["postback"]["a"] == "kb-7"
    assert all(m.external_id for m in inbox.messages)


@pytest.mark.parametrize("forgery", ["missing", "wrong_secret", "tampered"])
async def test_unsigned_or_forged_requests_are_refused(
    client: TestClient[Any, Any], line: FakeLine, inbox: Inbox, forgery: str
) -> None:
    body, headers = line.text_message(USER, "hi")
    if forgery == "missing":
        del headers["X-Line-Signature"]
    elif forgery == "wrong_secret":
        headers["X-Line-Signature"] = sign("not-the-secret", body)
    else:
        body = body.replace(b"hi", b"ho")

    status, answer = await post(client, (body, headers))

    assert status == 401
    expected = "missing_signature" if forgery == "missing" else "bad_signature"
    assert answer["error"]["code"] == expected
    assert inbox.messages == []
    assert line.requests == []  # not even a profile lookup


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"destination": "U" + "0" * 32}, "events"),
        ({"events": [{"type": "message", "source": {"type": "user"}}]}, "events[0].source.userId"),
        (
            {"events": [{"type": "message", "source": {"type": "user", "userId": USER}}]},
            "events[0].message",
        ),
        ({"events": [{**text_event(USER, "x"), "message": {"type": "text"}}]}, "message.id"),
    ],
)
async def test_payloads_missing_what_line_always_sends_are_400(
    client: TestClient[Any, Any], line: FakeLine, inbox: Inbox, payload: Any, where: str
) -> None:
    body = json.dumps(payload).encode()
    status, answer = await post(
        client, (body, {"X-Line-Signature": sign(line.channel_secret, body)})
    )
    assert status == 400
    assert answer["error"]["code"] == "missing_field"
    assert where in answer["error"]["message"]
    assert inbox.messages == []


async def test_malformed_json_is_400(
    client: TestClient[Any, Any], line: FakeLine, inbox: Inbox
) -> None:
    body = b'{"events": [}'
    status, answer = await post(
        client, (body, {"X-Line-Signature": sign(line.channel_secret, body)})
    )
    assert (status, answer["error"]["code"]) == (400, "bad_json")


async def test_a_store_failure_is_503_and_the_redelivered_batch_keeps_its_ids(
    client: TestClient[Any, Any], line: FakeLine, inbox: Inbox
) -> None:
    signed = line.webhook(text_event(USER, "one"), text_event(USER, "two"))
    inbox.failing = lambda message: message.text == "two"

    status, answer = await post(client, signed)
    assert (status, answer["error"]["code"]) == (503, "unavailable")
    first_try = [m.external_id for m in inbox.messages]

    inbox.failing = lambda message: False
    redelivered = json.loads(signed[0])
    for item in redelivered["events"]:
        item["deliveryContext"]["isRedelivery"] = True
    assert (await post(client, webhook(line.channel_secret, redelivered["events"])))[0] == 200

    ids = [m.external_id for m in inbox.messages]
    assert ids[:1] == first_try and ids[1:] == [e["message"]["id"] for e in redelivered["events"]]
    assert inbox.messages[-1].meta["redelivery"] is True


async def test_a_profile_failure_never_loses_the_message(
    client: TestClient[Any, Any], line: FakeLine, inbox: Inbox
) -> None:
    line.add_profile(USER, "Somchai")
    line.outage()
    assert (await post(client, line.text_message(USER, "hello")))[0] == 200
    line.recover()
    await post(client, line.text_message(USER, "again"))
    await post(client, line.text_message(USER, "and again"))

    assert [m.display_name for m in inbox.messages] == [None, "Somchai", "Somchai"]
    assert line.requests.count(f"GET /v2/bot/profile/{USER}") == 2  # then cached


async def test_without_an_access_token_no_profile_is_fetched(
    line: FakeLine, inbox: Inbox, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(webhooks_app(line, inbox, channel_access_token=""))
    line.add_profile(USER, "Somchai")
    assert (await post(client, line.text_message(USER, "hello")))[0] == 200
    assert inbox.messages[0].display_name is None and line.requests == []


async def test_old_console_verify_events_are_skipped(
    client: TestClient[Any, Any], line: FakeLine, inbox: Inbox
) -> None:
    dummy = "U" + "deadbeef" * 4
    signed = line.webhook(
        text_event(dummy, "Hello, world", reply_token="0" * 32),
        media_event(dummy, "sticker", reply_token="f" * 32),
    )
    assert (await post(client, signed))[0] == 200
    assert inbox.messages == []


# --- the adapter ------------------------------------------------------------------------------


async def test_a_fresh_reply_token_answers_by_reply(
    adapter: LineAdapter, line: FakeLine, clock: FrozenClock
) -> None:
    assert isinstance(adapter, ChannelAdapter) and TRAITS.reply_context
    token = line.issue_reply_token(USER)
    received = clock.now() - timedelta(seconds=10)

    receipt = await adapter.send(
        outbound("Hello!", author_kind=AuthorKind.AGENT, reply_context=context(token, received))
    )

    [sent] = line.sent
    assert (sent.kind, sent.to, sent.texts) == ("reply", USER, ["Hello!"])
    assert sent.payload == {"replyToken": token, "messages": [{"type": "text", "text": "Hello!"}]}
    assert receipt.provider_message_id == sent.ids[0]
    assert receipt.state is DeliveryState.SENT


@pytest.mark.parametrize("age", [None, 50, 600])
async def test_without_a_fresh_token_the_answer_is_pushed_with_a_retry_key(
    adapter: LineAdapter, line: FakeLine, clock: FrozenClock, age: int | None
) -> None:
    meta: dict[str, Any] = {}
    if age is not None:
        token = line.issue_reply_token(USER)
        meta["reply_context"] = context(token, clock.now() - timedelta(seconds=age))

    await adapter.send(outbound("Hello!", author_kind=AuthorKind.AGENT, **meta))

    [sent] = line.sent
    assert (sent.kind, sent.payload["to"], sent.texts) == ("push", USER, ["Hello!"])
    assert sent.retry_key == retry_key(41, 0)


async def test_a_used_token_falls_back_to_push(
    adapter: LineAdapter, line: FakeLine, clock: FrozenClock
) -> None:
    reply_context = context(line.issue_reply_token(USER), clock.now())
    await adapter.send(outbound("Answer", touchpoint_id=1, reply_context=reply_context))
    await adapter.send(outbound("A person will join", touchpoint_id=2, reply_context=reply_context))

    assert [(s.kind, s.texts[0]) for s in line.sent] == [
        ("reply", "Answer"),
        ("push", "A person will join"),
    ]


async def test_a_retried_push_is_delivered_once(adapter: LineAdapter, line: FakeLine) -> None:
    message = outbound("Your refund is on its way", author_kind=AuthorKind.AGENT)
    first = await adapter.send(message)
    again = await adapter.send(message)  # the outbox retrying after a lost answer

    assert len(line.sent) == 1
    assert again.provider_message_id == first.provider_message_id


def test_retry_keys_are_stable_uuids_per_touchpoint_and_request() -> None:
    key = retry_key(41, 0)
    assert key == retry_key(41, 0) and uuid.UUID(key).version == 4
    assert len({key, retry_key(42, 0), retry_key(41, 1)}) == 3


async def test_suggestions_become_postback_buttons_plus_handoff(
    adapter: LineAdapter, line: FakeLine
) -> None:
    long_title = "How do I change the delivery address of my order?"
    suggestions = (Suggestion("kb-7", long_title), Suggestion("kb-9", "Refunds"))
    await adapter.send(outbound("Maybe one of these:", suggestions=suggestions, locale="th"))

    message = line.sent[0].messages[0]
    assert message["text"] == "Maybe one of these:"
    actions = [item["action"] for item in message["quickReply"]["items"]]
    assert [a["type"] for a in actions] == ["postback"] * 3
    assert [a["label"] for a in actions] == ["How do I change the…", "Refunds", "คุยกับพนักงาน"]
    assert [a["displayText"] for a in actions] == [long_title, "Refunds", "คุยกับพนักงาน"]


async def test_a_bot_answer_always_offers_a_person_and_an_agents_never_does(
    adapter: LineAdapter, line: FakeLine
) -> None:
    await adapter.send(outbound("Opening hours are 9-17."))
    await adapter.send(outbound("Hi, I'm Ana.", touchpoint_id=42, author_kind=AuthorKind.AGENT))

    bot, agent = (s.messages[0] for s in line.sent)
    assert [i["action"]["label"] for i in bot["quickReply"]["items"]] == ["Talk to a person"]
    assert "quickReply" not in agent


async def test_at_most_thirteen_buttons(adapter: LineAdapter, line: FakeLine) -> None:
    suggestions = tuple(Suggestion(f"kb-{n}", f"Article {n}") for n in range(20))
    await adapter.send(outbound("Many matches", suggestions=suggestions))

    labels = [i["action"]["label"] for i in line.sent[0].messages[0]["quickReply"]["items"]]
    assert labels == [f"Article {n}" for n in range(12)] + ["Talk to a person"]


async def test_long_text_is_split_into_message_objects_of_one_reply(
    adapter: LineAdapter, line: FakeLine, clock: FrozenClock
) -> None:
    text = english(12_000)
    token = line.issue_reply_token(USER)
    await adapter.send(outbound(text, reply_context=context(token, clock.now())))

    [sent] = line.sent
    assert sent.kind == "reply" and len(sent.texts) == 3
    assert all(len(part) <= 5000 for part in sent.texts)
    assert " ".join(sent.texts).split() == text.split()
    assert ["quickReply" in m for m in sent.messages] == [False, False, True]


async def test_more_than_five_parts_are_pushed_in_order_without_the_token(
    adapter: LineAdapter, line: FakeLine, clock: FrozenClock
) -> None:
    text = english(30_000)
    token = line.issue_reply_token(USER)
    await adapter.send(outbound(text, reply_context=context(token, clock.now())))

    assert [(s.kind, len(s.messages), s.retry_key) for s in line.sent] == [
        ("push", 5, retry_key(41, 0)),
        ("push", 2, retry_key(41, 1)),
    ]
    assert " ".join(t for s in line.sent for t in s.texts).split() == text.split()
    await adapter.send(
        outbound("Still usable", touchpoint_id=42, reply_context=context(token, clock.now()))
    )
    assert line.sent[-1].kind == "reply"


async def test_an_empty_answer_is_permanent(adapter: LineAdapter, line: FakeLine) -> None:
    with pytest.raises(PermanentChannelError, match="empty"):
        await adapter.send(outbound("  \n "))
    assert line.requests == []


@pytest.mark.parametrize(("retry_after", "expected"), [("7", 7.0), (None, None)])
async def test_rate_limit_is_transient(
    adapter: LineAdapter, line: FakeLine, retry_after: str | None, expected: float | None
) -> None:
    line.rate_limit(1, retry_after=retry_after)
    with pytest.raises(TransientChannelError, match="429") as raised:
        await adapter.send(outbound("Hello"))
    assert raised.value.retry_after == expected
    await adapter.send(outbound("Hello"))
    assert line.sent[0].texts == ["Hello"]


async def test_the_monthly_quota_is_permanent_but_replies_still_go(
    adapter: LineAdapter, line: FakeLine, clock: FrozenClock
) -> None:
    line.push_quota = 0
    with pytest.raises(PermanentChannelError, match="monthly message quota"):
        await adapter.send(outbound("Pushed"))
    token = line.issue_reply_token(USER)
    await adapter.send(outbound("Replied", reply_context=context(token, clock.now())))
    assert [s.texts for s in line.sent] == [["Replied"]]


async def test_server_errors_and_outages_are_transient(
    adapter: LineAdapter, line: FakeLine
) -> None:
    line.fail_next(500)
    with pytest.raises(TransientChannelError, match="500"):
        await adapter.send(outbound("Hello"))
    line.outage(503)
    with pytest.raises(TransientChannelError, match="503"):
        await adapter.send(outbound("Hello"))
    line.recover()
    await line.stop()
    with pytest.raises(TransientChannelError, match="unreachable"):
        await adapter.send(outbound("Hello"))


async def test_rejections_are_permanent_with_lines_explanation(
    adapter: LineAdapter, line: FakeLine
) -> None:
    details = [{"message": "May not be empty", "property": "messages[0].text"}]
    line.fail_next(400, {"message": "The request body has 1 error(s)", "details": details})
    with pytest.raises(
        PermanentChannelError, match=r"1 error\(s\): messages\[0\]\.text: May not be empty"
    ):
        await adapter.send(outbound("Hello"))
    line.fail_next(403)
    with pytest.raises(PermanentChannelError, match="not available for your account"):
        await adapter.send(outbound("Hello"))
    assert line.sent == []


async def test_a_wrong_access_token_is_permanent(line: FakeLine) -> None:
    adapter = LineAdapter(api_base_url=line.base_url, channel_access_token="expired")
    try:
        with pytest.raises(PermanentChannelError, match=r"401.*Authentication failed"):
            await adapter.send(outbound("Hello"))
    finally:
        await adapter.close()


async def test_the_stand_in_refuses_what_line_refuses(line: FakeLine) -> None:
    auth = {"Authorization": f"Bearer {line.channel_access_token}"}
    too_long = {"type": "postback", "label": "x" * 21, "data": "d", "displayText": "x"}
    bad = {
        "to": USER,
        "messages": [
            {
                "type": "text",
                "text": "hi",
                "quickReply": {"items": [{"type": "action", "action": too_long}]},
            }
        ],
    }
    async with aiohttp.ClientSession(base_url=line.base_url, headers=auth) as http:
        async with http.post("/v2/bot/message/push", json=bad) as response:
            assert response.status == 400
            body = await response.json()
            assert body["details"] == [
                {
                    "message": "Length must be between 0 and 20",
                    "property": "messages[0].quickReply.items[0].action.label",
                }
            ]
        six = {"to": USER, "messages": [{"type": "text", "text": "hi"}] * 6}
        async with http.post("/v2/bot/message/push", json=six) as response:
            assert response.status == 400
        reply = {
            "replyToken": line.issue_reply_token(USER),
            "messages": [{"type": "text", "text": "hi"}],
        }
        headers = {"X-Line-Retry-Key": str(uuid.uuid4())}
        async with http.post("/v2/bot/message/reply", json=reply, headers=headers) as response:
            assert response.status == 400
        async with http.post("/v2/bot/message/reply", json=reply) as response:
            assert response.status == 200
        async with http.post("/v2/bot/message/reply", json=reply) as response:
            assert (response.status, (await response.json())["message"]) == (
                400,
                "Invalid reply token",
            )
    assert len(line.sent) == 1


async def test_a_customer_message_is_answered_with_its_own_reply_token(
    client: TestClient[Any, Any],
    line: FakeLine,
    inbox: Inbox,
    adapter: LineAdapter,
    clock: FrozenClock,
) -> None:
    user = new_user_id()
    await post(client, line.text_message(user, "hi"))
    # What the router does: the last message's reply context, plus when it was received.
    reply_context = {
        **inbox.messages[0].meta["reply_context"],
        "received_at": clock.now().isoformat(),
    }
    answer = OutboundMessage(
        channel=CHANNEL,
        address=user,
        text="Hello! How can I help?",
        touchpoint_id=7,
        author_kind=AuthorKind.BOT,
        created_at=clock.now(),
        meta={"reply_context": reply_context},
    )
    await adapter.send(answer)
    assert [(s.kind, s.to) for s in line.sent] == [("reply", user)]


async def test_titles_longer_than_lines_limits_still_send_and_come_back_as_a_prefix(
    client: TestClient[Any, Any], line: FakeLine, inbox: Inbox, adapter: LineAdapter
) -> None:
    title = '"Quoted" 😀 ' * 40  # escapes and emoji: the JSON data grows faster than the title
    await adapter.send(outbound("One long match", suggestions=(Suggestion("kb-1", title),)))
    item = line.sent[0].messages[0]["quickReply"]["items"][0]  # the stand-in checked the limits
    assert item["action"]["displayText"].endswith("…")

    await post(client, line.press(USER, item))
    text = inbox.messages[0].text
    assert len(text) > 100 and " ".join(title.split()).startswith(text)
