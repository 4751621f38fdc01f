"""Everything the schema does around each request, as one strawberry extension.

strawberry builds every extension of a schema for each request and, for each of its four hooks,
looks every extension's hook up and wraps it in a context manager: with eight extensions that was
about a tenth of the CPU of ``{ viewer { id } }``.  One extension whose hooks call the parts in the
order the separate extensions ran (and with their behaviour on an error: what ran after a
``yield`` runs only when the operation ends normally, the read transaction is closed in any case)
costs one of each.  The parts stay in their modules: ``observed`` (metrics and the span), ``errors``
(the codes), ``request_scope`` (the read transaction), ``parsed_documents`` and ``document_limits``
(parsing and validation kept by document), and strawberry's limits on tokens, depth and aliases,
whose validation rules are built once here rather than per request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from graphql.validation import ASTValidationRule
from strawberry.extensions import AddValidationRules, MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.extensions.disable_introspection import DisableIntrospection

from api.graphql import observed
from api.graphql.document_limits import DocumentLimits, ValidatedDocuments, validate_within_limits
from api.graphql.errors import give_codes
from api.graphql.parsed_documents import DocumentCache
from api.graphql.request_scope import end_request_scope
from api.settings import Settings


@dataclass(frozen=True)
class RequestChecks:
    """What every request of a schema is held to and the documents it keeps, built once from the settings."""

    documents: DocumentCache
    validated: ValidatedDocuments
    limits: DocumentLimits
    max_tokens: int
    """Parsing stops at this many tokens: a document under the byte limit can still cost seconds of
    CPU to parse and validate, on the event loop every other request shares."""
    added_rules: tuple[type[ASTValidationRule], ...]
    """Run after graphql-core's own rules: depth, aliases, and no introspection when it is off."""

    @classmethod
    def of(cls, settings: Settings) -> RequestChecks:
        """The checks ``settings`` configure; each rule class is built once, so the validation kept
        per document and rules (``ValidatedDocuments``) finds the same rules on every request."""
        limiters: list[AddValidationRules] = [
            QueryDepthLimiter(max_depth=settings.max_query_depth),
            MaxAliasesLimiter(max_alias_count=settings.max_aliases),
        ]
        if not settings.introspection:
            limiters.append(DisableIntrospection())
        return cls(
            documents=DocumentCache(maxsize=256),
            validated=ValidatedDocuments(maxsize=256),
            limits=DocumentLimits.of(settings),
            max_tokens=settings.max_query_tokens,
            added_rules=tuple(rule for limiter in limiters for rule in limiter.validation_rules),
        )


class RequestHooks(SchemaExtension):
    """The one extension of the service's schema (passed as a factory: one per request).

    Each step is a method that ``RequestHooksRunner`` calls directly; the ``on_*`` hooks call the same
    steps for strawberry's own runner (a schema given other extensions besides)."""

    def __init__(self, checks: RequestChecks) -> None:
        self.checks = checks
        self._observation: observed.Observation | None = None

    def begin_operation(self) -> None:
        """First in: the observation times the whole operation; then the limits of parsing and validation."""
        execution_context = self.execution_context
        self._observation = observed.begin(execution_context)
        execution_context.parse_options["max_tokens"] = self.checks.max_tokens
        execution_context.validation_rules = execution_context.validation_rules + self.checks.added_rules

    async def close_operation(self) -> None:
        """However the operation ended: the read transaction and connection go back."""
        await end_request_scope(self.execution_context.context)

    def answer_operation(self) -> None:
        """Last out, when the operation ended without raising: the codes given, then counted and traced."""
        give_codes(self.execution_context.result, self.execution_context)
        if self._observation is not None:
            self._observation.end(self.execution_context)

    def begin_parsing(self) -> None:
        """Only a text not seen before is parsed (by strawberry, so a syntax error keeps its code)."""
        self.checks.documents.lend(self.execution_context)

    def end_parsing(self) -> None:
        self.checks.documents.keep(self.execution_context)

    def begin_validation(self) -> None:
        validate_within_limits(self.execution_context, self.checks.limits, self.checks.validated)

    def begin_stream_result(self, result: object) -> None:
        """Each result of a subscription (graphql-transport-ws) gets its codes before it is sent."""
        give_codes(result, self.execution_context)

    async def on_operation(self) -> AsyncIterator[None]:
        self.begin_operation()
        try:
            yield
        finally:
            await self.close_operation()
        self.answer_operation()

    def on_parse(self) -> Iterator[None]:
        self.begin_parsing()
        yield
        self.end_parsing()

    def on_validate(self) -> Iterator[None]:
        self.begin_validation()
        yield

    def on_stream_result(self, result: object) -> Iterator[None]:
        self.begin_stream_result(result)
        yield
