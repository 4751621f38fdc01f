"""Every error leaves with ``extensions.code``; unexpected ones leave masked, logged with the request id."""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from graphql.error import GraphQLError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from strawberry.extensions import SchemaExtension

from api.errors import AppError

log = structlog.get_logger(__name__)

UNAVAILABLE_ERRORS = (OperationalError, InterfaceError, ConnectionError, OSError, TimeoutError)


def _request_id(extension: SchemaExtension) -> str | None:
    context = extension.execution_context.context
    return getattr(context, "request_id", None)


class ErrorCodes(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            result.errors = [self._with_code(error) for error in errors]

    def _with_code(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if original is None:
            code = (error.extensions or {}).get("code") or "GRAPHQL_VALIDATION_FAILED"
            return self._copy(error, error.message, code)
        if isinstance(original, AppError):
            return self._copy(error, original.message, original.code)
        if isinstance(original, GraphQLError):
            return self._with_code(original)
        request_id = _request_id(self)
        if isinstance(original, UNAVAILABLE_ERRORS) or (
            isinstance(original, DBAPIError) and original.connection_invalidated
        ):
            log.warning("backing service unavailable", request_id=request_id, error=type(original).__name__)
            return self._copy(error, "a backing service is unavailable; retry shortly", "SERVICE_UNAVAILABLE")
        log.error("unexpected error", request_id=request_id, exc_info=original)
        return self._copy(
            error, f"internal error (request id {request_id}); it has been logged", "INTERNAL_SERVER_ERROR"
        )

    @staticmethod
    def _copy(error: GraphQLError, message: str, code: str) -> GraphQLError:
        return GraphQLError(
            message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={**(error.extensions or {}), "code": code},
        )
