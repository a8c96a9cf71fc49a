"""Privacy: a customer's export, erasure on request and message-body retention, end to end on
web chat and email (SQLite and PostgreSQL), and the CLI commands."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from console.auth import create_agent
from routing.clock import FrozenClock, SystemClock
from routing.privacy import RetentionPolicy, RetentionWorker
from storage.db import Database
from storage.models import (
    ArticleFeedback,
    AuthorKind,
    Call,
    ContactIdentity,
    Conversation,
    Customer,
    DeliveryState,
    Direction,
    OutboxItem,
    OutboxStatus,
    StoredAttachment,
    Touchpoint,
    TouchpointKind,
)
from storage.repos import customers as customer_repo
from switchboard.app import EMAIL_INGEST, create_app
from switchboard.settings import Settings, load_settings
from tests.conftest import PASSWORD, ROOT, seed
from tests.fakes.smtp import Received, SmtpSink
from tests.helpers import AgentApi, ChatClient, eventually
from tests.test_cli import Cli

SUPPORT = "support@acme.test"
ALICE = "alice@customer.test"
ALICE_NAME = "Alice Wonderly"
BOB = "bob@customer.test"
SUBJECT = "Parcel ZEBRA-4711 for Alice Wonderly"
QUESTION = "Hi, I forgot my password and can't log in. How do I reset it?"
ATTACHMENT = b"%PDF-1.4 Alice Wonderly passport scan"
AGENT_REPLY = "Hello Alice, Agent 1 here: your parcel ZEBRA-4711 is on its way"
CHAT_TEXT = "I want to talk to a person about my order KIWI-9931"
CHAT_REPLY = "Hi there, order KIWI-9931 ships tomorrow"
CSAT_COMMENT = "Quick and friendly, thanks from Alice"
NOTE = "Alice Wonderly prefers email about ZEBRA-4711"
SECRETS = (
    ALICE,
    "Alice",
    "Wonderly",
    "ZEBRA-4711",
    "KIWI-9931",
    "passport",
    QUESTION,
    base64.b64encode(ATTACHMENT).decode(),
)


def mail(
    body: str, *, sender: str, name: str, subject: str, attachment: bytes | None = None
) -> bytes:
    message = EmailMessage()
    message["From"] = f"{name} <{sender}>"
    message["To"] = SUPPORT
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="customer.test")
    message.set_content(body)
    if attachment is not None:
        message.add_attachment(
            attachment, maintype="application", subtype="pdf", filename="alice-passport.pdf"
        )
    return message.as_bytes()


def feedback_link(received: Received, vote: str) -> str:
    found = re.findall(r"https?://[^/\s]+(/feedback/\d+/[\w-]+\?vote=(\w+))", received.text)
    return next(path for path, v in found if v == vote)


class Desk:
    """A running Switchboard with email and web chat, its relay, and staff of every role."""

    def __init__(self, client: TestClient, relay: SmtpSink, url: str) -> None:
        self.client = client
        self.relay = relay
        self.url = url
        self.agent: AgentApi
        self.supervisor: AgentApi
        self.admin: AgentApi
        self.chat: ChatClient
        self.alice_id = 0
        self.bob_id = 0
        self.email_conv = 0
        self.chat_conv = 0

    async def deliver(self, raw: bytes) -> None:
        await self.client.app[EMAIL_INGEST].deliver(raw)

    async def conversations(self) -> list[dict[str, Any]]:
        return (await self.agent.call("GET", "/api/v1/conversations"))["items"]

    async def new_conversation(self, channel: str, known: set[int]) -> dict[str, Any]:
        async def found() -> dict[str, Any] | None:
            fresh = [c for c in await self.conversations() if c["channel"] == channel]
            return next((c for c in fresh if c["id"] not in known), None)

        return await eventually(found)

    async def export(self, customer_id: int, who: AgentApi | None = None) -> dict[str, Any]:
        return await (who or self.admin).call("GET", f"/api/v1/customers/{customer_id}/export")

    async def serve_and_close(self, conversation_id: int, text: str) -> None:
        await self.agent.claim(conversation_id)
        await self.agent.reply(conversation_id, text)
        await self.agent.close(conversation_id)


@pytest.fixture
async def relay() -> AsyncIterator[SmtpSink]:
    sink = SmtpSink()
    await sink.start()
    yield sink
    await sink.stop()


@pytest.fixture
def privacy_settings(
    make_settings: Callable[..., Settings], relay: SmtpSink, tmp_path: Path
) -> Settings:
    workspace = yaml.safe_load((ROOT / "tests" / "workspace_manual.yaml").read_text())
    workspace["csat"] = {"enabled": True}
    path = tmp_path / "workspace.yaml"
    path.write_text(yaml.safe_dump(workspace), encoding="utf-8")
    return make_settings(
        workspace_file=str(path),
        email={
            "address": SUPPORT,
            "smtp_host": "127.0.0.1",
            "smtp_port": relay.port,
            "smtp_tls": "none",
            "smtp_timeout_seconds": 5,
        },
    )


@pytest.fixture
async def desk(
    aiohttp_client: Any, privacy_settings: Settings, relay: SmtpSink
) -> AsyncIterator[Desk]:
    url = privacy_settings.effective_database_url
    await seed(url)
    db = Database(url)
    try:
        for email, role in (("sup@example.com", "supervisor"), ("admin@example.com", "admin")):
            await create_agent(
                db, SystemClock(), email=email, name=role.title(), password=PASSWORD, role=role
            )
    finally:
        await db.dispose()
    client = await aiohttp_client(create_app(privacy_settings))
    desk = Desk(client, relay, url)
    desk.agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)
    desk.supervisor = await AgentApi.login(client, "sup@example.com", PASSWORD)
    desk.admin = await AgentApi.login(client, "admin@example.com", PASSWORD)
    desk.chat = ChatClient(client)
    yield desk
    await desk.chat.close()


@pytest.fixture
async def history(desk: Desk) -> Desk:
    """Alice emails (with a file), votes the bot's answer down, is served and closed; she
    also chats on the web (one customer: the chat is linked to her), is served, closed and
    rates it. Bob emails and stays with the bot."""
    await desk.deliver(
        mail(QUESTION, sender=ALICE, name=ALICE_NAME, subject=SUBJECT, attachment=ATTACHMENT)
    )
    [ack] = await desk.relay.wait_for(1)
    email_conv = await desk.new_conversation("email", set())
    no = await desk.client.post(feedback_link(ack, "not_helpful"), data={"vote": "not_helpful"})
    assert no.status == 200
    await desk.serve_and_close(email_conv["id"], AGENT_REPLY)

    await desk.chat.connect()
    await desk.chat.say(CHAT_TEXT)
    chat_conv = await desk.new_conversation("webchat", set())
    await desk.serve_and_close(chat_conv["id"], CHAT_REPLY)
    await desk.chat.reply(lambda m: "1 (poor) to 5" in m["text"])
    await desk.chat.say("5")
    await desk.chat.reply(lambda m: "anything you would like to add" in m["text"])
    await desk.chat.say(CSAT_COMMENT)
    await desk.chat.reply(lambda m: m["text"] == "Thank you for your feedback.")

    # One person, one history: her chat is linked to her email identity.
    db = Database(desk.url)
    try:
        async with db.transaction() as session:
            await customer_repo.merge(
                session,
                chat_conv["customer"]["id"],
                email_conv["customer"]["id"],
                SystemClock().now(),
            )
    finally:
        await db.dispose()
    alice = email_conv["customer"]["id"]
    await desk.agent.call(
        "PATCH",
        f"/api/v1/customers/{alice}",
        json={"attributes": {"parcel": "ZEBRA-4711"}, "tags": ["parcels"]},
    )
    await desk.agent.call(
        "POST", f"/api/v1/customers/{alice}/notes", json={"text": NOTE}, expect=201
    )

    await desk.deliver(mail(QUESTION, sender=BOB, name="Bob Other", subject="Password"))
    bob_conv = await desk.new_conversation("email", {email_conv["id"]})
    desk.alice_id, desk.bob_id = email_conv["customer"]["id"], bob_conv["customer"]["id"]
    desk.email_conv, desk.chat_conv = email_conv["id"], chat_conv["id"]
    await desk.relay.wait_for(4)  # the answer to Bob, Alice's reply and survey were sent
    return desk


def kinds(export: dict[str, Any]) -> Counter[tuple[str, str]]:
    return Counter((t["channel"], t["kind"]) for t in export["touchpoints"])


# ---- export ----------------------------------------------------------------------------------


async def test_the_export_holds_everything_about_a_customer_on_both_channels(
    history: Desk,
) -> None:
    resp = await history.client.get(
        f"/api/v1/customers/{history.alice_id}/export", headers=history.supervisor.headers
    )
    assert resp.status == 200
    assert resp.headers["Content-Disposition"].startswith("attachment")
    assert f"customer-{history.alice_id}.json" in resp.headers["Content-Disposition"]
    data = json.loads(await resp.read())

    assert data["schema_version"] == 1 and data["exported_at"]
    assert data["customer"]["display_name"] == ALICE_NAME
    assert data["customer"]["erased_at"] is None
    identities = {i["channel"]: i for i in data["identities"]}
    assert identities["email"]["address"] == ALICE
    assert identities["webchat"]["address"] == history.chat.visitor_id
    assert all("opted_out_at" in i for i in data["identities"])
    convs = {c["channel"]: c for c in data["conversations"]}
    assert convs["email"]["subject"] == SUBJECT
    assert {c["status"] for c in data["conversations"]} == {"closed"}

    touchpoints = data["touchpoints"]
    assert [t["id"] for t in touchpoints] == sorted(t["id"] for t in touchpoints)
    texts = [t["text"] for t in touchpoints]
    assert QUESTION in texts and AGENT_REPLY in texts
    assert CHAT_TEXT in texts and CHAT_REPLY in texts and CSAT_COMMENT in texts
    assert {t["channel"] for t in touchpoints} == {"email", "webchat"}
    email_in = next(t for t in touchpoints if t["text"] == QUESTION)
    assert email_in["meta"]["subject"] == SUBJECT and email_in["created_at"]
    reply = next(t for t in touchpoints if t["text"] == AGENT_REPLY)
    assert reply["delivery_state"] in ("sent", "delivered", "pending")

    [attachment] = data["attachments"]
    assert attachment["name"] == "alice-passport.pdf"
    assert base64.b64decode(attachment["content_base64"]) == ATTACHMENT
    [vote] = data["article_feedback"]
    assert vote["helpful"] is False and vote["question"] == QUESTION
    [csat] = [c for c in data["csat"] if c["score"] is not None]
    assert (csat["score"], csat["comment"]) == (5, CSAT_COMMENT)
    assert data["calls"] == []
    assert data["customer"]["attributes"] == {"parcel": "ZEBRA-4711"}
    assert data["customer"]["tags"] == ["parcels"]
    assert [(n["author"], n["text"]) for n in data["notes"]] == [("Agent 1", NOTE)]
    [merge] = data["merges"]
    assert merge["target_id"] == history.alice_id and merge["actor"] == "system"
    assert merge["moved"]["touchpoints"] and merge["undone_at"] is None

    # Exports are audited: the next one lists this one.
    again = await history.export(history.alice_id)
    [event] = [e for e in again["audit_events"] if e["action"] == "customer.export"]
    assert event["action"] == "customer.export" and event["actor"] == "sup@example.com"


async def test_only_supervisors_and_admins_may_export(history: Desk) -> None:
    denied = await history.agent.call(
        "GET", f"/api/v1/customers/{history.alice_id}/export", expect=403
    )
    assert denied["error"]["code"] == "forbidden"
    missing = await history.admin.call("GET", "/api/v1/customers/999999/export", expect=404)
    assert missing["error"]["code"] == "customer_not_found"


# ---- erase -----------------------------------------------------------------------------------


async def _rows_of(url: str, customer_id: int) -> str:
    """Every database row belonging to the customer, as text."""
    db = Database(url)
    try:
        async with db.transaction() as session:
            convs = list(
                (
                    await session.scalars(
                        select(Conversation).where(Conversation.customer_id == customer_id)
                    )
                ).all()
            )
            conv_ids = [c.id for c in convs]
            tps = list(
                (
                    await session.scalars(
                        select(Touchpoint).where(Touchpoint.customer_id == customer_id)
                    )
                ).all()
            )
            tp_ids = [t.id for t in tps]
            rows: list[Any] = [await session.get(Customer, customer_id), *convs, *tps]
            for query in (
                select(ContactIdentity).where(ContactIdentity.customer_id == customer_id),
                select(StoredAttachment).where(StoredAttachment.touchpoint_id.in_(tp_ids)),
                select(OutboxItem).where(OutboxItem.touchpoint_id.in_(tp_ids)),
                select(Call).where(Call.conversation_id.in_(conv_ids)),
                select(ArticleFeedback).where(ArticleFeedback.conversation_id.in_(conv_ids)),
            ):
                rows += list((await session.scalars(query)).all())
            return "\n".join(
                repr({c.key: getattr(row, c.key) for c in row.__table__.columns}) for row in rows
            )
    finally:
        await db.dispose()


async def test_erasing_removes_personal_data_and_bodies_and_keeps_the_aggregates(
    history: Desk,
) -> None:
    before = await history.export(history.alice_id)
    bob_before = await history.export(history.bob_id)
    assert "Alice" in await _rows_of(history.url, history.alice_id)

    done = await history.admin.call(
        "POST",
        f"/api/v1/customers/{history.alice_id}/erase",
        json={"reason": "erasure request by email, ticket 12"},
    )

    assert done["erased"]["touchpoints"] == len(before["touchpoints"])
    assert done["erased"]["attachments"] == 1
    after = await history.export(history.alice_id)
    text = json.dumps(after, ensure_ascii=False)
    rows = await _rows_of(history.url, history.alice_id)
    for secret in (*SECRETS, history.chat.visitor_id or "?", CHAT_TEXT, AGENT_REPLY):
        assert secret not in text, secret
        assert secret not in rows, secret
    assert after["customer"]["display_name"] is None
    assert (after["customer"]["attributes"], after["customer"]["tags"]) == ({}, [])
    assert after["notes"] == [] and done["erased"]["notes"] == 1
    assert len(after["merges"]) == 1  # what was merged stays known, without the profiles
    assert after["customer"]["erased_by"] == "admin@example.com"
    assert after["customer"]["erased_at"]
    assert all(i["address"] == f"erased:{i['id']}" for i in after["identities"])
    assert all(t["text"] == "" and t["redacted_at"] for t in after["touchpoints"])
    assert after["attachments"] == []
    assert [v["question"] for v in after["article_feedback"]] == [None]
    assert [(c["score"], c["comment"]) for c in after["csat"] if c["score"]] == [(5, None)]
    # What happened stays countable: the same touchpoints of each kind, the same statuses,
    # and the routing facts.
    assert kinds(after) == kinds(before)
    assert [c["status"] for c in after["conversations"]] == [
        c["status"] for c in before["conversations"]
    ]
    escalations = [t["meta"] for t in after["touchpoints"] if t["kind"] == "escalation"]
    assert escalations and all(m["reason"] and "question" not in m for m in escalations)

    erase_events = [e for e in after["audit_events"] if e["action"] == "customer.erase"]
    assert [(e["actor"], e["data"]["reason"]) for e in erase_events] == [
        ("admin@example.com", "erasure request by email, ticket 12")
    ]
    assert erase_events[0]["data"]["counts"]["touchpoints"] == len(before["touchpoints"])

    # Nothing about Bob changed.
    bob_after = await history.export(history.bob_id)
    for key in ("customer", "identities", "conversations", "touchpoints", "article_feedback"):
        assert bob_after[key] == bob_before[key], key

    twice = await history.admin.call(
        "POST",
        f"/api/v1/customers/{history.alice_id}/erase",
        json={"reason": "again"},
        expect=409,
    )
    assert twice["error"]["code"] == "already_erased"


async def test_a_message_from_an_erased_address_starts_a_new_customer(history: Desk) -> None:
    await history.admin.call(
        "POST", f"/api/v1/customers/{history.alice_id}/erase", json={"reason": "asked"}
    )
    known = {c["id"] for c in await history.conversations()}

    await history.deliver(mail("Hello again", sender=ALICE, name=ALICE_NAME, subject="Again"))

    conv = await history.new_conversation("email", known)
    assert conv["customer"]["id"] != history.alice_id
    fresh = await history.export(conv["customer"]["id"])
    assert [i["address"] for i in fresh["identities"]] == [ALICE]
    assert fresh["customer"]["display_name"] == ALICE_NAME
    old = await history.export(history.alice_id)
    assert "Hello again" not in json.dumps(old)


async def test_erasing_needs_an_admin_and_a_reason(history: Desk) -> None:
    path = f"/api/v1/customers/{history.alice_id}/erase"
    for who in (history.agent, history.supervisor):
        denied = await who.call("POST", path, json={"reason": "asked"}, expect=403)
        assert denied["error"]["code"] == "forbidden"
    missing = await history.admin.call("POST", path, json={}, expect=400)
    assert "reason" in missing["error"]["message"]
    no_body = await history.admin.call("POST", path, expect=400)
    assert "reason" in no_body["error"]["message"]
    blank = await history.admin.call("POST", path, json={"reason": "  "}, expect=400)
    assert "reason" in blank["error"]["message"]
    wrong = await history.admin.call("POST", path, json={"reason": 5}, expect=400)
    assert "reason" in wrong["error"]["message"]
    unknown = await history.admin.call(
        "POST", "/api/v1/customers/999999/erase", json={"reason": "asked"}, expect=404
    )
    assert unknown["error"]["code"] == "customer_not_found"
    still = await history.export(history.alice_id)
    assert still["customer"]["display_name"] == ALICE_NAME


async def test_erasing_stops_replies_not_yet_sent(desk: Desk) -> None:
    await desk.chat.connect()
    await desk.chat.say(CHAT_TEXT)
    conv = await desk.new_conversation("webchat", set())
    await desk.agent.claim(conv["id"])
    customer_id = conv["customer"]["id"]
    db = Database(desk.url)
    try:
        # A reply still waiting in the outbox (the worker has not taken it yet).
        async with db.transaction() as session:
            tp = Touchpoint(
                customer_id=customer_id,
                conversation_id=conv["id"],
                channel="webchat",
                kind=TouchpointKind.AGENT_REPLY,
                direction=Direction.OUTBOUND,
                author_kind=AuthorKind.AGENT,
                text="a reply about order KIWI-9931",
                delivery_state=DeliveryState.PENDING,
                meta={},
                created_at=SystemClock().now(),
            )
            session.add(tp)
            await session.flush()
            session.add(
                OutboxItem(
                    touchpoint_id=tp.id,
                    channel="webchat",
                    address=desk.chat.visitor_id,
                    payload={"text": "a reply about order KIWI-9931"},
                    status=OutboxStatus.PENDING,
                    attempts=0,
                    next_attempt_at=SystemClock().now() + timedelta(days=1),
                    created_at=SystemClock().now(),
                )
            )
    finally:
        await db.dispose()

    done = await desk.admin.call(
        "POST", f"/api/v1/customers/{customer_id}/erase", json={"reason": "asked"}
    )

    assert done["erased"]["outbox_stopped"] == 1
    rows = await _rows_of(desk.url, customer_id)
    assert "KIWI-9931" not in rows and "customer's data was erased" in rows
    after = await desk.export(customer_id)
    assert "failed" in [t["delivery_state"] for t in after["touchpoints"]]


async def test_erasing_closes_open_conversations_and_takes_them_off_the_queue(desk: Desk) -> None:
    console = await desk.client.ws_connect("/api/v1/ws")
    await console.send_json({"type": "auth", "token": desk.agent.token})
    assert (await console.receive_json())["type"] == "ready"
    await desk.chat.connect()
    await desk.chat.say(CHAT_TEXT)  # asks for a person: queued (the manual workspace)
    conv = await desk.new_conversation("webchat", set())
    assert conv["status"] == "queued"
    assert conv["id"] in [c["id"] for c in (await desk.agent.queue())["items"]]

    done = await desk.admin.call(
        "POST", f"/api/v1/customers/{conv['customer']['id']}/erase", json={"reason": "asked"}
    )

    assert done["erased"]["conversations_closed"] == 1
    assert conv["id"] not in [c["id"] for c in (await desk.agent.queue())["items"]]
    after = await desk.agent.conversation(conv["id"])
    assert after["status"] == "closed"
    [close] = [m for m in after["messages"] if m["kind"] == "close"]
    assert (close["author"], close["direction"]) == ("system", "internal")
    assert close["meta"] == {"reason": "customer_erased"}
    assert "erased" in close["text"] and CHAT_TEXT not in json.dumps(after)
    # Nothing was resolved: the reports' resolution times leave that close out.
    report = await desk.admin.call("GET", "/api/v1/reports")
    assert report["figures"]["resolution"]["count"] == 0
    # The consoles hear of it as of any close: the close, the conversation, the queue.
    seen: list[dict[str, Any]] = []
    while not (
        seen
        and seen[-1] == {"type": "queue"}
        and any(e["type"] == "message" and e["message"]["kind"] == "close" for e in seen)
    ):
        seen.append(await console.receive_json(timeout=10))
    assert {"type": "conversation", "conversation_id": conv["id"]} in seen
    await console.close()


# ---- retention -------------------------------------------------------------------------------


async def test_retention_removes_old_bodies_of_a_channel_with_a_limit_only(history: Desk) -> None:
    db = Database(history.url)
    policy = RetentionPolicy(email_days=30)
    now = SystemClock().now()
    before = await history.export(history.alice_id)
    bob_before = await history.export(history.bob_id)
    try:
        soon = RetentionWorker(db, FrozenClock(now + timedelta(days=10)), policy)
        assert (await soon.run_once())["email"]["touchpoints"] == 0
        later = RetentionWorker(db, FrozenClock(now + timedelta(days=40)), policy)
        dry = await later.run_once(dry_run=True)
        removed = await later.run_once()
        again = await later.run_once()
    finally:
        await db.dispose()

    email_count = sum(1 for t in before["touchpoints"] if t["channel"] == "email")
    assert dry["email"] == removed["email"] == {"touchpoints": email_count, "attachments": 1}
    assert again["email"]["touchpoints"] == 0
    after = await history.export(history.alice_id)
    email = [t for t in after["touchpoints"] if t["channel"] == "email"]
    assert all(t["text"] == "" and t["redacted_at"] for t in email)
    assert not any("subject" in t["meta"] or "full_text" in t["meta"] for t in email)
    assert after["attachments"] == []
    assert {c["channel"]: c["subject"] for c in after["conversations"]}["email"] is None
    # Web chat has no limit; the name and the addresses are not bodies; counts stay.
    chat_before = [t for t in before["touchpoints"] if t["channel"] == "webchat"]
    chat_after = [t for t in after["touchpoints"] if t["channel"] == "webchat"]
    assert chat_after == chat_before
    assert after["customer"]["display_name"] == ALICE_NAME
    assert kinds(after) == kinds(before)
    # Bob's conversation is still open: his history stays whatever its age.
    bob_after = await history.export(history.bob_id)
    assert bob_after["touchpoints"] == bob_before["touchpoints"]


async def test_the_server_runs_retention_on_its_own(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(retention={"webchat_days": 1, "interval_seconds": 0.05})
    await seed(settings.effective_database_url)
    clock = FrozenClock(SystemClock().now())
    client = await aiohttp_client(create_app(settings, clock=clock))
    agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)
    chat = ChatClient(client)
    await chat.connect()
    await chat.say(CHAT_TEXT)
    [conv] = (await agent.call("GET", "/api/v1/conversations"))["items"]
    await agent.claim(conv["id"])
    await agent.reply(conv["id"], CHAT_REPLY)
    await agent.close(conv["id"])
    await chat.close()
    history = await agent.history(conv["customer"]["id"])
    assert CHAT_TEXT in [m["text"] for m in history["items"]]

    clock.advance(2 * 86400)

    agent = await AgentApi.login(client, "agent1@example.com", PASSWORD)  # the token expired

    async def removed() -> list[dict[str, Any]] | None:
        items = (await agent.history(conv["customer"]["id"]))["items"]
        return items if all(m["text"] == "" for m in items) else None

    items = await eventually(removed)
    assert [m["kind"] for m in items] == [m["kind"] for m in history["items"]]


# ---- command line ----------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, sqlite_template: Path) -> Cli:
    runner = Cli(tmp_path)
    shutil.copyfile(sqlite_template, runner.db_path)
    return runner


async def test_the_customer_and_retention_commands(
    cli: Cli, aiohttp_client: Callable[..., Any]
) -> None:
    settings = load_settings(
        cli.config,
        environ={},
        overrides={
            "database_url": cli.url,
            "data_dir": str(cli.folder),
            "log_format": "text",
            "workspace_file": str(ROOT / "tests" / "workspace_manual.yaml"),
        },
    )
    await seed(cli.url, agents=0)
    client = await aiohttp_client(create_app(settings, run_workers=False))
    chat = ChatClient(client)
    await chat.connect()
    await chat.say(CHAT_TEXT)
    await chat.close()
    db = Database(cli.url)
    try:
        async with db.transaction() as session:
            [customer_id] = (await session.scalars(select(Customer.id))).all()
    finally:
        await db.dispose()
    target = cli.folder / "out.json"

    done = await asyncio.to_thread(cli.ok, "customer", "export", str(customer_id), str(target))
    assert "exported customer" in done.stderr
    data = json.loads(target.read_text(encoding="utf-8"))
    assert CHAT_TEXT in [t["text"] for t in data["touchpoints"]]
    printed = await asyncio.to_thread(cli.ok, "customer", "export", str(customer_id), "-")
    assert json.loads(printed.stdout)["customer"]["id"] == customer_id

    no_reason = await asyncio.to_thread(cli.run, "customer", "erase", str(customer_id))
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    erased = await asyncio.to_thread(
        cli.ok, "customer", "erase", str(customer_id), "--reason", "asked by phone"
    )
    assert f"customer {customer_id} erased" in erased.stdout
    assert "touchpoints" in erased.stdout
    twice = await asyncio.to_thread(
        cli.fails, "customer", "erase", str(customer_id), "--reason", "again"
    )
    assert "already erased" in twice
    missing = await asyncio.to_thread(cli.fails, "customer", "export", "999", "-")
    assert "customer 999 not found" in missing
    after = json.loads(
        (await asyncio.to_thread(cli.ok, "customer", "export", str(customer_id), "-")).stdout
    )
    assert CHAT_TEXT not in json.dumps(after)
    assert [e["action"] for e in after["audit_events"]][-1] == "customer.erase"

    nothing = await asyncio.to_thread(cli.ok, "retention", "run")
    assert "nothing removed" in nothing.stdout
    cli.config.write_text("retention:\n  webchat_days: 1\n", encoding="utf-8")
    dry = await asyncio.to_thread(cli.ok, "retention", "run", "--dry-run")
    assert "webchat (older than 1 days): would remove 0 message body(ies)" in dry.stdout
    run = await asyncio.to_thread(cli.ok, "retention", "run")
    assert "webchat (older than 1 days): removed 0 message body(ies)" in run.stdout


def test_retention_settings_are_validated_and_read_from_the_environment(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    settings = load_settings(
        empty,
        environ={
            "SWITCHBOARD_RETENTION__EMAIL_DAYS": "30",
            "SWITCHBOARD_RETENTION__INTERVAL_SECONDS": "60",
        },
    )
    assert settings.retention.email_days == 30 and settings.retention.interval_seconds == 60
    assert settings.retention.limits() == {"email": 30}
    assert load_settings(empty, environ={}).retention.limits() == {}
    with pytest.raises(ValueError, match=r"setting retention\.sms_days"):
        load_settings(empty, environ={"SWITCHBOARD_RETENTION__SMS_DAYS": "-1"})
    with pytest.raises(ValueError, match=r"setting retention\.interval_seconds"):
        load_settings(empty, environ={"SWITCHBOARD_RETENTION__INTERVAL_SECONDS": "0"})
    with pytest.raises(ValueError, match=r"setting retention\.line_days: expected int"):
        load_settings(empty, environ={"SWITCHBOARD_RETENTION__LINE_DAYS": "ten"})
