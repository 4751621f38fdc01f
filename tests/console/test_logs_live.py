"""The Logs tab's Live toggle: entries recorded while it is on appear on top, under the current filters."""

from __future__ import annotations

from playwright.async_api import expect

from api.models import Role
from tests.console.conftest import Console
from tests.console.seed import HOUR_MS, ago, event, record
from tests.support.polling import poll
from tests.support.scrape import scrape


async def live_subscribers(console: Console) -> float:
    return (await scrape(console.api.client, "/metrics")).value("audittrail_live_subscribers")


async def test_live_prepends_new_rows_that_match_the_filters_and_only_those(console: Console) -> None:
    reader = await console.api.key("acme", Role.READER)
    admin = await console.api.key("acme", Role.ADMIN)
    await record(console.api, admin, [event("stack.create", "github::alice", ago(HOUR_MS), ("STACK", "old-api"))])
    await console.sign_in(reader)
    page = console.page
    await page.locator("fieldset[data-field='action']").get_by_label("stack.create").click()
    rows = page.locator("table.events tbody tr")
    await expect(rows).to_have_count(1)
    before = await live_subscribers(console)
    live = page.get_by_role("button", name="Live", exact=True)
    await live.click()
    await expect(live).to_have_attribute("aria-pressed", "true")

    async def subscribed() -> bool:
        return await live_subscribers(console) > before

    await poll(subscribed, what="the console's live subscription")
    await record(console.api, admin, [event("stack.delete", "github::bob", ago(0), ("STACK", "gone-api"))])
    await record(console.api, admin, [event("stack.create", "github::carol", ago(0), ("STACK", "live-api"))])
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text("live-api")
    await expect(rows.first).to_contain_text("github::carol")
    await expect(page.locator("table.events")).not_to_contain_text("gone-api")
    await live.click()
    await expect(live).to_have_attribute("aria-pressed", "false")
