"""The workloads, their targets, and how each becomes rows of the results table."""

from __future__ import annotations

import ast
import importlib
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
    PAGE_LATENCY,
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
    cpu: str = ""  # the median of (variant's client CPU per call / reference's)
    detail: str = ""  # absolute rates and the like
    server_cpu: float | None = None
    target: str = ""
    met: bool | None = None  # None: no target
    why: str = ""  # why a target is not met (or not judged)

    @property
    def client_bound(self) -> bool:
        return self.server_cpu is None or self.server_cpu < SERVER_BOUND

    @property
    def verdict(self) -> str:
        if self.met is None:
            return ""
        return "met" if self.met else f"**not met** ({self.why})"


@dataclass
class Config:
    """Sizes and rounds: the full suite, or the smoke run's tiny ones."""

    smoke: bool = False
    #: Paired rounds of every comparison that carries a target: always all of them.
    rounds: int = 5
    #: Rounds of the comparisons without a target (peers, context rows).
    info_rounds: int = 3
    #: Seconds for the whole suite: past it, no new round starts, and a target whose
    #: comparison has fewer rounds than asked is reported as not judged.
    budget: float | None = 11 * 60
    #: No timed run starts a new call after this long (a busy machine makes fewer calls).
    run_cap: float | None = 3.0
    #: The same for the streamed send_many.
    memory_cap: float | None = 30.0
    fanout_calls: int = 5000
    fanout_concurrency: int = 64
    context_concurrency: tuple[int, ...] = (1,)
    sync_seq_calls: int = 2000
    sync_thread_calls: int = 5000
    users: int = 10_000
    listings: int = 3  # full listings of the users per timed run
    structure_repeats: int = 3  # passes over the 10,000 users per structuring run
    send_many_items: int = 10_000
    send_many_memory_items: int = 100_000
    import_samples: int = 15
    peers: tuple[str, ...] = ("httpx", "stripe", "openai")

    @classmethod
    def smoke_run(cls) -> Config:
        return cls(
            smoke=True,
            rounds=1,
            info_rounds=1,
            budget=None,
            run_cap=None,
            memory_cap=None,
            fanout_calls=40,
            fanout_concurrency=8,
            context_concurrency=(),
            sync_seq_calls=20,
            sync_thread_calls=40,
            users=250,
            listings=1,
            structure_repeats=1,
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
    #: Extra Markdown sections for RESULTS.md, by title.
    sections: dict[str, str] = field(default_factory=dict)
    #: When the whole suite's budget runs out (``time.perf_counter()``).
    hard_deadline: float | None = None
    #: Highest server core share seen per server kind (for the notes under the table).
    capacity: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    _shared: dict[str, Server] = field(default_factory=dict, repr=False)

    def _server_args(self, kind: str) -> list[str]:
        return ["--users", str(self.config.users)] if kind in ("reference", "latency") else []

    @contextmanager
    def server(self, kind: str = "reference") -> Iterator[Server]:
        """A fresh server of that kind (the smoke run shares one per kind, to stay quick)."""
        if self.config.smoke:
            if kind not in self._shared:
                shared = self._shared[kind] = Server(self.pinning, kind, self._server_args(kind))
                shared.start()
            yield self._shared[kind]
            return
        with Server(self.pinning, kind, self._server_args(kind)) as server:
            yield server

    def close(self) -> None:
        for server in self._shared.values():
            server.stop()
        self._shared.clear()

    def warmup(self, calls: int) -> int:
        """Warm-up calls per process, before its timed part."""
        return 10 if self.config.smoke else min(calls // 20, 200)

    def out_of_time(self) -> bool:
        return self.hard_deadline is not None and time.perf_counter() > self.hard_deadline

    def paired(
        self,
        reference: Variant,
        variants: Sequence[Variant],
        *,
        rounds: int | None = None,
        kind: str = "reference",
        server: Server | None = None,
    ) -> dict[str, list[Pair]]:
        """``rounds`` paired rounds (``config.rounds`` by default) on one server.

        One server for all rounds: the reference server keeps no state, and the
        stateful one is only used for listings, which add none. Rounds stop early
        only when the suite's budget is spent; the rows then say how many ran.
        """
        cfg = self.config
        wanted = cfg.rounds if rounds is None else rounds
        all_pairs: dict[str, list[Pair]] = {v.label: [] for v in variants}
        with nullcontext(server) if server is not None else self.server(kind) as current:
            if not cfg.smoke:  # warm the server up: one short, untimed reference run
                run_worker(_shrink(reference.spec), current, self.pinning, env=reference.env)
            for done in range(wanted):
                if done and self.out_of_time():
                    self.log(f"    out of time: stopping after {done} of {wanted} rounds")
                    break
                pairs = paired_rounds(
                    reference,
                    variants,
                    rounds=1,
                    run=lambda v, s=current: run_worker(
                        {"max_seconds": cfg.run_cap, **v.spec}, s, self.pinning, env=v.env
                    ),
                    rng=self.rng,
                    log=self.log,
                    round_label=f"{done + 1}/{wanted}",
                    share_reference=cfg.smoke,
                )
                for label, got in pairs.items():
                    all_pairs[label].extend(got)
        for got in all_pairs.values():
            for pair in got:
                for run in (pair.reference, pair.variant):
                    self.capacity.setdefault(current.kind, []).append((run.rate, run.server_cpu))
        return all_pairs


def _shrink(spec: dict[str, Any]) -> dict[str, Any]:
    return {**spec, "n": min(spec["n"], 200), "warmup": 0}


def _us(seconds: float) -> str:
    us = seconds * 1e6
    return f"{us:,.0f} µs" if us >= 100 else f"{us:.1f} µs"


@dataclass(frozen=True)
class Target:
    """A throughput ratio to reach (and, optionally, a cap on CPU per call over the reference)."""

    ratio: float
    cpu_cap: float | None = None

    def __str__(self) -> str:
        text = f"≥ {self.ratio:.2f}×"
        return text + (f"; CPU/call ≤ {self.cpu_cap:.2f}× ref" if self.cpu_cap else "")


def judge(
    target: Target,
    ratios: Sequence[float],
    cpu_ratios: Sequence[float],
    server_cpu: float | None,
    rounds: int,
) -> tuple[bool, str]:
    """(met, why not): on a full set of rounds, client-bound, every part of the target."""
    if len(ratios) < rounds:
        return False, f"not judged: {len(ratios)} of {rounds} rounds ran"
    if server_cpu is not None and server_cpu >= SERVER_BOUND:
        return False, f"not judged: server-bound, its core at {server_cpu:.2f} ≥ {SERVER_BOUND}"
    why = []
    median = statistics.median(ratios)
    if median < target.ratio:
        shown = f"{median:.2f}"
        if shown == f"{target.ratio:.2f}":  # 0.996 is not 1.00
            shown = f"{median:.3f}"
        why.append(f"{shown}× < {target.ratio:.2f}×")
    if target.cpu_cap is not None:
        cpu = statistics.median(cpu_ratios)
        if cpu > target.cpu_cap:
            why.append(f"CPU/call {cpu:.2f}× > {target.cpu_cap:.2f}×")
    return not why, "; ".join(why)


def _ratio_row(
    ctx: Context,
    workload: str,
    what: str,
    summary: Summary,
    *,
    unit: str = "req/s",
    target: Target | None = None,
    rounds: int | None = None,
) -> Row:
    per_op = statistics.median(summary.cpu_per_op)
    ref_per_op = statistics.median(summary.reference_cpu_per_op)
    op = "user" if unit == "users/s" else "call"
    row = Row(
        workload=workload,
        what=what,
        value=f"{summary.median:.2f}×",
        spread=f"{min(summary.ratios):.2f}–{max(summary.ratios):.2f} ({len(summary.ratios)})",
        cpu=f"{summary.cpu_median:.2f}×",
        detail=(
            f"{statistics.median(summary.rates):,.0f} vs "
            f"{statistics.median(summary.reference_rates):,.0f} {unit};"
            f" CPU/{op} {_us(per_op)} vs {_us(ref_per_op)}{summary.capped_note}"
        ),
        server_cpu=summary.server_cpu,
    )
    if target is not None:
        row.target = str(target)
        row.met, row.why = judge(
            target,
            summary.ratios,
            summary.cpu_ratios,
            summary.server_cpu,
            ctx.config.rounds if rounds is None else rounds,
        )
    return row


def _derived_row(
    ctx: Context,
    workload: str,
    what: str,
    numerator: list[Pair],
    denominator: list[Pair],
    target: Target | None = None,
) -> Row:
    """``numerator``'s variant over ``denominator``'s, round by round (a gain, say)."""
    ratios = derived(numerator, denominator)
    cpu_ratios = derived(numerator, denominator, cpu=True)
    median = statistics.median(ratios)
    server_cpu = max(Summary.of(numerator).server_cpu, Summary.of(denominator).server_cpu)
    row = Row(
        workload=workload,
        what=what,
        value=f"{median:.2f}×",
        spread=f"{min(ratios):.2f}–{max(ratios):.2f} ({len(ratios)})",
        cpu=f"{statistics.median(cpu_ratios):.2f}×",
        detail="per round, each over its own reference",
        server_cpu=server_cpu,
    )
    if target is not None:
        row.target = str(target)
        row.met, row.why = judge(target, ratios, cpu_ratios, server_cpu, ctx.config.rounds)
    return row


# --- workloads ------------------------------------------------------------------------------------


def _send(
    client: str, n: int, concurrency: int, warmup: int, loop: str = "asyncio", **options: Any
) -> dict[str, Any]:
    return {
        "mode": "async",
        "job": "send",
        "client": client,
        "n": n,
        "concurrency": concurrency,
        "warmup": warmup,
        "loop": loop,
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
    targets: dict[str, Target] | None = None,
    rounds: int | None = None,
    kind: str = "reference",
) -> tuple[list[Row], dict[str, list[Pair]]]:
    """Paired rounds of the variants that can run; one row per variant, n/a for the rest."""
    runnable = [v for v in variants if _missing(v) is None]
    pairs = ctx.paired(reference, runnable, rounds=rounds, kind=kind)
    rows = []
    for v in variants:
        what = f"{v.label} / {versus}"
        reason = _missing(v)
        if reason is not None:
            rows.append(Row(workload, what, "n/a", detail=reason))
            continue
        target = (targets or {}).get(v.label)
        summary = Summary.of(pairs[v.label], v.spec.get("n"))
        rows.append(_ratio_row(ctx, workload, what, summary, target=target, rounds=rounds))
    return rows, pairs


PEERS = {
    "httpx": ("httpx.AsyncClient", ("httpx",)),
    "stripe": ("stripe StripeClient (AIOHTTPClient)", ("stripe",)),
    "openai": ("openai AsyncOpenAI", ("openai",)),
}
UVLOOP_ON = {"PULSE_SYNC_UVLOOP": "1"}
UVLOOP_OFF = {"PULSE_SYNC_UVLOOP": "0"}
STDLIB_JSON = {"PULSE_JSON": "stdlib"}
ORJSON = {"PULSE_JSON": "orjson"}
SDK = "AsyncPulse.messages.send"
FANOUT_TARGET = Target(0.90, cpu_cap=1.15)


def fanout(ctx: Context) -> list[Row]:
    """5,000 ``POST /v2/messages`` at concurrency 64 on the reference server.

    The target row (asyncio's loop on both sides), the lean prototype, and the optional
    speedups in the same run: orjson, and uvloop (paired with raw aiohttp on uvloop).
    """
    cfg = ctx.config
    n, c, warm = cfg.fanout_calls, cfg.fanout_concurrency, ctx.warmup(cfg.fanout_calls)
    reference = Variant("raw aiohttp", _send("aiohttp", n, c, warm))
    sdk = Variant(SDK, _send("sdk", n, c, warm), STDLIB_JSON)
    lean = Variant("lean prototype (aiohttp's public API)", _send("lean", n, c, warm))
    with_orjson = Variant(f"{SDK} + orjson", _send("sdk", n, c, warm), ORJSON, requires=("orjson",))
    raw_uv = Variant(
        "raw aiohttp (uvloop)", _send("aiohttp", n, c, warm, "uvloop"), requires=("uvloop",)
    )
    sdk_uv = Variant(
        f"{SDK} (uvloop)", _send("sdk", n, c, warm, "uvloop"), STDLIB_JSON, requires=("uvloop",)
    )
    ctx.log(f"  fan-out, concurrency {c}")
    workload = f"async fan-out, {n:,} POSTs, concurrency {c}"
    rows, pairs = _compare(
        ctx,
        workload,
        reference,
        [sdk, lean, with_orjson, raw_uv, sdk_uv],
        versus="raw aiohttp",
        targets={SDK: FANOUT_TARGET},
    )
    if with_orjson.label in pairs:
        rows.append(
            _derived_row(
                ctx,
                workload,
                "gain of orjson: SDK + orjson / SDK",
                pairs[with_orjson.label],
                pairs[sdk.label],
            )
        )
    if sdk_uv.label in pairs:
        rows.append(
            _derived_row(
                ctx,
                workload,
                "uvloop, like for like: SDK (uvloop) / raw aiohttp (uvloop)",
                pairs[sdk_uv.label],
                pairs[raw_uv.label],
                FANOUT_TARGET,
            )
        )
        rows.append(
            _derived_row(
                ctx,
                workload,
                "gain of uvloop: SDK (uvloop) / SDK (asyncio)",
                pairs[sdk_uv.label],
                pairs[sdk.label],
            )
        )
    for conc in cfg.context_concurrency:
        ctx.log(f"  fan-out, concurrency {conc}")
        got, _ = _compare(
            ctx,
            f"async fan-out, {n:,} POSTs, concurrency {conc}",
            Variant("raw aiohttp", _send("aiohttp", n, conc, warm)),
            [Variant(SDK, _send("sdk", n, conc, warm), STDLIB_JSON)],
            versus="raw aiohttp",
            rounds=cfg.info_rounds,
        )
        rows += got
    return rows


def profile(ctx: Context) -> list[Row]:
    """cProfile over one fan-out run each of raw aiohttp, the lean prototype and the SDK."""
    from benchmarks import _profile

    cfg = ctx.config
    n, c, warm = min(cfg.fanout_calls, 3000), cfg.fanout_concurrency, ctx.warmup(3000)
    clients = {
        "raw aiohttp": "aiohttp",
        "lean prototype": "lean",
        "AsyncPulse": "sdk",
    }
    groups: dict[str, dict[str, float]] = {}
    tops: dict[str, list[tuple[str, float]]] = {}
    rows = []
    ctx.log("  profile (cProfile), fan-out")
    with ctx.server("reference") as server, tempfile.TemporaryDirectory() as tmp:
        for label, client in clients.items():
            path = str(Path(tmp) / f"{client}.prof")
            spec = {**_send(client, n, c, warm), "profile": path}
            run = run_worker(spec, server, ctx.pinning, env=STDLIB_JSON)
            groups[label] = _profile.per_call(path, run.ops)
            tops[label] = _profile.top_functions(path, run.ops)
            rows.append(
                Row(
                    f"profile: {n:,} POSTs, concurrency {c}, under cProfile",
                    label,
                    f"{sum(groups[label].values()):,.0f} µs",
                    detail=f"profiled own time per call; unprofiled run CPU/call"
                    f" {_us(run.cpu_per_op)} ({run.rate:,.0f} req/s)",
                    server_cpu=run.server_cpu,
                )
            )
    names = sorted(
        {g for per in groups.values() for g in per}, key=lambda g: -groups["AsyncPulse"].get(g, 0)
    )
    lines = [
        "Own time per call by where the code lives (µs, cProfile-inflated: read the columns"
        " against each other). " + _profile.BEFORE_NOTES,
        "",
        "| code in | " + " | ".join(groups) + " | AsyncPulse (before) |",
        "|---|" + "---:|" * (len(groups) + 1),
    ]
    for name in names:
        cells = [f"{groups[label].get(name, 0):,.0f}" for label in groups]
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | {_profile.BEFORE.get(name, 0):,.0f} |"
        )
    lines.append(
        "| **total** | "
        + " | ".join(f"**{sum(per.values()):,.0f}**" for per in groups.values())
        + f" | {sum(_profile.BEFORE.values()):,.0f} |"
    )
    lines += ["", "Top functions by own time per call, AsyncPulse:", ""]
    lines += [f"    {us:7.1f} µs  {name}" for name, us in tops["AsyncPulse"]]
    ctx.sections["Where the CPU per call goes (profile)"] = "\n".join(lines)
    return rows


def peers(ctx: Context) -> list[Row]:
    """The same fan-out through httpx and the stripe and openai SDKs, and sync peers."""
    cfg = ctx.config
    n, c, warm = cfg.fanout_calls, cfg.fanout_concurrency, ctx.warmup(cfg.fanout_calls)
    variants = [Variant(SDK, _send("sdk", n, c, warm), STDLIB_JSON)]
    for peer in cfg.peers:
        label, requires = PEERS[peer]
        variants.append(Variant(label, _send(peer, n, c, warm), requires=requires))
    ctx.log(f"  peers, fan-out at {c}")
    rows, _ = _compare(
        ctx,
        f"peers: async fan-out, {n:,} POSTs, concurrency {c}",
        Variant("raw aiohttp", _send("aiohttp", n, c, warm)),
        variants,
        versus="raw aiohttp",
        rounds=cfg.info_rounds,
    )
    m, wm = cfg.sync_seq_calls, ctx.warmup(cfg.sync_seq_calls)
    ctx.log("  peers, sequential")
    got, _ = _compare(
        ctx,
        f"peers: {m:,} sequential calls",
        Variant("raw aiohttp (sequential)", _send("aiohttp", m, 1, wm)),
        [
            Variant("requests.Session", _sync("requests", m, 1, wm), requires=("requests",)),
            Variant("httpx.Client", _sync("httpx_sync", m, 1, wm), requires=("httpx",)),
        ],
        versus="raw aiohttp sequential",
        rounds=cfg.info_rounds,
    )
    return rows + got


def sync_sequential(ctx: Context) -> list[Row]:
    """Sequential calls: pulse_sync over AsyncPulse, each loop kind on both sides."""
    cfg = ctx.config
    n, warm = cfg.sync_seq_calls, ctx.warmup(cfg.sync_seq_calls)
    workload = f"sync, {n:,} sequential calls"
    rows = []
    for loop, env in (("asyncio", UVLOOP_OFF), ("uvloop", UVLOOP_ON)):
        needs = ("uvloop",) if loop == "uvloop" else ()
        reference = Variant(
            f"AsyncPulse sequential ({loop})", _send("sdk", n, 1, warm, loop), STDLIB_JSON
        )
        variant = Variant(
            f"pulse_sync ({loop} loop thread)",
            _sync("pulse_sync", n, 1, warm),
            {**env, **STDLIB_JSON},
            requires=needs,
        )
        if _missing(variant) is not None:
            rows.append(Row(workload, variant.label, "n/a", detail=_missing(variant) or ""))
            continue
        ctx.log(f"  sync, sequential, {loop}")
        got, _ = _compare(
            ctx,
            workload,
            reference,
            [variant],
            versus=reference.label,
            targets={variant.label: Target(0.90)},
        )
        rows += got
    return rows


def sync_threads(ctx: Context) -> list[Row]:
    """8 threads through one pulse_sync client over raw aiohttp with 8 tasks, same loop kind."""
    cfg = ctx.config
    n, warm = cfg.sync_thread_calls, ctx.warmup(cfg.sync_thread_calls)
    workload = f"sync, {n:,} calls from 8 threads"
    rows = []
    for loop, env in (("asyncio", UVLOOP_OFF), ("uvloop", UVLOOP_ON)):
        needs = ("uvloop",) if loop == "uvloop" else ()
        reference = Variant(f"raw aiohttp, 8 tasks ({loop})", _send("aiohttp", n, 8, warm, loop))
        variant = Variant(
            f"pulse_sync, 8 threads ({loop} loop thread)",
            _sync("pulse_sync", n, 8, warm),
            {**env, **STDLIB_JSON},
            requires=needs,
        )
        if _missing(variant) is not None:
            rows.append(Row(workload, variant.label, "n/a", detail=_missing(variant) or ""))
            continue
        ctx.log(f"  sync, 8 threads, {loop}")
        got, _ = _compare(
            ctx,
            workload,
            reference,
            [variant],
            versus=reference.label,
            targets={variant.label: Target(0.65)},
        )
        rows += got
    return rows


def _seed_users(ctx: Context, server: Server, count: int) -> None:
    """``count`` users on the stateful server (``POST /v2/users`` with its admin key)."""
    spec = {"mode": "async", "job": "seed", "client": "aiohttp", "n": count, "concurrency": 16}
    run_worker({**spec, "warmup": 0, "key": server.admin_key}, server, ctx.pinning)


#: The listing target: judged against the reference server answering each page after
#: PAGE_LATENCY (a timer, no CPU), as a real API's page comes back after its network and
#: servers, while the client stays client-bound (the server's core nearly idle).
LISTING_TARGET = Target(1.0)

#: What each listing row runs against, and how it is read.
LISTING_SERVERS = {
    "latency": (
        f"reference server, each page {PAGE_LATENCY * 1e3:g} ms later: a real API's latency",
        LISTING_TARGET,
    ),
    "stateful": ("stateful local server: its own CPU builds each page; not judged", None),
    "reference": ("reference server, no latency: the client's CPU only; not judged", None),
}


def pagination(ctx: Context) -> list[Row]:
    """List 10,000 users in pages of 100: ``async for`` against a raw cursor loop.

    A listing is sequential (the next cursor is in this page's answer), so what
    a client can win is the time between a page's answer and the next request:
    the SDK sends it before parsing the page, and parses and structures the page
    while the next one comes. Judged against the reference server answering each
    page :data:`~benchmarks._harness.PAGE_LATENCY` late, on a timer: latency to
    overlap, as a real API has, with the server's core nearly idle (client-bound).
    Also run, not judged: on the stateful local server (seeded with the users
    first), whose pages cost its own CPU on this 2-core machine, so the row is
    server-bound; and on the reference server with no latency (nothing to
    overlap: the SDK's extra CPU per user is all that shows). Memory gets runs of
    its own (tracemalloc slows a process down).
    """
    cfg = ctx.config
    listing = {"mode": "async", "job": "list", "n": cfg.listings, "concurrency": 1, "warmup": 1}
    if cfg.smoke:
        listing["memory"] = "tracemalloc"
    reference = Variant("raw aiohttp cursor loop", {**listing, "client": "aiohttp"})
    sdk = Variant("AsyncPulse users.list() async for", {**listing, "client": "sdk"}, STDLIB_JSON)
    rows: list[Row] = []
    for kind, (where, target) in LISTING_SERVERS.items():
        ctx.log(f"  pagination, {cfg.users:,} users, {kind} server")
        with ctx.server(kind) as server:
            if kind == "stateful":
                _seed_users(ctx, server, cfg.users)
            pairs = ctx.paired(reference, [sdk], server=server)
            memory: dict[str, Any] = {}
            if kind != "reference":
                pass  # memory is the client's: measured once, on the reference server
            elif cfg.smoke:  # the timed runs measured memory too (tracemalloc on)
                memory = {
                    reference.label: pairs[sdk.label][0].reference,
                    sdk.label: pairs[sdk.label][0].variant,
                }
            else:
                memory = {
                    v.label: run_worker(
                        {**v.spec, "n": 1, "memory": "tracemalloc"}, server, ctx.pinning, env=v.env
                    )
                    for v in (reference, sdk)
                }
        users = pairs[sdk.label][0].variant.extra.get("users", 0)
        workload = f"pagination, {users:,} users in pages of 100 ({where})"
        what = "SDK async for / raw aiohttp cursor loop (raw wall ÷ SDK wall)"
        rows.append(
            _ratio_row(
                ctx, workload, what, Summary.of(pairs[sdk.label]), unit="users/s", target=target
            )
        )
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
                    why=f"{growth / MB:.2f} MB" if growth >= MB else "",
                )
            )
    # Structuring alone, in-process: the SDK's hooks against cattrs' fastest set-ups.
    spec = {"mode": "structure", "n": cfg.structure_repeats, "users": cfg.users}
    ctx.log("  structuring")
    got, _ = _compare(
        ctx,
        f"structuring {cfg.users:,} parsed users into Page[User] (no I/O)",
        Variant("cattrs.gen, detailed validation off", {**spec, "client": "cattrs-gen"}),
        [
            Variant("SDK converter (hand-written hooks)", {**spec, "client": "sdk"}),
            Variant("cattrs.preconf.json converter", {**spec, "client": "cattrs-preconf"}),
        ],
        versus="cattrs.gen",
        rounds=cfg.info_rounds,
    )
    for row in got:
        row.detail = row.detail.replace("req/s", "users/s").replace("CPU/call", "CPU/user")
    return rows + got


def resilience(ctx: Context) -> list[Row]:
    """Success-path cost of the retry engine and the limiter (issue 4)."""
    cfg = ctx.config
    n = cfg.fanout_calls
    c = cfg.fanout_concurrency
    warm = ctx.warmup(n)
    reference = Variant("raw aiohttp", _send("aiohttp", n, c, warm))
    variants = [
        Variant("SDK defaults (max_retries=2, no limiter)", _send("sdk", n, c, warm), STDLIB_JSON),
        Variant(
            "SDK max_retries=0, no limiter", _send("sdk", n, c, warm, max_retries=0), STDLIB_JSON
        ),
        Variant(
            "SDK rate_limit=10,000,000/min (never waits)",
            _send("sdk", n, c, warm, rate_limit=10_000_000),
            STDLIB_JSON,
        ),
    ]
    ctx.log(f"  retry/limiter success path, concurrency {c}")
    pairs = ctx.paired(reference, variants, rounds=cfg.info_rounds)
    workload = f"retry/limiter success path, {n:,} POSTs, concurrency {c}"
    rows = [
        _ratio_row(
            ctx, workload, f"{v.label} / raw aiohttp", Summary.of(pairs[v.label], v.spec["n"])
        )
        for v in variants
    ]
    bare = pairs[variants[1].label]
    for v in (variants[0], variants[2]):
        what = f"{v.label} / max_retries=0"
        rows.append(_derived_row(ctx, workload, what, pairs[v.label], bare))
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
        why=f"{growth / MB:.1f} MB" if growth >= 20 * MB else "",
    )
    ctx.log(f"  send_many, {n:,} items")
    pairs = ctx.paired(reference, [batch])
    workload = f"send_many, {n:,} items, concurrency {c}"
    summary = Summary.of(pairs[batch.label])
    return [
        _ratio_row(ctx, workload, "send_many / semaphore + gather", summary, target=Target(0.90)),
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
        rows.append(
            Row(
                workload="import time (fresh interpreter per sample, medians)",
                what=f"`{code}`",
                value=f"{own * 1e3:.0f} ms"
                + (f" ({extra * 1e3:+.0f} ms)" if module != "aiohttp" else ""),
                detail="-X importtime, start-up subtracted, bytecode compiled beforehand;"
                f" wall time {wall * 1e3:.0f} ms",
                target="≤ +40 ms over aiohttp" if module != "aiohttp" else "",
                met=extra <= 0.040 if module != "aiohttp" else None,
                why=f"{extra * 1e3:+.0f} ms" if extra > 0.040 else "",
            )
        )
    return rows


#: The other scripts, with arguments that keep them within the suite's budget.
#: (``sync_overhead.py`` is not run: the sync rows above measure the same, like for like.)
OTHER_SCRIPTS = {
    "server_throughput": (),
    "quota_sharing": ("--duration", "5"),  # 6 runs that wait out a rate limit
}


def _run_script(ctx: Context, name: str, script_args: Sequence[str], timeout: float) -> Row:
    """Run ``benchmarks/<name>.py`` as it is; keep its printed output for RESULTS.md."""
    ctx.log(f"  benchmarks/{name}.py")
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{name}", *script_args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=timeout,
        )
        code: int | str = done.returncode
        output = done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        code = "timeout"
        out = exc.stdout or b""
        output = out.decode() if isinstance(out, bytes) else out
    elapsed = time.perf_counter() - start
    ctx.outputs[name] = output
    return Row(
        "other scripts",
        f"benchmarks/{name}.py",
        "ran" if code == 0 else f"exit {code}",
        detail=f"{elapsed:.0f} s; its output is below the table",
    )


def other_scripts(ctx: Context) -> list[Row]:
    """The team's other benchmark scripts, run as they are; their printed summaries kept."""
    rows = []
    for name, extra in OTHER_SCRIPTS.items():
        if not (ROOT / "benchmarks" / f"{name}.py").exists():
            rows.append(Row("other scripts", f"benchmarks/{name}.py", "n/a", detail="not present"))
        elif ctx.config.smoke:
            rows.append(
                Row("other scripts", f"benchmarks/{name}.py", "skipped", detail="not in smoke mode")
            )
        else:
            rows.append(_run_script(ctx, name, extra, timeout=180))
    return rows


# --- sections contributed by other modules -------------------------------------------------------

#: Modules of ``benchmarks/`` that are part of the suite itself, not contributed sections.
_OWN = {"__init__", "__main__", "quota_sharing", "server_throughput", "sync_overhead"}


def contributed(folder: Path = ROOT / "benchmarks") -> dict[str, Callable[[Context], list[Row]]]:
    """Optional sections: every other public ``benchmarks/<name>.py``, found at run time.

    A module joins ``make bench`` in one of two ways:

    - it defines ``bench_rows(ctx: Context) -> list[Row]`` (and may set
      ``BENCH_WEIGHT``): called like the built-in workloads, in smoke mode too
      (``ctx.config.smoke`` says which; keep it to seconds there). It can start
      servers with ``ctx.server("reference" | "stateful")``, pair runs with
      ``ctx.paired`` and judge targets with :class:`Target` / :func:`judge`;
    - otherwise it is run as a script (``python benchmarks/<name>.py`` plus its
      ``BENCH_ARGS``, if it sets them, read without importing it), at most 120 s,
      not in smoke mode, and its output is printed under the table.

    ``python -m benchmarks --only NAME`` runs one of them.
    """
    sections: dict[str, Callable[[Context], list[Row]]] = {}
    for path in sorted(folder.glob("*.py")):
        name = path.stem
        if name.startswith("_") or name in _OWN:
            continue
        text = path.read_text()
        if re.search(r"^def bench_rows\(", text, re.MULTILINE):
            sections[name] = _section(name)
        else:
            sections[name] = _script_section(name, text)
        sections[name].__doc__ = f"benchmarks/{name}.py"
    return sections


def _section(name: str) -> Callable[[Context], list[Row]]:
    def run(ctx: Context) -> list[Row]:
        module = importlib.import_module(f"benchmarks.{name}")
        rows: list[Row] = module.bench_rows(ctx)
        return rows

    return run


#: Arguments for contributed scripts that set no ``BENCH_ARGS``, to fit the suite's budget.
DEFAULT_SCRIPT_ARGS = {
    # issue 13's targets are judged on the virtual-time rows (seconds); the loopback rows
    # take ~3 minutes: python -m benchmarks.overload
    "overload": ("--mode", "virtual"),
    "webhooks": ("--rounds", "5", "--count", "10000"),
}


def script_args(text: str, name: str = "") -> tuple[str, ...]:
    """A script's ``BENCH_ARGS = (...)``, read from its source (it is not imported)."""
    match = re.search(r"^BENCH_ARGS\s*=\s*(\(.*?\)|\[.*?\])", text, re.MULTILINE | re.DOTALL)
    if match is None:
        return DEFAULT_SCRIPT_ARGS.get(name, ())
    return tuple(str(a) for a in ast.literal_eval(match[1]))


def _script_section(name: str, text: str) -> Callable[[Context], list[Row]]:
    args = script_args(text, name)

    def run(ctx: Context) -> list[Row]:
        if ctx.config.smoke:
            return [Row(f"benchmarks/{name}.py", "script", "skipped", detail="not in smoke mode")]
        return [_run_script(ctx, name, args, timeout=120)]

    return run


#: Each workload's rough share of the suite's time (contributed sections default to 5).
WEIGHTS = {
    "fanout": 30,
    "profile": 3,
    "sync-seq": 12,
    "sync-threads": 12,
    "pagination": 8,
    "imports": 4,
    "peers": 12,
    "resilience": 8,
    "send-many": 8,
    "others": 10,
}

WORKLOADS: dict[str, Callable[[Context], list[Row]]] = {
    "fanout": fanout,
    "profile": profile,
    "sync-seq": sync_sequential,
    "sync-threads": sync_threads,
    "pagination": pagination,
    "imports": imports,
    "peers": peers,
    "resilience": resilience,
    "send-many": send_many,
    "others": other_scripts,
}
for _name, _run in contributed().items():
    WORKLOADS.setdefault(_name, _run)
