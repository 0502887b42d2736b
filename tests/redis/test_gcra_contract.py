"""One GCRA, two languages: the same suite against the Python bucket and the Lua scripts.

``GCRABucket`` (what ``LocalRateLimiter`` and the Redis limiter's fallback use) and the
Lua scripts a real ``redis-server`` runs for ``RedisRateLimiter`` must be one algorithm:
same state, same arithmetic, same refusal rule, same pause. Every test here runs against
both, in virtual time: the scripts' clock prelude is swapped for one that reads ``now``
from the last argument (:func:`on_given_clock`); the body Redis runs is the production one.
A differential property drives both with one random history and asks for identical
answers at every step.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis_helpers import RedisServer, unique

from pulse_async._core._ratelimit import SAFETY, GCRABucket
from pulse_async._core._redis_gcra import (
    PAUSE_SCRIPT,
    RELEASE_SCRIPT,
    RESERVE_SCRIPT,
    on_given_clock,
)

SECOND = 1_000_000
#: A Unix time in µs, as Redis's TIME gives: the arithmetic must stay exact there.
EPOCH = 1_765_000_000 * SECOND


class Bucket(Protocol):
    interval: int

    def reserve(self, now: int, max_wait: int) -> tuple[bool, int, int]: ...
    def pause(self, now: int, seconds: int) -> bool: ...
    def release(self, now: int, tat: int) -> bool: ...


class PythonBucket:
    def __init__(self, per_minute: float, burst: int) -> None:
        self._bucket = GCRABucket(per_minute, burst=burst)
        self.interval = self._bucket.interval_us

    def reserve(self, now: int, max_wait: int) -> tuple[bool, int, int]:
        wait = self._bucket.reserve_us(now, max_wait)
        if wait > max_wait:
            return False, wait, 0
        tat = self._bucket.tat_us
        assert tat is not None
        return True, wait, tat

    def pause(self, now: int, seconds: int) -> bool:
        return self._bucket.pause_us(now, seconds)

    def release(self, now: int, tat: int) -> bool:
        return self._bucket.release_us(now, tat)


class LuaBucket:
    """The production scripts on a real redis-server, ``now`` given instead of ``TIME``."""

    def __init__(self, client: redis.Redis, per_minute: float, burst: int) -> None:
        self._client = client
        self._key = unique("pulse:ratelimit:contract")
        self._burst = burst
        self.interval = GCRABucket(per_minute, burst=burst).interval_us
        self._reserve = client.register_script(on_given_clock(RESERVE_SCRIPT))
        self._pause = client.register_script(on_given_clock(PAUSE_SCRIPT))
        self._release = client.register_script(on_given_clock(RELEASE_SCRIPT))

    def reserve(self, now: int, max_wait: int) -> tuple[bool, int, int]:
        booked, wait, tat = self._reserve(
            keys=[self._key], args=[self.interval, self._burst, max_wait, now]
        )
        return bool(booked), int(wait), int(tat)

    def pause(self, now: int, seconds: int) -> bool:
        done, _ = self._pause(keys=[self._key], args=[seconds, self.interval, self._burst, now])
        return bool(done)

    def release(self, now: int, tat: int) -> bool:
        done, _ = self._release(keys=[self._key], args=[self.interval, tat, now])
        return bool(done)


@pytest.fixture(scope="module")
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        client.close()


BACKENDS = ["python", "lua"]


def make(backend: str, client: redis.Redis, per_minute: float, burst: int = 1) -> Bucket:
    if backend == "python":
        return PythonBucket(per_minute, burst)
    return LuaBucket(client, per_minute, burst)


ONE = round(SECOND / SAFETY)  # a slot at 60 a minute, in µs


# --- the rules, one by one -------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_spacing_after_the_burst(backend: str, redis_client: redis.Redis) -> None:
    bucket = make(backend, redis_client, 60, burst=3)
    assert bucket.interval == ONE
    waits = [bucket.reserve(EPOCH, 100 * SECOND)[1] for _ in range(5)]
    assert waits == [0, 0, 0, ONE, 2 * ONE]


@pytest.mark.parametrize("backend", BACKENDS)
def test_idle_time_banks_no_more_than_the_burst(backend: str, redis_client: redis.Redis) -> None:
    bucket = make(backend, redis_client, 60, burst=2)
    bucket.reserve(EPOCH, 0)
    later = EPOCH + 1000 * SECOND
    assert [bucket.reserve(later, 100 * SECOND)[1] for _ in range(4)] == [0, 0, ONE, 2 * ONE]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_refusal_books_nothing(backend: str, redis_client: redis.Redis) -> None:
    bucket = make(backend, redis_client, 60)
    assert bucket.reserve(EPOCH, 0)[0]
    for _ in range(10):
        assert bucket.reserve(EPOCH, ONE - 1) == (False, ONE, 0)
    booked, wait, tat = bucket.reserve(EPOCH, ONE)  # the very slot the others refused
    assert (booked, wait, tat) == (True, ONE, EPOCH + 2 * ONE)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_pause_pushes_every_slot_and_never_pulls_one_forward(
    backend: str, redis_client: redis.Redis
) -> None:
    bucket = make(backend, redis_client, 60, burst=3)
    assert bucket.pause(EPOCH, 30 * SECOND)
    assert not bucket.pause(EPOCH, 5 * SECOND)
    # After a pause the burst is spent: slots resume one interval apart.
    waits = [bucket.reserve(EPOCH, 100 * SECOND)[1] for _ in range(3)]
    assert waits == [30 * SECOND, 30 * SECOND + ONE, 30 * SECOND + 2 * ONE]


@pytest.mark.parametrize("backend", BACKENDS)
def test_release_gives_back_only_the_last_slot_still_ahead(
    backend: str, redis_client: redis.Redis
) -> None:
    bucket = make(backend, redis_client, 60)
    _, _, first = bucket.reserve(EPOCH, 100 * SECOND)
    _, _, second = bucket.reserve(EPOCH, 100 * SECOND)
    assert not bucket.release(EPOCH, first)  # a later booking keeps it spent
    assert bucket.release(EPOCH, second)
    assert not bucket.release(EPOCH, second)  # once
    assert bucket.reserve(EPOCH, 100 * SECOND)[1] == ONE  # the given-back slot again
    _, _, third = bucket.reserve(EPOCH, 100 * SECOND)
    assert not bucket.release(third + 1, third)  # its time has come: it was used


# --- past saturation ---------------------------------------------------------------------------


def play(
    bucket: Bucket, *, per_minute: float, load: float, seconds: float, waits: list[float]
) -> tuple[list[int], int]:
    """Callers at ``load`` × the rate, each willing to wait ``waits[n % len]`` slots:
    the times of the slots booked and the number refused."""
    rate = per_minute / 60
    gap = round(SECOND / (rate * load))
    slot = round(SECOND / rate)
    admitted: list[int] = []
    refused = 0
    for n in range(round(rate * load * seconds)):
        now = EPOCH + n * gap
        booked, wait, _ = bucket.reserve(now, round(waits[n % len(waits)] * slot))
        if booked:
            admitted.append(now + wait)
        else:
            refused += 1
    return admitted, refused


def assert_within_rate(times: list[int], per_minute: float, burst: int) -> None:
    times = sorted(times)
    rate = per_minute / 60 / SECOND
    for i, first in enumerate(times):
        for j in range(i, len(times)):
            assert j - i + 1 <= rate * (times[j] - first) + burst, (i, j)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("load", [4, 10])
def test_past_saturation_callers_who_give_up_cost_nothing(
    backend: str, load: int, redis_client: redis.Redis
) -> None:
    """Offered 4× and 10× the rate, most callers unwilling to wait more than a slot or two:
    within ``rate × t + burst`` in any window, at least 90% of ``rate × t`` overall."""
    bucket = make(backend, redis_client, 600, burst=2)
    admitted, refused = play(bucket, per_minute=600, load=load, seconds=10, waits=[0, 0.5, 2])
    assert refused > 0
    assert_within_rate(admitted, 600, 2)
    in_time = [t for t in admitted if t <= EPOCH + 10 * SECOND]
    assert len(in_time) >= 0.9 * 10 * 10


# --- one algorithm: a differential property ----------------------------------------------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.integers(min_value=0, max_value=5 * SECOND)),
        st.tuples(st.just("reserve"), st.integers(min_value=0, max_value=10 * SECOND)),
        st.tuples(st.just("reserve"), st.just(10**12)),
        st.tuples(st.just("pause"), st.integers(min_value=0, max_value=20 * SECOND)),
        st.tuples(st.just("release"), st.integers(min_value=0, max_value=10)),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    per_minute=st.sampled_from([1, 60, 600, 1000, 60_000, 1_000_000]),
    burst=st.integers(min_value=1, max_value=5),
    history=operations,
)
def test_python_and_lua_answer_every_history_alike(
    redis_client: redis.Redis, per_minute: int, burst: int, history: list[tuple[str, int]]
) -> None:
    """Same answers at every step; and what was booked (less what was given back) stays
    within ``rate × t + burst`` in any window, pauses or not."""
    python = PythonBucket(per_minute, burst)
    lua = LuaBucket(redis_client, per_minute, burst)
    now = EPOCH
    booked: dict[int, int] = {}  # tat after booking -> the slot's time
    for op, value in history:
        if op == "advance":
            now += value
        elif op == "reserve":
            answer = python.reserve(now, value)
            assert lua.reserve(now, value) == answer, (op, value)
            if answer[0]:
                booked[answer[2]] = now + answer[1]
        elif op == "pause":
            assert lua.pause(now, value) == python.pause(now, value)
        else:
            tats = sorted(booked)
            if not tats:
                continue
            tat = tats[-1 - value % len(tats)]
            released = python.release(now, tat)
            assert lua.release(now, tat) == released
            if released:
                del booked[tat]
    assert_within_rate(list(booked.values()), per_minute, burst)
