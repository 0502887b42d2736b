"""The local server's rate limit: plans and the per-key bucket (SPEC §1 rate limits)."""

from __future__ import annotations

import math

from pulse_async._core._ratelimit import PLANS

__all__ = ["RateBucket", "RateLimit", "resolve_rate_limit"]

#: ``None`` is unlimited; a plan name or a positive number of requests per minute.
RateLimit = str | int | None


def resolve_rate_limit(value: RateLimit) -> int | None:
    """A plan name, requests per minute or ``None``/``"unlimited"`` → per-minute limit or None."""
    if value is None or value == "unlimited":
        return None
    if isinstance(value, str):
        if value in PLANS:
            return PLANS[value]
        raise ValueError(f"unknown plan {value!r}; use free, pro, unlimited or a number")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"rate_limit must be a plan name, a positive integer or None: {value!r}")
    return value


class RateBucket:
    """A token bucket per key: holds ``limit`` tokens, refills ``limit`` per minute.

    Chosen over a fixed window because it never lets a burst of twice the limit
    through at a window edge, and because ``Retry-After`` is then the time until
    *one* request fits (one second at 6,000/min) rather than the rest of a
    minute. A client that spaces requests at the plan's rate, or bursts at most
    ``limit`` at once, is never refused. ``X-RateLimit-Reset`` is the seconds
    until the bucket is full again. With a frozen clock the bucket only refills
    when the clock is advanced.
    """

    __slots__ = ("limit", "rate", "tokens", "updated")

    def __init__(self, limit: int, now: float) -> None:
        self.limit = limit
        self.rate = limit / 60.0
        self.tokens = float(limit)
        self.updated = now

    def take(self, now: float) -> tuple[bool, dict[str, str]]:
        """Spend one token if there is one; returns (allowed, headers to send)."""
        elapsed = now - self.updated
        if elapsed > 0:
            self.tokens = min(float(self.limit), self.tokens + elapsed * self.rate)
            self.updated = now
        allowed = self.tokens >= 1.0
        if allowed:
            self.tokens -= 1.0
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(int(self.tokens)),
            "X-RateLimit-Reset": str(math.ceil((self.limit - self.tokens) / self.rate - 1e-9)),
        }
        if not allowed:
            headers["Retry-After"] = str(max(1, math.ceil((1.0 - self.tokens) / self.rate - 1e-9)))
        return allowed, headers
