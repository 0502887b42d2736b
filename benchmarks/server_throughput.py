"""How fast is the local Pulse server on its hot path (``POST /v2/messages``)?

The server runs in a subprocess (``python -m pulse_async.testing``), pinned to
CPU 0 with ``taskset`` when available; this process drives it with a raw
aiohttp client at concurrency 64 (pinned to CPU 1 when there is one) and
reports requests per second and the server's CPU share (its utime + stime
from ``/proc/<pid>/stat`` over the wall time: near 100 % means the server is
the bottleneck, well below means the client is).

    python benchmarks/server_throughput.py            # 20,000 requests
    python benchmarks/server_throughput.py 50000 --concurrency 128
    python benchmarks/server_throughput.py --smoke    # a few hundred, exits 0
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

BODY = {"to": ["someone@example.com"], "subject": "Benchmark", "body": "Hello from the bench"}


def start_server() -> tuple[subprocess.Popen[str], str, str]:
    """Start the server subprocess; returns (process, Pulse v2 URL, admin key)."""
    command = [sys.executable, "-m", "pulse_async.testing", "--port", "0"]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    assert proc.stdout is not None
    url = key = ""
    for line in proc.stdout:
        if match := re.search(r"Pulse v2:\s+(\S+)", line):
            url = match.group(1)
        if match := re.search(r"admin key:\s+(\S+)", line):
            key = match.group(1)
        if "Press Ctrl-C" in line:
            break
    if not url or not key:
        proc.kill()
        raise SystemExit("the server did not start")
    return proc, url, key


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (Linux ``/proc``); 0.0 elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(url: str, key: str, total: int, concurrency: int) -> tuple[float, int]:
    """Send ``total`` POSTs with ``concurrency`` workers; returns (seconds, non-202 count)."""
    headers = {"Authorization": f"Bearer {key}"}
    remaining = total
    failures = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal remaining, failures
            while remaining > 0:
                remaining -= 1
                async with session.post(url + "/messages", json=BODY) as resp:
                    await resp.read()
                    if resp.status != 202:
                        failures += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requests", nargs="?", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks it works")
    args = parser.parse_args()
    total = 300 if args.smoke else args.requests
    warmup = 50 if args.smoke else 1_000
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    proc, url, key = start_server()
    try:
        with runner:
            runner.run(drive(url, key, warmup, args.concurrency))
            cpu_before = cpu_seconds(proc.pid)
            elapsed, failures = runner.run(drive(url, key, total, args.concurrency))
            cpu_used = cpu_seconds(proc.pid) - cpu_before
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    print(f"POST /v2/messages: {total} requests, concurrency {args.concurrency}")
    print(f"  {total / elapsed:,.0f} requests/second ({elapsed:.2f} s)")
    print(f"  server CPU: {cpu_used:.2f} s = {100 * cpu_used / elapsed:.0f} % of one core")
    if failures:
        print(f"  {failures} answers were not 202", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
