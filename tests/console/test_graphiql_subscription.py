"""The README's live-tail subscription, run in GraphiQL as a user would: the token typed into the
headers editor travels in connection_init, and an event recorded afterwards shows in the result."""

from __future__ import annotations

import httpx
from playwright.async_api import BrowserContext, expect

from api.models import Role
from tests.helpers import Api

SUBSCRIPTION = "subscription { auditTrailEntryAdded(input: {}) { action actor { username } } }"
RECORD = "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) { id } }"
LOGIN = "mutation($id: ID!, $secret: String!) { apiKeyUser(id: $id, secret: $secret) { jwt } }"
SET_EDITOR = """([selector, text]) => document.querySelector(selector).CodeMirror.setValue(text)"""


async def test_a_subscription_typed_into_graphiql_shows_the_events_recorded_after_it(
    browser: BrowserContext, api: Api, console_url: str
) -> None:
    reader = await api.key("acme", Role.READER, login=False)
    async with httpx.AsyncClient(base_url=console_url) as client:  # the token's aud is the address GraphiQL uses
        login = await client.post(
            "/graphql", json={"query": LOGIN, "variables": {"id": reader.id, "secret": reader.secret}}
        )
    jwt = login.json()["data"]["apiKeyUser"]["jwt"]
    service = await api.key("acme", Role.SERVICE)
    page = await browser.new_page()
    await page.goto("/graphql")
    await expect(page.locator(".graphiql-query-editor .CodeMirror")).to_be_visible()
    await page.get_by_role("button", name="Headers").click()
    await expect(page.locator(".graphiql-editor-tool .CodeMirror").last).to_be_visible()

    await page.evaluate(SET_EDITOR, [".graphiql-query-editor .CodeMirror", SUBSCRIPTION])
    headers = f'{{"Authorization": "Bearer {jwt}"}}'
    await page.evaluate(
        """([text]) => { const editors = document.querySelectorAll(".graphiql-editor-tool .CodeMirror");
            editors[editors.length - 1].CodeMirror.setValue(text); }""",
        [headers],
    )
    # GraphiQL re-parses the document a moment after an edit; the Run button reads that parse to choose
    # the websocket for a subscription.
    await page.wait_for_timeout(1_000)
    await page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()
    # Subscribed once the feed listens; record until GraphiQL shows an event (the first may precede it).
    result = page.locator(".result-window")
    for attempt in range(20):
        events = [{"action": "stack.graphiql", "actor": f"github::try{attempt}", "eventType": "UPDATE"}]
        (await api.gql(RECORD, {"events": events}, token=service.jwt)).ok()
        try:
            await expect(result).to_contain_text("stack.graphiql", timeout=1_000)
            break
        except AssertionError:
            continue
    await expect(result).to_contain_text('"auditTrailEntryAdded"')
    await expect(result).to_contain_text("stack.graphiql")
