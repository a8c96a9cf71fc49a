"""The agent workspace in a real headless Chromium, end to end, against a live server.

One conversation from escalation to close: a customer asks for a person in the web chat, an
agent sets their presence, claims it, reads the customer's history, answers with a canned
response picked with "/", adds an internal note the customer never sees, transfers it with a
note to a second agent, who closes it with a disposition; then a supervisor reads the figures.

Reuses the fixtures of tests/test_browser.py (SQLite only, Debian's /usr/bin/chromium). Saves a
full-page screenshot of the workspace to $SWITCHBOARD_ARTIFACTS, or <repo>/test-artifacts/.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, expect
from sqlalchemy import update

from console.auth import create_agent
from routing.clock import SystemClock
from storage.db import Database
from storage.models import Customer
from switchboard.settings import Settings
from tests import test_browser as browser
from tests.conftest import PASSWORD, ROOT
from tests.test_browser import AGENT, BOT, CUSTOMER, HANDOFF, SYSTEM, Chromium, open_chat, say

# test_browser's fixtures (SQLite only, one Chromium per test), shared by name.
database_url = browser.database_url
serve = browser.serve
base_url = browser.base_url
chromium_path = browser.chromium_path
chromium = browser.chromium

SUPERVISOR_EMAIL = "lead@example.com"
SUPERVISOR_NAME = "Lena Lead"

# Agents pull work by hand (so the claim is the agent's), a disposition is required on close,
# and the first-reply target is inside the at-risk window from the start (an amber badge).
WORKSPACE = """\
default_team: general
teams:
  general: {assignment: manual}
  billing: {assignment: manual}
sla:
  hours: always
  at_risk_minutes: 30
  policies:
    - first_response_minutes: 20
      next_response_minutes: 20
      resolution_hours: 24
close:
  dispositions: [resolved, follow_up, spam]
  require_disposition: true
  reopen_window_hours: 0
csat:
  enabled: false
"""

CANNED_TEXT = (
    "Hi {first_name}, thanks for waiting. I'm {agent_name} and I'll look into it right away."
)
NOTE = "Internal: customer sounds upset, check order 4711 before promising anything."
TRANSFER_NOTE = "Greeted the customer; Agent 2 knows the billing side, please take over."


def artifacts_dir() -> Path:
    """Kept test artifacts: $SWITCHBOARD_ARTIFACTS, else <repo>/test-artifacts/."""
    folder = Path(os.environ.get("SWITCHBOARD_ARTIFACTS") or ROOT / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Api:
    """The staff JSON API over real HTTP, for set-up and for checking what the server holds."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url
        self.token = ""

    async def login(self, email: str) -> Api:
        body = await self.call(
            "POST",
            "/api/v1/auth/login",
            json={"email": email, "password": PASSWORD, "client": "console"},
        )
        self.token = body["token"]
        return self

    async def call(self, method: str, path: str, expect_status: int = 200, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.session.request(
            method, self.base_url + path, headers=headers, **kwargs
        ) as resp:
            body = await resp.json() if resp.status != 204 else None
            assert resp.status == expect_status, (method, path, resp.status, body)
            return body


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def sign_in_as(chromium: Chromium, base_url: str, email: str, name: str) -> Page:
    page = await chromium.page()
    await page.goto(f"{base_url}/console/")
    await page.locator("#login-email").fill(email)
    await page.locator("#login-password").fill(PASSWORD)
    await page.locator("#login-submit").click()
    await expect(page.locator("#agent-name")).to_have_text(name)
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    return page


async def test_agent_workspace_from_escalation_to_close_with_a_supervisor_watching(
    chromium: Chromium,
    serve: Callable[[Settings], Awaitable[str]],
    make_settings: Callable[..., Settings],
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(WORKSPACE, encoding="utf-8")
    settings = make_settings(workspace_file=str(workspace))
    base_url = await serve(settings)
    db = Database(settings.effective_database_url)
    try:
        await create_agent(
            db,
            SystemClock(),
            email=SUPERVISOR_EMAIL,
            name=SUPERVISOR_NAME,
            password=PASSWORD,
            role="supervisor",
        )
    finally:
        await db.dispose()

    # A supervisor creates the canned response through the API.
    lead = await Api(http, base_url).login(SUPERVISOR_EMAIL)
    canned = await lead.call(
        "POST",
        "/api/v1/canned-responses",
        expect_status=201,
        json={"shortcut": "thanks", "title": "Thanks for waiting", "text": CANNED_TEXT},
    )
    assert canned["shortcut"] == "thanks"
    agent_ids = {a["email"]: a["id"] for a in (await lead.call("GET", "/api/v1/agents"))["items"]}

    # ---------------------------------------------------------------- agent 1 comes to work
    agent = await sign_in_as(chromium, base_url, "agent1@example.com", "Agent 1")
    await expect(agent.locator("#presence")).to_have_value("online")  # signing in is coming to work
    await expect(agent.locator("#tab-supervisor")).to_be_hidden()  # agents have no supervisor tab
    await expect(agent.locator("#open-canned")).to_be_hidden()

    await agent.keyboard.press("?")
    await expect(agent.locator("#help-dialog")).to_be_visible()
    await agent.keyboard.press("Escape")
    await expect(agent.locator("#help-dialog")).to_be_hidden()

    # Presence: away, as the server sees it, then back online.
    await agent.locator("#presence").select_option("away")
    await expect(agent.locator("#presence-wrap")).to_have_attribute("data-presence", "away")
    await expect(agent.locator("#notice")).to_contain_text("You are away")
    agents = (await lead.call("GET", "/api/v1/agents"))["items"]
    assert {a["email"]: a["presence"] for a in agents}["agent1@example.com"] == "away"
    await agent.locator("#presence").select_option("online")
    await expect(agent.locator("#presence-wrap")).to_have_attribute("data-presence", "online")
    # The console shows the choice at once; the notice says the server has taken it.
    await expect(agent.locator("#notice")).to_contain_text("You are online")
    me = await Api(http, base_url).login("agent1@example.com")
    assert (await me.call("GET", "/api/v1/me"))["presence"] == "online"

    # ---------------------------------------------------------------- a VIP customer escalates
    customer = await open_chat(chromium, base_url)
    await say(customer, "How do I reset my password?")
    await expect(customer.locator(f"{BOT} .sb-text")).to_contain_text(["Forgot password?"])
    db = Database(settings.effective_database_url)
    try:
        async with db.transaction() as session:  # the only customer: this visitor
            marked = await session.execute(
                update(Customer).values(segment="vip").returning(Customer.id)
            )
            assert len(marked.all()) == 1
    finally:
        await db.dispose()
    await say(customer, HANDOFF)
    await expect(customer.locator(SYSTEM).last).to_contain_text("in the queue")

    row = agent.locator("#queue-list .queue-item")
    await expect(row).to_have_count(1)
    await expect(row.locator(".badge-vip")).to_have_text("VIP")
    await expect(row.locator(".badge-team")).to_have_text("general")
    await expect(row.locator(".sla")).to_have_attribute("data-state", "at_risk")
    await expect(row.locator(".sla")).to_have_text(re.compile(r"^1st reply in \d+:\d\d$"))
    await expect(row).to_have_attribute("data-sla", "at_risk")

    # "c" claims the next one (the manual workspace: no auto-assignment to wait for).
    await agent.keyboard.press("c")
    conversation = agent.locator("#conversation")
    await expect(conversation).to_be_visible()
    await expect(agent.locator("#mine-list .mine-item")).to_have_count(1)
    await expect(row).to_have_count(0)
    history = agent.locator("#history")
    await expect(history.locator(".entry-message .entry-text")).to_have_text(
        ["How do I reset my password?", HANDOFF]
    )
    await expect(history.locator(".entry-bot_answer .article")).to_contain_text("Article")
    await expect(agent.locator("#conv-badges .badge-vip")).to_be_visible()
    await expect(agent.locator("#conv-badges .sla")).to_have_attribute("data-state", "at_risk")
    await expect(agent.locator("#conv-badges .sla")).to_contain_text("First reply")
    await expect(agent.locator("#reply-input")).to_be_enabled()
    await expect(agent.locator("#char-count")).to_have_text(re.compile(r"^0 / \d+$"))
    await expect(agent.locator("#sms-count")).to_be_hidden()  # web chat: no SMS segments
    await expect(agent.locator("#window-left")).to_be_hidden()  # and no 24-hour window

    # The customer's history panel: profile, identities, the cross-channel timeline.
    panel = agent.locator("#customer-panel")
    await expect(panel).to_be_visible()
    await expect(panel.locator("#customer-badges .badge-vip")).to_be_visible()
    await expect(panel.locator("#customer-identities .identity-channel")).to_have_text(["Web chat"])
    await expect(panel.locator("#customer-conversations li")).to_have_count(1)
    await expect(panel.locator("#timeline .entry-message .entry-text")).to_have_text(
        ["How do I reset my password?", HANDOFF]
    )
    await expect(panel.locator("#timeline .entry-bot_answer")).to_have_count(1)
    await expect(panel.locator("#timeline .entry-escalation")).to_have_count(1)
    await expect(panel.locator("#timeline-channel option")).to_have_text(
        ["All channels", "Web chat"]
    )

    # ---------------------------------------------------------------- "/" and a canned response
    await agent.keyboard.press("/")
    reply = agent.locator("#reply-input")
    await expect(reply).to_be_focused()
    await expect(agent.locator("#canned-picker")).to_be_visible()
    await agent.keyboard.type("than")
    option = agent.locator("#canned-options .canned-option")
    await expect(option).to_have_count(1)
    await expect(option).to_have_attribute("aria-selected", "true")
    await expect(option.locator(".canned-shortcut")).to_have_text("/thanks")
    await browser.screenshot(agent, "console-canned-picker")
    await agent.keyboard.press("Enter")
    await expect(agent.locator("#canned-picker")).to_be_hidden()
    await expect(reply).to_have_value(
        re.compile(r"^Hi \S+, thanks for waiting\. I'm Agent 1 and I'll look into it right away\.$")
    )
    answer = await reply.input_value()
    await expect(agent.locator("#char-count")).to_have_text(re.compile(rf"^{len(answer)} / \d+$"))

    await agent.keyboard.press("Control+Enter")
    await expect(history.locator(".entry-agent_reply .entry-text")).to_have_text([answer])
    await expect(reply).to_have_value("")
    await expect(customer.locator(f"{AGENT} .sb-text")).to_have_text([answer])
    await expect(history.locator(".entry-agent_reply .entry-state")).to_have_attribute(
        "data-state", re.compile("^(delivered|read)$")
    )

    # ---------------------------------------------------------------- an internal note
    await agent.keyboard.press("Alt+N")
    await expect(agent.locator("#reply-form")).to_have_attribute("data-mode", "note")
    await expect(agent.locator("#mode-note")).to_have_attribute("aria-pressed", "true")
    await expect(agent.locator("#reply-send")).to_have_text("Add note")
    await reply.fill(NOTE)
    await agent.keyboard.press("Control+Enter")
    note = history.locator(".entry-note")
    await expect(note.locator(".entry-text")).to_have_text([NOTE])
    await expect(note.locator(".entry-kind")).to_contain_text("staff only")
    await expect(panel.locator("#timeline .entry-note .entry-text")).to_have_text([NOTE])
    # Notes look nothing like replies: a dashed amber box, not the green reply bubble.
    assert await note.evaluate("(el) => getComputedStyle(el).borderTopStyle") == "dashed"
    assert (
        await history.locator(".entry-agent_reply").evaluate(
            "(el) => getComputedStyle(el).borderTopStyle"
        )
        == "solid"
    )

    await agent.locator("#history").focus()
    await agent.keyboard.press("Escape")  # dismisses the notice, for a clean picture
    await expect(agent.locator("#notice")).to_be_hidden()
    path = artifacts_dir() / "console-workspace.png"
    await agent.screenshot(path=str(path), full_page=True, animations="disabled")
    print(f"\nconsole workspace screenshot: {path}")

    # ---------------------------------------------------------------- transfer to agent 2
    agent2 = await sign_in_as(chromium, base_url, "agent2@example.com", "Agent 2")
    await agent.locator("#history").focus()  # out of the reply box: single keys are shortcuts
    await agent.keyboard.press("t")
    dialog = agent.locator("#transfer-dialog")
    await expect(dialog).to_be_visible()
    await expect(agent.locator("#transfer-target")).to_be_focused()
    target = agent.locator(
        f'#transfer-target option[value="agent:{agent_ids["agent2@example.com"]}"]'
    )
    await expect(target).to_contain_text("Agent 2 — Online")
    await expect(agent.locator('#transfer-target option[value="team:billing"]')).to_have_count(1)
    await agent.locator("#transfer-target").select_option(
        f"agent:{agent_ids['agent2@example.com']}"
    )
    await agent.locator("#transfer-submit").click()  # no note yet: refused in the dialog
    await expect(agent.locator("#transfer-error")).to_contain_text("Write a note")
    await agent.locator("#transfer-note").fill(TRANSFER_NOTE)
    await browser.screenshot(agent, "console-transfer-dialog")
    await agent.locator("#transfer-submit").click()
    await expect(dialog).to_be_hidden()
    await expect(agent.locator("#notice")).to_have_text("Transferred to Agent 2.")
    await expect(agent.locator("#mine-list .mine-item")).to_have_count(0)
    await expect(reply).to_be_enabled()  # still in note mode: anyone may add a note
    await agent.locator("#mode-reply").click()
    await expect(reply).to_be_disabled()  # but the reply is agent 2's now
    await expect(reply).to_have_attribute("placeholder", "Claim this conversation to reply.")
    await expect(history.locator(".entry-transfer")).to_contain_text(TRANSFER_NOTE)

    # The customer is told who took over, and never saw the note.
    await expect(customer.locator(SYSTEM).last).to_contain_text("Agent 2 has joined")
    widget_text = await customer.locator("#sb-messages").text_content() or ""
    assert NOTE not in widget_text and TRANSFER_NOTE not in widget_text
    await expect(customer.locator(f"{CUSTOMER} .sb-text")).to_have_text(
        ["How do I reset my password?", HANDOFF]
    )
    await expect(customer.locator(f"{AGENT} .sb-text")).to_have_text([answer])

    # ---------------------------------------------------------------- agent 2 closes it
    await expect(agent2.locator("#notice")).to_contain_text("assigned to you")
    await expect(agent2.locator("#mine-list .mine-item")).to_have_count(1)
    history2 = agent2.locator("#history")
    await expect(agent2.locator("#conversation")).to_be_visible()  # opened: nothing else was
    await expect(history2.locator(".entry-note .entry-text")).to_have_text([NOTE])
    await expect(history2.locator(".entry-transfer")).to_contain_text(TRANSFER_NOTE)
    await expect(agent2.locator("#reply-input")).to_be_enabled()

    await agent2.locator("#history").focus()
    await agent2.keyboard.press("x")
    close = agent2.locator("#close-dialog")
    await expect(close).to_be_visible()
    await expect(agent2.locator("#close-disposition option")).to_have_text(
        ["Choose…", "Resolved", "Follow up", "Spam"]
    )
    await agent2.locator("#close-submit").click()  # the workspace requires a disposition
    await expect(agent2.locator("#close-error")).to_contain_text("Choose how")
    await agent2.locator("#close-disposition").select_option("resolved")
    await agent2.locator("#close-note").fill("Refund confirmed by phone.")
    await browser.screenshot(agent2, "console-close-dialog")
    await agent2.locator("#close-submit").click()
    await expect(close).to_be_hidden()
    await expect(agent2.locator("#notice")).to_have_text("Conversation closed.")
    await expect(history2.locator(".entry-close")).to_have_count(1)
    await expect(agent2.locator("#conv-badges .badge-disposition")).to_have_text("Resolved")
    await expect(agent2.locator("#mine-list .mine-item")).to_have_count(0)
    await expect(customer.locator(SYSTEM).last).to_contain_text("This conversation has been closed")

    # ---------------------------------------------------------------- the supervisor's view
    sup = await sign_in_as(chromium, base_url, SUPERVISOR_EMAIL, SUPERVISOR_NAME)
    await expect(sup.locator("#tab-supervisor")).to_be_visible()
    await sup.keyboard.press("g")
    await sup.keyboard.press("s")
    view = sup.locator("#supervisor-view")
    await expect(view).to_be_visible()
    await expect(sup.locator("#tab-supervisor")).to_have_attribute("aria-selected", "true")
    figure = lambda key: view.locator(f'[data-figure="{key}"] .tile-value')  # noqa: E731
    await expect(figure("closed_today")).to_have_text("1")
    await expect(figure("waiting")).to_have_text("0")
    await expect(figure("assigned")).to_have_text("0")
    # The two agents; the supervisor, in no team, works no queue and stays offline.
    await expect(figure("agents_online")).to_have_text("2")
    await expect(figure("median_first_response_seconds")).to_have_text(re.compile(r"^\d+s$"))
    await expect(view.locator("#sup-teams tbody tr")).to_have_count(2)
    await expect(view.locator('#sup-teams tr[data-team="general"] th')).to_have_text("general")
    agent_rows = view.locator("#sup-agents tbody tr")
    await expect(agent_rows).to_have_count(3)
    row1 = view.locator(f'#sup-agents tr[data-agent-id="{agent_ids["agent1@example.com"]}"]')
    await expect(row1.locator(".presence-pill")).to_have_text("Online")

    # A live event refreshes it: agent 1 steps away.
    await agent.locator("#presence").select_option("away")
    await expect(row1.locator(".presence-pill")).to_have_text("Away")
    await expect(figure("agents_online")).to_have_text("1")

    # The canned-response manager shows the server's refusal of a duplicate shortcut.
    await sup.locator("#open-canned").click()
    manager = sup.locator("#canned-dialog")
    await expect(manager).to_be_visible()
    await expect(manager.locator("#canned-manage-list .canned-shortcut")).to_have_text(["/thanks"])
    await sup.locator("#canned-shortcut").fill("thanks")
    await sup.locator("#canned-title-input").fill("Again")
    await sup.locator("#canned-text").fill("Same shortcut.")
    await sup.locator("#canned-save").click()
    await expect(sup.locator("#canned-error")).to_contain_text("duplicate_shortcut")
    await browser.screenshot(sup, "console-canned-manager")
    await sup.keyboard.press("Escape")
    await expect(manager).to_be_hidden()
    await expect(sup.locator("#open-canned")).to_be_focused()  # focus goes back where it was

    path = artifacts_dir() / "console-supervisor.png"
    await sup.screenshot(path=str(path), full_page=True, animations="disabled")
    print(f"supervisor screenshot: {path}")


async def test_reply_box_follows_the_channel_rules_and_j_k_walk_the_lists(
    chromium: Chromium, base_url: str
) -> None:
    """SMS segments, the character limit, the 24-hour window and opt-out, on a real conversation
    whose ``constraints`` are rewritten on the way to the page (web chat has none of them)."""
    first = await open_chat(chromium, base_url)
    await say(first, HANDOFF)
    await expect(first.locator(SYSTEM).last).to_contain_text("number 1 in the queue")
    second = await open_chat(chromium, base_url)
    await say(second, HANDOFF)
    await expect(second.locator(SYSTEM).last).to_contain_text("number 2 in the queue")

    agent = await sign_in_as(chromium, base_url, "agent1@example.com", "Agent 1")
    overrides: dict[str, Any] = {}

    async def rewrite(route: Any) -> None:
        response = await route.fetch()
        body = await response.json()
        if isinstance(body, dict) and isinstance(body.get("constraints"), dict):
            body["constraints"].update(overrides)
        await route.fulfill(response=response, json=body)

    await agent.route(re.compile(r"/api/v1/conversations/\d+$"), rewrite)

    # j / k walk the rows as shown, opening each.
    rows = agent.locator("#queue-list .queue-item")
    await expect(rows).to_have_count(2)
    ids = [await rows.nth(i).get_attribute("data-conversation-id") for i in range(2)]
    conversation = agent.locator("#conversation")
    for key, index in (("j", 0), ("j", 1), ("j", 1), ("k", 0)):
        await agent.keyboard.press(key)
        await expect(conversation).to_have_attribute("data-conversation-id", str(ids[index]))
        await expect(rows.nth(index)).to_have_class(re.compile(r"\bselected\b"))
        await expect(rows.nth(index).locator(".row-main")).to_be_focused()

    await agent.locator("#claim-open").click()
    mine = agent.locator(f'#mine-list .mine-item[data-conversation-id="{ids[0]}"] .row-main')
    await expect(mine).to_have_count(1)
    reply = agent.locator("#reply-input")
    send = agent.locator("#reply-send")
    blocked = agent.locator("#reply-blocked")
    await expect(reply).to_be_enabled()

    async def reload_with(**values: Any) -> None:
        overrides.clear()
        overrides.update(values)
        await mine.click()  # opening it again fetches it again

    # SMS: GSM-7 160 per message, 153 per part; anything outside GSM-7 makes it UCS-2, 70 / 67.
    await reload_with(sms=True)
    sms = agent.locator("#sms-count")
    for text, shown in (
        ("Hello", "1 SMS · GSM-7"),
        ("a" * 160, "1 SMS · GSM-7"),
        ("a" * 161, "2 SMS · GSM-7"),
        ("สวัสดีค่ะ", "1 SMS · UCS-2"),
        ("ก" * 71, "2 SMS · UCS-2"),
    ):
        await reply.fill(text)
        await expect(sms).to_have_text(shown)

    # The character limit: a counter, and Send refuses past it.
    await reload_with(max_chars=10)
    await reply.fill("12345678901")
    await expect(agent.locator("#char-count")).to_have_text("11 / 10")
    await expect(agent.locator("#char-count")).to_have_class(re.compile(r"\bover\b"))
    await expect(send).to_be_disabled()
    await reply.fill("Hello")
    await expect(send).to_be_enabled()

    # A 24-hour window: the time left, then nothing can be sent once it has passed (notes can).
    soon = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    await reload_with(reply_window_ends_at=soon)
    await expect(agent.locator("#window-left")).to_have_text(
        re.compile(r"^Reply window: 1h 59m left$")
    )
    await expect(agent.locator("#window-left")).to_have_attribute("data-state", "open")
    await expect(send).to_be_enabled()
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    await reload_with(reply_window_ends_at=past)
    await expect(reply).to_be_disabled()
    await expect(send).to_be_disabled()
    await expect(blocked).to_contain_text("24-hour reply window")
    await expect(agent.locator("#window-left")).to_have_text("Reply window closed")
    await agent.locator("#mode-note").click()
    await expect(reply).to_be_enabled()
    await expect(blocked).to_be_hidden()
    await agent.locator("#mode-reply").click()

    # An opted-out customer: no replies, and the agent is told why.
    await reload_with(opted_out=True)
    await expect(reply).to_be_disabled()
    await expect(blocked).to_contain_text("opted out")
    await reload_with()
    await expect(reply).to_be_enabled()
    await expect(blocked).to_be_hidden()
