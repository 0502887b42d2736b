"""Past saturation in virtual time: retry storms, the limiter under load, batches, pauses.

Each test drives a real ``AsyncPulse`` against a :class:`SimServer` on a
:class:`VirtualTimeLoop`; minutes of simulated traffic take milliseconds.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sim_helpers import (
    EPSILON,
    SIM_SETTINGS,
    check_keys,
    check_no_request_within_a_pause,
    check_window,
    sim_client,
)
from sim_loop import VirtualDeadlock, run_virtual
from sim_server import SimServer

from pulse_async import APITimeoutError, MessageReceipt, PulseError, Timeout
from pulse_async._core._retry import BUDGET_CAPACITY, RETRY_COST


def item(n: int, prefix: str = "item") -> dict[str, Any]:
    return {"to": ["a@example.com"], "subject": f"{prefix}-{n}", "body": "b"}


# --- the harness itself ----------------------------------------------------------------------


def test_virtual_time_jumps_to_the_next_timer_and_never_hangs() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(3600)
        async with asyncio.timeout(5):
            await asyncio.sleep(1)
        return loop.time() - start

    assert run_virtual(main) == 3601

    async def stuck() -> None:
        await asyncio.get_running_loop().create_future()

    with pytest.raises(VirtualDeadlock):
        run_virtual(stuck)


def test_a_simulated_call_opens_no_socket() -> None:
    server = SimServer()

    async def main() -> MessageReceipt:
        async with sim_client(server) as pulse:
            receipt = await pulse.messages.send(**item(0))
            assert not hasattr(pulse._rt.transport, "_session")
            return receipt

    receipt = run_virtual(main)
    assert server.commits == {"item-0": 1}
    assert receipt.idempotency_key == server.attempts[0].key


# --- a server that fails everything ----------------------------------------------------------

failing = st.sampled_from(
    [
        {"500": 1.0},
        {"503": 1.0, "502": 1.0},
        {"reset-before": 1.0, "hang": 0.2, "500": 1.0},
        {"429": 1.0, "500": 3.0},
    ]
)


@SIM_SETTINGS
@given(
    calls=st.integers(1, 1500),
    faults=failing,
    max_retries=st.integers(0, 6),
    spread=st.sampled_from([0.0, 1.0, 30.0]),
    seed=st.integers(0, 2**16),
)
def test_attempts_against_an_all_failing_server_are_bounded_by_the_budget(
    calls: int, faults: dict[str, float], max_retries: int, spread: float, seed: int
) -> None:
    server = SimServer(seed=seed, faults=faults, latency=(0.0, 0.01), retry_after=(0.5, 1.0))
    rng = random.Random(seed)

    async def one(pulse: Any, n: int) -> object:
        await asyncio.sleep(rng.uniform(0, spread))
        return await pulse.messages.send(**item(n))

    async def main() -> list[object]:
        async with sim_client(server, seed=seed, max_retries=max_retries, timeout=600) as pulse:
            return await asyncio.gather(
                *(one(pulse, n) for n in range(calls)), return_exceptions=True
            )

    outcomes = run_virtual(main)
    assert all(isinstance(o, PulseError) for o in outcomes)
    assert len(server.attempts) <= 1.1 * calls + BUDGET_CAPACITY / RETRY_COST
    check_keys(server.attempts)
    check_no_request_within_a_pause(server.attempts, server.pauses)


# --- send_many under the client's own rate limit ----------------------------------------------


@pytest.mark.parametrize("concurrency", [8, 64, 512])
def test_send_many_at_a_rate_limit_sends_everything_at_the_rate(concurrency: int) -> None:
    # Issue 13: N items under R per minute, at any concurrency, take about N / R minutes,
    # with no failure caused by the client's own limiter and never more than R a minute.
    items, per_minute = 1200, 600
    server = SimServer(latency=(0.005, 0.05))

    async def main() -> tuple[list[Any], float]:
        loop = asyncio.get_running_loop()
        async with sim_client(server, rate_limit=per_minute, timeout=5) as pulse:
            start = loop.time()
            outcomes = await pulse.messages.send_many(
                [item(n) for n in range(items)], concurrency=concurrency, batch_id="run"
            )
            return outcomes, loop.time() - start

    outcomes, elapsed = run_virtual(main)
    assert [o.idempotency_key for o in outcomes] == [f"run:{n}" for n in range(items)]
    assert all(isinstance(o, MessageReceipt) for o in outcomes)
    minutes = items / per_minute
    assert minutes * 60 <= elapsed <= minutes * 60 / 0.95
    check_window([a.sent_at for a in server.attempts], per_minute, 1)


@SIM_SETTINGS
@given(
    items=st.integers(0, 300),
    per_minute=st.sampled_from([None, 60, 600, 6000]),
    concurrency=st.sampled_from([1, 8, 64, 512]),
    faults=st.sampled_from(
        [
            {"ok": 1.0},
            {"ok": 5.0, "429": 1.0, "429-date": 1.0},
            {"ok": 5.0, "500": 1.0, "reset-after": 1.0, "reset-before": 1.0, "hang": 0.3},
        ]
    ),
    seed=st.integers(0, 2**16),
)
def test_send_many_returns_one_outcome_per_item_in_order(
    items: int, per_minute: int | None, concurrency: int, faults: dict[str, float], seed: int
) -> None:
    server = SimServer(seed=seed, faults=faults, latency=(0.001, 0.2))

    async def main() -> list[Any]:
        async with sim_client(
            server, seed=seed, rate_limit=per_minute, timeout=Timeout(read=1, total=10)
        ) as pulse:
            return await pulse.messages.send_many(
                (item(n) for n in range(items)), concurrency=concurrency, batch_id="b"
            )

    outcomes = run_virtual(main)
    assert len(outcomes) == items
    for n, outcome in enumerate(outcomes):
        assert isinstance(outcome, MessageReceipt | PulseError)
        assert outcome.idempotency_key == f"b:{n}"
        if isinstance(outcome, MessageReceipt):
            assert server.commits[f"item-{n}"] == 1
        else:
            assert server.commits[f"item-{n}"] <= 1
    # The limiter and pauses queue an item's first attempt: every item reached the server.
    # (A retry's wait for them counts against the item's deadline, like any retry's.)
    assert {a.tag for a in server.attempts} == {f"item-{n}" for n in range(items)}
    check_keys(server.attempts)
    check_no_request_within_a_pause(server.attempts, server.pauses)
    if per_minute is not None:
        check_window([a.sent_at for a in server.attempts], per_minute, 1)


@SIM_SETTINGS
@given(
    items=st.integers(1, 400),
    concurrency=st.sampled_from([1, 8, 64, 512]),
    per_minute=st.sampled_from([None, 600]),
    cancel_after=st.floats(0.0, 30.0),
    stream=st.booleans(),
)
def test_a_cancelled_batch_leaves_nothing_running(
    items: int, concurrency: int, per_minute: int | None, cancel_after: float, stream: bool
) -> None:
    server = SimServer(faults={"ok": 3.0, "hang": 1.0, "429": 0.5}, latency=(0.01, 0.5))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with sim_client(server, rate_limit=per_minute) as pulse:
            batch = pulse.messages.send_many(
                [item(n) for n in range(items)], concurrency=concurrency
            )

            async def consume() -> None:
                if stream:
                    async for _ in batch:
                        pass
                else:
                    await batch

            task = loop.create_task(consume())
            await asyncio.sleep(cancel_after)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            # Nothing of the batch is left: no task, and no request after the cancel.
            assert asyncio.all_tasks(loop) == {asyncio.current_task()}
            sent = len(server.attempts)
            await asyncio.sleep(600)
            assert len(server.attempts) == sent

    run_virtual(main)


# --- pauses ----------------------------------------------------------------------------------


@SIM_SETTINGS
@given(
    waiting=st.integers(2, 200),
    retry_after=st.sampled_from([1.0, 5.0, 30.0]),
    date_form=st.booleans(),
    per_minute=st.sampled_from([None, 6000]),
    seed=st.integers(0, 2**16),
)
def test_calls_held_back_by_a_pause_wake_spread_and_never_inside_it(
    waiting: int, retry_after: float, date_form: bool, per_minute: int | None, seed: int
) -> None:
    server = SimServer(seed=seed, retry_after=(retry_after,))
    server.script.append("429-date" if date_form else "429")

    async def main() -> None:
        async with sim_client(
            server, seed=seed, max_retries=0, rate_limit=per_minute, timeout=120
        ) as pulse:
            with pytest.raises(PulseError):
                await pulse.messages.send(**item(0, "first"))
            await asyncio.gather(*(pulse.messages.send(**item(n)) for n in range(waiting)))

    run_virtual(main)
    (pause,) = server.pauses
    check_no_request_within_a_pause(server.attempts, server.pauses)
    after = [a.sent_at for a in server.attempts[1:]]
    assert min(after) >= pause.end - EPSILON
    if per_minute is None:
        # Without a limiter to space them, the waiters still do not fire at one instant.
        assert len(set(after)) == len(after)


@SIM_SETTINGS
@given(
    timeout=st.floats(0.1, 30.0),
    poll_interval=st.sampled_from([0.05, 0.5, 2.0]),
    faults=st.sampled_from([{"ok": 1.0}, {"hang": 1.0}, {"ok": 1.0, "hang": 1.0, "500": 1.0}]),
    seed=st.integers(0, 2**16),
)
def test_wait_never_outlives_its_timeout(
    timeout: float, poll_interval: float, faults: dict[str, float], seed: int
) -> None:
    server = SimServer(seed=seed, latency=(0.001, 0.3))
    server.statuses["msg_1"] = "queued"
    server.faults = faults

    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with sim_client(server, seed=seed) as pulse:  # the client's own timeout: 60 s
            start = loop.time()
            with pytest.raises(APITimeoutError):
                await pulse.messages.wait("msg_1", timeout=timeout, poll_interval=poll_interval)
            assert loop.time() <= start + timeout + EPSILON

    run_virtual(main)


# --- the limiter under offered load, whatever callers give up --------------------------------


@SIM_SETTINGS
@given(
    per_minute=st.sampled_from([60, 600, 1200]),
    offered=st.sampled_from([1.0, 2.0, 4.0, 10.0]),
    patience=st.sampled_from([2.0, 5.0, 20.0]),
    cancel_share=st.sampled_from([0.0, 0.2, 0.5]),
    seed=st.integers(0, 2**16),
)
def test_the_limiter_keeps_its_rate_under_load_whatever_callers_give_up(
    per_minute: int, offered: float, patience: float, cancel_share: float, seed: int
) -> None:
    # Issue 13: LocalRateLimiter(600) offered 4x its rate with short waits admitted 7 calls
    # in 6 s: callers that gave up kept their slots. Here callers arrive at ``offered``
    # times the rate (evenly at 1x, at random above), each willing to wait ``patience``
    # slot intervals (its timeout) unless it is cancelled first.
    rate = per_minute / 60.0
    horizon = 60 / rate  # sixty slots
    server = SimServer(seed=seed, latency=(0.0, 0.01))
    rng = random.Random(seed)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        async with sim_client(server, seed=seed, rate_limit=per_minute) as pulse:
            patient = pulse.with_options(timeout=patience / rate)
            start = loop.time()
            calls: list[asyncio.Task[Any]] = []
            n = 0
            while loop.time() - start < horizon:
                n += 1
                call = loop.create_task(patient.messages.send(**item(n)))
                calls.append(call)
                if rng.random() < cancel_share:
                    loop.call_later(rng.uniform(0, patience / rate), call.cancel)
                gap = 1 / (rate * offered)
                await asyncio.sleep(gap if offered == 1.0 else rng.expovariate(1 / gap))
            await asyncio.gather(*calls, return_exceptions=True)
            return start

    start = run_virtual(main)
    sent = [a.sent_at for a in server.attempts]
    check_window(sent, per_minute, 1)
    in_horizon = sum(1 for t in sent if start <= t <= start + horizon)
    assert in_horizon >= 0.9 * rate * horizon


@pytest.mark.parametrize("lateness", [0.0005, 0.002])
@pytest.mark.parametrize("concurrency", [8, 512])
def test_send_many_keeps_the_rate_when_every_wake_up_is_late(
    lateness: float, concurrency: int
) -> None:
    # A busy event loop runs every timer late (here by a tenth and by two fifths of a slot).
    # Each late wake-up must not push every later slot back with it: the batch still gets
    # its rate, not rate / (1 + lateness × rate).
    items, per_minute = 600, 12_000  # 200 a second: a slot every 5 ms
    server = SimServer(latency=(0.001, 0.002))

    async def late_sleep(seconds: float) -> None:
        await asyncio.sleep(seconds + lateness)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        async with sim_client(server, rate_limit=per_minute, timeout=5, _sleep=late_sleep) as pulse:
            start = loop.time()
            outcomes = await pulse.messages.send_many(
                [item(n) for n in range(items)], concurrency=concurrency
            )
            assert all(isinstance(o, MessageReceipt) for o in outcomes)
            return loop.time() - start

    elapsed = run_virtual(main)
    assert items / elapsed >= 0.95 * per_minute / 60
