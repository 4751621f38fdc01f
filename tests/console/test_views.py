"""Saved views in the Logs tab and the retention period, in chromium at 1280 and 1366 px."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import Locator, expect

from api.models import Role
from tests.console.conftest import Console
from tests.console.late_answers import hold_first_answer, note_answers_read, operation_is, until_read
from tests.console.seed import DAY_MS, HOUR_MS, ago, event, record
from tests.console.test_logs import actions_column, check, save_screenshots
from tests.helpers import Key

WIDTHS = [1280, 1366]
VIEWS = "query { savedFilters { id name data isPublic createdBy } }"


async def seed(console: Console, role: Role = Role.ADMIN) -> Key:
    admin = await console.api.key("acme", Role.ADMIN)
    await record(
        console.api,
        admin,
        [
            event("stack.create", "github::alice", ago(2 * HOUR_MS), ("STACK", "prod-api")),
            event("stack.delete", "github::bob", ago(3 * DAY_MS), ("STACK", "old-api")),
            event("policy.update", "github::alice", ago(20 * DAY_MS), ("POLICY", "deny-public")),
        ],
    )
    return admin if role is Role.ADMIN else await console.api.key("acme", role)


def panel(console: Console) -> Locator:
    return console.page.get_by_role("dialog", name="Saved views")


async def open_views(console: Console) -> Locator:
    await console.page.get_by_role("button", name="Views", exact=True).click()
    views = panel(console)
    await expect(views).to_be_visible()
    return views


@pytest.mark.parametrize("width", WIDTHS)
async def test_a_saved_view_restores_its_filters_and_range(console: Console, width: int) -> None:
    reader = await seed(console, Role.READER)
    page = console.page
    await page.set_viewport_size({"width": width, "height": 860})
    await console.sign_in(reader)
    await page.get_by_role("button", name="Last 7 days").click()
    await page.get_by_role("button", name="Last 30 days").click()
    await check(console, "actor", "github::alice")
    await expect(actions_column(console)).to_have_text(["stack.create", "policy.update"])

    views = await open_views(console)
    box = await page.get_by_role("button", name="Views", exact=True).bounding_box()
    assert box is not None and box["x"] + box["width"] <= width  # beside the filters, on screen
    await views.get_by_label("Save the current filters and time range as").fill("Alice, last month")
    await views.get_by_role("button", name="Save view").click()
    await expect(views.get_by_role("status")).to_have_text("Saved “Alice, last month”.")
    await expect(views.get_by_role("button", name="Alice, last month", exact=True)).to_be_visible()
    if width == WIDTHS[0]:
        await save_screenshots(console, "views-panel", narrow=False)
    await page.keyboard.press("Escape")

    # Stored on the server for this key, not in the browser.
    stored = (await console.api.gql(VIEWS, token=reader.jwt)).ok()["savedFilters"]
    assert [(view["name"], view["isPublic"], view["createdBy"]) for view in stored] == [
        ("Alice, last month", False, reader.id)
    ]
    assert json.loads(stored[0]["data"])["include"] == {"actor": ["github::alice"]}

    await page.get_by_role("button", name="Remove filter: Actor is github::alice").click()
    await check(console, "actor", "github::bob")
    await expect(actions_column(console)).to_have_text(["stack.delete"])
    await page.get_by_role("button", name="Last 30 days").click()
    await page.get_by_role("button", name="Last 24 hours").click()
    await expect(page.get_by_role("heading", name="No events match")).to_be_visible()

    views = await open_views(console)
    await views.get_by_role("button", name="Alice, last month", exact=True).click()
    await expect(views).to_be_hidden()
    await expect(actions_column(console)).to_have_text(["stack.create", "policy.update"])
    await expect(page.get_by_role("button", name="Remove filter: Actor is github::alice")).to_be_visible()
    await expect(page.get_by_role("button", name="Remove filter: Actor is github::bob")).to_have_count(0)
    await expect(page.get_by_role("button", name="Last 30 days")).to_be_visible()
    assert "range=30d" in page.url and "actor=github%3A%3Aalice" in page.url


async def test_rename_and_delete_a_view_and_a_hostile_name_stays_text(console: Console) -> None:
    admin = await seed(console)
    page = console.page
    await page.set_viewport_size({"width": 1366, "height": 860})
    await console.sign_in(admin)
    views = await open_views(console)
    hostile = '<img src=x onerror="document.title=1">'
    await views.get_by_label("Save the current filters and time range as").fill(hostile)
    await views.get_by_label("Shared with every key of this account").check()
    await views.get_by_role("button", name="Save view").click()
    await expect(views.get_by_role("button", name=hostile, exact=True)).to_be_visible()
    assert await views.locator("img").count() == 0
    await expect(views.get_by_text("Shared", exact=True)).to_be_visible()

    await views.get_by_role("button", name=f"Rename {hostile}").click()
    await views.get_by_label(f"New name for {hostile}").fill("Deletions")
    await views.get_by_role("button", name="Save", exact=True).click()
    await expect(views.get_by_role("button", name="Deletions", exact=True)).to_be_visible()
    await expect(views.get_by_role("button", name=hostile, exact=True)).to_have_count(0)

    # A name already taken is refused with the server's message, and nothing changes.
    await views.get_by_label("Save the current filters and time range as").fill("Deletions")
    await views.get_by_role("button", name="Save view").click()
    await expect(views.get_by_role("alert")).to_contain_text("already exists")

    await views.get_by_role("button", name="Delete Deletions").click()
    await views.get_by_role("button", name="Delete", exact=True).click()
    await expect(views.get_by_text("No saved views yet.")).to_be_visible()
    assert (await console.api.gql(VIEWS, token=admin.jwt)).ok()["savedFilters"] == []
    assert await page.title() != "1"


async def test_the_list_asked_for_on_opening_does_not_hide_a_view_saved_meanwhile(console: Console) -> None:
    """Opening the menu lists the views; saving one lists them again.  The opening's list, answered
    before the save but arriving after it, must not show the list without the new view."""
    admin = await seed(console)
    page = console.page
    await console.sign_in(admin)
    held = await hold_first_answer(page, lambda request: operation_is(request, "savedFilters("))
    views = await open_views(console)
    await held.until_held()
    await views.get_by_label("Save the current filters and time range as").fill("Last week")
    await views.get_by_role("button", name="Save view").click()
    await expect(views.get_by_role("button", name="Last week", exact=True)).to_be_visible()

    await note_answers_read(page)
    held.release()
    await until_read(page, "answer.data?.savedFilters?.length === 0", "the late, empty list")
    assert await views.get_by_role("button", name="Last week", exact=True).is_visible()
    assert not await views.get_by_text("No saved views yet.").is_visible()


async def test_a_reader_cannot_rename_a_colleagues_shared_view(console: Console) -> None:
    admin = await seed(console)
    reader = await console.api.key("acme", Role.READER)
    shared = {"name": "Team view", "data": '{"range": "24h"}', "type": "auditTrailEntries", "isPublic": True}
    await console.api.gql(
        "mutation($input: SavedFilterInput!) { savedFilterCreate(input: $input) { id } }",
        {"input": shared},
        token=admin.jwt,
    )
    await console.sign_in(reader)
    views = await open_views(console)
    await expect(views.get_by_role("button", name="Team view", exact=True)).to_be_visible()
    await expect(views.get_by_role("button", name="Rename Team view")).to_have_count(0)
    await views.get_by_role("button", name="Team view", exact=True).click()
    await expect(console.page.get_by_role("button", name="Last 24 hours")).to_be_visible()


@pytest.mark.parametrize("width", WIDTHS)
async def test_retention_is_shown_and_an_admin_changes_it(console: Console, width: int) -> None:
    admin = await seed(console)
    page = console.page
    await page.set_viewport_size({"width": width, "height": 860})
    await console.sign_in(admin)
    await expect(page.locator(".retention-line")).to_have_text("Events are kept 30 days.")

    await page.get_by_role("link", name="Configuration").click()
    retention = page.get_by_role("region", name="Retention")
    await retention.scroll_into_view_if_needed()
    await expect(retention.get_by_text("Events are kept 30 days.")).to_be_visible()
    await retention.get_by_label("Keep events for (days)").fill("5")
    await retention.get_by_role("button", name="Save retention").click()
    await expect(retention.get_by_role("status")).to_have_text("Saved: Events are kept 5 days.")
    if width == WIDTHS[0]:
        await save_screenshots(console, "retention", narrow=False)
    assert (await console.api.gql("{ auditTrailRetentionDays }", token=admin.jwt)).ok() == {
        "auditTrailRetentionDays": 5
    }
    await retention.get_by_label("Keep events for (days)").fill("0")
    await retention.get_by_role("button", name="Save retention").click()
    await expect(retention.locator(".form-status")).to_contain_text("retention must be between 1 and 3650 days, got 0")

    # A range older than retention: its empty state says why.
    await page.get_by_role("link", name="Logs").click()
    await expect(page.locator(".retention-line")).to_have_text("Events are kept 5 days.")
    await page.goto("/?range=custom&from=86400&to=172800")
    await expect(page.get_by_role("heading", name="No events match")).to_be_visible()
    await expect(page.locator(".retention-note")).to_contain_text("Events are kept 5 days")
    # Within retention, an empty range says nothing about it.
    await page.goto("/?range=1h&action=nothing.matches")
    await expect(page.get_by_role("heading", name="No events match")).to_be_visible()
    await expect(page.locator(".retention-note")).to_have_count(0)


async def test_a_reader_sees_retention_without_a_form(console: Console) -> None:
    reader = await seed(console, Role.READER)
    await console.sign_in(reader)
    await expect(console.page.locator(".retention-line")).to_have_text("Events are kept 30 days.")
    await expect(console.page.get_by_role("link", name="Configuration")).to_have_count(0)
    await expect(console.page.get_by_label("Keep events for (days)")).to_have_count(0)
