"""A fresh virtual environment with ``pulse-messaging[testing]`` installed, made offline and fast.

1. Our wheel is built from this checkout (``pip wheel --no-build-isolation``: hatchling comes
   with the dev tools, so nothing is fetched).
2. Every distribution the ``testing`` extra needs, read from our wheel's metadata and followed
   transitively, is packed back into a wheel from what this test environment has installed
   (its files as listed in ``RECORD``, with the original ``WHEEL`` tags), into a wheelhouse.
3. A new venv (no system site-packages, nothing of this checkout on its path) gets
   ``pip install --no-index --find-links WHEELHOUSE 'pulse-messaging[testing]'``: pip resolves
   the extra for real, and only from what the wheelhouse holds — a dependency missing from the
   extra is a resolution failure, not a silent import from elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIP_TIMEOUT = 300  # a hang guard, not a performance threshold


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without pip's index settings, Python paths or PULSE variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "PULSE_", "PULSEWAVE_", "PYTHON", "COV_", "COVERAGE_"))
    }
    env.update(extra)
    return env


def _run(*argv: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
        check=False,
        cwd=cwd,
        env=clean_env(PIP_CONFIG_FILE=os.devnull, PIP_NO_INPUT="1"),
    )
    assert done.returncode == 0, f"{argv}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def repack(dist: importlib.metadata.Distribution, wheelhouse: Path) -> Path:
    """A wheel of an installed distribution, from its files, with its original tags."""
    wheel_text = dist.read_text("WHEEL") or ""
    tags = [
        line.split(":", 1)[1].strip() for line in wheel_text.splitlines() if line.startswith("Tag:")
    ]
    parts = [sorted({t.split("-")[i] for t in tags}) for i in range(3)]
    tag = "-".join(".".join(p) for p in parts)
    name = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    target = wheelhouse / f"{name}-{dist.version}-{tag}.whl"
    records = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        record_name = None
        for file in dist.files or []:
            rel = str(file)
            if rel.startswith("..") or "__pycache__" in file.parts or rel.endswith(".pyc"):
                continue  # scripts (pip makes them anew from entry_points.txt) and bytecode
            if file.name == "RECORD" and rel.endswith(".dist-info/RECORD"):
                record_name = rel
                continue
            if file.name in ("INSTALLER", "REQUESTED", "direct_url.json"):
                continue
            data = Path(file.locate()).read_bytes()
            zf.writestr(rel, data)
            records.append(f"{rel},{_record_hash(data)},{len(data)}")
        assert record_name is not None, dist.metadata["Name"]
        zf.writestr(record_name, "\n".join([*records, f"{record_name},,"]) + "\n")
    return target


def _closure(requirements: list[Requirement], extras: set[str]) -> set[str]:
    names: set[str] = set()
    todo = [(r, extras) for r in requirements]
    while todo:
        req, wanted = todo.pop()
        if req.marker is not None and not any(
            req.marker.evaluate({"extra": e}) for e in (wanted or {""})
        ):
            continue
        name = canonicalize_name(req.name)
        key = name + "".join(sorted(req.extras))
        if key in names:
            continue
        names.add(key)
        names.add(name)
        dist = importlib.metadata.distribution(name)
        todo.extend((Requirement(r), set(req.extras)) for r in dist.requires or [])
    return {n for n in names if n == canonicalize_name(n)}


def build(directory: Path, extra: str = "testing") -> Path:
    """The fresh venv's ``bin`` directory, with ``pulse-messaging[extra]`` installed."""
    wheelhouse = directory / "wheelhouse"
    wheelhouse.mkdir()
    _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--no-index", "-w", wheelhouse, ROOT,
    )  # fmt: skip
    (ours,) = wheelhouse.glob("pulse_messaging-*.whl")
    with zipfile.ZipFile(ours) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        requires = [
            Requirement(line.split(":", 1)[1].strip())
            for line in zf.read(meta).decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]
    for name in sorted(_closure(requires, {extra})):
        repack(importlib.metadata.distribution(name), wheelhouse)
    venv = directory / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    _run(base, "-m", "venv", "--without-pip", venv)
    _run(
        sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install",
        "--no-index", "--find-links", wheelhouse, "--no-cache-dir", "--quiet",
        f"pulse-messaging[{extra}]",
    )  # fmt: skip
    return venv / "bin"
