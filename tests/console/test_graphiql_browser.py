"""GraphiQL's page in a real browser: its policy is enforced, and lets the page's own script and style run.

The CDN is out of reach here, so GraphiQL itself does not start; what a browser proves is that the
hashes in the policy match the inline script and style the page ships, and that anything else
inline is refused.
"""

from __future__ import annotations

from playwright.async_api import BrowserContext

INJECT_A_SCRIPT = """() => new Promise((resolve) => {
    document.addEventListener("securitypolicyviolation", (event) => resolve(event.effectiveDirective));
    const script = document.createElement("script");
    script.textContent = "window.injected = true";
    document.body.appendChild(script);
    setTimeout(() => resolve(window.injected ? "ran" : "nothing reported"), 3000);
})"""


async def test_graphiqls_policy_lets_its_own_inline_code_run_and_refuses_any_other(browser: BrowserContext) -> None:
    page = await browser.new_page()
    violations: list[str] = []
    page_errors: list[str] = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security" in message.text else None)
    page.on("pageerror", lambda error: page_errors.append(str(error)))

    response = await page.goto("/graphql")

    assert response is not None and "frame-ancestors 'none'" in response.headers["content-security-policy"]
    # The inline style applied, and the inline script ran (up to GraphiQL itself, which the CDN did not send).
    assert await page.evaluate("getComputedStyle(document.getElementById('graphiql')).display") == "flex"
    graphiql_started = await page.locator(".graphiql-container").count() > 0
    assert graphiql_started or any("GraphiQL is not defined" in error for error in page_errors), page_errors
    assert violations == []
    assert await page.evaluate(INJECT_A_SCRIPT) == "script-src-elem"
