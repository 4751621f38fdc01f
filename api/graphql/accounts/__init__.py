"""GraphQL surface of accounts and keys: login, viewer, key management."""

from api.graphql.accounts.mutations import AccountsMutation
from api.graphql.accounts.queries import AccountsQuery

__all__ = ["AccountsMutation", "AccountsQuery"]
