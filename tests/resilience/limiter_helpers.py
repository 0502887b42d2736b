"""Virtual time for the limiter tests: a clock that moves only from one timer to the next."""

from __future__ import annotations

import asyncio
import heapq


class VirtualTime:
    """An injected ``clock``/``sleep`` pair with a timer queue, driven by :meth:`advance_to`.

    Unlike a clock that jumps on every ``sleep`` call, concurrent sleepers here wake in
    the order of their deadlines and the clock reads each deadline in turn, as a real
    loop's would: many tasks can be simulated over minutes in milliseconds.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.start = start
        self.now = start
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._timers, (self.now + max(0.0, seconds), self._seq, future))
        await future

    @staticmethod
    async def settle() -> None:
        """Let every task that can run, run (a handful of loop turns)."""
        loop = asyncio.get_running_loop()
        for turn in range(50):
            await asyncio.sleep(0)
            # Nothing else is ready to run: every task waits on a timer or a future.
            if turn > 1 and not getattr(loop, "_ready", True):
                return

    async def advance_to(self, when: float) -> None:
        """Fire every timer due by ``when``, in order, then set the clock to ``when``."""
        while True:
            await self.settle()
            timers = self._timers
            while timers and timers[0][2].done():  # its sleeper was cancelled
                heapq.heappop(timers)
            if not timers or timers[0][0] > when:
                break
            due, _, future = heapq.heappop(timers)
            self.now = max(self.now, due)
            future.set_result(None)
        self.now = max(self.now, when)
        await self.settle()

    async def advance(self, seconds: float) -> None:
        await self.advance_to(self.now + seconds)
