"""Both JSON back-ends read and write the same: orjson (the ``speedups`` extra, which the
dev environment installs, so the suite runs on it) and the standard library (what a user
without the extra gets, chosen with ``PULSE_JSON=stdlib``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pulse_async._core import _http

ROOT = Path(__file__).resolve().parents[2]


def test_the_suite_runs_on_orjson_when_it_is_installed() -> None:
    assert _http.JSON_LIBRARY == "orjson"
    assert _http.encode_json({"to": ["ä"], "n": 1}) == '{"to":["ä"],"n":1}'.encode()


def test_the_json_tests_pass_on_the_standard_library_too() -> None:
    env = {**os.environ, "PULSE_JSON": "stdlib"}
    check = subprocess.run(
        [sys.executable, "-c", "from pulse_async._core import _http; print(_http.JSON_LIBRARY)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stdout.strip() == "stdlib"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/core/test_core_http.py",
            "tests/hardening/test_hardening_decipher.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout
