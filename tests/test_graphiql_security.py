"""GraphiQL at ``/graphql`` as a browser gets it: security headers, a policy naming exactly what the page
loads, nothing typed kept in the URL or localStorage, and no query string in the access log."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
import pytest

from api.app import create_app
from api.console.routes import CONTENT_SECURITY_POLICY as CONSOLE_POLICY
from api.models import Role
from api.settings import Settings
from tests.helpers import Api
from tests.support.live_server import serving

AS_A_BROWSER = {"accept": "text/html"}


class PageLoads(HTMLParser):
    """What a page loads (script sources, stylesheets) and the text of its inline scripts and styles."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.inline: dict[str, list[str]] = {"script": [], "style": []}
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.scripts.append(str(attributes["src"]))
        elif tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets.append(str(attributes["href"]))
        elif tag in self.inline:
            self._open = tag
            self.inline[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self.inline[self._open][-1] += data


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for directive in policy.split(";"):
        name, *sources = directive.split()
        parsed[name] = sources
    return parsed


async def test_graphiql_is_served_with_the_security_headers_of_the_console(app_client: httpx.AsyncClient) -> None:
    graphiql = await app_client.get("/graphql", headers=AS_A_BROWSER)
    console = await app_client.get("/")

    assert graphiql.status_code == 200 and "GraphiQL" in graphiql.text
    for page in (graphiql, console):
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert directives(page.headers["content-security-policy"])["frame-ancestors"] == ["'none'"]
        assert "unsafe-inline" not in page.headers["content-security-policy"]
        assert "unsafe-eval" not in page.headers["content-security-policy"]
    assert console.headers["content-security-policy"] == CONSOLE_POLICY


async def test_graphiqls_policy_allows_exactly_what_the_page_loads(app_client: httpx.AsyncClient) -> None:
    """Only this origin's files, no inline script or style: the policy says 'self' and nothing else."""
    response = await app_client.get("/graphql", headers=AS_A_BROWSER)
    page = PageLoads()
    page.feed(response.text)
    policy = directives(response.headers["content-security-policy"])

    assert page.scripts and page.stylesheets
    assert page.inline == {"script": [], "style": []}
    assert all(url.startswith("/graphql/static/") for url in page.scripts + page.stylesheets)
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["default-src"] == ["'none'"] and policy["connect-src"] == ["'self'"]
    assert "https:" not in response.headers["content-security-policy"]


async def test_graphiql_keeps_headers_and_queries_out_of_local_storage_and_the_url(
    app_client: httpx.AsyncClient,
) -> None:
    """A token in the headers editor or a key secret typed into apiKeyUser stays in the tab."""
    page = (await app_client.get("/graphql", headers=AS_A_BROWSER)).text
    start = (await app_client.get("/graphql/static/graphiql-start.js")).text

    assert "shouldPersistHeaders: false" in start
    assert "storage: window.sessionStorage" in start
    assert "localStorage" not in page + start
    for writes_the_url in ("history.", "location.search", "location.hash", "replaceState", "pushState"):
        assert writes_the_url not in start, writes_the_url


async def test_the_access_log_never_shows_graphql_query_strings(
    settings: Settings, api: Api, capfd: pytest.CaptureFixture[str]
) -> None:
    key = await api.key("acme", Role.READER)
    secret = "sk-typed-inline-0123456789abcdef"
    document = f'mutation {{ apiKeyUser(id: "{key.id}", secret: "{secret}") {{ jwt }} }}'
    async with serving(create_app(settings), log_level="info") as url, httpx.AsyncClient(base_url=url) as client:
        as_get = await client.get("/graphql", params={"query": "{ viewer { id } }", "secret": secret})
        mutation_over_get = await client.get("/graphql", params={"query": document})
        shared_graphiql_link = await client.get("/graphql", params={"query": document}, headers=AS_A_BROWSER)
        console_search = await client.get("/", params={"search": secret})
    logged = capfd.readouterr()

    assert [as_get.status_code, console_search.status_code] == [200, 200]
    assert mutation_over_get.status_code == shared_graphiql_link.status_code == 400  # no mutations over GET
    assert logged.out.count('"GET /graphql HTTP/1.1"') == 3  # the access log is on, and writes the path
    assert '"GET / HTTP/1.1" 200' in logged.out
    assert secret not in logged.out + logged.err
    assert "viewer" not in logged.out + logged.err
