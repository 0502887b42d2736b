"""Processes, pinning and pairing: how every number in RESULTS.md is taken.

- A server runs in its own process, pinned to one core; its URL and keys are
  read from what it prints. Throughput rows use the reference server
  (:mod:`benchmarks._refserver`: precomputed answers on uvloop + httptools),
  which the client cannot saturate; the stateful local server
  (``python -m pulse_async.testing``) serves what needs state (seeded users).
- Each client run is a fresh process (:mod:`benchmarks._worker`) pinned to the
  other core. It prints ``@@start``/``@@end`` around its timed part; the
  harness reads the server's ``utime + stime`` from ``/proc/<pid>/stat`` at
  each marker, so the server's CPU share covers exactly the timed part. Above
  :data:`SERVER_BOUND` of its core, the server and not the client was
  measured: the row is flagged.
- Every variant is paired with a reference run made right before it, rounds
  are shuffled, and what is reported is the median of the pair ratios with
  their min and max: on a noisy machine, only ratios taken side by side in one
  run mean anything.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: At or above this share of its core the server may have set the pace: a row counts as
#: client-bound (and a target can be met on it) only below it.
SERVER_BOUND = 0.7
_CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- pinning -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pinning:
    """The ``taskset`` prefixes for the server and for clients (empty when unavailable)."""

    server: tuple[str, ...]
    client: tuple[str, ...]
    note: str

    @classmethod
    def detect(cls) -> Pinning:
        taskset = shutil.which("taskset")
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if taskset is None:
            return cls((), (), "not pinned: taskset is not installed")
        if len(cpus) < 2:
            return cls((), (), f"not pinned: only {len(cpus)} CPU available")
        server, client = cpus[0], cpus[1]
        probe = subprocess.run([taskset, "-c", str(client), "true"], capture_output=True)
        if probe.returncode != 0:
            return cls((), (), "not pinned: taskset failed")
        return cls(
            (taskset, "-c", str(server)),
            (taskset, "-c", str(client)),
            f"server pinned to CPU {server}, each client process to CPU {client}",
        )


# --- the server ----------------------------------------------------------------------------------


#: How late the ``"latency"`` server answers a page of users: the low end of a real API's
#: page latency (a same-region API answers in 1-20 ms). A whole millisecond: uvloop's timers
#: count in milliseconds.
PAGE_LATENCY = 0.001

#: How each kind of server is started (``--port 0``: a free port; the URL is printed).
SERVER_COMMANDS = {
    "reference": ("-m", "benchmarks._refserver", "--port", "0"),
    "latency": (
        "-m", "benchmarks._refserver", "--port", "0", "--page-latency", str(PAGE_LATENCY)
    ),
    "stateful": ("-m", "pulse_async.testing", "--port", "0"),
}  # fmt: skip


class Server:
    """A server in its own pinned process: ``"reference"``, ``"latency"`` or ``"stateful"``."""

    def __init__(self, pinning: Pinning, kind: str = "reference", args: Sequence[str] = ()) -> None:
        self._pinning = pinning
        self.kind = kind
        self._args = tuple(args)
        self.url = ""
        self.admin_key = ""
        self.editor_key = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        cmd = [*self._pinning.server, sys.executable, *SERVER_COMMANDS[self.kind], *self._args]
        proc = self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT
        )
        assert proc.stdout is not None
        lines: list[str] = []
        timer = threading.Timer(30, proc.kill)
        timer.start()
        try:
            for line in proc.stdout:
                lines.append(line)
                if line.startswith("Press Ctrl-C"):
                    break
        finally:
            timer.cancel()
        text = "".join(lines)
        url = re.search(r"listening on (http://\S+)", text)
        admin = re.search(r"admin key:\s+(\S+)", text)
        editor = re.search(r"editor key:\s+(\S+)", text)
        if not (url and admin and editor):
            self.stop()
            raise RuntimeError(f"the server did not start:\n{text}")
        self.url, self.admin_key, self.editor_key = url[1], admin[1], editor[1]

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def cpu_seconds(self) -> float:
        """The server's user + system CPU time so far."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # After the command name: state is field 3, utime 14 and stime 15 (1-based).
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


# --- one client run ------------------------------------------------------------------------------


@dataclass
class Run:
    """One timed client run."""

    ops: int
    elapsed: float
    server_cpu: float  # share of one core, over the timed part
    client_cpu: float
    mem_growth: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.ops / self.elapsed

    @property
    def cpu_per_op(self) -> float:
        """Client CPU seconds per operation: steadier than throughput on a busy machine."""
        return self.client_cpu * self.elapsed / self.ops


class RunFailed(RuntimeError):
    """A worker exited badly or printed no result."""


def run_worker(
    spec: dict[str, Any],
    server: Server,
    pinning: Pinning,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    worker: Sequence[str] = ("-m", "benchmarks._worker"),
) -> Run:
    """Run one client process on the client core; parse its markers and result."""
    spec = {"url": server.url, "key": server.editor_key, "options": {}, **spec}
    cmd = [*pinning.client, sys.executable, *worker, json.dumps(spec)]
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        marks: dict[str, tuple[float, float]] = {}
        result: dict[str, Any] | None = None
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("@@start") or line.startswith("@@end"):
                    marks[line.strip()] = (time.perf_counter(), server.cpu_seconds())
                elif line.startswith("@@result "):
                    result = json.loads(line[len("@@result ") :])
            code = proc.wait()
        finally:
            timer.cancel()
        if code != 0 or result is None or len(marks) != 2:
            err.seek(0)
            tail = err.read()[-3000:]
            raise RunFailed(f"{spec.get('client')} {spec.get('job')} exited {code}:\n{tail}")
    (t0, s0), (t1, s1) = marks["@@start"], marks["@@end"]
    wall = max(t1 - t0, 1e-9)
    return Run(
        ops=result.pop("ops"),
        elapsed=result.pop("elapsed"),
        server_cpu=(s1 - s0) / wall,
        client_cpu=result.pop("client_cpu"),
        mem_growth=result.pop("mem_growth", None),
        extra=result,
    )


# --- pairing -------------------------------------------------------------------------------------


@dataclass
class Variant:
    """A client configuration: its label, its worker spec and extra environment."""

    label: str
    spec: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    #: Modules it needs (the ``bench`` extra); without them its row says n/a.
    requires: tuple[str, ...] = ()


@dataclass
class Pair:
    reference: Run
    variant: Run

    @property
    def ratio(self) -> float:
        return self.variant.rate / self.reference.rate

    @property
    def cpu_ratio(self) -> float:
        """The variant's client CPU per operation over the reference's (below 1: cheaper)."""
        return self.variant.cpu_per_op / max(self.reference.cpu_per_op, 1e-12)


@dataclass
class Summary:
    """Ratios of one variant over its references, across rounds."""

    ratios: list[float]
    cpu_ratios: list[float]
    rates: list[float]
    reference_rates: list[float]
    ops: list[int]
    requested: int | None
    server_cpu: float  # the highest share seen, variant or reference
    client_cpu: float  # median share of the variant's process
    cpu_per_op: list[float]  # the variant's client CPU seconds per operation
    reference_cpu_per_op: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_ratios)

    @property
    def server_bound(self) -> bool:
        return self.server_cpu >= SERVER_BOUND

    @property
    def capped_note(self) -> str:
        """Say so when the time cap stopped runs before their full count."""
        if self.requested is None or min(self.ops) >= self.requested:
            return ""
        return f"; time cap: {min(self.ops):,}–{max(self.ops):,} of {self.requested:,} calls"

    @classmethod
    def of(cls, pairs: Sequence[Pair], requested: int | None = None) -> Summary:
        return cls(
            ratios=[p.ratio for p in pairs],
            cpu_ratios=[p.cpu_ratio for p in pairs],
            rates=[p.variant.rate for p in pairs],
            reference_rates=[p.reference.rate for p in pairs],
            ops=[p.variant.ops for p in pairs] + [p.reference.ops for p in pairs],
            requested=requested,
            server_cpu=max(max(p.reference.server_cpu, p.variant.server_cpu) for p in pairs),
            client_cpu=statistics.median(p.variant.client_cpu for p in pairs),
            cpu_per_op=[p.variant.cpu_per_op for p in pairs],
            reference_cpu_per_op=[p.reference.cpu_per_op for p in pairs],
        )


def paired_rounds(
    reference: Variant,
    variants: Sequence[Variant],
    *,
    rounds: int,
    run: Callable[[Variant], Run],
    rng: random.Random,
    log: Callable[[str], None] = print,
    round_label: str = "",
    share_reference: bool = False,
) -> dict[str, list[Pair]]:
    """Each round: variants in a shuffled order, each right after its own reference run.

    ``share_reference`` (the smoke run) makes one reference run per round serve all.
    """
    pairs: dict[str, list[Pair]] = {v.label: [] for v in variants}
    for round_no in range(rounds):
        order = list(variants)
        rng.shuffle(order)
        shared = run(reference) if share_reference else None
        for variant in order:
            ref = shared or run(reference)
            var = run(variant)
            pair = Pair(ref, var)
            pairs[variant.label].append(pair)
            log(
                f"    round {round_label or round_no + 1} {variant.label:<44} {var.rate:8.0f}/s"
                f"  ref {ref.rate:8.0f}/s  ratio {pair.ratio:5.2f}  cpu ratio {pair.cpu_ratio:5.2f}"
                f"  server cpu {max(ref.server_cpu, var.server_cpu):4.2f}"
            )
    return pairs


def derived(
    numerator: Iterable[Pair], denominator: Iterable[Pair], *, cpu: bool = False
) -> list[float]:
    """Round by round, (a / its reference) / (b / its reference): the ratio a / b."""
    if cpu:
        return [a.cpu_ratio / b.cpu_ratio for a, b in zip(numerator, denominator, strict=True)]
    return [a.ratio / b.ratio for a, b in zip(numerator, denominator, strict=True)]
