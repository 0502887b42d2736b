"""Receiving: at most once per ``webhook-id``, never lost to a failed handler, the answers."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from webhook_helpers import SECRET, event_body

from pulse_async.errors import ValidationError
from pulse_async.webhooks import (
    Claim,
    MemoryStore,
    Outcome,
    StoreUnavailableError,
    Webhook,
    WebhookEvent,
    generate_secret,
    handle,
)


def delivery(event_id: str = "evt_1", secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = event_body(event_id)
    return body, Webhook(secret).sign(body, webhook_id=event_id)


class Recorder:
    """An async handler that records the ids it handled, and can be told to fail or stall."""

    def __init__(self, *, fail_times: int = 0, stall: asyncio.Event | None = None) -> None:
        self.calls: list[str] = []
        self.handled: list[str] = []
        self.fail_times = fail_times
        self.stall = stall

    async def __call__(self, event: WebhookEvent) -> None:
        self.calls.append(event.id)
        if self.stall is not None:
            await self.stall.wait()
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("the database is down")
        self.handled.append(event.id)


async def test_handled_then_duplicate() -> None:
    store, recorder = MemoryStore(), Recorder()
    body, headers = delivery()
    first = await handle(Webhook(SECRET), body, headers, recorder, store=store)
    assert (first.status, first.reason) == (200, "handled")
    assert first.event is not None
    assert first.event.id == "evt_1"
    again = await handle(Webhook(SECRET), *delivery(), recorder, store=store)
    assert (again.status, again.reason) == (200, "duplicate")
    assert recorder.calls == ["evt_1"]
    assert first.body == b'{"status":"handled"}'


async def test_untrusted_is_400_and_never_reaches_the_handler_or_the_store() -> None:
    store, recorder = MemoryStore(), Recorder()
    body, headers = delivery(secret=generate_secret())
    outcome = await handle(Webhook(SECRET), body, headers, recorder, store=store)
    assert (outcome.status, outcome.reason) == (400, "signature_mismatch")
    assert recorder.calls == []
    assert len(store) == 0


async def test_a_failed_handler_lets_the_retry_through(caplog: pytest.LogCaptureFixture) -> None:
    store, recorder = MemoryStore(), Recorder(fail_times=1)
    failed = await handle(Webhook(SECRET), *delivery(), recorder, store=store)
    assert (failed.status, failed.reason) == (500, "handler_failed")
    assert isinstance(failed.error, RuntimeError)
    assert "the handler failed" in caplog.text
    retried = await handle(Webhook(SECRET), *delivery(), recorder, store=store)
    assert (retried.status, retried.reason) == (200, "handled")
    third = await handle(Webhook(SECRET), *delivery(), recorder, store=store)
    assert third.reason == "duplicate"
    assert recorder.calls == ["evt_1", "evt_1"]
    assert recorder.handled == ["evt_1"]


async def test_concurrent_duplicates_run_the_handler_once() -> None:
    """Fifty deliveries of one event at once: one runs; the rest hear "in progress" (409)."""
    store, gate = MemoryStore(), asyncio.Event()
    recorder = Recorder(stall=gate)
    tasks = [
        asyncio.create_task(handle(Webhook(SECRET), *delivery(), recorder, store=store))
        for _ in range(50)
    ]
    await asyncio.sleep(0.01)
    gate.set()
    outcomes = await asyncio.gather(*tasks)
    assert recorder.calls == ["evt_1"]
    assert sorted(o.status for o in outcomes) == [200] + [409] * 49
    late = await handle(Webhook(SECRET), *delivery(), recorder, store=store)
    assert late.reason == "duplicate"


async def test_concurrent_duplicates_while_the_handler_fails_still_end_handled_once() -> None:
    store, gate = MemoryStore(), asyncio.Event()
    recorder = Recorder(fail_times=1, stall=gate)
    tasks = [
        asyncio.create_task(handle(Webhook(SECRET), *delivery(), recorder, store=store))
        for _ in range(10)
    ]
    await asyncio.sleep(0.01)
    gate.set()
    outcomes = await asyncio.gather(*tasks)
    assert sorted(o.status for o in outcomes) == [409] * 9 + [500]
    # The sender retries (each attempt one at a time, §5): the first retry runs it.
    retries = [await handle(Webhook(SECRET), *delivery(), recorder, store=store) for _ in range(3)]
    assert [o.reason for o in retries] == ["handled", "duplicate", "duplicate"]
    assert recorder.handled == ["evt_1"]


async def test_a_cancelled_handler_releases_its_claim() -> None:
    store, gate = MemoryStore(), asyncio.Event()
    recorder = Recorder(stall=gate)
    task = asyncio.create_task(handle(Webhook(SECRET), *delivery(), recorder, store=store))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(store) == 0
    gate.set()
    outcome = await handle(Webhook(SECRET), *delivery(), recorder, store=store)
    assert outcome.reason == "handled"


async def test_a_plain_function_runs_in_a_worker_thread() -> None:
    threads: list[threading.Thread] = []

    def on_event(event: WebhookEvent) -> None:
        threads.append(threading.current_thread())

    outcome = await handle(Webhook(SECRET), *delivery(), on_event, store=MemoryStore())
    assert outcome.reason == "handled"
    assert threads
    assert threads[0] is not threading.current_thread()


async def test_many_events_each_handled_once_in_any_interleaving() -> None:
    """200 events, each delivered 3 times, all at once, some handlers failing once."""
    store = MemoryStore()
    failing = {f"evt_{i}" for i in range(0, 200, 7)}
    handled: list[str] = []

    async def on_event(event: WebhookEvent) -> None:
        await asyncio.sleep(0)
        if event.id in failing:
            failing.discard(event.id)
            raise RuntimeError("once")
        handled.append(event.id)

    async def sender(event_id: str) -> None:
        # Like §5: retry every non-2xx answer until a 2xx.
        while True:
            outcome = await handle(Webhook(SECRET), *delivery(event_id), on_event, store=store)
            if outcome.status == 200:
                return
            await asyncio.sleep(0)

    await asyncio.gather(*(sender(f"evt_{i}") for i in range(200) for _ in range(3)))
    assert sorted(handled) == sorted(f"evt_{i}" for i in range(200))


# --- the in-memory store ----------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_store_forgets_after_its_ttl() -> None:
    clock = FakeClock()
    store = MemoryStore(ttl=100, clock=clock)
    claim = await store.claim("a")
    assert claim.state == "claimed"
    assert claim.token is not None
    await store.complete("a", claim.token)
    clock.now += 99
    assert await store.claim("a") == Claim("handled")
    clock.now += 2
    assert (await store.claim("a")).state == "claimed"


async def test_memory_store_stays_bounded_past_saturation(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore(max_entries=10)
    for i in range(50):
        claim = await store.claim(f"id{i}")
        assert claim.token is not None
        await store.complete(f"id{i}", claim.token)
        assert len(store) <= 10
    assert store.evicted_early == 40
    assert caplog.text.count("MemoryStore is full") == 1
    # The newest ten are still remembered.
    assert (await store.claim("id49")).state == "handled"


async def test_memory_store_never_evicts_a_claim_in_progress() -> None:
    store = MemoryStore(max_entries=5)
    pending = [await store.claim(f"p{i}") for i in range(5)]
    for i in range(20):
        claim = await store.claim(f"d{i}")
        assert claim.token is not None
        await store.complete(f"d{i}", claim.token)
    for i, claim in enumerate(pending):
        assert (await store.claim(f"p{i}")).state == "in_progress"
        assert claim.token is not None
        await store.complete(f"p{i}", claim.token)
        assert (await store.claim(f"p{i}")).state == "handled"


async def test_memory_store_ignores_a_stale_token() -> None:
    store = MemoryStore()
    first = await store.claim("a")
    await store.release("a", "not-the-token")
    assert (await store.claim("a")).state == "in_progress"
    assert first.token is not None
    await store.release("a", first.token)
    assert (await store.claim("a")).state == "claimed"


def test_memory_store_is_thread_safe() -> None:
    store = MemoryStore()
    wins: list[str] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for i in range(500):
            if store.claim_now(f"id{i}").state == "claimed":
                wins.append(f"id{i}")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == sorted(f"id{i}" for i in range(500))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"ttl": 0}, "ttl"), ({"ttl": float("inf")}, "ttl"), ({"max_entries": 0}, "max_entries")],
)
def test_memory_store_checks_its_arguments(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        MemoryStore(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_outcome_repr_hides_the_error_and_logs_name_no_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    outcome = Outcome(status=500, reason="handler_failed", error=RuntimeError("x"))
    assert "RuntimeError" not in repr(outcome)


class FlakyStore(MemoryStore):
    """A store whose complete or release fails as if Redis had just gone away."""

    def __init__(self, *, fail: str) -> None:
        super().__init__()
        self.fail = fail

    async def complete(self, webhook_id: str, token: str) -> None:
        if self.fail == "complete":
            raise StoreUnavailableError("down")
        await super().complete(webhook_id, token)

    async def release(self, webhook_id: str, token: str) -> None:
        if self.fail == "release":
            raise StoreUnavailableError("down")
        await super().release(webhook_id, token)


async def test_a_store_lost_after_the_handler_ran_still_answers_200(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At most once wins: a 5xx would have the sender retry, and the handler run again."""
    recorder = Recorder()
    outcome = await handle(
        Webhook(SECRET), *delivery(), recorder, store=FlakyStore(fail="complete")
    )
    assert (outcome.status, outcome.reason) == (200, "handled")
    assert "could not record it" in caplog.text


async def test_a_store_lost_while_releasing_still_answers_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder(fail_times=1)
    outcome = await handle(Webhook(SECRET), *delivery(), recorder, store=FlakyStore(fail="release"))
    assert (outcome.status, outcome.reason) == (500, "handler_failed")
    assert "could not release the claim" in caplog.text
