"""The knowledge-base editor in a real headless Chromium, end to end, against a live server.

An agent writes a draft in Markdown (the preview renders it; raw HTML stays text) and submits it
for review, with no way to publish it; a knowledge manager publishes it, and a customer in the
web chat gets the answer and rates it; the manager edits it, compares the versions and rolls
back; the agent's save over the newer version is refused with a reload, and the manager sends
the resubmitted article back with a reason; the manager exports the knowledge base as CSV and
imports a YAML file; then the questions the bot could not answer show up as a knowledge gap,
which becomes a new draft in one click, and gains a translation.

Reuses the fixtures of tests/test_browser.py (SQLite only, Debian's /usr/bin/chromium). Saves
full-page screenshots to $SWITCHBOARD_ARTIFACTS, or <repo>/test-artifacts/.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from playwright.async_api import FilePayload, expect

from console.auth import create_agent
from routing.clock import SystemClock
from storage.db import Database
from switchboard.settings import Settings
from tests import test_browser as browser
from tests.conftest import PASSWORD
from tests.helpers import eventually
from tests.test_browser import BOT, CUSTOMER, SYSTEM, Chromium, open_chat, say
from tests.test_console_browser import artifacts_dir, sign_in_as

# test_browser's fixtures (SQLite only, one Chromium per test), shared by name.
database_url = browser.database_url
serve = browser.serve
chromium_path = browser.chromium_path
chromium = browser.chromium

MANAGER_EMAIL = "kim@example.com"
MANAGER_NAME = "Kim Manager"

TITLE = "Do you offer gift wrapping?"
QUESTIONS = ["Can you gift wrap my order?", "Is gift wrap available?"]
BODY = (
    "Yes! **Gift wrapping** costs $3 per order. "
    "See [our gift page](https://example.com/gifts) for the papers.\n\n"
    "<script>window.__kbxss = 1</script>"
)
EDITED_BODY = BODY.replace("costs $3 per order.", "is free on orders over $50.")
NEW_QUESTION = "Do you wrap presents?"
UNANSWERABLE = "Can I pay with cryptocurrency?"

IMPORT_YAML = b"""\
articles:
  - id: gift-cards
    locale: en
    title: Do you sell gift cards?
    body: "Yes: **e-gift cards** from $10 to $500, delivered by email."
    questions: ["Can I buy a gift voucher?"]
    tags: [gifts]
    category: Gifts
"""


async def test_knowledge_base_from_draft_to_bot_answer_versions_files_and_gaps(
    chromium: Chromium,
    serve: Callable[[Settings], Awaitable[str]],
    settings: Settings,
) -> None:
    base_url = await serve(settings)
    await add_manager(settings)

    # ---------------------------------------------------------------- an agent writes a draft
    agent = await sign_in_as(chromium, base_url, "agent1@example.com", "Agent 1")
    await agent.keyboard.press("?")
    help_dialog = agent.locator("#help-dialog")
    await expect(help_dialog).to_contain_text("Knowledge base")
    await agent.keyboard.press("Escape")
    await expect(help_dialog).to_be_hidden()
    await agent.keyboard.press("g")
    await agent.keyboard.press("k")
    await expect(agent.locator("#kb-view")).to_be_visible()
    await expect(agent.locator("#tab-kb")).to_have_attribute("aria-selected", "true")
    await expect(agent.locator("#workspace-view")).to_be_hidden()
    await expect(agent.locator("#kb-list .kb-item").first).to_be_visible()  # the demo articles
    await expect(agent.locator("#kb-import")).to_be_hidden()  # importing is for managers

    await agent.locator("#kb-new").click()
    await expect(agent.locator("#kb-title")).to_be_focused()
    await agent.locator("#kb-title").fill(TITLE)
    await agent.locator("#kb-category").fill("Orders")
    await agent.locator("#kb-tags").fill("gifts, wrapping")
    await agent.locator("#kb-questions").fill("\n".join(QUESTIONS))
    await agent.locator("#kb-body").fill(BODY)
    preview = agent.locator("#kb-preview")
    await expect(preview.locator("strong")).to_have_text("Gift wrapping")
    await expect(preview.locator("a")).to_have_text("our gift page")
    await expect(preview.locator("a")).to_have_attribute("href", "https://example.com/gifts")
    await expect(preview).to_contain_text("<script>window.__kbxss = 1</script>")  # as text
    await expect(preview.locator("script")).to_have_count(0)
    assert await agent.evaluate("() => window.__kbxss") is None

    await agent.locator("#kb-save").click()
    await expect(agent.locator("#kb-badges")).to_contain_text("Version 1")
    await expect(agent.locator("#kb-badges .kb-status")).to_have_text("Draft")
    workflow = agent.locator("#kb-workflow button")
    await expect(workflow).to_have_text(["Submit for review"])
    row = agent.locator("#kb-list .kb-item", has_text=TITLE)
    await expect(row).to_have_class(re.compile(r"\bselected\b"))
    await workflow.click()
    await expect(agent.locator("#kb-badges .kb-status")).to_have_text("In review")
    await expect(workflow).to_have_count(0)  # no Publish (nor anything else) for an agent
    await expect(agent.locator('#kb-workflow [data-action="publish"]')).to_have_count(0)
    await expect(row.locator(".kb-status")).to_have_text("In review")
    history = agent.locator("#kb-history .kb-history-item")
    await expect(history.first).to_contain_text("Submit")
    await expect(history.first).to_contain_text("agent1@example.com")

    # ---------------------------------------------------------------- a knowledge manager publishes
    manager = await sign_in_as(chromium, base_url, MANAGER_EMAIL, MANAGER_NAME)
    await manager.locator("#tab-kb").click()
    await expect(manager.locator("#kb-import")).to_be_visible()
    await manager.locator("#kb-filter-status").select_option("in_review")
    review = manager.locator("#kb-list .kb-item")
    await expect(review).to_have_count(1)
    await expect(review).to_contain_text(TITLE)
    await review.locator(".row-main").click()
    await expect(manager.locator("#kb-title")).to_have_value(TITLE)
    await expect(manager.locator("#kb-workflow button")).to_have_text(
        ["Publish", "Send back…", "Archive…"]
    )
    indexed_before = await _indexed_articles(base_url)
    await manager.locator('#kb-workflow [data-action="publish"]').click()
    await expect(manager.locator("#kb-badges .kb-status")).to_have_text("Published")
    await expect(manager.locator("#kb-meta")).to_contain_text("Live: version 1")
    await expect(manager.locator("#kb-history .kb-history-item").first).to_contain_text(
        MANAGER_EMAIL
    )
    await manager.locator("#kb-filter-status").select_option("")
    # The bot's index is rebuilt in the background after a publish (a big knowledge base
    # takes a moment); /healthz counts what it answers from.
    await eventually(lambda: _has_more_indexed(base_url, indexed_before))

    # ---------------------------------------------------------------- a customer gets the answer
    customer = await open_chat(chromium, base_url)
    await say(customer, "Do you offer gift wrapping?")
    answer = customer.locator(f"{BOT} .sb-text").last
    await expect(answer).to_contain_text("Gift wrapping costs $3 per order.")
    await customer.locator(f"{BOT} .sb-feedback .sb-vote[data-vote='helpful']").last.click()
    await expect(customer.locator(f"{BOT} .sb-text").last).to_have_text("Glad it helped!")
    unhappy = await open_chat(chromium, base_url)
    await say(unhappy, "Do you offer gift wrapping?")
    await expect(unhappy.locator(f"{BOT} .sb-text").last).to_contain_text("costs $3 per order")
    await unhappy.locator(f"{BOT} .sb-feedback .sb-vote[data-vote='not_helpful']").last.click()
    await expect(unhappy.locator(f"{BOT} .sb-text").last).to_contain_text("Sorry that didn")

    # ---------------------------------------------------------------- edit, compare, roll back
    await manager.locator("#kb-body").fill(EDITED_BODY)
    await manager.locator("#kb-questions").fill("\n".join([*QUESTIONS, NEW_QUESTION]))
    await expect(manager.locator("#kb-dirty")).to_be_visible()
    await expect(manager.locator("#kb-preview")).to_contain_text("is free on orders over $50")
    await manager.keyboard.press("Control+s")
    await expect(manager.locator("#kb-badges")).to_contain_text("Version 2")
    await expect(manager.locator("#kb-dirty")).to_be_hidden()
    # Customers keep the published version 1 until version 2 is published.
    published = manager.locator("#kb-published")
    await expect(published).to_contain_text("Customers still get version 1")
    await published.locator("summary").click()
    await expect(published.locator("#kb-published-body")).to_contain_text("costs $3 per order")
    await expect(manager.locator("#kb-meta")).to_contain_text("Live: version 1")
    # The customers' votes show on the article in the list, and what the unhappy one asked.
    edited = manager.locator("#kb-list .kb-item", has_text=TITLE)
    await expect(edited.locator(".kb-helpfulness")).to_have_text("👍 1 · 👎 1 (50%)")
    await expect(manager.locator("#kb-unhelpful .kb-unhelpful-item")).to_have_count(1)
    await expect(manager.locator("#kb-unhelpful")).to_contain_text("Do you offer gift wrapping?")
    await expect(edited.locator(".kb-version")).to_have_text("v2")
    await expect(edited.locator(".kb-live")).to_have_text("live v1")

    versions = manager.locator("#kb-versions .kb-version-item")
    await expect(versions).to_have_count(2)
    first = manager.locator('#kb-versions [data-version="1"]')
    await first.get_by_role("button", name="Compare with current").click()
    diff = manager.locator("#kb-diff")
    await expect(diff).to_be_visible()
    await expect(manager.locator("#kb-diff-title")).to_have_text("Version 1 → version 2")
    body_diff = diff.locator('[data-field="body"]')
    await expect(body_diff.locator(".diff-del")).to_contain_text(["costs $3 per order"])
    await expect(body_diff.locator(".diff-add")).to_contain_text(["is free on orders over $50"])
    await expect(diff.locator('[data-field="questions"] .diff-add')).to_have_text(
        [f"+ {NEW_QUESTION}"]
    )
    added_line = body_diff.locator(".diff-add").first
    assert await added_line.evaluate("(el) => getComputedStyle(el).backgroundColor") != (
        await body_diff.locator(".diff-del").first.evaluate(
            "(el) => getComputedStyle(el).backgroundColor"
        )
    )
    await manager.locator("#kb-versions-title").click()  # out of the fields: keys are shortcuts
    await manager.keyboard.press("Escape")  # dismisses the notice, for a clean picture
    await expect(manager.locator("#notice")).to_be_hidden()
    # The editor scrolls inside the page: a tall window shows all of it in the picture.
    await manager.set_viewport_size({"width": 1280, "height": 1700})
    await manager.locator("#kb-editor").evaluate("(el) => { el.scrollTop = 0; }")
    path = artifacts_dir() / "console-kb.png"
    await manager.screenshot(path=str(path), full_page=True, animations="disabled")
    print(f"\nknowledge-base editor screenshot: {path}")
    await manager.set_viewport_size({"width": 1280, "height": 800})

    await first.get_by_role("button", name="Roll back to this").click()
    dialog = manager.locator("#kb-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Roll back to version 1")
    await manager.locator("#kb-dialog-submit").click()
    await expect(dialog).to_be_hidden()
    await expect(manager.locator("#kb-badges")).to_contain_text("Version 3")
    await expect(manager.locator("#kb-body")).to_have_value(BODY)
    await expect(manager.locator("#kb-questions")).to_have_value("\n".join(QUESTIONS))
    await expect(versions).to_have_count(3)
    await expect(manager.locator('#kb-versions [data-version="3"]')).to_contain_text(
        "rollback to version 1"
    )

    # ---------------------------------------------------------------- a stale save, a send-back
    # The agent's editor still holds version 1: saving over version 3 is refused, with a reload.
    await agent.locator("#kb-title").fill("Gift wrapping?")
    await agent.locator("#kb-save").click()
    await expect(agent.locator("#kb-form-error")).to_contain_text("it is at version 3")
    await agent.locator("#kb-reload").click()
    await expect(agent.locator("#kb-badges")).to_contain_text("Version 3")
    await expect(agent.locator("#kb-title")).to_have_value(TITLE)
    await expect(agent.locator("#kb-form-error")).to_be_hidden()
    await agent.locator('#kb-workflow [data-action="submit"]').click()
    await expect(agent.locator("#kb-badges .kb-status")).to_have_text("In review")

    await manager.locator("#kb-list .kb-item", has_text=TITLE).locator(".row-main").click()
    await expect(manager.locator("#kb-badges .kb-status")).to_have_text("In review")
    await manager.locator('#kb-workflow [data-action="reject"]').click()
    await expect(dialog).to_be_visible()
    await expect(manager.locator("#kb-dialog-field-comment")).to_be_focused()
    await manager.locator("#kb-dialog-submit").click()  # a send-back needs a reason
    await expect(manager.locator("#kb-dialog-error")).to_contain_text("Fill in")
    await manager.locator("#kb-dialog-field-comment").fill("Say which papers we have.")
    await manager.locator("#kb-dialog-submit").click()
    await expect(dialog).to_be_hidden()
    await expect(manager.locator("#kb-badges .kb-status")).to_have_text("Draft")
    sent_back = manager.locator("#kb-history .kb-history-item").first
    await expect(sent_back).to_contain_text("Reject")
    await expect(sent_back.locator(".kb-history-comment")).to_have_text("Say which papers we have.")

    # ---------------------------------------------------------------- export and import
    async with manager.expect_download() as download_info:
        await manager.locator('[data-export="csv"]').click()
    download = await download_info.value
    assert download.suggested_filename == "knowledge-base.csv"
    exported = await asyncio.to_thread(Path(await download.path()).read_text, "utf-8-sig")
    assert TITLE in exported
    assert "Gift wrapping" in exported
    assert "reset-password" in exported  # the demo articles are in it too

    async with manager.expect_file_chooser() as chooser_info:
        await manager.locator("#kb-import").click()
    chooser = await chooser_info.value
    await chooser.set_files(
        files=[FilePayload(name="stores.yaml", mimeType="application/yaml", buffer=IMPORT_YAML)]
    )
    result = manager.locator("#kb-import-result")
    await expect(result).to_have_text(
        "Imported stores.yaml: 1 article — 1 new, 0 updated, 0 unchanged."
    )
    await manager.locator("#kb-q").fill("gift-cards")
    imported = manager.locator("#kb-list .kb-item")
    await expect(imported).to_have_count(1)
    await expect(imported).to_contain_text("Do you sell gift cards?")
    await expect(imported.locator(".kb-status")).to_have_text("Published")
    await manager.locator("#kb-q").fill("")

    # A file the server refuses: its message, where the counts would be.
    async with manager.expect_file_chooser() as chooser_info:
        await manager.locator("#kb-import").click()
    await (await chooser_info.value).set_files(
        files=[FilePayload(name="broken.yaml", mimeType="application/yaml", buffer=b"- id: [\n")]
    )
    await expect(result).to_contain_text("Import failed:")
    await expect(result).to_have_attribute("data-kind", "error")

    # ---------------------------------------------------------------- knowledge gaps
    asker = await open_chat(chromium, base_url)
    await say(asker, UNANSWERABLE)
    await expect(asker.locator(f"{BOT} .sb-text").last).not_to_have_text("")
    await expect(asker.locator(CUSTOMER)).to_have_count(1)
    await say(asker, UNANSWERABLE)
    await expect(asker.locator(SYSTEM).last).to_contain_text("in the queue")

    await manager.locator("#kb-show-gaps").click()
    await expect(manager.locator("#kb-show-gaps")).to_have_attribute("aria-pressed", "true")
    gap = manager.locator("#kb-gaps-table tbody tr", has_text=UNANSWERABLE)
    await expect(gap).to_have_count(1)
    await expect(gap.locator(".kb-gap-example")).to_have_text([UNANSWERABLE])
    await expect(gap.locator(".kb-gap-count")).to_have_text(re.compile(r"^[1-9]\d*$"))
    await expect(gap.locator(".kb-gap-kind").first).to_be_visible()
    await expect(manager.locator("#kb-gaps-summary")).to_contain_text("could not answer")
    await manager.locator("#kb-gaps-title").click()
    await manager.keyboard.press("Escape")
    await expect(manager.locator("#notice")).to_be_hidden()
    path = artifacts_dir() / "console-kb-gaps.png"
    await manager.screenshot(path=str(path), full_page=True, animations="disabled")
    print(f"knowledge gaps screenshot: {path}")

    await gap.get_by_role("button", name="Write article").click()
    await expect(manager.locator("#kb-articles")).to_be_visible()
    await expect(manager.locator("#kb-badges .kb-status")).to_have_text("Draft")
    await expect(manager.locator("#kb-badges")).to_contain_text("Version 1")
    await expect(manager.locator("#kb-questions")).to_have_value(
        re.compile(re.escape(UNANSWERABLE))
    )
    await expect(manager.locator("#kb-title")).not_to_have_value("")
    await expect(manager.locator("#kb-body")).to_be_focused()  # ready to write the answer
    await expect(manager.locator("#kb-workflow button")).to_have_text(
        ["Submit for review", "Publish", "Archive…"]
    )

    # A translation starts as a copy of the article in another language, as a draft.
    draft_title = await manager.locator("#kb-title").input_value()
    await manager.locator("#kb-add-translation").click()
    await expect(manager.locator("#kb-dialog-field-locale")).to_be_focused()
    await expect(manager.locator("#kb-dialog-field-title")).to_have_value(draft_title)
    await manager.locator("#kb-dialog-field-locale").fill("th")
    await manager.locator("#kb-dialog-submit").click()
    await expect(dialog).to_be_hidden()
    variants = manager.locator("#kb-variants .kb-variant")
    await expect(variants).to_have_text(["en", "th"])
    await expect(manager.locator('#kb-variants [data-locale="th"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(manager.locator("#kb-badges .kb-locale")).to_have_text("th")
    await manager.locator('#kb-variants [data-locale="en"]').click()
    await expect(manager.locator("#kb-badges .kb-locale")).to_have_text("en")
    await expect(manager.locator("#kb-questions")).to_have_value(
        re.compile(re.escape(UNANSWERABLE))
    )


async def add_manager(settings: Settings) -> None:
    """Kim, a knowledge manager, in the served database."""
    db = Database(settings.effective_database_url)
    try:
        await create_agent(
            db,
            SystemClock(),
            email=MANAGER_EMAIL,
            name=MANAGER_NAME,
            password=PASSWORD,
            role="knowledge_manager",
        )
    finally:
        await db.dispose()


async def _indexed_articles(base_url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(base_url + "/healthz") as resp:
        return int((await resp.json())["kb_articles"])


async def _has_more_indexed(base_url: str, before: int) -> bool:
    return await _indexed_articles(base_url) > before
