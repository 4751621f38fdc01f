"""GraphQL surface of the live tail: the ``auditTrailEntryAdded`` subscription."""

from api.graphql.live.subscriptions import LiveSubscription

__all__ = ["LiveSubscription"]
