"""The console's HTTP surface, without a browser: index, static files, config and their headers."""

from __future__ import annotations

import httpx

from api.console.routes import CONTENT_SECURITY_POLICY


async def test_root_serves_the_console_page_with_a_strict_csp(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/console/static/js/main.js"></script>' in response.text
    csp = response.headers["content-security-policy"]
    assert csp == CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp


async def test_static_files_and_config_carry_the_csp(app_client: httpx.AsyncClient) -> None:
    script = await app_client.get("/console/static/js/main.js")
    config = await app_client.get("/console/config.json")

    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert script.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert config.json() == {"resourceUrlTemplate": None}
    assert config.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


async def test_graphiql_has_a_policy_of_its_own(app_client: httpx.AsyncClient) -> None:
    """GraphiQL's files are this service's too, but its page's policy is its own (no console paths)."""
    response = await app_client.get("/graphql", headers={"accept": "text/html"})

    assert response.headers["content-security-policy"] != CONTENT_SECURITY_POLICY
    assert "https:" not in response.headers["content-security-policy"]


async def test_unknown_static_file_is_not_found(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/console/static/../routes.py")

    assert response.status_code == 404
