"""Ends each request's read transaction when its operation ends, whatever happened in it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from strawberry.extensions import SchemaExtension

from api.graphql.context import RequestContext

log = structlog.get_logger(__name__)


class RequestScope(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            context = self.execution_context.context
            if isinstance(context, RequestContext):
                try:
                    await context.close()
                except Exception as error:  # the answer is already made; a read transaction has nothing to lose
                    log.warning("could not end the request's read transaction", error=type(error).__name__)
