"""Browser fixtures: the real API served by uvicorn on 127.0.0.1, Debian's chromium driven by playwright.

Skipped (with the reason) only when /usr/bin/chromium is missing; `make test` installs it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from api.app import create_app
from api.settings import Settings
from tests.helpers import Api, Key
from tests.support.live_server import serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RESOURCE_URL_TEMPLATE = "https://app.example.com/{resourceType}/{resourceId}"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing: install Debian's chromium package (make test does)")
    for item in items:
        # ``fixturenames`` is the closure: a test on its own context (``chromium`` without ``browser``) too.
        if "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


@pytest.fixture(scope="session")
async def console_url(settings: Settings) -> AsyncIterator[str]:
    """The real app (with a resource URL template) served over HTTP in the test event loop."""
    app = create_app(settings.model_copy(update={"resource_url_template": RESOURCE_URL_TEMPLATE}))
    async with serving(app) as url:
        yield url


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def browser(chromium: Browser, console_url: str) -> AsyncIterator[BrowserContext]:
    """A fresh browser context (its own sessionStorage) at 1280 px, on the console's origin."""
    context = await chromium.new_context(
        viewport={"width": 1280, "height": 860}, base_url=console_url, timezone_id="UTC", locale="en-GB"
    )
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=console_url)
    context.set_default_timeout(10_000)
    yield context
    await context.close()


@dataclass
class Console:
    """A page of the console and the keys to sign in with."""

    page: Page
    api: Api

    async def sign_in(self, key: Key) -> None:
        await self.page.goto("/")
        await self.page.get_by_label("API key id").fill(key.id)
        await self.page.get_by_label("Secret").fill(key.secret)
        await self.page.get_by_role("button", name="Sign in").click()
        await expect(self.page.get_by_role("button", name="Sign out")).to_be_visible()


@pytest.fixture
async def console(browser: BrowserContext, api: Api) -> AsyncIterator[Console]:
    """A console page; the test fails if the page throws or the CSP blocks anything."""
    page = await browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: problems.append(f"console {message.type}: {message.text}") if message.type == "error" else None,
    )
    yield Console(page, api)
    assert not problems, problems
