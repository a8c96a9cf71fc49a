"""The Reports view in a real headless Chromium, against a live server: a supervisor picks a
date range and a time zone and sees the key figures and the SVG charts of tests/test_reports.py's
data set; an agent has no Reports tab.

Reuses the fixtures of tests/test_browser.py (SQLite only, Debian's /usr/bin/chromium). Saves a
full-page screenshot to $SWITCHBOARD_ARTIFACTS, or <repo>/test-artifacts/console-reports.png.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from playwright.async_api import expect

from console.auth import create_agent
from routing.clock import SystemClock
from storage.db import Database
from switchboard.settings import Settings
from tests import test_browser as browser
from tests.conftest import PASSWORD
from tests.test_browser import Chromium
from tests.test_console_browser import artifacts_dir, sign_in_as
from tests.test_reports import WORKSPACE, build_data_set

# test_browser's fixtures (SQLite only, one Chromium per test), shared by name.
database_url = browser.database_url
serve = browser.serve
chromium_path = browser.chromium_path
chromium = browser.chromium


async def test_a_supervisor_reads_the_reports_and_an_agent_cannot(
    chromium: Chromium,
    serve: Callable[[Settings], Awaitable[str]],
    make_settings: Callable[..., Settings],
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
            email="boss@example.com",
            name="Boss",
            password=PASSWORD,
            role="supervisor",
        )
    finally:
        await db.dispose()
    await build_data_set(settings.effective_database_url)

    agent = await sign_in_as(chromium, base_url, "agent1@example.com", "Agent 1")
    await expect(agent.locator("#tab-kb")).to_be_visible()
    await expect(agent.locator("#tab-reports")).to_be_hidden()

    page = await sign_in_as(chromium, base_url, "boss@example.com", "Boss")
    await page.set_viewport_size({"width": 1440, "height": 900})
    await page.locator("#tab-reports").click()
    view = page.locator("#reports-view")
    await expect(view).to_be_visible()
    await expect(page.locator("#tab-reports")).to_have_attribute("aria-selected", "true")
    await expect(page.locator("#workspace-view")).to_be_hidden()
    # The first load shows the last 7 days in the desk's time zone.
    await expect(page.locator("#rep-tz")).to_have_value("Asia/Bangkok")
    await expect(page.locator('#rep-tiles [data-figure="conversations"] .tile-value')).to_have_text(
        "0"
    )

    await page.locator("#rep-since").fill("2026-01-05")
    await page.locator("#rep-until").fill("2026-01-06")
    await page.locator("#rep-apply").click()
    tiles = page.locator("#rep-tiles")

    async def tile(key: str, value: str, hint: str | None = None) -> None:
        locator = tiles.locator(f'[data-figure="{key}"]')
        await expect(locator.locator(".tile-value")).to_have_text(value)
        if hint is not None:
            await expect(locator.locator(".tile-hint")).to_have_text(hint)

    await tile("conversations", "7", "8 customer messages")
    await tile("containment", "29%", "2 of 7 without a person")
    await tile("escalations", "5")
    await tile("first_response", "4m 00s", "business hours · p90 50m 00s")
    # The real clock is long past C7's due time: it is breached here, not pending.
    await tile("sla", "40%", "2 met · 3 breached")
    await tile("csat", "3.7 / 5", "3 answers · 67% 4–5")
    await tile("queue_wait", "2m 00s", "p90 15h 40m")
    await tile("resolution", "15h 05m", "3 closed")
    await tile("knowledge_gaps", "3")

    # Bangkok hours: 24 bars, four conversations at 10:00, C4's 23:30 UTC message at 06:00.
    hours = page.locator("#rep-chart-hour svg rect.rep-bar")
    await expect(hours).to_have_count(24)
    await expect(page.locator('#rep-chart-hour rect[data-label="10:00"]')).to_have_attribute(
        "data-value", "4"
    )
    await expect(page.locator('#rep-chart-hour rect[data-label="06:00"]')).to_have_attribute(
        "data-value", "1"
    )
    await expect(page.locator("#rep-chart-day svg rect.rep-bar")).to_have_count(2)
    await expect(page.locator("#rep-chart-channel svg rect.rep-bar")).to_have_count(4)
    # All channels, web chat: contained and escalated parts; email, SMS, Telegram: one each.
    await expect(page.locator("#rep-chart-containment svg rect.rep-bar")).to_have_count(7)
    await expect(page.locator("#rep-chart-frt svg rect.rep-bar")).to_have_count(4)
    await expect(page.locator("#rep-chart-csat svg rect.rep-bar")).to_have_count(2)
    articles = page.locator('[data-table="top_articles"] tbody tr')
    await expect(articles).to_have_count(2)
    await expect(articles.first).to_contain_text("How can I track my order?")
    await expect(page.locator('[data-table="sla"] tbody tr')).to_have_count(2)

    # The CSV button downloads the table of the range on show.
    async with page.expect_download() as info:
        await page.locator('[data-table="escalation_reasons"] [data-csv]').click()
    download = await info.value
    assert download.suggested_filename == "escalation-reasons-20260105-20260107.csv"
    text = await asyncio.to_thread(Path(await download.path()).read_text, "utf-8-sig")
    assert text.splitlines() == [
        "reason,count,share",
        "customer_request,3,0.6",
        "bot_unanswered,2,0.4",
    ]

    # In UTC, C4's message is at 23:00 on Monday.
    await page.locator("#rep-tz").select_option("UTC")
    await expect(page.locator('#rep-chart-hour rect[data-label="23:00"]')).to_have_attribute(
        "data-value", "1"
    )
    await expect(page.locator('#rep-chart-hour rect[data-label="06:00"]')).to_have_attribute(
        "data-value", "0"
    )
    await page.locator("#rep-tz").select_option("Asia/Bangkok")
    await expect(page.locator('#rep-chart-hour rect[data-label="06:00"]')).to_have_attribute(
        "data-value", "1"
    )
    # The view scrolls inside the page: a tall window shows all of it.
    await page.set_viewport_size({"width": 1440, "height": 2300})
    await page.evaluate("() => document.getElementById('reports-view').scrollTo(0, 0)")
    await page.screenshot(path=str(artifacts_dir() / "console-reports.png"), animations="disabled")
    await page.set_viewport_size({"width": 1440, "height": 900})
    # Bad input shows the server's message.
    await page.locator("#rep-since").fill("2026-01-07")
    await page.locator("#rep-apply").click()
    await expect(page.locator("#rep-error")).to_contain_text("since must be before until")
    # console.js lends reports.js a few helpers, and nothing can change them.
    assert await page.evaluate("() => Object.isFrozen(window.SwitchboardConsole)")


async def test_the_column_charts_are_drawn_again_at_the_new_width_after_a_resize(
    chromium: Chromium,
    serve: Callable[[Settings], Awaitable[str]],
    make_settings: Callable[..., Settings],
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
            email="boss@example.com",
            name="Boss",
            password=PASSWORD,
            role="supervisor",
        )
    finally:
        await db.dispose()
    page = await sign_in_as(chromium, base_url, "boss@example.com", "Boss")
    await page.set_viewport_size({"width": 1440, "height": 900})
    await page.locator("#tab-reports").click()
    hours = page.locator("#rep-chart-hour svg")
    await expect(hours.locator("rect.rep-bar")).to_have_count(24)
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if "/api/v1/reports" in r.url else None)

    async def widths() -> tuple[int, int]:
        """The hour chart's drawn width (its viewBox) and its container's width."""
        return tuple(
            await page.evaluate(
                """() => {
                    const box = document.getElementById('rep-chart-hour');
                    return [box.querySelector('svg').viewBox.baseVal.width,
                            Math.round(box.clientWidth)];
                }"""
            )
        )

    wide, box = await widths()
    assert wide == box

    await page.set_viewport_size({"width": 900, "height": 900})
    await page.wait_for_function(
        """() => {
            const box = document.getElementById('rep-chart-hour');
            const svg = box.querySelector('svg');
            return svg && svg.viewBox.baseVal.width === Math.max(320, Math.round(box.clientWidth));
        }"""
    )
    narrow, box = await widths()
    assert narrow == box < wide
    await expect(hours.locator("rect.rep-bar")).to_have_count(24)
    await page.set_viewport_size({"width": 1440, "height": 900})
    await page.wait_for_function(
        f"() => document.querySelector('#rep-chart-hour svg').viewBox.baseVal.width === {wide}"
    )
    assert fetched == []  # drawn from the data on show, not fetched again
