"""Every error leaves with ``extensions.code``; unexpected ones leave masked, logged with the request id."""

from __future__ import annotations

import re
from collections.abc import Iterator

import asyncpg
import structlog
from graphql.error import GraphQLError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from api.errors import AppError, BadInput, InvalidRequest, ServiceUnavailable

log = structlog.get_logger(__name__)

# A pool that gives no connection in time (sqlalchemy's TimeoutError) and a statement past its
# timeout (asyncio's, which is the builtin) are a database that does not answer, like a closed socket.
# The read path's plain asyncpg connections raise asyncpg's own InterfaceError (a connection or
# pool closed under it), unwrapped.
UNAVAILABLE_ERRORS = (
    OperationalError,
    InterfaceError,
    asyncpg.InterfaceError,
    ConnectionError,
    OSError,
    TimeoutError,
    PoolTimeout,
)
# PostgreSQL's connection exceptions (class 08) and its shutting-down/starting-up refusals (57P01-03):
# what a restarting database looks like through asyncpg, whatever SQLAlchemy wraps them in.
UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")
# graphql-core quotes the offending input in its messages; a secret sent in the wrong shape must not
# come back (or reach a log) that way.  What remains still says what was wrong and where.
_ECHOED_VALUE = re.compile(r"(?:[,.;]? (?:[Ff]ound|but encountered error)\b.*|(?<=value)(?: \w+)*: .*)$", re.DOTALL)
_MIN_REDACTED_LENGTH = 6
_VARIABLE_PATH = re.compile(r"^(Variable '\$\w+' has invalid value(?: at (?:\.\w+|\[\d+\])+)?): ")
# PostgreSQL refuses NUL in text (22021) and the \u0000 escape in jsonb (22P05).  Only what a request
# sent can hold one, so the refusal is the caller's bad input, whichever string or JSON value it was in;
# the transaction has been rolled back, nothing was written.
# A 32-bit Int field given a millisecond timestamp (13 digits today): say what the value looks like
# and what takes it, since the number itself is cut from the message.
_INT_OVERFLOW = re.compile(r"Int cannot represent non 32-bit signed integer value: (-?\d+)")
_SMALLEST_MILLISECONDS = 100_000_000_000  # 1973 in milliseconds; year 5138 in seconds
MILLISECONDS_HINT = (
    " The value looks like milliseconds: timeInRange's start and end take unix seconds;"
    " give startAt/endAt (ISO 8601, e.g. 2026-11-26T08:00:00Z) for times below the second or past 2038."
)
UNSTORABLE_TEXT_SQLSTATES = frozenset({"22021", "22P05"})
UNSTORABLE_TEXT_MESSAGE = "text may not contain the NUL character (\\u0000): it cannot be stored"


def give_codes(result: object, execution_context: ExecutionContext) -> None:
    """Replace ``result``'s errors by their coded copies: an ``AppError``'s code and message, a request
    error's message without the values it quotes, an unexpected one masked and logged."""
    errors = getattr(result, "errors", None)
    if errors:
        result.errors = [with_code(error, execution_context) for error in errors]  # type: ignore[attr-defined]  # has errors


class ErrorCodes(SchemaExtension):
    """The codes on their own, for a schema without ``RequestHooks`` (which gives them in the service)."""

    def on_operation(self) -> Iterator[None]:
        yield
        if self.execution_context.result is not None:
            give_codes(self.execution_context.result, self.execution_context)

    def on_stream_result(self, result: object) -> Iterator[None]:
        """The same for each result of a subscription (graphql-transport-ws), before it is sent."""
        give_codes(result, self.execution_context)
        yield


def with_code(error: GraphQLError, execution_context: ExecutionContext) -> GraphQLError:
    """``error`` as it leaves: with ``extensions.code``, and nothing in its message a client should not see."""
    original = error.original_error
    if original is None:
        code = (error.extensions or {}).get("code") or InvalidRequest.code
        message = error.message if error.path else _without_values(error.message, execution_context.variables)
        return _copy(error, message + _milliseconds_hint(error.message), code)
    if isinstance(original, AppError):
        return _copy(error, original.message, original.code, original.extensions)
    if isinstance(original, GraphQLError):
        inner = with_code(original, execution_context)
        where = _VARIABLE_PATH.match(error.message)
        if where is None or error.path:
            return inner
        return _copy(error, f"{where.group(1)}: {inner.message}", (inner.extensions or {})["code"])
    request_id = getattr(execution_context.context, "request_id", None)
    if _sqlstates(original) & UNSTORABLE_TEXT_SQLSTATES:
        return _copy(error, UNSTORABLE_TEXT_MESSAGE, BadInput.code)
    if is_unavailable(original):
        log.warning("backing service unavailable", request_id=request_id, error=type(original).__name__)
        return _copy(error, "a backing service is unavailable; retry shortly", ServiceUnavailable.code)
    log.error("unexpected error", request_id=request_id, exc_info=original)
    return _copy(error, f"internal error (request id {request_id}); it has been logged", AppError.code)


def _without_values(message: str, variables: object) -> str:
    """A request error's message without the input values graphql-core quotes in it."""
    message = _ECHOED_VALUE.sub(".", message)
    for value in _string_leaves(variables):
        if len(value) >= _MIN_REDACTED_LENGTH:
            message = message.replace(value, "…")
    return message


def _copy(error: GraphQLError, message: str, code: str, extensions: dict[str, object] | None = None) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions={**(error.extensions or {}), **(extensions or {}), "code": code},
    )


def _milliseconds_hint(message: str) -> str:
    overflow = _INT_OVERFLOW.search(message)
    return MILLISECONDS_HINT if overflow and abs(int(overflow.group(1))) >= _SMALLEST_MILLISECONDS else ""


def is_unavailable(error: BaseException) -> bool:
    """True when ``error`` (or what it wraps) says PostgreSQL or Redis cannot be reached right now."""
    for current in _chain(error):
        if isinstance(current, UNAVAILABLE_ERRORS):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
    return any(state.startswith(UNAVAILABLE_SQLSTATES) for state in _sqlstates(error))


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and what it wraps: SQLAlchemy's ``orig``, else the ``__cause__``."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        wrapped = current.orig if isinstance(current, DBAPIError) else None
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__


def _sqlstates(error: BaseException) -> set[str]:
    """The PostgreSQL SQLSTATEs anywhere in ``error``'s chain (asyncpg names them ``sqlstate``)."""
    return {str(state) for current in _chain(error) if (state := getattr(current, "sqlstate", None))}


def _string_leaves(value: object) -> Iterator[str]:
    """Every string inside the request's variables (keys are names, not values)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _string_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _string_leaves(item)
