"""GraphQL surface of replays: start one (a time range of stored events sent to the webhook again),
follow its progress, cancel it.  ADMIN only; starting and cancelling are audited."""

from api.graphql.replays.mutations import ReplaysMutation
from api.graphql.replays.queries import ReplaysQuery

__all__ = ["ReplaysMutation", "ReplaysQuery"]
