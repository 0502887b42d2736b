"""Issue 18, item 1: the distribution name is ours, used everywhere, re-checked before a release.

``pulse-sdk`` on PyPI is another vendor's library. These tests hold the rename together (one
name in pyproject, the installed metadata, the User-Agent, the extras hints and ``--version``)
and drive ``tools/check_name.py`` through its three answers with a stand-in ``pip`` (the
suite talks to no index).
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

from pulse_async._core._http import user_agent
from pulse_async._version import DISTRIBUTION, __version__

ROOT = Path(__file__).resolve().parents[2]


def test_the_distribution_is_not_pulse_sdk_and_is_named_once() -> None:
    with (ROOT / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    assert project["name"] == DISTRIBUTION
    assert DISTRIBUTION != "pulse-sdk"
    # The installed metadata carries the name (the editable install of this checkout).
    assert importlib.metadata.version(DISTRIBUTION) == __version__
    assert user_agent("3.14.5").startswith(f"{DISTRIBUTION}/{__version__} ")


def test_no_install_hint_names_the_strangers_package() -> None:
    """Every ``pip install`` the README, the CHANGELOG or the code prints names our distribution."""
    offenders = []
    for path in [ROOT / "README.md", ROOT / "CHANGELOG.md", *ROOT.glob("pulse_*/**/*.py")]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"pip install\s+['\"]?pulse-sdk", line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def _fake_pip(tmp_path: Path, *, index_out: str, index_rc: int, wheel_files: list[str]) -> str:
    """A stand-in for ``python -m pip`` answering ``index versions`` and ``download``."""
    wheel = tmp_path / "thing-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name in wheel_files:
            zf.writestr(name, "")
    script = tmp_path / "fake_pip.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import shutil, sys
            args = sys.argv[1:]
            if args[:2] == ["index", "versions"]:
                sys.stdout.write({index_out!r})
                sys.exit({index_rc})
            if args[0] == "download":
                shutil.copy({str(wheel)!r}, args[args.index("-d") + 1])
                sys.exit(0)
            sys.exit(3)
            """
        )
    )
    return f"{sys.executable} {script}"


@pytest.mark.parametrize(
    ("index_out", "index_rc", "wheel_files", "status", "says"),
    [
        ("ERROR: No matching distribution found for x\n", 1, [], 0, "free on the index"),
        ("x (0.5.0)\nAvailable versions: 0.5.0\n", 0, ["pulse/__init__.py"], 1, "TAKEN"),
        ("x (0.2.0)\nAvailable versions: 0.2.0\n", 0, ["pulse_async/__init__.py"], 0, "by us"),
        ("ERROR: Could not fetch URL: connection refused\n", 1, [], 2, "could not ask"),
    ],
    ids=["free", "taken-by-a-stranger", "ours", "index-unreachable"],
)
def test_check_name_tells_free_ours_and_taken_apart(
    tmp_path: Path, index_out: str, index_rc: int, wheel_files: list[str], status: int, says: str
) -> None:
    pip = _fake_pip(tmp_path, index_out=index_out, index_rc=index_rc, wheel_files=wheel_files)
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "check_name.py"), "--pip", pip],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == status, done.stdout + done.stderr
    assert done.stdout.startswith(f"{DISTRIBUTION}: ")
    assert says in done.stdout


def test_make_check_name_runs_the_checker() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "check-name:" in makefile
    assert "tools/check_name.py" in makefile
