"""The loop-thread handoff: bounded by the call's deadline, and Ctrl-C at any moment of it.

The loop is held still with a blocking callback (a gate), so that what happens
while a call waits to be picked up is decided by the test, not by timing.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import linecache
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import FrameType
from typing import Any

import pytest
from sync_helpers import HANG_GUARD

from pulse_async.testing import ServerThread
from pulse_sync import APITimeoutError, Pulse
from pulse_sync import _loop as loop_mod


@contextmanager
def loop_held() -> Iterator[threading.Event]:
    """Hold pulse_sync's loop thread in a callback until the yielded gate is set."""
    loop_mod.run(asyncio.sleep(0))  # the loop is running
    loop = loop_mod._owner.loop
    assert loop is not None
    gate, entered = threading.Event(), threading.Event()

    def hold() -> None:
        entered.set()
        gate.wait(HANG_GUARD)  # a hang guard: the test sets the gate

    loop.call_soon_threadsafe(hold)
    assert entered.wait(HANG_GUARD)
    try:
        yield gate
    finally:
        gate.set()


def _waiting_line(ident: int) -> tuple[str, int] | None:
    """The ``(file, line)`` where thread ``ident`` waits on a lock in pulse_sync, if it does."""
    frame: FrameType | None = sys._current_frames().get(ident)
    if frame is None or frame.f_code.co_filename != loop_mod.__file__:
        return None
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
    return (frame.f_code.co_filename, frame.f_lineno) if ".acquire(" in line else None


def _wait_until(predicate: Callable[[], object], what: str) -> Any:
    done = threading.Event()
    for _ in range(int(HANG_GUARD / 0.005)):  # a hang guard, not a performance threshold
        if value := predicate():
            return value
        done.wait(0.005)
    raise AssertionError(f"timed out waiting for {what}")


async def _forever(started: list[bool]) -> None:
    started.append(True)
    await asyncio.sleep(HANG_GUARD)


def _interrupt_main_while_waiting(gate: threading.Event) -> threading.Thread:
    """SIGINT the main thread once it waits for its call; set the gate once it waits again.

    So the cancellation is queued on the loop behind the call's own start: the
    task is cancelled before its first step.
    """
    main = threading.main_thread().ident
    assert main is not None

    def interrupter() -> None:
        first = _wait_until(lambda: _waiting_line(main), "the call to wait")
        signal.pthread_kill(main, signal.SIGINT)
        _wait_until(
            lambda: _waiting_line(main) not in (None, first), "the wait for the cancellation"
        )
        gate.set()

    thread = threading.Thread(target=interrupter, daemon=True)
    thread.start()
    return thread


def test_ctrl_c_before_the_first_step_cancels_the_call_at_once() -> None:
    """Issue 13: the task was cancelled before ``_drive`` ran, so its ``finally`` never did.

    On the old main the caller waited the whole grace period and the coroutine
    was never awaited (a RuntimeWarning when collected).
    """
    assert threading.current_thread() is threading.main_thread()
    started: list[bool] = []
    coro = _forever(started)
    with loop_held() as gate:
        interrupter = _interrupt_main_while_waiting(gate)
        with pytest.raises(KeyboardInterrupt):
            loop_mod.run(coro)
    interrupter.join(HANG_GUARD)
    # run() returned once the loop had handled the cancellation, not after a grace period:
    # the coroutine is closed, without ever starting.
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
    assert started == []
    assert loop_mod.run(asyncio.sleep(0, "still serving")) == "still serving"


def test_ctrl_c_between_the_start_and_the_first_step_never_starts_the_call() -> None:
    """The task exists but has not run its first step when the caller gives up.

    That first step closes the coroutine unstarted and releases the caller; the
    old main ran it (a request sent for a caller already gone) before the
    cancellation landed.
    """
    assert threading.current_thread() is threading.main_thread()
    main = threading.main_thread().ident
    assert main is not None
    started: list[bool] = []
    coro = _forever(started)
    loop = loop_mod._owner.loop
    with loop_held() as first_gate:
        assert loop is not None
        second_gate, held_again = threading.Event(), threading.Event()

        def hold_again() -> None:
            held_again.set()
            second_gate.wait(HANG_GUARD)  # a hang guard: the interrupter sets the gate

        def interrupter() -> None:
            first = _wait_until(lambda: _waiting_line(main), "the call to wait")
            # Queued behind the call's start: the start creates the task, whose first
            # step is queued behind this, so the loop stops between the two.
            loop.call_soon_threadsafe(hold_again)
            first_gate.set()
            assert held_again.wait(HANG_GUARD)
            signal.pthread_kill(main, signal.SIGINT)
            _wait_until(
                lambda: _waiting_line(main) not in (None, first), "the wait for the cancellation"
            )
            second_gate.set()

        helper = threading.Thread(target=interrupter, daemon=True)
        helper.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                loop_mod.run(coro)
        finally:
            second_gate.set()
        helper.join(HANG_GUARD)
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
    assert started == []
    assert loop_mod.run(_tasks_left()) == 0
    assert loop_mod.run(asyncio.sleep(0, "still serving")) == "still serving"


def test_a_call_started_once_the_exit_hook_has_begun_is_closed_not_run() -> None:
    """After ``_shutdown`` marks the owner closed, a start that lands is refused.

    The exit hook cancels every task it finds; one created after it began could be
    cancelled before its first step, which would never run its coroutine nor
    release its caller. So no task is created then: the caller gets
    ``CancelledError`` at once and the coroutine is closed, never started.
    """
    loop_mod.run(asyncio.sleep(0))
    loop = loop_mod._owner.loop
    assert loop is not None
    exiting = loop_mod._Owner()
    exiting.closed = True
    started: list[bool] = []
    coro = _forever(started)
    call = loop_mod._Call(coro)
    loop.call_soon_threadsafe(call.start, exiting, loop, context=call.context)
    assert call.done.acquire(timeout=HANG_GUARD)
    assert isinstance(call.error, asyncio.CancelledError)
    assert call.task is None
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
    assert started == []


_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
_seen_inside: contextvars.ContextVar[str] = contextvars.ContextVar("seen_inside")


async def _read_and_set() -> str | None:
    _seen_inside.set("set on the loop")
    return _request_id.get(None)


def test_each_call_runs_in_a_copy_of_its_callers_context() -> None:
    """Each thread's value reaches its own calls; what a call sets never leaks back."""
    barrier = threading.Barrier(THREADS)

    def caller(n: int) -> list[str | None]:
        _request_id.set(f"req-{n}")
        barrier.wait(HANG_GUARD)
        seen = [loop_mod.run(_read_and_set()) for _ in range(5)]
        assert _seen_inside.get(None) is None
        return seen

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(caller, range(THREADS), timeout=HANG_GUARD))
    assert results == [[f"req-{n}"] * 5 for n in range(THREADS)]
    assert loop_mod.run(_read_and_set()) is None  # this thread never set it


def test_a_call_given_up_before_the_loop_picks_it_up_never_starts() -> None:
    started: list[bool] = []
    coro = _forever(started)
    with loop_held(), pytest.raises(APITimeoutError, match="deadline"):
        loop_mod.run(coro, within=0.01)
    loop_mod.run(asyncio.sleep(0))  # FIFO: the call's start has run by now
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
    assert started == []


def test_a_call_waits_no_longer_than_its_deadline_when_the_loop_is_stuck(
    server: ServerThread,
) -> None:
    """Issue 13: the handoff is a wait like any other; a stuck loop thread no longer hangs it."""
    route = "GET /v2/threads"
    before = server.stats.requests[route]
    with Pulse(server.admin_key, base_url=server.url) as pulse:
        with loop_held(), pytest.raises(APITimeoutError, match="deadline"):
            pulse.with_options(timeout=0.05).threads.list().fetch_page()
        # The abandoned call never reached the server, and the client goes on.
        assert pulse.users.list(limit=1).fetch_page() is not None
    assert server.stats.requests[route] == before


def test_a_slow_call_is_cancelled_on_the_loop_when_its_caller_gives_up(
    server: ServerThread,
) -> None:
    started: list[bool] = []
    coro = _forever(started)
    with pytest.raises(APITimeoutError):
        loop_mod.run(coro, within=0.01)
    loop_mod.run(asyncio.sleep(0))
    # Started, then cancelled on the loop: nothing is left running there.
    assert started == [True]
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
    assert loop_mod.run(_tasks_left()) == 0


async def _tasks_left() -> int:
    return len(asyncio.all_tasks()) - 1


def test_a_bad_timeout_is_the_coroutines_error_not_the_handoffs(pulse: Pulse) -> None:
    from pulse_sync import ValidationError

    with pytest.raises(ValidationError) as info:
        pulse.messages.wait("msg_1", timeout=-1)
    assert info.value.field == "timeout"


THREADS = 24  # six times the pool below
POOL = 4


def test_past_saturation_many_threads_some_giving_up(server: ServerThread) -> None:
    """Many more callers than connections; a third of them give up on a hanging route.

    Every call ends (a result, or ``APITimeoutError`` for those giving up), nothing
    is left on the loop, and the client's pool serves strict calls afterwards.
    """
    slow = "GET /v2/threads"
    server.faults.add("latency", route=slow, delay=HANG_GUARD)
    barrier = threading.Barrier(THREADS)
    with Pulse(server.admin_key, base_url=server.url, max_connections=POOL) as pulse:
        impatient = pulse.with_options(timeout=0.3, max_retries=0)

        def work(n: int) -> list[str]:
            barrier.wait(HANG_GUARD)
            seen = []
            for _ in range(10):
                try:
                    if n % 3 == 0:
                        impatient.threads.list().fetch_page()
                        seen.append("ok?!")
                    else:
                        pulse.users.list(limit=1).fetch_page()
                        seen.append("ok")
                except APITimeoutError:
                    seen.append("gave up")
            return seen

        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(work, range(THREADS), timeout=HANG_GUARD))
        server.faults.clear()
        assert loop_mod.run(_tasks_left()) == 0
        strict = pulse.with_options(max_retries=0, timeout=10)
        assert all(len(strict.users.list(limit=1).fetch_page().data) == 1 for _ in range(POOL * 2))
    for n, seen in enumerate(results):
        assert seen == ["gave up" if n % 3 == 0 else "ok"] * 10, n


def test_ctrl_c_in_the_main_thread_past_saturation(server: ServerThread) -> None:
    """The main thread is interrupted while 24 threads keep the pool of 4 busy."""
    slow = "GET /v2/threads"
    server.faults.add("latency", route=slow, delay=HANG_GUARD, count=1)
    stop = threading.Event()
    with Pulse(server.admin_key, base_url=server.url, max_connections=POOL) as pulse:

        def work(_: int) -> int:
            done = 0
            while not stop.is_set():
                done += len(pulse.users.list(limit=1).fetch_page().data)
            return done

        with ThreadPoolExecutor(THREADS) as pool:
            futures = [pool.submit(work, n) for n in range(THREADS)]
            main = threading.main_thread().ident
            assert main is not None
            requests = server.stats.requests[slow]
            cancelled = server.stats.cancelled_by_route[slow]

            def interrupter() -> None:
                _wait_until(lambda: server.stats.requests[slow] > requests, "the slow request")
                signal.pthread_kill(main, signal.SIGINT)

            helper = threading.Thread(target=interrupter, daemon=True)
            helper.start()
            try:
                with pytest.raises(KeyboardInterrupt):
                    pulse.threads.list().fetch_page()
            finally:
                stop.set()
            helper.join(HANG_GUARD)
            assert all(f.result(HANG_GUARD) > 0 for f in futures)
        _wait_until(
            lambda: server.stats.cancelled_by_route[slow] > cancelled, "the request abandoned"
        )
        assert loop_mod.run(_tasks_left()) == 0
