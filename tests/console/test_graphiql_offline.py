"""GraphiQL in a real browser with the network cut off: it renders and runs a query under the page's own
policy, no request leaves the page's origin, and an injected inline script is refused."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Request, Route, expect

INJECT_A_SCRIPT = """() => new Promise((resolve) => {
    document.addEventListener("securitypolicyviolation", (event) => resolve(event.effectiveDirective));
    const script = document.createElement("script");
    script.textContent = "window.injected = true";
    document.body.appendChild(script);
    setTimeout(() => resolve(window.injected ? "ran" : "nothing reported"), 3000);
})"""


async def test_graphiql_renders_and_runs_a_query_offline_under_its_policy(
    browser: BrowserContext, console_url: str
) -> None:
    own_origin = urlsplit(console_url).netloc
    elsewhere: list[str] = []

    async def cut_off_the_network(route: Route, request: Request) -> None:
        if urlsplit(request.url).netloc != own_origin and not request.url.startswith("data:"):
            elsewhere.append(request.url)
            await route.abort("internetdisconnected")
        else:
            await route.continue_()

    await browser.route("**/*", cut_off_the_network)
    page = await browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)

    response = await page.goto("/graphql")
    assert response is not None and "frame-ancestors 'none'" in response.headers["content-security-policy"]
    await expect(page.locator(".graphiql-query-editor")).to_be_visible()
    await page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()
    await expect(page.locator(".result-window")).to_contain_text('"debugInfo"')

    assert elsewhere == []
    assert problems == []
    assert "q=" not in page.url and "query" not in page.url  # nothing typed is written into the address
    assert await page.evaluate(INJECT_A_SCRIPT) == "script-src-elem"
