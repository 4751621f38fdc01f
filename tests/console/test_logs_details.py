"""The Logs tab's rows and details: a row opens its details, details values filter like the table's cells,
the service's own resources open inside the console, and times are shown whole with their zone."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from playwright.async_api import Browser, expect

from api.models import Role
from tests.console.conftest import Console
from tests.console.seed import DAY_MS, HOUR_MS, ago, event, record
from tests.console.test_logs import actions_column, rows, seed_story
from tests.helpers import Api, Key
from tests.receivers import SET_WEBHOOK, WEBHOOK_QUERY, Receiver, webhook_input

REDELIVER = "mutation($id: ID!) { auditTrailRedeliver(id: $id) { status } }"


async def open_row(console: Console, action: str) -> None:
    """Click the row of ``action`` where no value is: its event type badge."""
    await rows(console).filter(has_text=action).locator("td:nth-child(2)").click()


@pytest.mark.parametrize("width", [1280, 1366])
async def test_a_click_anywhere_on_a_row_but_the_menu_button_opens_its_details(console: Console, width: int) -> None:
    admin, _ = await seed_story(console)
    page = console.page
    await page.set_viewport_size({"width": width, "height": 860})
    await console.sign_in(admin)
    panel = page.get_by_role("dialog", name="Event details")
    row = rows(console).filter(has_text="stack.delete")

    await row.locator(".value", has_text="github::bob").click()  # the value's text, not its menu button

    await expect(panel).to_contain_text("STACK / old-api")
    await expect(page.get_by_role("menu")).to_have_count(0)
    await expect(row).to_have_class(re.compile("is-selected"))
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()

    await row.get_by_role("button", name="Options for github::bob").click()
    await expect(page.get_by_role("menu")).to_be_visible()
    await expect(panel).to_be_hidden()
    await page.keyboard.press("Escape")

    policy_row = rows(console).filter(has_text="context.attach")
    await policy_row.focus()
    await page.keyboard.press("Enter")
    await expect(panel).to_contain_text("CONTEXT / shared-env")


async def test_filtering_and_excluding_from_a_details_value_applies_and_reloads(console: Console) -> None:
    admin, _ = await seed_story(console)
    await console.sign_in(admin)
    page = console.page
    panel = page.get_by_role("dialog", name="Event details")
    await expect(rows(console)).to_have_count(6)

    await open_row(console, "stack.delete")
    await panel.get_by_role("button", name="Options for github::bob").click()
    await page.get_by_role("menuitem", name="Filter by this").click()

    await expect(actions_column(console)).to_have_text(["context.attach", "stack.delete"])
    await expect(page.get_by_role("button", name="Remove filter: Actor is github::bob")).to_be_visible()
    assert "actor=github%3A%3Abob" in page.url

    await open_row(console, "context.attach")
    await expect(panel).to_contain_text("CONTEXT / shared-env")
    await panel.get_by_role("button", name="Options for CONTEXT / shared-env").click()
    await page.get_by_role("menuitem", name="Exclude this").click()

    await expect(actions_column(console)).to_have_text(["stack.delete"])
    await expect(page.get_by_role("button", name="Remove filter: Resource id is not shared-env")).to_be_visible()


async def test_own_resources_open_inside_the_console_and_others_through_the_template(
    console: Console, receiver: Receiver
) -> None:
    admin = await console.api.key("acme", Role.ADMIN)
    reader = await console.api.key("acme", Role.READER)
    (await console.api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    webhook = (await console.api.gql(WEBHOOK_QUERY, {}, token=admin.jwt)).ok()["auditTrailWebhook"]
    delivery = webhook["deliveries"]["edges"][0]["node"]
    (await console.api.gql(REDELIVER, {"id": delivery["id"]}, token=admin.jwt)).ok()
    await console.sign_in(admin)
    page = console.page
    panel = page.get_by_role("dialog", name="Event details")

    # The webhook: a link inside the console (no new tab), never the customer's URL template.
    await open_row(console, "audit_trail_webhook.set")
    await panel.get_by_role("button", name=re.compile(r"^Options for AUDIT_TRAIL_WEBHOOK ")).click()
    link = page.get_by_role("menuitem", name="Go to the webhook")
    await expect(link).to_have_attribute("href", re.compile(r"^/\?tab=config&webhook=\w+$"))
    assert await link.get_attribute("target") is None
    await expect(page.get_by_role("menuitem", name="Go to affected resource")).to_have_count(0)
    await link.click()
    await expect(page.locator("section.webhook")).to_be_focused()
    await expect(page.get_by_role("link", name="Configuration")).to_have_attribute("aria-current", "page")

    # A delivery: its drawer on the Configuration tab.
    await page.get_by_role("link", name="Logs").click()
    await open_row(console, "audit_trail_webhook.redeliver")
    await panel.get_by_role("button", name=f"Options for AUDIT_TRAIL_DELIVERY / {delivery['id']}").click()
    await page.get_by_role("menuitem", name="Open the delivery").click()
    drawer = page.get_by_role("dialog", name="Delivery of audit_trail_webhook.set")
    await expect(drawer).to_contain_text(delivery["id"])

    # An API key: the reader's login is recorded on the USER the key acts as.
    await page.go_back()
    await expect(rows(console).first).to_be_visible()
    await page.get_by_role("button", name=f"Options for USER / {admin.id}").first.click()
    await page.get_by_role("menuitem", name="Open the API key").click()
    key_drawer = page.get_by_role("dialog", name="API key admin key")
    await expect(key_drawer).to_contain_text(admin.id)
    await expect(key_drawer).to_contain_text("ADMIN")
    await expect(key_drawer).not_to_contain_text(admin.secret)
    await key_drawer.get_by_role("link", name="Events by this key").click()
    await expect(page.get_by_role("button", name=f"Remove filter: Actor is api::{admin.id}")).to_be_visible()

    # A READER has no Configuration tab: the own resources offer no link at all.
    await page.get_by_role("button", name="Sign out").click()
    await console.sign_in(reader)
    await open_row(console, "audit_trail_webhook.set")
    await panel.get_by_role("button", name=re.compile(r"^Options for AUDIT_TRAIL_WEBHOOK ")).click()
    await expect(page.get_by_role("menuitem", name="Filter by this")).to_be_visible()
    await expect(page.get_by_role("menuitem")).to_have_count(2)


@pytest.fixture(params=[("UTC", "UTC"), ("America/New_York", "EST")], ids=["utc", "new-york"])
async def en_us_console(
    request: pytest.FixtureRequest, chromium: Browser, console_url: str, api: Api
) -> AsyncIterator[Console]:
    """The console in en-US (its 12-hour times were the ones cut) in the zone of the param."""
    zone, _ = request.param
    context = await chromium.new_context(
        viewport={"width": 1280, "height": 860}, base_url=console_url, timezone_id=zone, locale="en-US"
    )
    context.set_default_timeout(10_000)
    yield Console(await context.new_page(), api)
    await context.close()


async def seed_times(api: Api) -> tuple[Key, float]:
    """An admin and events at times of day whose text is widest (two-digit hours, a late date)."""
    admin = await api.key("acme", Role.ADMIN)
    when = float(int(ago(2 * HOUR_MS)) // 1000 * 1000 + 456)  # not a whole second: the details show the ms
    await record(
        api,
        admin,
        [event("stack.create", "github::alice", when), event("stack.delete", "github::bob", ago(3 * DAY_MS))],
    )
    return admin, when


@pytest.mark.parametrize("width", [1280, 1366])
async def test_times_show_whole_with_their_zone(
    en_us_console: Console, width: int, request: pytest.FixtureRequest
) -> None:
    zone_name = request.node.callspec.params["en_us_console"][1]
    admin, when = await seed_times(en_us_console.api)
    page = en_us_console.page
    await page.set_viewport_size({"width": width, "height": 860})
    await en_us_console.sign_in(admin)
    await expect(rows(en_us_console)).to_have_count(4)

    times = page.locator("table.events tbody td:nth-child(1)")
    for text in await times.all_inner_texts():
        assert re.fullmatch(rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\s+{zone_name}", text.strip()), text
    cut = await times.evaluate_all("cells => cells.filter((cell) => cell.scrollWidth > cell.clientWidth).length")
    assert cut == 0

    await open_row(en_us_console, "stack.create")
    shown = (
        page.get_by_role("dialog", name="Event details")
        .locator("dt", has_text="Time")
        .locator("xpath=following-sibling::dd[1]")
    )
    moment = datetime.fromtimestamp(when / 1000, UTC)
    await expect(shown).to_contain_text(f"{int(when)} ms since the epoch")
    await expect(shown).to_contain_text(moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
    await expect(shown).to_contain_text(re.compile(rf":\d\d\.{int(when) % 1000:03d}\s+{zone_name}"))


async def test_links_to_another_accounts_delivery_or_key_show_nothing_of_it(
    console: Console, receiver: Receiver
) -> None:
    theirs = await console.api.key("globex", Role.ADMIN)
    (await console.api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=theirs.jwt)).ok()
    webhook = (await console.api.gql(WEBHOOK_QUERY, {}, token=theirs.jwt)).ok()["auditTrailWebhook"]
    their_delivery = webhook["deliveries"]["edges"][0]["node"]
    admin = await console.api.key("acme", Role.ADMIN)
    await console.sign_in(admin)
    page = console.page

    await page.goto(f"/?tab=config&delivery={their_delivery['id']}")
    drawer = page.get_by_role("dialog", name="Delivery")
    await expect(drawer).to_contain_text(f"No delivery {their_delivery['id']} in this account.")
    await expect(drawer).not_to_contain_text(their_delivery["eventId"])

    await page.goto(f"/?tab=config&key={theirs.id}")
    key_drawer = page.get_by_role("dialog", name="API key")
    await expect(key_drawer).to_contain_text(f"No API key {theirs.id} in this account.")
    await expect(key_drawer).not_to_contain_text("globex")
