"""``GET /metrics``: the Prometheus text of this process, or of all processes sharing
``PROMETHEUS_MULTIPROC_DIR``, behind an optional bearer token.

The API adds the delivery backlog, read from the database at scrape time (one query on the
pending deliveries): every API process reports the same figure, fresh, whichever one answers.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

if TYPE_CHECKING:  # api.db calls tracing: importing it here at run time would be a cycle
    from api.db import Database
    from api.settings import Settings

log = structlog.get_logger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
BACKLOG_TIMEOUT_SECONDS = 5.0

_BACKLOG = text(
    """
    SELECT count(*) AS pending, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS oldest_age_seconds
    FROM webhook_deliveries
    WHERE status = 'PENDING'
    """
)


@dataclass(frozen=True, kw_only=True)
class Backlog:
    """Deliveries not yet settled, and how long the oldest of them has waited."""

    pending: int
    oldest_age_seconds: float


class BacklogCollector(Collector):
    """The backlog read for one scrape, as two gauges."""

    def __init__(self, backlog: Backlog) -> None:
        self._backlog = backlog

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "audittrail_deliveries_pending",
            "Webhook deliveries still PENDING (due now, retrying later, or being sent).",
            value=self._backlog.pending,
        )
        yield GaugeMetricFamily(
            "audittrail_oldest_pending_delivery_age_seconds",
            "Age of the oldest PENDING delivery (0 when none): the backlog to alert on.",
            value=self._backlog.oldest_age_seconds,
        )


async def read_backlog(db: Database) -> Backlog:
    """One statement over the pending deliveries (the partial index keeps them apart from settled ones)."""
    async with db.transaction() as session:
        row = (await session.execute(_BACKLOG)).one()
    return Backlog(pending=int(row.pending), oldest_age_seconds=float(row.oldest_age_seconds))


def process_registry() -> CollectorRegistry:
    """This process's metrics; in multiprocess mode, the sum over every process of the directory.

    The default registry also holds the process and platform collectors; in multiprocess mode
    those cannot be summed and are left out (the client's documented limit).
    """
    if not os.environ.get(MULTIPROC_ENV):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # the client leaves it unannotated
    return registry


def exposition(backlog: Backlog | None) -> bytes:
    """The text a scrape gets."""
    body = generate_latest(process_registry())
    if backlog is not None:
        extra = CollectorRegistry()
        extra.register(BacklogCollector(backlog))
        body += generate_latest(extra)
    return body


def is_authorized(request: Request, settings: Settings) -> bool:
    """No token set: open.  Otherwise ``Authorization: Bearer <token>``, compared in constant time."""
    if settings.metrics_token is None:
        return True
    expected = f"Bearer {settings.metrics_token.get_secret_value()}".encode()
    return hmac.compare_digest(request.headers.get("authorization", "").encode(), expected)


def metrics_routes(settings: Settings, database: Callable[[], Database] | None = None) -> list[Route]:
    """``/metrics`` (none when ``AUDITTRAIL_METRICS_ENABLED`` is false); with ``database``, the backlog too."""
    if not settings.metrics_enabled:
        return []
    read: Callable[[], Awaitable[Backlog]] | None = (lambda: read_backlog(database())) if database else None

    async def metrics(request: Request) -> Response:
        if not is_authorized(request, settings):
            return Response(
                "a bearer token is required: Authorization: Bearer <AUDITTRAIL_METRICS_TOKEN>\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                media_type="text/plain",
            )
        backlog = None
        if read is not None:
            try:
                backlog = await read()
            except Exception as error:
                # The process's own figures still help when the database does not answer.
                log.warning("could not read the delivery backlog for /metrics", error=type(error).__name__)
        return Response(exposition(backlog), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics, methods=["GET"])]


def prepare_multiprocess_dir(data_dir: Path, *, processes: int) -> None:
    """Before several API processes start: give them one empty directory to share their values in.

    An operator's own ``PROMETHEUS_MULTIPROC_DIR`` is kept, emptied of a previous run's files (the
    client's rule: values of dead processes would otherwise be summed in again).
    """
    if processes < 2 and not os.environ.get(MULTIPROC_ENV):
        return
    directory = Path(os.environ.get(MULTIPROC_ENV) or data_dir / "prometheus-api")
    if directory.exists():
        for stale in directory.glob("*.db"):
            stale.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory)


__all__ = ["Backlog", "metrics_routes", "prepare_multiprocess_dir", "read_backlog"]
