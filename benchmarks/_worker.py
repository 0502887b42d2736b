"""One measured client run, in a fresh process: ``python -m benchmarks._worker '<json spec>'``.

The harness starts this pinned to the client core. It opens the client,
warms it up (connections made, caches filled), prints ``@@start``, runs the
timed part, prints ``@@end`` and then ``@@result {json}``. The harness samples
the server's CPU time when it reads each marker, so the server's share covers
exactly the timed part.

The drivers are shared: a fixed pool of worker tasks (or threads) pulling
call numbers from one counter, the same for every client.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import threading
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks import _clients

#: A warm-up makes its connections and fills caches; it need not be long.
WARMUP_SECONDS = 0.5

# --- the shared drivers ------------------------------------------------------------------------


async def drive_async(
    op: Callable[[], Awaitable[Any]], n: int, concurrency: int, max_seconds: float | None = None
) -> int:
    """``n`` calls of ``op`` from ``concurrency`` tasks pulling from one counter.

    With ``max_seconds`` no new call starts after that long. Returns the calls made.
    """
    counter = itertools.count()
    deadline = time.perf_counter() + max_seconds if max_seconds else float("inf")
    done = 0

    async def worker() -> None:
        nonlocal done
        while next(counter) < n and time.perf_counter() < deadline:
            await op()
            done += 1

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, n)))))
    return done


def drive_threads(
    op: Callable[[], Any], n: int, threads: int, max_seconds: float | None = None
) -> int:
    """``n`` calls of ``op`` from ``threads`` threads pulling from one counter.

    With one thread the calls are made by the calling thread itself: a plain
    sequential script. ``max_seconds`` as for :func:`drive_async`.
    """
    counter = itertools.count()
    deadline = time.perf_counter() + max_seconds if max_seconds else float("inf")
    lock = threading.Lock()
    errors: list[BaseException] = []
    done = [0] * max(1, threads)

    def worker(slot: int) -> None:
        try:
            while True:
                with lock:
                    i = next(counter)
                if i >= n or time.perf_counter() >= deadline:
                    return
                op()
                done[slot] += 1
        except BaseException as exc:
            errors.append(exc)

    if threads <= 1:
        worker(0)
    else:
        pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    if errors:
        raise errors[0]
    return sum(done)


# --- memory ------------------------------------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssPeak:
    """Samples this process's resident set every few ms: peak growth over a baseline."""

    def __init__(self) -> None:
        self.baseline = _rss()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())
        return self.peak - self.baseline


class Meter:
    """The timed window: wall time, this process's CPU, memory growth; prints the markers."""

    def __init__(self, memory: str | None, profile: str | None = None) -> None:
        self.memory = memory
        self.profile = profile
        self.result: dict[str, Any] = {}

    def __enter__(self) -> Meter:
        self._rss = RssPeak() if self.memory == "rss" else None
        if self.memory == "tracemalloc":
            tracemalloc.start()
        print("@@start", flush=True)
        self._profiler = None
        if self.profile:
            import cProfile

            self._profiler = cProfile.Profile()
            self._profiler.enable()
        self._cpu = time.process_time()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self._t0
        cpu = time.process_time() - self._cpu
        if self._profiler is not None:
            self._profiler.disable()
            self._profiler.dump_stats(self.profile)
        print("@@end", flush=True)
        self.result["elapsed"] = elapsed
        self.result["client_cpu"] = cpu / elapsed if elapsed > 0 else 0.0
        if self.memory == "tracemalloc":
            self.result["mem_growth"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        elif self._rss is not None:
            self.result["mem_growth"] = self._rss.stop()


# --- jobs ----------------------------------------------------------------------------------------


def _structure_job(spec: dict[str, Any], meter: Meter) -> int:
    """Structure parsed 100-user pages into ``Page[User]``, in-process: CPU per user."""
    from benchmarks import _structuring

    structure = _structuring.STRUCTURERS[spec["client"]]()
    pages = _structuring.pages(spec["users"])
    for page in pages[: max(1, len(pages) // 10)]:  # warm-up
        structure(page)
    with meter:
        for _ in range(spec["n"]):
            for page in pages:
                structure(page)
    return spec["n"] * spec["users"]


async def _async_job(spec: dict[str, Any], meter: Meter) -> int:
    job = spec["job"]
    n, concurrency, warmup = spec["n"], spec["concurrency"], spec["warmup"]
    cap = spec.get("max_seconds")
    client = _clients.ASYNC_CLIENTS[spec["client"]](spec["url"], spec["key"], **spec["options"])
    await client.open()
    try:
        if job == "send":
            await drive_async(client.send, warmup, concurrency, WARMUP_SECONDS)
            with meter:
                done = await drive_async(client.send, n, concurrency, cap)
            return done
        if job == "seed":
            assert isinstance(client, _clients.RawAiohttp)
            numbers = itertools.count(spec.get("first", 0))
            with meter:
                await drive_async(lambda: client.create_user(next(numbers)), n, concurrency)
            return n
        if job == "list":
            expected = await client.list_all()  # the warm-up, and the count to expect
            for _ in range(warmup - 1):
                await client.list_all()
            seen = 0
            with meter:
                for _ in range(n):
                    seen += await client.list_all()
            if seen != n * expected:
                raise _clients.BenchError(f"listed {seen} users, expected {n * expected}")
            meter.result["users"] = expected
            return seen
        # send_many and its hand-written twin run over the SDK's own client.
        assert isinstance(client, _clients.Sdk)
        pulse = client.pulse
        await drive_async(client.send, warmup, concurrency, WARMUP_SECONDS)
        with meter:
            if job == "send_many":
                done, failed = await _clients.send_many(
                    pulse, n, concurrency, stream=spec["stream"], max_seconds=cap
                )
            elif job == "semaphore_gather":
                done, failed = await _clients.semaphore_gather(pulse, n, concurrency)
            else:
                raise ValueError(f"unknown job {job!r}")
        if failed:
            raise _clients.BenchError(f"{failed} of {done} items failed")
        return done
    finally:
        await client.close()


def _sync_job(spec: dict[str, Any], meter: Meter) -> int:
    n, threads, warmup = spec["n"], spec["concurrency"], spec["warmup"]
    client = _clients.SYNC_CLIENTS[spec["client"]](spec["url"], spec["key"], **spec["options"])
    client.open()
    try:
        drive_threads(client.send, warmup, threads, WARMUP_SECONDS)
        with meter:
            done = drive_threads(client.send, n, threads, spec.get("max_seconds"))
        return done
    finally:
        client.close()


def _runner(loop: str) -> asyncio.Runner:
    """An ``asyncio.Runner`` on asyncio's default loop or on uvloop."""
    if loop == "uvloop":
        import uvloop

        return asyncio.Runner(loop_factory=uvloop.new_event_loop)
    return asyncio.Runner()


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    meter = Meter(spec.get("memory"), spec.get("profile"))
    if spec["mode"] == "structure":
        ops = _structure_job(spec, meter)
    elif spec["mode"] == "async":
        with _runner(spec.get("loop", "asyncio")) as runner:
            ops = runner.run(_async_job(spec, meter))
    else:
        ops = _sync_job(spec, meter)
    result = dict(meter.result, ops=ops)
    if spec["mode"] == "threads" and spec["client"] == "pulse_sync":
        from pulse_sync import _loop

        result["uvloop"] = _loop.uses_uvloop()
    print("@@result " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
