"""Retry policy, backoff, retry budget and the GCRA bucket: pure arithmetic."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse_async._core._http import error_from_response
from pulse_async._core._ratelimit import PLANS, SAFETY, GCRABucket, pause_jitter, per_minute_from
from pulse_async._core._retry import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    BUDGET_CAPACITY,
    MAX_RETRY_AFTER_JITTER,
    RETRY_AFTER_JITTER,
    RETRY_COST,
    RetryBudget,
    backoff_delay,
    is_retryable,
    retry_after_spread,
    retry_delay,
    server_retry_after,
)
from pulse_async.errors import (
    APIConnectionError,
    APITimeoutError,
    ConflictError,
    PulseError,
    RateLimitError,
    ValidationError,
)


def api_error(
    status: int, code: str | None = None, headers: dict[str, str] | None = None
) -> PulseError:
    body = b'{"error": {"code": "%s", "message": "m"}}' % code.encode() if code else b""
    return error_from_response(status, headers or {}, body, now=lambda: 0.0)


# --- is_retryable -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (APIConnectionError("reset"), True),
        (APITimeoutError(), True),
        (APIConnectionError("body too big", retryable=False), False),
        (ValidationError("bad", field="to"), False),
        (api_error(400, "validation_failed"), False),
        (api_error(401), False),
        (api_error(403), False),
        (api_error(404), False),
        (api_error(405), False),
        (api_error(408), True),
        (api_error(409, "conflict"), True),
        (api_error(409, "invalid_state"), False),
        (api_error(409), False),
        (api_error(422), False),
        (api_error(429), True),
        (api_error(500), True),
        (api_error(501), False),
        (api_error(502), True),
        (api_error(503), True),
        (api_error(504), True),
        (api_error(505), False),
        (api_error(302), False),
        (PulseError("generic"), False),
    ],
)
def test_is_retryable_matrix(error: PulseError, retryable: bool) -> None:
    assert is_retryable(error) is retryable


def test_conflict_error_class_is_used_for_both_409_codes() -> None:
    assert isinstance(api_error(409, "conflict"), ConflictError)
    assert isinstance(api_error(409, "invalid_state"), ConflictError)


# --- delays -----------------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6, 10, 100, 1100, 10**6])
def test_backoff_stays_within_equal_jitter_bounds(attempt: int) -> None:
    rng = random.Random(attempt)
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempt - 1, 32))
    for _ in range(50):
        delay = backoff_delay(attempt, rng)
        assert ceiling / 2 <= delay <= ceiling


def test_backoff_grows_then_caps() -> None:
    assert backoff_delay(1, random.Random(0)) <= 0.5
    assert backoff_delay(2, random.Random(0)) >= 0.5
    assert 4.0 <= backoff_delay(5, random.Random(0)) <= 8.0
    assert 4.0 <= backoff_delay(50, random.Random(0)) <= BACKOFF_CAP


def test_backoff_is_reproducible_with_a_seed() -> None:
    first = [backoff_delay(n, random.Random(7)) for n in range(1, 6)]
    assert first == [backoff_delay(n, random.Random(7)) for n in range(1, 6)]


def test_server_retry_after_sources() -> None:
    limited = error_from_response(429, {"Retry-After": "3"}, b"", now=lambda: 0.0)
    assert server_retry_after(limited, now=0.0) == 3.0
    unavailable = api_error(503, headers={"retry-after": "4"})
    assert server_retry_after(unavailable, now=0.0) == 4.0
    assert server_retry_after(api_error(503), now=0.0) is None
    assert server_retry_after(api_error(500, headers={"Retry-After": "4"}), now=0.0) is None
    assert server_retry_after(APIConnectionError(), now=0.0) is None


def test_retry_delay_honours_retry_after_with_upward_jitter() -> None:
    error = RateLimitError("slow", retry_after=10.0)
    for seed in range(30):
        delay = retry_delay(error, 1, random.Random(seed), now=0.0)
        assert delay is not None
        assert 10.0 <= delay <= 10.0 * (1 + RETRY_AFTER_JITTER)


def test_every_server_requested_wait_follows_one_jitter_rule() -> None:
    """A retry's delay, the client's pause and the limiters' pause: 10 %, at most 1 s.

    Before, a 60 s ``Retry-After`` was a retry delay (and a client pause) of up to 66 s
    but a limiter pause of up to 61 s: calls idled five seconds past the limiter.
    """
    assert retry_after_spread(10.0) == pytest.approx(1.0)
    assert retry_after_spread(60.0) == MAX_RETRY_AFTER_JITTER == 1.0
    assert retry_after_spread(2.0) == pytest.approx(0.2)
    assert retry_after_spread(0.0) == retry_after_spread(-1.0) == 0.0
    error = RateLimitError("slow", retry_after=60.0)
    for seed in range(30):
        delay = retry_delay(error, 1, random.Random(seed), now=0.0)
        assert delay is not None
        assert 60.0 <= delay <= 61.0
    assert pause_jitter(60.0, draw=lambda: 1.0) == 61.0
    assert pause_jitter(2.0, draw=lambda: 1.0) == pytest.approx(2.2)
    assert pause_jitter(0.0, draw=lambda: 1.0) == 0.0


def test_retry_delay_over_the_cap_is_none() -> None:
    error = RateLimitError("slow", retry_after=61.0)
    assert retry_delay(error, 1, random.Random(0), now=0.0) is None
    assert retry_delay(error, 1, random.Random(0), now=0.0, max_retry_after=61.0) is not None
    assert retry_delay(error, 1, random.Random(0), now=0.0, max_retry_after=0.0) is None


def test_retry_delay_falls_back_to_backoff() -> None:
    for error in (RateLimitError("no header"), api_error(500), APIConnectionError()):
        delay = retry_delay(error, 3, random.Random(1), now=0.0)
        assert delay == backoff_delay(3, random.Random(1))


# --- retry budget -----------------------------------------------------------------------------


def test_budget_arithmetic() -> None:
    budget = RetryBudget(capacity=12, cost=5)
    assert budget.tokens == 12
    assert budget.try_spend() is True
    assert budget.try_spend() is True
    assert budget.tokens == 2
    assert budget.try_spend() is False  # cannot pay: nothing spent
    assert budget.tokens == 2
    budget.on_success(0)
    assert budget.tokens == 3
    budget.on_success(2)  # refunds two retries
    assert budget.tokens == 12  # and never above capacity
    budget.on_success(0)
    assert budget.tokens == 12


def test_default_budget_bounds_a_retry_storm() -> None:
    budget = RetryBudget()
    assert (budget.capacity, budget.cost) == (BUDGET_CAPACITY, RETRY_COST)
    retries = 0
    while budget.try_spend():
        retries += 1
    assert retries == BUDGET_CAPACITY // RETRY_COST == 100


# --- GCRA -------------------------------------------------------------------------------------


def test_per_minute_from_plans_and_numbers() -> None:
    assert per_minute_from("free") == 60.0
    assert per_minute_from("PRO") == 1000.0
    assert per_minute_from(120) == 120.0
    assert per_minute_from(0.5) == 0.5
    assert PLANS == {"free": 60, "pro": 1000}


@pytest.mark.parametrize("value", ["enterprise", "", 0, -1, math.nan, math.inf, True, None, [60]])
def test_per_minute_from_refuses(value: object) -> None:
    with pytest.raises(ValueError, match=r"plan|number|positive"):
        per_minute_from(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("per_minute", "burst"), [(0, 1), (-5, 1), (math.nan, 1), (math.inf, 1), (60, 0)]
)
def test_bucket_refuses_nonsense(per_minute: float, burst: int) -> None:
    with pytest.raises(ValueError, match="per_minute"):
        GCRABucket(per_minute, burst=burst)


def test_bucket_spaces_requests_evenly() -> None:
    bucket = GCRABucket(60, safety=1.0)
    assert bucket.interval == 1.0
    assert [bucket.reserve(now=100.0) for _ in range(4)] == [0.0, 1.0, 2.0, 3.0]
    # Time passes: the booked slots come due.
    assert bucket.reserve(now=103.5) == pytest.approx(0.5)


def test_bucket_safety_margin_slows_slightly() -> None:
    bucket = GCRABucket(60)
    assert bucket.interval == pytest.approx(60 / (60 * SAFETY))
    assert bucket.reserve(0.0) == 0.0
    assert bucket.reserve(0.0) > 1.0


def test_bucket_burst() -> None:
    bucket = GCRABucket(60, burst=3, safety=1.0)
    assert [bucket.reserve(now=0.0) for _ in range(5)] == [0.0, 0.0, 0.0, 1.0, 2.0]


def test_bucket_idle_time_does_not_bank_more_than_the_burst() -> None:
    bucket = GCRABucket(60, burst=2, safety=1.0)
    bucket.reserve(0.0)
    waits = [bucket.reserve(now=1000.0) for _ in range(4)]
    assert waits == [0.0, 0.0, 1.0, 2.0]


def test_bucket_pause_pushes_every_slot() -> None:
    bucket = GCRABucket(60, safety=1.0)
    assert bucket.reserve(0.0) == 0.0
    bucket.pause(until=30.0)
    assert bucket.reserve(now=10.0) == pytest.approx(20.0)
    assert bucket.reserve(now=10.0) == pytest.approx(21.0)
    # A pause earlier than what is already booked changes nothing.
    bucket.pause(until=5.0)
    assert bucket.reserve(now=10.0) == pytest.approx(22.0)


def test_bucket_pause_with_burst() -> None:
    bucket = GCRABucket(60, burst=3, safety=1.0)
    bucket.pause(until=50.0)
    assert bucket.reserve(now=40.0) == pytest.approx(10.0)


@settings(max_examples=60, deadline=None)
@given(
    per_minute=st.floats(min_value=1, max_value=100_000),
    burst=st.integers(min_value=1, max_value=20),
    steps=st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=40),
)
def test_bucket_never_admits_more_than_rate_allows(
    per_minute: float, burst: int, steps: list[float]
) -> None:
    """Over any run, the admitted times never exceed ``burst + elapsed / interval``."""
    bucket = GCRABucket(per_minute, burst=burst)
    now = 0.0
    admitted: list[float] = []
    for step in steps:
        now += step
        wait = bucket.reserve(now)
        assert wait >= 0.0
        admitted.append(now + wait)
    admitted.sort()
    first = admitted[0]
    for i, when in enumerate(admitted):
        allowed = burst + (when - first) / bucket.interval
        assert i + 1 <= allowed + 1e-6
