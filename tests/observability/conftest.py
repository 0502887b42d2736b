"""Fixtures for the observability tests: the real OpenTelemetry SDK, and a server that
records the trace headers it receives.

OpenTelemetry's globals can be set once per process; like OpenTelemetry's own
test utilities, :func:`otel` puts them back to "unset" afterwards, so no other
test of the suite runs with a provider.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import attrs
import pytest
from aiohttp import web
from opentelemetry import metrics, trace
from opentelemetry.metrics import _internal as metrics_internal
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from pulse_async.testing import PulseServer


def _reset_globals() -> None:
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    metrics_internal._METER_PROVIDER = None


@attrs.define
class Otel:
    """The SDK's providers and in-memory exporters of one test."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name == name]

    def metric_points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        points: list[Any] = []
        if data is None:
            return points
        for resource_metrics in data.resource_metrics:
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points


@pytest.fixture
def otel() -> Iterator[Otel]:
    """A tracer and a meter provider, set globally for this test only."""
    _reset_globals()
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    try:
        yield Otel(exporter, reader, tracer_provider)
    finally:
        _reset_globals()
        tracer_provider.shutdown()
        meter_provider.shutdown()


@pytest.fixture
def no_otel_provider() -> Iterator[None]:
    """OpenTelemetry installed, no provider set (the state of a fresh process)."""
    _reset_globals()
    yield
    _reset_globals()


class TracingServer(PulseServer):
    """The local server, recording each request's ``traceparent`` (``None`` if absent)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.traceparents: list[str | None] = []
        self.request_headers: list[dict[str, str]] = []

    def _make_app(self) -> web.Application:
        app = super()._make_app()

        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            if not request.path.startswith("/_admin"):
                self.traceparents.append(request.headers.get("traceparent"))
                self.request_headers.append(dict(request.headers))
            return await handler(request)

        app.middlewares.append(record)
        return app


@pytest.fixture
async def tracing_server() -> AsyncIterator[TracingServer]:
    async with TracingServer() as server:
        yield server
