"""Each GraphQL operation counted, timed and traced under a label from a closed set.

``begin`` and ``Observation.end`` are called by ``RequestHooks`` (``request_hooks.py``), first in
and last out of every operation.  The label is the operation's first root field when the schema has
it (``searchAuditTrailEntries``), ``other`` for anything else: operation names are the client's
choice and would make one series per name a client invents.  The code is ``ok`` or the first
error's code (the codes are given just before the observation ends).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

from graphql import GraphQLSchema, OperationDefinitionNode
from graphql.language import FieldNode
from opentelemetry.trace import SpanKind
from strawberry.types import ExecutionContext

from api.errors import AppError
from api.graphql.context import RequestContext
from api.observability import ActiveSpan, begin_span, count_graphql_request

OTHER = "other"
OK = "ok"


def _known_codes() -> frozenset[str]:
    codes = {AppError.code}
    pending: list[type[AppError]] = [AppError]
    while pending:
        for subclass in pending.pop().__subclasses__():
            codes.add(subclass.code)
            pending.append(subclass)
    return frozenset(codes)


KNOWN_CODES = _known_codes()


@lru_cache(maxsize=4)
def root_fields(schema: GraphQLSchema) -> frozenset[str]:
    """The query and mutation fields of ``schema``: the labels an operation may take."""
    types = (schema.query_type, schema.mutation_type, schema.subscription_type)
    return frozenset(name for root in types if root is not None for name in root.fields)


def begin(execution_context: ExecutionContext) -> Observation:
    """Start timing the operation, and its span when tracing is on (continuing the caller's trace)."""
    started = time.perf_counter()
    context = execution_context.context
    headers = context.request.headers if isinstance(context, RequestContext) else None
    return Observation(started, begin_span("graphql", kind=SpanKind.SERVER, carrier=headers))


@dataclass(slots=True)
class Observation:
    """One operation timed since ``begin``: counted and its span ended when it has its answer."""

    started: float
    request_span: ActiveSpan | None

    def end(self, execution_context: ExecutionContext) -> None:
        """Count the operation under its label and code, and end its span (an error's code on it)."""
        operation = _operation(execution_context)
        code = _code(execution_context)
        count_graphql_request(operation=operation, code=code, duration_seconds=time.perf_counter() - self.started)
        if self.request_span is not None:
            self.request_span.span.update_name(f"graphql {operation}")
            self.request_span.span.set_attribute("graphql.operation.field", operation)
            self.request_span.end(error=None if code == OK else code)


def _operation(execution_context: ExecutionContext) -> str:
    document = execution_context.graphql_document
    if document is None:
        return OTHER
    wanted = execution_context.operation_name
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if wanted is not None and (definition.name is None or definition.name.value != wanted):
            continue
        first = next((s for s in definition.selection_set.selections if isinstance(s, FieldNode)), None)
        if first is not None and first.name.value in root_fields(execution_context.schema._schema):
            return first.name.value
        return OTHER
    return OTHER


def _code(execution_context: ExecutionContext) -> str:
    errors = getattr(execution_context.result, "errors", None)
    if not errors:
        return OK
    code = (errors[0].extensions or {}).get("code")
    return code if code in KNOWN_CODES else OTHER
