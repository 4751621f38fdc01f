"""The Logs tab's Export button: the file holds what the current filters show, named for the account."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from playwright.async_api import expect

from api.models import Role
from tests.console.conftest import Console
from tests.console.seed import HOUR_MS, ago, event, record


async def test_export_downloads_what_the_filters_show(console: Console) -> None:
    reader = await console.api.key("acme", Role.READER)
    admin = await console.api.key("acme", Role.ADMIN)
    await record(
        console.api,
        admin,
        [
            event("stack.create", "github::alice", ago(2 * HOUR_MS), ("STACK", "prod-api")),
            event("stack.delete", "=cmd|' /C calc'!A0::x", ago(3 * HOUR_MS), ("STACK", "old-api")),
            event("policy.update", "github::alice", ago(4 * HOUR_MS), ("POLICY", "deny-public")),
        ],
    )
    await console.sign_in(reader)
    page = console.page
    await page.locator("fieldset[data-field='action']").get_by_label("stack.delete").click()
    await page.locator("fieldset[data-field='action']").get_by_label("stack.create").click()
    await expect(page.locator("table.events tbody tr")).to_have_count(2)
    await page.get_by_role("button", name="Export").click()
    async with page.expect_download() as download_info:
        await page.get_by_role("menuitem", name="CSV (spreadsheets)").click()
    download = await download_info.value
    assert download.suggested_filename.startswith("audittrail-acme-") and download.suggested_filename.endswith(".csv")
    content = Path(await download.path()).read_text()
    records = list(csv.DictReader(io.StringIO(content, newline="")))
    assert [(r["action"], r["actor"]) for r in records] == [
        ("stack.create", "github::alice"),
        ("stack.delete", "'=cmd|' /C calc'!A0::x"),
    ]
