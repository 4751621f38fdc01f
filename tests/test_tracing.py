"""One trace per mutation: request -> transaction -> enqueue, continued in the worker's delivery and its
webhook call; and tracing stays off until ``OTEL_EXPORTER_OTLP_ENDPOINT`` asks for it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import text

from api.models import Role
from api.observability import is_tracing, use_provider
from api.observability.tracing import provider_from_environment
from api.settings import Settings
from tests.helpers import Api
from tests.receivers import SET_WEBHOOK, Receiver, running_receiver, running_worker, webhook_input
from tests.support.polling import poll

RECORD = "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) { id } }"
EVENT = {"action": "stack.updated", "actor": "github::alice", "eventType": "UPDATE"}
REMOTE_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
REMOTE_SPAN_ID = "00f067aa0ba902b7"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test, every span kept in memory; off again afterwards."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    use_provider(provider)
    try:
        yield exporter
    finally:
        use_provider(None)
        provider.shutdown()


def only(found: list[ReadableSpan], what: str) -> ReadableSpan:
    assert len(found) == 1, f"expected one {what}, got {[span.name for span in found]}"
    return found[0]


def children(all_spans: tuple[ReadableSpan, ...], parent: ReadableSpan, name: str) -> list[ReadableSpan]:
    assert parent.context is not None
    return [
        span
        for span in all_spans
        if span.name == name and span.parent is not None and span.parent.span_id == parent.context.span_id
    ]


async def test_a_recorded_event_is_one_trace_from_the_request_to_the_webhook_call(
    api: Api, settings: Settings, receiver: Receiver, spans: InMemorySpanExporter
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    service = await api.key("acme", Role.SERVICE)
    endpoint = receiver.url + "?token=query-secret-9d8c"
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(endpoint)}, token=admin.jwt)).ok()
    spans.clear()

    (await api.gql(RECORD, {"events": [EVENT]}, token=service.jwt)).ok()
    async with running_worker(settings):
        await receiver.wait_for(2, timeout=20)
        await poll(lambda: _delivered(api), timeout=20, what="the delivery to be recorded DELIVERED")
    finished = spans.get_finished_spans()

    request = only([s for s in finished if s.name == "graphql auditTrailRecordEvents"], "request span")
    assert request.kind == SpanKind.SERVER and request.parent is None
    assert children(finished, request, "db.transaction"), "the request's transaction is its child"
    enqueue = only(children(finished, request, "enqueue deliver"), "enqueue span under the request")
    assert enqueue.kind == SpanKind.PRODUCER
    deliver = only(children(finished, enqueue, "deliver"), "worker span continuing the enqueue")
    assert deliver.kind == SpanKind.CONSUMER
    assert len(children(finished, deliver, "db.statement")) >= 2, "claim and record, each one statement in autocommit"
    call = only(children(finished, deliver, "POST"), "webhook call under the delivery")
    assert call.kind == SpanKind.CLIENT
    assert call.attributes is not None
    assert call.attributes["http.response.status_code"] == 200
    assert call.attributes["url.full"] == receiver.url, "no query string (it may hold a token)"
    trace_ids = {span.context.trace_id for span in (request, enqueue, deliver, call) if span.context is not None}
    assert len(trace_ids) == 1
    assert "query-secret-9d8c" not in repr([dict(span.attributes or {}) for span in finished])


async def test_a_caller_s_traceparent_is_continued(api: Api, spans: InMemorySpanExporter) -> None:
    reader = await api.key("acme", Role.READER)
    spans.clear()
    headers = {"traceparent": f"00-{REMOTE_TRACE_ID}-{REMOTE_SPAN_ID}-01"}
    (
        await api.gql(
            "{ searchAuditTrailEntries(input: {first: 1}) { edges { cursor } } }", token=reader.jwt, headers=headers
        )
    ).ok()

    request = only([s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER], "request span")
    assert request.name == "graphql searchAuditTrailEntries"
    assert request.context is not None and request.parent is not None
    assert format(request.context.trace_id, "032x") == REMOTE_TRACE_ID
    assert format(request.parent.span_id, "016x") == REMOTE_SPAN_ID


async def test_failed_operations_mark_the_request_span_with_their_code(api: Api, spans: InMemorySpanExporter) -> None:
    reader = await api.key("acme", Role.READER)
    spans.clear()
    refused = await api.gql(RECORD, {"events": [EVENT]}, token=reader.jwt)

    request = only([s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER], "request span")
    assert refused.codes == ["FORBIDDEN"]
    assert not request.status.is_ok and request.status.description == "FORBIDDEN"


async def _delivered(api: Api) -> bool:
    async with api.db.transaction() as session:
        statuses = (await session.execute(text("SELECT status FROM webhook_deliveries"))).scalars().all()
    return len(statuses) == 2 and set(statuses) == {"DELIVERED"}


async def test_tracing_is_off_without_an_otlp_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert provider_from_environment("audittrail-api") is None
    assert not is_tracing()


async def test_with_an_otlp_endpoint_spans_are_exported_over_http(monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_receiver() as collector:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{collector.port}")
        provider = provider_from_environment("audittrail-api")
        assert provider is not None
        with provider.get_tracer("test").start_as_current_span("exported"):
            pass
        assert await asyncio.to_thread(provider.force_flush)  # the exporter posts synchronously
        await asyncio.to_thread(provider.shutdown)
        received = await collector.wait_for(1, timeout=10)
    assert received[0].path == "/v1/traces"
    assert received[0].header("content-type") == "application/x-protobuf"
    assert b"exported" in received[0].body and b"audittrail-api" in received[0].body
