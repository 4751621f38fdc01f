"""graphql-transport-ws on ``/graphql``: strawberry's handler, with the token checked at ``connection_init``.

The token travels in the ``connection_init`` payload (``{"Authorization": "Bearer <jwt>"}``:
browsers cannot set headers on a websocket) and is verified there exactly as an HTTP request's
is.  A refusal closes the socket with 4403 and says why (strawberry's own rejection always says
"Forbidden"); a subscribe before that is closed 4401 by strawberry.  Documents keep the HTTP
path's size limit.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from graphql import GraphQLError
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler, Operation
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage, SubscribeMessage

from api.errors import AppError, PayloadTooLarge
from api.graphql.context import RequestContext
from api.graphql.errors import is_unavailable
from api.graphql.live.frames import Outlet, outlet

log = structlog.get_logger(__name__)

FORBIDDEN = 4403
INTERNAL_ERROR = 4500
CLOSE_REASON_BYTES = 123  # what a websocket close frame can carry


class TextFrames(ASGIWebSocketAdapter):
    """graphql-transport-ws messages are text frames: strawberry sends bytes (binary frames) whenever
    the view's encoder returns bytes, as ours (orjson) does, and browsers' clients cannot read them."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        encoded = self.view.encode_json(message)
        await self.send_text(encoded.decode() if isinstance(encoded, bytes) else encoded)

    async def send_text(self, text: str) -> None:
        """A message already encoded (the live tail's shared frames)."""
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as gone:
            raise WebSocketDisconnected from gone


class TokenCheckingTransport(BaseGraphQLTransportWSHandler[RequestContext, None]):
    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        # No payload (absent or null) is no token: refused as an empty one is (strawberry would
        # acknowledge it).
        payload = message.get("payload")
        if payload is None:
            payload = {}
        if isinstance(payload, dict) and not self.connection_init_received and not self.connection_timed_out:
            refusal = await _refusal(self.context, payload)
            if refusal is not None:
                if self.connection_init_timeout_task:
                    self.connection_init_timeout_task.cancel()
                await self.websocket.close(code=refusal[0], reason=_close_reason(refusal[1]))
                return
        await super().handle_connection_init(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        query = message.get("payload", {}).get("query")
        limit = self.context.services.settings.max_query_bytes
        if self.connection_acknowledged and isinstance(query, str) and len(query.encode()) > limit:
            error = GraphQLError(
                f"GraphQL documents are limited to {limit} bytes", extensions={"code": PayloadTooLarge.code}
            )
            await self.send_message({"id": message["id"], "type": "error", "payload": [error.formatted]})
            return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[RequestContext, None]) -> None:
        """strawberry's, with the operation's outlet set for its task: a live subscription writes its
        shared frames there (``api/graphql/live/frames.py``)."""
        if isinstance(self.websocket, TextFrames):
            websocket = self.websocket
            outlet.set(
                Outlet(
                    operation_id=operation.id,
                    query=operation.query,
                    variables=operation.variables,
                    operation_name=operation.operation_name,
                    encode_json=websocket.view.encode_json,
                    send_text=websocket.send_text,
                    is_completed=lambda: operation.completed,
                )
            )
        await super().run_operation(operation)


async def _refusal(context: RequestContext, payload: dict[str, object]) -> tuple[int, str] | None:
    """Why ``payload``'s token admits nobody (a close code and reason), or None when it verifies."""
    context.connection_params = payload
    try:
        await context.identity()
    except AppError as refused:
        return FORBIDDEN, refused.message
    except Exception as error:
        if is_unavailable(error):
            return INTERNAL_ERROR, "a backing service is unavailable; retry shortly"
        log.error("unexpected error checking a websocket token", request_id=context.request_id, exc_info=error)
        return INTERNAL_ERROR, f"internal error (request id {context.request_id})"
    finally:
        # The check's read transaction must not stay open for the connection's lifetime.
        await context.close()
    return None


def _close_reason(message: str) -> str:
    return message.encode()[:CLOSE_REASON_BYTES].decode(errors="ignore")
