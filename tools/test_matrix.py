"""``make test-matrix``: the test suite, without coverage, on every Python 3.11+ on this machine.

Interpreters are found without assuming any tool: ``python3.N`` on ``PATH``,
the usual system folders, and the installs of pyenv (``pyenv root``,
``$PYENV_ROOT``, ``~/.pyenv``), asdf and uv when present. Each one is asked
its version; one interpreter per minor version runs the suite (the newest
patch release found), each in its own virtualenv ``.venv-matrix/pyX.Y``
with the ``dev`` extra installed (again only when ``pyproject.toml``
changed). ``MATRIX=3.12,3.13`` limits the run to those minor versions.

Prints one line per version with its outcome and time, and exits non-zero
if any failed. Standard library only: it runs before any virtualenv exists.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENVS = ROOT / ".venv-matrix"
MINIMUM = (3, 11)


def _candidates() -> list[str]:
    found: list[str] = []
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        found += glob.glob(os.path.join(folder, "python3.[0-9]*"))
    found += glob.glob("/usr/bin/python3.[0-9]*") + glob.glob("/usr/local/bin/python3.[0-9]*")
    roots = {os.environ.get("PYENV_ROOT", ""), os.path.expanduser("~/.pyenv")}
    pyenv = shutil.which("pyenv")
    if pyenv:
        done = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        roots.add(done.stdout.strip())
    for root in filter(None, roots):
        found += glob.glob(os.path.join(root, "versions", "*", "bin", "python3"))
    found += glob.glob(os.path.expanduser("~/.asdf/installs/python/*/bin/python3"))
    found += glob.glob(os.path.expanduser("~/.local/share/uv/python/*/bin/python3"))
    return [f for f in found if not f.endswith("-config") and os.access(f, os.X_OK)]


def _version(python: str) -> tuple[int, int, int] | None:
    try:
        done = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = done.stdout.split()
    if done.returncode != 0 or len(parts) != 3:
        return None
    major, minor, micro = (int(p) for p in parts)
    return major, minor, micro


def find_pythons() -> dict[tuple[int, int], tuple[tuple[int, int, int], str]]:
    """The newest interpreter of each minor version >= 3.11: {(3, 12): ((3, 12, 1), path)}."""
    best: dict[tuple[int, int], tuple[tuple[int, int, int], str]] = {}
    seen: set[str] = set()
    for python in _candidates():
        real = os.path.realpath(python)
        if real in seen:
            continue
        seen.add(real)
        version = _version(real)
        if version is None or version[:2] < MINIMUM:
            continue
        key = version[:2]
        if key not in best or version > best[key][0]:
            best[key] = (version, real)
    return dict(sorted(best.items()))


def _venv(minor: tuple[int, int], python: str) -> Path:
    venv = VENVS / f"py{minor[0]}.{minor[1]}"
    stamp = venv / ".installed-dev"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest() + python
    if stamp.exists() and stamp.read_text() == wanted:
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[dev]"], check=True, cwd=ROOT)
    stamp.write_text(wanted)
    return venv


def main() -> int:
    pythons = find_pythons()
    only = {v.strip() for v in os.environ.get("MATRIX", "").split(",") if v.strip()}
    if only:
        pythons = {k: v for k, v in pythons.items() if f"{k[0]}.{k[1]}" in only}
    if not pythons:
        print("test-matrix: no Python 3.11 or newer found", file=sys.stderr)
        return 1
    listed = ", ".join(f"{'.'.join(map(str, v))} ({p})" for v, p in pythons.values())
    print(f"test-matrix: {listed}", flush=True)
    results: list[tuple[str, int, float]] = []
    for minor, (version, python) in pythons.items():
        name = ".".join(map(str, version))
        started = time.monotonic()
        try:
            venv = _venv(minor, python)
        except subprocess.CalledProcessError as exc:
            results.append((name, exc.returncode or 1, time.monotonic() - started))
            print(f"test-matrix: Python {name}: installing the dev extra failed", flush=True)
            continue
        print(f"test-matrix: Python {name}: running the suite", flush=True)
        done = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pytest", "-q"],
            cwd=ROOT,
            check=False,
        )
        results.append((name, done.returncode, time.monotonic() - started))
    print()
    for name, code, seconds in results:
        outcome = "passed" if code == 0 else f"FAILED (exit {code})"
        print(f"test-matrix: Python {name}: {outcome} in {seconds / 60:.1f} min")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
