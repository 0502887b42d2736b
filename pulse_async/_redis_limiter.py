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
import os
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from pulse_async._core._ratelimit import GCRABucket, per_minute_from
from pulse_async._core._redis_gcra import (
    KEY_PREFIX,
    PAUSE_SCRIPT,
    RESERVE_SCRIPT,
    bucket_key,
    interval_micros,
    micros,
    redact_url,
)
from pulse_async._limiter import LocalRateLimiter
from pulse_async.errors import APITimeoutError, ValidationError

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
#: Redis calls one process has in flight at once (the rest queue, in order).
_MAX_IN_FLIGHT = 8

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
        self._interval = interval_micros(bucket.interval)
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
        self._reserve: AsyncScript | None = None
        self._pause: AsyncScript | None = None
        self._gate: asyncio.Semaphore | None = None
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
        ``max_wait`` seconds away (nothing is booked then). While Redis is
        unreachable, the local fallback limit applies instead.
        """
        if not self._use_redis():
            return await self._fallback.acquire(max_wait)
        try:
            booked, wait_us = await self._eval(
                self._reserve_script(), [self._interval, self._burst, micros(max_wait)]
            )
        except self._errors as exc:
            self._on_unreachable(exc)
            return await self._fallback.acquire(max_wait)
        self._on_reachable()
        wait = wait_us / 1_000_000
        if not booked:
            raise APITimeoutError(
                f"the shared rate limiter's next slot is {wait:.1f}s away, past the call's deadline"
            )
        if wait > 0:
            await self._sleep(wait)
            return wait
        return 0.0

    async def pause(self, seconds: float) -> None:
        """No process books a slot before ``seconds`` from now (the server asked us to wait)."""
        await self._fallback.pause(seconds)
        if not self._use_redis():
            return
        try:
            await self._eval(self._pause_script(), [micros(seconds), self._interval, self._burst])
        except self._errors as exc:
            self._on_unreachable(exc)
            return
        self._on_reachable()

    async def aclose(self) -> None:
        """Close this process's Redis connections. Safe to call twice; the limiter stays usable."""
        client = self._redis
        if client is None or self._pid != os.getpid():
            return
        self._redis = self._reserve = self._pause = None
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
                raise RuntimeError(
                    "this RedisRateLimiter is in use on another event loop; "
                    "create one limiter per event loop"
                )
            if self._redis is not None:
                # Its connections belong to a closed loop: unusable, and closing them there
                # is no longer possible.
                _INHERITED.append(self._redis)
                self._redis = self._reserve = self._pause = None
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

    def _reserve_script(self) -> AsyncScript:
        if self._reserve is None:
            self._reserve = self._client().register_script(RESERVE_SCRIPT)
        return self._reserve

    def _pause_script(self) -> AsyncScript:
        if self._pause is None:
            self._pause = self._client().register_script(PAUSE_SCRIPT)
        return self._pause

    async def _eval(self, script: AsyncScript, args: list[int]) -> tuple[int, int]:
        """Run one of the scripts on this limiter's key: its reply as two integers."""
        gate = self._gate
        assert gate is not None
        async with gate:
            # Bounded even if a socket timeout is not (DNS, a TLS handshake): never hang.
            async with asyncio.timeout(self._socket_timeout * 4):
                reply = await script(keys=[self._key], args=args)
        if isinstance(reply, list):
            return int(reply[0]), int(reply[1])
        return int(reply), 0

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
