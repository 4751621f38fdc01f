"""The live tail's input: the search's filters, without paging or ordering."""

from __future__ import annotations

import strawberry

from api.audit.query import Filters
from api.graphql.audit.inputs import QueryPredicate, filters_of


@strawberry.input(description="The search's filters; every field optional, so `{}` means every new entry.")
class AuditTrailEntryAddedInput:
    predicates: list[QueryPredicate] | None = None
    full_text_search: str | None = strawberry.field(
        default=None, description="Words that must all appear in the action, actor, resource ids or data."
    )

    def filters(self) -> Filters:
        return filters_of(self.predicates, self.full_text_search)
