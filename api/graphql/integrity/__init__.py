"""GraphQL surface of tamper evidence: the digest public keys, verification, the digest events switch."""

from api.graphql.integrity.mutations import IntegrityMutation
from api.graphql.integrity.queries import IntegrityQuery

__all__ = ["IntegrityMutation", "IntegrityQuery"]
