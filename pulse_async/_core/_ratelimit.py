"""Rate-limit arithmetic: a GCRA bucket (generic cell rate algorithm).

The bucket keeps one number, the theoretical arrival time (``tat``) of the
next request. :meth:`GCRABucket.reserve` books the next free slot at once and
says how long the caller must wait for it, so callers are served strictly in
the order they asked (first come, first served) without a lock or a queue,
and a caller whose slot is now pays nothing but an addition.

``burst`` requests may go back to back; after that they are spaced
``60 / per_minute`` seconds apart. :meth:`GCRABucket.pause` pushes every
future slot past a time the server named (``Retry-After``, or an exhausted
``X-RateLimit-Remaining`` with its ``Reset``).
"""

from __future__ import annotations

import math

__all__ = ["PLANS", "GCRABucket", "per_minute_from"]

#: Requests per minute of each plan (SPEC §1).
PLANS: dict[str, int] = {"free": 60, "pro": 1000}

#: Booked slots run this much slower than the plan, so that clock drift between us and the
#: server never tips a window over its limit.
SAFETY = 0.98


def per_minute_from(value: str | float) -> float:
    """Requests per minute from a plan name or a number; ``ValueError`` otherwise."""
    if isinstance(value, str):
        try:
            return float(PLANS[value.lower()])
        except KeyError:
            raise ValueError(
                f"unknown plan {value!r}; use one of {', '.join(PLANS)} or a number"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a plan name, a number of requests per minute, or None")
    if not math.isfinite(value) or value <= 0:
        raise ValueError("requests per minute must be a positive number")
    return float(value)


class GCRABucket:
    """Book request slots at ``per_minute`` with ``burst`` back to back."""

    __slots__ = ("_tat", "burst", "interval", "per_minute")

    def __init__(self, per_minute: float, *, burst: int = 1, safety: float = SAFETY) -> None:
        # ``not > 0`` and isfinite also refuse NaN, which would silently disable the limit.
        if not per_minute > 0 or not math.isfinite(per_minute) or burst < 1:
            raise ValueError("per_minute must be a finite number > 0 and burst >= 1")
        self.per_minute = per_minute
        self.burst = burst
        self.interval = 60.0 / (per_minute * safety)
        self._tat = -math.inf

    def reserve(self, now: float) -> float:
        """Book the next slot; return how many seconds from ``now`` until it (0: go)."""
        tat = self._tat if self._tat > now else now
        self._tat = tat + self.interval
        wait = tat - now - (self.burst - 1) * self.interval
        return wait if wait > 0 else 0.0

    def pause(self, until: float) -> None:
        """Book nothing before ``until`` (a time on the same clock as ``now``)."""
        floor = until + (self.burst - 1) * self.interval
        if floor > self._tat:
            self._tat = floor
