"""OpenTelemetry, with the real SDK and its in-memory exporters, against the local server."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import TextMapPropagator, default_setter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    StatusCode,
    TraceFlags,
)

from pulse_async import APIConnectionError, AsyncPulse, AsyncPulsewave, NotFoundError
from pulse_async._otel import SCHEMA_URL
from tests.observability.conftest import Otel, TracingServer


async def _noop_sleep(seconds: float) -> None:
    return None


def client(server: TracingServer, **kwargs: object) -> AsyncPulse:
    return AsyncPulse(
        server.admin_key,
        base_url=server.v2_url,
        _sleep=_noop_sleep,
        _rng=random.Random(1),
        **kwargs,  # type: ignore[arg-type]
    )


def traceparent_of(span: ReadableSpan) -> str:
    ctx = span.get_span_context()
    assert ctx is not None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def attempts_of(otel: Otel, call: ReadableSpan) -> list[ReadableSpan]:
    assert call.context is not None
    found = [
        s
        for s in otel.spans()
        if s.kind is SpanKind.CLIENT
        and s.parent is not None
        and s.parent.span_id == call.context.span_id
    ]
    return sorted(found, key=lambda s: s.start_time or 0)


async def test_a_call_is_one_span_with_one_client_span_per_attempt(
    otel: Otel, tracing_server: TracingServer
) -> None:
    server = tracing_server
    tracer = trace.get_tracer("test")
    async with client(server) as pulse:
        with tracer.start_as_current_span("handler") as handler:
            receipt = await pulse.messages.send(to=["ada@example.com"], subject="Hi", body="x")
    (call,) = otel.named("pulse.messages.send")
    assert call.kind is SpanKind.INTERNAL
    assert call.parent is not None
    assert call.parent.span_id == handler.get_span_context().span_id
    assert call.instrumentation_scope is not None
    assert call.instrumentation_scope.name == "pulse_async"
    assert call.instrumentation_scope.schema_url == SCHEMA_URL
    assert dict(call.attributes or {}) == {
        "pulse.idempotency_key": receipt.idempotency_key,
        "pulse.retries": 0,
        "pulse.throttled_seconds": 0.0,
    }
    (attempt,) = attempts_of(otel, call)
    assert attempt.name == "POST /v2/messages"
    assert dict(attempt.attributes or {}) == {
        "http.request.method": "POST",
        "server.address": "127.0.0.1",
        "server.port": server.port,
        "url.template": "/v2/messages",
        "url.full": f"{server.v2_url}/messages",
        "http.response.status_code": 202,
    }
    assert attempt.status.status_code is StatusCode.UNSET
    # The server saw the attempt span as its parent.
    assert server.traceparents == [traceparent_of(attempt)]


async def test_retries_are_resends_of_one_call(otel: Otel, tracing_server: TracingServer) -> None:
    server = tracing_server
    server.faults.add("server_error", route="GET /v2/messages/{id}", count=2)
    async with client(server) as pulse:
        with pytest.raises(NotFoundError):
            await pulse.messages.retrieve("msg_nope")
    (call,) = otel.named("pulse.messages.retrieve")
    attempts = attempts_of(otel, call)
    assert [a.name for a in attempts] == ["GET /v2/messages/{id}"] * 3
    assert [(a.attributes or {}).get("http.request.resend_count") for a in attempts] == [
        None,
        1,
        2,
    ]
    assert [(a.attributes or {})["http.response.status_code"] for a in attempts] == [
        500,
        500,
        404,
    ]
    assert [(a.attributes or {})["error.type"] for a in attempts] == ["500", "500", "404"]
    assert all(a.status.status_code is StatusCode.ERROR for a in attempts)
    assert all(
        (a.attributes or {})["url.full"] == f"{server.v2_url}/messages/msg_nope" for a in attempts
    )
    assert (call.attributes or {})["pulse.retries"] == 2
    assert (call.attributes or {})["error.type"] == "pulse_async.errors.NotFoundError"
    assert "pulse.idempotency_key" not in (call.attributes or {})  # a GET carries none
    assert call.status.status_code is StatusCode.ERROR
    # One traceparent per attempt, each naming its own attempt span, all one trace.
    assert server.traceparents == [traceparent_of(a) for a in attempts]
    assert len({a.context.trace_id for a in attempts if a.context}) == 1

    retries = otel.metric_points("pulse.client.retries")
    assert sum(p.value for p in retries) == 2
    durations = otel.metric_points("http.client.request.duration")
    by_status = {p.attributes["http.response.status_code"]: p.count for p in durations}
    assert by_status == {500: 2, 404: 1}
    (point,) = [p for p in durations if p.attributes["http.response.status_code"] == 404]
    assert dict(point.attributes) == {
        "http.request.method": "GET",
        "server.address": "127.0.0.1",
        "server.port": server.port,
        "url.template": "/v2/messages/{id}",
        "http.response.status_code": 404,
        "error.type": "404",
    }


async def test_a_connection_failure_is_an_error_type_without_status(
    otel: Otel, tracing_server: TracingServer
) -> None:
    server = tracing_server
    server.faults.add("reset_before", route="POST /v2/users", count=1)
    async with client(server, max_retries=0) as pulse:
        with pytest.raises(APIConnectionError):
            await pulse.users.create(email="ada@example.com", role="viewer")
    (call,) = otel.named("pulse.users.create")
    (attempt,) = attempts_of(otel, call)
    attributes = dict(attempt.attributes or {})
    assert "http.response.status_code" not in attributes
    assert attributes["error.type"] == "pulse_async.errors.APIConnectionError"
    assert attempt.status.status_code is StatusCode.ERROR


async def test_429s_and_throttling_are_counted(otel: Otel, tracing_server: TracingServer) -> None:
    server = tracing_server
    server.faults.add("rate_limited", route="POST /v2/users", count=1, retry_after=0)
    async with client(server) as pulse:
        await pulse.users.create(email="ada@example.com", role="viewer")
    assert sum(p.value for p in otel.metric_points("pulse.client.rate_limited")) == 1
    (call,) = otel.named("pulse.users.create")
    assert [(a.attributes or {})["http.response.status_code"] for a in attempts_of(otel, call)] == [
        429,
        201,
    ]


async def test_limiter_waits_are_the_call_spans_throttled_seconds(
    otel: Otel, tracing_server: TracingServer
) -> None:
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    server = tracing_server
    async with AsyncPulse(
        server.admin_key,
        base_url=server.v2_url,
        rate_limit=60,  # one a second, after a small burst
        _clock=lambda: now[0],
        _sleep=sleep,
    ) as pulse:
        for _ in range(8):
            await pulse.threads.list().fetch_page()
    throttled = [
        (s.attributes or {})["pulse.throttled_seconds"] for s in otel.named("pulse.threads.list")
    ]
    assert len(throttled) == 8
    assert sum(throttled) > 0  # type: ignore[arg-type]
    waited = sum(p.value for p in otel.metric_points("pulse.client.throttle.duration"))
    assert waited == pytest.approx(sum(throttled))  # type: ignore[arg-type]


async def test_pulsewave_spans_and_the_search_term_is_redacted(
    otel: Otel, tracing_server: TracingServer
) -> None:
    server = tracing_server
    async with AsyncPulsewave(server.admin_key, base_url=server.v1_url) as pw:
        message = await pw.messages.create(channel="sms", to="+14155550123", from_="P", text="1")
        await pw.messages.cancel(message.id)
    async with client(server) as pulse:
        await pulse.users.list(q="ada@example.com", limit=5).fetch_page()
    (cancel,) = otel.named("pulse.messages.cancel")
    (attempt,) = attempts_of(otel, cancel)
    assert attempt.name == "POST /v1/messages/{id}/cancel"
    (listing,) = otel.named("pulse.users.list")
    (attempt,) = attempts_of(otel, listing)
    url = (attempt.attributes or {})["url.full"]
    assert url == f"{server.v2_url}/users?limit=5&q=REDACTED"


async def test_no_key_in_any_exported_data(
    otel: Otel, tracing_server: TracingServer, api_key: str
) -> None:
    server = tracing_server
    key = server.create_key(role="admin")
    server.faults.add("server_error", route="POST /v2/messages", count=1)
    async with AsyncPulse(key, base_url=server.v2_url, _sleep=_noop_sleep) as pulse:
        await pulse.messages.send(to=["ada@example.com"], subject="Hi", body="x")
        with pytest.raises(NotFoundError):
            await pulse.users.update("usr_nope", name="x")
    exported = [span.to_json() for span in otel.spans()]
    data = otel.reader.get_metrics_data()
    assert data is not None
    exported.append(data.to_json())
    blob = json.dumps(exported)
    assert len(otel.spans()) >= 5
    assert key not in blob
    assert key.split("_")[-1] not in blob
    assert "Bearer" not in blob
    assert "Authorization" not in blob.title()


async def test_the_aiohttp_instrumentation_adds_no_second_attempt_span(
    otel: Otel, tracing_server: TracingServer
) -> None:
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

    instrumentor = AioHttpClientInstrumentor()
    instrumentor.instrument(tracer_provider=otel.tracer_provider)
    try:
        server = tracing_server
        server.faults.add("server_error", route="POST /v2/messages", count=1)
        async with client(server) as pulse:  # its session is made after instrument()
            await pulse.messages.send(to=["ada@example.com"], subject="Hi", body="x")
    finally:
        instrumentor.uninstrument()
    client_spans = [s for s in otel.spans() if s.kind is SpanKind.CLIENT]
    (call,) = otel.named("pulse.messages.send")
    assert client_spans == attempts_of(otel, call)
    assert len(client_spans) == 2
    assert server.traceparents == [traceparent_of(s) for s in client_spans]
    # aiohttp's own HTTP duration metric is not recorded twice either.
    durations = otel.metric_points("http.client.request.duration")
    assert sum(p.count for p in durations) == 2


async def test_without_a_provider_a_current_remote_trace_still_travels(
    no_otel_provider: None, tracing_server: TracingServer
) -> None:
    server = tracing_server
    parent = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    async with client(server) as pulse:
        await pulse.threads.list().fetch_page()  # no trace current: nothing sent
        with trace.use_span(NonRecordingSpan(parent)):
            await pulse.threads.list().fetch_page()
    assert server.traceparents == [
        None,
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    ]


async def test_suppressed_instrumentation_makes_no_spans(
    otel: Otel, tracing_server: TracingServer
) -> None:
    from opentelemetry import context

    token = context.attach(context.set_value(context._SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        async with client(tracing_server) as pulse:
            await pulse.threads.list().fetch_page()
    finally:
        context.detach(token)
    assert otel.spans() == []


class _TestPropagator(TextMapPropagator):
    """A propagator of its own header, to show the configured one is used."""

    def inject(self, carrier: Any, context: Any = None, setter: Any = default_setter) -> None:
        span = trace.get_current_span(context)
        setter.set(carrier, "x-test-span", f"{span.get_span_context().span_id:016x}")

    def extract(self, carrier: Any, context: Any = None, getter: Any = None) -> Any:
        raise NotImplementedError

    @property
    def fields(self) -> set[str]:
        return {"x-test-span"}


async def test_the_configured_propagator_is_used(otel: Otel, tracing_server: TracingServer) -> None:
    original = propagate.get_global_textmap()
    propagate.set_global_textmap(_TestPropagator())
    try:
        async with client(tracing_server) as pulse:
            await pulse.threads.list().fetch_page()
    finally:
        propagate.set_global_textmap(original)
    (call,) = otel.named("pulse.threads.list")
    (attempt,) = attempts_of(otel, call)
    assert attempt.context is not None
    (headers,) = tracing_server.request_headers
    assert headers["x-test-span"] == f"{attempt.context.span_id:016x}"
    assert "traceparent" not in {name.lower() for name in headers}
