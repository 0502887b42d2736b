"""``RedisRateLimiter``: one quota shared by every process and host, kept in Redis.

A workspace's plan (Pro: 1,000 requests a minute) is one budget, however many
worker processes spend it. Each process gives its client a
:class:`RedisRateLimiter` with the same Redis and ``name``; they then book
slots in one GCRA bucket that Redis keeps and updates atomically (a Lua
script, :mod:`pulse_async._core._redis_gcra`), on Redis's clock, first come,
first served. Within a process, callers queue (the queue of
:class:`~pulse_async.LocalRateLimiter`) and only the first in line books a
slot in Redis, for itself: a slot booked for a caller that then gives up passes
to the next caller in line, so callers who give up cost the quota nothing. A
429's ``Retry-After`` is shared the same way: the process that is told to wait
pushes the shared bucket back, and every process waits.

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
from typing import TYPE_CHECKING, Any, cast
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
from pulse_async._limiter import LocalRateLimiter, _Queue, _Waiter
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
        #: This process's callers, in arrival order: only the first in line asks Redis.
        self._queue = _Queue()
        #: The one Redis booking in flight (a task of the limiter's, not of a caller: a
        #: caller that leaves while it runs does not cut it off).
        self._asking: asyncio.Task[BaseException | None] | None = None
        #: A slot booked in Redis that no caller has taken yet: (when to go, on this
        #: process's clock, in seconds; the ``tat`` that gives it back).
        self._held: tuple[float, int] | None = None
        #: Where the shared bucket's next free slot was last seen (this process's clock).
        self._next_free = -math.inf
        #: The end of the last pause this process was told of (this process's clock).
        self._paused_until = -math.inf
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
        """Wait for the next shared slot and take it; the seconds waited.

        This process's callers queue here, first come, first served, and only the
        first in line asks Redis for a slot: it books the next shared slot if it is
        at most its ``max_wait`` away (else :class:`~pulse_async.APITimeoutError`,
        nothing booked), sleeps until then, and goes. A caller that gives up —
        refused, cancelled, out of time — takes no slot with it: a slot booked for
        the first in line who then leaves passes to the next one in line (or, if
        nobody is queued, is given back to Redis), and so does a booking whose reply
        arrives after its caller has left. Every wait here — in the queue, for
        Redis's answer, for the slot — counts against ``max_wait``; a caller whose
        ``max_wait`` runs out before Redis answers is refused (a slow Redis is not a
        dead one, and a local slot would go beyond the shared quota). While Redis is
        unreachable (an error, or no answer within four ``socket_timeout``), the local
        fallback limit applies.
        """
        if not self._use_redis():
            return await self._fallback.acquire(max_wait)
        clock = self._clock
        start = clock()
        deadline = start + max_wait
        queue = self._queue
        if queue:
            # Behind the callers queued here, each one slot after the other (if all go).
            wait = max(self._next_free, start) + len(queue) * self._interval / 1e6 - start
            if wait > max_wait:
                raise _refusal(wait)
        waiter = _Waiter(0)
        try:
            queued = not queue.join(waiter)
            if queued:
                turn = waiter.turn
                assert turn is not None
                try:
                    async with _within(deadline - clock()):
                        await turn
                except TimeoutError:
                    raise APITimeoutError(
                        "the shared rate limiter had no slot for this caller within its "
                        "max_wait (queued behind this process's earlier callers)"
                    ) from None
                waiter.turn = None
                if self._degraded and clock() < self._next_probe:
                    return await self._fallback.acquire(deadline - clock())
            return await self._go(start, deadline, queued=queued)
        finally:
            queue.leave(waiter)
            if not queue:
                self._give_back_held()

    async def _go(self, start: float, deadline: float, *, queued: bool) -> float:
        """First in line: get a booked slot (handed down, or from Redis), sleep until it, go."""
        clock = self._clock
        slept = 0.0
        while True:
            held = self._held
            if held is not None and (
                held[0] < clock() - self._interval / 1e6 or held[0] < self._paused_until
            ):
                # Spent: handed down too late to go on time (it would bunch up with the
                # next one), or voided by a pause that came in after it was booked.
                self._held = held = None
            if held is None:
                mine, failure = await self._book(deadline)
                if failure is not None:
                    return await self._fallback.acquire(deadline - clock())
                held = self._held
                if held is None:
                    if not mine:
                        continue  # refused for an earlier caller's max_wait: ask with ours
                    # Refused: the next free slot is past this caller's deadline.
                    raise _refusal(self._next_free - clock())
            go_at = held[0]
            if go_at > deadline:
                raise _refusal(go_at - clock())  # a slot handed down, too late for this one
            wait = go_at - clock()
            if wait > 0:
                await self._sleep(wait)  # cancelled: the slot stays held, for the next one
                slept += wait
                if go_at < self._paused_until:
                    continue  # a pause came in meanwhile: the slot is void, book again
            self._held = None
            return max(slept, clock() - start) if slept > 0 or queued else 0.0

    async def _book(self, deadline: float) -> tuple[bool, BaseException | None]:
        """Wait for the booking in flight (start one if none, for ``deadline``).

        Whether this caller started it, and Redis's error if it failed. A booked slot
        lands in ``_held``. Out of time first: :class:`APITimeoutError`, and the booking
        goes on without this caller.
        """
        task = self._asking
        mine = task is None
        if task is None:
            task = self._asking = asyncio.get_running_loop().create_task(self._ask(deadline))
        try:
            async with _within(deadline - self._clock()):
                return mine, await asyncio.shield(task)
        except TimeoutError:
            raise APITimeoutError(
                "the shared rate limiter: Redis did not answer within the call's max_wait"
            ) from None

    async def _ask(self, deadline: float) -> BaseException | None:
        """Book the next shared slot if it is due by ``deadline`` (the limiter's task)."""
        clock = self._clock
        try:
            booked, wait_us, tat = await self._eval(
                RESERVE_SCRIPT,
                lambda: [self._interval, self._burst, micros(deadline - clock())],
            )
        except self._errors as exc:
            self._on_unreachable(exc)
            return exc
        finally:
            self._asking = None
        self._on_reachable()
        now = clock()
        # Measured from the reply (a little late, never early).
        go_at = now + wait_us / 1_000_000
        if booked:
            self._held = (go_at, tat)
            self._next_free = go_at + self._interval / 1_000_000
            if not self._queue:  # its caller left meanwhile, and nobody else is here
                self._give_back_held()
        else:
            self._next_free = go_at
        return None

    def _give_back_held(self) -> None:
        """Nobody is queued to take the held slot: give it back to Redis."""
        held, self._held = self._held, None
        if held is not None:
            self._give_back(held[1])

    async def pause(self, seconds: float) -> None:
        """No process books a slot before ``seconds`` from now (the server asked us to wait).

        The pause ends a little late, at random (up to 10 %, at most 1 s), so that the
        processes it holds back do not all come back at one instant.
        """
        seconds = pause_jitter(seconds)
        self._fallback._hold(seconds)
        self._paused_until = max(self._paused_until, self._clock() + seconds)
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
        asking = self._asking
        if asking is not None:  # no caller waits for it any more (a booking cut off stays spent)
            asking.cancel()
            await asyncio.gather(asking, return_exceptions=True)
        if not self._queue:
            self._give_back_held()
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
            # The old loop's callers and booking are gone with it.
            self._queue = _Queue()
            self._asking = None
            self._held = None
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
            self._redis = _connect(self._redis_module, self._url, self._socket_timeout)
        return self._redis

    def _script(self, text: str) -> AsyncScript:
        script = self._scripts.get(text)
        if script is None:
            script = self._scripts[text] = self._client().register_script(text)
        return script

    async def _eval(self, text: str, arguments: Callable[[], list[int]]) -> list[int]:
        """Run one of the scripts on this limiter's key: its reply, as integers.

        Bounded, even when a socket timeout is not (DNS, a TLS handshake), by four socket
        timeouts (:class:`TimeoutError`: Redis is unreachable). The arguments are computed
        once a place among the calls in flight is free, with the time left then.
        """
        gate = self._gate
        assert gate is not None
        script = self._script(text)
        async with asyncio.timeout(self._socket_timeout * 4), gate:
            reply = await script(keys=[self._key], args=arguments())
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
        return _describe(exc, self._password)


def _connect(module: Any, url: str, socket_timeout: float) -> Redis:
    """A redis-py client for ``url`` as the limiter and the webhook store use it."""
    return cast(
        "Redis",
        module.asyncio.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            # One immediate retry: after a Redis restart the first command on a pooled
            # connection fails, and the retry's fresh connection succeeds.
            retry=module.asyncio.retry.Retry(module.backoff.NoBackoff(), 1),
        ),
    )


def _describe(exc: BaseException, password: str | None) -> str:
    """A Redis error for a log line, the URL's password scrubbed out."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if password:
        text = text.replace(password, "***")
    return text


def _within(seconds: float) -> asyncio.Timeout:
    """``asyncio.timeout`` for what is left of a wait (none at all for ``math.inf``)."""
    return asyncio.timeout(None if seconds == math.inf else max(seconds, 0.0))


def _refusal(wait: float) -> APITimeoutError:
    return APITimeoutError(
        f"the shared rate limiter's next slot is {max(wait, 0.0):.1f}s away, "
        "past the call's deadline"
    )


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
