"""The security headers of every page a browser renders: the console's and GraphiQL's.

Both send the same frame, sniffing and referrer rules; each page has a Content-Security-Policy of
its own, naming exactly what it loads.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

FRAME_SNIFF_AND_REFERRER = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def security_headers(content_security_policy: str) -> dict[str, str]:
    """The headers of a page with this policy (which should include ``frame-ancestors 'none'``)."""
    return {"content-security-policy": content_security_policy, **FRAME_SNIFF_AND_REFERRER}


class WithSecurityHeaders:
    """Add ``headers`` to every response of the wrapped app, replacing any of the same name."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(name, value) for name, value in message["headers"] if name.decode() not in self.headers]
                added = [(name.encode(), value.encode()) for name, value in self.headers.items()]
                message = {**message, "headers": kept + added}
            await send(message)

        await self.app(scope, receive, send_with_headers)
