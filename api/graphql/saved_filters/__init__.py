"""GraphQL surface of saved filters (the Logs tab's views), in Spacelift's names: ``savedFilters``,
``savedFilter``, ``savedFilterCreate``, ``savedFilterUpdate``, ``savedFilterDelete``.  ADMIN and
READER; every mutation is audited."""

from api.graphql.saved_filters.mutations import SavedFiltersMutation
from api.graphql.saved_filters.queries import SavedFiltersQuery

__all__ = ["SavedFiltersMutation", "SavedFiltersQuery"]
