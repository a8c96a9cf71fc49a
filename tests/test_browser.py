"""The widget and the agent console in a real headless Chromium, against a live server.

Runs on SQLite only. Needs Debian's /usr/bin/chromium (never `playwright install`): without it the
tests are skipped, or fail when CI is set. With SWITCHBOARD_SCREENSHOTS=/some/folder the handoff
test saves a screenshot of each page there.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiohttp import web
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    async_playwright,
    expect,
)

from routing.identify import sign
from switchboard.app import create_app
from switchboard.settings import Settings
from tests import databases
from tests.conftest import PASSWORD, _in_ci, seed
from tests.fakes.smtp import SmtpSink, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 10_000  # generous, like helpers.WAIT: a slow CI machine must not fail a correct test

# The widget's visible bubbles and their text (Playwright's CSS pierces the open shadow root).
BUBBLES = "#sb-messages .sb-msg"
CUSTOMER = "#sb-messages .sb-msg.sb-customer"
BOT = "#sb-messages .sb-msg.sb-bot"
AGENT = "#sb-messages .sb-msg.sb-agent"
SYSTEM = "#sb-messages .sb-msg.sb-system"

HANDOFF = "I want to talk to a person"
XSS = '<img src=x onerror="window.__xss=1"><b>bold</b>'
PERSIAN = "سلام، سفارشم کجاست؟"

# Everything the widget shows, bubble by bubble, for before/after comparisons.
SNAPSHOT_JS = """() => Array.from(
  window.SwitchboardChat.root.querySelectorAll('#sb-messages .sb-msg'),
  (m) => ({
    id: m.getAttribute('data-id'),
    classes: m.className,
    state: m.getAttribute('data-state'),
    name: (m.querySelector('.sb-name') || {}).textContent || null,
    text: m.querySelector('.sb-text').textContent,
    suggestions: Array.from(m.querySelectorAll('.sb-suggestion'), (b) => b.textContent),
  }))"""

expect.set_options(timeout=WAIT_MS)


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """Browser tests run on SQLite only: this replaces conftest's backend-parametrized URL."""
    return databases.sqlite_copy(sqlite_template, tmp_path)


@pytest.fixture
def serve(aiohttp_server: Any) -> Callable[[Settings], Awaitable[str]]:
    """Seeds the database (demo KB, agent1/agent2) and serves the app on a real TCP port."""

    async def start(settings: Settings) -> str:
        await seed(settings.effective_database_url)
        server = await aiohttp_server(create_app(settings))
        return f"http://127.0.0.1:{server.port}"

    return start


@pytest.fixture
async def base_url(serve: Callable[[Settings], Awaitable[str]], settings: Settings) -> str:
    return await serve(settings)


class Chromium:
    """One browser per test. Uncaught JavaScript errors on any of its pages fail the test, and
    so does anything the pages' Content-Security-Policy refused (a page that needs an inline
    script or a remote image would be broken in production)."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.js_errors: list[str] = []
        self.csp_violations: list[str] = []

    async def context(self) -> BrowserContext:
        context = await self.browser.new_context(
            viewport={"width": 1280, "height": 800}, locale="en-US"
        )
        context.set_default_timeout(WAIT_MS)
        return context

    async def page(self) -> Page:
        """A page in a context of its own: a customer and an agent never share storage."""
        page = await (await self.context()).new_page()
        page.on("pageerror", lambda exc: self.js_errors.append(f"{page.url}: {exc}"))
        page.on("console", lambda msg: self._console(page, msg))
        return page

    def _console(self, page: Page, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.csp_violations.append(f"{page.url}: {message.text}")


@pytest.fixture
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium); browser tests need it"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture
async def chromium(chromium_path: Path, aiohttp_server: Any) -> AsyncIterator[Chromium]:
    # Requests aiohttp_server only so that the browser, and its sockets, goes away before the
    # server shuts down.
    playwright: Playwright = await async_playwright().start()
    try:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_ARGS
        )
        chromium = Chromium(browser)
        try:
            yield chromium
        finally:
            await browser.close()
        assert not chromium.js_errors, chromium.js_errors
        assert not chromium.csp_violations, chromium.csp_violations
    finally:
        await playwright.stop()


# ---------------------------------------------------------------------------- helpers


async def open_chat(chromium: Chromium, base_url: str) -> Page:
    """A new customer on the demo shop; returns once the widget got its welcome."""
    page = await chromium.page()
    await page.goto(f"{base_url}/chat/")
    await expect(page.locator("#sb-status")).to_have_text("online")
    return page


async def say(page: Page, text: str) -> None:
    """The customer types a message and presses Enter."""
    await page.locator("#sb-input").fill(text)
    await page.locator("#sb-input").press("Enter")


async def sign_in(chromium: Chromium, base_url: str, email: str = "agent1@example.com") -> Page:
    page = await chromium.page()
    await page.goto(f"{base_url}/console/")
    await page.locator("#login-email").fill(email)
    await page.locator("#login-password").fill(PASSWORD)
    await page.locator("#login-submit").click()
    await expect(page.locator("#agent-name")).to_have_text(re.compile(r"^Agent \d$"))
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    return page


async def xss_fired(page: Page) -> Any:
    return await page.evaluate("() => window.__xss")


def screenshot_path(name: str) -> str | None:
    """Where to save a screenshot: only when SWITCHBOARD_SCREENSHOTS names a folder."""
    folder = os.environ.get("SWITCHBOARD_SCREENSHOTS")
    if not folder:
        return None
    Path(folder).mkdir(parents=True, exist_ok=True)
    return str(Path(folder) / f"{name}.png")


async def screenshot(page: Page, name: str) -> None:
    path = screenshot_path(name)
    if path:
        await page.screenshot(path=path, animations="disabled")


# ---------------------------------------------------------------------------- scenarios


async def test_customer_gets_a_bot_answer_and_can_use_a_suggestion(
    chromium: Chromium, base_url: str
) -> None:
    page = await open_chat(chromium, base_url)
    await expect(page.locator("#sb-panel")).to_be_visible()  # data-open="true" on the demo page
    await expect(page.locator("#sb-launcher")).to_have_attribute("aria-expanded", "true")

    await say(page, "How do I reset my password?")

    question = page.locator(CUSTOMER).first
    await expect(question.locator(".sb-text")).to_have_text("How do I reset my password?")
    await expect(question).to_have_attribute("data-state", "sent")
    await expect(question).to_have_attribute("data-id", re.compile(r"^\d+$"))
    answer = page.locator(BOT).first
    await expect(answer.locator(".sb-text")).to_contain_text("Forgot password?")
    await expect(page.locator("#sb-typing")).to_be_hidden()
    await expect(page.locator("#sb-input")).to_have_value("")
    await expect(page.locator("#sb-error")).to_be_hidden()

    # The demo KB always offers related articles for this question (e.g. "How do I cancel my
    # order?"); clicking one sends its title as the customer's next message.
    suggestions = answer.locator(".sb-suggestion")
    await expect(suggestions.first).to_be_visible()
    title = (await suggestions.first.text_content() or "").strip()
    assert title
    await suggestions.first.click()
    await expect(page.locator(f"{CUSTOMER} .sb-text")).to_have_text(
        ["How do I reset my password?", title]
    )
    await expect(page.locator(CUSTOMER).last).to_have_attribute("data-state", "sent")
    await expect(page.locator(BOT)).to_have_count(2)
    await expect(page.locator(BOT).last.locator(".sb-text")).not_to_contain_text("Forgot password?")


async def test_handoff_from_widget_to_agent_console_and_back(
    chromium: Chromium, base_url: str
) -> None:
    customer = await open_chat(chromium, base_url)
    await say(customer, HANDOFF)
    await expect(customer.locator(f"{CUSTOMER} .sb-text")).to_have_text([HANDOFF])
    await expect(customer.locator(SYSTEM).last).to_contain_text("number 1 in the queue")
    await expect(customer.locator("#sb-typing")).to_be_hidden()  # the bot's turn is over

    agent = await sign_in(chromium, base_url)
    queued = agent.locator("#queue-list .queue-item")
    await expect(queued).to_have_count(1)
    await expect(queued.locator(".row-preview")).to_contain_text("number 1 in the queue")
    await agent.locator("#claim-next").click()

    await expect(agent.locator("#conversation")).to_be_visible()
    await expect(agent.locator("#mine-list .mine-item")).to_have_count(1)
    await expect(queued).to_have_count(0)
    history = agent.locator("#history")
    await expect(history.locator(".entry-message .entry-text")).to_have_text([HANDOFF])
    await expect(history.locator(".entry-escalation")).to_have_count(1)
    await expect(agent.locator("#reply-input")).to_be_enabled()
    # The agent opened it: the customer's message shows as read, and the customer is told.
    await expect(customer.locator(CUSTOMER).first).to_have_attribute("data-state", "read")
    await expect(customer.locator(SYSTEM).last).to_have_text(
        re.compile("Agent 1 has joined the conversation")
    )

    reply = "Hi, this is Agent 1. What can I do for you?"
    await agent.locator("#reply-input").fill(reply)
    await agent.locator("#reply-send").click()
    await expect(history.locator(".entry-agent_reply .entry-text")).to_have_text([reply])
    # Sent by the outbox, then received by the widget: the console follows along live.
    await expect(history.locator(".entry-agent_reply .entry-state")).to_have_attribute(
        "data-state", "delivered"
    )
    await expect(agent.locator("#reply-input")).to_have_value("")
    agent_bubble = customer.locator(AGENT)
    await expect(agent_bubble.locator(".sb-text")).to_have_text([reply])
    await expect(agent_bubble.locator(".sb-name")).to_have_text("Agent 1")

    # The customer starts typing: the agent sees it before anything is sent.
    answer = "My parcel never arrived, order 4711."
    await customer.locator("#sb-input").press_sequentially("My parcel")
    await expect(agent.locator("#customer-typing")).to_be_visible()
    await customer.locator("#sb-input").press_sequentially(answer.removeprefix("My parcel"))
    await customer.locator("#sb-input").press("Enter")
    await expect(history.locator(".entry-message .entry-text")).to_have_text([HANDOFF, answer])
    await expect(agent.locator("#customer-typing")).to_be_hidden()
    await expect(customer.locator(CUSTOMER).last).to_have_attribute(
        "data-state", re.compile("^(sent|delivered|read)$")
    )

    await screenshot(customer, "widget")
    await screenshot(agent, "console")

    # Close asks for a disposition (optional in the tests' workspace) and a note in a dialog.
    await agent.locator("#close-conversation").click()
    await expect(agent.locator("#close-dialog")).to_be_visible()
    await agent.locator("#close-submit").click()
    await expect(agent.locator("#close-dialog")).to_be_hidden()
    await expect(customer.locator(SYSTEM).last).to_have_text(
        re.compile("This conversation has been closed")
    )
    await expect(agent.locator("#notice")).to_have_text("Conversation closed.")
    await expect(history.locator(".entry-close")).to_have_count(1)
    await expect(agent.locator("#mine-list .mine-item")).to_have_count(0)
    await expect(agent.locator("#reply-input")).to_be_disabled()

    # Both sides show the whole exchange, in order.
    await expect(customer.locator(f"{CUSTOMER} .sb-text")).to_have_text([HANDOFF, answer])
    await expect(customer.locator(f"{AGENT} .sb-text")).to_have_text([reply])
    await expect(
        history.locator(".entry-message .entry-text, .entry-agent_reply .entry-text")
    ).to_have_text([HANDOFF, reply, answer])


async def test_customer_rates_an_answer_and_changes_the_vote(
    chromium: Chromium, base_url: str
) -> None:
    page = await open_chat(chromium, base_url)
    await say(page, "How do I reset my password?")
    votes = page.locator(f"{BOT} .sb-feedback .sb-vote")
    await expect(votes).to_have_text(["👍 Helpful", "👎 Not helpful"])

    await votes.first.click()
    await expect(page.locator(f"{BOT} .sb-text").last).to_have_text("Glad it helped!")
    await expect(votes.first).to_have_attribute("aria-pressed", "true")
    await votes.last.click()
    await expect(page.locator(BOT)).to_have_count(3)
    await expect(page.locator(f"{BOT} .sb-text").last).to_contain_text("Sorry that didn't help")

    await expect(page.locator(f"{CUSTOMER} .sb-text")).to_have_text(
        ["How do I reset my password?", "👍 Helpful", "👎 Not helpful"]
    )
    await expect(votes).to_have_count(2)  # still on the answer: the vote may change again
    await expect(votes.last).to_have_attribute("aria-pressed", "true")
    await expect(votes.first).to_have_attribute("aria-pressed", "false")
    await page.reload()
    await expect(page.locator("#sb-status")).to_have_text("online")
    await expect(votes.last).to_have_attribute("aria-pressed", "true")  # from the history

    await say(page, "How long does shipping take?")  # a new answer: only it can be rated
    await expect(page.locator(BOT)).to_have_count(4)
    await expect(page.locator(f"{BOT} .sb-feedback")).to_have_count(1)
    await expect(page.locator(BOT).last.locator(".sb-vote")).to_have_count(2)


async def test_reload_replays_the_same_history_and_keeps_working(
    chromium: Chromium, base_url: str
) -> None:
    page = await open_chat(chromium, base_url)
    await say(page, "How do I reset my password?")
    await expect(page.locator(CUSTOMER).first).to_have_attribute("data-state", "sent")
    await expect(page.locator(f"{BOT} .sb-text")).to_contain_text(["Forgot password?"])
    before = await page.evaluate(SNAPSHOT_JS)
    visitor = await page.evaluate("() => localStorage.getItem('switchboard.visitor')")
    assert [b["classes"] for b in before] == ["sb-msg sb-customer", "sb-msg sb-bot"]
    assert visitor

    await page.reload()
    await expect(page.locator("#sb-status")).to_have_text("online")
    await expect(page.locator(BUBBLES)).to_have_count(len(before))
    assert await page.evaluate(SNAPSHOT_JS) == before
    assert await page.evaluate("() => localStorage.getItem('switchboard.visitor')") == visitor

    await say(page, "How long does shipping take?")
    await expect(page.locator(CUSTOMER)).to_have_count(2)
    await expect(page.locator(CUSTOMER).last).to_have_attribute("data-state", "sent")
    await expect(page.locator(BOT)).to_have_count(2)
    await expect(page.locator(BOT).last.locator(".sb-text")).not_to_have_text(before[1]["text"])


async def test_markup_is_shown_as_text_and_persian_reads_right_to_left(
    chromium: Chromium, base_url: str
) -> None:
    customer = await open_chat(chromium, base_url)
    await say(customer, XSS)
    await expect(customer.locator(f"{CUSTOMER} .sb-text")).to_have_text([XSS])
    await expect(customer.locator(BOT)).to_have_count(1)
    await say(customer, HANDOFF)
    await expect(customer.locator(SYSTEM).last).to_contain_text("in the queue")
    await say(customer, PERSIAN)
    persian = customer.locator(CUSTOMER).filter(has_text=PERSIAN)
    await expect(persian).to_have_attribute("data-state", "sent")

    messages = customer.locator("#sb-messages")
    await expect(messages.locator("b")).to_have_count(0)
    await expect(messages.locator("img")).to_have_count(0)
    # to_have_css compares getComputedStyle(el).direction (and retries while lists re-render).
    await expect(persian.locator(".sb-text")).to_have_css("direction", "rtl")
    english = customer.locator(CUSTOMER).filter(has_text="bold").locator(".sb-text")
    await expect(english).to_have_css("direction", "ltr")

    agent = await sign_in(chromium, base_url)
    preview = agent.locator("#queue-list .queue-item .row-preview")
    await expect(preview).to_have_text(PERSIAN)
    await expect(preview).to_have_css("direction", "rtl")
    await agent.locator("#queue-list .queue-item .claim").click()
    history = agent.locator("#history")
    await expect(history.locator(".entry-message .entry-text")).to_have_text(
        [XSS, HANDOFF, PERSIAN]
    )
    await expect(history.locator("b")).to_have_count(0)
    await expect(history.locator("img")).to_have_count(0)
    entry = history.locator(".entry-message .entry-text").filter(has_text=PERSIAN)
    await expect(entry).to_have_css("direction", "rtl")

    assert await xss_fired(customer) is None
    assert await xss_fired(agent) is None


async def test_too_long_message_shows_an_error_and_keeps_the_text(
    chromium: Chromium,
    serve: Callable[[Settings], Awaitable[str]],
    make_settings: Callable[..., Settings],
) -> None:
    base_url = await serve(make_settings(chat={"max_message_chars": 40}))
    page = await open_chat(chromium, base_url)
    too_long = "Where is my order? I bought a kettle on Monday; no sign yet."
    assert len(too_long) == 60

    await say(page, too_long)

    await expect(page.locator("#sb-error")).to_be_visible()
    await expect(page.locator("#sb-error")).to_contain_text("too long")
    await expect(page.locator("#sb-input")).to_have_value(too_long)
    await expect(page.locator(CUSTOMER)).to_have_count(0)

    await say(page, "How do I reset my password?")
    await expect(page.locator(f"{BOT} .sb-text")).to_contain_text(["Forgot password?"])
    await expect(page.locator(f"{CUSTOMER} .sb-text")).to_have_text(["How do I reset my password?"])
    await expect(page.locator("#sb-error")).to_be_hidden()


async def test_console_login_with_a_wrong_password_is_refused(
    chromium: Chromium, base_url: str
) -> None:
    page = await chromium.page()
    await page.goto(f"{base_url}/console/")
    await page.locator("#login-email").fill("agent1@example.com")
    await page.locator("#login-password").fill("not the password")
    await page.locator("#login-submit").click()

    await expect(page.locator("#login-error")).to_be_visible()
    await expect(page.locator("#login-error")).not_to_be_empty()
    await expect(page.locator("#login-submit")).to_be_enabled()  # the request is over
    await expect(page.locator("#app")).to_be_hidden()
    token = await page.evaluate("() => sessionStorage.getItem('switchboard.console.token')")
    assert token is None


async def test_an_email_with_an_attachment_shows_its_subject_and_downloads_in_the_console(
    chromium: Chromium, serve: Callable[[Settings], Awaitable[str]], make_settings: Any
) -> None:
    relay = SmtpSink()
    await relay.start()
    try:
        settings = make_settings(
            email={
                "address": "support@acme.test",
                "smtp_host": "127.0.0.1",
                "smtp_port": relay.port,
                "smtp_tls": "none",
                "receiver_port": free_port(),
            }
        )
        base_url = await serve(settings)
        message = EmailMessage()
        message["From"] = "Alice <alice@customer.test>"
        message["To"] = "support@acme.test"
        message["Subject"] = "Broken blender"
        message.set_content(
            "My parrot chewed the manual of my blender, can you post me a paper copy?"
        )
        message.add_attachment(
            b"%PDF-1.4 receipt", maintype="application", subtype="pdf", filename="receipt.pdf"
        )
        await aiosmtplib.send(
            message,
            hostname="127.0.0.1",
            port=settings.email.receiver_port,
            recipients=["support@acme.test"],
            start_tls=False,
        )

        agent = await sign_in(chromium, base_url)
        await agent.locator("#claim-next").click()

        await expect(agent.locator("#conv-meta .subject")).to_have_text("Broken blender")
        button = agent.locator("#history .attachments .attachment")
        await expect(button).to_contain_text("receipt.pdf")
        async with agent.expect_download() as download_info:
            await button.click()
        download = await download_info.value
        assert download.suggested_filename == "receipt.pdf"
        saved = await download.path()
        assert await asyncio.to_thread(Path(saved).read_bytes) == b"%PDF-1.4 receipt"
    finally:
        await relay.stop()


async def test_one_click_on_an_emails_not_helpful_link_hands_the_request_to_a_person(
    chromium: Chromium, serve: Callable[[Settings], Awaitable[str]], make_settings: Any
) -> None:
    relay = SmtpSink()
    await relay.start()
    try:
        settings = make_settings(
            email={
                "address": "support@acme.test",
                "smtp_host": "127.0.0.1",
                "smtp_port": relay.port,
                "smtp_tls": "none",
                "receiver_port": free_port(),
            }
        )
        base_url = await serve(settings)
        message = EmailMessage()
        message["From"] = "Alice <alice@customer.test>"
        message["To"] = "support@acme.test"
        message["Subject"] = "Password"
        message.set_content("Hi, I forgot my password and can't log in. How do I reset it?")
        await aiosmtplib.send(
            message,
            hostname="127.0.0.1",
            port=settings.email.receiver_port,
            recipients=["support@acme.test"],
            start_tls=False,
        )
        [answer] = await relay.wait_for(1)
        [path] = re.findall(r"https?://[^/\s]+(/feedback/\S+vote=not_helpful)", answer.text)

        page = await chromium.page()
        await page.goto(base_url + path)  # the page sends the vote by itself

        await expect(page.locator("h1")).to_have_text(
            "Sorry it didn't help. A person will reply to your email."
        )
        agent = await sign_in(chromium, base_url)
        waiting = agent.locator("#queue-list li", has_text="Alice")
        await expect(waiting).to_contain_text("👎")  # the latest step: the customer's vote
    finally:
        await relay.stop()


async def test_a_visitor_verifies_their_email_in_the_widget_and_a_site_signs_its_user_in(
    chromium: Chromium,
    serve: Callable[[Settings], Awaitable[str]],
    make_settings: Any,
    aiohttp_server: Any,
) -> None:
    relay = SmtpSink()
    await relay.start()
    try:
        secret = "site-backend-shared-secret"
        settings = make_settings(
            email={
                "address": "support@acme.test",
                "smtp_host": "127.0.0.1",
                "smtp_port": relay.port,
                "smtp_tls": "none",
                "receiver_port": free_port(),
            },
            chat={"identity_secret": secret},
        )
        base_url = await serve(settings)
        page = await open_chat(chromium, base_url)
        offer = page.locator("#sb-id-offer")
        await expect(offer).to_be_hidden()  # offered once the visitor has written
        await say(page, "hello")
        visitor = "() => localStorage.getItem('switchboard.visitor')"
        anonymous = await page.evaluate(visitor)
        await offer.click()
        await page.locator("#sb-id-email").fill("not-an-email")
        await page.locator("#sb-id-send").click()
        await expect(page.locator("#sb-id-error")).to_have_text(
            "Please enter a valid email address."
        )
        await page.locator("#sb-id-email").fill("alice@customer.test")
        await page.locator("#sb-id-email").press("Enter")
        await expect(page.locator("#sb-idbar .sb-idnote")).to_have_text(
            "Enter the 6-digit code we sent to alice@customer.test"
        )
        [mail_] = await relay.wait_for(1)
        code = re.search(r"\b(\d{6})\b", mail_.text)
        assert code is not None
        await page.locator("#sb-id-code").fill("000000" if code.group(1) != "000000" else "1")
        await page.locator("#sb-id-verify").click()
        await expect(page.locator("#sb-id-error")).to_have_text(
            "That code is not right. Please try again."
        )
        await page.locator("#sb-id-code").fill(code.group(1))
        await page.locator("#sb-id-code").press("Enter")
        await expect(page.locator("#sb-id-done")).to_have_text("✓ Verified: alice@customer.test")
        await screenshot(page, "widget-email-verified")
        # The proof rotated the visitor id; the widget keeps the new one, and the chat with it.
        verified = await page.evaluate(visitor)
        assert verified and anonymous and verified != anonymous
        await page.reload()
        await expect(page.locator("#sb-status")).to_have_text("online")
        await expect(page.locator(CUSTOMER).first).to_contain_text("hello")
        assert await page.evaluate(visitor) == verified

        # A website with its own login: the snippet carries the user, signed by its backend.
        signature = sign(secret, "bob@customer.test")
        html = (
            "<!doctype html><title>Shop</title><p>My account</p>"
            f'<script src="{base_url}/chat/widget.js" data-email="bob@customer.test" '
            f'data-name="Bob" data-signature="{signature}" data-open="true" async></script>'
        )

        async def account(_request: web.Request) -> web.Response:
            return web.Response(text=html, content_type="text/html")

        shop = web.Application()
        shop.router.add_get("/account", account)
        site = await aiohttp_server(shop)  # the shop's own site, on another origin
        bob = await chromium.page()
        await bob.goto(f"http://127.0.0.1:{site.port}/account")
        await expect(bob.locator("#sb-status")).to_have_text("online")
        await say(bob, "hello from bob")
        await expect(bob.locator("#sb-id-offer")).to_be_hidden()  # the site vouched already
        agent = await sign_in(chromium, base_url)
        customers = await agent.evaluate(
            """async () => {
                const token = sessionStorage.getItem('switchboard.console.token');
                const h = {Authorization: 'Bearer ' + token};
                const list = await (await fetch('/api/v1/conversations', {headers: h})).json();
                const out = [];
                for (const c of list.items) {
                    const p = await (await fetch('/api/v1/customers/' + c.customer.id,
                                                 {headers: h})).json();
                    out.push([p.display_name, p.identities.map(i => i.address)]);
                }
                return out;
            }"""
        )
        assert any(
            name == "Bob" and "bob@customer.test" in addresses for name, addresses in customers
        ), customers

        # The user logs out: the next chat on this browser is somebody new.
        await bob.evaluate("() => SwitchboardChat.reset()")
        await expect(bob.locator("#sb-status")).to_have_text("online")
        await expect(bob.locator("#sb-messages .sb-msg")).to_have_count(0)
    finally:
        await relay.stop()


async def test_the_policy_refuses_inline_script_and_framing_the_console_but_not_the_chat(
    chromium: Chromium, base_url: str, aiohttp_server: Any
) -> None:
    def refused(message: ConsoleMessage) -> bool:
        return "Content Security Policy" in message.text

    agent = await sign_in(chromium, base_url)  # the console works under its policy
    async with agent.expect_console_message(refused):
        ran = await agent.evaluate(
            """() => {
                const s = document.createElement('script');
                s.textContent = 'window.__inline = 1';
                document.body.appendChild(s);
                const b = document.createElement('button');
                b.setAttribute('onclick', 'window.__handler = 1');
                document.body.appendChild(b);
                b.click();
                return [window.__inline, window.__handler];
            }"""
        )
    assert ran == [None, None]
    assert all("script" in v for v in chromium.csp_violations), chromium.csp_violations
    chromium.csp_violations.clear()  # the refusals this test asked for

    # Another site frames both: the chat works there, the console is refused.
    html = (
        "<!doctype html><title>Shop</title>"
        f'<iframe id="chat" src="{base_url}/chat/" width="600" height="700"></iframe>'
        f'<iframe id="console" src="{base_url}/console/"></iframe>'
    )

    async def framing(_request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    shop = web.Application()
    shop.router.add_get("/", framing)
    site = await aiohttp_server(shop)
    page = await chromium.page()
    async with page.expect_console_message(refused):
        await page.goto(f"http://localhost:{site.port}/")
    await expect(page.frame_locator("#chat").locator("#sb-status")).to_have_text("online")
    await expect(page.frame_locator("#console").locator("#login-email")).to_have_count(0)
    assert [v for v in chromium.csp_violations if "frame-ancestors" in v], chromium.csp_violations
    chromium.csp_violations.clear()
