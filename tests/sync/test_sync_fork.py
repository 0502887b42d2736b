"""After ``fork`` the child gets its own loop thread and session; the parent is left intact."""

from __future__ import annotations

import multiprocessing
import os
import queue
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
    parent_thread = loop_mod.loop_thread()

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
    assert loop_mod.loop_thread() is parent_thread
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
            # What interpreter shutdown may do to module globals: drop every reference
            # to the parent's loop and clients. Freeing them would close "their" sockets.
            pulse_sync._loop._inherited.clear()
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
