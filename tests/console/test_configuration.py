"""The Configuration tab against a real receiver and the real worker: set up, verify, toggle, delete, redeliver."""

from __future__ import annotations

import orjson
from playwright.async_api import expect

from api.models import Role
from tests.console.conftest import Console
from tests.console.test_logs import save_screenshots
from tests.helpers import Key
from tests.receivers import SET_WEBHOOK, Receiver, Reply, webhook_input


async def open_configuration(console: Console) -> Key:
    admin = await console.api.key("acme", Role.ADMIN)
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
    admin = await console.api.key("acme", Role.ADMIN)
    (await console.api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    await console.sign_in(admin)
    page = console.page
    await page.get_by_role("link", name="Configuration").click()
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
    admin = await console.api.key("acme", Role.ADMIN)
    # Retrying: a delivery that times out on a loaded machine is then pending, not failed.
    retrying = webhook_input(receiver.url, retryOnFailure=True)
    (await console.api.gql(SET_WEBHOOK, {"input": retrying}, token=admin.jwt)).ok()
    await console.sign_in(admin)
    page = console.page
    await page.get_by_role("link", name="Configuration").click()
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


async def test_a_webhook_set_up_without_a_secret_says_it_is_unsigned(console: Console, receiver: Receiver) -> None:
    await open_configuration(console)
    page = console.page
    await page.get_by_role("button", name="Set up webhook").click()
    await page.get_by_label("Endpoint URL").fill(receiver.url)
    await page.get_by_role("button", name="Save and verify").click()

    await expect(page.get_by_text("The webhook is set up.")).to_be_visible()
    await expect(page.locator(".unsigned")).to_have_text("Unsigned: deliveries carry no signature")
    assert receiver.requests[0].header("X-Signature-256") is None
