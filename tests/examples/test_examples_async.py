"""The examples run for real against the local server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from pulse_async.testing import PulseServer, ServerThread

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))

import web_backend  # noqa: E402 - the example is a script, not a package


async def test_web_backend_fans_out_to_every_recipient() -> None:
    async with PulseServer() as pulse_server:
        app = web_backend.make_app(api_key=pulse_server.admin_key, base_url=pulse_server.v2_url)
        async with TestClient(TestServer(app, host="127.0.0.1")) as http:
            recipients = [f"fan{n}@example.com" for n in range(60)] + ["not-an-email"]
            response = await http.post(
                "/announce", json={"to": recipients, "subject": "Launch", "body": "We are live"}
            )
            assert response.status == 200
            summary = await response.json()
    assert summary["sent"] == 60
    assert summary["failed"] == 1
    assert summary["results"][-1] == {
        "to": "not-an-email",
        "error": "validation_failed",
        "field": "to",
    }
    assert [r["to"] for r in summary["results"]] == recipients
    assert len(pulse_server.ledger.of_kind("message.created")) == 60


@pytest.fixture
def threaded_server() -> Iterator[ServerThread]:
    with PulseServer().start_in_thread() as handle:
        yield handle


def test_scheduled_worker_killed_halfway_and_rerun_sends_each_item_once(
    threaded_server: ServerThread,
) -> None:
    count = 120
    send_at = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0).isoformat()
    env = {
        **os.environ,
        "PULSE_API_KEY": threaded_server.admin_key,
        "PULSE_BASE_URL": threaded_server.url,
    }
    command = [
        sys.executable,
        str(ROOT / "examples" / "scheduled_worker.py"),
        "--batch-id",
        "digest-W46",
        "--send-at",
        send_at,
        "--count",
        str(count),
        "--concurrency",
        "2",
    ]
    # Slow the server down so that the kill lands halfway through the batch.
    rule = threaded_server.faults.add("latency", route="POST /v2/messages", delay=0.02)

    def created() -> int:
        return len(threaded_server.ledger.of_kind("message.created"))

    worker = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    hang_guard = time.monotonic() + 60
    while created() < count // 3 and time.monotonic() < hang_guard:
        time.sleep(0.01)
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    halfway = created()
    assert count // 3 <= halfway < count

    threaded_server.faults.remove(rule)
    rerun = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.count("sent ") == count
    entries = threaded_server.ledger.of_kind("message.created")
    assert len(entries) == count
    assert sorted(e.idempotency_key for e in entries) == sorted(
        f"digest-W46:{n}" for n in range(count)
    )
    assert not threaded_server.ledger.duplicate_idempotency_keys()
