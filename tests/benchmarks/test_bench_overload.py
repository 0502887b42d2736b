"""The overload benchmark's smoke mode runs end to end: both modes, every concurrency."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_overload_smoke_reports_a_row_per_mode_and_concurrency() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.overload", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = [line.split("|") for line in done.stdout.splitlines() if line.startswith("| ")]
    runs = {(cells[1].strip(), cells[2].strip()) for cells in rows[1:]}
    assert runs == {(mode, c) for mode in ("virtual", "loopback") for c in ("8", "64", "512")}
    # No item of any run failed because of the client's own limiter (the column's target).
    assert all(cells[7].strip() == "0" for cells in rows[1:])
