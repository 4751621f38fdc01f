"""The delivery log in Chromium: "Redeliver all failed" after an outage, and a deleted webhook's final
delivery staying in view, queued, then delivered."""

from __future__ import annotations

import orjson
from playwright.async_api import expect

from api.models import Role
from api.settings import Settings
from tests.console.conftest import Console
from tests.receivers import SET_WEBHOOK, Receiver, Reply, running_worker, webhook_input
from tests.support.polling import poll
from tests.test_audit_support import draft, seed


def actions(receiver: Receiver, after: int = 0) -> list[str]:
    return [orjson.loads(request.body)["action"] for request in receiver.requests[after:]]


async def test_redeliver_all_failed_sends_the_failed_deliveries_again(
    console: Console, receiver: Receiver, worker: None
) -> None:
    admin = await console.api.key("acme", Role.ADMIN)
    (await console.api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    receiver.default = Reply(status=503)
    await seed(console.api.db, admin.account_id, [draft("outage.one"), draft("outage.two")])
    await poll(
        lambda: actions(receiver).count("outage.one") == actions(receiver).count("outage.two") == 1,
        what="the outage's failed attempts",
    )
    receiver.default = Reply()

    await console.sign_in(admin)
    page = console.page
    await page.get_by_role("link", name="Configuration").click()
    log = page.locator("section.deliveries")
    for action in ("outage.one", "outage.two"):  # recorded just after the receiver answered
        await expect(log.locator("tbody tr", has_text=action)).to_contain_text("Failed", timeout=15_000)
    mark = len(receiver.requests)
    await log.get_by_role("button", name="Redeliver all failed").click()
    dialog = page.get_by_role("dialog", name="Redeliver all failed deliveries?")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="Redeliver", exact=True).click()
    await expect(log.locator(".page-status")).to_contain_text("Queued 2 failed deliveries for redelivery.")
    for action in ("outage.one", "outage.two"):
        await expect(log.locator("tbody tr", has_text=action)).to_contain_text("Delivered", timeout=15_000)
    assert sorted(a for a in actions(receiver, mark) if a.startswith("outage.")) == ["outage.one", "outage.two"]


async def test_after_a_delete_the_final_delivery_stays_visible_queued_then_delivered(
    console: Console, receiver: Receiver, settings: Settings
) -> None:
    admin = await console.api.key("acme", Role.ADMIN)
    (await console.api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    await console.sign_in(admin)
    page = console.page
    await page.get_by_role("link", name="Configuration").click()
    await page.get_by_role("button", name="Delete", exact=True).click()
    await page.get_by_role("dialog", name="Delete the webhook?").get_by_role("button", name="Delete webhook").click()

    await expect(page.get_by_role("heading", name="No webhook is set up")).to_be_visible()
    log = page.locator("section.deliveries")
    await expect(log.get_by_role("heading", name="Delivery log of the deleted webhook")).to_be_visible()
    await expect(log).to_contain_text(f"{receiver.url} was deleted")
    final = log.locator("tbody tr", has_text="audit_trail_webhook.delete")
    await expect(final).to_contain_text("Queued")  # no worker yet: owed, not sent
    # The console's own sign-in was still queued: the delete settled it unsent, and says so.
    await expect(log.locator("tbody tr", has_text="account.login")).to_contain_text("the webhook was deleted")
    await expect(log.get_by_role("button", name="Redeliver all failed")).to_be_hidden()
    await expect(final.get_by_role("button", name="Redeliver")).to_have_count(0)

    async with running_worker(settings):
        await expect(final).to_contain_text("Delivered", timeout=15_000)
    assert actions(receiver)[-1] == "audit_trail_webhook.delete"
