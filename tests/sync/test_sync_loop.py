"""The loop thread: lazy, one per process, usable from running loops, never deadlocked or killed."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import NoReturn

import pytest
from sync_helpers import child_env, run_script

from pulse_async.testing import ServerThread
from pulse_sync import LoopThreadError, Pulse, RetryEvent
from pulse_sync import _loop as loop_mod


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == loop_mod.THREAD_NAME]


@pytest.mark.parametrize("uvloop_env", ["1", "0"])
def test_one_lazy_daemon_thread_per_process(
    server: ServerThread, uvloop_env: str, tmp_path: Path
) -> None:
    result = run_script(
        """
        import threading
        import pulse_sync

        def names():
            return [t.name for t in threading.enumerate() if t.name == "pulse-sync-loop"]

        assert names() == [], "started at import"
        a, b = pulse_sync.Pulse(), pulse_sync.Pulsewave()
        assert names() == [], "started by a constructor"
        a.users.list(limit=1).fetch_page()
        b.messages.create(channel="sms", to="+14155550123", from_="Pulse", text="hi")
        (thread,) = [t for t in threading.enumerate() if t.name == "pulse-sync-loop"]
        assert thread.daemon
        print("uvloop" if pulse_sync._loop.uses_uvloop() else "asyncio")
        a.close(); b.close()
        """,
        child_env(server, PULSE_SYNC_UVLOOP=uvloop_env),
        tmp_path,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.strip() == ("uvloop" if uvloop_env == "1" else "asyncio")


def test_the_session_lives_on_the_loop_thread(pulse: Pulse) -> None:
    pulse.users.list(limit=1).fetch_page()
    (thread,) = loop_threads()
    assert thread is loop_mod.loop_thread()
    transport = pulse._async()._rt.transport  # white-box: where the session was created
    assert transport._loop is loop_mod._owner.loop


async def test_works_inside_a_running_event_loop(pulse: Pulse) -> None:
    # A coroutine of the caller's own loop (a Jupyter cell, an async web handler): the
    # facade neither needs nor touches this loop.
    assert asyncio.get_running_loop().is_running()
    page = pulse.users.list(limit=1).fetch_page()
    assert len(page.data) == 1


def test_works_from_a_thread_running_its_own_loop(pulse: Pulse) -> None:
    found: list[object] = []

    async def handler() -> None:
        found.append(pulse.users.list(limit=1).fetch_page())

    thread = threading.Thread(target=asyncio.run, args=(handler(),))
    thread.start()
    thread.join(30)
    assert len(found) == 1


def test_calling_the_facade_on_its_loop_thread_raises(server: ServerThread) -> None:
    seen: list[BaseException] = []

    def on_retry(event: RetryEvent) -> None:
        try:
            pulse.users.list(limit=1).fetch_page()  # runs on the loop thread
        except LoopThreadError as exc:
            seen.append(exc)

    server.faults.add("server_error", route="GET /v2/threads", count=1)
    with Pulse(server.admin_key, base_url=server.url, on_retry=on_retry) as pulse:
        assert pulse.threads.list().fetch_page() is not None  # the retry succeeded
    assert len(seen) == 1
    assert "deadlock" in str(seen[0])


async def _raise(exc: BaseException) -> NoReturn:
    await asyncio.sleep(0)
    raise exc


@pytest.mark.parametrize("exc", [SystemExit(3), KeyboardInterrupt(), GeneratorExit()])
def test_base_exception_in_a_coroutine_reaches_the_caller_only(
    pulse: Pulse, exc: BaseException
) -> None:
    pulse.users.list(limit=1).fetch_page()
    thread = loop_mod.loop_thread()
    with pytest.raises(type(exc)) as info:
        loop_mod.run(_raise(exc))
    assert info.value is exc
    assert loop_mod.loop_thread() is thread
    assert thread is not None
    assert thread.is_alive()
    assert pulse.users.list(limit=1).fetch_page() is not None


def test_base_exception_escaping_the_loop_does_not_stop_it(
    pulse: Pulse, caplog: pytest.LogCaptureFixture
) -> None:
    # A task we did not start raises SystemExit: asyncio lets it out of run_forever.
    async def spawn() -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(_raise(SystemExit(4)))

    task = loop_mod.run(spawn())
    assert pulse.users.list(limit=1).fetch_page() is not None
    assert task.done()
    assert isinstance(task.exception(), SystemExit)
    assert loop_threads() == [loop_mod.loop_thread()]
    assert "unexpected exception; continuing" in caplog.text


def test_cancelled_inside_the_coroutine_is_reported_not_swallowed() -> None:
    async def cancelled() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        loop_mod.run(cancelled())
