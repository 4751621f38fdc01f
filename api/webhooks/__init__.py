"""The account's webhook: configuration, verify-on-save, attempts made now or by the worker, the
delivery log and the worker's wake-ups.  Callers use the verbs named here: ``webhooks.redeliver(...)``.

Behind them: ``config`` (set, enable, disable, delete), ``validation``, ``crypto`` (secrets at rest),
``signing``, ``attempts`` (the claim and record SQL), ``sender`` (HTTP), ``retry_policy``,
``delivery`` (one attempt: claim, send, record), ``delivery_log`` and ``queue`` (Redis wake-ups).
"""

from api.webhooks.attempts import claim_lease_seconds, find_due_deliveries
from api.webhooks.config import (
    WebhookSettings,
    delete_webhook,
    find_live_webhook,
    get_live_webhook,
    set_webhook,
    set_webhook_enabled,
)
from api.webhooks.delivery import (
    DeliveryAttemptResult,
    attempt_in_transaction,
    deliver_due,
    deliver_now,
    redeliver,
    verify_on_save,
)
from api.webhooks.delivery_log import DeliveryPage, delivery_cursor, get_delivery, list_deliveries
from api.webhooks.queue import connect_queue, enqueue_deliveries, enqueue_overdue, enqueue_retry
from api.webhooks.retry_policy import AttemptOutcome, NextStep, RetryPolicy
from api.webhooks.sender import Sender
from api.webhooks.signing import check_signatures

__all__ = [
    "AttemptOutcome",
    "DeliveryAttemptResult",
    "DeliveryPage",
    "NextStep",
    "RetryPolicy",
    "Sender",
    "WebhookSettings",
    "attempt_in_transaction",
    "check_signatures",
    "claim_lease_seconds",
    "connect_queue",
    "delete_webhook",
    "deliver_due",
    "deliver_now",
    "delivery_cursor",
    "enqueue_deliveries",
    "enqueue_overdue",
    "enqueue_retry",
    "find_due_deliveries",
    "find_live_webhook",
    "get_delivery",
    "get_live_webhook",
    "list_deliveries",
    "redeliver",
    "set_webhook",
    "set_webhook_enabled",
    "verify_on_save",
]
