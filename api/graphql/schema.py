"""The strawberry schema: domain query/mutation types merged, limits and error codes attached."""

from __future__ import annotations

from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from api.graphql.accounts import AccountsMutation, AccountsQuery
from api.graphql.audit import AuditMutation, AuditQuery
from api.graphql.fast_inputs import install_fast_inputs
from api.graphql.fast_variables import FastVariablesContext
from api.graphql.integrity import IntegrityMutation, IntegrityQuery
from api.graphql.live import LiveSubscription
from api.graphql.parsed_documents import DocumentCache
from api.graphql.replays import ReplaysMutation, ReplaysQuery
from api.graphql.request_hooks import RequestChecks, RequestHooks
from api.graphql.request_hooks_runner import RequestHooksRunner
from api.graphql.saved_filters import SavedFiltersMutation, SavedFiltersQuery
from api.graphql.scalars import SCALARS
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
    checks: RequestChecks
    """What ``RequestHooks`` holds each request of this schema to, and the documents it keeps."""

    @property
    def documents(self) -> DocumentCache:
        """The parsed documents of this schema's requests, by their text."""
        return self.checks.documents

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        """``RequestHooks`` alone is driven by its own runner (``request_hooks_runner.py``), without the
        context managers strawberry's builds per hook and request."""
        if len(extensions) == 1 and isinstance(extensions[0], RequestHooks):
            return RequestHooksRunner(execution_context, extensions[0])
        return super().create_extensions_runner(execution_context, extensions)

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Logging is ``errors.with_code``'s job: expected errors are not noise, unexpected ones are logged there."""


def build_schema(settings: Settings | None = None) -> AuditTrailSchema:
    """The schema with the limits of ``settings`` (defaults when exporting ``schema.graphql``)."""
    checks = RequestChecks.of(settings or Settings())
    schema = AuditTrailSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # One extension for everything around a request, built per request (``request_hooks.py``).
        extensions=[partial(RequestHooks, checks)],
        config=StrawberryConfig(auto_camel_case=True, scalar_map=SCALARS),
        execution_context_class=FastVariablesContext,
    )
    schema.checks = checks
    install_fast_inputs()
    return schema


def schema_sdl() -> str:
    """The SDL checked in as ``schema.graphql``."""
    return build_schema().as_str() + "\n"


__all__: list[Any] = ["build_schema", "schema_sdl"]
