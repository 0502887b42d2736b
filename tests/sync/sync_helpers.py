"""Helpers for the sync tests that run Python in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from pulse_async.testing import ServerThread

ROOT = Path(__file__).resolve().parents[2]
#: A hang guard for child processes, never a performance threshold.
HANG_GUARD = 60.0


def child_env(server: ServerThread | None = None, **extra: str) -> dict[str, str]:
    """The environment for a child Python: the repo importable, the server's URL and key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("PYTHONWARNINGS", None)
    if server is not None:
        env["PULSE_API_KEY"] = server.admin_key
        env["PULSE_BASE_URL"] = server.url
    env.update(extra)
    return env


def write_script(source: str, directory: Path) -> Path:
    """Save ``source`` as a file, so that tracebacks show its lines."""
    path = directory / "script.py"
    path.write_text(textwrap.dedent(source))
    return path


def run_script(
    source: str,
    env: dict[str, str],
    directory: Path,
    *,
    warnings: tuple[str, ...] = ("error",),
) -> subprocess.CompletedProcess[str]:
    """Run ``source`` in a fresh interpreter with the given ``-W`` options; wait for it."""
    args = [sys.executable]
    for option in warnings:
        args += ["-W", option]
    return subprocess.run(
        [*args, str(write_script(source, directory))],
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
    )


def start_script(source: str, env: dict[str, str], directory: Path) -> subprocess.Popen[str]:
    """Start ``source`` in a fresh interpreter (``-W error``), with pipes for all three streams."""
    return subprocess.Popen(
        [sys.executable, "-W", "error", str(write_script(source, directory))],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
