"""GraphQL inputs of accounts and keys."""

from __future__ import annotations

import strawberry

from api.graphql.accounts.types import ApiKeyRole


@strawberry.input
class ApiKeyCreateInput:
    name: str
    role: ApiKeyRole  # type: ignore[valid-type]  # strawberry enum wrapper
