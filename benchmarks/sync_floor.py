"""The floor of a loop-thread facade: what one cross-thread handoff per call costs.

``python -m benchmarks --only sync_floor`` (part of ``make bench``), or
``python -m benchmarks.sync_floor '<json spec>'`` for one measurement.

Issue 16 asks ``pulse_sync`` sequential to reach 0.90x ``AsyncPulse`` sequential.
This section measures, in ONE process pinned to the client core, against the
reference server, on the same loop kind, in alternating blocks (so the noise of
a shared machine falls on every variant alike):

- ``AsyncPulse`` sequential: ``await pulse.messages.send(...)`` in a loop (the
  reference);
- *one crossing per block*: the same loop of awaits, run on a loop thread by a
  single handoff: the SDK on that thread, without per-call crossings;
- *lean handoff*: the leanest per-call facade there is: a long-lived task on the
  loop thread awaits each call inline (no task, no context copy, no wrapper
  per call); the caller wakes it with one ``call_soon_threadsafe`` and waits on
  one lock. It keeps none of ``pulse_sync``'s guarantees (Ctrl-C, deadline,
  context, fork), so it is a floor, never a design;
- ``pulse_sync``: the real facade.

If the lean handoff is as far from the reference as ``pulse_sync`` is, the gap
is the crossing itself (two thread switches, a self-pipe wake-up and the loop
iterations they cost), not ``pulse_sync``'s code.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

MESSAGE = {"to": ["ada@example.com"], "subject": "Benchmark", "body": "Hello from the benchmark"}
VARIANTS = ("AsyncPulse sequential", "one crossing per block", "lean handoff", "pulse_sync")
BENCH_WEIGHT = 6


def _runner(loop: str) -> asyncio.Runner:
    if loop == "uvloop":
        import uvloop

        return asyncio.Runner(loop_factory=uvloop.new_event_loop)
    return asyncio.Runner()


class _LoopThread:
    """A loop in a thread with one long-lived task serving calls inline (the lean handoff)."""

    def __init__(self, loop_kind: str, url: str, key: str) -> None:
        from pulse_async import AsyncPulse

        self.pulse = AsyncPulse(key, base_url=url + "/v2")
        self.runner = _runner(loop_kind)
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.done = threading.Lock()
        self.done.acquire()
        self.error: BaseException | None = None
        self.thread.start()
        self.ready.wait()

    def _serve(self) -> None:
        self.runner.run(self._main())

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.wanted: asyncio.Future[int] = self.loop.create_future()
        self.ready.set()
        while True:
            count = await self.wanted
            self.wanted = self.loop.create_future()
            if count < 0:
                await self.pulse.aclose()
                return
            try:
                for _ in range(count):
                    await self.pulse.messages.send(**MESSAGE)
            except BaseException as exc:
                self.error = exc
            self.done.release()

    def call(self, count: int) -> None:
        """``count`` calls on the loop thread, one handoff for them all."""
        self.loop.call_soon_threadsafe(self.wanted.set_result, count)
        self.done.acquire()
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.wanted.set_result, -1)
        self.thread.join()
        self.runner.close()


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Alternating blocks of each variant in this process: wall and CPU per call."""
    os.environ["PULSE_SYNC_UVLOOP"] = "1" if spec["loop"] == "uvloop" else "0"
    os.environ.setdefault("PULSE_JSON", "stdlib")
    from pulse_async import AsyncPulse
    from pulse_sync import Pulse
    from pulse_sync import _loop as sync_loop

    url, key, per, blocks = spec["url"], spec["key"], spec["per"], spec["blocks"]
    runner = _runner(spec["loop"])
    reference = AsyncPulse(key, base_url=url + "/v2")
    lean = _LoopThread(spec["loop"], url, key)
    facade = Pulse(key, base_url=url + "/v2")

    async def inline(count: int) -> None:
        for _ in range(count):
            await reference.messages.send(**MESSAGE)

    def per_call(count: int) -> None:
        for _ in range(count):
            lean.call(1)

    def sync(count: int) -> None:
        for _ in range(count):
            facade.messages.send(**MESSAGE)

    runs: dict[str, Callable[[int], Any]] = {
        VARIANTS[0]: lambda count: runner.run(inline(count)),
        VARIANTS[1]: lean.call,
        VARIANTS[2]: per_call,
        VARIANTS[3]: sync,
    }
    try:
        for run in runs.values():
            run(spec["warmup"])
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
        for block in range(blocks):
            order = list(runs) if block % 2 == 0 else list(reversed(runs))
            for name in order:
                cpu, wall = time.process_time(), time.perf_counter()
                runs[name](per)
                times[name].append(
                    ((time.perf_counter() - wall) / per, (time.process_time() - cpu) / per)
                )
    finally:
        facade.close()
        lean.close()
        runner.run(reference.aclose())
        runner.close()
    return {"times": times, "uvloop": sync_loop.uses_uvloop()}


def bench_rows(ctx: Any) -> list[Any]:
    """Rows for ``make bench``: each variant's speed and CPU per call against the reference."""
    import importlib.util

    from benchmarks._suite import Row

    smoke = ctx.config.smoke
    per, blocks = (10, 1) if smoke else (300, 10)
    rows = []
    for loop in ("asyncio", "uvloop"):
        workload = f"sync handoff floor ({loop}), {per:,} calls × {blocks} alternating blocks"
        if loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
            rows.append(Row(workload, "all variants", "n/a", detail="not installed: uvloop"))
            continue
        ctx.log(f"  sync handoff floor, {loop}")
        with ctx.server("reference") as server:
            spec = {"loop": loop, "url": server.url, "key": server.admin_key, "per": per}
            spec.update(blocks=blocks, warmup=5 if smoke else 100)
            done = subprocess.run(
                [
                    *ctx.pinning.client,
                    sys.executable,
                    "-m",
                    "benchmarks.sync_floor",
                    json.dumps(spec),
                ],
                capture_output=True,
                text=True,
                timeout=300,
            )
        if done.returncode != 0:
            rows.append(Row(workload, "all variants", "failed", detail=done.stderr[-300:]))
            continue
        times = json.loads(done.stdout.splitlines()[-1])["times"]
        ref = times[VARIANTS[0]]
        for name in VARIANTS[1:]:
            mine = times[name]
            speed = [r[0] / m[0] for r, m in zip(ref, mine, strict=True)]
            cpu = [m[1] / r[1] for r, m in zip(ref, mine, strict=True)]
            wall_us = statistics.median(m[0] for m in mine) * 1e6
            cpu_us = statistics.median(m[1] for m in mine) * 1e6
            ref_cpu = statistics.median(r[1] for r in ref) * 1e6
            rows.append(
                Row(
                    workload,
                    f"{name} / {VARIANTS[0]} (same process, {loop})",
                    f"{statistics.median(speed):.2f}×",
                    spread=f"{min(speed):.2f}–{max(speed):.2f} ({len(speed)})",
                    cpu=f"{statistics.median(cpu):.2f}×",
                    detail=f"{wall_us:.0f} µs/call; CPU/call {cpu_us:.0f} µs vs {ref_cpu:.0f} µs",
                )
            )
    return rows


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
