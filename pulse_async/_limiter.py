"""Client-side rate limiting: the interface and the in-process limiter.

A limiter is shared by every task of a client. :meth:`RateLimiter.acquire`
waits for the caller's turn (first come, first served) without blocking the
loop; :meth:`RateLimiter.pause` is called when the server says to wait (a 429
with ``Retry-After``, or ``X-RateLimit-Remaining: 0``), so that the whole
client — not each in-flight call on its own — holds back.

Another backend (one quota shared across processes, say) only has to provide
these three methods.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from pulse_async._core._ratelimit import GCRABucket, micros, pause_jitter, per_minute_from
from pulse_async.errors import APITimeoutError, ValidationError

__all__ = ["LocalRateLimiter", "RateLimiter", "make_limiter"]


@runtime_checkable
class RateLimiter(Protocol):
    """What a client needs from a rate limiter."""

    async def acquire(self, max_wait: float) -> float | None:
        """Wait for a slot and take it; :class:`APITimeoutError` if it is beyond ``max_wait``.

        Returns the seconds it made the caller wait (``0`` or ``None``: none), which
        ``client.stats.throttled`` counts. The contract every backend keeps: a refused
        caller books nothing; a caller cancelled while it waits keeps no slot (or gives
        it back); no wait here lasts longer than ``max_wait``, which may be
        ``math.inf`` (queue until served, first come, first served).
        """

    async def pause(self, seconds: float) -> None:
        """Hold every caller back for ``seconds`` from now (the server asked us to).

        The pause may end a little later, at random, never earlier, so that callers
        held back together do not all fire at one instant.
        """

    async def aclose(self) -> None:
        """Release what the limiter holds (connections, tasks)."""


class _Waiter:
    """A caller queued behind a slot that is not free yet."""

    __slots__ = ("deadline", "turn")

    def __init__(self, deadline: int) -> None:
        self.deadline = deadline
        #: Set when it is this caller's turn (``True``) or when a pause has pushed its
        #: slot past its deadline (``False``); ``None`` for the first in line, which sleeps.
        self.turn: asyncio.Future[bool] | None = None


class LocalRateLimiter:
    """A GCRA limiter for one process: ``per_minute`` requests, ``burst`` back to back.

    Example::

        limiter = LocalRateLimiter(1000)          # the Pro plan
        AsyncPulse(rate_limit=limiter)            # same as rate_limit="pro"

    A slot is booked only by the caller that takes it, at the moment it goes.
    When no slot is free, callers queue, first come, first served: the first in
    line sleeps until the next slot, takes it and hands the turn to the next
    one. A caller that gives up — refused, cancelled, timed out — books nothing,
    so nobody's slot is lost to it. ``clock`` and ``sleep`` are injectable (tests
    drive the limiter in virtual time).

    One limiter serves the tasks of one event loop at a time (its queue holds that
    loop's futures), like the client it limits; a forked child starts with an empty
    queue and the parent's booked slots.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._bucket = GCRABucket(per_minute, burst=burst)
        self._clock = clock
        self._sleep = sleep
        #: Callers waiting for a slot, in arrival order (an ordered set: O(1) removal).
        self._queue: OrderedDict[_Waiter, None] = OrderedDict()
        self._pid = os.getpid()

    @property
    def per_minute(self) -> float:
        """The rate this limiter allows."""
        return self._bucket.per_minute

    @property
    def waiting(self) -> int:
        """Callers queued for a slot right now."""
        return len(self._queue)

    def __repr__(self) -> str:
        return f"LocalRateLimiter(per_minute={self._bucket.per_minute:g})"

    async def acquire(self, max_wait: float) -> float:
        """Wait for a slot and take it; the seconds waited.

        If the slot this caller would get is more than ``max_wait`` seconds away
        (behind everyone queued before it, and any pause), it raises
        :class:`~pulse_async.APITimeoutError` at once and books nothing. A pause
        that pushes a queued caller's slot past its ``max_wait`` refuses it the
        same way. ``max_wait`` may be ``math.inf``: queue until served. A caller
        cancelled while it waits leaves the queue and keeps no slot.
        """
        bucket = self._bucket
        now = round(self._clock() * 1_000_000)
        if not self._queue or self._forked():
            # The uncontended path: one comparison and an addition, no lock, no task.
            wait = bucket.reserve_us(now, 0)
            if wait == 0:
                return 0.0
        else:
            wait = self._first_free(now) + len(self._queue) * bucket.interval_us - now
        limit = micros(max_wait)
        if wait > limit:
            raise _refusal(wait)
        waiter = _Waiter(now + limit)
        queue = self._queue
        queue[waiter] = None
        try:
            if len(queue) > 1:
                waiter.turn = asyncio.get_running_loop().create_future()
                if not await waiter.turn:
                    raise _refusal(self._next_wait(len(queue)))
                waiter.turn = None
            slept = await self._take_turn(waiter)
            # Measured on the clock; by the sleeps when the clock does not move (a test's).
            return max(slept, round(self._clock() * 1_000_000) - now) / 1_000_000
        finally:
            self._leave(waiter)

    def _forked(self) -> bool:
        """In a forked child, forget the parent's queued callers (their tasks are not here)."""
        if self._pid == os.getpid():
            return False
        self._pid = os.getpid()
        self._queue.clear()
        return True

    async def _take_turn(self, waiter: _Waiter) -> int:
        """First in line: sleep until the next slot, then book it; the µs slept."""
        bucket, clock = self._bucket, self._clock
        waited = 0
        credit = 0  # of the last sleep, what the clock does not show yet (a lagging clock)
        due = 1 << 62  # when the slot slept for was due: a late wake-up still takes that slot
        while True:
            now = min(round(clock() * 1_000_000), due)
            wait = bucket.reserve_us(now, credit)
            if wait <= credit:
                return waited
            if now + wait > waiter.deadline:  # a pause came in meanwhile
                raise _refusal(wait)
            before = now
            await self._sleep(wait / 1_000_000)
            waited += wait
            credit = max(0, wait - (round(clock() * 1_000_000) - before))
            due = before + wait

    def _leave(self, waiter: _Waiter) -> None:
        """Out of the queue (served, refused or cancelled); hand the turn on if it was ours."""
        queue = self._queue
        first = next(iter(queue), None)
        queue.pop(waiter, None)
        if first is waiter and queue:
            turn = next(iter(queue)).turn
            if turn is not None and not turn.done():
                turn.set_result(True)

    def _first_free(self, now: int) -> int:
        """When the first in line gets its slot (µs, on the clock's scale)."""
        tat = self._bucket.tat_us
        return now if tat is None else max(now, tat - self._bucket.tolerance_us)

    def _next_wait(self, position: int) -> int:
        now = round(self._clock() * 1_000_000)
        return self._first_free(now) + position * self._bucket.interval_us - now

    async def pause(self, seconds: float) -> None:
        """No slot before ``seconds`` from now (give or take a little jitter, never less).

        Queued callers whose slot the pause pushes past their ``max_wait`` are
        refused now rather than at their deadline.
        """
        self._hold(pause_jitter(seconds))

    def _hold(self, seconds: float) -> None:
        """:meth:`pause` without the jitter (for a caller that has added it already)."""
        bucket = self._bucket
        now = round(self._clock() * 1_000_000)
        bucket.pause_us(now, micros(seconds))
        first = self._first_free(now)
        position = 0
        for waiter in list(self._queue):
            turn = waiter.turn
            if (
                position > 0
                and turn is not None
                and not turn.done()
                and first + position * bucket.interval_us > waiter.deadline
            ):
                self._queue.pop(waiter)
                turn.set_result(False)
                continue
            position += 1

    async def aclose(self) -> None:
        """Nothing to release."""


def _refusal(wait_us: int) -> APITimeoutError:
    return APITimeoutError(
        f"the rate limiter's next slot is {wait_us / 1_000_000:.1f}s away, past the call's deadline"
    )


def make_limiter(
    rate_limit: RateLimiter | str | float | None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> RateLimiter | None:
    """A limiter from what ``rate_limit=`` accepts: a plan name, a number per minute, an
    object, or ``None`` (off)."""
    if rate_limit is None:
        return None
    if isinstance(rate_limit, RateLimiter):
        return rate_limit
    try:
        per_minute = per_minute_from(rate_limit)
    except ValueError as exc:
        raise ValidationError(str(exc), field="rate_limit") from None
    return LocalRateLimiter(per_minute, clock=clock, sleep=sleep)
