"""The workloads, their targets, and how each becomes rows of the results table."""

from __future__ import annotations

import importlib.util
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._harness import (
    ROOT,
    SERVER_BOUND,
    Pair,
    Pinning,
    Server,
    Summary,
    Variant,
    derived,
    paired_rounds,
    run_worker,
)

MB = 1024 * 1024


@dataclass
class Row:
    """One line of the results table."""

    workload: str
    what: str
    value: str  # the median ratio, or the measured quantity
    spread: str = ""  # min–max of the ratios (and how many rounds)
    cpu: str = ""  # the median CPU-cost ratio: reference CPU per call / variant's
    detail: str = ""  # absolute rates and the like
    server_cpu: float | None = None
    target: str = ""
    met: bool | None = None  # None: no target

    @property
    def verdict(self) -> str:
        if self.met is None:
            return ""
        flag = (
            " (server-bound)"
            if self.server_cpu is not None and self.server_cpu > SERVER_BOUND
            else ""
        )
        return ("yes" if self.met else "**no**") + flag


@dataclass
class Config:
    """Sizes and rounds: the full suite, or the smoke run's tiny ones."""

    smoke: bool = False
    rounds: int = 5  # at most; fewer when the time budget runs short
    min_rounds: int = 2
    #: Seconds for the whole suite (``make bench`` must stay under 15 minutes).
    budget: float | None = 12 * 60
    #: No timed run starts a new call after this long (a busy machine makes fewer calls).
    run_cap: float | None = 4.0
    #: The same for the streamed 200,000-item send_many.
    memory_cap: float | None = 90.0
    fanout_calls: int = 5000
    fanout_concurrency: tuple[int, ...] = (1, 64, 256)
    sync_seq_calls: int = 2000
    sync_thread_calls: int = 5000
    users: int = 10_000
    listings: int = 2  # full listings of the users per timed run
    send_many_items: int = 20_000
    send_many_memory_items: int = 200_000
    import_samples: int = 15
    peers: tuple[str, ...] = ("httpx", "stripe", "openai")

    @classmethod
    def smoke_run(cls) -> Config:
        return cls(
            smoke=True,
            rounds=1,
            min_rounds=1,
            budget=None,
            run_cap=None,
            memory_cap=None,
            fanout_calls=40,
            fanout_concurrency=(8,),
            sync_seq_calls=20,
            sync_thread_calls=40,
            users=250,
            listings=1,
            send_many_items=200,
            send_many_memory_items=400,
            import_samples=1,
        )


@dataclass
class Context:
    """What the workloads share: pinning, configuration, randomness, the log."""

    pinning: Pinning
    config: Config
    rng: random.Random
    log: Callable[[str], None] = print
    #: The printed output of the other benchmark scripts, by name.
    outputs: dict[str, str] = field(default_factory=dict)
    #: When the current workload should stop adding rounds (``time.perf_counter()``).
    deadline: float | None = None
    #: When the whole suite's budget runs out.
    hard_deadline: float | None = None
    _shared: Server | None = field(default=None, repr=False)

    @contextmanager
    def server(self) -> Iterator[Server]:
        """A fresh server (the smoke run shares one, to stay quick)."""
        if self.config.smoke:
            if self._shared is None:
                self._shared = Server(self.pinning)
                self._shared.start()
            yield self._shared
            return
        with Server(self.pinning) as server:
            yield server

    def close(self) -> None:
        if self._shared is not None:
            self._shared.stop()
            self._shared = None

    def warmup(self, calls: int) -> int:
        """Warm-up calls per process, before its timed part."""
        return 10 if self.config.smoke else min(calls // 20, 200)

    def paired(
        self, reference: Variant, variants: Sequence[Variant], *, server: Server | None = None
    ) -> dict[str, list[Pair]]:
        """Paired rounds until ``config.rounds`` or the workload's time budget runs out.

        Each round runs on a fresh server (its in-memory state stays small) unless
        ``server`` is given; at least ``config.min_rounds`` rounds are always run.
        """
        cfg = self.config
        all_pairs: dict[str, list[Pair]] = {v.label: [] for v in variants}
        done = 0
        while done < cfg.rounds:
            start = time.perf_counter()
            with nullcontext(server) if server is not None else self.server() as current:
                if not cfg.smoke and server is None:
                    # Warm the fresh server up: one short, untimed reference run.
                    run_worker(_shrink(reference.spec), current, self.pinning, env=reference.env)
                pairs = paired_rounds(
                    reference,
                    variants,
                    rounds=1,
                    run=lambda v, s=current: run_worker(
                        {"max_seconds": cfg.run_cap, **v.spec}, s, self.pinning, env=v.env
                    ),
                    rng=self.rng,
                    log=self.log,
                    round_label=str(done + 1),
                    share_reference=cfg.smoke,
                )
            for label, got in pairs.items():
                all_pairs[label].extend(got)
            done += 1
            took = time.perf_counter() - start
            projected = time.perf_counter() + took
            past_share = self.deadline is not None and projected > self.deadline
            past_budget = self.hard_deadline is not None and projected > self.hard_deadline
            # min_rounds yields to the suite's own budget: make bench must end in time.
            if done < cfg.rounds and (past_budget or (past_share and done >= cfg.min_rounds)):
                self.log(f"    time budget: stopping after {done} rounds")
                break
        return all_pairs


def _shrink(spec: dict[str, Any]) -> dict[str, Any]:
    return {**spec, "n": min(spec["n"], 200), "warmup": 0}


def _target(target: float | None) -> str:
    return f"≥ {target:.2f}×" if target is not None else ""


def _ratio_row(
    workload: str,
    what: str,
    summary: Summary,
    *,
    unit: str = "req/s",
    target: float | None = None,
) -> Row:
    return Row(
        workload=workload,
        what=what,
        value=f"{summary.median:.2f}×",
        spread=f"{min(summary.ratios):.2f}–{max(summary.ratios):.2f} ({len(summary.ratios)})",
        cpu=f"{summary.cpu_median:.2f}×",
        detail=(
            f"{statistics.median(summary.rates):,.0f} vs "
            f"{statistics.median(summary.reference_rates):,.0f} {unit}{summary.capped_note}"
        ),
        server_cpu=summary.server_cpu,
        target=_target(target),
        met=None if target is None else summary.median >= target,
    )


def _derived_row(
    workload: str,
    what: str,
    numerator: list[Pair],
    denominator: list[Pair],
    target: float | None,
) -> Row:
    """``numerator``'s variant over ``denominator``'s, round by round."""
    ratios = derived(numerator, denominator)
    median = statistics.median(ratios)
    server_cpu = max(Summary.of(numerator).server_cpu, Summary.of(denominator).server_cpu)
    return Row(
        workload=workload,
        what=what,
        value=f"{median:.2f}×",
        spread=f"{min(ratios):.2f}–{max(ratios):.2f} ({len(ratios)})",
        cpu=f"{statistics.median(derived(numerator, denominator, cpu=True)):.2f}×",
        detail="per round, each over its own reference",
        server_cpu=server_cpu,
        target=_target(target),
        met=None if target is None else median >= target,
    )


# --- workloads ------------------------------------------------------------------------------------


def _send(client: str, n: int, concurrency: int, warmup: int, **options: Any) -> dict[str, Any]:
    return {
        "mode": "async",
        "job": "send",
        "client": client,
        "n": n,
        "concurrency": concurrency,
        "warmup": warmup,
        "options": options,
    }


def _sync(client: str, n: int, threads: int, warmup: int) -> dict[str, Any]:
    return {
        "mode": "threads",
        "job": "send",
        "client": client,
        "n": n,
        "concurrency": threads,
        "warmup": warmup,
    }


def _missing(variant: Variant) -> str | None:
    absent = [m for m in variant.requires if importlib.util.find_spec(m) is None]
    return f"not installed: {', '.join(absent)} (pip install -e '.[bench]')" if absent else None


def _compare(
    ctx: Context,
    workload: str,
    reference: Variant,
    variants: Sequence[Variant],
    *,
    versus: str,
    targets: dict[str, float] | None = None,
) -> tuple[list[Row], dict[str, list[Pair]]]:
    """Paired rounds of the variants that can run; one row per variant, n/a for the rest."""
    runnable = [v for v in variants if _missing(v) is None]
    pairs = ctx.paired(reference, runnable)
    rows = []
    for v in variants:
        what = f"{v.label} / {versus}"
        reason = _missing(v)
        if reason is not None:
            rows.append(Row(workload, what, "n/a", detail=reason))
            continue
        target = (targets or {}).get(v.label)
        rows.append(
            _ratio_row(workload, what, Summary.of(pairs[v.label], v.spec["n"]), target=target)
        )
    return rows, pairs


PEERS = {
    "httpx": ("httpx.AsyncClient", ("httpx",)),
    "stripe": ("stripe StripeClient (AIOHTTPClient)", ("stripe",)),
    "openai": ("openai AsyncOpenAI", ("openai",)),
}
UVLOOP_ON = {"PULSE_SYNC_UVLOOP": "1"}
UVLOOP_OFF = {"PULSE_SYNC_UVLOOP": "0"}


def fanout(ctx: Context) -> list[Row]:
    """5,000 ``POST /v2/messages`` at each concurrency: the SDK and peers over raw aiohttp."""
    cfg = ctx.config
    n, warm = cfg.fanout_calls, ctx.warmup(cfg.fanout_calls)
    rows = []
    end = ctx.deadline
    for i, c in enumerate(cfg.fanout_concurrency):
        if end is not None:  # each concurrency gets an equal share of what is left
            now = time.perf_counter()
            ctx.deadline = now + max(0.0, end - now) / (len(cfg.fanout_concurrency) - i)
        ctx.log(f"  fan-out, concurrency {c}")
        reference = Variant("raw aiohttp", _send("aiohttp", n, c, warm))
        variants = [Variant("AsyncPulse.messages.send", _send("sdk", n, c, warm))]
        for peer in cfg.peers:
            label, requires = PEERS[peer]
            variants.append(Variant(label, _send(peer, n, c, warm), requires=requires))
        got, _ = _compare(
            ctx,
            f"async fan-out, {n:,} POSTs, concurrency {c}",
            reference,
            variants,
            versus="raw aiohttp",
            targets={"AsyncPulse.messages.send": 0.85} if c == 64 else None,
        )
        rows += got
    return rows


def sync_sequential(ctx: Context) -> list[Row]:
    """2,000 sequential calls: pulse_sync (with and without uvloop), requests, httpx."""
    cfg = ctx.config
    n, warm = cfg.sync_seq_calls, ctx.warmup(cfg.sync_seq_calls)
    reference = Variant("raw aiohttp", _send("aiohttp", n, 1, warm))
    async_seq = Variant("AsyncPulse (async, sequential)", _send("sdk", n, 1, warm))
    sync_uv = Variant(
        "pulse_sync (uvloop)", _sync("pulse_sync", n, 1, warm), UVLOOP_ON, requires=("uvloop",)
    )
    sync_plain = Variant("pulse_sync (asyncio loop)", _sync("pulse_sync", n, 1, warm), UVLOOP_OFF)
    variants = [
        async_seq,
        sync_uv,
        sync_plain,
        Variant("requests.Session", _sync("requests", n, 1, warm), requires=("requests",)),
        Variant("httpx.Client", _sync("httpx_sync", n, 1, warm), requires=("httpx",)),
    ]
    ctx.log("  sync, sequential")
    workload = f"sync, {n:,} sequential calls"
    rows, pairs = _compare(ctx, workload, reference, variants, versus="raw aiohttp")
    base = pairs[async_seq.label]
    for v in (sync_uv, sync_plain):
        if v.label not in pairs:
            continue
        what = f"{v.label} / AsyncPulse sequential"
        rows.append(_derived_row(workload, what, pairs[v.label], base, 0.75))
    return rows


def sync_threads(ctx: Context) -> list[Row]:
    """5,000 calls from 8 threads, over raw aiohttp with 8 tasks."""
    cfg = ctx.config
    n, warm = cfg.sync_thread_calls, ctx.warmup(cfg.sync_thread_calls)
    reference = Variant("raw aiohttp, 8 tasks", _send("aiohttp", n, 8, warm))
    variants = [
        Variant(
            "pulse_sync (uvloop)", _sync("pulse_sync", n, 8, warm), UVLOOP_ON, requires=("uvloop",)
        ),
        Variant("pulse_sync (asyncio loop)", _sync("pulse_sync", n, 8, warm), UVLOOP_OFF),
        Variant(
            "requests.Session per thread", _sync("requests", n, 8, warm), requires=("requests",)
        ),
        Variant("httpx.Client", _sync("httpx_sync", n, 8, warm), requires=("httpx",)),
    ]
    ctx.log("  sync, 8 threads")
    rows, _ = _compare(
        ctx,
        f"sync, {n:,} calls from 8 threads",
        reference,
        variants,
        versus="raw aiohttp fan-out (8 tasks)",
        targets={"pulse_sync (uvloop)": 0.85, "pulse_sync (asyncio loop)": 0.60},
    )
    return rows


def pagination(ctx: Context) -> list[Row]:
    """Walk 10,000 users in pages of 100: SDK ``async for`` against a raw cursor loop."""
    cfg = ctx.config
    ctx.log(f"  pagination, {cfg.users:,} users")
    listing = {"mode": "async", "job": "list", "n": cfg.listings, "concurrency": 1, "warmup": 1}
    if cfg.smoke:
        listing["memory"] = "tracemalloc"
    reference = Variant("raw aiohttp cursor loop", {**listing, "client": "aiohttp"})
    sdk = Variant("AsyncPulse users.list() async for", {**listing, "client": "sdk"})
    with ctx.server() as server:
        seed = {
            "mode": "async",
            "job": "seed",
            "client": "aiohttp",
            "n": cfg.users,
            "concurrency": 32,
            "warmup": 0,
        }
        run_worker({**seed, "key": server.admin_key}, server, ctx.pinning)

        pairs = ctx.paired(reference, [sdk], server=server)
        if cfg.smoke:  # the timed runs measured memory too (tracemalloc on)
            memory = {
                reference.label: pairs[sdk.label][0].reference,
                sdk.label: pairs[sdk.label][0].variant,
            }
        else:  # tracemalloc slows a process down: memory gets runs of its own
            memory = {
                v.label: run_worker(
                    {**v.spec, "n": 1, "memory": "tracemalloc"}, server, ctx.pinning
                )
                for v in (reference, sdk)
            }
    users = pairs[sdk.label][0].variant.extra.get("users", 0)
    workload = f"pagination, {users:,} users in pages of 100"
    rows = [
        _ratio_row(
            workload,
            "SDK async for / raw aiohttp loop",
            Summary.of(pairs[sdk.label]),
            unit="users/s",
            target=0.90,
        )
    ]
    for label, mem in memory.items():
        growth = mem.mem_growth or 0
        is_sdk = label == sdk.label
        rows.append(
            Row(
                workload=workload,
                what=f"peak memory growth while streaming: {label}",
                value=f"{growth / MB:.2f} MB",
                detail="tracemalloc peak over one full listing",
                target="< 1 MB" if is_sdk else "",
                met=growth < MB if is_sdk else None,
            )
        )
    return rows


def resilience(ctx: Context) -> list[Row]:
    """Success-path cost of the retry engine and the limiter (issue 4)."""
    cfg = ctx.config
    n = cfg.fanout_calls
    c = 8 if cfg.smoke else 64
    warm = ctx.warmup(n)
    reference = Variant("raw aiohttp", _send("aiohttp", n, c, warm))
    variants = [
        Variant("SDK defaults (max_retries=2, no limiter)", _send("sdk", n, c, warm)),
        Variant("SDK max_retries=0, no limiter", _send("sdk", n, c, warm, max_retries=0)),
        Variant(
            "SDK rate_limit=10,000,000/min (never waits)",
            _send("sdk", n, c, warm, rate_limit=10_000_000),
        ),
    ]
    ctx.log(f"  retry/limiter success path, concurrency {c}")
    pairs = ctx.paired(reference, variants)
    workload = f"retry/limiter success path, {n:,} POSTs, concurrency {c}"
    rows = [
        _ratio_row(workload, f"{v.label} / raw aiohttp", Summary.of(pairs[v.label], v.spec["n"]))
        for v in variants
    ]
    bare = pairs[variants[1].label]
    for v in (variants[0], variants[2]):
        what = f"{v.label} / max_retries=0"
        rows.append(_derived_row(workload, what, pairs[v.label], bare, None))
    return rows


def send_many(ctx: Context) -> list[Row]:
    """``messages.send_many`` against a hand-written semaphore + gather (issue 6)."""
    cfg = ctx.config
    n, m, c = cfg.send_many_items, cfg.send_many_memory_items, 64
    warm = ctx.warmup(n)
    base = {"mode": "async", "client": "sdk", "n": n, "concurrency": c, "warmup": warm}
    reference = Variant("semaphore + gather", {**base, "job": "semaphore_gather"})
    batch = Variant("send_many (await)", {**base, "job": "send_many", "stream": False})
    ctx.log(f"  send_many memory, {m:,} items streamed")
    with ctx.server() as server:
        spec = {**base, "job": "send_many", "stream": True, "n": m, "memory": "rss"}
        spec["max_seconds"] = cfg.memory_cap
        mem = run_worker(spec, server, ctx.pinning, timeout=600)
    growth = mem.mem_growth or 0
    capped = f" (stopped at the {cfg.memory_cap:.0f}-s cap)" if mem.ops < m else ""
    memory_row = Row(
        workload=f"send_many, {m:,} items from a generator, streamed",
        what="peak RSS growth of the client process",
        value=f"{growth / MB:.1f} MB",
        detail=f"{mem.ops:,} items streamed{capped}, {mem.rate:,.0f} items/s",
        server_cpu=mem.server_cpu,
        target="< 20 MB",
        met=growth < 20 * MB,
    )
    ctx.log(f"  send_many, {n:,} items")
    pairs = ctx.paired(reference, [batch])
    workload = f"send_many, {n:,} items, concurrency {c}"
    summary = Summary.of(pairs[batch.label])
    return [
        _ratio_row(workload, "send_many / semaphore + gather", summary, target=0.90),
        memory_row,
    ]


_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| +(\S.*)$")

#: What is timed: what a user writes (``pulse_async`` itself loads its client lazily).
IMPORTS = {
    "aiohttp": "import aiohttp",
    "pulse_async": "from pulse_async import AsyncPulse",
    "pulse_sync": "from pulse_sync import Pulse",
}


def _bytecode_env(cache: Path) -> dict[str, str]:
    """An environment in which every module's bytecode is read from ``cache``.

    A wheel install compiles bytecode once; an editable checkout run with
    ``PYTHONDONTWRITEBYTECODE`` (as this machine's environment sets it) would
    compile our sources afresh in every sample while aiohttp's come compiled,
    and the comparison would time the compiler. One untimed run per snippet
    fills ``cache`` for every package alike.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def _import_once(pinning: Pinning, code: str, env: dict[str, str]) -> tuple[float, float]:
    """(import time from ``-X importtime``, wall time) of ``python -c code``, in seconds.

    The import time is the sum of every module's own time: whatever ``code`` loads,
    nested or not, and also what the interpreter loads at start-up (subtracted
    later with the ``pass`` sample).
    """
    cmd = [*pinning.client, sys.executable, "-X", "importtime", "-c", code]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True, env=env)
    wall = time.perf_counter() - start
    own = sum(
        int(match[1]) for line in done.stderr.splitlines() if (match := _IMPORT_LINE.match(line))
    )
    return own / 1e6, wall


def imports(ctx: Context) -> list[Row]:
    """Import time of ``pulse_async`` and ``pulse_sync`` against ``import aiohttp``."""
    codes = {None: "pass", **IMPORTS}
    samples: dict[str | None, list[tuple[float, float]]] = {m: [] for m in codes}
    ctx.log("  import time")
    with tempfile.TemporaryDirectory(prefix="pulse-bench-pyc-") as cache:
        env = _bytecode_env(Path(cache))
        for code in codes.values():
            _import_once(ctx.pinning, code, env)  # compiles into the cache, untimed
        for _ in range(ctx.config.import_samples):
            order = list(codes)
            ctx.rng.shuffle(order)
            for module in order:
                samples[module].append(_import_once(ctx.pinning, codes[module], env))

    def median(module: str | None, index: int) -> float:
        return statistics.median(sample[index] for sample in samples[module])

    base_own, base_wall = median(None, 0), median(None, 1)
    aiohttp = median("aiohttp", 0) - base_own
    rows = []
    for module, code in IMPORTS.items():
        own = median(module, 0) - base_own
        wall = median(module, 1) - base_wall
        extra = own - aiohttp
        is_sync = module == "pulse_sync"
        rows.append(
            Row(
                workload="import time (fresh interpreter per sample, medians)",
                what=f"`{code}`",
                value=f"{own * 1e3:.0f} ms"
                + (f" ({extra * 1e3:+.0f} ms)" if module != "aiohttp" else ""),
                detail="-X importtime, start-up subtracted, bytecode compiled beforehand;"
                f" wall time {wall * 1e3:.0f} ms",
                target="≤ +40 ms over aiohttp" if is_sync else "",
                met=extra <= 0.040 if is_sync else None,
            )
        )
    return rows


#: The other scripts, with arguments that keep them within the suite's budget.
OTHER_SCRIPTS = {
    "sync_overhead": (),
    "server_throughput": (),
    "quota_sharing": ("--duration", "10"),  # 6 runs that wait out a rate limit
    # overload (issue 13): send_many at a rate limit, 3 × 10,000 items, ~3 min
    "overload": (),
}


def other_scripts(ctx: Context) -> list[Row]:
    """The team's other benchmark scripts, run as they are; their printed summaries kept."""
    rows = []
    for name, script_args in OTHER_SCRIPTS.items():
        path = ROOT / "benchmarks" / f"{name}.py"
        if not path.exists():
            rows.append(Row("other scripts", f"benchmarks/{name}.py", "n/a", detail="not present"))
            continue
        if ctx.config.smoke:
            rows.append(
                Row(
                    "other scripts",
                    f"benchmarks/{name}.py",
                    "skipped",
                    detail="not run in smoke mode",
                )
            )
            continue
        ctx.log(f"  benchmarks/{name}.py")
        start = time.perf_counter()
        try:
            done = subprocess.run(
                [sys.executable, str(path), *script_args],
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=240,
            )
            code: int | str = done.returncode
            output = done.stdout + done.stderr
        except subprocess.TimeoutExpired as exc:
            code = "timeout"
            output = (
                (exc.stdout or b"").decode()
                if isinstance(exc.stdout, bytes)
                else (exc.stdout or "")
            )
        elapsed = time.perf_counter() - start
        ctx.outputs[name] = output
        rows.append(
            Row(
                "other scripts",
                f"benchmarks/{name}.py",
                "ran" if code == 0 else f"exit {code}",
                detail=f"{elapsed:.0f} s; its output is below the table",
            )
        )
    return rows


#: Each workload's share of the time budget left when it starts.
WEIGHTS = {
    "fanout": 40,
    "sync-seq": 12,
    "sync-threads": 10,
    "pagination": 5,
    "imports": 2,
    "resilience": 10,
    "send-many": 21,
    "others": 0,
}

WORKLOADS: dict[str, Callable[[Context], list[Row]]] = {
    "fanout": fanout,
    "sync-seq": sync_sequential,
    "sync-threads": sync_threads,
    "pagination": pagination,
    "imports": imports,
    "resilience": resilience,
    "send-many": send_many,
    "others": other_scripts,
}
