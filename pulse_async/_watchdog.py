"""One timer for the total deadlines of every attempt in flight.

aiohttp bounds a request's total time with a timer of its own: a ``TimerHandle``
made, pushed on the loop's heap, cancelled when the answer is in and popped
later, plus a context object entered around every read. On a fan-out that is
several microseconds a call, for a timer that almost never fires. Here an
attempt only writes its deadline into a dict on the way in and deletes it on
the way out. One loop timer, armed for the earliest deadline it has been told
of, is left to fire when it will (with calls shorter than their deadlines, it
fires about once per deadline period and finds nothing due). When it fires
it cancels the tasks whose attempts are due, as :func:`asyncio.timeout` does,
and re-arms for the earliest of the rest.

The task's cancellation is delivered where the attempt is suspended, inside
its scope (an entry is removed in the same step that leaves the scope), where
:class:`Deadline` turns it into :class:`TimeoutError` if it was this deadline's,
or lets it go on if someone else cancelled the task, setting the task's cancel
count back as :func:`asyncio.timeout` does.
"""

from __future__ import annotations

import asyncio
import math
from types import TracebackType
from typing import Any

__all__ = ["NO_DEADLINE", "Deadline", "Watchdog"]


class Deadline:
    """One attempt's deadline: a context manager, like :func:`asyncio.timeout` without its timer.

    Made by :meth:`Watchdog.watch`. On the way out it leaves the watchdog; if the
    watchdog cancelled the task it takes that cancel request back and raises
    :class:`TimeoutError` in place of the ``CancelledError`` (unless someone else
    cancelled the task too: then the ``CancelledError`` goes on).
    """

    __slots__ = ("cancelling", "expired", "task", "watchdog", "when")

    def __init__(self, watchdog: Watchdog, task: asyncio.Task[Any], when: float) -> None:
        self.watchdog = watchdog
        self.task = task
        #: Loop time by which the attempt must be over.
        self.when = when
        #: The task's cancel count on the way in: a higher one on the way out is not ours.
        self.cancelling = task.cancelling()
        #: The watchdog found it due and cancelled the task.
        self.expired = False

    def __enter__(self) -> Deadline:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.watchdog._live.pop(self, None)
        if self.expired:
            self.expired = False
            # Taken back even if the attempt finished anyway (something inside swallowed
            # the cancellation): the task's cancel count stays the caller's own.
            if self.task.uncancel() <= self.cancelling and exc_type is asyncio.CancelledError:
                raise TimeoutError


class _NoDeadline:
    """What :meth:`Watchdog.watch` gives for no deadline at all: a context that does nothing."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None


NO_DEADLINE = _NoDeadline()


class Watchdog:
    """The total deadlines of one loop's attempts, on one lazily re-armed loop timer."""

    __slots__ = ("_armed", "_handle", "_live", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        #: Deadlines in flight (a dict for O(1) removal; the values are unused).
        self._live: dict[Deadline, None] = {}
        self._handle: asyncio.TimerHandle | None = None
        #: When the timer fires (infinity: not armed).
        self._armed = math.inf

    def __len__(self) -> int:
        return len(self._live)

    def watch(self, delay: float | None) -> Deadline | _NoDeadline:
        """A context that bounds the current task's time in it to ``delay`` seconds from now.

        ``None``: no bound. Outside a task (no current task) the bound cannot be
        applied by cancelling, so :class:`~pulse_async.errors.ClientMisuseError`
        would be the honest answer; every caller of the SDK runs in a task, so it
        is asserted instead.
        """
        if delay is None:
            return NO_DEADLINE
        task = asyncio.current_task(self._loop)
        assert task is not None, "an attempt always runs in a task"
        when = self._loop.time() + delay
        deadline = Deadline(self, task, when)
        self._live[deadline] = None
        if when < self._armed:
            if self._handle is not None:
                self._handle.cancel()
            self._armed = when
            self._handle = self._loop.call_at(when, self._fire)
        return deadline

    def _fire(self) -> None:
        self._handle = None
        self._armed = math.inf
        # The loop runs a timer up to its clock's resolution early; a microsecond's slack
        # makes sure the deadline it was armed for is found due (not re-armed in a spin).
        now = self._loop.time() + 1e-6
        soonest = math.inf
        for deadline in list(self._live):
            if deadline.when <= now:
                del self._live[deadline]
                deadline.expired = True
                deadline.task.cancel()
            elif deadline.when < soonest:
                soonest = deadline.when
        if soonest < math.inf:
            self._armed = soonest
            self._handle = self._loop.call_at(soonest, self._fire)

    def close(self) -> None:
        """Drop the timer (the client is closing; nothing is in flight)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._armed = math.inf
