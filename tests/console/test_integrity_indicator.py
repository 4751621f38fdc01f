"""The Logs tab's integrity indicator: verified for an untouched range, the problem with its kind and id
once an event's body is edited in the database behind the service's back, and Verify re-runs."""

from __future__ import annotations

import re

from playwright.async_api import expect

from api import integrity
from api.audit.record import EventDraft, now_ms, record_events
from api.models import EventType, Role
from api.settings import Settings
from tests.console.conftest import Console
from tests.console.seed import HOUR_MS, ago, event, record
from tests.integrity.support import digest_everything, execute

AUTO_VERIFY_LIMIT = 20_000
"""js/integrity.js: ranges of more recorded events wait for Verify."""


async def test_integrity_shows_verified_then_the_tampered_event_after_verify(
    console: Console, settings: Settings
) -> None:
    admin = await console.api.key("acme", Role.ADMIN)
    reader = await console.api.key("acme", Role.READER)
    entries = await record(
        console.api,
        admin,
        [
            event("stack.create", "github::alice", ago(2 * HOUR_MS), ("STACK", "prod-api")),
            event("stack.delete", "github::bob", ago(3 * HOUR_MS), ("STACK", "old-api")),
        ],
    )
    await digest_everything(console.api.db, integrity.KeyRing.from_settings(settings).signing_key)
    await console.sign_in(reader)
    page = console.page
    indicator = page.get_by_role("region", name="Integrity of this time range")

    await expect(indicator.locator(".badge")).to_have_text("Verified")
    await expect(indicator).to_contain_text("signed digest")
    await expect(indicator.get_by_role("list", name="Integrity problems")).to_have_count(0)

    tampered = entries[1]["id"]
    await execute(
        console.api.db,
        "UPDATE audit_events SET body = replace(body, 'github::bob', 'github::eve') WHERE id = :id",
        id=tampered,
    )
    await indicator.get_by_role("button", name="Verify").click()

    await expect(indicator.locator(".badge")).to_have_text("1 integrity problem")
    problem = indicator.get_by_role("list", name="Integrity problems").get_by_role("listitem")
    await expect(problem).to_have_count(1)
    await expect(problem).to_contain_text(f"MODIFIED {tampered}")
    await problem.get_by_role("button", name=f"Details of event {tampered}").click()
    await expect(page.get_by_role("dialog", name="Event details")).to_contain_text(tampered)


async def test_a_range_with_no_digest_yet_says_so(console: Console) -> None:
    admin = await console.api.key("acme", Role.ADMIN)
    await console.sign_in(admin)
    indicator = console.page.get_by_role("region", name="Integrity of this time range")

    await expect(indicator.locator(".badge")).to_have_text("Not digested yet")
    await expect(indicator).to_contain_text("match their own hashes and wait for their first digest")


async def test_a_range_too_large_to_verify_on_sight_waits_for_verify(console: Console) -> None:
    reader = await console.api.key("acme", Role.READER)
    drafts = [
        EventDraft(action="bulk.import", actor="github::alice", timestamp_ms=now_ms(), event_type=EventType.UPDATE)
        for _ in range(AUTO_VERIFY_LIMIT + 1)
    ]
    async with console.api.db.transaction() as session:
        await record_events(session, drafts, account_id=reader.account_id, account_name="acme", recorded_by=None)
    await console.sign_in(reader)
    indicator = console.page.get_by_role("region", name="Integrity of this time range")

    await expect(indicator.locator(".badge")).to_have_text("Not verified yet")
    await expect(indicator).to_contain_text(re.compile(r"20,00\d events were recorded in this range"))
    await expect(indicator.get_by_role("button", name="Verify")).to_be_enabled()
