"""One customer: the profile API (figures, attributes, tags, notes), merging customers seen on
web chat, email, SMS and Telegram into one and undoing it with no touchpoint lost, suggested
duplicates, the history's filters and pages, and the CSV commands. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, insert, select

from console.auth import create_agent
from routing.clock import SystemClock
from storage.db import Database
from storage.models import (
    AuthorKind,
    Base,
    ContactIdentity,
    Conversation,
    ConversationStatus,
    Customer,
    CustomerMerge,
    Direction,
    Touchpoint,
    TouchpointKind,
)
from storage.repos import customers as customer_repo
from switchboard.app import EMAIL_INGEST, create_app
from switchboard.settings import Settings
from tests import databases
from tests.conftest import PASSWORD, seed
from tests.fakes import telegram as tg
from tests.fakes import telegram_updates as tgu
from tests.fakes.smtp import SmtpSink
from tests.fakes.twilio import FakeTwilio
from tests.fakes.twilio_webhooks import inbound_sms, signed
from tests.helpers import AgentApi, ChatClient, eventually
from tests.test_cli import Cli

PUBLIC_URL = "https://support.acme.test"
OUR_NUMBER = "+15005550006"
SUPPORT = "support@acme.test"
ANA_PHONE = "+66812345678"
ANA_EMAIL = "ana.silva@customer.test"


class Desk:
    """Switchboard with web chat, email, SMS and Telegram, and an agent and an admin."""

    def __init__(self, client: TestClient, twilio: FakeTwilio, telegram: tg.FakeTelegram) -> None:
        self.client = client
        self.twilio = twilio
        self.telegram = telegram
        self.secret = "tg-secret-0123456789-abcdefghij"
        self.url = ""
        self.agent: AgentApi
        self.admin: AgentApi
        self.chats: list[ChatClient] = []

    async def customers_of(self, channel: str) -> list[int]:
        items = (await self.agent.call("GET", "/api/v1/conversations"))["items"]
        return sorted({c["customer"]["id"] for c in items if c["channel"] == channel})

    async def one_customer(self, channel: str, known: set[int]) -> int:
        async def found() -> int | None:
            fresh = set(await self.customers_of(channel)) - known
            return fresh.pop() if fresh else None

        return int(await eventually(found))

    async def webchat(self, text: str) -> int:
        known = set(await self.customers_of("webchat"))
        chat = ChatClient(self.client)
        self.chats.append(chat)
        await chat.connect()
        await chat.say(text)
        return await self.one_customer("webchat", known)

    async def email(self, text: str, sender: str = ANA_EMAIL, name: str = "Ana Silva") -> int:
        known = set(await self.customers_of("email"))
        message = EmailMessage()
        message["From"] = f"{name} <{sender}>"
        message["To"] = SUPPORT
        message["Subject"] = "My order"
        message["Message-ID"] = make_msgid(domain="customer.test")
        message.set_content(text)
        await self.client.app[EMAIL_INGEST].deliver(message.as_bytes())
        return await self.one_customer("email", known)

    async def sms(self, text: str, sender: str = ANA_PHONE) -> None:
        params = inbound_sms(
            account_sid=self.twilio.account_sid, from_=sender, to=OUR_NUMBER, body=text
        )
        request = signed(self.twilio.auth_token, PUBLIC_URL + "/webhooks/twilio/sms", params)
        resp = await self.client.post(
            "/webhooks/twilio/sms", data=request.body, headers=request.headers
        )
        assert resp.status == 200, await resp.text()

    async def telegram_update(self, update: dict[str, Any]) -> None:
        body, headers = tgu.signed(self.secret, update)
        resp = await self.client.post("/webhooks/telegram", data=body, headers=headers)
        assert resp.status == 200, await resp.text()

    async def touchpoints(self, customer_id: int, **params: Any) -> list[int]:
        """Every touchpoint id of the customer, read page by page through the API."""
        ids: list[int] = []
        before: int | None = None
        while True:
            query = {"limit": "1000", **params, **({"before": before} if before else {})}
            page = await self.agent.history(customer_id, **query)
            ids = [m["id"] for m in page["items"]] + ids
            before = page["next_before"]
            if before is None:
                return ids

    async def profile(self, customer_id: int) -> dict[str, Any]:
        return await self.agent.call("GET", f"/api/v1/customers/{customer_id}")

    async def merge(self, target: int, source: int, expect: int = 200) -> dict[str, Any]:
        return await self.agent.call(
            "POST",
            f"/api/v1/customers/{target}/merge",
            json={"other_id": source, "reason": "same person"},
            expect=expect,
        )

    async def undo(self, merge_id: int, expect: int = 200) -> dict[str, Any]:
        return await self.agent.call(
            "POST", f"/api/v1/customers/merges/{merge_id}/undo", expect=expect
        )


@pytest.fixture
async def desk(aiohttp_client: Any, make_settings: Callable[..., Settings]) -> AsyncIterator[Desk]:
    relay = SmtpSink()
    await relay.start()
    async with FakeTwilio() as twilio, tg.FakeTelegram() as telegram:
        secret = "tg-secret-0123456789-abcdefghij"
        settings = make_settings(
            public_url=PUBLIC_URL,
            twilio=twilio.settings(OUR_NUMBER),
            telegram={
                "token": telegram.token,
                "webhook_secret": secret,
                "api_base_url": telegram.base_url,
            },
            email={
                "address": SUPPORT,
                "smtp_host": "127.0.0.1",
                "smtp_port": relay.port,
                "smtp_tls": "none",
                "smtp_timeout_seconds": 5,
            },
        )
        url = settings.effective_database_url
        await seed(url)
        db = Database(url)
        try:
            await create_agent(
                db,
                SystemClock(),
                email="admin@example.com",
                name="Admin",
                password=PASSWORD,
                role="admin",
            )
        finally:
            await db.dispose()
        client = await aiohttp_client(create_app(settings))
        desk = Desk(client, twilio, telegram)
        desk.url = url
        desk.agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)
        desk.admin = await AgentApi.login(client, "admin@example.com", PASSWORD)
        yield desk
        for chat in desk.chats:
            await chat.close()
    await relay.stop()


async def _run(url: str, action: Callable[[Any], Any]) -> Any:
    db = Database(url)
    try:
        async with db.transaction() as session:
            return await action(session)
    finally:
        await db.dispose()


# ---- merge and undo --------------------------------------------------------------------------


async def test_four_channels_merge_into_one_customer_and_back_with_no_touchpoint_lost(
    desk: Desk,
) -> None:
    chat_id = await desk.webchat("I want to talk to a person")
    email_id = await desk.email("Where is my order?")
    await desk.sms("Hello, I texted about my order")
    [sms_id] = await desk.customers_of("sms")
    ana = tgu.user(5_100_000_777, "Ana", "Silva")
    await desk.telegram_update(tgu.text_update("Hi from Telegram", sender=ana))
    [tg_id] = await desk.customers_of("telegram")
    ids = [chat_id, email_id, sms_id, tg_id]
    assert len(set(ids)) == 4
    before = {c: await desk.touchpoints(c) for c in ids}
    assert all(before.values())

    merges = [await desk.merge(chat_id, other) for other in (email_id, sms_id, tg_id)]

    merged = await desk.touchpoints(chat_id)
    everything = sorted(t for c in ids for t in before[c])
    assert merged == everything  # none lost, none twice
    for other in (email_id, sms_id, tg_id):
        assert await desk.touchpoints(other) == []
        assert (await desk.profile(other))["merged_into"] == chat_id
    profile = await desk.profile(chat_id)
    assert {i["channel"] for i in profile["identities"]} == {"webchat", "email", "sms", "telegram"}
    assert profile["lifetime"]["conversations"] == 4
    assert profile["lifetime"]["touchpoints"] == len(everything)
    assert [m["id"] for m in profile["merges"]] == [m["merge"]["id"] for m in merges]
    sms_merge = merges[1]["merge"]
    assert sms_merge["actor"] == "agent1@example.com" and sms_merge["moved"]["identities"] == 1
    history = await desk.agent.history(chat_id)
    assert {m["channel"] for m in history["items"]} == {"webchat", "email", "sms", "telegram"}

    undone = await desk.undo(sms_merge["id"])

    assert undone["merge"]["undone_by"] == "agent1@example.com"
    assert await desk.touchpoints(sms_id) == before[sms_id]
    rest = sorted(t for c in (chat_id, email_id, tg_id) for t in before[c])
    assert await desk.touchpoints(chat_id) == rest
    assert [i["channel"] for i in (await desk.profile(sms_id))["identities"]] == ["sms"]
    # The SMS customer is whole again: a new text lands on them, not on the merged customer.
    await desk.sms("Me again")
    assert len(await desk.touchpoints(sms_id)) > len(before[sms_id])
    assert await desk.touchpoints(chat_id) == rest
    again = await desk.undo(sms_merge["id"], expect=409)
    assert again["error"]["code"] == "already_undone"

    # Audited on both customers.
    export = await desk.admin.call("GET", f"/api/v1/customers/{sms_id}/export")
    actions = [e["action"] for e in export["audit_events"]]
    assert actions[:2] == ["customer.merge", "customer.merge_undo"]


async def test_open_consoles_hear_of_a_merge_and_its_undo(desk: Desk) -> None:
    chat_id = await desk.webchat("I want to talk to a person")
    email_id = await desk.email("Where is my order?")
    [email_conv] = [c["id"] for c in (await desk.profile(email_id))["conversations"]]
    console = await desk.client.ws_connect("/api/v1/ws")
    await console.send_json({"type": "auth", "token": desk.agent.token})
    assert (await console.receive_json())["type"] == "ready"

    async def heard(*wanted: dict[str, Any]) -> None:
        seen: list[dict[str, Any]] = []
        while not all(w in seen for w in wanted):
            seen.append(await console.receive_json(timeout=10))

    merge = (await desk.merge(chat_id, email_id))["merge"]
    await heard(
        {"type": "conversation", "conversation_id": email_conv},
        {"type": "customer", "customer_id": chat_id},
        {"type": "customer", "customer_id": email_id},
    )
    await desk.undo(merge["id"])
    await heard(
        {"type": "conversation", "conversation_id": email_conv},
        {"type": "customer", "customer_id": chat_id},
        {"type": "customer", "customer_id": email_id},
    )
    await console.close()


async def test_a_merge_cannot_be_undone_once_its_records_moved_again(desk: Desk) -> None:
    a = await desk.webchat("I want to talk to a person")
    b = await desk.webchat("I want to talk to a person too")
    c = await desk.email("Hello")
    first = (await desk.merge(a, b))["merge"]
    await desk.merge(c, a)  # everything of a, b's included, moves on to c

    refused = await desk.undo(first["id"], expect=409)

    assert refused["error"]["code"] == "moved_again"
    assert await desk.touchpoints(b) == []


async def test_new_messages_after_a_merge_go_back_with_their_address_on_undo(
    desk: Desk,
) -> None:
    target = await desk.email("Hello by email")
    await desk.sms("Hello by SMS")
    [source] = await desk.customers_of("sms")
    done = (await desk.merge(target, source))["merge"]
    await desk.sms("Written after the merge")
    merged = await desk.touchpoints(target, channel="sms")
    assert merged

    await desk.undo(done["id"])

    assert await desk.touchpoints(target, channel="sms") == []
    assert await desk.touchpoints(source) == merged


async def test_sharing_a_phone_number_on_telegram_merges_automatically_and_is_recorded(
    desk: Desk,
) -> None:
    await desk.sms("Hello")
    [owner] = await desk.customers_of("sms")
    ana = tgu.user(5_100_000_778, "Ana", "Silva")
    await desk.telegram_update(tgu.text_update("Hi", sender=ana))
    [stranger] = await desk.customers_of("telegram")
    stranger_tps = await desk.touchpoints(stranger)

    await desk.telegram_update(tgu.contact_update(ANA_PHONE.lstrip("+"), sender=ana))

    assert await desk.customers_of("telegram") == [owner]
    [merge] = (await desk.profile(owner))["merges"]
    assert merge["actor"] == "system" and merge["source_id"] == stranger
    assert "phone number" in merge["reason"]
    undone = await desk.undo(merge["id"])
    assert undone["source"]["identities"][0]["channel"] == "telegram"
    assert set(stranger_tps) <= set(await desk.touchpoints(stranger))


async def test_merges_that_make_no_sense_are_refused_clearly(desk: Desk) -> None:
    a = await desk.webchat("I want to talk to a person")
    b = await desk.email("Hello")

    itself = await desk.merge(a, a, expect=400)
    assert itself["error"]["code"] == "same_customer"
    unknown = await desk.merge(a, 999_999, expect=404)
    assert unknown["error"]["code"] == "customer_not_found"
    unknown_target = await desk.merge(999_999, a, expect=404)
    assert unknown_target["error"]["code"] == "customer_not_found"
    wrong = await desk.agent.call(
        "POST", f"/api/v1/customers/{a}/merge", json={"other_id": "b"}, expect=400
    )
    assert "other_id" in wrong["error"]["message"]
    missing = await desk.agent.call("POST", f"/api/v1/customers/{a}/merge", json={}, expect=400)
    assert "other_id" in missing["error"]["message"]
    no_merge = await desk.undo(424242, expect=404)
    assert no_merge["error"]["code"] == "merge_not_found"
    await desk.admin.call("POST", f"/api/v1/customers/{b}/erase", json={"reason": "asked"})
    erased = await desk.merge(a, b, expect=409)
    assert erased["error"]["code"] == "customer_erased"
    assert (await desk.merge(b, a, expect=409))["error"]["code"] == "customer_erased"


# ---- profile, notes, duplicates --------------------------------------------------------------


async def test_the_profile_shows_identities_consent_languages_and_lifetime_figures(
    desk: Desk,
) -> None:
    await desk.sms("Hello")
    [customer] = await desk.customers_of("sms")
    await desk.sms("STOP")

    profile = await desk.profile(customer)

    [identity] = profile["identities"]
    assert identity["channel"] == "sms" and identity["address"] == ANA_PHONE
    assert identity["opted_out"] is True and identity["opted_out_at"]
    figures = profile["lifetime"]
    assert figures["conversations"] == 1
    assert figures["first_contact_at"] <= figures["last_contact_at"]
    assert figures["csat_average"] is None and figures["csat_count"] == 0
    assert profile["languages"] and profile["languages"][0] == "en"
    assert profile["attributes"] == {} and profile["tags"] == [] and profile["notes"] == []
    for key in ("value_tier", "lifecycle", "segment"):
        assert key in profile
    missing = await desk.agent.call("GET", "/api/v1/customers/999999", expect=404)
    assert missing["error"]["code"] == "customer_not_found"


async def test_staff_edit_a_profile_attributes_merge_and_tags_replace(desk: Desk) -> None:
    customer = await desk.email("Hello")
    path = f"/api/v1/customers/{customer}"

    first = await desk.agent.call(
        "PATCH",
        path,
        json={"attributes": {"plan": "gold", "seats": 12, "trial": False}, "tags": ["Beta", "b2b"]},
    )
    second = await desk.agent.call(
        "PATCH",
        path,
        json={
            "attributes": {"seats": 15, "trial": None, "ltv": 1234.5},
            "tags": ["b2b"],
            "display_name": "  Ana   Silva ",
            "locale": "pt-BR",
            "segment": "VIP",
        },
    )

    assert first["attributes"] == {"plan": "gold", "seats": 12, "trial": False}
    assert first["tags"] == ["beta", "b2b"]
    assert second["attributes"] == {"plan": "gold", "seats": 15, "ltv": 1234.5}
    assert second["tags"] == ["b2b"]
    assert second["display_name"] == "Ana Silva" and second["locale"] == "pt-BR"
    assert second["segment"] == "vip" and second["languages"][0] == "pt-BR"
    assert (await desk.profile(customer))["attributes"] == second["attributes"]
    export = await desk.admin.call("GET", f"/api/v1/customers/{customer}/export")
    updates = [e for e in export["audit_events"] if e["action"] == "customer.update"]
    assert [e["actor"] for e in updates] == ["agent1@example.com"] * 2
    assert "attributes.trial" in updates[1]["data"]["changed"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"attributes": {"k" * 65: 1}}, "attributes"),
        ({"attributes": {"plan": ["a", "list"]}}, "attributes.plan"),
        ({"attributes": {"plan": {"nested": 1}}}, "attributes.plan"),
        ({"attributes": {f"k{n}": n for n in range(51)}}, "attributes"),
        ({"attributes": {"note": "x" * 1001}}, "attributes.note"),
        ({"attributes": "plan=gold"}, "attributes"),
        ({"attributes": {"plan": "\ud800"}}, "attributes.plan"),
        ({"tags": ["\ud800"]}, "tags[0]"),
        ({"tags": "vip"}, "tags"),
        ({"tags": ["ok", ""]}, "tags[1]"),
        ({"tags": ["ok", 5]}, "tags[1]"),
        ({"tags": [f"t{n}" for n in range(51)]}, "tags"),
        ({"locale": "not a locale"}, "locale"),
        ({"segment": "Very Important!"}, "segment"),
        ({"display_name": 7}, "display_name"),
        ({"display_name": "x" * 201}, "display_name"),
        ({"colour": "blue"}, "colour"),
        ({}, "display_name"),
    ],
)
async def test_bad_profile_edits_are_refused_naming_the_field(
    desk: Desk, body: dict[str, Any], field: str
) -> None:
    customer = await desk.email("Hello")
    before = await desk.profile(customer)

    refused = await desk.agent.call("PATCH", f"/api/v1/customers/{customer}", json=body, expect=400)

    assert field in refused["error"]["message"], refused
    after = await desk.profile(customer)
    assert (after["attributes"], after["tags"]) == (before["attributes"], before["tags"])


async def test_bad_json_numbers_in_attributes_are_refused(desk: Desk) -> None:
    customer = await desk.email("Hello")
    resp = await desk.client.patch(
        f"/api/v1/customers/{customer}",
        data='{"attributes": {"ltv": Infinity}}',
        headers={**desk.agent.headers, "Content-Type": "application/json"},
    )
    assert resp.status == 400
    assert "attributes.ltv" in (await resp.json())["error"]["message"]


async def test_notes_about_a_customer_are_kept_newest_first_with_their_author(
    desk: Desk,
) -> None:
    customer = await desk.email("Hello")
    path = f"/api/v1/customers/{customer}/notes"

    first = await desk.agent.call("POST", path, json={"text": "Prefers email"}, expect=201)
    await desk.admin.call("POST", path, json={"text": "  Called about a refund  "}, expect=201)

    assert first["author"] == "Agent 1" and first["created_at"]
    notes = (await desk.profile(customer))["notes"]
    assert [(n["author"], n["text"]) for n in notes] == [
        ("Admin", "Called about a refund"),
        ("Agent 1", "Prefers email"),
    ]
    empty = await desk.agent.call("POST", path, json={"text": "   "}, expect=400)
    assert "text" in empty["error"]["message"]
    long = await desk.agent.call("POST", path, json={"text": "x" * 4001}, expect=400)
    assert "text" in long["error"]["message"]
    await desk.agent.call("POST", "/api/v1/customers/999999/notes", json={"text": "x"}, expect=404)


async def test_duplicates_are_suggested_by_email_phone_and_name_best_first(desk: Desk) -> None:
    await desk.sms("Hello")
    [sms_customer] = await desk.customers_of("sms")
    await desk.agent.call(
        "PATCH", f"/api/v1/customers/{sms_customer}", json={"display_name": "Ana Silva"}
    )
    email_customer = await desk.email("Hello", name="Ana Silva")
    now = SystemClock().now()

    async def older_records(session: Any) -> dict[str, int]:
        # Customers from before numbers were linked, or imported: a WhatsApp number written
        # without '+', and the same email address in capitals.
        wa, _ = await customer_repo.resolve_identity(session, "whatsapp", "66812345678", now)
        mail, _ = await customer_repo.resolve_identity(
            session, "email", ANA_EMAIL.upper(), now, display_name="A. Silva"
        )
        other, _ = await customer_repo.resolve_identity(
            session, "webchat", "visitor-x", now, display_name="ana silva"
        )
        return {"wa": wa.id, "mail": mail.id, "other": other.id}

    made = await _run(desk.url, older_records)

    found = await desk.agent.call("GET", f"/api/v1/customers/{sms_customer}/duplicates")
    by_id = {d["customer_id"]: d for d in found["items"]}
    assert by_id[made["wa"]]["reasons"] == [f"same phone {ANA_PHONE} (whatsapp)"]
    assert by_id[email_customer]["reasons"] == ["same name Ana Silva"]
    assert by_id[made["other"]]["reasons"] == ["same name ana silva"]
    assert by_id[made["wa"]]["score"] > by_id[email_customer]["score"]
    scores = [d["score"] for d in found["items"]]
    assert scores == sorted(scores, reverse=True)
    assert sms_customer not in by_id

    by_email = await desk.agent.call("GET", f"/api/v1/customers/{email_customer}/duplicates")
    first = by_email["items"][0]
    assert first["customer_id"] == made["mail"]
    assert first["reasons"] == [f"same email {ANA_EMAIL.upper()}"]
    # Once merged, a duplicate is no longer suggested.
    await desk.merge(email_customer, made["mail"])
    again = await desk.agent.call("GET", f"/api/v1/customers/{email_customer}/duplicates")
    assert made["mail"] not in {d["customer_id"] for d in again["items"]}


# ---- history ---------------------------------------------------------------------------------


async def test_history_filters_by_kind_and_channel_and_pages_through_thousands(
    desk: Desk,
) -> None:
    customer = await desk.email("Hello")
    start = SystemClock().now() - timedelta(days=30)
    kinds = [TouchpointKind.MESSAGE, TouchpointKind.NOTE, TouchpointKind.SYSTEM]

    async def bulk(session: Any) -> None:
        await session.execute(
            insert(Touchpoint),
            [
                {
                    "customer_id": customer,
                    "channel": "sms" if n % 2 else "webchat",
                    "kind": kinds[n % 3],
                    "direction": Direction.INBOUND,
                    "author_kind": AuthorKind.CUSTOMER,
                    "text": f"event {n}",
                    "meta": {},
                    "created_at": start + timedelta(minutes=n),
                }
                for n in range(3000)
            ],
        )

    await _run(desk.url, bulk)

    everything = await desk.touchpoints(customer)
    assert len(everything) == len(set(everything)) >= 3000
    assert everything == sorted(everything)
    notes = await desk.touchpoints(customer, kind="note")
    assert len(notes) == 1000
    both = await desk.touchpoints(customer, kind="note,system", channel="sms")
    assert len(both) == 1000  # odd n on SMS; n % 3 in (1, 2): two thirds of 1500
    page = await desk.agent.history(customer, kind="message", limit=10)
    assert len(page["items"]) == 10 and page["next_before"] == page["items"][0]["id"]
    assert {m["kind"] for m in page["items"]} == {"message"}
    bad = await desk.agent.call(
        "GET", f"/api/v1/customers/{customer}/history", params={"kind": "message,chat"}, expect=400
    )
    assert "'chat'" in bad["error"]["message"] and bad["error"]["code"] == "bad_kind"
    too_many = await desk.agent.call(
        "GET", f"/api/v1/customers/{customer}/history", params={"limit": "1001"}, expect=400
    )
    assert too_many["error"]["code"] == "bad_limit"


# ---- schema ----------------------------------------------------------------------------------


def test_the_migrations_build_exactly_the_models_schema(tmp_path: Path) -> None:
    template = databases.make_sqlite_template(tmp_path)
    engine = create_engine(f"sqlite:///{template}")
    try:
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        engine.dispose()


async def test_merge_rows_are_stored(desk: Desk) -> None:
    a = await desk.webchat("I want to talk to a person")
    b = await desk.email("Hello")
    await desk.merge(a, b)

    async def rows(session: Any) -> list[CustomerMerge]:
        return list((await session.scalars(select(CustomerMerge))).all())

    [row] = await _run(desk.url, rows)
    assert (row.source_id, row.target_id) == (b, a)
    assert row.moved["identities"] and row.moved["touchpoints"] and row.moved["conversations"]
    assert row.profile["before"]["display_name"] is None
    assert row.profile["after"]["display_name"] == "Ana Silva"
    source = await _run(desk.url, lambda s: s.get(Customer, b))
    assert source.display_name == "Ana Silva"  # the source row stays as it was


# ---- CSV -------------------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, sqlite_template: Path) -> Cli:
    runner = Cli(tmp_path)
    shutil.copyfile(sqlite_template, runner.db_path)
    return runner


def _csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


async def test_customers_are_imported_from_csv_and_exported_again(cli: Cli) -> None:
    rows = [
        {
            "name": f"Customer {n}",
            "email": f"c{n}@example.com",
            "phone": f"+66 81 000 {n:04d}",
            "locale": "th" if n % 2 else "en",
            "tags": "b2b|beta" if n % 2 else "",
            "attr.plan": "gold" if n % 3 == 0 else "",
            "attr.seats": str(n),
        }
        for n in range(1, 1201)
    ]
    source = cli.folder / "customers.csv"
    source.write_text(_csv(rows), encoding="utf-8")

    done = await asyncio.to_thread(cli.ok, "customer", "import", str(source))

    assert "importing 1200/1200 (100%)" in done.stderr
    assert "1200 created, 0 updated" in done.stdout
    # Again, changed: found by email or phone, updated, nothing doubled.
    rows[0]["name"], rows[0]["email"], rows[0]["tags"] = "Renamed", "", "vip"
    source.write_text(_csv(rows[:2]), encoding="utf-8")
    again = await asyncio.to_thread(cli.ok, "customer", "import", str(source))
    assert "0 created, 2 updated" in again.stdout
    exported = await asyncio.to_thread(cli.ok, "customer", "export-csv", "-")
    table = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert len(table) == 1200
    first = next(r for r in table if r["phone"] == "+66810000001")
    assert first["name"] == "Renamed" and first["email"] == "c1@example.com"
    assert first["tags"] == "vip" and first["attr.seats"] == "1"
    target = cli.folder / "out.csv"
    written = await asyncio.to_thread(cli.ok, "customer", "export-csv", str(target))
    assert "1200 customer(s)" in written.stderr
    assert target.read_text(encoding="utf-8") == exported.stdout


async def test_a_csv_import_recomputes_the_segments_of_the_customers_it_changes(
    cli: Cli,
) -> None:
    # The shipped workspace: attr.plan == "gold" makes a customer vip.
    source = cli.folder / "customers.csv"
    rows = [
        {"email": "gold@example.com", "attr.plan": "gold", "tags": ""},
        {"email": "basic@example.com", "attr.plan": "basic", "tags": ""},
    ]
    source.write_text(_csv(rows), encoding="utf-8")

    async def segments() -> dict[str, tuple[str | None, str | None]]:
        async def read(session: Any) -> dict[str, tuple[str | None, str | None]]:
            found = await session.execute(
                select(ContactIdentity.address, Customer.segment, Customer.lifecycle).join(
                    Customer, Customer.id == ContactIdentity.customer_id
                )
            )
            return {address: (segment, stage) for address, segment, stage in found}

        return await _run(cli.url, read)

    await asyncio.to_thread(cli.ok, "customer", "import", str(source))
    assert await segments() == {
        "gold@example.com": ("vip", "new"),
        "basic@example.com": (None, "new"),
    }
    rows[0]["attr.plan"], rows[1]["attr.plan"] = "basic", "gold"
    source.write_text(_csv(rows), encoding="utf-8")
    await asyncio.to_thread(cli.ok, "customer", "import", str(source))
    assert await segments() == {
        "gold@example.com": (None, "new"),
        "basic@example.com": ("vip", "new"),
    }


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"phone": "not a number"}, "line 3: phone"),
        ({"email": "no-at-sign"}, "line 3: email"),
        ({"locale": "?!"}, "line 3: locale"),
        ({"name": "", "email": "", "phone": ""}, "line 3: a row needs an email or a phone"),
    ],
)
async def test_a_bad_csv_row_is_reported_with_its_line_and_nothing_is_imported(
    cli: Cli, bad: dict[str, str], message: str
) -> None:
    good = {"name": "Ana", "email": "ana@example.com", "phone": "", "locale": "en", "tags": ""}
    rows = [good, {**good, "email": "bob@example.com", **bad}]
    source = cli.folder / "bad.csv"
    source.write_text(_csv(rows), encoding="utf-8")

    error = await asyncio.to_thread(cli.fails, "customer", "import", str(source))

    assert message in error
    exported = await asyncio.to_thread(cli.ok, "customer", "export-csv", "-")
    assert list(csv.DictReader(io.StringIO(exported.stdout))) == []


async def test_csv_needs_known_columns(cli: Cli) -> None:
    source = Path(tempfile.mkdtemp(dir=cli.folder)) / "x.csv"
    source.write_text("name,colour\nAna,blue\n", encoding="utf-8")
    error = await asyncio.to_thread(cli.fails, "customer", "import", str(source))
    assert "colour" in error


async def test_a_profile_lists_the_latest_conversations_and_says_how_many_more_there_are(
    desk: Desk,
) -> None:
    customer = await desk.email("Hello")
    start = SystemClock().now() - timedelta(days=300)

    async def bulk(session: Any) -> None:
        identity = (await customer_repo.identities_of(session, customer))[0]
        session.add_all(
            Conversation(
                customer_id=customer,
                identity_id=identity.id,
                channel="email",
                status=ConversationStatus.CLOSED,
                reference=f"OLD{n:05d}",
                created_at=start + timedelta(days=n),
                updated_at=start + timedelta(days=n),
                closed_at=start + timedelta(days=n, hours=1),
            )
            for n in range(120)
        )

    await _run(desk.url, bulk)

    profile = await desk.agent.call("GET", f"/api/v1/customers/{customer}")
    assert profile["lifetime"]["conversations"] == 121
    assert len(profile["conversations"]) == 100 and profile["conversations_more"] == 21
    assert profile["conversations"][0]["status"] != "closed"  # the newest first: the open one


async def test_staff_record_an_opt_out_per_address_and_nothing_is_sent_there_until_back_in(
    desk: Desk,
) -> None:
    customer = await desk.webchat("agent")  # asks for a person: queued
    other = await desk.webchat("hello")
    [conv] = [c for c in (await desk.agent.queue())["items"] if c["customer"]["id"] == customer]
    await desk.agent.claim(conv["id"])
    [identity] = (await desk.profile(customer))["identities"]
    path = f"/api/v1/customers/{customer}/identities/{identity['id']}"

    profile = await desk.agent.call(
        "PATCH", path, json={"opted_out": True, "reason": "asked on the phone"}
    )

    assert profile["identities"][0]["opted_out"] is True
    refused = await desk.agent.reply(conv["id"], "Hello?", expect=409)
    assert refused["error"]["code"] == "customer_opted_out"
    history = (await desk.agent.history(customer, kind="system"))["items"]
    assert any(
        "Opted out of webchat" in m["text"] and "asked on the phone" in m["text"] for m in history
    )
    back = await desk.agent.call("PATCH", path, json={"opted_out": False})
    assert back["identities"][0]["opted_out"] is False
    await desk.agent.reply(conv["id"], "Hello again")  # 201: sent

    # Another customer's address, or a body that is not a choice, is refused clearly.
    wrong = f"/api/v1/customers/{other}/identities/{identity['id']}"
    missing = await desk.agent.call("PATCH", wrong, json={"opted_out": True}, expect=404)
    assert missing["error"]["code"] == "identity_not_found"
    bad = await desk.agent.call("PATCH", path, json={"opted_out": "yes"}, expect=400)
    assert "opted_out" in bad["error"]["message"]
