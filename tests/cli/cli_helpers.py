"""Helpers of the ``pulse`` command tests: run the CLI in a subprocess, read what it printed.

Every CLI test runs ``python -m pulse_async._cli`` in a child process, the way a
user runs ``pulse``: argument parsing, exit statuses, what reaches stdout and
stderr, and Ctrl-C are only real there. The server runs in this process (a
thread) so the tests can look at its ledger and stats and step its clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import attrs

from pulse_async.testing import ServerThread

#: A guard against a hung child, never a performance threshold.
HANG_GUARD = 60.0

#: Lines that mean something went wrong in the child even if its exit status looks fine.
_NEVER_ON_STDERR = ("Traceback (most recent call last)", "Exception ignored", "Task was destroyed")


@attrs.frozen
class Result:
    """What one ``pulse`` run left behind."""

    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """Stdout as the one JSON document ``--json`` promises."""
        return json.loads(self.stdout)


def cli_command(*args: str) -> list[str]:
    """The argv of ``pulse ARGS…`` (warnings are errors in the child too)."""
    return [sys.executable, "-W", "error", "-m", "pulse_async._cli", *args]


def base_env(**extra: str) -> dict[str, str]:
    """This environment without any ``PULSE*`` variable of the developer's shell, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "PULSEWAVE_"))}
    env.update(extra)
    return env


class Cli:
    """Runs ``pulse`` against one server, with its admin key unless told otherwise."""

    def __init__(self, server: ServerThread) -> None:
        self.server = server
        self.key = server.admin_key

    def env(self, key: str | None = "default", **extra: str) -> dict[str, str]:
        settings = {"PULSE_BASE_URL": self.server.url}
        if key == "default":
            settings["PULSE_API_KEY"] = self.key
        elif key is not None:
            settings["PULSE_API_KEY"] = key
        settings.update(extra)
        return base_env(**settings)

    def start(
        self,
        *args: str,
        key: str | None = "default",
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Pending:
        """Start ``pulse ARGS…`` and return at once: independent runs can overlap."""
        proc = subprocess.Popen(
            cli_command(*args),
            env=dict(env) if env is not None else self.env(key),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return Pending(proc, stdin or "")

    def run(
        self,
        *args: str,
        key: str | None = "default",
        expect: int | None = 0,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Result:
        """Run ``pulse ARGS…``; check the exit status (``expect=None``: any)."""
        return self.start(*args, key=key, stdin=stdin, env=env).result(expect)


class Pending:
    """A ``pulse`` run under way."""

    def __init__(self, proc: subprocess.Popen[str], stdin: str) -> None:
        self._proc = proc
        self._stdin = stdin

    def result(self, expect: int | None = 0) -> Result:
        """Wait for it; check the exit status (``expect=None``: any) and stderr's hygiene."""
        try:
            stdout, stderr = self._proc.communicate(self._stdin, timeout=HANG_GUARD)
        finally:
            self._proc.kill()
            self._proc.wait()
        result = Result(self._proc.returncode, stdout, stderr)
        if expect is not None:
            assert result.returncode == expect, result
        for marker in _NEVER_ON_STDERR:
            assert marker not in result.stderr, result
        return result
