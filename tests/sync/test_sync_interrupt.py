"""Ctrl-C abandons the request for real; exiting with clients left open is quiet and prompt."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from sync_helpers import HANG_GUARD, child_env, run_script, start_script

from pulse_async.testing import ServerThread


def _wait_for(predicate: object, what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD  # a hang guard, not a performance threshold
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.mark.parametrize("uvloop_env", ["1", "0"])
def test_ctrl_c_cancels_the_call_on_the_loop(
    server: ServerThread, uvloop_env: str, tmp_path: Path
) -> None:
    route = "GET /v2/threads"
    server.faults.add("latency", route=route, delay=HANG_GUARD, count=1)
    cancelled_before = server.stats.cancelled_by_route[route]
    requests_before = server.stats.requests[route]
    proc = start_script(
        """
        import sys, threading
        import pulse_sync

        pulse = pulse_sync.Pulse()
        try:
            pulse.threads.list().fetch_page()          # the server sits on this one
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.stdin.readline()                       # the test checks the server meanwhile
            # The loop thread is fine and the next call is served.
            print(len(pulse.users.list(limit=1).fetch_page().data), flush=True)
            raise
        """,
        child_env(server, PULSE_SYNC_UVLOOP=uvloop_env),
        tmp_path,
    )
    try:
        _wait_for(lambda: server.stats.requests[route] > requests_before, "the slow request")
        proc.send_signal(signal.SIGINT)
        assert proc.stdout is not None
        assert proc.stdin is not None
        assert proc.stdout.readline() == "interrupted\n"
        # While the child is still alive: the server saw the client give up the request.
        _wait_for(
            lambda: server.stats.cancelled_by_route[route] > cancelled_before,
            "the server to see the request abandoned",
        )
        proc.stdin.write("go on\n")
        proc.stdin.flush()
        stdout, stderr = proc.communicate(timeout=HANG_GUARD)
    finally:
        proc.kill()
        proc.wait()
    assert stdout == "1\n"
    assert proc.returncode != 0
    assert stderr.rstrip().endswith("KeyboardInterrupt")
    assert "pulse.threads.list().fetch_page()" in stderr  # the traceback shows the caller's line


EXIT_SCRIPT = """
    import gc, threading
    import pulse_sync

    used = pulse_sync.Pulse()
    used.users.list(limit=1).fetch_page()             # a pooled keep-alive connection
    copy = used.with_options(max_retries=0)
    copy.users.list(limit=1).fetch_page()
    pw = pulse_sync.Pulsewave()
    pw.messages.create(channel="sms", to="+14155550123", from_="Pulse", text="hi")
    never = pulse_sync.Pulse()                         # never makes a request
    for _ in range(3):                                 # used, dropped, never closed
        dropped = pulse_sync.Pulse()
        dropped.users.list(limit=1).fetch_page()
        del dropped
        gc.collect()
    pages = used.users.list(limit=1).pages()
    next(pages)                                        # a pager left half way
    print("done")
"""


@pytest.mark.parametrize("uvloop_env", ["1", "0"])
def test_exit_without_closing_is_quiet(
    server: ServerThread, uvloop_env: str, tmp_path: Path
) -> None:
    result = run_script(
        EXIT_SCRIPT,
        child_env(server, PULSE_SYNC_UVLOOP=uvloop_env),
        tmp_path,
        warnings=("error", "always::ResourceWarning"),
    )
    assert result.stderr == ""
    assert (result.returncode, result.stdout) == (0, "done\n")


LEAKY_LIMITER_SCRIPT = """
    import asyncio
    import os
    from urllib.parse import urlsplit

    import pulse_sync

    class LeakyLimiter:
        '''A custom limiter that opens a connection on the loop and never closes it.'''

        writer = None

        async def acquire(self, max_wait):
            if self.writer is None:
                url = urlsplit(os.environ["PULSE_BASE_URL"])
                _, self.writer = await asyncio.open_connection(url.hostname, url.port)
            return 0.0

        async def pause(self, seconds):
            pass

        async def aclose(self):
            pass                                       # the leak: nothing is closed

    with pulse_sync.Pulse(rate_limit=LeakyLimiter()) as pulse:
        pulse.users.list(limit=1).fetch_page()
    print("done")
"""


@pytest.mark.parametrize("uvloop_env", ["1", "0"])
def test_exit_with_a_transport_left_on_the_loop_reports_it_and_does_not_hang(
    server: ServerThread, uvloop_env: str, tmp_path: Path
) -> None:
    """A leak that is not ours is reported at exit, never turned into a hang by ``-W error``.

    uvloop warns of each open transport while it closes the loop; raised as an error inside
    that walk, the warning left the handle open and ``loop.close()`` waited on it forever.
    """
    result = run_script(
        LEAKY_LIMITER_SCRIPT, child_env(server, PULSE_SYNC_UVLOOP=uvloop_env), tmp_path
    )
    assert (result.returncode, result.stdout) == (0, "done\n"), result.stderr
    if uvloop_env == "1":
        assert "ResourceWarning: unclosed resource <TCPTransport" in result.stderr
