"""The in-process rate limiter: spacing, fairness, pauses, deadlines (time faked)."""

from __future__ import annotations

import asyncio
import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from limiter_helpers import VirtualTime
from resilience_helpers import FakeTime, ScriptedServer, error, receipt

from pulse_async import APITimeoutError, AsyncPulse, LocalRateLimiter, ValidationError
from pulse_async._core._ratelimit import (
    _PLAN_RATES,
    PLANS,
    SAFETY,
    GCRABucket,
    per_minute_from,
)


def test_plan_names_and_numbers() -> None:
    assert per_minute_from("free") == 60
    assert per_minute_from("PRO") == 1000
    assert per_minute_from(600) == 600
    for bad in ("gold", 0, -1, float("nan"), True):
        with pytest.raises(ValueError):  # noqa: PT011 - each bad value has its own message
            per_minute_from(bad)  # type: ignore[arg-type]


def test_client_rejects_a_bad_rate_limit() -> None:
    with pytest.raises(ValidationError) as caught:
        AsyncPulse("pw_test_x", base_url="http://127.0.0.1:1", rate_limit="gold")
    assert caught.value.field == "rate_limit"


def test_gcra_spaces_requests_after_the_burst() -> None:
    bucket = GCRABucket(60, burst=3)
    interval = 1 / SAFETY
    waits = [bucket.reserve(100.0) for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(interval)
    assert waits[4] == pytest.approx(2 * interval)


def test_gcra_pause_pushes_every_slot_past_the_time_given() -> None:
    bucket = GCRABucket(60)
    assert bucket.reserve(0.0) == 0.0
    bucket.pause(30.0)
    assert bucket.reserve(1.0) == pytest.approx(29.0)
    bucket.pause(10.0)  # an earlier pause never pulls slots forward
    assert bucket.reserve(1.0) > 29.0


async def test_limiter_serves_callers_first_come_first_served() -> None:
    vt = VirtualTime()
    limiter = LocalRateLimiter(600, clock=vt.clock, sleep=vt.sleep)
    served: list[tuple[int, float]] = []

    async def caller(n: int) -> None:
        await limiter.acquire(max_wait=math.inf)
        served.append((n, vt.now - vt.start))

    tasks = [asyncio.create_task(caller(n)) for n in range(20)]
    await vt.advance(10)
    await asyncio.gather(*tasks)
    # Caller n got the n-th slot: 0.1 s apart (over the safety factor), in arrival order.
    assert [n for n, _ in served] == list(range(20))
    assert [at for _, at in served] == pytest.approx(
        [n * 0.1 / SAFETY for n in range(20)], abs=1e-4
    )


def test_a_free_slot_costs_no_task_and_no_wait() -> None:
    """The uncontended path finishes without ever yielding to the loop."""
    limiter = LocalRateLimiter(60, burst=2, clock=lambda: 5.0)
    for _ in range(2):
        step = limiter.acquire(max_wait=0)
        with pytest.raises(StopIteration) as done:
            step.send(None)
        assert done.value.value == 0.0
    with pytest.raises(APITimeoutError):  # the third is a second away: refused, no await
        limiter.acquire(max_wait=0.5).send(None)


async def test_limiter_refuses_a_slot_past_the_deadline(fake_time: FakeTime) -> None:
    limiter = LocalRateLimiter(60, clock=fake_time.clock, sleep=fake_time.sleep)
    await limiter.acquire(max_wait=1)
    with pytest.raises(APITimeoutError):
        await limiter.acquire(max_wait=0.5)


async def test_client_with_a_plan_is_throttled_and_paused_by_429(
    scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    scripted.then(receipt, error(429, "rate_limited", **{"Retry-After": "10"}), receipt)
    async with AsyncPulse(
        "pw_test_x",
        base_url=scripted.url,
        rate_limit=60,
        _clock=fake_time.clock,
        _sleep=fake_time.sleep,
    ) as pulse:
        for _ in range(3):
            await pulse.messages.send(to=["a@example.com"], subject="s", body="b")
        assert isinstance(pulse.rate_limiter, LocalRateLimiter)
    assert len(scripted.requests) == 4
    # The 429 pushed the limiter's next slot 10 s out, which the retry then waited for.
    assert sum(fake_time.sleeps) >= 10
    assert pulse.stats.rate_limited == 1
    assert pulse.stats.throttled >= 2


async def test_exhausted_remaining_header_pauses_the_limiter(
    scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    from aiohttp import web

    def last_one(_request: web.Request) -> web.Response:
        return web.json_response(
            {"message_id": "msg_1", "status": "queued"},
            status=202,
            headers={
                "X-RateLimit-Limit": "100",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": "20",
            },
        )

    scripted.then(last_one, receipt)
    async with AsyncPulse(
        "pw_test_x",
        base_url=scripted.url,
        rate_limit=6000,
        _clock=fake_time.clock,
        _sleep=fake_time.sleep,
    ) as pulse:
        await pulse.messages.send(to=["a@example.com"], subject="s", body="b")
        await pulse.messages.send(to=["a@example.com"], subject="s", body="b")
    assert fake_time.sleeps
    assert fake_time.sleeps[-1] >= 19.9


# --- past saturation (virtual time) -----------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """One caller of ``acquire``: when it comes, how long it will wait, when it cancels."""

    at: float
    max_wait: float = math.inf
    cancel_after: float | None = None


@dataclass
class Run:
    admitted: list[float] = field(default_factory=list)
    refused: int = 0
    cancelled: int = 0


async def offer(
    limiter: LocalRateLimiter, vt: VirtualTime, callers: list[Caller], *, until: float
) -> Run:
    """Play ``callers`` against ``limiter`` in virtual time up to ``until``; what happened."""
    run = Run()

    async def call(caller: Caller) -> None:
        try:
            await limiter.acquire(caller.max_wait)
        except APITimeoutError:
            run.refused += 1
        except asyncio.CancelledError:
            run.cancelled += 1
        else:
            run.admitted.append(vt.now)

    async def cancel_later(task: asyncio.Task[None], after: float) -> None:
        await vt.sleep(after)
        task.cancel()

    tasks: list[asyncio.Task[None]] = []
    for caller in sorted(callers, key=lambda c: c.at):
        await vt.advance_to(vt.start + caller.at)
        task = asyncio.create_task(call(caller))
        tasks.append(task)
        if caller.cancel_after is not None:
            tasks.append(asyncio.create_task(cancel_later(task, caller.cancel_after)))
    await vt.advance_to(vt.start + until)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return run


def assert_within_rate(admitted: list[float], per_minute: float, burst: int) -> None:
    """At most ``rate × t + burst`` admitted in any window of length ``t``."""
    times = sorted(admitted)
    rate = per_minute / 60
    for i, first in enumerate(times):
        for j in range(i, len(times)):
            assert j - i + 1 <= rate * (times[j] - first) + burst + 1e-6, (i, j)


def steady(per_second: float, seconds: float, **kwargs: float | None) -> list[Caller]:
    """Callers arriving evenly at ``per_second`` for ``seconds``."""
    count = round(per_second * seconds)
    return [Caller(at=n / per_second, **kwargs) for n in range(count)]  # type: ignore[arg-type]


async def test_callers_with_short_waits_do_not_starve_the_limiter() -> None:
    """Issue 13: offered 4× its rate with short waits, LocalRateLimiter(600) admitted 7 calls
    in 6 s, because each refused caller had booked a slot anyway."""
    vt = VirtualTime()
    limiter = LocalRateLimiter(600, clock=vt.clock, sleep=vt.sleep)
    run = await offer(limiter, vt, steady(40, 6, max_wait=0.5), until=6)
    assert len(run.admitted) >= 0.9 * 10 * 6
    assert_within_rate(run.admitted, 600, 1)
    assert run.refused > 0
    # Admitted calls kept on coming till the end, not just in the first second.
    assert max(run.admitted) - vt.start > 5.5


@pytest.mark.parametrize("load", [4, 10])
async def test_cancelled_callers_keep_no_slot(load: int) -> None:
    """Half the callers are cancelled (a caller-side timeout) before their slot comes."""
    vt = VirtualTime()
    limiter = LocalRateLimiter(600, clock=vt.clock, sleep=vt.sleep)
    callers = [
        Caller(at=c.at, cancel_after=0.05 if n % 2 else None)
        for n, c in enumerate(steady(10 * load, 6))
    ]
    run = await offer(limiter, vt, callers, until=6)
    assert run.cancelled >= len(callers) // 2 - 1
    assert len(run.admitted) >= 0.9 * 10 * 6
    assert_within_rate(run.admitted, 600, 1)
    assert limiter.waiting == 0  # nobody left behind in the queue


async def test_a_refused_caller_books_nothing() -> None:
    vt = VirtualTime()
    limiter = LocalRateLimiter(60, clock=vt.clock, sleep=vt.sleep)
    await limiter.acquire(0)
    for _ in range(5):
        with pytest.raises(APITimeoutError, match=r"next slot is 1\.0s away"):
            await limiter.acquire(max_wait=0.5)
    waiting = asyncio.create_task(limiter.acquire(max_wait=2))
    await vt.advance(5)
    assert await waiting == pytest.approx(1 / SAFETY, abs=1e-4)  # the very next slot, not six later


async def test_a_queued_caller_is_refused_when_its_turn_is_past_its_wait() -> None:
    """Refused at once, from the queue's length, not after sleeping through its max_wait."""
    vt = VirtualTime()
    limiter = LocalRateLimiter(60, clock=vt.clock, sleep=vt.sleep)
    await limiter.acquire(0)
    queued = [asyncio.create_task(limiter.acquire(math.inf)) for _ in range(3)]
    await vt.settle()
    with pytest.raises(APITimeoutError, match=r"4\.1s away"):
        await limiter.acquire(max_wait=3.5)
    assert vt.now == vt.start
    await vt.advance(10)
    assert await asyncio.gather(*queued) == pytest.approx([n / SAFETY for n in (1, 2, 3)], abs=1e-4)


async def test_a_pause_holds_everyone_and_refuses_who_cannot_wait_it_out() -> None:
    vt = VirtualTime()
    limiter = LocalRateLimiter(600, clock=vt.clock, sleep=vt.sleep)
    await limiter.acquire(0)
    patient = [asyncio.create_task(limiter.acquire(math.inf)) for _ in range(3)]
    hurried = [asyncio.create_task(limiter.acquire(5)) for _ in range(2)]
    await vt.settle()
    await limiter.pause(10)
    await vt.settle()
    # Their slots are now past their deadline: refused at once, not 5 s later.
    for task in hurried[1:]:
        assert task.done()
        with pytest.raises(APITimeoutError):
            task.result()
    await vt.advance(20)
    waits = await asyncio.gather(*patient)
    assert all(10 <= w <= 11 + 3 * 0.11 for w in waits)
    assert waits == sorted(waits)
    assert all(b - a == pytest.approx(0.1 / SAFETY, abs=1e-4) for a, b in itertools.pairwise(waits))
    with pytest.raises(APITimeoutError):
        hurried[0].result()  # the first in line woke at its slot and found the pause


async def test_processes_paused_together_do_not_wake_at_one_instant() -> None:
    vt = VirtualTime()
    limiters = [LocalRateLimiter(60, clock=vt.clock, sleep=vt.sleep) for _ in range(8)]
    for limiter in limiters:
        await limiter.pause(10)
    tasks = [asyncio.create_task(limiter.acquire(math.inf)) for limiter in limiters]
    await vt.advance(30)
    waits = await asyncio.gather(*tasks)
    assert all(10 <= w <= 11 for w in waits)
    assert len(set(waits)) == len(waits)


async def test_a_cancelled_first_in_line_hands_its_turn_on() -> None:
    vt = VirtualTime()
    limiter = LocalRateLimiter(60, clock=vt.clock, sleep=vt.sleep)
    await limiter.acquire(0)
    first = asyncio.create_task(limiter.acquire(math.inf))
    second = asyncio.create_task(limiter.acquire(math.inf))
    await vt.advance(0.5)
    first.cancel()
    await vt.advance(5)
    assert first.cancelled()
    # The second caller got the first one's slot, 1 s (not 2 s) after the last.
    assert await second == pytest.approx(1 / SAFETY, abs=1e-4)


async def test_a_lagging_clock_or_a_frozen_one_still_makes_progress() -> None:
    """A sleep the clock does not show yet counts: the caller that slept takes its slot."""
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    limiter = LocalRateLimiter(60, clock=lambda: 7.0, sleep=record)
    waits = [await limiter.acquire(100) for _ in range(4)]
    assert waits == pytest.approx([0, 1 / SAFETY, 2 / SAFETY, 3 / SAFETY], abs=1e-4)
    assert slept == waits[1:]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    per_minute=st.sampled_from([60, 600, 1000, 6000]),
    burst=st.integers(min_value=1, max_value=4),
    load=st.floats(min_value=2, max_value=10),
    patience=st.lists(
        st.one_of(
            st.tuples(st.just("wait"), st.floats(min_value=0, max_value=3)),
            st.tuples(st.just("cancel"), st.floats(min_value=0, max_value=3)),
            st.tuples(st.just("patient"), st.just(0.0)),
        ),
        min_size=1,
        max_size=12,
    ),
    pauses=st.lists(
        st.tuples(st.floats(min_value=0, max_value=5), st.floats(min_value=0, max_value=2)),
        max_size=2,
    ),
)
def test_past_saturation_the_limiter_admits_its_rate_and_no_more(
    per_minute: int,
    burst: int,
    load: float,
    patience: list[tuple[str, float]],
    pauses: list[tuple[float, float]],
) -> None:
    """Offered 2-10× its rate, half the callers or more give up (refused by a short
    ``max_wait``, or cancelled after a while, in slots' units): in any window it admits at
    most ``rate × t + burst``, and overall at least 90% of ``rate × t`` (less the pauses)."""
    rate = per_minute / 60
    interval = 1 / rate
    seconds = min(20.0, 600 / (rate * load))  # at most 600 callers: well under a second

    async def scenario() -> None:
        vt = VirtualTime()
        limiter = LocalRateLimiter(per_minute, burst=burst, clock=vt.clock, sleep=vt.sleep)
        count = int(rate * load * seconds)
        callers = []
        for n in range(count):
            kind, units = patience[n % len(patience)] if n % 2 else ("patient", 0.0)
            at = n / (rate * load)
            if kind == "wait":
                callers.append(Caller(at=at, max_wait=units * interval))
            elif kind == "cancel":
                callers.append(Caller(at=at, cancel_after=units * interval))
            else:
                callers.append(Caller(at=at))

        async def pauser() -> None:
            for at, length in sorted(pauses):
                await vt.sleep(vt.start + at - vt.now)
                await limiter.pause(length)

        pausing = asyncio.create_task(pauser())
        run = await offer(limiter, vt, callers, until=seconds)
        pausing.cancel()
        await asyncio.gather(pausing, return_exceptions=True)
        assert_within_rate(run.admitted, per_minute, burst)
        paused = sum(length * 1.1 for _, length in pauses)
        in_time = [t for t in run.admitted if t <= vt.start + seconds]
        assert len(in_time) >= 0.9 * rate * (seconds - paused) - 1

    asyncio.run(scenario())


# --- the plan table's one home -------------------------------------------------------------


def test_the_plan_table_is_defined_once_and_read_everywhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plan added to ``PLANS`` is known to the client, the CLI and the local server."""
    import pulse_async.constants
    from pulse_async._cli._parser import _rate
    from pulse_async._limiter import make_limiter
    from pulse_async.testing.__main__ import _rate_limit
    from pulse_async.testing._state import resolve_rate_limit

    assert pulse_async.constants.PLANS is PLANS
    with pytest.raises(TypeError):  # read-only
        PLANS["free"] = 10_000  # type: ignore[index]
    monkeypatch.setitem(_PLAN_RATES, "team", 5000)
    assert per_minute_from("team") == 5000
    limiter = make_limiter("team")
    assert isinstance(limiter, LocalRateLimiter)
    assert limiter.per_minute == 5000
    assert _rate("team") == 5000
    assert resolve_rate_limit(_rate_limit("team")) == 5000


def test_no_module_spells_the_plan_numbers_again() -> None:
    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(r"""["']pro["']\s*:\s*1[_,]?000|["']free["']\s*:\s*60\b""")
    offenders = [
        str(path.relative_to(root))
        for package in ("pulse_async", "pulse_sync")
        for path in (root / package).rglob("*.py")
        if pattern.search(path.read_text()) and path.name != "_ratelimit.py"
    ]
    assert offenders == []


async def test_a_forked_child_does_not_queue_behind_the_parent_s_callers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pulse_async._limiter as module

    vt = VirtualTime()
    limiter = LocalRateLimiter(60, clock=vt.clock, sleep=vt.sleep)
    await limiter.acquire(0)
    # A caller the parent had queued when it forked: in the child, no task will ever run it.
    limiter._queue[module._Waiter(deadline=10**18)] = None
    monkeypatch.setattr(module.os, "getpid", lambda: -1)
    await vt.advance(1 / SAFETY)
    assert await limiter.acquire(0) == 0.0  # the slot is free; no ghost ahead of it
    assert limiter.waiting == 0
