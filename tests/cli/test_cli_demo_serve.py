"""``pulse demo`` (its own server, in its own process) and ``pulse serve``."""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import threading
from typing import IO

from cli_helpers import HANG_GUARD, base_env, cli_command


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        cli_command(*args),
        env=base_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _rows(stdout: str) -> dict[str, int]:
    """The summary's ``label  number  note`` rows."""
    rows = {}
    for match in re.finditer(r"^  (\S.*?)\s{2,}([\d,]+)(?:\s|$)", stdout, re.MULTILINE):
        rows[match.group(1)] = int(match.group(2).replace(",", ""))
    return rows


def test_demo_fans_out_and_follows_every_message_to_a_final_status() -> None:
    proc = _run("demo", "--count", "100", "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no progress bar noise when stderr is not a terminal
    summary = json.loads(proc.stdout)
    assert summary["requested"] == 100
    assert summary["sent"] == 100
    assert summary["send_errors"] == 0
    # Every 50th message goes to a bouncing address, every 100th to a failing one.
    assert (summary["delivered"], summary["bounced"], summary["failed"]) == (97, 2, 1)
    assert summary["other_statuses"] == {}
    assert summary["retries"] == 0
    assert summary["on_server"] == 100
    assert summary["exactly_once"] is True
    assert summary["attempts"] >= 5 + 100 + 100  # users, sends, at least one poll each
    assert summary["throttled"] > 0  # the client's limiter paced the calls
    assert summary["server_rate_limited"] == 0
    assert summary["throughput_per_second"] > 0


def test_demo_with_faults_retries_and_still_sends_exactly_once() -> None:
    proc = _run("demo", "--count", "60", "--faults", "--seed", "3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "exactly 60 messages on the server for 60 requested" in out.splitlines()
    rows = _rows(out)
    assert rows["requested"] == 60
    assert rows["sent"] == 60
    assert rows["delivered"] + rows["bounced"] + rows["failed"] == 60
    assert rows["429s received"] == 8  # the burst injected halfway
    assert rows["retries taken"] >= 8
    assert rows["faults injected"] >= 8
    assert "idempotent replays" in rows
    assert "throughput" in rows


def _lines(stream: IO[str]) -> queue.Queue[str]:
    """Lines of ``stream`` as they come, read by a helper thread (so a wait can time out)."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_serve_runs_the_local_server_until_ctrl_c() -> None:
    usage = _run("serve", "--help")
    assert usage.returncode == 0
    assert "--fault" in usage.stdout
    assert "--port" in usage.stdout

    server = subprocess.Popen(
        cli_command("serve", "--port", "0", "--seed", "5"),
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        lines = _lines(server.stdout)
        printed: dict[str, str] = {}
        while "Press Ctrl-C" not in printed.get("last", ""):
            line = lines.get(timeout=HANG_GUARD)
            printed["last"] = line
            if ":" in line:
                label, _, value = line.partition(":")
                printed[label.strip()] = value.strip()
        root = printed["Pulse v2"].removesuffix("/v2")
        key = printed["editor key"]

        listed = subprocess.run(
            cli_command("users", "list", "--json", "--base-url", root),
            env=base_env(PULSE_API_KEY=key),
            capture_output=True,
            text=True,
            timeout=HANG_GUARD,
            check=False,
        )
        assert listed.returncode == 0, listed.stderr
        assert "editor@example.com" in listed.stdout

        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=HANG_GUARD)
    finally:
        server.kill()
        server.wait()
    assert server.returncode == 0
    assert "Traceback" not in stderr
