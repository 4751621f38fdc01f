"""The account's webhook: configuration, verify-on-save, attempts made now or by the worker, the
delivery log and the worker's wake-ups.  Callers use the verbs named here: ``webhooks.redeliver(...)``.

Behind them: ``config`` (set, enable, disable, delete), ``validation``, ``addresses`` (which addresses
an endpoint may reach), ``crypto`` (secrets at rest), ``signing``, ``attempts`` (the claim and record
SQL), ``sender`` (HTTP) and ``pinning`` (its connections go to the judged address), ``retry_policy``,
``delivery`` (one attempt: claim, send, record), ``delivery_log``, ``redeliver_failed`` (the failed
deliveries queued again) and ``queue`` (Redis wake-ups).
"""

from api.webhooks.addresses import EndpointGuard, Resolver, resolve_addresses
from api.webhooks.attempts import claim_lease_seconds, find_due_deliveries
from api.webhooks.config import (
    WebhookSettings,
    configure,
    delete,
    delete_headers,
    delete_webhook,
    disable,
    enable,
    final_payload_to,
    find_deleted_webhook,
    find_live_webhook,
    get_live_webhook,
    prepare_test,
    set_headers,
    set_webhook,
    set_webhook_enabled,
)
from api.webhooks.delivery import (
    DeliveryAttemptResult,
    deliver_due,
    deliver_now,
    prepare_redelivery,
    redeliver,
    verify_on_save,
)
from api.webhooks.delivery_log import DeliveryPage, delivery_cursor, get_delivery, list_attempts, list_deliveries
from api.webhooks.explain import explain_attempt
from api.webhooks.queue import connect_queue, enqueue_deliveries, enqueue_overdue, enqueue_retry, waiting_wake_ups
from api.webhooks.redeliver_failed import FailedDeliveriesRange, RequeuedDeliveries, requeue_failed_deliveries
from api.webhooks.replay import (
    ReplayProgress,
    ReplayRequest,
    advance_replays,
    cancel_replay,
    list_replays,
    start_replay,
)
from api.webhooks.retry_policy import AttemptOutcome, NextStep, RetryPolicy
from api.webhooks.sender import Sender
from api.webhooks.signing import check_signatures
from api.webhooks.unit_of_work import UnitOfWork, unit_of_work

__all__ = [
    "AttemptOutcome",
    "DeliveryAttemptResult",
    "DeliveryPage",
    "EndpointGuard",
    "FailedDeliveriesRange",
    "NextStep",
    "ReplayProgress",
    "ReplayRequest",
    "RequeuedDeliveries",
    "Resolver",
    "RetryPolicy",
    "Sender",
    "UnitOfWork",
    "WebhookSettings",
    "advance_replays",
    "cancel_replay",
    "check_signatures",
    "claim_lease_seconds",
    "configure",
    "connect_queue",
    "delete",
    "delete_headers",
    "delete_webhook",
    "deliver_due",
    "deliver_now",
    "delivery_cursor",
    "disable",
    "enable",
    "enqueue_deliveries",
    "enqueue_overdue",
    "enqueue_retry",
    "explain_attempt",
    "final_payload_to",
    "find_deleted_webhook",
    "find_due_deliveries",
    "find_live_webhook",
    "get_delivery",
    "get_live_webhook",
    "list_attempts",
    "list_deliveries",
    "list_replays",
    "prepare_redelivery",
    "prepare_test",
    "redeliver",
    "requeue_failed_deliveries",
    "resolve_addresses",
    "set_headers",
    "set_webhook",
    "set_webhook_enabled",
    "start_replay",
    "unit_of_work",
    "verify_on_save",
    "waiting_wake_ups",
]
