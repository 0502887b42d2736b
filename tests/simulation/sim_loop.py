"""A virtual-time asyncio event loop: time moves only when every task is waiting on a timer.

It is the stdlib's selector event loop with two changes: :meth:`VirtualTimeLoop.time`
reads a virtual clock, and its selector never blocks. When asyncio would sleep until
the next timer, the selector moves the clock to that timer instead and returns at once.
So ``asyncio.sleep``, ``asyncio.timeout`` and ``loop.call_later`` all run in virtual
time, a simulated minute takes milliseconds, and a run is deterministic: the order of
events depends only on the code and the seeds, never on the machine's load.

Nothing in a simulation opens a socket; should every task wait on something that no
timer will ever bring, the loop raises :class:`VirtualDeadlock` instead of hanging.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

__all__ = ["VirtualDeadlock", "VirtualTimeLoop", "run_virtual"]

T = TypeVar("T")


class VirtualDeadlock(RuntimeError):
    """Every task waits, and no timer is scheduled: in real time this would hang forever."""


class _Clock:
    __slots__ = ("now",)

    def __init__(self, start: float) -> None:
        self.now = start


class _NonBlockingSelector(selectors.BaseSelector):
    """A real selector (for the loop's self-pipe) that advances the clock instead of blocking."""

    def __init__(self, clock: _Clock) -> None:
        self._real = selectors.DefaultSelector()
        self._clock = clock

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready:
            return ready
        if timeout is None:
            raise VirtualDeadlock("every task is waiting and no timer is scheduled")
        if timeout > 0:
            self._clock.now += timeout
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` is virtual and jumps to the next timer when idle."""

    def __init__(self, start: float = 1000.0) -> None:
        self._virtual = _Clock(start)
        super().__init__(selector=_NonBlockingSelector(self._virtual))

    def time(self) -> float:
        return self._virtual.now


def run_virtual(main: Callable[[], Coroutine[Any, Any, T]], *, start: float = 1000.0) -> T:
    """Run ``main()`` to completion on a fresh :class:`VirtualTimeLoop`, then close it."""
    loop = VirtualTimeLoop(start)
    try:
        return loop.run_until_complete(main())
    finally:
        try:
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
