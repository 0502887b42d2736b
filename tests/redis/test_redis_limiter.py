"""RedisRateLimiter against a real redis-server: shared slots, shared pauses, fallback, rejoin.

Waits are recorded by a fake sleep instead of slept: the slots are booked on
Redis's clock, so a caller's wait is its slot's distance from the moment its
script ran, and a few milliseconds between two calls cannot blur a one-second
interval.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis
from redis_helpers import RedisServer, free_port, unique

from pulse_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncPulse,
    ClientMisuseError,
    PulseError,
    ValidationError,
)
from pulse_async._core._ratelimit import SAFETY
from pulse_async._core._redis_gcra import MAX_WAIT_MICROS, micros, redact_url
from pulse_async._redis_limiter import _INHERITED, RedisRateLimiter
from pulse_async.testing import PulseServer

#: Slots ten seconds apart (6 a minute, × SAFETY): the milliseconds between two calls on a
#: busy machine are nothing next to that.
SLOW = 6
INTERVAL = 10 / SAFETY
#: The rate of the fallback tests (a frozen clock there: their waits are exact).
FALLBACK_INTERVAL = 1 / SAFETY
LOGGER = "pulse_async.ratelimit"


class Recorder:
    """A fake ``sleep`` that records each wait and yields to the loop."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


class Clock:
    """A monotonic clock the test moves by hand (for the probe interval)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def closed_url(password: str | None = None) -> str:
    auth = f":{password}@" if password else ""
    return f"redis://{auth}127.0.0.1:{free_port()}/0"


def warnings_of(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == level]


# --- construction -------------------------------------------------------------------------


def test_importing_the_module_does_not_import_redis() -> None:
    code = (
        "import sys, pulse_async._redis_limiter\n"
        "assert 'redis' not in sys.modules, 'redis imported at module import'\n"
    )
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True)


def test_without_redis_py_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("redis", "redis.asyncio", "redis.asyncio.retry", "redis.backoff"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"pulse-messaging\[redis\]"):
        RedisRateLimiter("redis://127.0.0.1:6379/0", name="x", per_minute=60)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"per_minute": 0}, "per_minute"),
        ({"per_minute": "gold"}, "per_minute"),
        ({"per_minute": float("nan")}, "per_minute"),
        ({"burst": 0}, "per_minute"),
        ({"fallback_share": 0}, "fallback_share"),
        ({"fallback_share": 1.5}, "fallback_share"),
        ({"probe_interval": 0}, "probe_interval"),
        ({"socket_timeout": float("inf")}, "socket_timeout"),
        ({"redis_url": "http://:hunter2@127.0.0.1:6379"}, "redis_url"),
    ],
)
def test_bad_arguments_are_refused_before_any_io(kwargs: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {
        "redis_url": "redis://127.0.0.1:6379/0",
        "name": "bucket",
        "per_minute": 60,
    }
    arguments.update(kwargs)
    with pytest.raises(ValidationError) as caught:
        RedisRateLimiter(**arguments)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert "hunter2" not in str(caught.value)


def test_plan_names_repr_and_properties() -> None:
    limiter = RedisRateLimiter(
        "redis://app:hunter2@127.0.0.1:6379/0", name="acme", per_minute="pro"
    )
    assert limiter.per_minute == 1000
    assert limiter.fallback_per_minute == 125
    assert limiter.key == "pulse:ratelimit:acme"
    assert limiter.name == "acme"
    assert not limiter.degraded
    assert repr(limiter) == (
        "RedisRateLimiter('redis://app:***@127.0.0.1:6379/0', name='acme', per_minute=1000)"
    )


def test_redis_urls_are_redacted_for_logs_and_reprs() -> None:
    assert redact_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert redact_url("rediss://user:p%40ss@h/2") == "rediss://user:***@h/2"
    assert redact_url("redis://user@h") == "redis://user@h"
    assert redact_url("unix:///run/r.sock?db=1&password=pw") == (
        "unix:///run/r.sock?db=1&password=***"
    )
    assert redact_url("redis://h:port/0") == "redis://h:port/0"
    assert redact_url("redis://:pw@h/0#x") == "redis://:***@h/0#x"
    assert redact_url("redis://[::1") == "<unparsable Redis URL>"
    assert micros(float("inf")) == MAX_WAIT_MICROS
    assert micros(float("nan")) == micros(-1) == 0


# --- one bucket, many limiters --------------------------------------------------------------


async def test_two_limiters_on_one_name_book_one_sequence_of_slots(
    redis_server: RedisServer,
) -> None:
    sleep = Recorder()
    name = unique("order")
    a = RedisRateLimiter(redis_server.url, name=name, per_minute=SLOW, sleep=sleep)
    b = RedisRateLimiter(redis_server.url, name=name, per_minute=SLOW, sleep=sleep)
    try:
        await a.acquire(100)  # the first slot is now: no sleep at all
        assert sleep.waits == []
        for limiter in (b, a, b):
            await limiter.acquire(100)
        # Each caller books the slot after the previous one, whichever limiter it used.
        assert sleep.waits == pytest.approx([INTERVAL, 2 * INTERVAL, 3 * INTERVAL], abs=0.5)
    finally:
        await a.aclose()
        await b.aclose()


async def test_concurrent_callers_each_get_a_slot_of_their_own(redis_server: RedisServer) -> None:
    sleep = Recorder()
    name = unique("concurrent")
    limiters = [
        RedisRateLimiter(redis_server.url, name=name, per_minute=SLOW, sleep=sleep)
        for _ in range(3)
    ]
    try:
        await asyncio.gather(*(limiters[n % 3].acquire(1000) for n in range(30)))
        waits = [0.0] * (30 - len(sleep.waits)) + sleep.waits
        # 30 callers, 30 distinct slots one interval apart: none shared, none skipped.
        assert sorted(round(w / INTERVAL) for w in waits) == list(range(30))
    finally:
        for limiter in limiters:
            await limiter.aclose()


async def test_burst_goes_back_to_back_then_spaces(redis_server: RedisServer) -> None:
    sleep = Recorder()
    limiter = RedisRateLimiter(
        redis_server.url, name=unique("burst"), per_minute=SLOW, burst=3, sleep=sleep
    )
    try:
        for _ in range(5):
            await limiter.acquire(100)
        assert sleep.waits == pytest.approx([INTERVAL, 2 * INTERVAL], abs=0.5)
    finally:
        await limiter.aclose()


async def test_a_slot_past_the_deadline_is_not_booked(redis_server: RedisServer) -> None:
    sleep = Recorder()
    name = unique("deadline")
    a = RedisRateLimiter(redis_server.url, name=name, per_minute=SLOW, sleep=sleep)
    b = RedisRateLimiter(redis_server.url, name=name, per_minute=SLOW, sleep=sleep)
    try:
        for _ in range(3):
            await a.acquire(1000)
        with pytest.raises(APITimeoutError, match="shared rate limiter"):
            await b.acquire(max_wait=10.0)  # its slot would be ~30 s away
        await b.acquire(100)  # the slot it did not take is still free
        assert sleep.waits[-1] == pytest.approx(3 * INTERVAL, abs=0.5)
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_pause_holds_back_every_limiter_on_the_name(redis_server: RedisServer) -> None:
    sleep = Recorder()
    name = unique("pause")
    a = RedisRateLimiter(redis_server.url, name=name, per_minute=SLOW, sleep=sleep)
    b = RedisRateLimiter(redis_server.url, name=name, per_minute=SLOW, sleep=sleep)
    try:
        await a.pause(30)  # a 429 told this process to wait 30 s
        await a.pause(5)  # an earlier pause never pulls the slots forward
        await b.acquire(100)
        assert len(sleep.waits) == 1
        assert 29.5 <= sleep.waits[0] <= 31.5  # 30 s, ending up to 1 s late at random
        await a.acquire(100)
        assert sleep.waits[-1] == pytest.approx(sleep.waits[0] + INTERVAL, abs=0.5)
    finally:
        await a.aclose()
        await b.aclose()


async def test_an_idle_bucket_leaves_no_key_behind(redis_server: RedisServer) -> None:
    limiter = RedisRateLimiter(redis_server.url, name=unique("ttl"), per_minute=600)
    check = redis.Redis.from_url(redis_server.url)
    try:
        await limiter.acquire(100)
        ttl_ms = check.pttl(limiter.key)
        # Expires about a second after its last slot (0.1 s away) has passed.
        assert isinstance(ttl_ms, int)
        assert 0 < ttl_ms <= 1200
    finally:
        check.close()
        await limiter.aclose()


async def test_a_429_in_one_client_pauses_the_other(redis_server: RedisServer) -> None:
    """The client calls ``pause(Retry-After)`` on a 429: with Redis, every process obeys."""
    name = unique("429")
    sleep_a, sleep_b = Recorder(), Recorder()
    a = RedisRateLimiter(redis_server.url, name=name, per_minute=600, sleep=sleep_a)
    b = RedisRateLimiter(redis_server.url, name=name, per_minute=600, sleep=sleep_b)
    async with PulseServer() as server:
        server.faults.add("rate_limited", route="POST /v2/messages", count=1, retry_after=20)
        client_sleep = Recorder()
        first = AsyncPulse(server.editor_key, base_url=server.v2_url, rate_limit=a,
                           _sleep=client_sleep)  # fmt: skip
        second = AsyncPulse(server.editor_key, base_url=server.v2_url, rate_limit=b)
        async with first, second:
            await first.messages.send(to=["a@example.com"], subject="s", body="b")
            assert first.stats.rate_limited == 1
            await second.messages.send(to=["a@example.com"], subject="s", body="b")
    await a.aclose()
    await b.aclose()
    # The other process's next slot came after the Retry-After the first one was given.
    assert sleep_b.waits
    assert sleep_b.waits[-1] >= 19.5


async def test_a_redis_restart_is_absorbed_without_falling_back(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    sleep = Recorder()
    limiter = RedisRateLimiter(own_redis.url, name=unique("restart"), per_minute=SLOW, sleep=sleep)
    try:
        await limiter.acquire(100)
        own_redis.kill()
        own_redis.start()  # empty: no bucket, no script cache; the pooled connection is dead
        await limiter.acquire(100)
        assert not limiter.degraded
        assert sleep.waits == []  # a fresh bucket: the slot is now
        assert not warnings_of(caplog, logging.WARNING)
    finally:
        await limiter.aclose()


async def test_a_cancelled_caller_gives_its_booked_slot_back(redis_server: RedisServer) -> None:
    """Booked ahead in Redis, then cancelled while it waited: the slot is not lost."""
    name = unique("cancel")
    waits: list[float] = []

    async def hang(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.Event().wait()

    sleep = Recorder()
    a = RedisRateLimiter(redis_server.url, name=name, per_minute=SLOW, sleep=sleep)
    b = RedisRateLimiter(redis_server.url, name=name, per_minute=SLOW, sleep=hang)
    try:
        await a.acquire(100)
        waiting = asyncio.create_task(b.acquire(100))
        while not waits:
            await asyncio.sleep(0.001)
        assert waits == pytest.approx([INTERVAL], abs=0.5)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await b.aclose()  # waits for the slot to be given back
        await a.acquire(100)
        assert sleep.waits == pytest.approx([INTERVAL], abs=0.5)  # that very slot, not the next
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_cancelled_first_in_line_hands_its_slot_to_the_next(
    redis_server: RedisServer,
) -> None:
    """Issue 13: a caller cancelled while it waits for its booked slot keeps no slot, even
    when others queued after it. On the old main each caller booked its own slot ahead,
    and the cancelled one's was lost (a later booking kept it spent)."""
    name = unique("handoff")
    waits: list[float] = []
    hung = asyncio.Event()

    async def first_hangs(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:
            await hung.wait()
        await asyncio.sleep(0)

    sleep = Recorder()
    a = RedisRateLimiter(redis_server.url, name=name, per_minute=SLOW, sleep=sleep)
    b = RedisRateLimiter(redis_server.url, name=name, per_minute=SLOW, sleep=first_hangs)
    try:
        await a.acquire(100)
        first = asyncio.create_task(b.acquire(100))
        while not waits:
            await asyncio.sleep(0.001)
        second = asyncio.create_task(b.acquire(100))
        await asyncio.sleep(0.01)  # queued behind the first, booking nothing
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await second
        # The second took the very slot the first was booked for, not the one after it.
        assert waits == pytest.approx([INTERVAL, INTERVAL], abs=0.5)
        await a.acquire(100)
        assert sleep.waits == pytest.approx([2 * INTERVAL], abs=0.5)
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_booking_cut_off_by_max_wait_goes_to_the_next_caller(
    redis_server: RedisServer,
) -> None:
    """Issue 13: a slot whose reply reached its caller after its ``max_wait`` ran out stayed
    spent (and the caller took a local fallback slot besides). Now the booking goes on
    without it and the next caller in line takes it."""
    name = unique("cutoff")
    sleep = Recorder()
    # Slow, not unreachable: the pause below stays within the socket timeout.
    a = RedisRateLimiter(
        redis_server.url, name=name, per_minute=SLOW, burst=2, sleep=sleep, socket_timeout=10
    )
    b = RedisRateLimiter(redis_server.url, name=name, per_minute=SLOW, burst=2, sleep=sleep)
    control = redis.Redis.from_url(redis_server.url)
    try:
        started = time.monotonic()
        await a.acquire(100)  # connected; one slot of the burst is left, free now
        control.execute_command("CLIENT", "PAUSE", 2000, "ALL")  # a slow Redis, for 2 s
        hurried = asyncio.create_task(a.acquire(max_wait=1.0))
        patient = asyncio.create_task(a.acquire(100))
        # The patient caller queues behind the hurried one while its booking is in flight
        # (waited for, not assumed: a loaded machine may run the tasks late).
        while len(a._queue) < 2 and not hurried.done():
            await asyncio.sleep(0.005)
        assert not hurried.done()
        with pytest.raises(APITimeoutError, match="did not answer"):
            await hurried
        await patient
        assert sleep.waits == []  # its slot was free: no sleep
        # The free slot the hurried caller's script booked went to the patient one, and
        # nothing else was booked: b's slot is the next one, one interval after the first.
        since_first = time.monotonic() - started
        await b.acquire(100)
        assert sleep.waits == pytest.approx([INTERVAL - since_first], abs=0.5)
    finally:
        control.close()
        await a.aclose()
        await b.aclose()


async def test_a_pause_voids_a_booked_slot_that_falls_within_it(
    redis_server: RedisServer,
) -> None:
    """A caller waiting for its booked slot when a 429's pause comes in does not go within
    the pause: it books again, after it (the old main let it go at the booked slot)."""
    name = unique("void")
    waits: list[float] = []
    release = asyncio.Event()

    async def first_waits(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:
            await release.wait()
        await asyncio.sleep(0)

    a = RedisRateLimiter(redis_server.url, name=name, per_minute=SLOW, sleep=Recorder())
    b = RedisRateLimiter(redis_server.url, name=name, per_minute=SLOW, sleep=first_waits)
    try:
        await a.acquire(100)
        waiting = asyncio.create_task(b.acquire(100))
        while not waits:
            await asyncio.sleep(0.001)
        await b.pause(30)
        release.set()  # its slot's time has come (the sleep is faked): within the pause
        await waiting
        assert waits[0] == pytest.approx(INTERVAL, abs=0.5)
        assert len(waits) == 2
        assert 29.5 <= waits[1] <= 31.5  # booked again, after the pause
    finally:
        await a.aclose()
        await b.aclose()


class HungRedis:
    """A TCP server that accepts connections and never answers (a Redis that hangs)."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> str:
        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.writers.append(writer)
            while await reader.read(4096):
                pass
            writer.close()

        self.server = await asyncio.start_server(swallow, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()


async def test_a_hung_redis_never_holds_a_caller_past_its_max_wait() -> None:
    """Issue 13: the 8-call gate waited without bound, so a hung Redis pushed calls past
    their deadline. Now the queue, the gate, Redis's answer and the slot all count against
    ``max_wait``. A caller whose ``max_wait`` runs out before Redis answers is refused: a
    slow Redis is not known to be down, and a local slot would go beyond the shared quota."""
    async with HungRedis() as url:
        limiter = RedisRateLimiter(
            url, name="hung", per_minute=600, socket_timeout=60, sleep=Recorder()
        )
        try:
            async with asyncio.timeout(20):  # a hang guard: each caller allows itself 0.2 s
                outcomes = await asyncio.gather(
                    *(limiter.acquire(max_wait=0.2) for _ in range(20)), return_exceptions=True
                )
        finally:
            await limiter.aclose()
    # All refused at their deadline: typed, none hung, none let through beside the quota.
    assert all(isinstance(o, APITimeoutError) for o in outcomes), outcomes


# --- falling back, rejoining ---------------------------------------------------------------


async def test_unreachable_redis_falls_back_to_a_share_of_the_quota_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sleep = Recorder()
    limiter = RedisRateLimiter(
        closed_url(password="hunter2"),
        name="fallback",
        per_minute=240,
        fallback_share=0.25,
        clock=Clock(),
        sleep=sleep,
    )
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        for _ in range(4):
            await limiter.acquire(100)
        await limiter.aclose()
    assert limiter.degraded
    # 240 × 0.25 = 60 a minute for this process alone: never unlimited, never an error.
    assert sleep.waits == pytest.approx([FALLBACK_INTERVAL * n for n in (1, 2, 3)])
    warnings = warnings_of(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert "unreachable" in warnings[0]
    assert "60 requests/minute" in warnings[0]
    assert "hunter2" not in caplog.text
    assert "redis://:***@127.0.0.1" in warnings[0]


async def test_a_wrong_password_falls_back_without_showing_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    guarded = RedisServer(tmp_path, password="right-password")
    guarded.start()
    try:
        bad = RedisRateLimiter(
            f"redis://:wrong-password@127.0.0.1:{guarded.port}/0",
            name="auth",
            per_minute=60,
            sleep=Recorder(),
        )
        good = RedisRateLimiter(guarded.url, name="auth", per_minute=60, sleep=Recorder())
        await bad.acquire(100)
        await good.acquire(100)
        assert bad.degraded
        assert not good.degraded
        await bad.aclose()
        await good.aclose()
    finally:
        guarded.stop()
    assert "wrong-password" not in caplog.text
    assert "right-password" not in caplog.text
    assert len(warnings_of(caplog, logging.WARNING)) == 1


async def test_a_pause_holds_even_while_redis_is_unreachable() -> None:
    sleep = Recorder()
    limiter = RedisRateLimiter(closed_url(), name="p", per_minute=60, clock=Clock(), sleep=sleep)
    await limiter.acquire(100)  # falls back
    await limiter.pause(10)
    await limiter.acquire(100)
    assert len(sleep.waits) == 1
    assert 10.0 <= sleep.waits[0] <= 11.0  # a pause ends a little late, at random


async def test_rejoins_when_redis_is_back_probing_at_most_every_interval(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock, sleep = Clock(), Recorder()
    server = RedisServer(tmp_path)  # its port is free: nothing listens yet
    limiter = RedisRateLimiter(
        server.url, name="rejoin", per_minute=60, probe_interval=3, clock=clock, sleep=sleep
    )
    check = redis.Redis.from_url(server.url)
    try:
        with caplog.at_level(logging.INFO, logger=LOGGER):
            await limiter.acquire(100)
            assert limiter.degraded
            clock.now += 3.1  # a probe, which fails: no second warning
            await limiter.acquire(100)
            assert limiter.degraded
            server.start()
            clock.now += 2.9
            await limiter.pause(1)  # not probing yet: still local
            await limiter.acquire(100)
            assert limiter.degraded
            assert check.exists(limiter.key) == 0

            clock.now += 0.2  # the probe is due
            await limiter.acquire(100)
            assert not limiter.degraded
            assert check.exists(limiter.key) == 1  # booked in Redis again
            assert len(warnings_of(caplog, logging.INFO)) == 1
            assert "back" in warnings_of(caplog, logging.INFO)[0]

            server.kill()  # a second outage is reported again, once
            await limiter.acquire(100)
            await limiter.pause(1)
            await limiter.acquire(100)
            assert limiter.degraded
        assert len(warnings_of(caplog, logging.WARNING)) == 2
        await limiter.aclose()
    finally:
        check.close()
        server.stop()


async def test_pause_rejoins_too(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    server = RedisServer(tmp_path)
    limiter = RedisRateLimiter(
        server.url, name="rejoin-pause", per_minute=60, clock=clock, sleep=Recorder()
    )
    try:
        with caplog.at_level(logging.INFO, logger=LOGGER):
            await limiter.pause(1)
            assert limiter.degraded
            server.start()
            clock.now += 10
            await limiter.pause(1)
            assert not limiter.degraded
        assert len(warnings_of(caplog, logging.INFO)) == 1
        await limiter.aclose()
        await limiter.aclose()  # twice is fine
    finally:
        server.stop()


# --- processes and loops -------------------------------------------------------------------


async def test_a_forked_child_opens_its_own_connection(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pulse_async._redis_limiter as module

    limiter = RedisRateLimiter(redis_server.url, name=unique("pid"), per_minute=6000)
    unused = RedisRateLimiter(redis_server.url, name=unique("pid"), per_minute=6000)
    await limiter.acquire(100)
    parent_client = limiter._redis
    monkeypatch.setattr(module, "os", SimpleNamespace(getpid=lambda: -1))
    await limiter.acquire(100)
    await unused.acquire(100)  # made before the fork, first used after it
    await unused.aclose()
    # The parent's client is kept, untouched (closing it would cut the parent's sockets).
    assert limiter._redis is not parent_client
    assert _INHERITED[-1] is parent_client
    await limiter.aclose()
    _INHERITED.remove(parent_client)
    monkeypatch.undo()
    assert parent_client is not None
    await parent_client.aclose()


def test_parent_and_forked_child_share_the_bucket_not_the_socket(
    redis_server: RedisServer,
) -> None:
    """A real fork: both processes book at once, each on its own connection."""
    script = textwrap.dedent(
        f"""
        import asyncio, os, sys
        from pulse_async import RedisRateLimiter

        waits = []
        async def sleep(seconds):
            waits.append(seconds)

        async def book(limiter, n):
            for _ in range(n):
                await limiter.acquire(1000)

        limiter = RedisRateLimiter({redis_server.url!r}, name={unique("fork")!r},
                                   per_minute=60, sleep=sleep)
        loop = asyncio.new_event_loop()
        loop.run_until_complete(book(limiter, 1))    # the parent is connected before the fork
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            child_loop = asyncio.new_event_loop()
            child_loop.run_until_complete(book(limiter, 20))
            os.write(write, repr(waits).encode())
            os._exit(0 if not limiter.degraded else 3)
        loop.run_until_complete(book(limiter, 20))    # on the inherited socket, meanwhile
        _, status = os.waitpid(pid, 0)
        child = eval(os.read(read, 100000).decode())
        assert os.waitstatus_to_exitcode(status) == 0
        assert not limiter.degraded
        slots = sorted(round(w * 0.98) for w in waits + child)  # w / interval
        assert slots == list(range(1, 41)), slots     # 40 distinct slots, none lost
        loop.run_until_complete(limiter.aclose())
        loop.close()
        """
    )
    subprocess.run([sys.executable, "-W", "error", "-c", script], check=True, timeout=60)


def test_one_event_loop_at_a_time(redis_server: RedisServer) -> None:
    limiter = RedisRateLimiter(
        redis_server.url, name=unique("loops"), per_minute=6000, sleep=Recorder()
    )
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        first.run_until_complete(limiter.acquire(100))
        # A misuse, and one error tree: a PulseError that is never retried.
        with pytest.raises(ClientMisuseError, match="another event loop") as caught:
            second.run_until_complete(limiter.acquire(100))
        assert isinstance(caught.value, PulseError)
        assert not isinstance(caught.value, APIConnectionError)
        first.run_until_complete(limiter.aclose())
        first.close()
        second.run_until_complete(limiter.acquire(100))  # the closed loop's place is free
        second.run_until_complete(limiter.aclose())
    finally:
        first.close()
        second.close()


def test_a_client_left_on_a_closed_loop_is_set_aside() -> None:
    limiter = RedisRateLimiter(closed_url(), name="closed", per_minute=60, sleep=Recorder())
    first = asyncio.new_event_loop()
    first.run_until_complete(limiter.acquire(100))  # degraded; a client exists, no socket
    stale = limiter._redis
    first.close()
    second = asyncio.new_event_loop()
    try:
        second.run_until_complete(limiter.acquire(100))
        assert stale is not None
        assert _INHERITED[-1] is stale
        assert limiter._redis is not stale
        _INHERITED.remove(stale)
    finally:
        second.close()


@pytest.mark.parametrize("uvloop_env", ["1", "0"])
def test_a_sync_client_s_limiter_is_closed_at_exit(
    redis_server: RedisServer, uvloop_env: str, tmp_path: Path
) -> None:
    """A blocking caller cannot ``await limiter.aclose()``: pulse_sync closes it at exit.

    Before, its Redis connection was still open when the loop closed: uvloop warned of it,
    and under ``-W error`` the process never exited.
    """
    script = textwrap.dedent(
        f"""
        from pulse_async.testing import PulseServer
        from pulse_sync import Pulse, RedisRateLimiter

        handle = PulseServer().start_in_thread()
        limiter = RedisRateLimiter({redis_server.url!r}, name={unique("exit")!r}, per_minute=6000)
        with Pulse(handle.admin_key, base_url=handle.url, rate_limit=limiter) as pulse:
            print(pulse.messages.send(to=["ada@example.com"], subject="s", body="b").status)
        print(limiter.degraded)
        handle.stop()
        """
    )
    env = {**os.environ, "PULSE_SYNC_UVLOOP": uvloop_env}
    env.pop("PYTHONWARNINGS", None)
    result = subprocess.run(
        [sys.executable, "-W", "error", "-W", "always::ResourceWarning", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,  # a hang guard
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "queued\nFalse\n", "")
