"""The retry engine against a scripted loopback server, with time faked."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from resilience_helpers import FakeTime, ScriptedServer, error, html, receipt

from pulse_async import (
    APIConnectionError,
    AsyncPulse,
    ConflictError,
    NotFoundError,
    RateLimitError,
    RetryEvent,
    ServerError,
    ValidationError,
)

KEY = "pw_test_resilience_canary"


def client(server: ScriptedServer, fake: FakeTime, **kwargs: object) -> AsyncPulse:
    return AsyncPulse(
        KEY,
        base_url=server.url,
        _clock=fake.clock,
        _sleep=fake.sleep,
        _rng=random.Random(7),
        **kwargs,  # type: ignore[arg-type]
    )


async def send(pulse: AsyncPulse, **kwargs: object) -> object:
    return await pulse.messages.send(to=["a@example.com"], subject="s", body="b", **kwargs)  # type: ignore[arg-type]


async def test_success_first_time_makes_one_attempt_and_no_sleep(
    scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    scripted.then(receipt)
    async with client(scripted, fake_time) as pulse:
        result = await send(pulse)
    assert len(scripted.requests) == 1
    assert fake_time.sleeps == []
    assert pulse.stats.retries == 0
    assert result.idempotency_key == scripted.keys[0]  # type: ignore[attr-defined]


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_retryable_statuses_are_retried_with_the_same_key(
    scripted: ScriptedServer, fake_time: FakeTime, status: int
) -> None:
    scripted.then(error(status), receipt)
    async with client(scripted, fake_time) as pulse:
        result = await send(pulse)
    assert len(scripted.requests) == 2
    first, second = scripted.keys
    assert first is not None
    assert first == second == result.idempotency_key
    assert pulse.stats.retries == 1


async def test_html_502_is_retried_then_raised_as_server_error(
    scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    scripted.then(html(502))
    async with client(scripted, fake_time) as pulse:
        with pytest.raises(ServerError) as caught:
            await send(pulse)
    assert len(scripted.requests) == 3  # 1 + max_retries (2)
    assert caught.value.status == 502
    assert caught.value.idempotency_key == scripted.keys[0]
    assert len(set(scripted.keys)) == 1


async def test_max_retries_zero_is_exactly_one_attempt(
    scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    scripted.then(error(503))
    async with client(scripted, fake_time, max_retries=0) as pulse:
        with pytest.raises(ServerError):
            await send(pulse)
    assert len(scripted.requests) == 1
    assert fake_time.sleeps == []


async def test_with_options_changes_retries_per_call(
    scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    scripted.then(error(500))
    async with client(scripted, fake_time, max_retries=5) as pulse:
        with pytest.raises(ServerError):
            await send(pulse.with_options(max_retries=1))
        assert len(scripted.requests) == 2
        assert pulse.options.max_retries == 5


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "validation_failed", ValidationError),
        (404, "not_found", NotFoundError),
        (409, "invalid_state", ConflictError),
    ],
)
async def test_non_retryable_errors_fail_at_once(
    scripted: ScriptedServer, fake_time: FakeTime, status: int, code: str, expected: type
) -> None:
    scripted.then(error(status, code), receipt)
    async with client(scripted, fake_time) as pulse:
        with pytest.raises(expected) as caught:
            await send(pulse)
    assert len(scripted.requests) == 1
    assert caught.value.idempotency_key == scripted.keys[0]


async def test_conflict_in_flight_is_retried(scripted: ScriptedServer, fake_time: FakeTime) -> None:
    scripted.then(error(409, "conflict"), receipt)
    async with client(scripted, fake_time) as pulse:
        await send(pulse)
    assert len(scripted.requests) == 2


async def test_backoff_grows_exponentially_with_jitter(
    scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    scripted.then(error(500))
    async with client(scripted, fake_time, max_retries=6, timeout=600) as pulse:
        with pytest.raises(ServerError):
            await send(pulse)
    ceilings = [0.5, 1, 2, 4, 8, 8]
    assert len(fake_time.sleeps) == 6
    for delay, ceiling in zip(fake_time.sleeps, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling


async def test_retry_after_seconds_is_honoured_with_upward_jitter(
    scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    scripted.then(error(429, "rate_limited", **{"Retry-After": "7"}), receipt)
    async with client(scripted, fake_time) as pulse:
        await send(pulse)
    assert len(fake_time.sleeps) == 1
    assert 7.0 <= fake_time.sleeps[0] <= 7.0 * 1.1 + 0.05


async def test_retry_after_http_date_is_honoured(
    scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    scripted.then(error(503, **{"Retry-After": format_datetime(when, usegmt=True)}), receipt)
    async with client(scripted, fake_time) as pulse:
        await send(pulse)
    assert 27 <= fake_time.sleeps[0] <= 30 * 1.1 + 0.05


@pytest.mark.parametrize("garbage", ["soon", "-5", "NaN", "inf", "1e400", ""])
async def test_garbage_retry_after_falls_back_to_backoff(
    scripted: ScriptedServer, fake_time: FakeTime, garbage: str
) -> None:
    scripted.then(error(429, "rate_limited", **{"Retry-After": garbage}), receipt)
    async with client(scripted, fake_time) as pulse:
        await send(pulse)
    assert len(fake_time.sleeps) == 1
    assert 0.25 <= fake_time.sleeps[0] <= 0.5


async def test_retry_after_beyond_the_cap_raises_at_once(
    scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    scripted.then(error(429, "rate_limited", **{"Retry-After": "120"}), receipt)
    async with client(scripted, fake_time) as pulse:
        with pytest.raises(RateLimitError) as caught:
            await send(pulse)
    assert caught.value.retry_after == 120
    assert len(scripted.requests) == 1
    assert fake_time.sleeps == []


async def test_a_429_pauses_the_whole_client(scripted: ScriptedServer, fake_time: FakeTime) -> None:
    scripted.then(error(429, "rate_limited", **{"Retry-After": "5"}), receipt)
    async with client(scripted, fake_time, max_retries=0) as pulse:
        with pytest.raises(RateLimitError):
            await send(pulse)
        # Another, unrelated call waits out the server's Retry-After before sending.
        await send(pulse)
    assert fake_time.sleeps
    # Woken at a random moment within the pause's spread (10 % + 50 ms), never before it ends.
    assert 5.0 <= fake_time.sleeps[0] <= 5.0 * 1.1 + 0.05
    assert pulse.stats.rate_limited == 1


async def test_on_retry_hook_and_info_log_without_the_key(
    scripted: ScriptedServer, fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[RetryEvent] = []
    scripted.then(error(500), error(503), receipt)
    caplog.set_level(logging.DEBUG, logger="pulse_async")
    async with client(scripted, fake_time, on_retry=events.append) as pulse:
        await send(pulse)
    assert [e.attempt for e in events] == [1, 2]
    assert [e.delay for e in events] == fake_time.sleeps
    assert all(isinstance(e.cause, ServerError) for e in events)
    assert events[0].idempotency_key == scripted.keys[0]
    retry_lines = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(retry_lines) == 2
    assert "retrying POST /messages" in retry_lines[0].getMessage()
    assert KEY not in caplog.text


async def test_total_deadline_covers_retries_and_waits(
    scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    # Backoffs of 0.25-0.5, 0.5-1, 1-2, 2-4, 4-8 s: a 5 s deadline stops the retries
    # well before max_retries=10, and no wait runs past it.
    scripted.then(error(500))
    async with client(scripted, fake_time, max_retries=10, timeout=5) as pulse:
        with pytest.raises(ServerError):
            await send(pulse)
    assert sum(fake_time.sleeps) < 5
    assert len(scripted.requests) == len(fake_time.sleeps) + 1 <= 5


async def test_slow_server_times_out_per_call(scripted: ScriptedServer) -> None:
    async def slow(_request: object) -> object:
        await asyncio.sleep(5)
        return receipt(_request)  # type: ignore[arg-type]

    scripted.then(slow)
    async with AsyncPulse(KEY, base_url=scripted.url, timeout=0.3, max_retries=3) as pulse:
        with pytest.raises(APIConnectionError) as caught:
            await send(pulse)
    assert caught.value.idempotency_key is not None
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None


async def test_retry_budget_stops_a_retry_storm(
    scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    scripted.then(error(503))
    async with client(scripted, fake_time, max_connections=100) as pulse:
        outcomes = await asyncio.gather(*(send(pulse) for _ in range(1000)), return_exceptions=True)
    assert all(isinstance(o, ServerError) for o in outcomes)
    assert len(scripted.requests) <= 1150
    assert pulse.stats.budget_exhausted > 0


async def test_budget_refills_with_successes(scripted: ScriptedServer, fake_time: FakeTime) -> None:
    scripted.then(error(503))
    async with client(scripted, fake_time, max_retries=1) as pulse:
        await asyncio.gather(*(send(pulse) for _ in range(200)), return_exceptions=True)
        spent = pulse.stats.budget_exhausted
        assert spent > 0
        scripted.script[:] = [receipt]
        await asyncio.gather(*(send(pulse) for _ in range(50)))
        scripted.script[:] = [error(503), receipt]
        await send(pulse)  # there is budget again for one retry
        assert pulse.stats.budget_exhausted == spent
