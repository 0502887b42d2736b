"""The blocking twins of send_many / create_many."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pulse_async.testing import PulseServer, ServerThread
from pulse_sync import MessageReceipt, Pulse, Pulsewave, ValidationError


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
