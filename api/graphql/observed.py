"""Each GraphQL operation counted, timed and traced under a label from a closed set.

The label is the operation's first root field when the schema has it (``searchAuditTrailEntries``),
``other`` for anything else: operation names are the client's choice and would make one series per
name a client invents.  The code is ``ok`` or the first error's code (``ErrorCodes`` has set them by
the time this extension ends: it is listed first, so it is entered first and left last).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import lru_cache

from graphql import GraphQLSchema, OperationDefinitionNode
from graphql.language import FieldNode
from opentelemetry.trace import SpanKind
from strawberry.extensions import SchemaExtension

from api.errors import AppError
from api.graphql.context import RequestContext
from api.observability import begin_span, count_graphql_request

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


class Observed(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        context = self.execution_context.context
        headers = context.request.headers if isinstance(context, RequestContext) else None
        request_span = begin_span("graphql", kind=SpanKind.SERVER, carrier=headers)
        yield
        operation = self._operation()
        code = self._code()
        count_graphql_request(operation=operation, code=code, duration_seconds=time.perf_counter() - started)
        if request_span is not None:
            request_span.span.update_name(f"graphql {operation}")
            request_span.span.set_attribute("graphql.operation.field", operation)
            request_span.end(error=None if code == OK else code)

    def _operation(self) -> str:
        document = self.execution_context.graphql_document
        if document is None:
            return OTHER
        wanted = self.execution_context.operation_name
        for definition in document.definitions:
            if not isinstance(definition, OperationDefinitionNode):
                continue
            if wanted is not None and (definition.name is None or definition.name.value != wanted):
                continue
            first = next((s for s in definition.selection_set.selections if isinstance(s, FieldNode)), None)
            if first is not None and first.name.value in root_fields(self.execution_context.schema._schema):
                return first.name.value
            return OTHER
        return OTHER

    def _code(self) -> str:
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if not errors:
            return OK
        code = (errors[0].extensions or {}).get("code")
        return code if code in KNOWN_CODES else OTHER
