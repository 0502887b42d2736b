"""``pulse demo --serve`` and ``pulse serve`` leave a server whose inbox shows the messages."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.request

#: A guard against a hung child, never a performance threshold.
HANG_GUARD = 60.0


def _start(*args: str) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "PULSEWAVE_"))}
    proc = subprocess.Popen(
        [sys.executable, "-W", "error", "-m", "pulse_async._cli", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def _until_ready(lines: queue.Queue[str]) -> list[str]:
    seen: list[str] = []
    while not seen or "Press Ctrl-C" not in seen[-1]:
        seen.append(lines.get(timeout=HANG_GUARD))
    return seen


def _stop(proc: subprocess.Popen[str]) -> str:
    try:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=HANG_GUARD)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    return stderr


def test_demo_serve_keeps_the_server_and_its_inbox_running() -> None:
    proc, lines = _start("demo", "--count", "12", "--serve")
    seen = _until_ready(lines)
    text = "".join(seen)
    assert "exactly 12 messages on the server for 12 requested" in text
    match = re.search(r"open its inbox at (http://127\.0\.0\.1:\d+/)", text)
    assert match is not None, text
    assert re.search(r"admin key:\s+pw_test_", text)
    with urllib.request.urlopen(match.group(1), timeout=HANG_GUARD) as response:
        page = response.read().decode()
    assert "12 messages" in page
    assert "Pulse demo #12" in page
    _stop(proc)


def test_serve_prints_where_the_inbox_is() -> None:
    proc, lines = _start("serve", "--port", "0")
    text = "".join(_until_ready(lines))
    match = re.search(r"inbox:\s+(http://127\.0\.0\.1:\d+/)", text)
    assert match is not None, text
    with urllib.request.urlopen(match.group(1) + "_inbox", timeout=HANG_GUARD) as response:
        assert "No messages yet" in response.read().decode()
    _stop(proc)
