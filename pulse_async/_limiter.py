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
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from pulse_async._core._ratelimit import GCRABucket, per_minute_from
from pulse_async.errors import APITimeoutError, ValidationError

__all__ = ["LocalRateLimiter", "RateLimiter", "make_limiter"]


@runtime_checkable
class RateLimiter(Protocol):
    """What a client needs from a rate limiter."""

    async def acquire(self, max_wait: float) -> float | None:
        """Wait for the next slot; :class:`APITimeoutError` if it is beyond ``max_wait``.

        Returns the seconds it made the caller wait (``0`` or ``None``: none), which
        ``client.stats.throttled`` counts.
        """

    async def pause(self, seconds: float) -> None:
        """Hold every caller back for ``seconds`` from now (the server asked us to)."""

    async def aclose(self) -> None:
        """Release what the limiter holds (connections, tasks)."""


class LocalRateLimiter:
    """A GCRA limiter for one process: ``per_minute`` requests, ``burst`` back to back.

    Example::

        limiter = LocalRateLimiter(1000)          # the Pro plan
        AsyncPulse(rate_limit=limiter)            # same as rate_limit="pro"
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

    @property
    def per_minute(self) -> float:
        """The rate this limiter allows."""
        return self._bucket.per_minute

    def __repr__(self) -> str:
        return f"LocalRateLimiter(per_minute={self._bucket.per_minute:g})"

    async def acquire(self, max_wait: float) -> float:
        """Book the next slot and wait for it; the seconds waited."""
        wait = self._bucket.reserve(self._clock())
        if wait <= 0:
            return 0.0
        if wait > max_wait:
            raise APITimeoutError(
                f"the rate limiter's next slot is {wait:.1f}s away, past the call's deadline"
            )
        await self._sleep(wait)
        return wait

    async def pause(self, seconds: float) -> None:
        """No slot before ``seconds`` from now."""
        self._bucket.pause(self._clock() + seconds)

    async def aclose(self) -> None:
        """Nothing to release."""


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
