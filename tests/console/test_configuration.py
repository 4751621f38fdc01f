"""The Configuration tab against a real receiver and the real worker: set up, verify, toggle, delete, redeliver."""

from __future__ import annotations

from typing import Any

import orjson
from playwright.async_api import Request, expect

from api.audit.record import EventDraft, now_ms, record_events
from api.models import EventType, Role
from tests.console.conftest import Console
from tests.console.late_answers import hold_first_answer, note_answers_read, operation_is, until_read
from tests.console.seed import MINUTE_MS, ago, event, record
from tests.console.test_logs import save_screenshots
from tests.helpers import Key
from tests.receivers import SET_WEBHOOK, WEBHOOK_QUERY, Receiver, Reply, webhook_input


async def open_configuration(console: Console, webhook: dict[str, Any] | None = None) -> Key:
    """Sign in as a new ADMIN key of acme and open the Configuration tab; with ``webhook`` (an
    ``auditTrailSetWebhook`` input), that webhook is set up through the API first."""
    admin = await console.api.key("acme", Role.ADMIN)
    if webhook is not None:
        (await console.api.gql(SET_WEBHOOK, {"input": webhook}, token=admin.jwt)).ok()
    await console.sign_in(admin)
    await console.page.get_by_role("link", name="Configuration").click()
    await expect(console.page.get_by_role("heading", name="Webhook", exact=True)).to_be_visible()
    return admin


async def test_set_up_webhook_verifies_against_the_receiver(console: Console, receiver: Receiver) -> None:
    await open_configuration(console)
    page = console.page

    await page.get_by_role("button", name="Set up webhook").click()
    await page.get_by_label("Endpoint URL").fill(receiver.url)
    await page.get_by_label("Signing secret").fill("console-secret-123")
    await page.get_by_role("button", name="Add header").click()
    await page.get_by_label("Header name").fill("X-Collector-Token")
    await page.get_by_label("Value").fill("token-value-789")
    await page.get_by_label("Include runs").check()
    await expect(page.get_by_label("Retry on failure")).not_to_be_checked()  # off by default, as in Spacelift
    await page.get_by_label("Retry on failure").check()
    await page.get_by_role("button", name="Save and verify").click()

    await expect(page.get_by_text("The webhook is set up.")).to_be_visible()
    await expect(page.locator("section.webhook dd").nth(1)).to_have_text("Yes")
    await expect(page.locator(".endpoint")).to_have_text(receiver.url)
    await expect(page.locator(".header-names")).to_have_text("X-Collector-Token")
    await expect(page.get_by_text("token-value-789")).to_have_count(0)
    verification = receiver.requests[0]
    assert orjson.loads(verification.body)["action"] == "audit_trail_webhook.set"
    assert verification.header("X-Collector-Token") == "token-value-789"
    await expect(page.locator(".delivery-table tbody tr")).to_have_count(1)
    await save_screenshots(console, "configuration")
    secret_sha = await page.locator("code.sha").inner_text()

    await page.get_by_role("button", name="Edit").click()
    await expect(page.get_by_label("Signing secret")).to_have_value("")
    await page.get_by_label("Retry on failure").uncheck()
    await page.get_by_role("button", name="Save changes").click()

    await expect(page.get_by_text("The webhook is saved.")).to_be_visible()
    card = page.locator("section.webhook")
    await expect(card.locator("dd").nth(1)).to_have_text("No")
    await expect(page.locator("code.sha")).to_have_text(secret_sha)
    await expect(page.locator(".header-names")).to_have_text("X-Collector-Token")
    edited = await receiver.wait_for(2)
    assert edited[-1].header("X-Collector-Token") == "token-value-789"


async def test_failed_verification_shows_the_server_message_and_keeps_the_form(
    console: Console, receiver: Receiver
) -> None:
    receiver.default = Reply(status=500, body=b"collector is down")
    await open_configuration(console)
    page = console.page

    await page.get_by_role("button", name="Set up webhook").click()
    await page.get_by_label("Endpoint URL").fill(receiver.url)
    await page.get_by_label("Signing secret").fill("console-secret-123")
    await page.get_by_role("button", name="Save and verify").click()

    alert = page.locator("form.webhook-form").get_by_role("alert")
    await expect(alert).to_contain_text("500")
    await expect(page.get_by_label("Endpoint URL")).to_have_value(receiver.url)
    await expect(page.get_by_label("Signing secret")).to_have_value("console-secret-123")
    await expect(page.get_by_role("button", name="Set up webhook")).to_have_count(0)
    await save_screenshots(console, "webhook-form-error", narrow=False)


async def test_disable_enable_and_delete(console: Console, receiver: Receiver, worker: None) -> None:
    await open_configuration(console, webhook_input(receiver.url))
    page = console.page
    card = page.locator("section.webhook")
    await expect(card.get_by_text("Enabled", exact=True)).to_be_visible()

    await card.get_by_role("button", name="Disable").click()
    await expect(card.get_by_text("Disabled", exact=True)).to_be_visible()
    await receiver.wait_for(3)
    # A disabled webhook takes a test (the API sends it whatever the state): try before enabling.
    await card.get_by_role("button", name="Send test").click()
    await expect(page.get_by_text("Test payload delivered: HTTP 200")).to_be_visible()
    await card.get_by_role("button", name="Enable").click()
    await expect(card.get_by_text("Enabled", exact=True)).to_be_visible()
    # The enable event goes out through the worker; a delete settles whatever is still pending as FAILED
    # (only its own payload goes there then), so on a slow machine the delete could beat it: wait for it.
    await receiver.wait_for(5)

    await card.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete the webhook?")
    await expect(dialog).to_contain_text("final audit_trail_webhook.delete payload")
    await dialog.get_by_role("button", name="Delete webhook").click()

    await expect(page.get_by_role("button", name="Set up webhook")).to_be_visible()
    await receiver.wait_for(6)  # the console's sign-in is an event the webhook receives too
    assert [action for action in receiver.actions() if action != "account.login"] == [
        "audit_trail_webhook.set",
        "audit_trail_webhook.disable",
        "audit_trail_webhook.test",
        "audit_trail_webhook.enable",
        "audit_trail_webhook.delete",
    ]


async def test_redeliver_from_the_delivery_log(console: Console, receiver: Receiver) -> None:
    # Retrying: a delivery that times out on a loaded machine is then pending, not failed.
    await open_configuration(console, webhook_input(receiver.url, retryOnFailure=True))
    page = console.page
    log = page.locator("section.deliveries")
    row = log.locator("tbody tr", has_text="audit_trail_webhook.set")
    await expect(row).to_contain_text("Delivered")

    await row.get_by_role("button", name="Redeliver").click()

    await expect(log.get_by_text("Redelivered audit_trail_webhook.set: delivered (HTTP 200)")).to_be_visible()
    first, again = await receiver.wait_for(2)
    assert again.body == first.body
    assert again.header("X-Audit-Delivery-Id") == first.header("X-Audit-Delivery-Id")
    await expect(log.locator("tbody tr", has_text="audit_trail_webhook.set")).to_contain_text("2")
    await log.get_by_label("Status").select_option("FAILED")
    await expect(log.get_by_text("No failed deliveries.")).to_be_visible()


async def test_a_late_answer_of_an_older_load_does_not_replace_the_filtered_log(
    console: Console, receiver: Receiver
) -> None:
    """The log reloads on its own (every few seconds, and after a redelivery) while its filter can
    change: an answer for "All statuses" arriving after the "Failed" one must not show every row
    under "Failed" (seen once under load, when the redelivery's refresh came back last)."""
    await open_configuration(console, webhook_input(receiver.url))
    page = console.page
    log = page.locator("section.deliveries")
    await expect(log.locator("tbody tr", has_text="audit_trail_webhook.set")).to_contain_text("Delivered")
    held = await hold_first_answer(page, lambda request: operation_is(request, "query Deliveries", status=None))
    await log.get_by_role("button", name="Refresh").click()
    await held.until_held()
    await log.get_by_label("Status").select_option("FAILED")
    await expect(log.get_by_text("No failed deliveries.")).to_be_visible()

    await note_answers_read(page)
    held.release()
    await until_read(page, "answer.data?.webhook?.deliveries?.edges?.length > 0", "the late unfiltered answer")
    # Read once, not awaited with retries: the log's next refresh (5 s) would mend a wrong page.
    assert await log.locator("tbody tr").count() == 0
    assert await log.get_by_text("No failed deliveries.").is_visible()


async def test_a_next_page_arriving_after_a_filter_change_is_not_added_to_the_filtered_log(
    console: Console, receiver: Receiver
) -> None:
    """A next page asked for under "All statuses" ("Load more"), answered after the filter changed to
    "Delivered", must not add the other statuses' rows to the delivered ones.  No worker runs here: the recorded
    events' deliveries stay pending, and only the set-up's own payload is delivered."""
    admin = await open_configuration(console, webhook_input(receiver.url))
    await record(console.api, admin, [event("stack.update", "github::alice", ago(MINUTE_MS)) for _ in range(30)])
    page = console.page
    log = page.locator("section.deliveries")
    await log.get_by_role("button", name="Refresh").click()
    await expect(log.locator("tbody tr")).to_have_count(25)

    def next_page(request: Request) -> bool:
        variables = (request.post_data_json or {}).get("variables") or {}
        return operation_is(request, "query Deliveries") and bool(variables.get("after"))

    held = await hold_first_answer(page, next_page)
    await log.get_by_role("button", name="Load more").click()
    await held.until_held()
    await log.get_by_label("Status").select_option("DELIVERED")
    await expect(log.locator("tbody tr")).to_have_count(1)
    await expect(log.locator("tbody tr")).to_contain_text("audit_trail_webhook.set")

    await note_answers_read(page)
    held.release()
    pending = "answer.data?.webhook?.deliveries?.edges?.some((edge) => edge.node.status === 'PENDING')"
    await until_read(page, pending, "the late next page")
    # Read once, not awaited with retries.
    assert await log.locator("tbody tr").count() == 1
    assert await log.locator(".badge.status-pending").count() == 0


async def test_a_refresh_answered_after_a_disable_does_not_show_the_webhook_enabled(
    console: Console, receiver: Receiver
) -> None:
    """The card reloads every 5 s and after each change: a reload answered "Enabled" before Disable
    but arriving after the Disable's own reload must not show the webhook enabled again."""
    await open_configuration(console, webhook_input(receiver.url))
    page = console.page
    card = page.locator("section.webhook")
    await expect(card.get_by_text("Enabled", exact=True)).to_be_visible()
    held = await hold_first_answer(page, lambda request: operation_is(request, "query Webhook"))
    await card.get_by_role("button", name="Send test").click()  # reloads the card once sent
    await expect(page.get_by_text("Test payload delivered: HTTP 200")).to_be_visible()
    await held.until_held()
    await card.get_by_role("button", name="Disable").click()
    await expect(card.get_by_text("Disabled", exact=True)).to_be_visible()

    await note_answers_read(page)
    held.release()
    await until_read(page, "answer.data?.auditTrailWebhook?.enabled === true", "the late answer")
    # Read once, not awaited with retries: the next refresh would mend a wrong card.
    assert await card.get_by_text("Disabled", exact=True).is_visible()
    assert await card.get_by_role("button", name="Enable").is_visible()


async def test_a_webhook_set_up_without_a_secret_says_it_is_unsigned(console: Console, receiver: Receiver) -> None:
    await open_configuration(console)
    page = console.page
    await page.get_by_role("button", name="Set up webhook").click()
    await page.get_by_label("Endpoint URL").fill(receiver.url)
    await page.get_by_role("button", name="Save and verify").click()

    await expect(page.get_by_text("The webhook is set up.")).to_be_visible()
    await expect(page.locator(".unsigned")).to_have_text("Unsigned: deliveries carry no signature")
    assert receiver.requests[0].header("X-Signature-256") is None


async def test_a_delivery_opens_its_attempts_and_redeliver_stays_in_view(console: Console, receiver: Receiver) -> None:
    admin = await console.api.key("acme", Role.ADMIN)
    header_value = "collector-token-4d2f"
    with_header = webhook_input(
        receiver.url, customHeaders={"entries": [{"key": "X-Collector-Token", "value": header_value}]}
    )
    set_up = (await console.api.gql(SET_WEBHOOK, {"input": with_header}, token=admin.jwt)).ok()
    assert set_up["auditTrailSetWebhook"]["enabled"]
    # The verification was attempt 1 (HTTP 200); a redelivery now meets a long failure: attempt 2.
    receiver.default = Reply(status=500, body=b"upstream collector failed: " + b"x" * 3000)
    webhook = (await console.api.gql(WEBHOOK_QUERY, {}, token=admin.jwt)).ok()["auditTrailWebhook"]
    [set_delivery] = [
        e["node"] for e in webhook["deliveries"]["edges"] if e["node"]["action"] == "audit_trail_webhook.set"
    ]
    redeliver = "mutation($id: ID!) { auditTrailRedeliver(id: $id) { status } }"
    (await console.api.gql(redeliver, {"id": set_delivery["id"]}, token=admin.jwt)).ok()

    await console.sign_in(admin)
    page = console.page
    await page.get_by_role("link", name="Configuration").click()
    log = page.locator("section.deliveries")
    row = log.locator("tbody tr", has_text="audit_trail_webhook.set")
    await expect(row).to_contain_text("500")
    await expect(row).to_contain_text("Not retried: retry on failure is off")
    await expect(row.get_by_role("button", name="Redeliver")).to_be_in_viewport(ratio=1)
    # The console's own sign-in is owed to the webhook and no worker runs here: queued.
    await expect(log.locator("tbody tr", has_text="account.login")).to_contain_text("Queued")

    await row.get_by_role("button", name="Attempts of audit_trail_webhook.set").click()
    drawer = page.get_by_role("dialog", name="Delivery of audit_trail_webhook.set")
    await expect(drawer).to_be_visible()
    newest, oldest = drawer.locator("section.attempt").nth(0), drawer.locator("section.attempt").nth(1)
    await expect(newest).to_contain_text("Attempt 2")
    await expect(newest).to_contain_text("HTTP 500")
    await expect(newest).to_contain_text("upstream collector failed")
    await expect(oldest).to_contain_text("HTTP 200")
    await expect(newest.locator(".header-table tr", has_text="X-Collector-Token")).to_contain_text("[REDACTED]")
    await expect(page.get_by_text(header_value)).to_have_count(0)
    await expect(drawer.get_by_label("Request body")).to_contain_text('"action": "audit_trail_webhook.set"')
    await save_screenshots(console, "delivery-drawer", narrow=False)

    # The log refreshes by itself while the tab is open.
    draft = EventDraft(action="refresh.seen", event_type=EventType.UPDATE, actor="github::alice", timestamp_ms=now_ms())
    async with console.api.db.transaction() as session:
        await record_events(session, [draft], account_id=admin.account_id, account_name="acme", recorded_by=admin.id)
    await expect(log.locator("tbody tr", has_text="refresh.seen")).to_contain_text("Queued", timeout=15_000)

    await drawer.get_by_role("link", name="Open in Logs").click()
    details = page.get_by_role("dialog", name="Event details")
    await expect(details).to_be_visible()
    await expect(details).to_contain_text(set_delivery["eventId"])
