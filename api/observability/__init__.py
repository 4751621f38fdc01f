"""What operators watch: Prometheus metrics (``metrics``, served by ``exposition``) and OpenTelemetry
traces (``tracing``).  Callers name the fact, ``observability.count_events_recorded("ingestion", n)``,
and never touch the client libraries."""

from api.observability.exposition import Backlog, metrics_routes, prepare_multiprocess_dir, read_backlog
from api.observability.metrics import (
    count_attempt,
    count_delivery_attempt,
    count_events_recorded,
    count_graphql_request,
    count_live_closed,
    count_live_entry_sent,
    count_live_subscribers,
    count_retention_run,
    count_webhooks_auto_disabled,
)
from api.observability.tracing import (
    ActiveSpan,
    begin_span,
    client_call,
    configure_tracing,
    is_tracing,
    job_span,
    job_trace_context,
    span,
    use_provider,
)

__all__ = [
    "ActiveSpan",
    "Backlog",
    "begin_span",
    "client_call",
    "configure_tracing",
    "count_attempt",
    "count_delivery_attempt",
    "count_events_recorded",
    "count_graphql_request",
    "count_live_closed",
    "count_live_entry_sent",
    "count_live_subscribers",
    "count_retention_run",
    "count_webhooks_auto_disabled",
    "is_tracing",
    "job_span",
    "job_trace_context",
    "metrics_routes",
    "prepare_multiprocess_dir",
    "read_backlog",
    "span",
    "use_provider",
]
