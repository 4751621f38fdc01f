"""``create_app()``: the starlette application: GraphQL, GraphiQL, health and readiness."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import orjson
import structlog
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError, OperationType, get_operation_ast, parse
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.http import GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from api import __version__
from api.body_limits import BodySizeLimit
from api.console.routes import console_routes
from api.errors import AppError, InvalidRequest, PayloadTooLarge
from api.export import export_routes
from api.graphiql import HEADERS as GRAPHIQL_HEADERS
from api.graphiql import graphiql_page, graphiql_routes
from api.graphql.context import RequestContext
from api.graphql.json_posts import is_json_post, one_request, replaying, whole_body
from api.graphql.live.transport import TextFrames, TokenCheckingTransport
from api.graphql.parsed_documents import DocumentCache
from api.graphql.schema import build_schema
from api.logging import configure_logging
from api.observability import configure_tracing, metrics_routes
from api.services import Services
from api.settings import Settings, get_settings
from api.webhooks import Resolver, resolve_addresses

log = structlog.get_logger(__name__)


class GraphQLApp(GraphQL[RequestContext, None]):
    # The live tail speaks graphql-transport-ws only (the legacy graphql-ws protocol is refused, 4406).
    protocols = (GRAPHQL_TRANSPORT_WS_PROTOCOL,)
    graphql_transport_ws_handler_class = TokenCheckingTransport
    websocket_adapter_class = TextFrames

    def __init__(self, services_of: ServicesHolder, settings: Settings) -> None:
        schema = build_schema(settings)
        super().__init__(schema, graphql_ide="graphiql" if settings.graphiql else None)
        self._documents = schema.documents
        self._services_of = services_of
        self._max_query_bytes = settings.max_query_bytes
        self._max_query_tokens = settings.max_query_tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A POST of one JSON document is answered here, the rest by strawberry's view (``json_posts``)."""
        if not is_json_post(scope):
            await super().__call__(scope, receive, send)
            return
        body = await whole_body(receive)
        receive_again = replaying(body, receive)
        try:
            request_data = one_request(self.decode_json(body))
        except HTTPException:
            request_data = None  # strawberry's view refuses it again, with its own answer
        if request_data is None:
            await super().__call__(scope, receive_again, send)
            return
        request = Request(scope, receive_again)
        try:
            response = await self._answer_json_post(request, request_data)
        except HTTPException as refused:
            response = PlainTextResponse(refused.reason, status_code=refused.status_code)
        await response(scope, receive_again, send)

    async def _answer_json_post(self, request: Request, request_data: GraphQLRequestData) -> Response:
        """What strawberry's ``run`` does for such a request, in its order and through its hooks."""
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, response=sub_response)
        request_adapter = self.request_adapter_class(request)
        # No root value: the schema's root fields are resolvers of their own (``GraphQL[..., None]``).
        result = await self.execute_single(request, request_adapter, sub_response, context, None, request_data)
        # Incremental delivery (@defer, @stream) is not enabled on the schema: one result, always.
        assert isinstance(result, ExecutionResult), type(result)
        response_data = await self.process_result(request, result)
        if result.errors:
            self._handle_errors(result.errors, response_data)
        return self.create_response(response_data=response_data, sub_response=sub_response)

    async def get_context(self, request: Request | WebSocket, response: object) -> RequestContext:
        return RequestContext(request, self._services_of.services)

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from this service's own files (strawberry's page loads it from a CDN and keeps
        headers in localStorage), with its security headers (see ``api.graphiql``)."""
        return HTMLResponse(graphiql_page(), headers=GRAPHIQL_HEADERS)

    def decode_json(self, data: str | bytes) -> object:
        """Strict JSON (UTF-8, no NaN, nesting bounded), and only objects: strawberry's own parsing
        answers 500 to a body that is a JSON string or number, or not UTF-8, or nested too deep."""
        try:
            decoded = orjson.loads(data)
        except orjson.JSONDecodeError as error:
            raise HTTPException(400, f"the request body is not valid JSON: {error}") from None
        if not all(isinstance(item, dict) for item in (decoded if isinstance(decoded, list) else [decoded])):
            raise HTTPException(400, 'the request body must be a JSON object {"query": ..., "variables": {...}}')
        return decoded

    def encode_json(self, data: object) -> str | bytes:
        """orjson for the answers (a page of 500 entries with their bodies is mostly JSON encoding);
        the standard encoder for what orjson refuses (integers beyond 64 bits)."""
        try:
            return orjson.dumps(data)
        except TypeError:
            return super().encode_json(data)

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: RequestContext,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """A document over the size limit is answered like any GraphQL error (HTTP 200, a code): the Go
        clients of Spacelift's API treat every other status as a transport failure and lose the message."""
        if request_data.query is not None and len(request_data.query.encode()) > self._max_query_bytes:
            return _refusal(PayloadTooLarge(f"GraphQL documents are limited to {self._max_query_bytes} bytes"))
        if request_data.query is not None and _is_subscription(
            request_data.query, request_data.operation_name, self._documents, self._max_query_tokens
        ):
            return _refusal(InvalidRequest(SUBSCRIPTIONS_OVER_HTTP))
        try:
            return await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        except HTTPException as refused:
            # A document whose operation cannot be chosen (several without operationName, an unknown
            # name): still a GraphQL request, so a GraphQL error.  A body without a query stays a 400.
            if request_adapter.method != "POST" or not request_data.query:
                raise
            return _refusal(InvalidRequest(refused.reason))


async def _check_within(check: Coroutine[Any, Any, None], seconds: float) -> str:
    """ "ok", or why not; a check that hangs (a frozen server) is left to its own timeouts and reported
    unavailable after ``seconds``: waiting for it to unwind would hang the answer with it."""
    task = asyncio.ensure_future(check)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.add_done_callback(lambda finished: finished.cancelled() or finished.exception())
        return f"unavailable: no answer within {seconds:g} s"
    error = task.exception()
    return "ok" if error is None else f"unavailable: {type(error).__name__}"


SUBSCRIPTIONS_OVER_HTTP = (
    "subscriptions run over a websocket on /graphql (the graphql-transport-ws protocol, the token in"
    ' connection_init\'s payload as {"Authorization": "Bearer <jwt>"}), not over HTTP'
)


def _is_subscription(query: str, operation_name: str | None, documents: DocumentCache, max_tokens: int) -> bool:
    """Whether the operation to run is a subscription: over HTTP graphql-core would answer it as a
    null root field, an internal error.  Only a document that names the keyword is looked at: the
    schema's parsed copy when it has one (introspection names ``subscriptionType`` on every load of
    GraphiQL), else parsed here; one that does not parse is left to the executor, which reports it."""
    if "subscription" not in query:
        return False
    try:
        document = documents.get(query) or parse(query, max_tokens=max_tokens)
        operation = get_operation_ast(document, operation_name)
    except GraphQLError:
        return False
    return operation is not None and operation.operation == OperationType.SUBSCRIPTION


def _refusal(error: AppError) -> ExecutionResult:
    """A request refused before execution, answered as GraphQL answers every error."""
    return ExecutionResult(data=None, errors=[GraphQLError(error.message, extensions={"code": error.code})])


class GraphQLPostsFirst:
    """Sends a POST to ``/graphql`` straight to the GraphQL app, inside the body limit; everything else
    goes on to starlette's exception middleware and router as before.  The router matched each of
    these requests against the routes in order and wrapped it in two more layers on the way: about
    8 % of the CPU of ``{ viewer { id } }``, for the one route nearly every request takes."""

    def __init__(self, app: ASGIApp, graphql: ASGIApp) -> None:
        self.app = app
        self.graphql = graphql

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/graphql":
            await self.graphql(scope, receive, send)
        else:
            await self.app(scope, receive, send)


YOUNG_COLLECTION_EVERY = 10_000
"""Container allocations between two collections of the youngest generation (CPython's default: 700)."""


def collect_young_garbage_less_often() -> None:
    """A request allocates thousands of containers (its answer's dicts, entries, rows, futures), so at
    CPython's default the collector ran its youngest generation several times a request, and its older
    ones on every tenth of those, walking the objects each request still held across its awaits.  At
    10,000 it runs about once a request or less; the garbage it waits for is only the cyclic kind
    (everything else is freed by reference counting at once), a few requests' worth at most.  Measured
    in process, alternating batch by batch: page of 50 2.238 → 2.126 ms, action + 7 days
    2.317 → 2.217 ms, ``first: 10`` 1.233 → 1.184 ms, ``{ viewer { id } }`` 0.318 → 0.276 ms."""
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])


class ServicesHolder:
    """Services exist from lifespan start; routes are built before that."""

    def __init__(self) -> None:
        self._services: Services | None = None

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("services are not started")
        return self._services

    def set(self, services: Services | None) -> None:
        self._services = services


def create_app(settings: Settings | None = None, *, resolve: Resolver = resolve_addresses) -> Starlette:
    """The ASGI app; ``uvicorn --factory api.app:create_app`` and the tests both call this (a test may
    give the webhook sender a DNS resolver of its own)."""
    settings = settings or get_settings()
    configure_logging(settings)
    configure_tracing("audittrail-api")
    holder = ServicesHolder()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await Services.start(settings, resolve=resolve)
        holder.set(services)
        collect_young_garbage_less_often()
        try:
            yield
        finally:
            holder.set(None)
            await services.close()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    async def readyz(request: Request) -> Response:
        services = holder.services
        checks: dict[str, str] = {}
        started = time.perf_counter()

        async def database() -> None:
            async with services.db.transaction() as session:
                await session.execute(text("SELECT 1"))

        async def redis() -> None:
            await services.queue.ping()

        checks["database"] = await _check_within(database(), settings.readyz_timeout_seconds)
        checks["redis"] = await _check_within(redis(), settings.readyz_timeout_seconds)
        ready = all(value == "ok" for value in checks.values())
        body = {
            "status": "ready" if ready else "unavailable",
            "checks": checks,
            "latencyMs": round((time.perf_counter() - started) * 1000, 1),
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    graphql_app = GraphQLApp(holder, settings)
    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/graphql", graphql_app, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql_app),
        *export_routes(lambda: holder.services, graphql_app.schema),
        *console_routes(settings),
        *(graphiql_routes() if settings.graphiql else []),
        *metrics_routes(settings, lambda: holder.services.db),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(
                BodySizeLimit,
                max_bytes=settings.max_request_bytes,
                anonymous_max_bytes=settings.max_anonymous_request_bytes,
                is_signed=lambda token: holder.services.tokens.is_signed(token),
            ),
            Middleware(GraphQLPostsFirst, graphql=graphql_app),
        ],
    )


__all__ = ["Mount", "StrawberryGraphQLError", "create_app"]
