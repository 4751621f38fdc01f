"""Routes that serve the web console: ``/`` (index.html), ``/console/static/*`` and ``/console/config.json``.

Every console response carries a strict Content-Security-Policy: scripts and styles only from this
origin, no inline script.  (GraphiQL at ``/graphql`` has a policy of its own: it loads from a CDN.)
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, request_response
from starlette.staticfiles import StaticFiles

from api.security_headers import WithSecurityHeaders, security_headers
from api.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = security_headers(CONTENT_SECURITY_POLICY)


def console_routes(settings: Settings) -> list[BaseRoute]:
    """The console's routes, to add to the app beside ``/graphql``."""
    config = {"resourceUrlTemplate": settings.resource_url_template}

    async def index(request: Request) -> Response:
        # The page is tiny and changes with each release; always revalidate it.
        return FileResponse(STATIC_DIR / "index.html", headers={"cache-control": "no-cache"})

    async def console_config(request: Request) -> Response:
        return JSONResponse(config, headers={"cache-control": "no-store"})

    return [
        Route("/", WithSecurityHeaders(request_response(index), SECURITY_HEADERS), methods=["GET", "HEAD"]),
        Route(
            "/console/config.json",
            WithSecurityHeaders(request_response(console_config), SECURITY_HEADERS),
            methods=["GET"],
        ),
        Mount(
            "/console/static",
            app=WithSecurityHeaders(StaticFiles(directory=STATIC_DIR), SECURITY_HEADERS),
            name="console-static",
        ),
    ]
