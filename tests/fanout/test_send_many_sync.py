"""The blocking twins of send_many / create_many."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from pulse_async.testing import PulseServer, ServerThread
from pulse_sync import (
    CreateParams,
    MessageReceipt,
    Pulse,
    PulseError,
    Pulsewave,
    SendParams,
    ValidationError,
)


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with PulseServer().start_in_thread() as handle:
        yield handle


def test_sync_send_many_returns_outcomes_in_order_and_reruns_safely(server: ServerThread) -> None:
    items = [{"to": [f"s{n}@example.com"], "subject": f"n{n}", "body": "b"} for n in range(15)]
    items[3] = {"to": ["nope"], "subject": "x", "body": "y"}
    progress: list[tuple[int, int | None, int]] = []
    with Pulse(server.admin_key, base_url=server.v2_url) as pulse:
        first = pulse.messages.send_many(
            items, concurrency=4, batch_id="sync-batch", on_progress=lambda *a: progress.append(a)
        )
        again = pulse.messages.send_many(items, concurrency=4, batch_id="sync-batch")
    assert isinstance(first[3], ValidationError)
    assert first[3].field == "to"
    receipts = [o for o in first if isinstance(o, MessageReceipt)]
    assert len(receipts) == 14
    assert [o.idempotency_key for o in first] == [f"sync-batch:{n}" for n in range(15)]
    assert [getattr(o, "message_id", None) for o in again] == [
        getattr(o, "message_id", None) for o in first
    ]
    assert len(server.ledger.of_kind("message.created")) == 14
    assert progress[-1] == (15, 15, 1)


def test_sync_create_many(server: ServerThread) -> None:
    items = [
        {"channel": "push", "to": f"device-{n}", "from_": "app_1", "text": "hi"} for n in range(6)
    ]
    with Pulsewave(server.admin_key, base_url=server.v1_url) as pw:
        outcomes = pw.messages.create_many(items, concurrency=3)
    assert [o.to for o in outcomes] == [f"device-{n}" for n in range(6)]  # type: ignore[union-attr]


def _loop_tasks() -> int:
    """Tasks alive on pulse_sync's loop, besides the one counting."""
    from pulse_sync import _loop as loop_mod

    async def count() -> int:
        return len(asyncio.all_tasks()) - 1

    return loop_mod.run(count())


def test_sync_send_many_streams_in_order_with_a_bounded_window(server: ServerThread) -> None:
    total = 600
    consumed = 0
    window: list[int] = []

    def items() -> Iterator[SendParams]:
        nonlocal consumed
        for n in range(total):
            consumed += 1
            to = ["nope"] if n % 100 == 7 else [f"s{n}@example.com"]
            yield SendParams(to=to, subject=f"n{n}", body="b")

    with Pulse(server.admin_key, base_url=server.v2_url) as pulse:
        stream = pulse.messages.send_many(items(), concurrency=4, batch_id="st", stream=True)
        assert consumed == 0  # lazy: nothing is read or sent before the first next()
        outcomes = []
        for outcome in stream:
            outcomes.append(outcome)
            window.append(consumed - len(outcomes))
    # In order, one per item, failures in place.
    assert [o.idempotency_key for o in outcomes] == [f"st:{n}" for n in range(total)]
    assert [n for n, o in enumerate(outcomes) if isinstance(o, PulseError)] == [
        7,
        107,
        207,
        307,
        407,
        507,
    ]
    # Memory stays flat: the items read ahead of the caller never exceed the batch's window
    # (MIN_BUFFER outcomes plus the items in flight), however long the input.
    assert max(window) <= 256 + 4
    assert len(server.ledger.of_kind("message.created")) == total - 6


def test_sync_stream_closed_early_cancels_the_rest(server: ServerThread) -> None:
    route = "POST /v2/messages"
    server.faults.add("latency", route=route, delay=30.0, probability=1.0)
    consumed = 0

    def items() -> Iterator[dict[str, object]]:
        nonlocal consumed
        for n in range(1000):
            consumed += 1
            # Item 0 fails at once (bad input, no request); every other item hangs.
            to = ["nope"] if n == 0 else [f"c{n}@example.com"]
            yield {"to": to, "subject": "s", "body": "b"}

    with Pulse(server.admin_key, base_url=server.v2_url) as pulse:
        stream = pulse.messages.send_many(items(), concurrency=8, stream=True)
        first = next(stream)
        assert isinstance(first, ValidationError)
        stream.close()  # the hanging items are cancelled on the loop, and waited for
        read_at_close = consumed
        assert _loop_tasks() == 0
        assert consumed == read_at_close  # nothing more is read from the input
        # Only the window was read: the failed item, the 8 in flight, and the next one or
        # two the producer took while a slot was free.
        assert read_at_close <= 1 + 8 + 2
        with pytest.raises(StopIteration):
            next(stream)
    server.faults.clear()
    assert server.ledger.of_kind("message.created") == []


def test_sync_create_many_streams(server: ServerThread) -> None:
    items = [
        CreateParams(channel="push", to=f"device-{n}", from_="app_1", text="hi") for n in range(20)
    ]
    with Pulsewave(server.admin_key, base_url=server.v1_url) as pw:
        got = [o.to for o in pw.messages.create_many(iter(items), concurrency=3, stream=True)]  # type: ignore[union-attr]
    assert got == [f"device-{n}" for n in range(20)]
