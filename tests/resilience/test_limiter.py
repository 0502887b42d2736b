"""The in-process rate limiter: spacing, fairness, pauses, deadlines (time faked)."""

from __future__ import annotations

import asyncio

import pytest
from resilience_helpers import FakeTime, ScriptedServer, error, receipt

from pulse_async import APITimeoutError, AsyncPulse, LocalRateLimiter, ValidationError
from pulse_async._core._ratelimit import SAFETY, GCRABucket, per_minute_from


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
    waits: dict[int, float] = {}
    current: list[int] = []

    async def record(seconds: float) -> None:
        waits[current[-1]] = seconds
        await asyncio.sleep(0)

    limiter = LocalRateLimiter(600, clock=lambda: 100.0, sleep=record)

    async def caller(n: int) -> None:
        current.append(n)
        await limiter.acquire(max_wait=60)

    await asyncio.gather(*(caller(n) for n in range(20)))
    # Caller n got the n-th slot: 0.1 s apart (over the safety factor), in arrival order.
    assert 0 not in waits
    assert [waits[n] for n in range(1, 20)] == pytest.approx(
        [n * 0.1 / SAFETY for n in range(1, 20)]
    )


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
