"""Routes that serve the web console: ``/`` (index.html), ``/console/static/*`` and ``/console/config.json``.

Every console response carries a strict Content-Security-Policy: scripts and styles only from this
origin, no inline script. ``/graphql`` keeps its own headers, since GraphiQL loads from a CDN.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, request_response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


class WithSecurityHeaders:
    """Add the console's security headers to every response of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(name, value) for name, value in message["headers"] if name.decode() not in SECURITY_HEADERS]
                headers = kept + [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def console_routes(settings: Settings) -> list[BaseRoute]:
    """The console's routes, to add to the app beside ``/graphql``."""
    config = {"resourceUrlTemplate": settings.resource_url_template}

    async def index(request: Request) -> Response:
        # The page is tiny and changes with each release; always revalidate it.
        return FileResponse(STATIC_DIR / "index.html", headers={"cache-control": "no-cache"})

    async def console_config(request: Request) -> Response:
        return JSONResponse(config, headers={"cache-control": "no-store"})

    return [
        Route("/", WithSecurityHeaders(request_response(index)), methods=["GET", "HEAD"]),
        Route("/console/config.json", WithSecurityHeaders(request_response(console_config)), methods=["GET"]),
        Mount("/console/static", app=WithSecurityHeaders(StaticFiles(directory=STATIC_DIR)), name="console-static"),
    ]
