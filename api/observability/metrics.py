"""The service's Prometheus metrics and the one function per fact that moves them.

Labels take values from closed sets only (a status class, not a status code; an operation the
schema names, not whatever a client calls its document), so a series count stays bounded whatever
the traffic.  Each call is a dictionary lookup and an increment: nothing here loops over events.
In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set before the process starts) the client
keeps each value in a file of that directory and the scrape sums them over processes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:  # the webhooks package counts its attempts here: a run-time import would be a cycle
    from api.webhooks.retry_policy import AttemptOutcome, NextStep

EventSource = Literal["mutation", "ingestion", "system"]
"""Who recorded: an audited mutation, a batch ingested from another service, or the service itself (the
worker's failed-login, auto-disable and digest events)."""
AttemptResult = Literal["delivered", "retrying", "failed", "superseded"]

# Seconds: a search takes 5-30 ms, an ingestion of 1,000 events a few hundred.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Seconds: a receiver answers in milliseconds or runs into the delivery timeout (10 s by default).
ATTEMPT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 5, 10, 50, 100, 250, 500, 1000)

GRAPHQL_REQUESTS = Counter(
    "audittrail_graphql_requests",
    "GraphQL operations answered, by root field and outcome code (ok, or the first error's code).",
    ["operation", "code"],
)
GRAPHQL_DURATION = Histogram(
    "audittrail_graphql_request_duration_seconds",
    "Time from parsing a GraphQL document to its answer, by root field.",
    ["operation"],
    buckets=REQUEST_BUCKETS,
)
EVENTS_RECORDED = Counter(
    "audittrail_events_recorded",
    "Audit events committed, by source: an audited mutation, ingestion from another service, or the service"
    " itself (system: failed logins, auto-disabled webhooks, digests).",
    ["source"],
)
INGESTION_BATCH = Histogram(
    "audittrail_ingestion_batch_events",
    "Events per committed auditTrailRecordEvents call.",
    buckets=BATCH_BUCKETS,
)
DELIVERY_ATTEMPTS = Counter(
    "audittrail_delivery_attempts",
    "Webhook delivery attempts made, by what followed (delivered, retrying, failed, superseded) and the"
    " answer's status class (none: no answer).",
    ["result", "status_class"],
)
DELIVERY_ATTEMPT_DURATION = Histogram(
    "audittrail_delivery_attempt_duration_seconds",
    "How long the endpoint took to answer an attempt (or to fail it).",
    buckets=ATTEMPT_BUCKETS,
)
WEBHOOKS_AUTO_DISABLED = Counter(
    "audittrail_webhooks_auto_disabled", "Webhooks the worker disabled for failing past the limit."
)
RETENTION_RUNS = Counter("audittrail_retention_runs", "Retention runs completed.")
RETENTION_EVENTS_REMOVED = Counter(
    "audittrail_retention_events_removed",
    "Events deleted row by row by retention (the rows of dropped partitions are not counted).",
)
RETENTION_DELIVERIES_REMOVED = Counter(
    "audittrail_retention_deliveries_removed", "Webhook deliveries deleted with their expired events."
)
RETENTION_PARTITIONS_DROPPED = Counter(
    "audittrail_retention_partitions_dropped", "Daily event partitions dropped whole by retention."
)
LIVE_SUBSCRIBERS = Gauge(
    "audittrail_live_subscribers",
    "Live-tail subscriptions open (auditTrailEntryAdded), summed over the API processes alive.",
    multiprocess_mode="livesum",
)
LIVE_CLOSED = Counter(
    "audittrail_live_subscribers_closed",
    "Live-tail subscriptions the server ended, by reason (slow: buffer full; access: key revoked, token logged"
    " out or expired; feed: the database notifications were lost or outrun; stopping).",
    ["reason"],
)
LIVE_ENTRIES_SENT = Counter(
    "audittrail_live_entries_sent",
    "Live-tail entries sent to subscribers, by how their message was made (shared: another subscriber's"
    " payload of the same document reused; executed: executed once here for everyone sharing it; plain:"
    " strawberry's own execution, for a result with errors or with shared frames off).",
    ["how"],
)

_RESULT_OF_STATUS: dict[str, AttemptResult] = {"DELIVERED": "delivered", "PENDING": "retrying", "FAILED": "failed"}
_STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}


def status_class(status_code: int | None) -> str:
    """``2xx``..``5xx``, or ``none`` when the endpoint gave no answer (timeout, refused, not sent)."""
    if status_code is None:
        return "none"
    return _STATUS_CLASSES.get(status_code // 100, "other")


_GRAPHQL_SERIES: dict[tuple[str, str], tuple[Counter, Histogram]] = {}
"""The two series of each (operation, code): ``labels()`` checks and locks on every call, 3 µs of
each request; the series it returns live as long as the metric, so they are looked up once."""


def count_graphql_request(*, operation: str, code: str, duration_seconds: float) -> None:
    """One GraphQL operation answered; ``operation`` and ``code`` must come from closed sets."""
    series = _GRAPHQL_SERIES.get((operation, code))
    if series is None:
        series = _GRAPHQL_SERIES[(operation, code)] = (
            GRAPHQL_REQUESTS.labels(operation, code),
            GRAPHQL_DURATION.labels(operation),
        )
    requests, duration = series
    requests.inc()
    duration.observe(duration_seconds)


def count_events_recorded(source: EventSource, count: int) -> None:
    """``count`` events committed (call after the commit: a rolled-back event was never recorded)."""
    EVENTS_RECORDED.labels(source).inc(count)
    if source == "ingestion":
        INGESTION_BATCH.observe(count)


def count_delivery_attempt(*, result: AttemptResult, status_code: int | None, latency_ms: int | None) -> None:
    """One attempt recorded (or found superseded when it came to be recorded)."""
    DELIVERY_ATTEMPTS.labels(result, status_class(status_code)).inc()
    if latency_ms is not None:
        DELIVERY_ATTEMPT_DURATION.observe(latency_ms / 1000)


def count_attempt(outcome: AttemptOutcome, next_step: NextStep | None) -> None:
    """An attempt as ``api.webhooks.delivery`` ends it: ``next_step`` None when it was superseded."""
    result: AttemptResult = "superseded" if next_step is None else _RESULT_OF_STATUS[next_step.status.value]
    sent = outcome.status_code is not None or outcome.latency_ms > 0
    count_delivery_attempt(
        result=result, status_code=outcome.status_code, latency_ms=outcome.latency_ms if sent else None
    )


def count_webhooks_auto_disabled(count: int) -> None:
    """Webhooks disabled by the worker's health cron (after its transaction committed)."""
    WEBHOOKS_AUTO_DISABLED.inc(count)


def count_retention_run(*, events_removed: int, deliveries_removed: int, partitions_dropped: int) -> None:
    """A retention run that completed, with what it removed."""
    RETENTION_RUNS.inc()
    RETENTION_EVENTS_REMOVED.inc(events_removed)
    RETENTION_DELIVERIES_REMOVED.inc(deliveries_removed)
    RETENTION_PARTITIONS_DROPPED.inc(partitions_dropped)


LiveCloseReason = Literal["slow", "access", "feed", "stopping"]
LiveSendPath = Literal["shared", "executed", "plain"]


def count_live_subscribers(change: int) -> None:
    """A live-tail subscription opened (+1) or ended (-1)."""
    LIVE_SUBSCRIBERS.inc(change)


def count_live_closed(reason: LiveCloseReason) -> None:
    """The server ended a live-tail subscription, for ``reason``."""
    LIVE_CLOSED.labels(reason=reason).inc()


# Counted once per entry per subscriber (tens of thousands a second): the children are looked up once.
_LIVE_ENTRIES_SENT_BY_HOW = {how: LIVE_ENTRIES_SENT.labels(how=how) for how in get_args(LiveSendPath)}


def count_live_entry_sent(how: LiveSendPath) -> None:
    """A live-tail entry went to one subscriber, its message made ``how``."""
    _LIVE_ENTRIES_SENT_BY_HOW[how].inc()
