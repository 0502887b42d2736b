"""send_many / create_many, scheduled sends and messages.wait against the local server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from pulse_async import (
    APITimeoutError,
    AsyncPulse,
    AsyncPulsewave,
    MessageReceipt,
    PulseError,
    ValidationError,
)
from pulse_async.resources.messages import SendParams
from pulse_async.resources.pulsewave import CreateParams
from pulse_async.testing import PulseServer


@pytest.fixture
async def server() -> AsyncIterator[PulseServer]:
    async with PulseServer(seed=7) as running:
        yield running


def item(n: int) -> dict[str, object]:
    return {"to": [f"user{n}@example.com"], "subject": f"item {n}", "body": "hello"}


async def test_outcomes_come_back_in_input_order_and_failures_do_not_stop_the_batch(
    server: PulseServer,
) -> None:
    items: list[object] = [item(n) for n in range(30)]
    items[7] = {"to": [], "subject": "bad", "body": "x"}  # invalid: never sent
    items[12] = "not a mapping"
    async with AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse:
        outcomes = await pulse.messages.send_many(items, concurrency=4)
    assert len(outcomes) == 30
    assert isinstance(outcomes[7], ValidationError)
    assert outcomes[7].field == "to"
    assert isinstance(outcomes[12], ValidationError)
    assert outcomes[12].field == "items[12]"
    receipts = [o for o in outcomes if isinstance(o, MessageReceipt)]
    assert len(receipts) == 28
    created = server.ledger.of_kind("message.created")
    assert len(created) == 28
    # Input order: each receipt's message is the one whose subject carries its index.
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, MessageReceipt):
            message = server.state.messages[outcome.message_id]
            assert message.subject == f"item {index}"


async def test_concurrency_bounds_requests_in_flight(server: PulseServer) -> None:
    server.faults.add("latency", route="POST /v2/messages", delay=0.02)
    in_flight = 0
    peak = 0
    original = server.faults.pick

    def spy(*args: object, **kwargs: object) -> object:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        asyncio.get_running_loop().call_later(0.019, _done)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    def _done() -> None:
        nonlocal in_flight
        in_flight -= 1

    server.faults.pick = spy  # type: ignore[method-assign]
    async with AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse:
        outcomes = await pulse.messages.send_many((item(n) for n in range(40)), concurrency=5)
    assert all(isinstance(o, MessageReceipt) for o in outcomes)
    assert 1 < peak <= 5


async def test_streaming_from_an_async_generator_with_progress(server: PulseServer) -> None:
    async def source() -> AsyncIterator[SendParams]:
        for n in range(25):
            yield SendParams(to=[f"u{n}@example.com"], subject=f"s{n}", body="b")

    calls: list[tuple[int, int | None, int]] = []
    async with AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse:
        batch = pulse.messages.send_many(
            source(), concurrency=3, on_progress=lambda *a: calls.append(a)
        )
        seen = 0
        async with contextlib.aclosing(batch.stream()) as outcomes:
            async for outcome in outcomes:
                assert isinstance(outcome, MessageReceipt)
                seen += 1
    assert seen == 25
    assert [c[0] for c in calls] == list(range(1, 26))
    assert {c[1] for c in calls} == {None}  # an async source has no length
    assert calls[-1][2] == 0


async def test_breaking_out_early_cancels_what_is_left(server: PulseServer) -> None:
    async with AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse:
        batch = pulse.messages.send_many((item(n) for n in range(1000)), concurrency=2)
        async with contextlib.aclosing(batch.stream()) as outcomes:
            async for _outcome in outcomes:
                break
    # At most the window (4 x concurrency) was ever started.
    assert len(server.ledger.of_kind("message.created")) <= 8


async def test_batch_id_makes_a_rerun_send_nothing_twice(server: PulseServer) -> None:
    items = [item(n) for n in range(20)]
    async with AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse:
        first = await pulse.messages.send_many(items[:12], batch_id="digest-1")
        again = await pulse.messages.send_many(items, batch_id="digest-1")
    assert [o.idempotency_key for o in again] == [f"digest-1:{n}" for n in range(20)]
    assert [o.message_id for o in again[:12]] == [o.message_id for o in first]  # type: ignore[union-attr]
    assert len(server.ledger.of_kind("message.created")) == 20


async def test_key_function_and_item_keys(server: PulseServer) -> None:
    items = [item(n) for n in range(3)]
    items[1]["idempotency_key"] = "mine"
    async with AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse:
        outcomes = await pulse.messages.send_many(items, key=lambda i, it: f"k-{i}")
        with pytest.raises(ValidationError):
            pulse.messages.send_many(items, key=lambda i, it: "x", batch_id="b")
        with pytest.raises(ValidationError):
            pulse.messages.send_many(items, batch_id="bad\nid")
        with pytest.raises(ValidationError):
            pulse.messages.send_many(items, concurrency=0)
    assert [o.idempotency_key for o in outcomes] == ["k-0", "mine", "k-2"]


async def test_a_batch_runs_once(server: PulseServer) -> None:
    async with AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse:
        batch = pulse.messages.send_many([item(1)])
        await batch
        with pytest.raises(RuntimeError):
            await batch


async def test_pulsewave_create_many(server: PulseServer) -> None:
    items = [
        CreateParams(channel="sms", to="+14155550123", from_="Pulse", text=f"code {n}")
        for n in range(10)
    ]
    async with AsyncPulsewave(server.admin_key, base_url=server.v1_url) as pw:
        outcomes = await pw.messages.create_many(items, concurrency=4, batch_id="otp")
    assert all(not isinstance(o, PulseError) for o in outcomes)
    assert len(server.ledger.of_kind("message.created", api="pulsewave")) == 10


async def test_scheduled_send_rules_are_checked_before_sending(server: PulseServer) -> None:
    now = datetime.now(UTC)
    async with AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse:
        for bad in (
            datetime(2030, 1, 1, 9, 0),  # naive
            now - timedelta(minutes=1),
            now + timedelta(days=31),
            "next tuesday",
        ):
            with pytest.raises(ValidationError) as caught:
                await pulse.messages.send(to=["a@example.com"], subject="s", body="b", send_at=bad)
            assert caught.value.field == "send_at"
        later = now + timedelta(hours=2)
        receipt = await pulse.messages.send(
            to=["a@example.com"],
            subject="s",
            body="b",
            send_at=later.isoformat().replace("+00:00", "Z"),
        )
        message = await pulse.messages.retrieve(receipt.message_id)
    # The four invalid times never left the process: only the send and the retrieve arrived.
    assert server.stats.total == 2
    assert message.status == "queued"
    assert message.send_at is not None
    assert abs((message.send_at - later).total_seconds()) < 1


async def test_wait_follows_the_lifecycle_to_a_final_status(server: PulseServer) -> None:
    server.set_outcome("bounce@example.com", "bounced")
    async with AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse:
        ok = await pulse.messages.send(to=["fine@example.com"], subject="s", body="b")
        bad = await pulse.messages.send(to=["bounce@example.com"], subject="s", body="b")
        delivered = await pulse.messages.wait(ok.message_id, timeout=30, poll_interval=0.05)
        bounced = await pulse.messages.wait(
            bad.message_id, until={"delivered"}, timeout=30, poll_interval=0.05
        )
    assert delivered.status == "delivered"
    assert delivered.is_final
    assert bounced.status == "bounced"  # final, though not what was waited for


async def test_wait_times_out_with_the_last_status() -> None:
    async with (
        PulseServer(frozen_clock=True) as frozen,
        AsyncPulse(frozen.admin_key, base_url=frozen.v2_url) as pulse,
    ):
        receipt = await pulse.messages.send(to=["a@example.com"], subject="s", body="b")
        with pytest.raises(APITimeoutError) as caught:
            await pulse.messages.wait(receipt.message_id, timeout=0.3, poll_interval=0.05)
    assert "queued" in str(caught.value)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [({"timeout": "soon"}, "timeout"), ({"poll_interval": "fast"}, "poll_interval")],
)
async def test_wait_refuses_a_timeout_that_is_not_a_number(
    server: PulseServer, arguments: dict[str, object], field: str
) -> None:
    """``timeout="soon"`` was a bare ``TypeError``; it is a ValidationError naming the field."""
    async with AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse:
        before = server.stats.total
        with pytest.raises(ValidationError) as caught:
            await pulse.messages.wait("msg_1", **arguments)  # type: ignore[arg-type]
        assert caught.value.field == field
        assert server.stats.total == before  # refused before sending


async def test_pulsewave_wait_and_cancel() -> None:
    async with (
        PulseServer(frozen_clock=True) as frozen,
        AsyncPulsewave(frozen.admin_key, base_url=frozen.v1_url) as pw,
    ):
        msg = await pw.messages.create(
            channel="email",
            to="ada@example.com",
            from_="news@example.com",
            subject="Hi",
            text="Hello",
        )
        cancelled = await pw.messages.cancel(msg.id)
        final = await pw.messages.wait(msg.id, timeout=5, poll_interval=0.05)
    assert cancelled.status == "cancelled"
    assert final.status == "cancelled"


async def test_a_slow_head_item_does_not_stall_the_rest(server: PulseServer) -> None:
    # The first request is held for a second; the other 39 must not wait behind it.
    server.faults.add("latency", route="POST /v2/messages", count=1, delay=1.0)
    async with AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse:
        batch = pulse.messages.send_many((item(n) for n in range(40)), concurrency=4)
        async with contextlib.aclosing(batch.stream()) as outcomes:
            first = await anext(outcomes)
            done_when_head_arrived = batch.done
            rest = [o async for o in outcomes]
    assert isinstance(first, MessageReceipt)
    assert done_when_head_arrived == 40
    assert len(rest) == 39


async def test_an_exception_from_the_source_reaches_the_caller(server: PulseServer) -> None:
    def source() -> Iterator[dict[str, object]]:
        yield item(0)
        raise LookupError("the database went away")

    async with AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse:
        with pytest.raises(LookupError):
            await pulse.messages.send_many(source())
