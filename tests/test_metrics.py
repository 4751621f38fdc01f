"""``/metrics``: the counters move with what the service did, labels stay bounded, the backlog is the
database's, and the endpoint can be turned off or put behind a bearer token (API and worker alike)."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from api.app import create_app
from api.models import Role
from api.observability import prepare_multiprocess_dir
from api.observability.exposition import MULTIPROC_ENV
from api.settings import Settings
from api.webhooks import connect_queue
from tests.helpers import Api, Key
from tests.receivers import SET_WEBHOOK, Receiver, Reply, running_receiver, running_worker, unused_port, webhook_input
from tests.support.polling import poll
from tests.support.scrape import Scrape, scrape
from tests.test_webhook_auto_disable import failing_for, failing_webhook
from workers.context import CONTEXT_KEY, WorkerContext
from workers.metrics_server import WorkerMetricsServer
from workers.webhook_health import auto_disable_job

RECORD = "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) { id } }"
SEARCH = "query { searchAuditTrailEntries(input: {first: 5}) { edges { node { id } } } }"
METRICS_TOKEN = "metrics-token-1f2e3d4c5b6a"


def events(count: int, action: str = "stack.updated") -> list[dict[str, object]]:
    return [{"action": action, "actor": "github::alice", "eventType": "UPDATE", "data": {"n": n}} for n in range(count)]


async def set_webhook(api: Api, admin: Key, endpoint: str) -> None:
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(endpoint, retryOnFailure=True)}, token=admin.jwt)).ok()


@asynccontextmanager
async def app_with(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app built from ``settings``, its lifespan running, behind an in-process client."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://audittrail.test") as client:
            yield client


async def test_recorded_events_and_requests_move_the_counters_by_what_was_committed(api: Api) -> None:
    service = await api.key("acme", Role.SERVICE)
    reader = await api.key("acme", Role.READER)
    before = await scrape(api.client, "/metrics")

    (await api.gql(RECORD, {"events": events(7)}, token=service.jwt)).ok()
    (await api.gql(RECORD, {"events": events(3)}, token=service.jwt)).ok()
    refused = await api.gql(RECORD, {"events": events(2)}, token=reader.jwt)
    (await api.gql(SEARCH, token=reader.jwt)).ok()

    after = await scrape(api.client, "/metrics")
    assert refused.codes == ["FORBIDDEN"]
    assert (
        after.value("audittrail_events_recorded_total", source="ingestion")
        - before.value("audittrail_events_recorded_total", source="ingestion")
        == 10
    ), "the refused batch recorded nothing and counts nothing"
    record_ok = dict(operation="auditTrailRecordEvents", code="ok")
    assert (
        after.value("audittrail_graphql_requests_total", **record_ok)
        - before.value("audittrail_graphql_requests_total", **record_ok)
        == 2
    )
    forbidden = dict(operation="auditTrailRecordEvents", code="FORBIDDEN")
    assert (
        after.value("audittrail_graphql_requests_total", **forbidden)
        - before.value("audittrail_graphql_requests_total", **forbidden)
        == 1
    )
    search = dict(operation="searchAuditTrailEntries")
    assert (
        after.value("audittrail_graphql_request_duration_seconds_count", **search)
        - before.value("audittrail_graphql_request_duration_seconds_count", **search)
        == 1
    )
    assert (
        after.value("audittrail_ingestion_batch_events_count") - before.value("audittrail_ingestion_batch_events_count")
        == 2
    )
    assert (
        after.value("audittrail_ingestion_batch_events_sum") - before.value("audittrail_ingestion_batch_events_sum")
        == 10
    )
    # An audited mutation (the logins above) counts under its own source.
    assert after.value("audittrail_events_recorded_total", source="mutation") >= 2
    assert after.has("process_cpu_seconds_total"), "the client's default process collector is served"


async def test_operation_names_a_client_invents_share_one_label(api: Api) -> None:
    reader = await api.key("acme", Role.READER)
    for n in range(20):
        document = f"query Invented{n} {{ searchAuditTrailEntries(input: {{first: 1}}) {{ edges {{ cursor }} }} }}"
        (await api.gql(document, token=reader.jwt)).ok()
        await api.gql(f"query Bogus{n} {{ noSuchField{n} }}", token=reader.jwt)
        await api.gql(f"{{ __typename alias{n}: __typename }}", token=reader.jwt)
    await api.gql("this is not { GraphQL", token=reader.jwt)

    labels = (await scrape(api.client, "/metrics")).label_values("audittrail_graphql_requests_total", "operation")
    assert not any(label.startswith(("Invented", "Bogus", "noSuchField", "alias")) for label in labels), labels
    assert {"searchAuditTrailEntries", "other"} <= labels
    codes = (await scrape(api.client, "/metrics")).label_values("audittrail_graphql_requests_total", "code")
    assert "GRAPHQL_VALIDATION_FAILED" in codes


async def test_attempts_are_counted_by_result_and_status_class(api: Api, settings: Settings) -> None:
    admin = await api.key("acme", Role.ADMIN)
    service = await api.key("acme", Role.SERVICE)
    # Verify-on-save gets its 200; then one 503 and 200s for the rest.
    script = [Reply(status=200), Reply(status=503)]
    async with running_receiver(script=script) as receiver:
        await set_webhook(api, admin, receiver.url)
        before = await scrape(api.client, "/metrics")
        (await api.gql(RECORD, {"events": events(2, "stack.deployed")}, token=service.jwt)).ok()
        async with running_worker(settings):
            await receiver.wait_for(1 + 3, timeout=20)
            await poll(lambda: _all_delivered(api), timeout=20, what="both deliveries to be DELIVERED")
        after = await scrape(api.client, "/metrics")

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert delta("audittrail_delivery_attempts_total", result="delivered", status_class="2xx") == 2
    assert delta("audittrail_delivery_attempts_total", result="retrying", status_class="5xx") == 1
    assert delta("audittrail_delivery_attempt_duration_seconds_count") == 3
    assert after.value("audittrail_deliveries_pending") == 0
    assert after.value("audittrail_oldest_pending_delivery_age_seconds") == 0


async def _all_delivered(api: Api) -> bool:
    from sqlalchemy import text

    async with api.db.transaction() as session:
        pending = (
            await session.execute(text("SELECT count(*) FROM webhook_deliveries WHERE status <> 'DELIVERED'"))
        ).scalar_one()
    return int(pending) == 0


async def test_backlog_gauges_report_pending_deliveries_and_the_oldest_age(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    service = await api.key("acme", Role.SERVICE)
    await set_webhook(api, admin, receiver.url)
    (await api.gql(RECORD, {"events": events(4)}, token=service.jwt)).ok()  # no worker runs: they wait

    async def aged() -> bool:
        return (await scrape(api.client, "/metrics")).value("audittrail_oldest_pending_delivery_age_seconds") > 0.2

    await poll(aged, timeout=10, what="the oldest pending delivery to age")
    backlog = await scrape(api.client, "/metrics")
    assert backlog.value("audittrail_deliveries_pending") == 4


async def test_metrics_behind_a_token_refuse_everyone_without_it(settings: Settings) -> None:
    protected = settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)})
    async with app_with(protected) as client:
        missing = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer metrics-token-1f2e3d4c5b6b"})
        basic = await client.get("/metrics", headers={"Authorization": f"Basic {METRICS_TOKEN}"})
        allowed = await scrape(client, "/metrics", token=METRICS_TOKEN)
    assert [missing.status_code, wrong.status_code, basic.status_code] == [401, 401, 401]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert METRICS_TOKEN not in missing.text + wrong.text + basic.text
    assert allowed.has("audittrail_deliveries_pending")


async def test_metrics_turned_off_are_not_served(settings: Settings) -> None:
    async with app_with(settings.model_copy(update={"metrics_enabled": False})) as client:
        response = await client.get("/metrics")
        healthy = await client.get("/healthz")
    assert response.status_code == 404
    assert healthy.status_code == 200


@pytest.mark.parametrize("token", [None, METRICS_TOKEN])
async def test_the_worker_serves_its_own_metrics_on_its_port(api: Api, settings: Settings, token: str | None) -> None:
    port = unused_port()
    worker_settings = settings.model_copy(
        update={"worker_metrics_port": port, "metrics_token": SecretStr(token) if token else None}
    )
    async with running_worker(worker_settings), httpx.AsyncClient() as client:
        url = f"http://127.0.0.1:{port}/metrics"
        await poll(lambda: _listening(port), timeout=10, what="the worker's metrics port")
        served = await scrape(client, url, token=token)
        unauthenticated = await client.get(url)
    assert served.has("audittrail_delivery_attempts_total") or served.has("process_cpu_seconds_total")
    assert not served.has("audittrail_deliveries_pending"), "the backlog is the API's to report"
    assert unauthenticated.status_code == (401 if token else 200)
    assert not await _listening(port), "the worker's shutdown closes the port"


async def _listening(port: int) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/", timeout=1)
    except httpx.TransportError:
        return False
    return True


def test_scrape_parser_sums_labelled_samples() -> None:
    parsed = Scrape.parse('# TYPE x counter\nx_total{a="1",b="2"} 3.0\nx_total{a="1",b="3"} 4.0\n')
    assert parsed.value("x_total", a="1") == 7
    assert parsed.value("x_total", b="3") == 4


def test_several_api_processes_get_one_emptied_directory_to_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, "recorded, so that the test's own setting is undone")
    monkeypatch.delenv(MULTIPROC_ENV)
    prepare_multiprocess_dir(tmp_path, processes=1)
    assert MULTIPROC_ENV not in os.environ, "one process keeps the plain registry"

    stale = tmp_path / "prometheus-api" / "counter_123.db"
    stale.parent.mkdir()
    stale.write_bytes(b"a previous run's values")
    prepare_multiprocess_dir(tmp_path, processes=2)
    assert os.environ[MULTIPROC_ENV] == str(tmp_path / "prometheus-api")
    assert not stale.exists(), "values of dead processes would be summed in again"


async def test_a_worker_metrics_port_in_use_stops_the_worker_with_a_clear_message(settings: Settings) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"127.0.0.1:{port}.*its own AUDITTRAIL_WORKER_METRICS_PORT"):
            await WorkerMetricsServer.start(settings.model_copy(update={"worker_metrics_port": port}))


async def test_webhooks_the_worker_disables_are_counted(api: Api, settings: Settings, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    await failing_webhook(api, admin, receiver)
    await failing_for(api, admin.account_id, settings.webhook_auto_disable_after_seconds + 60)
    before = await scrape(api.client, "/metrics")
    queue = await connect_queue(settings.redis_url or "")
    context = WorkerContext.open(settings, queue)
    try:
        disabled = await auto_disable_job({CONTEXT_KEY: context})
        again = await auto_disable_job({CONTEXT_KEY: context})
    finally:
        await context.close()
        await queue.aclose()
    after = await scrape(api.client, "/metrics")
    assert (disabled, again) == (1, 0)
    recorded = "audittrail_events_recorded_total"
    assert after.value(recorded, source="system") - before.value(recorded, source="system") == 1, "its event"
    assert (
        after.value("audittrail_webhooks_auto_disabled_total") - before.value("audittrail_webhooks_auto_disabled_total")
        == 1
    )
