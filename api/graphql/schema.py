"""The strawberry schema: domain query/mutation types merged, limits and error codes attached."""

from __future__ import annotations

from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.extensions.disable_introspection import DisableIntrospection
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from api.graphql.accounts import AccountsMutation, AccountsQuery
from api.graphql.audit import AuditMutation, AuditQuery
from api.graphql.document_limits import DocumentLimits, LimitedValidation, ValidatedDocuments
from api.graphql.errors import ErrorCodes
from api.graphql.fast_inputs import install_fast_inputs
from api.graphql.fast_variables import FastVariablesContext
from api.graphql.integrity import IntegrityMutation, IntegrityQuery
from api.graphql.live import LiveSubscription
from api.graphql.observed import Observed
from api.graphql.parsed_documents import DocumentCache, ParsedDocuments
from api.graphql.replays import ReplaysMutation, ReplaysQuery
from api.graphql.request_scope import RequestScope
from api.graphql.saved_filters import SavedFiltersMutation, SavedFiltersQuery
from api.graphql.webhooks import WebhooksMutation, WebhooksQuery
from api.settings import Settings

Query = merge_types(
    "Query", (AccountsQuery, AuditQuery, WebhooksQuery, IntegrityQuery, ReplaysQuery, SavedFiltersQuery)
)
Mutation = merge_types(
    "Mutation",
    (AccountsMutation, AuditMutation, WebhooksMutation, IntegrityMutation, ReplaysMutation, SavedFiltersMutation),
)

Subscription = merge_types("Subscription", (LiveSubscription,))


class AuditTrailSchema(strawberry.Schema):
    documents: DocumentCache
    """The parsed documents of this schema's requests (``ParsedDocuments``), by their text."""

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Logging is ErrorCodes' job: expected errors are not noise, unexpected ones are logged there."""


def build_schema(settings: Settings | None = None) -> AuditTrailSchema:
    """The schema with the limits of ``settings`` (defaults when exporting ``schema.graphql``)."""
    settings = settings or Settings()
    documents = DocumentCache(maxsize=256)
    extensions: list[Any] = [
        Observed,  # first: it sees the codes ErrorCodes sets, and times the whole operation
        ErrorCodes,
        RequestScope,
        partial(ParsedDocuments, documents),
        # Clients send the same few documents over and over: validate each once.  (strawberry's
        # ParserCache is left out: a syntax error raised from it escapes the error-code extension.)
        # A document holding more fields, fragments, spreads or directives than allowed is refused
        # before validation, whose cost grows with the square of what a document repeats.
        # (A factory, not an instance: the extension reads the execution context of its own request.)
        partial(LimitedValidation, DocumentLimits.of(settings), ValidatedDocuments(maxsize=256)),
        # Parsing stops at this many tokens: a document under the byte limit can still cost seconds of
        # CPU to parse and validate, on the event loop every other request shares.
        MaxTokensLimiter(max_token_count=settings.max_query_tokens),
        QueryDepthLimiter(max_depth=settings.max_query_depth),
        MaxAliasesLimiter(max_alias_count=settings.max_aliases),
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection())
    schema = AuditTrailSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(auto_camel_case=True),
        execution_context_class=FastVariablesContext,
    )
    schema.documents = documents
    install_fast_inputs()
    return schema


def schema_sdl() -> str:
    """The SDL checked in as ``schema.graphql``."""
    return build_schema().as_str() + "\n"


__all__: list[Any] = ["build_schema", "schema_sdl"]
