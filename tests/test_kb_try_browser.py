"""What the bot would do, in the knowledge-base editor, in a real headless Chromium.

A knowledge manager tries a question in the "Try a question" box and sees the article the bot
would answer with, its confidence against the threshold and the runner-up; opens the article
from there and reads its coverage; writes a draft with a phrasing no other phrasing covers and
finds it listed, highlighted, with the reason. An agent has neither tool.

Reuses the fixtures of tests/test_browser.py (SQLite only, Debian's /usr/bin/chromium). Saves
screenshots to $SWITCHBOARD_ARTIFACTS, or <repo>/test-artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from playwright.async_api import expect

from switchboard.settings import Settings
from tests import test_browser as browser
from tests.test_browser import Chromium
from tests.test_console_browser import artifacts_dir, sign_in_as
from tests.test_kb_browser import MANAGER_EMAIL, MANAGER_NAME, add_manager

database_url = browser.database_url
serve = browser.serve
chromium_path = browser.chromium_path
chromium = browser.chromium

QUESTION = "How can I track my order?"
LONELY = "Is my cockatoo allowed a bath with you?"  # shares no word with another phrasing
PERCENT = re.compile(r"^(\d{1,3}|<1)%$")


async def test_the_try_box_and_an_articles_coverage(
    chromium: Chromium,
    serve: Callable[[Settings], Awaitable[str]],
    settings: Settings,
) -> None:
    base_url = await serve(settings)
    await add_manager(settings)

    # ---------------------------------------------------------------- try a question
    manager = await sign_in_as(chromium, base_url, MANAGER_EMAIL, MANAGER_NAME)
    await manager.locator("#tab-kb").click()
    await expect(manager.locator("#kb-try")).to_be_visible()
    await manager.locator("#kb-try-q").fill(QUESTION)
    await manager.locator("#kb-try-ask").click()
    result = manager.locator("#kb-try-result")
    await expect(result.locator(".kb-try-title")).to_have_text(QUESTION)
    await expect(result.locator(".kb-try-confidence")).to_have_text(PERCENT)
    await expect(result.locator(".kb-try-threshold")).to_have_text(
        re.compile(r"^[≥<] threshold 50%$")
    )
    verdict = await result.locator(".kb-try-outcome").inner_text()
    assert verdict in ("Answers", "Would not answer")
    sign = (await result.locator(".kb-try-threshold").inner_text())[0]
    assert (sign == "≥") == (verdict == "Answers")
    await expect(result.locator(".kb-try-excerpt")).not_to_have_text("")
    runner = result.locator(".kb-try-runner")
    await expect(runner).to_contain_text("Runner-up")
    await expect(runner.locator(".kb-try-runner-title")).not_to_have_text(QUESTION)
    await expect(runner.locator(".kb-try-runner-confidence")).to_have_text(PERCENT)
    # The threshold's tick sits at 50% of the confidence bar.
    meter = result.locator(".kb-meter")
    tick = result.locator(".kb-meter-threshold")
    box, mark = await meter.bounding_box(), await tick.bounding_box()
    assert box and mark and abs(mark["x"] - (box["x"] + box["width"] / 2)) <= 3
    path = artifacts_dir() / "console-kb-try.png"
    await manager.locator("#kb-try-ask").focus()  # out of the field, for the picture
    await manager.screenshot(path=str(path), full_page=True, animations="disabled")
    print(f"\ntry-a-question screenshot: {path}")

    # Small talk never reaches the knowledge base; the box says what the bot says.
    await manager.locator("#kb-try-q").fill("hello")
    await manager.keyboard.press("Enter")
    await expect(result.locator(".kb-try-outcome")).to_have_text("Small talk")
    await expect(result.locator(".kb-try-title")).to_have_count(0)
    # Bad input: the server's message, in the box.
    await manager.locator("#kb-try-q").fill("x" * 5000)
    await manager.locator("#kb-try-ask").click()
    await expect(result).to_contain_text("at most")

    # ---------------------------------------------------------------- an article's coverage
    await manager.locator("#kb-try-q").fill(QUESTION)
    await manager.locator("#kb-try-ask").click()
    await result.locator(".kb-try-title").click()
    await expect(manager.locator("#kb-heading")).to_have_text(QUESTION)
    coverage = manager.locator("#kb-coverage")
    await expect(coverage).to_be_visible()
    summary = manager.locator("#kb-coverage-summary")
    await expect(summary).to_contain_text("would be answered from the others", timeout=60_000)
    listed = manager.locator("#kb-coverage-missing .kb-coverage-item")
    answered = manager.locator("#kb-coverage-answered .kb-coverage-item")
    assert await listed.count() + await answered.count() >= 10  # every language's phrasings

    # ---------------------------------------------------------------- a draft's lonely phrasing
    await manager.locator("#kb-new").click()
    await expect(coverage).to_be_hidden()  # nothing to check before it is saved
    await manager.locator("#kb-title").fill("Do you groom parrots?")
    await manager.locator("#kb-questions").fill(
        "\n".join(["parrot grooming appointment", "can I book parrot grooming", LONELY])
    )
    await manager.locator("#kb-body").fill("We groom parrots on Tuesdays.")
    await manager.locator("#kb-save").click()
    await expect(manager.locator("#kb-badges .kb-status")).to_have_text("Draft")
    await expect(summary).to_contain_text("would be answered from the others", timeout=60_000)
    await expect(summary).to_contain_text("customers do not get this version yet")
    lonely = manager.locator("#kb-coverage-missing .kb-coverage-item", has_text=LONELY)
    await expect(lonely).to_have_count(1)
    await expect(lonely).to_have_attribute("data-outcome", re.compile("not_answered|other_article"))
    await expect(lonely.locator(".kb-coverage-reason")).to_contain_text(
        re.compile("Not answered|Answered with another article")
    )
    background = await lonely.evaluate("(el) => getComputedStyle(el).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")  # highlighted
    await manager.set_viewport_size({"width": 1280, "height": 1700})
    await manager.locator("#kb-editor").evaluate("(el) => { el.scrollTop = el.scrollHeight; }")
    path = artifacts_dir() / "console-kb-coverage.png"
    await manager.screenshot(path=str(path), full_page=True, animations="disabled")
    print(f"coverage screenshot: {path}")

    # ---------------------------------------------------------------- an agent has neither
    agent = await sign_in_as(chromium, base_url, "agent1@example.com", "Agent 1")
    await agent.locator("#tab-kb").click()
    await expect(agent.locator("#kb-list .kb-item").first).to_be_visible()
    await expect(agent.locator("#kb-try")).to_be_hidden()
    await agent.locator("#kb-list .kb-item .row-main").first.click()
    await expect(agent.locator("#kb-heading")).not_to_have_text("")
    await expect(agent.locator("#kb-coverage")).to_be_hidden()
