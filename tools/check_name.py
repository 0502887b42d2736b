"""Check, before a release, that our distribution name on the package index is still ours.

``python tools/check_name.py`` (``make check-name``) reads ``[project] name`` from
``pyproject.toml`` and asks the index with ``pip index versions NAME``:

- "No matching distribution": the name is free — exit 0;
- published: it downloads the newest wheel (``pip download --no-deps``) and looks inside. A
  wheel holding ``pulse_async/`` is one of ours — exit 0; anything else means someone else owns
  the name (as happened with ``pulse-sdk``) — exit 1, and do not release under it;
- the index could not be asked — exit 2.

``--pip`` names the pip command to run (the tests pass a stand-in; the default is this
interpreter's own pip).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FREE, OURS, TAKEN, UNKNOWN = 0, 0, 1, 2


def project_name(pyproject: Path) -> str:
    with pyproject.open("rb") as f:
        return str(tomllib.load(f)["project"]["name"])


def _run(pip: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*pip, *args, "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def check(name: str, pip: list[str]) -> tuple[int, str]:
    """``(exit status, one line saying why)`` for ``name``."""
    index = _run(pip, "index", "versions", name)
    output = index.stdout + index.stderr
    if index.returncode != 0:
        if "No matching distribution" in output:
            return FREE, f"{name}: free on the index"
        return UNKNOWN, f"{name}: could not ask the index: {output.strip()[-300:]}"
    with tempfile.TemporaryDirectory() as tmp:
        got = _run(pip, "download", "--no-deps", "--only-binary", ":all:", "-d", tmp, name)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if got.returncode != 0 or not wheels:
            return UNKNOWN, f"{name}: published, but its wheel could not be fetched to check it"
        with zipfile.ZipFile(wheels[0]) as wheel:
            ours = any(n.startswith("pulse_async/") for n in wheel.namelist())
    first_line = output.strip().splitlines()[0] if output.strip() else name
    if ours:
        return OURS, f"{name}: published by us ({first_line})"
    return TAKEN, (
        f"{name}: TAKEN by another project ({first_line}; no pulse_async inside). "
        "Pick a free name (pip index versions NAME) and rename before releasing."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--pip", default=f"{shlex.quote(sys.executable)} -m pip")
    args = parser.parse_args(argv)
    status, why = check(project_name(args.pyproject), shlex.split(args.pip))
    print(why)
    return status


if __name__ == "__main__":
    sys.exit(main())
