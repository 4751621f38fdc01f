"""OpenTelemetry tracing, off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (the SDK's own variables
configure the exporter: endpoint, headers, timeout; ``OTEL_SERVICE_NAME`` names the service).

One trace follows a mutation: the GraphQL request (a server span), its database transaction, the
enqueue after commit (a producer span whose context travels in the arq job as its ``trace_context`` argument),
and in the worker the delivery (a consumer span) with its transactions and the webhook's HTTP call
(a client span).  While tracing is off every helper here returns at its first line: the hot paths
pay one attribute read.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, TypeVar
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

if TYPE_CHECKING:  # the SDK and the exporter are imported only when tracing is turned on
    from opentelemetry.sdk.trace import TracerProvider

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"


class _Tracing:
    """The tracer once tracing is on; None while it is off (the default)."""

    tracer: Tracer | None = None


_tracing = _Tracing()


def provider_from_environment(service_name: str) -> TracerProvider | None:
    """A provider exporting over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; None otherwise."""
    if not os.environ.get(ENDPOINT_ENV):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    # Batched, in a thread of its own: a slow collector never holds up a request.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def configure_tracing(service_name: str) -> bool:
    """Turn tracing on for this process when the environment asks for it; True if it did."""
    provider = provider_from_environment(service_name)
    if provider is None:
        return False
    trace.set_tracer_provider(provider)
    use_provider(provider)
    return True


def use_provider(provider: trace.TracerProvider | None) -> None:
    """Trace with ``provider`` from now on (None: off again).  Tests pass one with an in-memory exporter."""
    _tracing.tracer = provider.get_tracer("audittrail") if provider is not None else None


def is_tracing() -> bool:
    """True while spans are being made."""
    return _tracing.tracer is not None


class ActiveSpan:
    """A span, current until ``end`` unless it is a leaf: for hooks that begin and end in two calls."""

    def __init__(self, span: Span, *, is_current: bool = True) -> None:
        self.span = span
        self._token = otel_context.attach(trace.set_span_in_context(span)) if is_current else None

    def end(self, *, error: str | None = None) -> None:
        """Mark it failed when ``error`` says why, and end it."""
        if error is not None:
            self.span.set_status(Status(StatusCode.ERROR, error))
        if self._token is not None:
            otel_context.detach(self._token)
        self.span.end()


def begin_span(
    name: str, *, kind: SpanKind = SpanKind.INTERNAL, carrier: Mapping[str, str] | None = None, is_leaf: bool = False
) -> ActiveSpan | None:
    """A span continuing the trace ``carrier`` names (W3C ``traceparent``) if any, current unless
    ``is_leaf``; None when tracing is off."""
    tracer = _tracing.tracer
    if tracer is None:
        return None
    parent = propagate.extract(carrier) if carrier else None
    return ActiveSpan(tracer.start_span(name, context=parent, kind=kind), is_current=not is_leaf)


class _SpanScope:
    """``with``/``async with`` a span; does nothing while tracing is off."""

    __slots__ = ("_active", "_is_leaf", "_kind", "_name")

    def __init__(self, name: str, kind: SpanKind, is_leaf: bool) -> None:
        self._name = name
        self._kind = kind
        self._is_leaf = is_leaf
        self._active: ActiveSpan | None = None

    def __enter__(self) -> None:
        self._active = begin_span(self._name, kind=self._kind, is_leaf=self._is_leaf)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._active is not None:
            self._active.end(error=type(error).__name__ if error is not None else None)

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(kind, error, tb)


def span(name: str, *, kind: SpanKind = SpanKind.INTERNAL, is_leaf: bool = False) -> _SpanScope:
    """A span around a block (sync or async): ``async with span("enqueue deliver"): ...``.

    A leaf is never made current: a request's read transaction stays open across the operation, and
    everything after it would otherwise hang below it instead of below the request.
    """
    return _SpanScope(name, kind, is_leaf)


def job_trace_context() -> dict[str, str] | None:
    """The current trace as a job argument (W3C ``traceparent``): None while tracing is off."""
    if _tracing.tracer is None:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None


@contextmanager
def job_span(name: str, trace_context: Mapping[str, str] | None) -> Iterator[None]:
    """A worker job as a consumer span, child of the producer span that enqueued it."""
    active = begin_span(name, kind=SpanKind.CONSUMER, carrier=trace_context)
    if active is None:
        yield
        return
    try:
        yield
    except BaseException as error:
        active.end(error=type(error).__name__)
        raise
    active.end()


class HttpAnswer(Protocol):
    """What an HTTP call made of its answer: a status code, or an error when there was none."""

    @property
    def status_code(self) -> int | None: ...

    @property
    def error(self) -> str | None: ...


Answer = TypeVar("Answer", bound=HttpAnswer)


async def client_call(method: str, url: str, call: Awaitable[Answer]) -> Answer:
    """Await ``call`` inside a client span named for ``method``; the URL is recorded without its
    query string or credentials (they may hold tokens)."""
    active = begin_span(method, kind=SpanKind.CLIENT)
    if active is None:
        return await call
    parts = urlsplit(url)
    active.span.set_attribute("http.request.method", method)
    active.span.set_attribute("url.full", f"{parts.scheme}://{parts.hostname}{_port(parts.port)}{parts.path}")
    active.span.set_attribute("server.address", parts.hostname or "")
    try:
        answer = await call
    except BaseException as error:
        active.end(error=type(error).__name__)
        raise
    if answer.status_code is not None:
        active.span.set_attribute("http.response.status_code", answer.status_code)
    failed = answer.error or (f"HTTP {answer.status_code}" if (answer.status_code or 0) >= 400 else None)
    active.end(error=failed)
    return answer


def _port(port: int | None) -> str:
    return f":{port}" if port is not None else ""
