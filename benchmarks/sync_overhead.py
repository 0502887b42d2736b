"""What the sync facade's loop crossing costs, as ratios measured side by side in one run.

Starts the local Pulse server in a subprocess, then, for each event loop
(asyncio, uvloop), a worker process that measures in interleaved rounds:

- ``async seq``   — one ``AsyncPulse``, sequential ``await`` calls, on the caller's loop;
- ``sync seq``    — one ``pulse_sync.Pulse``, sequential blocking calls;
- ``raw fan-out`` — bare aiohttp, one session, ``--threads`` concurrent workers;
- ``sync threads``— ``--threads`` threads sharing one ``pulse_sync.Pulse``.

Each call is ``GET /v2/users?limit=1``. Throughputs are medians of the rounds;
each ratio is the median of per-round ratios (the four scenarios of a round run
back to back, so a busy machine slows both sides of a ratio alike). The ratios
are what we hold ourselves to (targets, issue 16: sync seq ≥ 0.90 × async
seq; sync threads ≥ 0.65 × raw fan-out, on the same loop kind). ``make bench``
measures the same pairs on the reference server (its sync rows); this script
is the quick look on the stateful server::

    .venv/bin/python benchmarks/sync_overhead.py              # 7 rounds of 1,000 calls
    .venv/bin/python benchmarks/sync_overhead.py --smoke      # a few calls, one round
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOOPS = ("asyncio", "uvloop")
TARGETS = {
    ("seq", "asyncio"): 0.90,
    ("seq", "uvloop"): 0.90,
    ("threads", "asyncio"): 0.65,
    ("threads", "uvloop"): 0.65,
}


# --- the worker: one process per event-loop kind ----------------------------------------------


def _loop_factory(kind: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def _async_seq(url: str, key: str, calls: int, kind: str) -> float:
    from pulse_async import AsyncPulse

    async def main() -> float:
        async with AsyncPulse(key, base_url=url) as pulse:
            await pulse.users.list(limit=1).fetch_page()  # connect outside the timing
            start = time.perf_counter()
            for _ in range(calls):
                await pulse.users.list(limit=1).fetch_page()
            return calls / (time.perf_counter() - start)

    with asyncio.Runner(loop_factory=_loop_factory(kind)) as runner:
        return runner.run(main())


def _raw_fanout(url: str, key: str, calls: int, workers: int, kind: str) -> float:
    import aiohttp

    async def main() -> float:
        headers = {"Authorization": f"Bearer {key}"}
        target = f"{url}/v2/users"
        async with aiohttp.ClientSession(headers=headers) as session:

            async def worker(n: int) -> None:
                for _ in range(n):
                    async with session.get(target, params={"limit": "1"}) as response:
                        json.loads(await response.read())

            await worker(workers)  # warm the pool
            await asyncio.gather(*(worker(1) for _ in range(workers)))
            start = time.perf_counter()
            await asyncio.gather(*(worker(calls // workers) for _ in range(workers)))
            return (calls // workers * workers) / (time.perf_counter() - start)

    with asyncio.Runner(loop_factory=_loop_factory(kind)) as runner:
        return runner.run(main())


def _sync_seq(pulse: Any, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        pulse.users.list(limit=1).fetch_page()
    return calls / (time.perf_counter() - start)


def _sync_threads(pulse: Any, calls: int, workers: int) -> float:
    per_thread = calls // workers
    barrier = threading.Barrier(workers + 1)

    def work() -> None:
        barrier.wait()
        for _ in range(per_thread):
            pulse.users.list(limit=1).fetch_page()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return per_thread * workers / (time.perf_counter() - start)


def worker_main(args: argparse.Namespace) -> None:
    """Measure every scenario for one loop kind; print the rounds as JSON."""
    os.environ["PULSE_SYNC_UVLOOP"] = "1" if args.loop == "uvloop" else "0"
    import pulse_sync
    from pulse_sync import _loop

    results: dict[str, list[float]] = {
        "async seq": [],
        "sync seq": [],
        "raw fan-out": [],
        "sync threads": [],
    }
    with pulse_sync.Pulse(args.key, base_url=args.url) as pulse:
        for _ in range(max(1, args.threads)):  # warm: loop thread, connections
            pulse.users.list(limit=1).fetch_page()
        _sync_threads(pulse, args.threads * 4, args.threads)
        assert _loop.uses_uvloop() == (args.loop == "uvloop")
        for _ in range(args.rounds):
            results["async seq"].append(_async_seq(args.url, args.key, args.calls, args.loop))
            results["sync seq"].append(_sync_seq(pulse, args.calls))
            results["raw fan-out"].append(
                _raw_fanout(args.url, args.key, args.calls, args.threads, args.loop)
            )
            results["sync threads"].append(_sync_threads(pulse, args.calls, args.threads))
    print(json.dumps(results))


# --- the driver -------------------------------------------------------------------------------


def _start_server() -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pulse_async.testing", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = key = ""
    for line in proc.stdout:
        if match := re.search(r"listening on (\S+)", line):
            url = match.group(1)
        elif match := re.search(r"admin key:\s+(\S+)", line):
            key = match.group(1)
        if url and key:
            return proc, url, key
    proc.kill()
    raise SystemExit("the local server did not start")


def _run_worker(kind: str, url: str, key: str, args: argparse.Namespace) -> dict[str, list[float]]:
    command = [
        sys.executable,
        __file__,
        "--worker",
        "--loop",
        kind,
        "--url",
        url,
        "--key",
        key,
        "--calls",
        str(args.calls),
        "--rounds",
        str(args.rounds),
        "--threads",
        str(args.threads),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    result: dict[str, list[float]] = json.loads(done.stdout)
    return result


def _paired(ours: list[float], baseline: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(ours, baseline, strict=True))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few calls, one round")
    parser.add_argument("--calls", type=int, default=1000, help="calls per scenario per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--loop", choices=LOOPS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args)
        return 0
    if args.smoke:
        args.calls, args.rounds = 48, 1

    server, url, key = _start_server()
    try:
        print(f"{args.rounds} round(s) × {args.calls} calls, {args.threads} threads; medians")
        print(f"{'loop':8} {'scenario':13} {'calls/s':>9}   per call")
        ratios = []
        for kind in LOOPS:
            rounds = _run_worker(kind, url, key, args)
            medians = {name: statistics.median(values) for name, values in rounds.items()}
            for name, rate in medians.items():
                print(f"{kind:8} {name:13} {rate:9.0f}   {1e6 / rate:6.0f} µs")
            seq = _paired(rounds["sync seq"], rounds["async seq"])
            threads = _paired(rounds["sync threads"], rounds["raw fan-out"])
            crossing = 1e6 / medians["sync seq"] - 1e6 / medians["async seq"]
            print(f"{kind:8} loop crossing ≈ {crossing:.0f} µs per sequential call")
            ratios.append((kind, "seq", "sync seq / async seq", seq))
            ratios.append((kind, "threads", "sync threads / raw fan-out", threads))
        print()
        for kind, scenario, label, ratio in ratios:
            target = TARGETS[(scenario, kind)]
            verdict = "ok" if ratio >= target else "BELOW TARGET"
            print(f"{kind:8} {label:27} {ratio:5.2f}  (target ≥ {target:.2f})  {verdict}")
    finally:
        server.terminate()
        server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
