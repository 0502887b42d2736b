"""The sync facade: raw responses, and spans parented by the caller's span across threads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from pulse_async import APIResponse
from pulse_async.testing import PulseServer, ServerThread
from pulse_sync import Pulse, Pulsewave, RawPager
from tests.observability.conftest import Otel


@pytest.fixture
def server() -> Iterator[ServerThread]:
    handle = PulseServer(rate_limit="pro").start_in_thread()
    try:
        yield handle
    finally:
        handle.stop()


def test_sync_raw_responses(server: ServerThread) -> None:
    with Pulse(server.admin_key, base_url=server.v2_url) as pulse:
        response = pulse.with_raw_response.messages.send(
            to=["ada@example.com"], subject="Hi", body="x", idempotency_key="sync-1"
        )
        assert isinstance(response, APIResponse)
        assert response.idempotency_key == "sync-1" == response.parse().idempotency_key
        again = pulse.with_raw_response.messages.send(
            to=["ada@example.com"], subject="Hi", body="x", idempotency_key="sync-1"
        )
        assert (response.replayed, again.replayed) == (False, True)
        assert response.rate_limit.limit == 1000
        for i in range(3):
            pulse.users.create(email=f"u{i}@example.com", role="viewer")
        pager = pulse.with_raw_response.users.list(limit=2)
        assert isinstance(pager, RawPager)
        pages = list(pager.pages())
        sizes = [len(p.parse().data) for p in pages]
        assert len(pages) >= 2
        assert all(0 < n <= 2 for n in sizes)
        assert len({p.request_id for p in pages}) == len(pages)
        assert len(list(pager)) == sum(sizes)
        assert pager.fetch_page().status == 200
        for page in pulse.with_raw_response.users.list(limit=1).pages():
            assert page.status == 200
            break  # closing early closes the async iterator on the loop
    with Pulsewave(server.admin_key, base_url=server.v1_url) as pw:
        created = pw.with_raw_response.messages.create(
            channel="sms", to="+14155550123", from_="P", text="1"
        )
        assert pw.with_raw_response.messages.retrieve(created.parse().id).status == 200


def test_the_call_span_is_a_child_of_the_callers_span(otel: Otel, server: ServerThread) -> None:
    tracer = trace.get_tracer("test")
    with Pulse(server.admin_key, base_url=server.v2_url) as pulse:
        with tracer.start_as_current_span("job") as job:
            pulse.messages.send(to=["ada@example.com"], subject="Hi", body="x")
            pulse.with_raw_response.threads.list().fetch_page()
        pulse.threads.list().fetch_page()  # outside: a root span of its own
    job_id = job.get_span_context().span_id
    send, threads_in = otel.named("pulse.messages.send")[0], otel.named("pulse.threads.list")[0]
    threads_out = otel.named("pulse.threads.list")[1]
    assert send.parent is not None
    assert send.parent.span_id == job_id
    assert threads_in.parent is not None
    assert threads_in.parent.span_id == job_id
    assert threads_out.parent is None
    assert send.context is not None
    (attempt,) = [
        s for s in otel.spans() if s.parent is not None and s.parent.span_id == send.context.span_id
    ]
    assert attempt.kind is SpanKind.CLIENT
    assert attempt.context is not None
    assert attempt.context.trace_id == job.get_span_context().trace_id
    # Nothing the loop thread's task did leaked back into the caller's context.
    assert trace.get_current_span() is trace.INVALID_SPAN
