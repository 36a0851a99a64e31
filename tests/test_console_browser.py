"""The console in a real browser: Playwright driving Debian's chromium (a browser download
of Playwright's own cannot work here; `.ci/run` installs the chromium package). Logs in,
reads every page with data, replays dead letters, finds an item, is refused a wrong key.
Screenshots of each page are kept in build/console-screenshots/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.console_data import Scene, populate

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "build" / "console-screenshots"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            "the console's browser test needs Debian's chromium at /usr/bin/chromium: "
            "apt-get install -y chromium (.ci/run does it)", pytrace=False
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True
        )
        yield browser
        await browser.close()


@pytest.fixture
async def scene(make_client, add_operator, pool) -> Scene:
    return await populate(make_client, add_operator, pool)


async def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def test_console_in_a_browser(browser: Browser, scene: Scene, pool) -> None:
    base = str(scene.client.make_url("")).rstrip("/")
    context = await browser.new_context(viewport={"width": 1360, "height": 900})
    page = await context.new_page()
    scripts: list[str] = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)

    # A wrong key is refused, and the form stays.
    await page.goto(base + "/console")
    await expect(page).to_have_url(base + "/console/login")
    await page.fill("#key", "aedgw_0123456789abcdef_" + "n" * 43)
    await page.click("button[type=submit]")
    await expect(page.get_by_role("alert")).to_contain_text("Unknown, expired or revoked key")
    await shot(page, "login-refused")

    await page.fill("#key", scene.admin_key)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(base + "/console/overview")
    assert scene.admin_key not in page.url
    cookies = {c["name"]: c for c in await context.cookies()}
    session = cookies["aedgw_console"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"

    await expect(page.locator("article[data-operator=gamma] svg.chart").first).to_be_visible()
    await expect(page.locator("article[data-operator=gamma] .figures")).to_contain_text(
        "20.0 % rejected")
    await expect(page.locator("tr[data-target=cbp]")).to_contain_text("6")
    await shot(page, "overview")

    await page.click("nav >> text=Rejections")
    await expect(page.locator("section[data-operator=gamma]")).to_contain_text("s10_check_digit")
    await shot(page, "rejections")

    await page.click("nav >> text=Scorecard")
    row = page.locator("section[data-operator=gamma] tr[data-measure=hs_code_share]")
    await expect(row).to_contain_text("83.3 %")
    await expect(row.locator("svg.trend")).to_be_visible()
    await shot(page, "scorecard")

    await page.click("nav >> text=Dead letters")
    await page.fill("input[name=target]", "cbp")
    await page.click("form.filters button")
    await expect(page.locator("#dead-count")).to_have_text("6")
    await shot(page, "deadletters")
    await page.click("#replay")
    await expect(page.get_by_role("status")).to_contain_text("Replayed 6 dead letters")
    await expect(page.locator("#dead-count")).to_have_text("0")
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE state = 'dead'") == 0
    actor = await pool.fetchval("SELECT actor FROM audit_log WHERE action = 'deadletters.replay'")
    assert actor == scene.admin_key_id

    await page.click("nav >> text=Items")
    await page.fill("input[name=item_id]", scene.item_id)
    await page.click("form.filters button")
    item = page.locator(f"section[data-item='{scene.item_id}']")
    await expect(item.locator("table.decisions")).to_contain_text("HOLD")
    await expect(item.locator("table.deliveries")).to_contain_text("cbp")
    await shot(page, "item")

    await page.click("header button")  # log out
    await expect(page).to_have_url(base + "/console/login")
    assert scripts == [], "the console runs no script"
    await context.close()
