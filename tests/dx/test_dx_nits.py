"""Issue 18's nits: ``pulse serve``'s export line, the README's cancel step, ``pulse demo``'s
wording, ``PULSEWAVE_API_KEY`` before ``PULSE_API_KEY``, and ``list(cursor=...)``.

The CLI runs as a user runs it: real processes, ``pulse serve`` among them, on loopback.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from pulse_async import AsyncPulse, AsyncPulsewave
from pulse_async._cli._demo import _print_summary
from pulse_async._core._options import resolve_options
from pulse_async.testing import ServerThread
from pulse_sync import Pulse

HANG_GUARD = 60.0  # never a performance threshold


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "PULSEWAVE_"))}
    env.update(extra)
    return env


def pulse(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-m", "pulse_async._cli", *args],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
        env=env,
    )


@pytest.fixture
def served() -> Iterator[tuple[dict[str, str], list[str]]]:
    """``pulse serve --port 0 --step-delay 60`` running; the env its export line sets."""
    process = subprocess.Popen(
        [sys.executable, "-W", "error", "-m", "pulse_async._cli", "serve", "--port", "0",
         "--step-delay", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines: list[str] = []
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C"):
                break
        exports = [line.strip() for line in lines if line.strip().startswith("export ")]
        assert len(exports) == 1, lines
        # Exactly what a user pastes: parse it the way a POSIX shell would.
        words = shlex.split(exports[0])
        assert words[0] == "export"
        pasted = dict(word.split("=", 1) for word in words[1:])
        assert set(pasted) == {"PULSE_BASE_URL", "PULSE_API_KEY"}
        yield _env(**pasted), lines
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=HANG_GUARD)
    assert process.returncode == 0


def test_serve_prints_an_export_line_and_the_readme_cancel_step_works(
    served: tuple[dict[str, str], list[str]],
) -> None:
    env, lines = served
    assert any(env["PULSE_API_KEY"] in line and "admin key" in line for line in lines)
    users = pulse("users", "list", "--json", env=env)
    assert users.returncode == 0, users.stderr
    sent = pulse(
        "pulsewave", "send", "--channel", "sms", "--to", "+14155550123", "--from", "Pulse",
        "--text", "Your code is 1234", "--json", env=env,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    message_id = json.loads(sent.stdout)["id"]
    cancelled = pulse("pulsewave", "cancel", message_id, "--json", env=env)
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout)["status"] == "cancelled"


def test_pulsewave_key_is_read_before_pulse_key(served: tuple[dict[str, str], list[str]]) -> None:
    env, _ = served
    admin = env["PULSE_API_KEY"]
    both = {**env, "PULSE_API_KEY": "pw_test_not-a-key", "PULSEWAVE_API_KEY": admin}
    sent = pulse(
        "pulsewave", "send", "--channel", "push", "--to", "device-token", "--from", "app",
        "--text", "hi", "--json", env=both,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    # Pulse v2 commands still use PULSE_API_KEY (here, a key the server does not know).
    refused = pulse("users", "list", env=both)
    assert refused.returncode == 1
    assert "unauthorized" in refused.stderr
    assert "pw_test_not-a-key" not in refused.stderr + refused.stdout
    # The SDK's clients read the same variables in the same order.
    env_map = {"PULSE_API_KEY": "pw_test_pulse", "PULSEWAVE_API_KEY": "pw_test_wave"}
    for cls, expected in ((AsyncPulse, "pw_test_pulse"), (AsyncPulsewave, "pw_test_wave")):
        options = resolve_options(
            api_key=None,
            base_url="http://127.0.0.1:9",
            default_base_url=cls._default_base_url,
            env_api_key=cls._env_api_key,
            environ=env_map,
        )
        assert options.api_key == expected


def _summary(per_minute: float | None) -> dict[str, Any]:
    return {
        "requested": 10, "sent": 10, "send_errors": 0, "delivered": 10, "bounced": 0,
        "failed": 0, "other_statuses": {}, "retries": 0, "rate_limited": 0, "throttled": 7,
        "attempts": 20, "server_rate_limited": 0, "rate_limit_per_minute": per_minute,
        "faults_injected": {}, "idempotent_replays": 0, "on_server": 10,
        "duplicate_idempotency_keys": 0, "exactly_once": True, "send_seconds": 0.5,
        "throughput_per_second": 20.0, "total_seconds": 1.0,
    }  # fmt: skip


@pytest.mark.parametrize("per_minute", [600.0, None])
def test_demo_reports_what_it_measured(per_minute: float | None) -> None:
    out = io.StringIO()
    _print_summary(_summary(per_minute), [], lambda text="": out.write(text + "\n"))
    text = out.getvalue()
    assert "avoided" not in text
    throughput = next(line for line in text.splitlines() if "throughput" in line)
    if per_minute is None:
        assert "capped" not in throughput
        assert "held back" not in text
    else:
        assert "capped by this demo's own rate limit, 600/min = 10/s" in throughput
        assert "held back" in text


async def test_list_cursor_resumes_a_listing(pulse_client: AsyncPulse) -> None:
    for i in range(5):
        await pulse_client.users.create(email=f"u{i}@example.com", role="viewer")
    everyone = [u.id async for u in pulse_client.users.list(limit=2)]
    first = await pulse_client.users.list(limit=2).fetch_page()
    assert first.next_cursor is not None
    rest = [u.id async for u in pulse_client.users.list(limit=2, cursor=first.next_cursor)]
    assert [u.id for u in first.data] + rest == everyone
    assert len(everyone) >= 5


def test_list_cursor_resumes_a_sync_listing(pulse_server_thread: ServerThread) -> None:
    server = pulse_server_thread
    with Pulse(server.admin_key, base_url=server.url) as client:
        for i in range(3):
            client.users.create(email=f"s{i}@example.com", role="viewer")
        first = client.users.list(limit=1).fetch_page()
        assert first.next_cursor is not None
        rest = [u.id for u in client.users.list(limit=1, cursor=first.next_cursor)]
        assert [u.id for u in first.data] + rest == [u.id for u in client.users.list(limit=2)]
