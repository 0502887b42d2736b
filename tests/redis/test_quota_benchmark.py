"""``benchmarks/quota_sharing.py --smoke`` runs end to end and prints its table."""

from __future__ import annotations

import subprocess
import sys

from redis_helpers import ROOT


def test_the_quota_sharing_benchmark_smoke_run() -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / "benchmarks" / "quota_sharing.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "| 2 | RedisRateLimiter (shared) |" in done.stdout
