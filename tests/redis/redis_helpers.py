"""Helpers of the Redis tests: a ``redis-server`` process, free ports, the quota runs."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DRIVER = HERE / "quota_driver.py"


def free_port() -> int:
    """A TCP port nothing listens on (now) on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique(prefix: str) -> str:
    """A name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class RedisServer:
    """A real ``redis-server`` on a loopback port, without persistence; kill and restart it.

    It fails the test loudly when ``redis-server`` is not installed: ``make test``
    installs it, and a silently skipped suite would prove nothing.
    """

    def __init__(
        self, workdir: Path, *, port: int | None = None, password: str | None = None
    ) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(
                "redis-server is not installed; `make test` installs it "
                "(apt-get install redis-server)",
                pytrace=False,
            )
        self.binary = binary
        self.workdir = workdir
        self.port = port or free_port()
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://`` URL of database 0, with the password if there is one."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and wait until it answers PING (at most 10 s)."""
        if self.process is not None:
            return
        args = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
            "--logfile", "",
        ]  # fmt: skip
        if self.password:
            args += ["--requirepass", self.password]
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.workdir
        )
        deadline = time.monotonic() + 10
        while not self._answers():
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not answer within 10 s")
            time.sleep(0.02)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                reply = sock.recv(64)
        except OSError:
            return False
        # +PONG, or -NOAUTH when a password is required: either way it is up.
        return reply.startswith((b"+PONG", b"-NOAUTH"))

    def kill(self) -> None:
        """SIGKILL: every connection drops, every key is gone (no persistence)."""
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.wait(10)

    stop = kill


class Drivers:
    """Worker processes sending through one shared limiter, started together.

    One driver process imports and connects, says it is ready, then forks the
    workers at the start time :meth:`start` sends it (a slow machine starting
    eight Pythons must not eat into the measured window).
    """

    def __init__(
        self,
        *,
        server_url: str,
        api_key: str,
        redis_url: str,
        name: str,
        per_minute: int,
        processes: int,
        duration: float,
        out_dir: Path,
        run_id: str,
        fallback_share: float | None = None,
    ) -> None:
        self.out_dir = out_dir
        self.processes = processes
        args = [
            sys.executable, "-W", "error", str(DRIVER), "--processes", str(processes),
            "--base-url", server_url, "--redis-url", redis_url, "--name", name,
            "--per-minute", str(per_minute), "--duration", str(duration),
            "--run-id", run_id, "--out-dir", str(out_dir),
        ]  # fmt: skip
        if fallback_share is not None:
            args += ["--fallback-share", str(fallback_share)]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PULSE_API_KEY": api_key}
        with (out_dir / "driver.log").open("w") as log:
            self.proc = subprocess.Popen(
                args,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )

    def start(self, delay: float = 0.5) -> float:
        """Wait until the driver is ready, then start every worker; the start (epoch seconds)."""
        assert self.proc.stdout is not None
        assert self.proc.stdin is not None
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", f"the driver failed to start: {self.driver_log()}"
        start_at = time.time() + delay
        self.proc.stdin.write(f"{start_at!r}\n")
        self.proc.stdin.close()
        return start_at

    def finish(self, timeout: float = 60) -> int:
        """Wait for the driver; its exit status."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._close_pipes()
        return self.proc.returncode

    def kill(self) -> None:
        """Kill the driver and its workers if they still run (after a failed test)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()

    def driver_log(self) -> str:
        """What the driver wrote to stderr."""
        return (self.out_dir / "driver.log").read_text()

    def log(self, index: int) -> str:
        """Worker ``index``'s log."""
        return (self.out_dir / f"p{index}.log").read_text()

    def counters(self, index: int) -> dict[str, Any]:
        """Worker ``index``'s client counters (attempts, retries, rate_limited, …)."""
        result: dict[str, Any] = json.loads((self.out_dir / f"p{index}.json").read_text())
        return result

    def outcomes(self) -> list[dict[str, Any]]:
        """Every outcome every worker recorded, one dict per send."""
        outcomes = []
        for path in sorted(self.out_dir.glob("p*.jsonl")):
            with path.open() as lines:
                outcomes.extend(json.loads(line) for line in lines if line.strip())
        return outcomes
