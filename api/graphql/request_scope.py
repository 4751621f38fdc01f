"""Ends each request's read transaction when its operation ends, whatever happened in it."""

from __future__ import annotations

import structlog

from api.graphql.context import RequestContext

log = structlog.get_logger(__name__)


async def end_request_scope(context: object) -> None:
    """Close what the request's fields opened (``RequestContext.close``); called by ``RequestHooks``
    when the operation ends, also after an error.  A failure to close is logged, not raised: the
    answer is already made, and a read transaction has nothing to lose."""
    if isinstance(context, RequestContext):
        try:
            await context.close()
        except Exception as error:
            log.warning("could not end the request's read transaction", error=type(error).__name__)
