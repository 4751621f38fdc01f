"""The saved filter as GraphQL shows it, in the shape of Spacelift's ``SavedFilter``."""

from __future__ import annotations

import strawberry

from api.graphql.scalars import unix_seconds
from api.models import SavedFilter as SavedFilterRow


@strawberry.type(description="A named view: filters and a time range, as the client's JSON text.")
class SavedFilter:
    id: strawberry.ID
    name: str
    type: str = strawberry.field(description="Which view it is for; here always auditTrailEntries.")
    data: str = strawberry.field(description="The JSON text as it was saved, byte for byte.")
    is_public: bool = strawberry.field(
        description="True: every key of the account that reads the trail sees it; false: only createdBy."
    )
    created_by: str = strawberry.field(description="The login (key id) of the key that saved it.")
    created_at: int = strawberry.field(description="Unix seconds.")
    updated_at: int = strawberry.field(description="Unix seconds.")

    @classmethod
    def from_row(cls, row: SavedFilterRow) -> SavedFilter:
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            type=row.type,
            data=row.data,
            is_public=row.is_public,
            created_by=row.created_by,
            created_at=unix_seconds(row.created_at) or 0,
            updated_at=unix_seconds(row.updated_at) or 0,
        )
