"""After ``fork`` the child gets its own loop thread and session; the parent is left intact."""

from __future__ import annotations

import multiprocessing
import os
import queue
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sync_helpers import HANG_GUARD, child_env, run_script

from pulse_async.testing import ServerThread
from pulse_sync import Pulse
from pulse_sync import _loop as loop_mod

pytestmark = pytest.mark.filterwarnings(
    # Python 3.12+ warns about fork() in a multi-threaded process; forking is the point here.
    "ignore:.*use of fork\\(\\) may lead to deadlocks:DeprecationWarning"
)


def _session_of(pulse: Pulse) -> object:
    return pulse._async()._rt.transport._session  # white-box: which session served the call


def _child(pulse: Pulse, parent_async: object, parent_session: object, out: Any) -> None:
    pages = [pulse.users.list(limit=2).fetch_page() for _ in range(5)]
    receipt = pulse.messages.send(to=["admin@example.com"], subject="from a child", body="hi")
    thread = loop_mod.loop_thread()
    out.put(
        {
            "pid": os.getpid(),
            "ok": all(len(p.data) == 2 for p in pages) and receipt.message_id.startswith("msg_"),
            "fresh_client": pulse._async() is not parent_async,
            "fresh_session": _session_of(pulse) not in (None, parent_session),
            "parent_session_untouched": not parent_session.closed,  # type: ignore[attr-defined]
            "loop_thread_alive": thread is not None and thread.is_alive(),
        }
    )


def test_parent_then_forked_children_then_parent(pulse: Pulse, server: ServerThread) -> None:
    ctx = multiprocessing.get_context("fork")
    assert pulse.users.list(limit=2).fetch_page() is not None
    parent_async, parent_session = pulse._async(), _session_of(pulse)
    parent_loop = loop_mod._owner.loop

    out: multiprocessing.Queue[dict[str, Any]] = ctx.Queue()
    children = [
        ctx.Process(target=_child, args=(pulse, parent_async, parent_session, out))
        for _ in range(4)
    ]
    for child in children:
        child.start()
    reports = []
    try:
        for _ in children:
            reports.append(out.get(timeout=HANG_GUARD))
    except queue.Empty:
        pytest.fail(f"a child did not report; got {reports}")
    for child in children:
        child.join(HANG_GUARD)
        assert child.exitcode == 0

    assert len({r["pid"] for r in reports}) == 4
    for report in reports:
        assert report == report | {
            "ok": True,
            "fresh_client": True,
            "fresh_session": True,
            "parent_session_untouched": True,
            "loop_thread_alive": True,
        }
    # The parent goes on with the same client, session and loop thread; no retry allowed,
    # so a connection a child had disturbed would show.
    strict = pulse.with_options(max_retries=0, timeout=10)
    for _ in range(5):
        assert len(strict.users.list(limit=2).fetch_page().data) == 2
    assert pulse._async() is parent_async
    assert _session_of(pulse) is parent_session
    # The same loop, run by a new thread after each fork (the old one stopped for it).
    assert loop_mod._owner.loop is parent_loop
    assert [t for t in threading.enumerate() if t.name == loop_mod.THREAD_NAME] == [
        loop_mod.loop_thread()
    ]
    assert server.ledger is not None


@pytest.mark.parametrize("uvloop_env", ["1", "0"])
def test_a_child_exiting_normally_leaves_the_parent_working(
    server: ServerThread, uvloop_env: str, tmp_path: Path
) -> None:
    # multiprocessing children leave through os._exit; a gunicorn worker or a plain fork
    # runs the whole interpreter shutdown, which must not close the parent's sockets.
    result = run_script(
        """
        import gc, os, sys, warnings
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        import pulse_sync

        pulse = pulse_sync.Pulse().with_options(max_retries=0, timeout=10)
        idle = pulse_sync.Pulse()
        for _ in range(3):
            pulse.users.list(limit=1).fetch_page()   # keep-alive connections in the pool
        idle.users.list(limit=1).fetch_page()
        pid = os.fork()
        if pid == 0:
            pulse.users.list(limit=1).fetch_page()   # the child's own loop and session
            # The child drops everything it holds; the parent's loop and clients, which
            # the child's owner keeps, must not be closed or freed, now or at exit.
            del pulse, idle
            gc.collect()
            sys.exit(0)                              # full interpreter shutdown, atexit too
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        for _ in range(3):
            pulse.users.list(limit=1).fetch_page()
        idle.users.list(limit=1).fetch_page()
        print("parent ok")
        """,
        child_env(server, PULSE_SYNC_UVLOOP=uvloop_env),
        tmp_path,
    )
    assert result.stderr == ""
    assert (result.returncode, result.stdout) == (0, "parent ok\n")


LIMITER_SCRIPT = """
    import os, sys
    import pulse_sync

    class RecordingLimiter:
        '''Writes "<name> <pid>" each time it is closed.'''

        def __init__(self, name):
            self.name = name

        async def acquire(self, max_wait):
            return 0.0

        async def pause(self, seconds):
            pass

        async def aclose(self):
            with open(os.environ["LIMITER_LOG"], "a") as log:
                log.write(f"{self.name} {os.getpid()}\\n")

    parents = pulse_sync.Pulse(rate_limit=RecordingLimiter("parent"))
    parents.users.list(limit=1).fetch_page()
    pid = os.fork()
    if pid == 0:
        own = pulse_sync.Pulse(rate_limit=RecordingLimiter("child"))
        own.users.list(limit=1).fetch_page()
        sys.exit(0)                                  # full shutdown: the exit hook runs
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
    parents.users.list(limit=1).fetch_page()
    print(os.getpid(), pid)
"""


def test_a_forked_child_closes_only_its_own_limiters(server: ServerThread, tmp_path: Path) -> None:
    """Issue 13: the child's exit hook closed the parent's limiters (a real ``os.fork``)."""
    log = tmp_path / "closed.log"
    result = run_script(LIMITER_SCRIPT, child_env(server, LIMITER_LOG=str(log)), tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    parent, child = result.stdout.split()
    assert sorted(log.read_text().splitlines()) == sorted([f"child {child}", f"parent {parent}"])


#: ``-W error``, but DeprecationWarnings printed rather than raised: CPython 3.12 clears the
#: error that ``-W error`` makes of its fork warning (nothing would show), so it must print.
SHOW_FORK_WARNING = ("error", "always::DeprecationWarning")

FORK_SCRIPT = """
    import os, sys, warnings
    from pathlib import Path

    if os.environ["PULSE_SYNC_UVLOOP"] == "1":
        # uvloop resolves names on libuv's worker threads, which live as long as the
        # process: with uvloop, Python 3.12+ still warns (see docs/guides/workers.md,
        # Worker processes).
        warnings.filterwarnings("ignore", ".*use of fork", DeprecationWarning)

    def threads():
        tasks = os.listdir("/proc/self/task")
        names = [Path(f"/proc/self/task/{t}/comm").read_text().strip() for t in tasks]
        return len([n for n in names if n != "libuv-worker"])

    # Registered before pulse_sync's hook, so it runs after it, just before the fork.
    threads_at_fork = []
    os.register_at_fork(before=lambda: threads_at_fork.append(threads()))
    import pulse_sync

    pulse = pulse_sync.Pulse()
    items = [{"to": [f"f{n}@example.com"], "subject": "s", "body": "b"} for n in range(40)]
    stream = pulse.messages.send_many(items, concurrency=8, batch_id="fork", stream=True)
    first = next(stream)                              # the others are in flight on the loop
    for round in range(3):
        pid = os.fork()
        if pid == 0:
            child = pulse.users.list(limit=1).fetch_page()   # the child's own loop and session
            print("child", len(child.data), flush=True)
            sys.exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
    rest = list(stream)                               # the calls in flight went on
    keys = [o.idempotency_key for o in [first, *rest]]
    assert keys == [f"fork:{n}" for n in range(40)], keys
    print("parent", len(rest) + 1, threads_at_fork)
"""


#: CPython 3.13 counts threads for its fork warning after the parent's at-fork hooks have
#: run, and ours restarts the loop thread there (3.12 counts before them): a known gap,
#: documented in docs/guides/workers.md. Strict: once it passes there, this must go.
WARNS_AFTER_PARENT_HOOKS = pytest.mark.xfail(
    sys.version_info >= (3, 13),
    reason="3.13 emits the fork warning after the parent's at-fork hooks restart the loop thread",
    strict=True,
)


@pytest.mark.parametrize("uvloop_env", ["1", pytest.param("0", marks=WARNS_AFTER_PARENT_HOOKS)])
def test_fork_sees_one_thread_and_calls_in_flight_go_on(
    server: ServerThread, uvloop_env: str, tmp_path: Path
) -> None:
    """Issue 18: the loop thread stops for a fork and resumes after, in the parent.

    On Python 3.12+ the old main printed "This process is multi-threaded, use of
    fork() may lead to deadlocks" here, and on any version the process forked
    with two threads.
    """
    result = run_script(
        FORK_SCRIPT,
        child_env(server, PULSE_SYNC_UVLOOP=uvloop_env),
        tmp_path,
        warnings=SHOW_FORK_WARNING,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == ["child 1"] * 3 + ["parent 40 [1, 1, 1]"]


PLAIN_FORK_SCRIPT = """
    import os, sys, threading
    threads_at_fork = []
    os.register_at_fork(before=lambda: threads_at_fork.append(len(os.listdir("/proc/self/task"))))
    import pulse_sync

    pulse = pulse_sync.Pulse()
    pulse.users.list(limit=1).fetch_page()
    assert any(t.name.startswith("pulse-sync-executor") for t in threading.enumerate())
    pid = os.fork()                                   # 3.12+: the warning would print here
    if pid == 0:
        pulse.users.list(limit=1).fetch_page()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
    pulse.users.list(limit=1).fetch_page()
    print(threads_at_fork)
"""


@WARNS_AFTER_PARENT_HOOKS
def test_a_plain_fork_under_w_error(server: ServerThread, tmp_path: Path) -> None:
    """Issue 18 on the interpreter the suite runs on (3.12+: the warning would show)."""
    # "localhost": asyncio resolves it on the loop's executor, whose threads must stop too.
    env = child_env(server, PULSE_SYNC_UVLOOP="0")
    env["PULSE_BASE_URL"] = server.url.replace("127.0.0.1", "localhost")
    result = run_script(PLAIN_FORK_SCRIPT, env, tmp_path, warnings=SHOW_FORK_WARNING)
    assert (result.returncode, result.stderr, result.stdout) == (0, "", "[1]\n")
