"""The server clock: real time by default, frozen and stepped on demand.

Everything time-dependent in the local server (message lifecycle, ``send_at``,
invitation expiry, rate-limit buckets, the 24-hour idempotency window) reads
this clock, never the wall clock directly, so a test can freeze time and step
it with :meth:`Clock.advance` instead of sleeping.

The clock only moves forward: it is built on :func:`time.monotonic` (not the
wall clock, which may jump back), anchored to the wall time at creation, plus
whatever :meth:`advance` added.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["Clock"]


class Clock:
    """A monotonic clock in epoch seconds that a test can freeze and step.

    ``Clock()`` follows real time; ``Clock(frozen=True)`` stands still until
    :meth:`advance` moves it. ``start`` (an aware ``datetime``) sets the
    clock's initial reading, for tests that want fixed timestamps::

        clock = Clock(frozen=True, start=datetime(2024, 11, 14, 9, tzinfo=UTC))
        async with PulseServer(clock=clock) as server:
            ...
            server.advance(5)   # every queued message moves on 5 seconds
    """

    __slots__ = ("_anchor", "_frozen_at", "_mono0", "_offset")

    def __init__(self, *, frozen: bool = False, start: datetime | None = None) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("start must be an aware datetime")
        self._anchor = start.timestamp() if start is not None else time.time()
        self._mono0 = time.monotonic()
        self._offset = 0.0
        self._frozen_at: float | None = self._anchor if frozen else None

    @property
    def frozen(self) -> bool:
        """Whether the clock stands still between calls to :meth:`advance`."""
        return self._frozen_at is not None

    def time(self) -> float:
        """The current reading, in seconds since the epoch."""
        if self._frozen_at is not None:
            return self._frozen_at
        return self._anchor + (time.monotonic() - self._mono0) + self._offset

    def now(self) -> datetime:
        """The current reading as an aware UTC ``datetime``."""
        return datetime.fromtimestamp(self.time(), UTC)

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (frozen or not); returns the new reading."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise ValueError(f"seconds must be a number >= 0, got {seconds!r}")
        if self._frozen_at is not None:
            self._frozen_at += seconds
        else:
            self._offset += seconds
        return self.time()

    def freeze(self) -> None:
        """Stop the clock at its current reading."""
        if self._frozen_at is None:
            self._frozen_at = self.time()

    def resume(self) -> None:
        """Let the clock follow real time again, from its current reading (never backwards)."""
        if self._frozen_at is not None:
            reading = self._frozen_at
            self._frozen_at = None
            self._offset = 0.0
            self._offset = reading - self.time()

    def __repr__(self) -> str:
        mode = "frozen" if self.frozen else "running"
        return f"<Clock {mode} at {self.now().isoformat()}>"
