"""``python -m benchmarks.webhooks --smoke`` runs end to end (no thresholds: figures are noisy)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_webhook_benchmark_runs_in_smoke_mode() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.webhooks", "--smoke", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {row["implementation"]: row for row in json.loads(done.stdout)}
    assert set(rows) >= {"pulse_async Webhook.verify", "standardwebhooks Webhook.verify"}
    assert all(row["per_second"] > 0 for row in rows.values())
    assert rows["standardwebhooks Webhook.verify"]["vs_reference"] == 1.0
