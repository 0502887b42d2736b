"""``RedisRateLimiter``: one quota shared by every process and host, kept in Redis.

A workspace's plan (Pro: 1,000 requests a minute) is one budget, however many
worker processes spend it. Each process gives its client a
:class:`RedisRateLimiter` with the same Redis and ``name``; they then book
slots in one GCRA bucket that Redis keeps and updates atomically (a Lua
script, :mod:`pulse_async._core._redis_gcra`), on Redis's clock, first come,
first served. A 429's ``Retry-After`` is shared the same way: the process
that is told to wait pushes the shared bucket back, and every process waits.

If Redis cannot be reached (refused, reset, timed out after ``socket_timeout``)
the limiter does not fail the call and does not stop limiting: it falls back
to an in-process :class:`~pulse_async.LocalRateLimiter` at
``per_minute * fallback_share`` (with the default ``1/8``, eight processes
together stay within the plan), logs that once at WARNING, probes Redis at
most every ``probe_interval`` seconds, and logs once at INFO when it rejoins.
(Redis without persistence forgets the bucket when it restarts; the processes
then start a fresh one. While they rejoin one by one, within ``probe_interval``,
those still on their fallback send on top of the shared rate: the one moment
the plan can be overshot, by at most the fallback shares, for a few seconds.)

``redis`` (redis-py, ``pip install 'pulse-messaging[redis]'``) is imported when a
limiter is created, not when this module is.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from pulse_async._core._ratelimit import GCRABucket, micros, pause_jitter, per_minute_from
from pulse_async._core._redis_gcra import (
    KEY_PREFIX,
    PAUSE_SCRIPT,
    RELEASE_SCRIPT,
    RESERVE_SCRIPT,
    bucket_key,
    redact_url,
)
from pulse_async._limiter import LocalRateLimiter
from pulse_async.errors import APITimeoutError, ClientMisuseError, ValidationError

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

__all__ = ["DEFAULT_FALLBACK_SHARE", "DEFAULT_PROBE_INTERVAL", "RedisRateLimiter"]

log = logging.getLogger("pulse_async.ratelimit")

#: The share of the quota one process may use on its own while Redis is unreachable:
#: eight processes together stay within the plan. Set ``1 / <processes you run>``.
DEFAULT_FALLBACK_SHARE = 1 / 8
#: Seconds between two attempts to reach Redis again while falling back.
DEFAULT_PROBE_INTERVAL = 3.0
#: Connect and read timeout of every Redis call: a dead Redis costs a call this much, once.
DEFAULT_SOCKET_TIMEOUT = 0.5
#: Redis calls one process has in flight at once (the rest queue, in order, each no longer
#: than its caller's ``max_wait``).
_MAX_IN_FLIGHT = 8


class _OutOfTime(Exception):
    """The caller's ``max_wait`` ran out before Redis answered (internal)."""


#: Clients this process may neither use nor close: those a forked child inherited (they
#: share sockets, and the parent loop's epoll instance, with the parent: closing them, or
#: letting the garbage collector close them, would cut the parent's connections), and
#: those left open on an event loop that has since been closed. Kept here, untouched.
_INHERITED: list[object] = []


def _import_redis() -> Any:
    try:
        import redis.asyncio
        import redis.asyncio.retry
        import redis.backoff
    except ImportError:
        raise ImportError(
            "RedisRateLimiter needs redis-py: pip install 'pulse-messaging[redis]'"
        ) from None
    return redis


class RedisRateLimiter:
    """A rate limiter whose quota is shared, through Redis, by every process that names it.

    Give every worker process — on every host — a limiter with the same Redis
    and ``name``, and together they send at most ``per_minute`` requests a
    minute (a plan name works too: ``"pro"``), spaced evenly, first come,
    first served::

        from pulse_async import AsyncPulse, RedisRateLimiter

        limiter = RedisRateLimiter(
            "redis://:password@redis.internal:6379/0", name="workspace-acme", per_minute=1000
        )
        async with AsyncPulse(rate_limit=limiter) as pulse:
            await pulse.messages.send_many(items, batch_id="digest-2024-W46")
        await limiter.aclose()

    The same object works with the blocking client (``pulse_sync.Pulse(rate_limit=...)``),
    also in forked workers: a child process opens its own connections.

    - ``burst``: requests that may go back to back before the spacing applies.
    - ``fallback_share``: while Redis is unreachable, this process alone sends
      at most ``per_minute * fallback_share`` (default 1/8: set it to
      ``1 / <number of processes>``). Never unlimited, never an exception.
    - ``probe_interval``: seconds between attempts to reach Redis again.
    - ``socket_timeout``: connect and read timeout of each Redis call.
    - ``key_prefix``: the bucket lives at ``<key_prefix><name>`` (``pulse:ratelimit:…``).
    - ``clock`` and ``sleep``: injectable for tests (the probe timer and the waits).

    The script uses ``TIME`` and writes after it: Redis 5 or newer (effects
    replication); a single Redis or a primary with replicas, not Redis Cluster.
    The password in ``redis_url`` never appears in a repr or a log line.
    Every process using one ``name`` must agree on ``per_minute`` and ``burst``.
    One limiter serves one event loop at a time (the one it is first used on;
    a new loop may take over once that one is closed).
    """

    def __init__(
        self,
        redis_url: str,
        *,
        name: str,
        per_minute: float | str,
        burst: int = 1,
        fallback_share: float = DEFAULT_FALLBACK_SHARE,
        probe_interval: float = DEFAULT_PROBE_INTERVAL,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        key_prefix: str = KEY_PREFIX,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._redis_module = _import_redis()
        if not isinstance(name, str) or not name or len(name) > 200:
            raise ValidationError(
                "must be a non-empty string of at most 200 characters", field="name"
            )
        try:
            rate = per_minute_from(per_minute)
            bucket = GCRABucket(rate, burst=burst)
        except (ValueError, TypeError) as exc:
            raise ValidationError(str(exc), field="per_minute") from None
        if not 0 < fallback_share <= 1:
            raise ValidationError("must be more than 0 and at most 1", field="fallback_share")
        if not 0 < probe_interval < float("inf"):
            raise ValidationError("must be a positive number of seconds", field="probe_interval")
        if not 0 < socket_timeout < float("inf"):
            raise ValidationError("must be a positive number of seconds", field="socket_timeout")
        try:
            self._redis_module.asyncio.connection.parse_url(redis_url)
        except (ValueError, TypeError) as exc:
            # redis-py's message may quote the URL: say what is wrong without it.
            raise ValidationError(
                f"not a Redis URL ({type(exc).__name__}); use redis://, rediss:// or unix://",
                field="redis_url",
            ) from None
        self._url = redis_url
        self._safe_url = redact_url(redis_url)
        self._password = _password_of(redis_url)
        self._name = name
        self._key = bucket_key(name, key_prefix)
        self._per_minute = rate
        self._burst = burst
        self._interval = bucket.interval_us
        self._fallback_share = fallback_share
        self._probe_interval = probe_interval
        self._socket_timeout = socket_timeout
        self._clock = clock
        self._sleep = sleep
        self._errors: tuple[type[BaseException], ...] = (
            self._redis_module.exceptions.RedisError,
            OSError,
            TimeoutError,
        )
        self._reset()

    def _reset(self) -> None:
        """Forget every connection and loop-bound object (at start, and in a forked child)."""
        self._pid = os.getpid()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._redis: Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}
        self._gate: asyncio.Semaphore | None = None
        #: Slots given back after their caller was cancelled (background, awaited by aclose).
        self._releases: set[asyncio.Task[None]] = set()
        self._fallback = LocalRateLimiter(
            self._per_minute * self._fallback_share,
            burst=self._burst,
            clock=self._clock,
            sleep=self._sleep,
        )
        self._degraded = False
        self._next_probe = 0.0

    # --- public ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The shared bucket's name."""
        return self._name

    @property
    def key(self) -> str:
        """The Redis key that holds the shared bucket."""
        return self._key

    @property
    def per_minute(self) -> float:
        """The rate every process together may send at."""
        return self._per_minute

    @property
    def fallback_per_minute(self) -> float:
        """The rate of this process alone while Redis is unreachable."""
        return self._per_minute * self._fallback_share

    @property
    def degraded(self) -> bool:
        """Whether Redis is unreachable and the local fallback limit is in charge."""
        return self._degraded and self._pid == os.getpid()

    def __repr__(self) -> str:
        return (
            f"RedisRateLimiter({self._safe_url!r}, name={self._name!r}, "
            f"per_minute={self._per_minute:g})"
        )

    async def acquire(self, max_wait: float) -> float:
        """Book the next shared slot and wait for it; the seconds waited.

        :class:`~pulse_async.APITimeoutError` if the slot is more than
        ``max_wait`` seconds away (nothing is booked then). Every wait here —
        for one of the process's eight Redis calls in flight, for Redis's
        answer, for the slot — counts against ``max_wait``: if Redis has not
        answered when it runs out, the local fallback decides with the time
        left (a free local slot, or a refusal). While Redis is unreachable,
        the local fallback limit applies. A caller cancelled while it waits
        for its booked slot gives it back, unless a later caller has already
        booked after it (the bucket keeps no holes). Slots are booked ahead, in
        Redis, so that processes are served in the order they asked: a slot
        whose answer never reached its caller (cut off by ``max_wait``
        mid-call) stays spent.
        """
        if not self._use_redis():
            return await self._fallback.acquire(max_wait)
        start = self._clock()

        def arguments() -> list[int]:
            left = max_wait - (self._clock() - start)
            return [self._interval, self._burst, micros(left)]

        try:
            booked, wait_us, tat = await self._eval(RESERVE_SCRIPT, arguments, budget=max_wait)
        except _OutOfTime:
            return await self._fallback.acquire(max_wait - (self._clock() - start))
        except self._errors as exc:
            self._on_unreachable(exc)
            return await self._fallback.acquire(max_wait - (self._clock() - start))
        self._on_reachable()
        wait = wait_us / 1_000_000
        if not booked:
            raise APITimeoutError(
                f"the shared rate limiter's next slot is {wait:.1f}s away, past the call's deadline"
            )
        if wait > 0:
            try:
                await self._sleep(wait)
            except asyncio.CancelledError:
                self._give_back(tat)
                raise
            return wait
        return 0.0

    async def pause(self, seconds: float) -> None:
        """No process books a slot before ``seconds`` from now (the server asked us to wait).

        The pause ends a little late, at random (up to 10 %, at most 1 s), so that the
        processes it holds back do not all come back at one instant.
        """
        seconds = pause_jitter(seconds)
        self._fallback._hold(seconds)
        if not self._use_redis():
            return
        try:
            await self._eval(PAUSE_SCRIPT, lambda: [micros(seconds), self._interval, self._burst])
        except self._errors as exc:
            self._on_unreachable(exc)
            return
        self._on_reachable()

    async def aclose(self) -> None:
        """Close this process's Redis connections. Safe to call twice; the limiter stays usable."""
        client = self._redis
        if client is None or self._pid != os.getpid():
            return
        if self._releases:
            await asyncio.gather(*self._releases, return_exceptions=True)
        self._redis = None
        self._scripts = {}
        self._gate = None
        self._loop = None
        await client.aclose(close_connection_pool=True)

    # --- Redis ----------------------------------------------------------------------------

    def _use_redis(self) -> bool:
        """Bind to this process and loop; whether to ask Redis (not while it is down)."""
        if self._pid != os.getpid():
            # A forked child: the parent's connections are not ours to use or to close.
            if self._redis is not None:
                _INHERITED.append(self._redis)
            self._reset()
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None and not self._loop.is_closed():
                # A misuse, not an outage: in the error tree, and never retried.
                raise ClientMisuseError(
                    "this RedisRateLimiter is in use on another event loop, which is still "
                    "open; create one limiter per event loop"
                )
            if self._redis is not None:
                # Its connections belong to a closed loop: unusable, and closing them there
                # is no longer possible.
                _INHERITED.append(self._redis)
                self._redis = None
                self._scripts = {}
                self._releases = set()
            self._loop = loop
            self._gate = asyncio.Semaphore(_MAX_IN_FLIGHT)
        if not self._degraded:
            return True
        now = self._clock()
        if now < self._next_probe:
            return False
        # This caller probes; the others keep to the fallback until it has an answer.
        self._next_probe = now + self._probe_interval
        return True

    def _client(self) -> Redis:
        if self._redis is None:
            redis = self._redis_module
            self._redis = redis.asyncio.Redis.from_url(
                self._url,
                socket_timeout=self._socket_timeout,
                socket_connect_timeout=self._socket_timeout,
                # One immediate retry: after a Redis restart the first command on a pooled
                # connection fails, and the retry's fresh connection succeeds.
                retry=redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 1),
            )
        return self._redis

    def _script(self, text: str) -> AsyncScript:
        script = self._scripts.get(text)
        if script is None:
            script = self._scripts[text] = self._client().register_script(text)
        return script

    async def _eval(
        self, text: str, arguments: Callable[[], list[int]], *, budget: float = math.inf
    ) -> list[int]:
        """Run one of the scripts on this limiter's key: its reply, as integers.

        Bounded by ``budget`` (the caller's ``max_wait``, :class:`_OutOfTime` when it runs
        out) and, even when a socket timeout is not (DNS, a TLS handshake), by four socket
        timeouts (:class:`TimeoutError`: Redis is unreachable). The arguments are computed
        once a place among the calls in flight is free, with the time left then.
        """
        gate = self._gate
        assert gate is not None
        script = self._script(text)
        outage = self._socket_timeout * 4
        bound = min(max(budget, 0.0), outage)
        try:
            async with asyncio.timeout(bound), gate:
                reply = await script(keys=[self._key], args=arguments())
        except TimeoutError:
            if bound < outage:
                raise _OutOfTime from None
            raise
        return [int(value) for value in reply]

    def _give_back(self, tat: int) -> None:
        """Release a booked slot its caller did not take, in the background (best effort)."""
        if self._pid != os.getpid() or self._loop is None or self._loop.is_closed():
            return
        task = self._loop.create_task(self._release(tat))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release(self, tat: int) -> None:
        try:
            await self._eval(RELEASE_SCRIPT, lambda: [self._interval, tat])
        except self._errors as exc:
            log.debug("%r: could not give a slot back (%s)", self, self._describe(exc))

    # --- falling back and rejoining ---------------------------------------------------------

    def _on_unreachable(self, exc: BaseException) -> None:
        self._next_probe = self._clock() + self._probe_interval
        if self._degraded:
            log.debug("%r: Redis still unreachable (%s)", self, self._describe(exc))
            return
        self._degraded = True
        log.warning(
            "%r: Redis is unreachable (%s); this process now limits itself to "
            "%g requests/minute (fallback_share=%g) and retries Redis every %gs",
            self,
            self._describe(exc),
            self.fallback_per_minute,
            self._fallback_share,
            self._probe_interval,
        )

    def _on_reachable(self) -> None:
        if self._degraded:
            self._degraded = False
            log.info("%r: Redis is back; sharing the quota again", self)

    def _describe(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if self._password:
            text = text.replace(self._password, "***")
        return text


def _password_of(url: str) -> str | None:
    """The password in ``url`` (to scrub it from error messages), if any.

    Only called once redis-py has parsed ``url``, so it parses here too.
    """
    parts = urlsplit(url)
    password = parts.password
    if password is None:
        values = parse_qs(parts.query).get("password")
        password = values[0] if values else None
    return unquote(password) if password else None
