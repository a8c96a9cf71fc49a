"""Drivers for the social messengers' end-to-end tests: each knows one provider's wire format
(signed webhooks in, what its local stand-in received out), so the same scenario runs for
every messenger through the real app."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp.test_utils import TestClient

from tests.fakes import line as ln
from tests.fakes import messenger as fb
from tests.fakes import telegram as tg
from tests.fakes import telegram_updates as tgu
from tests.fakes import whatsapp as wa
from tests.helpers import AgentApi, eventually

MESSENGERS = ("telegram", "whatsapp", "messenger", "line")

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
    def wordless(self, user: str) -> tuple[bytes, dict[str, str]]: ...
    def opener(self, user: str) -> tuple[bytes, dict[str, str]]: ...
    def forge(self, body: bytes, headers: dict[str, str]) -> dict[str, str]: ...
    def sign(self, body: bytes, headers: dict[str, str]) -> dict[str, str]: ...
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

    def wordless(self, user: str) -> tuple[bytes, dict[str, str]]:
        """A sticker: an image attachment with its sticker id."""
        event = self.events.media_event(user, [("image", "https://cdn.fb.test/sticker.png")])
        event["message"]["attachments"][0]["payload"]["sticker_id"] = 369239263222822
        return self.events.signed(event)

    def opener(self, user: str) -> tuple[bytes, dict[str, str]]:
        """The Get Started button on the welcome screen."""
        return self.events.postback(user, "Get Started", "GET_STARTED")

    def forge(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        return {**headers, "X-Hub-Signature-256": fb.sign("not-the-app-secret", body)}

    def sign(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        return {**headers, "X-Hub-Signature-256": fb.sign(self.fake.app_secret, body)}

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

    def wordless(self, user: str) -> tuple[bytes, dict[str, str]]:
        return wa.location_webhook(self.app_secret, wa_id=user)

    def opener(self, user: str) -> tuple[bytes, dict[str, str]]:
        return wa.welcome_webhook(self.app_secret, wa_id=user)

    def forge(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        return {**headers, "X-Hub-Signature-256": wa.sign("not-the-app-secret", body)}

    def sign(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        return {**headers, "X-Hub-Signature-256": wa.sign(self.app_secret, body)}

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

    def wordless(self, user: str) -> tuple[bytes, dict[str, str]]:
        return self.fake.sticker_message(user)

    def opener(self, user: str) -> tuple[bytes, dict[str, str]]:
        return self.fake.follow(user)

    def forge(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        return {**headers, "X-Line-Signature": ln.sign("not-the-channel-secret", body)}

    def sign(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        return {**headers, "X-Line-Signature": ln.sign(self.fake.channel_secret, body)}

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

    def wordless(self, user: str) -> tuple[bytes, dict[str, str]]:
        return tgu.signed(self.secret, tgu.sticker_update(sender=self.users[user]))

    def opener(self, user: str) -> tuple[bytes, dict[str, str]]:
        return tgu.signed(self.secret, tgu.text_update("/start", sender=self.users[user]))

    def forge(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        return {**headers, tgu.SECRET_HEADER: "not-the-secret"}

    def sign(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        return {**headers, tgu.SECRET_HEADER: self.secret}  # a secret header, not a signature

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


@contextlib.asynccontextmanager
async def running(name: str) -> AsyncIterator[Driver]:
    """The driver of messenger ``name`` with its provider's stand-in running."""
    if name == "telegram":
        async with tg.FakeTelegram() as fake_tg:
            yield TelegramDriver(fake_tg)
    elif name == "messenger":
        async with fb.FakeMessenger() as fake_fb:
            yield MessengerDriver(fake_fb)
    elif name == "line":
        async with ln.FakeLine() as fake_line:
            yield LineDriver(fake_line)
    else:
        async with wa.FakeWhatsApp() as fake_wa:
            yield WhatsAppDriver(fake_wa)
