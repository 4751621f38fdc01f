"""GraphQL surface of the webhook: read it with its health and log, set, enable, disable, delete,
test, redeliver.  ADMIN only; every mutation is audited."""

from api.graphql.webhooks.mutations import WebhooksMutation
from api.graphql.webhooks.queries import WebhooksQuery

__all__ = ["WebhooksMutation", "WebhooksQuery"]
