"""Rate-limit arithmetic: the plan table and one GCRA bucket (generic cell rate algorithm).

The bucket keeps one number, the theoretical arrival time (``tat``) of the
next request, in whole microseconds. ``burst`` requests may go back to back;
after that they are spaced ``interval`` apart (``60 / per_minute``, slowed by
:data:`SAFETY`). Three operations, and nothing else touches ``tat``:

- :meth:`GCRABucket.reserve_us` — the next slot is ``wait`` away. If
  ``wait <= max_wait`` it is booked (``tat`` moves one interval on);
  otherwise **nothing is booked**, and the caller learns how far it was.
- :meth:`GCRABucket.pause_us` — book nothing before a time the server named
  (``Retry-After``); an earlier pause never pulls slots forward.
- :meth:`GCRABucket.release_us` — give back a booked slot that was not used,
  when nobody has booked after it (then the state is as if it was never booked).
  The in-process limiter never needs it (it books only when a caller goes); the
  Redis limiter books ahead, across processes, and gives back what a cancelled
  caller leaves.

:mod:`pulse_async._core._redis_gcra` holds the same three operations as Lua
for Redis, line for line; ``tests/redis/test_gcra_contract.py`` runs one test
suite against both. Integer microseconds keep the two bit-for-bit equal (a
Unix time in µs is well inside a double's exact integers).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from types import MappingProxyType

__all__ = [
    "MAX_WAIT_MICROS",
    "PLANS",
    "SAFETY",
    "GCRABucket",
    "interval_micros",
    "micros",
    "pause_jitter",
    "per_minute_from",
]

_PLAN_RATES = {"free": 60, "pro": 1000}
#: Requests per minute of each plan (SPEC §1, "Rate limits"), read-only. The one home of
#: these numbers: the clients, the CLI and the local test server all read them from here
#: (public as :data:`pulse_async.constants.PLANS`).
PLANS: Mapping[str, int] = MappingProxyType(_PLAN_RATES)

#: Booked slots run this much slower than the plan, so that clock drift between us and the
#: server never tips a window over its limit.
SAFETY = 0.98

#: A bound on any wait (about 11.6 days): keeps every number an exact integer in a double.
MAX_WAIT_MICROS = 10**12

#: A pause ends up to this share of its length later, at random (at most :data:`MAX_JITTER`
#: seconds), so that processes told to wait together do not all come back at one instant.
PAUSE_JITTER = 0.1
MAX_JITTER = 1.0

_NEVER = -(1 << 62)


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


def micros(seconds: float) -> int:
    """Seconds as whole microseconds, clamped to ``[0, MAX_WAIT_MICROS]`` (``inf`` included)."""
    if not seconds > 0:  # also NaN
        return 0
    if seconds >= MAX_WAIT_MICROS / 1_000_000:
        return MAX_WAIT_MICROS
    return round(seconds * 1_000_000)


def interval_micros(interval: float) -> int:
    """A slot's length (seconds) in whole microseconds, at least 1."""
    return max(1, round(interval * 1_000_000))


def pause_jitter(seconds: float, draw: Callable[[], float] = random.random) -> float:
    """``seconds`` plus a little at random: where a pause of ``seconds`` really ends.

    Up to :data:`PAUSE_JITTER` of the pause, at most :data:`MAX_JITTER` seconds, so
    that the processes (and clients) a server paused together come back spread out.
    Never shorter than what the server asked for.
    """
    if not seconds > 0:
        return 0.0
    return seconds + min(seconds * PAUSE_JITTER, MAX_JITTER) * draw()


class GCRABucket:
    """Book request slots at ``per_minute`` with ``burst`` back to back.

    The ``*_us`` methods are the algorithm (integer microseconds, the same as the
    Lua scripts); :meth:`reserve` and :meth:`pause` take seconds, for callers and
    tests that think in seconds.
    """

    __slots__ = ("_tat", "burst", "interval_us", "per_minute", "tolerance_us")

    def __init__(self, per_minute: float, *, burst: int = 1, safety: float = SAFETY) -> None:
        # ``not > 0`` and isfinite also refuse NaN, which would silently disable the limit.
        if not per_minute > 0 or not math.isfinite(per_minute) or burst < 1:
            raise ValueError("per_minute must be a finite number > 0 and burst >= 1")
        self.per_minute = per_minute
        self.burst = burst
        self.interval_us = interval_micros(60.0 / (per_minute * safety))
        self.tolerance_us = (burst - 1) * self.interval_us
        self._tat = _NEVER

    @property
    def interval(self) -> float:
        """Seconds between two slots once the burst is spent."""
        return self.interval_us / 1_000_000

    @property
    def tat_us(self) -> int | None:
        """The state: the theoretical arrival time (µs), ``None`` before the first booking."""
        return None if self._tat == _NEVER else self._tat

    # --- the algorithm (µs) ------------------------------------------------------------------

    def reserve_us(self, now: int, max_wait: int) -> int:
        """The next slot's distance from ``now``; booked only if it is ``<= max_wait``."""
        tat = self._tat
        if tat < now:
            tat = now
        wait = tat - now - self.tolerance_us
        if wait < 0:
            wait = 0
        if wait > max_wait:
            return wait
        self._tat = tat + self.interval_us  # always > now: no need for _store
        return wait

    def pause_us(self, now: int, seconds: int) -> bool:
        """Book nothing before ``now + seconds``; whether the bucket was pushed back."""
        floor = now + seconds + self.tolerance_us
        if self._tat < floor:
            self._store(floor, now)
            return True
        return False

    def release_us(self, now: int, booked_tat: int) -> bool:
        """Give back the slot whose booking left ``tat`` at ``booked_tat``, if it is the last.

        A slot with later bookings after it stays spent (GCRA keeps no holes), and so
        does one whose time has come.
        """
        if self._tat == booked_tat and booked_tat > now:
            self._store(booked_tat - self.interval_us, now)
            return True
        return False

    def _store(self, tat: int, now: int) -> None:
        # A TAT that is not ahead of ``now`` is the same as none (the Lua deletes the key).
        self._tat = tat if tat > now else _NEVER

    # --- in seconds --------------------------------------------------------------------------

    def reserve(self, now: float, max_wait: float = math.inf) -> float:
        """Seconds from ``now`` to the next slot; booked only if it is ``<= max_wait``."""
        return self.reserve_us(round(now * 1_000_000), micros(max_wait)) / 1_000_000

    def pause(self, until: float, *, now: float | None = None) -> None:
        """Book nothing before ``until`` (a time on the same clock as ``now``)."""
        until_us = round(until * 1_000_000)
        now_us = until_us - 1 if now is None else round(now * 1_000_000)
        self.pause_us(now_us, max(0, until_us - now_us))
