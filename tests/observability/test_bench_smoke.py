"""``python -m benchmarks.observability --smoke`` runs every variant end to end (no thresholds)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_observability_benchmark_smoke() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.observability", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| observability: ")]
    names = [row.split("|")[1].strip() for row in rows]
    assert names == [
        "observability: absent",
        "observability: absent again",
        "observability: no provider",
        "observability: provider",
        "observability: raw",
        "observability: no provider, interleaved with absent in one process (20 pairs of 10 calls)",
    ]
