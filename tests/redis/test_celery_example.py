"""The Celery example with real workers: a real broker, prefork children, the local server.

``examples/celery_scheduled`` runs as users would run it: ``celery -A tasks
worker --pool=prefork`` as a subprocess, Redis as broker, result backend and
shared limiter, and ``enqueue.py`` to enqueue. Whatever happens to a batch —
enqueued three times at once, its worker killed halfway — the server's ledger
holds exactly one message per item.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis_helpers import ROOT, RedisServer, unique

from pulse_async.testing import PulseServer, ServerThread

EXAMPLE = ROOT / "examples" / "celery_scheduled"
CELERY = Path(sys.executable).parent / "celery"


class Worker:
    """``celery -A tasks worker --pool=prefork --concurrency=2`` in the example's directory."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [
                    str(CELERY), "-A", "tasks", "worker", "--pool=prefork", "--concurrency=2",
                    "--loglevel=INFO", "--without-gossip", "--without-mingle",
                    "--without-heartbeat", "-n", f"{unique('pulse-test')}@%h",
                ],
                cwd=EXAMPLE, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 90
        while " ready." not in self.log():
            assert self.proc.poll() is None, f"the worker exited:\n{self.log()}"
            assert time.monotonic() < deadline, f"the worker never got ready:\n{self.log()}"
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text()

    def children(self) -> list[int]:
        """The prefork children's pids (from /proc: their parent is the worker)."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                pids.append(int(stat.parent.name))
        return pids

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # warm shutdown
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                for pid in self.children():
                    os.kill(pid, signal.SIGKILL)
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def pulse() -> Iterator[ServerThread]:
    with PulseServer().start_in_thread() as server:
        yield server


@pytest.fixture(scope="module")
def example_env(pulse: ServerThread, redis_server: RedisServer) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PULSE_API_KEY": pulse.create_key(role="editor"),
        "PULSE_BASE_URL": pulse.v2_url,
        "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/3",
        "PULSE_RATE_LIMIT_NAME": unique("celery"),
        "PULSE_PER_MINUTE": "1200",
    }


@pytest.fixture(scope="module")
def worker(
    example_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    running = Worker(example_env, tmp_path_factory.mktemp("celery") / "worker.log")
    try:
        yield running
    finally:
        running.stop()


def enqueue(env: dict[str, str], *args: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "enqueue.py", *args],
        cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def keys_of(pulse: ServerThread, batch_id: str) -> Counter[str | None]:
    return Counter(
        e.idempotency_key
        for e in pulse.ledger.of_kind("message.created")
        if e.idempotency_key is not None and e.idempotency_key.startswith(f"{batch_id}:")
    )


@pytest.mark.slow
def test_a_batch_enqueued_three_times_sends_each_message_once(
    pulse: ServerThread, worker: Worker, example_env: dict[str, str]
) -> None:
    batch_id = unique("digest")
    # A fixed time of the batch: every run must ask for exactly the same messages.
    send_at = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0).isoformat()
    results = enqueue(
        example_env, "--batch-id", batch_id, "--count", "20", "--times", "3", "--wait",
        "--send-at", send_at,
    )  # fmt: skip
    # Every run reports the whole batch as sent: the repeats got the first run's receipts.
    assert results == [{"batch_id": batch_id, "sent": 20, "failed": {}}] * 3
    assert keys_of(pulse, batch_id) == Counter({f"{batch_id}:{i}": 1 for i in range(20)})


@pytest.mark.slow
def test_a_worker_killed_halfway_re_runs_the_batch_without_duplicates(
    pulse: ServerThread, worker: Worker, example_env: dict[str, str]
) -> None:
    batch_id = unique("killed")
    count = 60
    enqueue(example_env, "--batch-id", batch_id, "--count", str(count))
    deadline = time.monotonic() + 60
    while sum(keys_of(pulse, batch_id).values()) < count // 4:
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.05)
    for pid in worker.children():
        os.kill(pid, signal.SIGKILL)  # mid-batch: the task's message was never acknowledged
    sent_before = sum(keys_of(pulse, batch_id).values())
    assert sent_before < count

    deadline = time.monotonic() + 90
    while f"batch {batch_id}: {count} sent" not in worker.log():
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.1)
    assert "WorkerLostError" in worker.log() or "exited with" in worker.log()
    # Re-delivered and re-run from the start: the first part replayed, the rest sent once.
    assert keys_of(pulse, batch_id) == Counter({f"{batch_id}:{i}": 1 for i in range(count)})
