"""Telegram against a local stand-in of the Bot API: no database, no app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from channels.base import (
    ChannelAdapter,
    Control,
    InboundMessage,
    MessageKind,
    OutboundMessage,
    Suggestion,
)
from channels.buttons import handoff_label
from channels.errors import PermanentChannelError, TransientChannelError
from channels.telegram import (
    CHANNEL,
    TRAITS,
    TelegramAdapter,
    TelegramPoller,
    TelegramWebhooks,
    set_webhook,
)
from channels.telegram_api import TelegramApi
from storage.models import AuthorKind, DeliveryState
from tests.fakes.telegram import FakeTelegram
from tests.fakes.telegram_updates import (
    blocked_update,
    callback_update,
    contact_update,
    document_update,
    group_chat,
    message_update,
    photo_update,
    signed,
    sticker_update,
    text_update,
    user,
)

SECRET = "s3cr3t-webhook_token-0123456789"
PATH = "/webhooks/telegram"
ANA = user(5_100_000_001, "Ana", "Silva", language_code="pt-br", username="ana_s")


class Collected:
    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self.reports: list[tuple[Any, ...]] = []
        self.fail = 0  # how many more calls of handle raise
        self._arrived = asyncio.Event()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.messages) < count:
                self._arrived.clear()
                await self._arrived.wait()

    async def handle(self, message: InboundMessage) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("database is down")
        self.messages.append(message)
        self._arrived.set()

    async def report(self, *args: Any) -> bool:
        self.reports.append(args)
        return True


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def collected() -> Collected:
    return Collected()


Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(
    telegram: FakeTelegram, collected: Collected, aiohttp_client: Callable[..., Awaitable[Client]]
) -> Client:
    app = web.Application()
    TelegramWebhooks(
        handle=collected.handle,
        report=collected.report,
        token=telegram.token,
        webhook_secret=SECRET,
        api_base_url=telegram.base_url,
        attachment_max_bytes=1000,
        timeout=2,
    ).add_routes(app)
    return await aiohttp_client(app)


@pytest.fixture
async def adapter(telegram: FakeTelegram) -> AsyncIterator[TelegramAdapter]:
    sender = TelegramAdapter(api_base_url=telegram.base_url, token=telegram.token, timeout=2)
    yield sender
    await sender.close()


async def post(client: Client, update: dict[str, Any], secret: str | None = SECRET) -> Any:
    body, headers = signed(secret, update)
    return await client.post(PATH, data=body, headers=headers)


def outbound(
    text: str, *, author: AuthorKind = AuthorKind.AGENT, address: str = str(ANA["id"]), **kw: Any
) -> OutboundMessage:
    return OutboundMessage(
        channel=CHANNEL,
        address=address,
        text=text,
        touchpoint_id=41,
        author_kind=author,
        created_at=datetime(2024, 5, 1, tzinfo=UTC),
        **kw,
    )


# --- webhook ---------------------------------------------------------------------------------


async def test_text_message_is_handed_over_with_profile(
    client: Client, collected: Collected
) -> None:
    update = text_update("Olá, meu pedido não chegou", sender=ANA, message_id=17)
    response = await post(client, update)

    assert response.status == 200
    [message] = collected.messages
    assert message.channel == "telegram"
    assert message.address == str(ANA["id"])
    assert message.text == "Olá, meu pedido não chegou"
    assert message.external_id == f"{ANA['id']}:17"
    assert (message.display_name, message.locale, message.phone) == ("Ana Silva", "pt", None)
    assert message.meta["username"] == "ana_s"
    assert message.meta["update_id"] == update["update_id"]
    assert collected.reports == []


@pytest.mark.parametrize(
    ("text", "kind", "control", "payload"),
    [
        ("/start", MessageKind.OPENER, None, None),
        ("/start promo-42", MessageKind.OPENER, None, "promo-42"),
        ("/start@switchboard_test_bot", MessageKind.OPENER, None, None),
        ("/help", MessageKind.TEXT, Control.HELP, None),
        ("/help@switchboard_test_bot", MessageKind.TEXT, Control.HELP, None),
        ("/settings", MessageKind.TEXT, None, None),  # not ours to answer: read as text
        ("start", MessageKind.TEXT, None, None),
        ("what does /start do?", MessageKind.TEXT, None, None),
    ],
)
async def test_start_is_the_chats_opener_and_help_asks_for_help(
    client: Client,
    collected: Collected,
    text: str,
    kind: MessageKind,
    control: Control | None,
    payload: str | None,
) -> None:
    await post(client, text_update(text, sender=ANA))

    [message] = collected.messages
    assert (message.text, message.kind, message.control) == (text, kind, control)
    assert message.meta.get("start_payload") == payload
    assert message.locale == "pt"  # the user's app language: the greeting's language


async def test_stickers_locations_and_contacts_are_media_without_words(
    client: Client, collected: Collected, telegram: FakeTelegram
) -> None:
    photo = telegram.add_file(b"\xff\xd8 receipt", "photos/receipt.jpg")
    await post(client, sticker_update("😀", sender=ANA))
    await post(client, message_update(ANA, location={"latitude": 13.7, "longitude": 100.5}))
    await post(client, contact_update("66812345678", sender=ANA))
    await post(client, photo_update([photo], sender=ANA))
    await post(client, photo_update([photo], sender=ANA, caption="is this charge right?"))

    sticker, location, contact, photo_only, captioned = collected.messages
    assert (sticker.text, sticker.kind) == ("😀", MessageKind.MEDIA)
    assert location.text.startswith("Shared a location") and location.media_only
    assert contact.phone == "+66812345678" and contact.media_only
    assert photo_only.kind is MessageKind.TEXT and photo_only.media_only  # no caption
    assert not captioned.media_only


@pytest.mark.parametrize("secret", [None, "wrong-secret", SECRET + "x", "sécret"])
async def test_missing_or_wrong_secret_is_refused(
    client: Client, collected: Collected, secret: str | None
) -> None:
    body, headers = signed(None, text_update("hi"))
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    response = await client.post(PATH, data=body, headers=headers)

    assert response.status == 403
    assert (await response.json())["error"]["code"] == "bad_secret"
    assert collected.messages == []


async def test_photo_is_downloaded_at_its_largest_size(
    client: Client, collected: Collected, telegram: FakeTelegram
) -> None:
    small = telegram.add_file(b"s" * 10, "photos/a.jpg")
    large = telegram.add_file(b"L" * 400, "photos/b.jpg")
    response = await post(client, photo_update([small, large], sender=ANA, caption="broken"))

    assert response.status == 200
    [message] = collected.messages
    assert message.text == "broken"
    [photo] = message.attachments
    assert (photo.content_type, photo.size, photo.data) == ("image/jpeg", 400, b"L" * 400)
    assert photo.name.startswith("photo-") and photo.name.endswith(".jpg")
    assert photo.url is None  # Telegram's file URL holds the bot token
    assert [p["file_id"] for m, p in telegram.calls if m == "getFile"] == [large.file_id]


async def test_document_keeps_its_name_and_type(
    client: Client, collected: Collected, telegram: FakeTelegram
) -> None:
    pdf = telegram.add_file(b"%PDF-1.4 invoice", "documents/invoice.pdf")
    await post(client, document_update(pdf, "invoice 42.pdf", "application/pdf", sender=ANA))

    [message] = collected.messages
    assert message.text == ""
    [doc] = message.attachments
    assert (doc.name, doc.content_type, doc.size) == ("invoice 42.pdf", "application/pdf", 16)
    assert (doc.data, doc.omitted) == (b"%PDF-1.4 invoice", False)


async def test_gif_sent_as_animation_and_document_is_one_file(
    client: Client, collected: Collected, telegram: FakeTelegram
) -> None:
    gif = telegram.add_file(b"GIF89a-mp4", "animations/a.mp4")
    fields = {
        "file_id": gif.file_id,
        "file_unique_id": gif.file_unique_id,
        "file_name": "dance.gif.mp4",
        "mime_type": "video/mp4",
        "file_size": gif.size,
    }
    animation = {**fields, "width": 320, "height": 240, "duration": 2}
    await post(client, message_update(ANA, animation=animation, document=fields))

    [message] = collected.messages
    assert [(a.name, a.content_type, a.data) for a in message.attachments] == [
        ("dance.gif.mp4", "video/mp4", b"GIF89a-mp4")
    ]


async def test_file_over_the_limit_is_listed_but_not_downloaded(
    client: Client, collected: Collected, telegram: FakeTelegram
) -> None:
    big = telegram.add_file(b"x" * 1001, "documents/big.zip")
    await post(client, document_update(big, "logs.zip", "application/zip", sender=ANA))

    [doc] = collected.messages[0].attachments
    assert (doc.name, doc.size, doc.data, doc.omitted) == ("logs.zip", 1001, None, True)
    assert telegram.downloads == 0


async def test_file_telegram_cannot_give_is_listed_as_omitted(
    client: Client, collected: Collected, telegram: FakeTelegram
) -> None:
    gone = telegram.add_file(b"abc", "documents/gone.txt")
    del telegram.files[gone.file_id]  # "Bad Request: invalid file_id"
    response = await post(client, document_update(gone, "notes.txt", "text/plain", sender=ANA))

    assert response.status == 200
    [doc] = collected.messages[0].attachments
    assert (doc.name, doc.omitted, doc.data) == ("notes.txt", True, None)


async def test_download_outage_refuses_the_update_so_telegram_redelivers(
    client: Client, collected: Collected, telegram: FakeTelegram
) -> None:
    pdf = telegram.add_file(b"%PDF", "documents/a.pdf")
    update = document_update(pdf, "a.pdf", "application/pdf", sender=ANA)
    telegram.outage()
    response = await post(client, update)

    assert response.status == 503
    assert collected.messages == []
    telegram.recover()
    assert (await post(client, update)).status == 200
    assert collected.messages[0].attachments[0].data == b"%PDF"


async def test_own_contact_gives_the_phone_number(client: Client, collected: Collected) -> None:
    await post(client, contact_update("66812345678", sender=ANA))  # no "+": Telegram's way

    [message] = collected.messages
    assert (message.text, message.phone) == ("Shared their phone number", "+66812345678")


async def test_someone_elses_contact_is_only_text(client: Client, collected: Collected) -> None:
    friend = user(5_100_000_002, "Bo", None)
    await post(client, contact_update("+14155550123", sender=ANA, owner=friend))

    [message] = collected.messages
    assert message.phone is None
    assert message.text == "Shared a contact: Bo +14155550123"


async def test_button_press_becomes_the_title_and_is_answered(
    client: Client, collected: Collected, adapter: TelegramAdapter, telegram: FakeTelegram
) -> None:
    title = "Где мой заказ? Отслеживание посылки"  # 63 bytes of UTF-8: the title rides along
    long_title = "How to change the delivery address after the parcel has been shipped"
    await adapter.send(
        outbound(
            "Maybe one of these:",
            author=AuthorKind.BOT,
            suggestions=(Suggestion("kb-7", title), Suggestion("kb-8", long_title)),
            meta={"locale": "th"},
        )
    )
    [sent] = telegram.sent
    pressed = []
    for label, data in sent.buttons:
        update = callback_update(data, message=sent.message, sender=ANA)
        response = await post(client, update)
        assert response.status == 200
        query_id = update["callback_query"]["id"]
        assert await response.json() == {
            "method": "answerCallbackQuery",
            "callback_query_id": query_id,
        }
        pressed.append((label, collected.messages[-1].text, collected.messages[-1].external_id))

    assert [(label, text) for label, text, _ in pressed] == [
        (title, title),
        (long_title, long_title),
        (handoff_label("th"), "คุยกับพนักงาน"),
    ]
    assert all((external_id or "").startswith("cb:") for _, _, external_id in pressed)
    assert collected.messages[0].address == str(ANA["id"])


async def test_press_on_a_message_telegram_no_longer_quotes(
    client: Client, collected: Collected
) -> None:
    await post(client, callback_update("t:Refunds", message=None, sender=ANA))
    await post(client, callback_update("h:zh", message=None, sender=ANA))

    assert [m.text for m in collected.messages] == ["Refunds", "转人工客服"]


@pytest.mark.parametrize(
    "update",
    [
        blocked_update(ANA),  # the user blocked the bot: a status change
        message_update(ANA, kind="edited_message", text="edited"),
        text_update("hello all", sender=ANA, chat=group_chat()),
        message_update(
            ANA, pinned_message={"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}}
        ),
        {"update_id": 99, "message_reaction_count": {"chat": {"id": 1, "type": "private"}}},
    ],
    ids=["blocked", "edited", "group", "service", "unknown-kind"],
)
async def test_non_messages_are_acknowledged_and_never_handled(
    client: Client, collected: Collected, update: dict[str, Any]
) -> None:
    response = await post(client, update)

    assert response.status == 200
    assert collected.messages == [] and collected.reports == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "Expecting property name"),
        (b"[" * 100_000, "levels deep"),
        (b'{"update_id": 5, "message": "caf\xe9"}', "UTF-8"),
        (b"[1, 2]", "JSON object"),
        (b'{"message": {"text": "hi"}}', "update_id"),
        (b'{"update_id": 5, "message": {"message_id": 1, "text": "hi"}}', "not a Telegram update"),
        (
            b'{"update_id": 5, "message": {"message_id": 1, "date": 1, "chat": "x"}}',
            "not a Telegram",
        ),
        (b'{"update_id": 5, "message": {"message_id": 1, "date": 1, "chat": null}}', "chat"),
    ],
)
async def test_malformed_updates_get_400(
    client: Client, collected: Collected, body: bytes, problem: str
) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    response = await client.post(PATH, data=body, headers=headers)

    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] in ("bad_update", "bad_json", "too_deep", "invalid_utf8")
    assert problem in error["message"]
    assert collected.messages == []


async def test_store_failure_gets_503_and_the_redelivery_is_stored(
    client: Client, collected: Collected
) -> None:
    collected.fail = 1
    update = text_update("anyone there?", sender=ANA)

    assert (await post(client, update)).status == 503
    assert (await post(client, update)).status == 200
    assert [m.text for m in collected.messages] == ["anyone there?"]


# --- adapter ---------------------------------------------------------------------------------


async def test_adapter_is_a_channel_adapter_and_chat_like(adapter: TelegramAdapter) -> None:
    assert isinstance(adapter, ChannelAdapter) and adapter.name == "telegram"
    assert TRAITS.live and not TRAITS.threaded and TRAITS.address_kind is None


async def test_agent_reply_is_plain_text(adapter: TelegramAdapter, telegram: FakeTelegram) -> None:
    receipt = await adapter.send(outbound("Your parcel ships <b>today</b> *really*"))

    [sent] = telegram.sent
    assert (sent.chat_id, sent.text, sent.reply_markup) == (
        ANA["id"],
        "Your parcel ships <b>today</b> *really*",
        None,
    )
    assert "parse_mode" not in sent.payload
    assert receipt.provider_message_id == f"{ANA['id']}:{sent.message['message_id']}"
    assert receipt.state == DeliveryState.SENT


async def test_the_token_never_reaches_info_logs(
    adapter: TelegramAdapter, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await adapter.send(outbound("hello"))

    assert telegram.sent and "telegram_sent" in caplog.text
    assert telegram.token not in caplog.text  # httpx logs each URL, token included, at INFO


async def test_bot_answer_gets_suggestion_and_handoff_buttons(
    adapter: TelegramAdapter, telegram: FakeTelegram
) -> None:
    await adapter.send(
        outbound(
            "Here is what I found.",
            author=AuthorKind.BOT,
            suggestions=(
                Suggestion("kb-1", "Returns  and\nrefunds"),
                Suggestion("kb-2", "Shipping"),
            ),
        )
    )
    await adapter.send(outbound("Anything else?", author=AuthorKind.BOT, meta={"locale": "fa"}))

    first, second = telegram.sent
    assert [label for label, _ in first.buttons] == [
        "Returns and refunds",
        "Shipping",
        "Talk to a person",
    ]
    assert [len(row) for row in first.reply_markup["inline_keyboard"]] == [1, 1, 1]  # type: ignore[index]
    assert second.buttons == [("گفتگو با اپراتور", "h:fa")]
    assert all(len(data.encode()) <= 64 for _, data in first.buttons)


async def test_empty_text_sends_only_when_there_are_buttons(
    adapter: TelegramAdapter, telegram: FakeTelegram
) -> None:
    await adapter.send(outbound("  ", author=AuthorKind.BOT))
    with pytest.raises(PermanentChannelError, match="empty"):
        await adapter.send(outbound(" \n "))

    assert [(s.text, s.buttons) for s in telegram.sent] == [("…", [("Talk to a person", "h:en")])]


async def test_long_text_is_split_in_order_with_buttons_on_the_last_part(
    adapter: TelegramAdapter, telegram: FakeTelegram
) -> None:
    paragraph = "Your parcel left our warehouse this morning and should arrive soon. " * 20
    text = "\n\n".join([paragraph.strip()] * 8)  # about 10,800 characters
    receipt = await adapter.send(
        outbound(text, author=AuthorKind.BOT, suggestions=(Suggestion("kb-1", "Tracking"),))
    )

    parts = [s.text for s in telegram.sent]
    assert len(parts) == 3
    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(text.split())
    assert [s.reply_markup is not None for s in telegram.sent] == [False, False, True]
    assert receipt.provider_message_id == f"{ANA['id']}:{telegram.sent[0].message['message_id']}"


async def test_emoji_text_is_split_by_utf16_length(
    adapter: TelegramAdapter, telegram: FakeTelegram
) -> None:
    await adapter.send(outbound("😀" * 3000))  # 6000 UTF-16 code units

    assert [len(s.text) for s in telegram.sent] == [2048, 952]


async def test_rate_limit_is_transient_with_retry_after(
    adapter: TelegramAdapter, telegram: FakeTelegram
) -> None:
    telegram.rate_limit(1, retry_after=7)
    with pytest.raises(TransientChannelError) as caught:
        await adapter.send(outbound("hello"))

    assert caught.value.retry_after == 7
    assert "Too Many Requests" in str(caught.value)
    assert telegram.sent == []


async def test_retry_after_a_later_part_failed_sends_only_the_rest(
    adapter: TelegramAdapter, telegram: FakeTelegram
) -> None:
    message = outbound(("word " * 700).strip() + "\n\n" + ("more " * 700).strip())
    telegram.fail_next(429, retry_after=2, after=1)
    with pytest.raises(TransientChannelError):
        await adapter.send(message)
    receipt = await adapter.send(message)

    assert [s.text.split()[0] for s in telegram.sent] == ["word", "more"]
    assert receipt.provider_message_id == f"{ANA['id']}:{telegram.sent[0].message['message_id']}"


@pytest.mark.parametrize("status", [500, 502])
async def test_server_errors_and_outages_are_transient(
    adapter: TelegramAdapter, telegram: FakeTelegram, status: int
) -> None:
    telegram.outage(status)
    with pytest.raises(TransientChannelError):
        await adapter.send(outbound("hello"))
    telegram.recover()
    await adapter.send(outbound("hello"))
    assert [s.text for s in telegram.sent] == ["hello"]


async def test_unreachable_api_is_transient(telegram: FakeTelegram) -> None:
    await telegram.stop()
    sender = TelegramAdapter(api_base_url=telegram.base_url, token=telegram.token, timeout=2)
    try:
        with pytest.raises(TransientChannelError) as caught:
            await sender.send(outbound("hello"))
    finally:
        await sender.close()
    assert telegram.token not in str(caught.value)


async def test_wrong_token_is_transient_until_fixed(telegram: FakeTelegram) -> None:
    wrong = telegram.token[:-1] + ("A" if telegram.token[-1] != "A" else "B")
    sender = TelegramAdapter(api_base_url=telegram.base_url, token=wrong, timeout=2)
    try:
        with pytest.raises(TransientChannelError) as caught:
            await sender.send(outbound("hello"))
    finally:
        await sender.close()
    assert "Unauthorized" in str(caught.value) and wrong not in str(caught.value)


@pytest.mark.parametrize(
    ("arrange", "expected"),
    [
        (lambda t: t.blocked.add(ANA["id"]), "Forbidden: bot was blocked by the user"),
        (
            lambda t: t.fail_next(
                400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
            ),
            "Chat not found",
        ),
    ],
    ids=["blocked", "chat-not-found"],
)
async def test_refusals_are_permanent_with_telegrams_reason(
    adapter: TelegramAdapter,
    telegram: FakeTelegram,
    arrange: Callable[[FakeTelegram], None],
    expected: str,
) -> None:
    arrange(telegram)
    with pytest.raises(PermanentChannelError) as caught:
        await adapter.send(outbound("hello"))
    assert expected in str(caught.value)


async def test_address_must_be_a_chat_id(adapter: TelegramAdapter, telegram: FakeTelegram) -> None:
    with pytest.raises(PermanentChannelError, match="chat id"):
        await adapter.send(outbound("hello", address="@ana_s"))
    assert telegram.calls == []


# --- long polling and webhook setup ----------------------------------------------------------


@contextlib.asynccontextmanager
async def polling(telegram: FakeTelegram, collected: Collected) -> AsyncIterator[None]:
    """A poller running for the block; cancelled (and checked to end) after it."""
    poller = TelegramPoller(
        handle=collected.handle,
        token=telegram.token,
        api_base_url=telegram.base_url,
        poll_timeout=1,
        backoff=0.01,
        max_backoff=0.05,
        timeout=2,
    )
    task = asyncio.create_task(poller.run())
    try:
        yield
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_poller_hands_over_every_update_once_stored(
    telegram: FakeTelegram, collected: Collected
) -> None:
    telegram.webhook = {"url": "https://old.example.com/hook"}
    first, second = text_update("one", sender=ANA), text_update("two", sender=ANA)
    press = callback_update("t:Refunds", message=None, sender=ANA)
    for update in (first, second, press):
        telegram.push_update(update)
    collected.fail = 1  # the first attempt at "one" cannot be stored
    async with polling(telegram, collected):
        await collected.wait_for(3)
        telegram.push_update(text_update("three", sender=ANA))  # arrives during a long poll
        await collected.wait_for(4)

    assert telegram.webhook is None  # deleted first, or getUpdates gets 409
    assert [m.text for m in collected.messages] == ["one", "two", "Refunds", "three"]
    assert telegram.answered == [press["callback_query"]["id"]]


async def test_poller_recovers_from_a_rate_limit(
    telegram: FakeTelegram, collected: Collected
) -> None:
    telegram.rate_limit(1, retry_after=1)
    telegram.push_update(text_update("after the limit", sender=ANA))
    async with polling(telegram, collected):
        await collected.wait_for(1)

    assert [m.text for m in collected.messages] == ["after the limit"]


async def test_set_webhook_registers_url_secret_and_update_kinds(telegram: FakeTelegram) -> None:
    url = "https://sb.example.com/webhooks/telegram"
    await set_webhook(token=telegram.token, api_base_url=telegram.base_url, url=url, secret=SECRET)

    assert telegram.webhook == {
        "url": url,
        "secret_token": SECRET,
        "allowed_updates": ["message", "callback_query"],
    }


async def test_set_webhook_refuses_a_secret_telegram_would_refuse(telegram: FakeTelegram) -> None:
    with pytest.raises(ValueError, match="A-Z"):
        await set_webhook(
            token=telegram.token,
            api_base_url=telegram.base_url,
            url="https://sb.example.com/webhooks/telegram",
            secret="has spaces & symbols!",
        )
    assert telegram.calls == []


async def test_set_webhook_reports_telegrams_refusal(telegram: FakeTelegram) -> None:
    with pytest.raises(PermanentChannelError, match=r"(?i)https url must be provided"):
        await set_webhook(
            token=telegram.token,
            api_base_url=telegram.base_url,
            url="http://sb.example.com/webhooks/telegram",
            secret=SECRET,
        )


# --- the stand-in itself ---------------------------------------------------------------------


async def test_the_fake_speaks_the_bot_api_envelope(telegram: FakeTelegram) -> None:
    api = TelegramApi(token=telegram.token, api_base_url=telegram.base_url, timeout=2)
    try:
        me = await api.bot().get_me()
    finally:
        await api.close()
    assert me.is_bot and me.username == "switchboard_test_bot"

    async with aiohttp.ClientSession() as http:
        async with http.post(f"{telegram.base_url}/bot123:{'x' * 35}/getMe") as response:
            assert response.status == 401
            assert await response.json() == {
                "ok": False,
                "error_code": 401,
                "description": "Unauthorized",
            }
        telegram.rate_limit(1, retry_after=3)
        url = f"{telegram.base_url}/bot{telegram.token}/sendMessage"
        async with http.post(url, json={"chat_id": 1, "text": "x"}) as response:
            assert (response.status, response.headers["Retry-After"]) == (429, "3")
            assert await response.json() == {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 3",
                "parameters": {"retry_after": 3},
            }
        async with http.post(url, json={"chat_id": 1, "text": "x" * 4097}) as response:
            assert (await response.json())["description"] == "Bad Request: message is too long"
