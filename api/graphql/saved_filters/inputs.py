"""The input of ``savedFilterCreate``, as Spacelift's ``SavedFilterInput``."""

from __future__ import annotations

import strawberry

from api.audit.saved_filters import SavedFilterDraft


@strawberry.input
class SavedFilterInput:
    name: str = strawberry.field(description="1-100 characters; unique in the account for its type.")
    data: str = strawberry.field(description="The JSON text of an object, at most 16 KiB.")
    type: str = strawberry.field(description="auditTrailEntries (the Logs tab).")
    is_public: bool = strawberry.field(description="Seen by every key of the account, or only by the one saving it.")

    def to_draft(self) -> SavedFilterDraft:
        return SavedFilterDraft(name=self.name, data=self.data, type=self.type, is_public=self.is_public)
