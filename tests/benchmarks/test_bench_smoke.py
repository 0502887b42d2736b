"""The benchmark suite's smoke mode: every workload runs end to end (no thresholds)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: The start of one results-table row per workload.
WORKLOAD_ROWS = (
    "| async fan-out,",
    "| sync, 20 sequential calls",
    "| sync, 40 calls from 8 threads",
    "| pagination,",
    "| structuring ",
    "| profile:",
    "| peers:",
    "| import time",
    "| retry/limiter success path,",
    "| send_many,",
    "| other scripts",
)


@pytest.mark.slow
def test_smoke_mode_runs_every_workload(tmp_path: Path) -> None:
    output = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for start in WORKLOAD_ROWS:
        assert any(line.startswith(start) for line in done.stdout.splitlines()), start
    assert "FAILED" not in done.stdout
    assert "| workload | comparison | measured | target | met? |" in done.stdout  # the targets
    assert output.read_text().startswith("# Benchmark results")
    # Smoke mode never touches the committed results.
    assert str(ROOT / "benchmarks" / "RESULTS.md") not in done.stdout
