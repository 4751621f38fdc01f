"""GraphQL surface of the audit trail: search, one entry, suggestions, ingestion and retention."""

from api.graphql.audit.mutations import AuditMutation
from api.graphql.audit.queries import AuditQuery

__all__ = ["AuditMutation", "AuditQuery"]
