"""The customer panel in a real headless Chromium: attributes, tags, tier and lifecycle badges,
adding a note, a suggested duplicate merged with its button, and the timeline's kind filter.

Reuses the fixtures of tests/test_browser.py (SQLite only, Debian's /usr/bin/chromium).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Dialog, expect
from sqlalchemy import update

from routing.clock import SystemClock
from storage.db import Database
from storage.models import Customer
from storage.repos import customers as customer_repo
from switchboard.settings import Settings
from tests import test_browser as browser
from tests.helpers import eventually
from tests.test_browser import HANDOFF, open_chat, say
from tests.test_console_browser import WORKSPACE, Api, sign_in_as

# test_browser's fixtures (SQLite only, one Chromium per test), shared by name.
database_url = browser.database_url
serve = browser.serve
base_url = browser.base_url
chromium_path = browser.chromium_path
chromium = browser.chromium


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_the_customer_panel_shows_the_profile_takes_notes_and_merges_a_duplicate(
    chromium: browser.Chromium,
    serve: Callable[[Settings], Awaitable[str]],
    make_settings: Callable[..., Settings],
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(WORKSPACE, encoding="utf-8")
    settings = make_settings(workspace_file=str(workspace))
    base_url = await serve(settings)
    agent = await sign_in_as(chromium, base_url, "agent1@example.com", "Agent 1")
    customer = await open_chat(chromium, base_url)
    await say(customer, "How do I reset my password?")
    await say(customer, HANDOFF)
    api = await Api(http, base_url).login("agent1@example.com")

    async def queued() -> dict[str, Any]:
        items = (await api.call("GET", "/api/v1/queue"))["items"]
        return items[0] if items else {}

    conv = await eventually(queued)
    customer_id = conv["customer"]["id"]
    await api.call(
        "PATCH",
        f"/api/v1/customers/{customer_id}",
        json={
            "display_name": "Ana Silva",
            "attributes": {"plan": "gold", "seats": 12},
            "tags": ["beta", "b2b"],
        },
    )
    db = Database(settings.effective_database_url)
    try:
        async with db.transaction() as session:
            await session.execute(
                update(Customer)
                .where(Customer.id == customer_id)
                .values(value_tier="high", lifecycle="active")
            )
            twin, _ = await customer_repo.resolve_identity(
                session, "email", "ana@example.com", SystemClock().now(), display_name="Ana Silva"
            )
            twin_id = twin.id
    finally:
        await db.dispose()

    await agent.keyboard.press("c")
    panel = agent.locator("#customer-panel")
    await expect(panel).to_be_visible()
    await expect(panel.locator("#customer-title")).to_have_text("Ana Silva")
    await expect(panel.locator("#customer-badges .badge-tier")).to_have_text("High")
    await expect(panel.locator("#customer-badges .badge-lifecycle")).to_have_text("Active")
    await expect(panel.locator("#customer-attributes dt")).to_have_text(["plan", "seats"])
    await expect(panel.locator("#customer-attributes dd")).to_have_text(["gold", "12"])
    await expect(panel.locator("#customer-tags .badge-tag")).to_have_text(["beta", "b2b"])

    # A note about the customer.
    await panel.locator("#customer-note-text").fill("Prefers to be called Ana")
    await panel.locator("#customer-note-add").click()
    await expect(panel.locator("#customer-notes .customer-note-text")).to_have_text(
        ["Prefers to be called Ana"]
    )
    await expect(panel.locator("#customer-notes .muted")).to_contain_text(["Agent 1"])

    # The timeline's kind filter asks the server for those kinds only.
    timeline = panel.locator("#timeline")
    await expect(timeline.locator(".entry-escalation")).to_have_count(1)
    await panel.locator("#timeline-kind").select_option("message")
    await expect(timeline.locator(".entry-escalation")).to_have_count(0)
    await expect(timeline.locator(".entry-message .entry-text")).to_have_text(
        ["How do I reset my password?", HANDOFF]
    )
    await expect(timeline.locator(".entry-bot_answer")).to_have_count(0)
    await panel.locator("#timeline-kind").select_option("")
    await expect(timeline.locator(".entry-bot_answer")).to_have_count(1)

    # The suggested duplicate, merged with its button.
    duplicate = panel.locator(f"#customer-duplicates .duplicate[data-customer='{twin_id}']")
    await expect(duplicate.locator(".duplicate-reasons")).to_have_text("same name Ana Silva")

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    agent.on("dialog", accept)
    await duplicate.locator(".duplicate-merge").click()
    await expect(panel.locator("#customer-identities .identity-channel")).to_have_text(
        ["Web chat", "Email"]
    )
    await expect(panel.locator("#customer-duplicates .list-empty")).to_have_text("None found")
    profile = await api.call("GET", f"/api/v1/customers/{customer_id}")
    assert [m["source_id"] for m in profile["merges"]] == [twin_id]
    await browser.screenshot(agent, "console-customer-panel")

    # The customer asked on the phone not to be emailed: one click records it.
    email = panel.locator("#customer-identities .identity", has_text="Email")
    await email.locator(".identity-consent").click()
    await expect(email.locator(".badge-opted-out")).to_have_text("opted out")
    await expect(email.locator(".identity-consent")).to_have_text("Opt back in")
    profile = await api.call("GET", f"/api/v1/customers/{customer_id}")
    assert [i["opted_out"] for i in profile["identities"] if i["channel"] == "email"] == [True]
