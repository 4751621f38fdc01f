"""Sign-in: API key id and secret for a session token; roles decide the sections; expiry signs out."""

from __future__ import annotations

from playwright.async_api import expect

from api.models import Role
from tests.console.conftest import Console


async def test_good_key_signs_in_to_the_logs(console: Console) -> None:
    key = await console.api.key("acme", Role.ADMIN, login=False)

    await console.sign_in(key)

    page = console.page
    await expect(page.get_by_role("link", name="Logs")).to_have_attribute("aria-current", "page")
    await expect(page.get_by_role("link", name="Configuration")).to_be_visible()
    await expect(page.locator("header")).to_contain_text("acme")
    stored = await page.evaluate("() => JSON.stringify({...sessionStorage}) + JSON.stringify({...localStorage})")
    assert key.secret not in stored
    assert key.secret not in page.url


async def test_bad_secret_is_refused_with_a_message(console: Console) -> None:
    key = await console.api.key("acme", Role.ADMIN, login=False)
    page = console.page

    await page.goto("/")
    await page.get_by_label("API key id").fill(key.id)
    await page.get_by_label("Secret").fill("not-the-secret")
    await page.get_by_role("button", name="Sign in").click()

    await expect(page.get_by_role("alert")).to_be_visible()
    await expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    assert await page.evaluate("() => sessionStorage.length") == 0


async def test_reader_sees_logs_only(console: Console) -> None:
    key = await console.api.key("acme", Role.READER, login=False)

    await console.sign_in(key)

    await expect(console.page.get_by_role("link", name="Logs")).to_be_visible()
    await expect(console.page.get_by_role("link", name="Configuration")).to_have_count(0)
    await console.page.goto("/?tab=config")
    await expect(console.page.get_by_role("heading", name="Webhook")).to_have_count(0)
    await expect(console.page.locator("table.events")).to_be_visible()


async def test_expired_token_goes_back_to_sign_in_with_a_message(console: Console) -> None:
    key = await console.api.key("acme", Role.ADMIN, login=False)
    await console.sign_in(key)
    page = console.page
    # The Logs' own requests settle first: none of them may answer after the session is edited.
    await expect(page.locator(".integrity .badge")).to_have_text("Not digested yet")

    await page.evaluate(
        """() => {
            const session = JSON.parse(sessionStorage.getItem("audittrail.session"));
            sessionStorage.setItem("audittrail.session", JSON.stringify({...session, validUntil: 1}));
        }"""
    )
    await page.reload()

    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    await expect(page.get_by_text("Your session has expired")).to_be_visible()


async def test_refused_token_goes_back_to_sign_in(console: Console) -> None:
    key = await console.api.key("acme", Role.ADMIN, login=False)
    await console.sign_in(key)
    page = console.page
    # The Logs' own requests settle first (the integrity check sends two in a row): the click sends the forged token.
    await expect(page.locator(".integrity .badge")).to_have_text("Not digested yet")

    await page.evaluate(
        """() => {
            const session = JSON.parse(sessionStorage.getItem("audittrail.session"));
            sessionStorage.setItem("audittrail.session", JSON.stringify({...session, jwt: "forged.token.value"}));
        }"""
    )
    await page.get_by_role("button", name="Search").click()

    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    await expect(page.get_by_text("Sign in again")).to_be_visible()
