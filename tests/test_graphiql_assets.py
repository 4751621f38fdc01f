"""GraphiQL's page names only files this service serves, and serves every one of them."""

from __future__ import annotations

import re

import httpx

from api.app import create_app
from api.settings import Settings
from tests.support.live_server import serving


async def test_graphiql_page_loads_only_its_own_origins_files(app_client: httpx.AsyncClient) -> None:
    page = await app_client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200

    references = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "<script>" not in page.text, "no inline script: the page runs under script-src 'self'"
    assert len(references) == 9
    assert [url for url in references if not url.startswith("/")] == []
    for url in references:
        asset = await app_client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].split(";")[0] in {"text/javascript", "text/css", "image/svg+xml"}, url
        assert b"unpkg.com" not in asset.content and b"cdn.jsdelivr" not in asset.content, url


async def test_graphiql_files_are_not_served_when_graphiql_is_off(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"graphiql": False}))
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as client:
        script = await client.get("/graphql/static/graphiql-start.js")
    assert script.status_code == 404


async def test_graphiql_static_files_do_not_reach_outside_their_folder(app_client: httpx.AsyncClient) -> None:
    for path in ("/graphql/static/..%2f..%2fsettings.py", "/graphql/static/%2e%2e/__init__.py"):
        response = await app_client.get(path)
        assert response.status_code == 404, path
        assert b"BaseSettings" not in response.content and b"graphiql_routes" not in response.content
