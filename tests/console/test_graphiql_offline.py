"""GraphiQL renders and runs a query with the network cut off: no request leaves the page's origin."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Request, Route, expect

# The policy the page is written for (the console's, with GraphiQL's fonts and icons as data: URLs).
GRAPHIQL_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "font-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


async def test_graphiql_renders_and_runs_a_query_offline_under_a_strict_csp(
    browser: BrowserContext, console_url: str
) -> None:
    own_origin = urlsplit(console_url).netloc
    elsewhere: list[str] = []

    async def cut_off_the_network(route: Route, request: Request) -> None:
        if urlsplit(request.url).netloc != own_origin and not request.url.startswith("data:"):
            elsewhere.append(request.url)
            await route.abort("internetdisconnected")
        elif urlsplit(request.url).path == "/graphql" and request.method == "GET":
            page_response = await route.fetch()
            headers = {**page_response.headers, "content-security-policy": GRAPHIQL_CSP}
            await route.fulfill(response=page_response, headers=headers)
        else:
            await route.continue_()

    await browser.route("**/*", cut_off_the_network)
    page = await browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)

    await page.goto("/graphql?q=%7B%20__typename%20%7D")
    await expect(page.locator(".graphiql-query-editor")).to_be_visible()
    await page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()
    await expect(page.locator(".result-window")).to_contain_text('"__typename": "Query"')

    assert elsewhere == []
    assert problems == []
