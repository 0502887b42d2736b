"""Quota sharing: how much of one plan N worker processes use, and how many 429s they get.

For 2, 4 and 8 processes against the local Pulse server (its key limited to
``--per-minute``), each process an ``AsyncPulse`` sending as fast as its
limiter allows for ``--duration`` seconds:

- ``redis``: every process has a ``RedisRateLimiter`` on one name (one shared quota);
- ``local``: the naive set-up — every process has its own ``LocalRateLimiter`` at the
  full plan (``rate_limit=per_minute``), which is what you get without sharing.

Utilisation is what the *server* accepted inside the window (its ledger's
timestamps) over the plan's share of that window. The server's bucket starts
full (it allows a burst of one minute's quota), so the naive set-up can show
more than 100 % for a while — and then the 429s. ::

    python benchmarks/quota_sharing.py                   # 600/min, 20 s per run
    python benchmarks/quota_sharing.py --processes 8 --duration 30
    python benchmarks/quota_sharing.py --smoke           # a tiny run, exits 0

Needs ``redis-server`` on PATH (a throwaway one is started on a free port), or
``--redis-url`` to use yours (a bucket with a fresh name per run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pulse_async import (  # noqa: E402 - after the path fix above
    AsyncPulse,
    PulseError,
    RedisRateLimiter,
)
from pulse_async._limiter import LocalRateLimiter, RateLimiter  # noqa: E402

# --- the worker side: one process that forks N senders ---------------------------------------


def _make_limiter(args: argparse.Namespace) -> RateLimiter:
    if args.mode == "redis":
        return RedisRateLimiter(
            args.redis_url,
            name=args.name,
            per_minute=args.per_minute,
            fallback_share=1 / args.processes,
        )
    return LocalRateLimiter(args.per_minute)


async def _send_until(args: argparse.Namespace, limiter: RateLimiter, start_at: float) -> None:
    deadline = start_at + args.duration
    async with AsyncPulse(base_url=args.base_url, rate_limit=limiter) as pulse:
        await asyncio.sleep(max(0.0, start_at - time.time()))

        async def caller() -> None:
            while time.time() < deadline:
                # A failure (a 429 past its retries) is counted by the server.
                with contextlib.suppress(PulseError):
                    await pulse.messages.send(to=["bench@example.com"], subject="q", body="q")

        await asyncio.gather(*(caller() for _ in range(args.concurrency)))
    await limiter.aclose()


def worker(args: argparse.Namespace) -> int:
    """Build the limiter, say ``ready``, read the start time, fork the senders, wait."""
    limiter = _make_limiter(args)
    print("ready", flush=True)
    start_at = float(sys.stdin.readline())
    pids = []
    for _ in range(args.processes):
        pid = os.fork()
        if pid == 0:
            try:
                asyncio.run(_send_until(args, limiter, start_at))
            except BaseException:
                os._exit(1)
            os._exit(0)
        pids.append(pid)
    failed = sum(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0 for pid in pids)
    return 1 if failed else 0


# --- the measuring side --------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Redis:
    """A throwaway redis-server (no persistence) on a free loopback port."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed: install it or pass --redis-url")
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(workdir), "--logfile", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit("redis-server did not start") from None
                time.sleep(0.02)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def measure(
    *, mode: str, processes: int, per_minute: int, duration: float, redis_url: str
) -> dict[str, Any]:
    """One run on a fresh server: accepted in the window, utilisation, 429s."""
    from pulse_async.testing import PulseServer

    with PulseServer().start_in_thread() as server:
        api_key = server.create_key(role="editor", rate_limit=per_minute)
        proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", "--mode", mode, "--processes", str(processes),
             "--per-minute", str(per_minute), "--duration", str(duration),
             "--base-url", server.url, "--redis-url", redis_url,
             "--name", f"bench-{uuid.uuid4().hex[:8]}"],
            env={**os.environ, "PULSE_API_KEY": api_key},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdin is not None
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            proc.kill()
            raise SystemExit("a benchmark worker failed to start")
        start_at = time.time() + 0.5
        proc.stdin.write(f"{start_at!r}\n")
        proc.stdin.close()
        status = proc.wait(duration + 120)
        proc.stdout.close()
        if status != 0:
            raise SystemExit(f"a benchmark worker failed (exit {status})")
        accepted = sum(
            1
            for e in server.ledger.of_kind("message.created")
            if start_at <= e.timestamp < start_at + duration
        )
        rate_limited = server.stats.rate_limited
    quota = per_minute * duration / 60
    return {
        "processes": processes,
        "limiter": mode,
        "accepted": accepted,
        "quota": quota,
        "utilisation": accepted / quota,
        "rate_limited": rate_limited,
    }


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table."""
    names = {"redis": "RedisRateLimiter (shared)", "local": "LocalRateLimiter (each full plan)"}
    lines = [
        "| processes | limiter | accepted | plan allows | utilisation | 429s |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['processes']} | {names[r['limiter']]} | {r['accepted']} | {r['quota']:g} "
            f"| {r['utilisation']:.1%} | {r['rate_limited']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", default="2,4,8", help="comma-separated counts")
    parser.add_argument("--per-minute", type=int, default=600)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--redis-url", default=None, help="default: start a redis-server")
    parser.add_argument("--no-baseline", action="store_true", help="skip the naive runs")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    parser.add_argument(
        "--smoke", action="store_true", help="2 processes, 1 s, no baseline: a quick check"
    )
    # The worker side (internal).
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("redis", "local"), help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--name", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.processes = int(args.processes)
        return worker(args)

    counts = [2] if args.smoke else [int(n) for n in args.processes.split(",")]
    duration = 1.0 if args.smoke else args.duration
    modes = ["redis"] if args.no_baseline or args.smoke else ["redis", "local"]
    with tempfile.TemporaryDirectory() as workdir:
        redis = None if args.redis_url else _Redis(Path(workdir))
        redis_url = args.redis_url or (redis.url if redis else "")
        try:
            rows = []
            for count in counts:
                for mode in modes:
                    row = measure(
                        mode=mode,
                        processes=count,
                        per_minute=args.per_minute,
                        duration=duration,
                        redis_url=redis_url,
                    )
                    rows.append(row)
                    print(
                        f"{count} processes, {mode}: {row['accepted']} accepted, "
                        f"{row['utilisation']:.1%}, {row['rate_limited']} × 429",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            if redis is not None:
                redis.stop()
    print(f"Quota sharing: {args.per_minute}/min plan, {duration:g} s per run\n")
    print(table(rows))
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
