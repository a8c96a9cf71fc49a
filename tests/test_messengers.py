"""The social messengers end to end: signed webhooks in through the real app, the bot's answer
and an agent's reply out through a local stand-in of each provider's API. The same scenarios
run for every messenger (and on SQLite and PostgreSQL); a small driver per provider knows its
wire format."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import pytest
from aiohttp.test_utils import TestClient

from routing.clock import FrozenClock
from switchboard.app import create_app
from switchboard.settings import Settings
from tests.conftest import PASSWORD, seed
from tests.fakes import line as ln
from tests.fakes import messenger as fb
from tests.fakes import telegram as tg
from tests.fakes import telegram_updates as tgu
from tests.fakes import whatsapp as wa
from tests.fakes.twilio import FakeTwilio
from tests.fakes.twilio_webhooks import inbound_sms, signed
from tests.helpers import AgentApi, eventually

QUESTION = "How do I reset my password?"


@dataclass(frozen=True)
class Sent:
    to: str
    text: str
    buttons: tuple[str, ...]


class Driver(Protocol):
    name: str
    path: str

    def settings(self) -> dict[str, Any]: ...
    def new_user(self) -> str: ...
    def text(
        self, user: str, text: str, message_id: str | None = None
    ) -> tuple[bytes, dict[str, str]]: ...
    def press(self, user: str, button: str) -> tuple[bytes, dict[str, str]]: ...
    def media(self, user: str) -> tuple[bytes, dict[str, str]]: ...
    def forge(self, body: bytes, headers: dict[str, str]) -> dict[str, str]: ...
    def sent(self) -> list[Sent]: ...
    def rate_limit(self, n: int) -> None: ...
    def verification(self) -> dict[str, str] | None: ...
    def address(self, user: str) -> str: ...


class MessengerDriver:
    name = "messenger"
    path = "/webhooks/messenger"

    def __init__(self, fake: fb.FakeMessenger) -> None:
        self.fake = fake
        self.events = fake.webhooks

    def settings(self) -> dict[str, Any]:
        return {
            "messenger": {
                "verify_token": self.fake.verify_token,
                "app_secret": self.fake.app_secret,
                "page_access_token": self.fake.page_access_token,
                "api_base_url": self.fake.base_url,
            }
        }

    def new_user(self) -> str:
        return self.fake.add_user("Somchai", "Jaidee")

    def text(
        self, user: str, text: str, message_id: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        return self.events.text_message(user, text, mid=message_id)

    def press(self, user: str, button: str) -> tuple[bytes, dict[str, str]]:
        [sent] = [s for s in self.fake.sent if s.recipient == user][-1:]
        payload = next(q["payload"] for q in sent.quick_replies if q["title"] == button)
        return self.events.quick_reply(user, button, payload)

    def media(self, user: str) -> tuple[bytes, dict[str, str]]:
        return self.events.media_message(user, [("image", "https://cdn.fb.test/receipt.jpg")])

    def forge(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        return {**headers, "X-Hub-Signature-256": fb.sign("not-the-app-secret", body)}

    def sent(self) -> list[Sent]:
        return [
            Sent(s.recipient, s.text, tuple(q["title"] for q in s.quick_replies))
            for s in self.fake.sent
        ]

    def rate_limit(self, n: int) -> None:
        self.fake.rate_limit(n, retry_after="1")

    def verification(self) -> dict[str, str] | None:
        return self.events.verification(self.fake.verify_token)

    def address(self, user: str) -> str:
        return user


class WhatsAppDriver:
    name = "whatsapp"
    path = "/webhooks/whatsapp"

    def __init__(self, fake: wa.FakeWhatsApp) -> None:
        self.fake = fake
        self.app_secret = secrets.token_hex(16)
        self.verify_token = secrets.token_urlsafe(12)

    def settings(self) -> dict[str, Any]:
        return {
            "whatsapp": {
                "verify_token": self.verify_token,
                "app_secret": self.app_secret,
                "access_token": self.fake.access_token,
                "phone_number_id": self.fake.phone_number_id,
                "api_base_url": self.fake.base_url,
            }
        }

    def new_user(self) -> str:
        return "66812" + str(secrets.randbelow(10**5)).zfill(5)

    def text(
        self, user: str, text: str, message_id: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        return wa.text_webhook(self.app_secret, wa_id=user, text=text, id=message_id)

    def press(self, user: str, button: str) -> tuple[bytes, dict[str, str]]:
        sent = [s for s in self.fake.sent if s.to == user][-1]
        reply_id = next(i for i, title in sent.choices if title == button)
        return wa.button_webhook(self.app_secret, wa_id=user, reply_id=reply_id, title=button)

    def media(self, user: str) -> tuple[bytes, dict[str, str]]:
        media_id = self.fake.add_media(b"\x89PNG receipt", "image/png")
        return wa.media_webhook(
            self.app_secret, wa_id=user, media_id=media_id, mime_type="image/png"
        )

    def forge(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        return {**headers, "X-Hub-Signature-256": wa.sign("not-the-app-secret", body)}

    def sent(self) -> list[Sent]:
        return [
            Sent(s.to, s.body, tuple(title for _id, title in s.choices)) for s in self.fake.sent
        ]

    def rate_limit(self, n: int) -> None:
        self.fake.rate_limit(n, retry_after="1")

    def verification(self) -> dict[str, str] | None:
        return wa.verification(self.verify_token)

    def address(self, user: str) -> str:
        return "+" + user


class LineDriver:
    name = "line"
    path = "/webhooks/line"

    def __init__(self, fake: ln.FakeLine) -> None:
        self.fake = fake

    def settings(self) -> dict[str, Any]:
        return {
            "line": {
                "channel_secret": self.fake.channel_secret,
                "channel_access_token": self.fake.channel_access_token,
                "api_base_url": self.fake.base_url,
                "data_api_base_url": self.fake.base_url,
            }
        }

    def new_user(self) -> str:
        user = "U" + secrets.token_hex(16)
        self.fake.add_profile(user, "สมชาย ใจดี", "en")
        return user

    def text(
        self, user: str, text: str, message_id: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        return self.fake.text_message(user, text)

    def press(self, user: str, button: str) -> tuple[bytes, dict[str, str]]:
        sent = [s for s in self.fake.sent if s.to == user][-1]
        items = [i for m in sent.messages for i in m.get("quickReply", {}).get("items", [])]
        item = next(i for i in items if i["action"]["label"] == button)
        return self.fake.press(user, item)

    def media(self, user: str) -> tuple[bytes, dict[str, str]]:
        return self.fake.media_message(user, b"\xff\xd8 receipt", "image")

    def forge(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        return {**headers, "X-Line-Signature": ln.sign("not-the-channel-secret", body)}

    def sent(self) -> list[Sent]:
        return [
            Sent(
                s.to,
                "\n".join(s.texts),
                tuple(
                    i["action"]["label"]
                    for m in s.messages
                    for i in m.get("quickReply", {}).get("items", [])
                ),
            )
            for s in self.fake.sent
        ]

    def rate_limit(self, n: int) -> None:
        self.fake.rate_limit(n, retry_after="1")

    def verification(self) -> dict[str, str] | None:
        return None  # LINE's console "Verify" posts a signed, empty event list instead

    def address(self, user: str) -> str:
        return user


class TelegramDriver:
    name = "telegram"
    path = "/webhooks/telegram"

    def __init__(self, fake: tg.FakeTelegram) -> None:
        self.fake = fake
        self.secret = secrets.token_urlsafe(24)
        self.users: dict[str, dict[str, Any]] = {}

    def settings(self) -> dict[str, Any]:
        return {
            "telegram": {
                "token": self.fake.token,
                "webhook_secret": self.secret,
                "api_base_url": self.fake.base_url,
            }
        }

    def new_user(self) -> str:
        found = tgu.user(5_100_000_000 + secrets.randbelow(10**6), "Ana", "Silva")
        self.users[str(found["id"])] = found
        return str(found["id"])

    def text(
        self, user: str, text: str, message_id: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        return tgu.signed(self.secret, tgu.text_update(text, sender=self.users[user]))

    def press(self, user: str, button: str) -> tuple[bytes, dict[str, str]]:
        sent = [s for s in self.fake.sent if str(s.chat_id) == user][-1]
        data = next(d for label, d in sent.buttons if label == button)
        update = tgu.callback_update(data, message=sent.message, sender=self.users[user])
        return tgu.signed(self.secret, update)

    def media(self, user: str) -> tuple[bytes, dict[str, str]]:
        photo = self.fake.add_file(b"\xff\xd8 receipt", "photos/receipt.jpg")
        return tgu.signed(self.secret, tgu.photo_update([photo], sender=self.users[user]))

    def forge(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        return {**headers, tgu.SECRET_HEADER: "not-the-secret"}

    def sent(self) -> list[Sent]:
        return [
            Sent(str(s.chat_id), s.text, tuple(label for label, _data in s.buttons))
            for s in self.fake.sent
        ]

    def rate_limit(self, n: int) -> None:
        self.fake.rate_limit(n, retry_after=1)

    def verification(self) -> dict[str, str] | None:
        return None

    def address(self, user: str) -> str:
        return user


class Desk:
    def __init__(self, client: TestClient, driver: Driver) -> None:
        self.client = client
        self.driver = driver
        self.agent: AgentApi

    async def post(self, request: tuple[bytes, dict[str, str]], expect: int = 200) -> Any:
        body, headers = request
        resp = await self.client.post(self.driver.path, data=body, headers=headers)
        assert resp.status == expect, await resp.text()
        return resp

    async def sent(self, count: int) -> list[Sent]:
        return await eventually(lambda: s if len(s := self.driver.sent()) >= count else None)

    async def conversation(self) -> dict[str, Any]:
        listed = await self.agent.call("GET", "/api/v1/conversations")
        [conv] = [c for c in listed["items"] if c["channel"] == self.driver.name]
        return await self.agent.conversation(conv["id"])


@pytest.fixture(params=["telegram", "whatsapp", "messenger", "line"])
async def driver(request: pytest.FixtureRequest) -> AsyncIterator[Driver]:
    if request.param == "telegram":
        async with tg.FakeTelegram() as fake_tg:
            yield TelegramDriver(fake_tg)
    elif request.param == "messenger":
        async with fb.FakeMessenger() as fake:
            yield MessengerDriver(fake)
    elif request.param == "line":
        async with ln.FakeLine() as fake_line:
            yield LineDriver(fake_line)
    else:
        async with wa.FakeWhatsApp() as fake_wa:
            yield WhatsAppDriver(fake_wa)


@pytest.fixture
async def desk(aiohttp_client: Any, make_settings: Callable[..., Settings], driver: Driver) -> Desk:
    settings = make_settings(**driver.settings())
    await seed(settings.effective_database_url)
    client = await aiohttp_client(create_app(settings))
    desk = Desk(client, driver)
    desk.agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)
    return desk


@pytest.mark.parametrize("driver", ["whatsapp", "messenger", "line"], indirect=True)
async def test_the_webhook_verification_handshake(desk: Desk) -> None:
    query = desk.driver.verification()
    if query is None:  # LINE: a signed POST with no events must get 200
        assert isinstance(desk.driver, LineDriver)
        await desk.post(desk.driver.fake.verification())
        return

    good = await desk.client.get(desk.driver.path, params=query)
    bad = await desk.client.get(desk.driver.path, params={**query, "hub.verify_token": "nope"})

    assert good.status == 200 and await good.text() == query["hub.challenge"]
    assert bad.status == 403


async def test_a_message_gets_the_bots_answer_with_buttons_and_a_way_to_a_person(
    desk: Desk,
) -> None:
    user = desk.driver.new_user()

    await desk.post(desk.driver.text(user, QUESTION))

    [answer] = await desk.sent(1)
    assert answer.to == user and "Forgot password?" in answer.text
    assert "Talk to a person" in answer.buttons
    conv = await desk.conversation()
    assert conv["customer"]["display_name"]  # the provider's profile name
    assert [m["kind"] for m in conv["messages"]] == ["message", "bot_answer"]


async def test_the_handoff_button_reaches_an_agent_whose_reply_is_delivered(desk: Desk) -> None:
    user = desk.driver.new_user()
    await desk.post(desk.driver.text(user, QUESTION))
    await desk.sent(1)

    await desk.post(desk.driver.press(user, "Talk to a person"))
    conv = await desk.agent.claim_next()
    await desk.agent.reply(conv["id"], "Hi, Agent 1 here.")

    sent = await eventually(
        lambda: [s for s in desk.driver.sent() if s.text == "Hi, Agent 1 here."]
    )
    assert sent[0].to == user
    history = (await desk.agent.conversation(conv["id"]))["messages"]
    assert "Talk to a person" in [m["text"] for m in history if m["kind"] == "message"]


async def test_media_is_kept_as_an_attachment(desk: Desk) -> None:
    user = desk.driver.new_user()

    await desk.post(desk.driver.media(user))

    conv = await desk.conversation()
    [inbound] = [m for m in conv["messages"] if m["direction"] == "inbound"]
    [attachment] = inbound["meta"]["attachments"]
    assert attachment["content_type"].startswith("image/")


async def test_a_forged_signature_is_refused_and_nothing_stored(desk: Desk) -> None:
    user = desk.driver.new_user()
    body, headers = desk.driver.text(user, QUESTION)

    resp = await desk.client.post(
        desk.driver.path, data=body, headers=desk.driver.forge(body, headers)
    )

    assert resp.status in (401, 403)
    listed = await desk.agent.call("GET", "/api/v1/conversations")
    assert listed["items"] == []


async def test_a_redelivered_message_is_stored_and_answered_once(desk: Desk) -> None:
    user = desk.driver.new_user()
    request = desk.driver.text(user, QUESTION)

    await desk.post(request)
    await desk.post(request)
    await desk.post(desk.driver.text(user, "thanks"))

    sent = await desk.sent(2)
    assert sum("Forgot password?" in s.text for s in sent) == 1
    conv = await desk.conversation()
    assert [m["text"] for m in conv["messages"] if m["direction"] == "inbound"] == [
        QUESTION,
        "thanks",
    ]


async def test_a_rate_limited_send_is_retried_and_delivered_once(desk: Desk) -> None:
    desk.driver.rate_limit(2)
    user = desk.driver.new_user()

    await desk.post(desk.driver.text(user, QUESTION))

    [answer] = await desk.sent(1)
    assert "Forgot password?" in answer.text
    conv = await desk.conversation()
    [bot] = [m for m in conv["messages"] if m["kind"] == "bot_answer"]
    await eventually(lambda: _state_is(desk, bot["id"], "sent"))


async def _state_is(desk: Desk, touchpoint_id: int, state: str) -> bool:
    conv = await desk.conversation()
    return any(m["id"] == touchpoint_id and m["state"] == state for m in conv["messages"])


@pytest.mark.parametrize("driver", ["messenger", "whatsapp"], indirect=True)  # LINE: no window
async def test_an_agent_cannot_write_after_the_24_hour_window_and_is_told_why(
    aiohttp_client: Any, make_settings: Callable[..., Settings], driver: Driver
) -> None:
    settings = make_settings(**driver.settings())
    await seed(settings.effective_database_url)
    clock = FrozenClock(datetime.now(UTC))
    desk = Desk(await aiohttp_client(create_app(settings, clock=clock)), driver)
    desk.agent = await AgentApi.login(desk.client, "agent1@example.com", PASSWORD)
    user = desk.driver.new_user()
    await desk.post(desk.driver.text(user, "I want to talk to a person"))
    conv = await desk.agent.claim_next()

    clock.advance(25 * 3600)
    desk.agent = await AgentApi.login(desk.client, "agent1@example.com", PASSWORD)  # next shift
    refused = await desk.agent.reply(conv["id"], "Sorry for the wait!", expect=409)

    assert refused["error"]["code"] == "outside_reply_window"
    assert "24 hours" in refused["error"]["message"]
    await desk.post(desk.driver.text(user, "Hello again?"))
    await desk.agent.reply(conv["id"], "Sorry for the wait!")  # the customer wrote: open again


async def test_one_customer_across_sms_whatsapp_and_telegram_once_linked(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    async with FakeTwilio() as twilio, wa.FakeWhatsApp() as fake_wa, tg.FakeTelegram() as fake_tg:
        whats, tele = WhatsAppDriver(fake_wa), TelegramDriver(fake_tg)
        settings = make_settings(
            public_url="https://support.acme.test",
            twilio=twilio.settings("+15005550006"),
            **whats.settings(),
            **tele.settings(),
        )
        await seed(settings.effective_database_url)
        client = await aiohttp_client(create_app(settings))
        agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)

        sms = inbound_sms(
            account_sid=twilio.account_sid, from_="+66812345678", to="+15005550006", body="Hi"
        )
        request = signed(twilio.auth_token, "https://support.acme.test/webhooks/twilio/sms", sms)
        resp = await client.post("/webhooks/twilio/sms", data=request.body, headers=request.headers)
        assert resp.status == 200
        body, headers = whats.text("66812345678", "Hello from WhatsApp")
        assert (await client.post(whats.path, data=body, headers=headers)).status == 200
        user = tele.new_user()
        body, headers = tele.text(user, "Hi from Telegram")  # a stranger, until they share
        assert (await client.post(tele.path, data=body, headers=headers)).status == 200
        body, headers = tgu.signed(
            tele.secret, tgu.contact_update("66812345678", sender=tele.users[user])
        )
        assert (await client.post(tele.path, data=body, headers=headers)).status == 200

        listed = await agent.call("GET", "/api/v1/conversations")
        customers = {c["customer"]["id"] for c in listed["items"]}
        assert {c["channel"] for c in listed["items"]} == {"sms", "whatsapp", "telegram"}
        assert len(customers) == 1
        profile = await agent.call("GET", f"/api/v1/customers/{customers.pop()}")
        assert {(i["channel"], i["address"]) for i in profile["identities"]} >= {
            ("sms", "+66812345678"),
            ("whatsapp", "+66812345678"),
            ("telegram", user),
        }
        history = await agent.history(profile["id"])
        assert {m["channel"] for m in history["items"]} == {"sms", "whatsapp", "telegram"}


async def test_whatsapp_status_webhooks_move_the_reply_to_delivered_and_read(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    async with wa.FakeWhatsApp() as fake:
        whats = WhatsAppDriver(fake)
        settings = make_settings(**whats.settings())
        await seed(settings.effective_database_url)
        desk = Desk(await aiohttp_client(create_app(settings)), whats)
        desk.agent = await AgentApi.login(desk.client, "agent1@example.com", PASSWORD)
        user = whats.new_user()
        await desk.post(whats.text(user, QUESTION))
        [answer] = await eventually(lambda: fake.sent[:] or None)
        conv = await desk.conversation()
        [bot] = [m for m in conv["messages"] if m["kind"] == "bot_answer"]
        await eventually(lambda: _state_is(desk, bot["id"], "sent"))

        for state in ("delivered", "read", "delivered"):  # a late "delivered" changes nothing
            await desk.post(
                wa.status_webhook(whats.app_secret, id=answer.id, state=state, recipient_id=user)
            )

        assert await _state_is(desk, bot["id"], "read")
