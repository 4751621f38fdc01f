"""Request body limits, applied before anything reads or parses a body.

Two limits: ``AUDITTRAIL_MAX_REQUEST_BYTES`` (8 MB, a full ingestion batch fits) for a request whose
bearer token is signed by this service, and ``AUDITTRAIL_MAX_ANONYMOUS_REQUEST_BYTES`` (64 KiB) for
any other.  Without the second, a client holding no key could make the API parse and coerce 8 MB of
variables (thousands of events) before a permission check refused it: CPU spent for nobody, as
often as the client likes.  What a request needs without a token (``apiKeyUser``, introspection,
the console's first page) is a few kilobytes.  The token is checked only when a body passes the
smaller limit, so ordinary requests pay nothing; its revocation is checked later, as for any request.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import PayloadTooLarge

TokenCheck = Callable[[str], bool]
"""True when a bearer token is signed by this service and unexpired (its key is checked later)."""


class BodySizeLimit:
    """Refuse request bodies over the limit that applies with 413 before anything parses them."""

    def __init__(self, app: ASGIApp, max_bytes: int, anonymous_max_bytes: int, is_signed: TokenCheck) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.anonymous_max_bytes = min(anonymous_max_bytes, max_bytes)
        self.is_signed = is_signed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        body = _LimitedBody(self, receive, headers.get(b"authorization", b""))
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > body.limit_for(int(declared)):
            await self._refuse(send, body.limit_for(int(declared)))
            return
        try:
            await self.app(scope, body.receive, send)
        except _BodyTooLarge as refused:
            await self._refuse(send, refused.limit)

    def is_signed_bearer(self, authorization: bytes) -> bool:
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        return scheme.lower() == "bearer" and bool(token.strip()) and self.is_signed(token.strip())

    async def _refuse(self, send: Send, limit: int) -> None:
        message = f"request body over {limit} bytes"
        if limit < self.max_bytes:
            message += (
                f"; a request without a valid bearer token may send at most {limit} bytes"
                f" (with one, {self.max_bytes}): get a token with the apiKeyUser mutation"
            )
        response = JSONResponse({"errors": [{"message": message, "extensions": {"code": PayloadTooLarge.code}}]}, 413)
        await response({"type": "http"}, _no_receive, send)


class _LimitedBody:
    """One request's body as the app receives it, and the limit that applies to it: the anonymous
    one up to its size, and past it the one the bearer token earns, settled once per request."""

    def __init__(self, limits: BodySizeLimit, receive: Receive, authorization: bytes) -> None:
        self._limits = limits
        self._receive = receive
        self._authorization = authorization
        self._settled: int | None = None
        self._received = 0

    def limit_for(self, size: int) -> int:
        if size <= self._limits.anonymous_max_bytes:
            return self._limits.anonymous_max_bytes
        if self._settled is None:
            signed = self._limits.is_signed_bearer(self._authorization)
            self._settled = self._limits.max_bytes if signed else self._limits.anonymous_max_bytes
        return self._settled

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self.limit_for(self._received):
                raise _BodyTooLarge(self.limit_for(self._received))
        return message


class _BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
