"""The Logs tab against real seeded events: filters, time range, free text, paging, details, value menus."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

from playwright.async_api import Locator, Request, Route, expect

from api.models import Role
from tests.console.conftest import RESOURCE_URL_TEMPLATE, SCREENSHOTS, Console
from tests.console.seed import DAY_MS, HOUR_MS, MINUTE_MS, ago, event, record
from tests.helpers import Key


async def seed_story(console: Console) -> tuple[Key, list[dict[str, Any]]]:
    """An admin (not yet signed in to the console) and five events over the last ten days."""
    admin = await console.api.key("acme", Role.ADMIN)
    entries = await record(
        console.api,
        admin,
        [
            event("stack.create", "github::alice", ago(2 * HOUR_MS), ("STACK", "prod-api"), remoteIP="203.0.113.7"),
            event("stack.delete", "github::bob", ago(3 * DAY_MS), ("STACK", "old-api"), remoteIP="198.51.100.4"),
            event("policy.update", "github::alice", ago(10 * DAY_MS), ("POLICY", "deny-public")),
            event(
                "run.finished",
                "github::carol",
                ago(30 * MINUTE_MS),
                ("STACK", "prod-api"),
                eventType="UPDATE",
                runStateChange=True,
                run={"id": "run-42", "stackId": "prod-api"},
                data={"note": "deploy-window friday", "bigNumber": 12345678901234567890},
            ),
            event("context.attach", "github::bob", ago(5 * HOUR_MS), ("CONTEXT", "shared-env")),
        ],
    )
    return admin, entries


def rows(console: Console) -> Locator:
    return console.page.locator("table.events tbody tr")


def actions_column(console: Console) -> Locator:
    return console.page.locator("table.events tbody tr td:nth-child(3)")


async def check(console: Console, facet: str, value: str) -> None:
    """Tick a filter value once the sidebar shows the current state's values: a click while the
    last state's list is being replaced can land on the list going away (seen once under load)."""
    await expect(console.page.locator(".facets[aria-busy='true']")).to_have_count(0)
    await console.page.locator(f"fieldset[data-field='{facet}']").get_by_label(value).click()


async def test_the_filter_sidebar_is_busy_until_the_new_states_values_arrive(console: Console) -> None:
    """While a new state's filter values are on their way, the sidebar still shows the last state's:
    it says so (``aria-busy``) until they arrive, and then shows the new state's values."""
    admin, _ = await seed_story(console)
    await console.sign_in(admin)
    page = console.page
    await expect(page.locator(".facets")).not_to_have_attribute("aria-busy", "true")
    held, released = [], asyncio.Event()

    async def hold_suggestions(route: Route, request: Request) -> None:
        if "searchAuditTrailEntriesSuggestions" in (request.post_data or ""):
            held.append(request.url)
            await released.wait()
        await route.continue_()

    await page.route("**/graphql", hold_suggestions)
    await check(console, "action", "stack.create")
    await expect(actions_column(console)).to_have_text(["stack.create"])
    await expect(page.locator(".facets")).to_have_attribute("aria-busy", "true")
    assert len(held) == 1
    released.set()
    await expect(page.locator(".facets")).not_to_have_attribute("aria-busy", "true")
    await expect(page.locator("fieldset[data-field='action']").get_by_label("stack.create")).to_be_checked()


async def test_filters_date_range_and_text_narrow_the_seeded_events(console: Console) -> None:
    admin, _ = await seed_story(console)
    await console.sign_in(admin)
    page = console.page
    # Default range is 7 days: four seeded events, plus the two logins (fixture and console).
    await expect(rows(console)).to_have_count(6)
    action_facet = page.locator("fieldset[data-field='action']")
    await expect(action_facet.locator("label", has_text="stack.create")).to_contain_text("1")
    await save_screenshots(console, "logs")

    await check(console, "action", "stack.create")
    await expect(actions_column(console)).to_have_text(["stack.create"])
    await expect(page.get_by_role("button", name="Remove filter: Action is stack.create")).to_be_visible()
    assert "action=stack.create" in page.url
    await check(console, "action", "stack.delete")
    await expect(actions_column(console)).to_have_text(["stack.create", "stack.delete"])
    await check(console, "actor", "github::bob")
    await expect(actions_column(console)).to_have_text(["stack.delete"])

    await page.go_back()
    await expect(actions_column(console)).to_have_text(["stack.create", "stack.delete"])
    await page.get_by_role("button", name="Remove filter: Action is stack.create").click()
    await page.get_by_role("button", name="Remove filter: Action is stack.delete").click()
    await expect(rows(console)).to_have_count(6)

    await page.get_by_role("button", name="Last 7 days").click()
    await page.get_by_role("button", name="Last 30 days").click()
    await expect(rows(console)).to_have_count(7)
    await page.get_by_role("button", name="Last 30 days").click()
    await page.get_by_role("button", name="Last hour").click()
    await expect(actions_column(console)).to_have_text(["account.login", "account.login", "run.finished"])
    assert "range=1h" in page.url

    await page.get_by_role("button", name="Last hour").click()
    await page.get_by_label("From").fill(iso_minute(ago(11 * DAY_MS)))
    await page.get_by_label("To").fill(iso_minute(ago(9 * DAY_MS)))
    await page.get_by_role("button", name="Apply range").click()
    await expect(actions_column(console)).to_have_text(["policy.update"])

    await page.goto("/")
    await page.get_by_label("Search events").fill("deploy-window")
    await page.get_by_label("Search events").press("Enter")
    await expect(actions_column(console)).to_have_text(["run.finished"])
    await expect(page.get_by_role("button", name="Remove filter: Text contains “deploy-window”")).to_be_visible()

    await page.get_by_label("Search events").fill("no-such-words-anywhere")
    await page.get_by_label("Search events").press("Enter")
    await expect(page.get_by_role("heading", name="No events match")).to_be_visible()
    await expect(page.get_by_role("button", name="Clear filters")).to_be_visible()

    await page.get_by_label("Search events").fill("x" * 300)
    await page.get_by_label("Search events").press("Enter")
    await expect(page.get_by_role("heading", name="The events could not be loaded")).to_be_visible()
    await expect(page.get_by_role("alert")).to_contain_text("fullTextSearch is limited to 256 characters")


def iso_minute(epoch_ms: float) -> str:
    """The ``datetime-local`` value of a moment; the browser context runs in UTC."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M")


async def save_screenshots(console: Console, name: str, *, narrow: bool = True) -> None:
    """Screenshots at 1280 px (and 400 px, whole page) into docs/screenshots, when AUDITTRAIL_SCREENSHOTS=1."""
    if os.environ.get("AUDITTRAIL_SCREENSHOTS") != "1":
        return
    page = console.page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if await page.locator(".integrity .badge").count():
        await expect(page.locator(".integrity .badge")).not_to_have_text("Verifying…")
    await page.screenshot(path=str(Path(SCREENSHOTS, f"{name}.png")))
    if narrow:
        await page.set_viewport_size({"width": 400, "height": 860})
        await page.screenshot(path=str(Path(SCREENSHOTS, f"{name}-narrow.png")), full_page=True)
        await page.set_viewport_size({"width": 1280, "height": 860})


async def test_infinite_scroll_loads_the_next_page_with_the_cursor(console: Console) -> None:
    admin = await console.api.key("acme", Role.ADMIN)
    await record(
        console.api, admin, [event(f"item.{n:02d}", "github::alice", ago((n + 1) * MINUTE_MS)) for n in range(60)]
    )
    await console.sign_in(admin)

    # 60 seeded and 2 logins, newest first: a page of 50, then the rest as the end comes into view.
    await expect(rows(console)).to_have_count(50)
    await expect(actions_column(console).nth(2)).to_have_text("item.00")
    await console.page.get_by_role("button", name="Load more").scroll_into_view_if_needed()

    await expect(rows(console)).to_have_count(62)
    await expect(actions_column(console).last).to_have_text("item.59")
    await expect(console.page.get_by_text("End of the results")).to_be_visible()


async def test_details_show_the_exact_stored_body(console: Console) -> None:
    admin, entries = await seed_story(console)
    run_entry = entries[3]
    await console.sign_in(admin)
    page = console.page

    await page.get_by_role("button", name=re.compile(r"^Details of run\.finished at ")).click()

    panel = page.get_by_role("dialog", name="Event details")
    await expect(panel).to_contain_text("run-42 (stack prod-api)")
    shown = await panel.locator("pre.json").inner_text()
    assert json.loads(shown) == json.loads(run_entry["body"])
    assert "12345678901234567890" in shown
    await save_screenshots(console, "logs-details", narrow=False)
    assert "".join(shown.split()) == "".join(run_entry["body"].split())
    await panel.get_by_role("button", name="Copy JSON").click()
    await expect(panel.get_by_text("Copied")).to_be_visible()
    assert await page.evaluate("() => navigator.clipboard.readText()") == run_entry["body"]
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()


async def test_value_menu_filters_excludes_and_links_to_the_resource(console: Console) -> None:
    admin, _ = await seed_story(console)
    await console.sign_in(admin)
    page = console.page

    await page.get_by_role("button", name="Options for github::bob", exact=True).first.click()
    await page.get_by_role("menuitem", name="Filter by this").click()
    await expect(actions_column(console)).to_have_text(["context.attach", "stack.delete"])
    await expect(page.get_by_role("button", name="Remove filter: Actor is github::bob")).to_be_visible()

    await page.get_by_role("button", name="Options for context.attach", exact=True).click()
    await page.get_by_role("menuitem", name="Exclude this").click()
    await expect(actions_column(console)).to_have_text(["stack.delete"])
    await expect(page.get_by_role("button", name="Remove filter: Action is not context.attach")).to_be_visible()

    await page.get_by_role("button", name="Options for STACK / old-api", exact=True).click()
    link = page.get_by_role("menuitem", name="Go to affected resource")
    expected = RESOURCE_URL_TEMPLATE.format(resourceType="STACK", resourceId="old-api")
    await expect(link).to_have_attribute("href", expected)
    await page.keyboard.press("Escape")
    await expect(link).to_have_count(0)


async def test_event_types_show_as_coloured_badges_with_runs_marked(console: Console) -> None:
    admin, _ = await seed_story(console)
    await console.sign_in(admin)
    page = console.page
    await expect(rows(console)).to_have_count(6)
    types = page.locator("table.events tbody tr td:nth-child(2)")
    # Newest first: both logins, run.finished, stack.create, context.attach, stack.delete.
    await expect(types).to_have_text(["CREATE", "CREATE", "UPDATERUN", "CREATE", "UPDATE", "DELETE"])
    colours = {
        name: await page.locator(f"table.events .event-{name}").first.evaluate("e => getComputedStyle(e).color")
        for name in ("create", "update", "delete")
    }
    assert len(set(colours.values())) == 3, colours


async def test_ingested_events_are_marked_with_their_recorder_and_recording_time(console: Console) -> None:
    admin, entries = await seed_story(console)
    await console.sign_in(admin)
    page = console.page
    await expect(rows(console)).to_have_count(6)
    actors = page.locator("table.events tbody tr td:nth-child(4)")

    # Newest first: both logins (the service's own), then the seeded events another service sent.
    await expect(actors.nth(0).locator(".badge-ingested")).to_have_count(0)
    await expect(actors.nth(2).locator(".badge-ingested")).to_have_text(f"ingested by api::{admin.id}")
    await expect(page.locator("table.events .badge-ingested")).to_have_count(4)

    await page.get_by_role("button", name=re.compile(r"^Details of stack\.create at ")).click()
    panel = page.get_by_role("dialog", name="Event details")
    await expect(panel.locator(".badge-ingested")).to_have_text(f"ingested by api::{admin.id}")
    recorded_at = json.loads(entries[0]["body"])["context"]["recordedAt"]
    recorded_row = panel.locator("dt", has_text="Recorded at").locator("xpath=following-sibling::dd[1]")
    await expect(recorded_row).to_contain_text(utc_text(recorded_at))
    await page.keyboard.press("Escape")

    await page.get_by_role("button", name=re.compile(r"^Details of account\.login at ")).first.click()
    await expect(panel).to_contain_text("the audit trail service itself")
    await expect(panel.locator("dt", has_text="Recorded at")).to_have_count(0)


def utc_text(epoch_ms: int) -> str:
    """The console's UTC line of a moment (ISO 8601, milliseconds kept unless zero)."""
    from datetime import UTC, datetime

    shown = datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return shown.replace(".000Z", "Z")
