"""``GET/POST /export``: the HTTP edge of an export (token, role, format, ``SearchInput``) and the stream.

The filters arrive as a ``SearchInput``, the GraphQL search's own input, coerced by the schema
(``?input=<JSON>`` on GET, the JSON body on POST), so a filter means here exactly what it means to
``searchAuditTrailEntries``.  Refusals are JSON ``{"errors": [{message, extensions: {code}}]}`` with
an HTTP status, answered before the stream starts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import strawberry
import structlog
from graphql import GraphQLError, GraphQLInputType, Undefined, coerce_input_value
from graphql.utilities import validate_input_value
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Send
from strawberry.schema.base import BaseSchema
from strawberry.types.arguments import convert_argument

from api.db import Database
from api.errors import AppError, BadInput, ServiceUnavailable
from api.export.formats import CSV_HEADER, ExportFormat
from api.export.stream import ExportQuery, export_chunks, prepared
from api.graphql.audit.inputs import SearchInput
from api.graphql.context import RequestContext
from api.graphql.errors import is_unavailable
from api.graphql.permissions import READ_ROLES
from api.services import Services

log = structlog.get_logger(__name__)

HTTP_STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "BAD_USER_INPUT": 400, "SERVICE_UNAVAILABLE": 503}


class SearchInputParser:
    """JSON to ``SearchInput`` through the schema: graphql-core checks names and types, strawberry builds it."""

    def __init__(self, schema: BaseSchema) -> None:
        if not isinstance(schema, strawberry.Schema):
            raise TypeError("the export parses its input with a strawberry.Schema")
        self._schema = schema
        graphql_type = schema._schema.get_type("SearchInput")
        if graphql_type is None:
            raise RuntimeError("the schema has no SearchInput")
        self._graphql_type: GraphQLInputType = graphql_type  # type: ignore[assignment]  # an input object type

    def parse(self, raw: object) -> SearchInput:
        problems: list[str] = []

        def on_error(error: GraphQLError, path: list[str | int]) -> None:
            where = ".".join(str(key) for key in path)
            problems.append(f"{where + ': ' if where else ''}{error.message}"[:300])

        validate_input_value(raw, self._graphql_type, on_error, hide_suggestions=True)
        coerced = coerce_input_value(raw, self._graphql_type) if not problems else Undefined
        if problems or coerced is Undefined:
            raise BadInput(f"input is not a valid SearchInput: {'; '.join(problems[:5]) or 'not an object'}")
        converted = convert_argument(
            coerced, SearchInput, self._schema.schema_converter.scalar_registry, self._schema.config
        )
        assert isinstance(converted, SearchInput)
        return converted


def choose_format(request: Request) -> ExportFormat:
    """``?format=`` when given, else the ``Accept`` header (``text/csv``), else NDJSON."""
    asked = request.query_params.get("format")
    if asked is not None:
        try:
            return ExportFormat(asked.lower())
        except ValueError:
            raise BadInput(f"format must be ndjson or csv, got {asked[:20]!r}") from None
    return ExportFormat.CSV if "text/csv" in request.headers.get("accept", "") else ExportFormat.NDJSON


async def read_input(request: Request) -> object:
    """The ``SearchInput`` JSON: the body of a POST, ``?input=`` of a GET; ``{}`` (everything) when absent."""
    raw = await request.body() if request.method == "POST" else request.query_params.get("input", "").encode()
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BadInput(f"input must be a JSON SearchInput object: {error}") from None


def file_name(account_name: str, query: ExportQuery, export_format: ExportFormat) -> str:
    """``audittrail-<account>-<from>-<to>.<format>``; an open start is ``beginning``, an open end the export's time."""
    start, end = query.time_range()

    def stamp(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    first = stamp(start) if start else "beginning"
    last = stamp(end or query.now or datetime.now(UTC))
    return f"audittrail-{account_name}-{first}-{last}.{export_format.value}"


class ExportResponse(StreamingResponse):
    """Closes its stream as soon as the client is gone, so no batch is read for nobody.

    Starlette leaves an abandoned iterator to the garbage collector; ``aclosing`` ends it (and the
    export's own ``finally``) at the failed send, whichever way the server reports the disconnect.
    """

    def __init__(self, chunks: AsyncIterator[bytes], **kwargs: Any) -> None:
        super().__init__(chunks, **kwargs)
        self._chunks = chunks

    async def stream_response(self, send: Send) -> None:
        async with aclosing(self._chunks):  # type: ignore[type-var]  # an async generator: it has aclose()
            await super().stream_response(send)


async def export_body(db: Database, query: ExportQuery, export_format: ExportFormat) -> AsyncIterator[bytes]:
    """The response's bytes as ``COPY`` sends them; logs how it ended (complete, or the client left)."""
    rows_sent = 0
    complete = False
    try:
        if export_format is ExportFormat.CSV:
            yield CSV_HEADER
        async with aclosing(export_chunks(db, query, export_format)) as chunks:
            async for chunk in chunks:
                yield chunk.data
                rows_sent += chunk.rows
        complete = True
    finally:
        log.info("export ended", account_id=query.account_id, rows=rows_sent, complete=complete)


def _refusal(error: AppError) -> Response:
    body = {"errors": [{"message": error.message, "extensions": {"code": error.code}}]}
    return JSONResponse(body, status_code=HTTP_STATUS.get(error.code, 400))


def export_routes(services_of: Callable[[], Services], schema: BaseSchema) -> list[Route]:
    """The ``/export`` route; ``services_of`` gives the running process's services."""
    parser = SearchInputParser(schema)

    async def export(request: Request) -> Response:
        services = services_of()
        context = RequestContext(request, services)
        try:
            identity = await context.require(*READ_ROLES)
            export_format = choose_format(request)
            search = parser.parse(await read_input(request))
            # An export has no pages: `first` is not a limit here, so it is not checked either.
            order = replace(search, first=None).page_request(services.settings)
            query = prepared(
                ExportQuery(
                    account_id=identity.account_id,
                    filters=search.filters(),
                    direction=order.direction,
                    order_field=order.order_field,
                    after=order.after,
                    batch_size=services.settings.export_batch_size,
                )
            )
        except AppError as error:
            return _refusal(error)
        except Exception as error:
            if is_unavailable(error):
                return _refusal(ServiceUnavailable("the database is unavailable; retry shortly"))
            raise
        finally:
            await context.close()
        name = file_name(identity.account_name, query, export_format)
        return ExportResponse(
            export_body(services.db, query, export_format),
            media_type=export_format.media_type,
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )

    return [Route("/export", export, methods=["GET", "POST"])]


__all__ = ["export_routes"]
