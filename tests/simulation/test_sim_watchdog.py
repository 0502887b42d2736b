"""The watchdog that holds every attempt's total deadline on one timer, in virtual time.

Each attempt is a task that enters ``watchdog.watch(deadline)``, works for a while and
may be cancelled by its caller. Whatever the mix, past saturation included, every task
must end exactly as ``asyncio.timeout`` would end it: its result if it finished first,
``TimeoutError`` if its deadline came first, ``CancelledError`` if its caller cancelled
it first. And the watchdog must not spend a timer per attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_loop import run_virtual

from pulse_async._watchdog import NO_DEADLINE, Watchdog

# (deadline, work, caller's cancel or None), in virtual seconds; ties are excluded below.
attempts = st.lists(
    st.tuples(
        st.integers(1, 400).map(lambda n: n / 40),
        st.integers(0, 400).map(lambda n: n / 40 + 0.0125),
        st.one_of(st.none(), st.integers(0, 400).map(lambda n: n / 40 + 0.00625)),
    ),
    min_size=1,
    max_size=300,
)


def expected(deadline: float, work: float, cancel: float | None) -> str:
    first = min(deadline, work, cancel if cancel is not None else float("inf"))
    if first == cancel:
        return "cancelled"
    return "timeout" if first == deadline else "done"


class CountingTimers:
    """Counts the loop timers made while it is on (``call_at``; ``call_later`` goes through it)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.made = 0
        self._call_at = loop.call_at

    def __enter__(self) -> CountingTimers:
        def call_at(when: float, callback: Any, *args: Any, **kwargs: Any) -> Any:
            self.made += 1
            return self._call_at(when, callback, *args, **kwargs)

        self.loop.call_at = call_at  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc_info: object) -> None:
        del self.loop.call_at


async def run_all(
    plan: list[tuple[float, float, float | None]],
) -> tuple[list[str], list[int], Watchdog]:
    loop = asyncio.get_running_loop()
    watchdog = Watchdog(loop)

    async def attempt(deadline: float, work: float) -> str:
        with watchdog.watch(deadline):
            await asyncio.sleep(work)
        return "done"

    async def one(deadline: float, work: float, cancel: float | None) -> tuple[str, int]:
        task = asyncio.create_task(attempt(deadline, work))
        if cancel is not None:
            loop.call_later(cancel, task.cancel)
        try:
            outcome = await task
        except TimeoutError:
            outcome = "timeout"
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
            outcome = "cancelled"
        return outcome, task.cancelling()

    ends = await asyncio.gather(*(one(*a) for a in plan))
    return [o for o, _ in ends], [c for _, c in ends], watchdog


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(attempts)
def test_every_attempt_ends_as_asyncio_timeout_would_end_it(
    plan: list[tuple[float, float, float | None]],
) -> None:
    outcomes, counts, watchdog = run_virtual(lambda: run_all(plan))
    assert outcomes == [expected(*a) for a in plan]
    # Nothing left behind: no deadline still watched, no cancel request the caller did not make.
    assert len(watchdog) == 0
    assert counts == [1 if o == "cancelled" else 0 for o in outcomes]


def test_ten_thousand_attempts_well_within_their_deadline_arm_one_timer() -> None:
    async def main() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        watchdog = Watchdog(loop)
        done = 0

        async def attempt() -> None:
            nonlocal done
            with watchdog.watch(60.0):
                await asyncio.sleep(0.001)
            done += 1

        with CountingTimers(loop) as timers:
            # 10,000 attempts, 64 at a time: asyncio.timeout or aiohttp's total would make
            # 10,000 timers (one each, plus the sleeps'). The sleeps make theirs too.
            sem = asyncio.Semaphore(64)

            async def bounded() -> None:
                async with sem:
                    await attempt()

            await asyncio.gather(*(bounded() for _ in range(10_000)))
            made = timers.made - 10_000  # the 10,000 sleeps' own timers
        watchdog.close()
        return done, made

    done, made = run_virtual(main)
    assert done == 10_000
    assert made == 1


def test_a_thousand_attempts_due_at_once_all_time_out_on_one_firing() -> None:
    async def main() -> tuple[list[str], int]:
        loop = asyncio.get_running_loop()
        watchdog = Watchdog(loop)

        async def attempt() -> str:
            try:
                with watchdog.watch(1.0):
                    await asyncio.sleep(10)
            except TimeoutError:
                return f"timeout at {loop.time() - start:.3f}"
            return "done"

        start = loop.time()
        with CountingTimers(loop) as timers:
            outcomes = await asyncio.gather(*(attempt() for _ in range(1_000)))
            made = timers.made - 1_000  # the sleeps
        return outcomes, made

    outcomes, made = run_virtual(main)
    assert outcomes == ["timeout at 1.000"] * 1_000
    assert made == 1


def test_a_sooner_deadline_re_arms_the_timer_and_a_later_one_does_not() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        watchdog = Watchdog(loop)
        events: list[str] = []

        async def attempt(name: str, deadline: float, work: float) -> None:
            try:
                with watchdog.watch(deadline):
                    await asyncio.sleep(work)
                events.append(f"{name} done at {loop.time() - start:g}")
            except TimeoutError:
                events.append(f"{name} timed out at {loop.time() - start:g}")

        start = loop.time()
        await asyncio.gather(
            attempt("long", 30, 5),  # armed for 30
            attempt("later", 40, 50),  # later than 30: no new timer; times out at 40
            attempt("short", 2, 10),  # sooner: re-armed for 2
        )
        return events

    assert run_virtual(main) == [
        "short timed out at 2",
        "long done at 5",
        "later timed out at 40",
    ]


def test_a_caller_cancelling_as_the_deadline_fires_gets_its_cancellation() -> None:
    # Both at the same instant: asyncio.timeout lets the caller's cancellation win, so do we.
    async def main() -> tuple[bool, int]:
        loop = asyncio.get_running_loop()
        watchdog = Watchdog(loop)

        async def attempt() -> None:
            with watchdog.watch(1.0):
                await asyncio.sleep(5)

        task = asyncio.create_task(attempt())
        loop.call_at(loop.time() + 1.0, task.cancel)
        with pytest.raises(asyncio.CancelledError):
            await task
        return task.cancelled(), len(watchdog)

    assert run_virtual(main) == (True, 0)


def test_an_attempt_that_swallows_the_cancellation_finishes_and_owes_nothing() -> None:
    async def main() -> tuple[str, int]:
        watchdog = Watchdog(asyncio.get_running_loop())

        async def attempt() -> str:
            with watchdog.watch(1.0):
                with contextlib.suppress(asyncio.CancelledError):  # as some library code does
                    await asyncio.sleep(5)
                await asyncio.sleep(0.5)
            task = asyncio.current_task()
            assert task is not None
            return f"finished, cancel count {task.cancelling()}"

        return await attempt(), len(watchdog)

    assert run_virtual(main) == ("finished, cancel count 0", 0)


def test_no_deadline_watches_nothing() -> None:
    async def main() -> int:
        watchdog = Watchdog(asyncio.get_running_loop())
        with watchdog.watch(None) as nothing:
            assert nothing is None
            await asyncio.sleep(100)
        return len(watchdog)

    assert run_virtual(main) == 0
    assert NO_DEADLINE.__exit__(None, None, None) is None
