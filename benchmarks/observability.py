"""What observability costs on the success path, as ratios to the plain client in one run.

Starts the local Pulse server in a subprocess, then, round after round, one
fresh worker process per variant (in a shuffled order), each timing
sequential ``GET /v2/users?limit=1`` calls on one ``AsyncPulse``:

- ``absent``      — OpenTelemetry not importable (the worker runs on a copy of
                    site-packages without it): the plain client, the reference;
- ``absent again``— the same, a second time: the noise floor of a ratio;
- ``no provider`` — ``opentelemetry-api`` installed, no provider set
                    (target: within 3 % of the reference);
- ``provider``    — the SDK's tracer and meter providers, with exporters that
                    drop everything: what spans and metrics cost;
- ``raw``         — ``with_raw_response`` (OpenTelemetry absent): what asking
                    for the metadata costs; the plain methods never pay it.

Separate processes are what "absent" really means, but on a busy machine their
ratios are noisy (see the ``absent again`` row). Two steadier figures back the
3 % target: the per-call check timed alone in each worker, and "no provider"
against "absent" interleaved block by block in one process (the check is the
only thing on a call's path that differs between the two).

Each ratio is the median over rounds of (variant calls/s ÷ reference calls/s
in the same round)::

    python -m benchmarks.observability              # 7 rounds of 2,000 calls
    python -m benchmarks.observability --smoke      # a few calls, one round
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import site
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("absent", "absent again", "no provider", "provider", "raw")
REFERENCE = "absent"
#: What "within 3 %" means for the installed-without-provider row.
NO_PROVIDER_TARGET = 0.97


# --- the worker -------------------------------------------------------------------------------


def _install_provider() -> None:
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExporter,
        MetricExportResult,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class DropSpans(SpanExporter):
        def export(self, spans: object) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    class DropMetrics(MetricExporter):
        def export(
            self, metrics_data: object, timeout_millis: float = 0, **kw: object
        ) -> MetricExportResult:
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 0) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 0, **kw: object) -> None:
            return None

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(DropSpans()))
    trace.set_tracer_provider(tracer_provider)
    reader = PeriodicExportingMetricReader(DropMetrics(), export_interval_millis=3_600_000)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))


def interleaved_main(args: argparse.Namespace) -> None:
    """Absent against installed-without-provider in one process, in alternating blocks.

    With OpenTelemetry installed and no provider set, the only difference from
    its absence on a call's path is the per-call question the client asks
    (:func:`pulse_async._instrument.watch`). Its answer for "absent" is forced
    by setting what the first call found; blocks of calls then alternate in a
    shuffled order, so a busy machine slows both sides of each pair alike.
    """
    from pulse_async import AsyncPulse, _instrument

    block = max(10, args.calls // 20)

    async def main() -> list[float]:
        async with AsyncPulse(args.key, base_url=args.url) as pulse:
            for _ in range(50):
                await pulse.users.list(limit=1).fetch_page()
            found = _instrument._telemetry
            assert found is not None, "OpenTelemetry is not installed"
            rng = random.Random(3)
            ratios = []
            for _ in range(20):
                elapsed = {}
                order = [("absent", None), ("no provider", found)]
                rng.shuffle(order)
                for name, telemetry in order:
                    _instrument._telemetry = telemetry
                    start = time.perf_counter()
                    for _ in range(block):
                        await pulse.users.list(limit=1).fetch_page()
                    elapsed[name] = time.perf_counter() - start
                ratios.append(elapsed["absent"] / elapsed["no provider"])
            _instrument._telemetry = found
            return ratios

    print(json.dumps({"ratios": asyncio.run(main()), "block": block}))


def worker_main(args: argparse.Namespace) -> None:
    """Time ``args.calls`` sequential calls for one variant; print calls/s as JSON."""
    variant = args.worker
    if variant == "interleaved":
        interleaved_main(args)
        return
    if variant == "provider":
        _install_provider()
    from pulse_async import AsyncPulse

    async def main() -> float:
        async with AsyncPulse(args.key, base_url=args.url) as pulse:
            if variant == "raw":
                raw = pulse.with_raw_response.users

                async def one() -> None:
                    await raw.list(limit=1).fetch_page()

            else:

                async def one() -> None:
                    await pulse.users.list(limit=1).fetch_page()

            for _ in range(50):  # connect and warm up outside the timing
                await one()
            start = time.perf_counter()
            for _ in range(args.calls):
                await one()
            return args.calls / (time.perf_counter() - start)

    rate = asyncio.run(main())
    loaded = any(name.startswith("opentelemetry") for name in sys.modules)
    print(
        json.dumps({"rate": rate, "check_ns": _check_ns(args.url), "opentelemetry_loaded": loaded})
    )


def _check_ns(base_url: str) -> float:
    """The per-call question "is anything watching?" alone, timed in a tight loop (ns).

    Steadier than a throughput ratio on a busy machine: it is the whole difference
    between the plain path with OpenTelemetry absent and installed without a provider.
    """
    from pulse_async._core import _endpoints as ep
    from pulse_async._instrument import watch

    class State:
        attempts = 1
        retries = 0
        throttled = 0.0

    request = ep.list_users(limit=1, cursor=None, status=None, q=None)
    n = 20_000
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            watch(base_url, request, State, None)  # type: ignore[arg-type]
        best = min(best, (time.perf_counter() - start) / n * 1e9)
    return best


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


def _site_without_opentelemetry(into: Path) -> Path:
    """A copy of site-packages (symlinks) without ``opentelemetry*``."""
    (packages,) = [p for p in site.getsitepackages() if Path(p, "aiohttp").exists()]
    farm = into / "site-packages"
    farm.mkdir()
    for entry in Path(packages).iterdir():
        if not entry.name.startswith("opentelemetry"):
            (farm / entry.name).symlink_to(entry)
    return farm


def _run_worker(variant: str, url: str, key: str, calls: int, farm: Path) -> tuple[float, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE", "OTEL"))}
    command = [sys.executable]
    if variant in ("absent", "absent again", "raw"):
        command.append("-S")  # no .pth files: only the paths below
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(farm)])
    else:
        env["PYTHONPATH"] = str(ROOT)
    command += [
        "-m",
        "benchmarks.observability",
        "--worker",
        variant,
        "--url",
        url,
        "--key",
        key,
        "--calls",
        str(calls),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    result = json.loads(done.stdout)
    expect_loaded = variant in ("no provider", "provider")
    if result["opentelemetry_loaded"] != expect_loaded:
        raise SystemExit(f"{variant}: opentelemetry loaded = {result['opentelemetry_loaded']}")
    return result["rate"], result["check_ns"]


def _run_interleaved(url: str, key: str, calls: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE", "OTEL"))}
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "benchmarks.observability", "--worker", "interleaved"]
    command += ["--url", url, "--key", key, "--calls", str(calls)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few calls, one round")
    parser.add_argument("--calls", type=int, default=2000, help="calls per variant per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--worker", choices=(*VARIANTS, "interleaved"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args)
        return 0
    if args.smoke:
        args.calls, args.rounds = 30, 1

    server, url, key = _start_server()
    rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
    checks: dict[str, list[float]] = {v: [] for v in VARIANTS}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            farm = _site_without_opentelemetry(Path(tmp))
            rng = random.Random(15)
            for _ in range(args.rounds):
                order = list(VARIANTS)
                rng.shuffle(order)
                for variant in order:
                    rate, check = _run_worker(variant, url, key, args.calls, farm)
                    rates[variant].append(rate)
                    checks[variant].append(check)
            interleaved = _run_interleaved(url, key, args.calls)
    finally:
        server.terminate()
        server.wait(10)

    reference = rates[REFERENCE]
    print(f"{args.rounds} round(s) × {args.calls} sequential calls per variant; medians")
    print(
        "| variant | calls/s | µs per call | ratio to the plain client (min–max)"
        " | watch check, ns (share of a call) |"
    )
    print("|---|---:|---:|---|---:|")
    for variant in VARIANTS:
        median = statistics.median(rates[variant])
        ratios = [a / b for a, b in zip(rates[variant], reference, strict=True)]
        spread = f"{min(ratios):.3f}–{max(ratios):.3f}"
        check = statistics.median(checks[variant])
        share = check / (1e9 / median)
        print(
            f"| observability: {variant} | {median:.0f} | {1e6 / median:.0f} |"
            f" {statistics.median(ratios):.3f} ({spread}) | {check:.0f} ({share:.2%}) |"
        )
    ratios = interleaved["ratios"]
    print(
        f"| observability: no provider, interleaved with absent in one process"
        f" ({len(ratios)} pairs of {interleaved['block']} calls) | | |"
        f" {statistics.median(ratios):.3f} ({min(ratios):.3f}–{max(ratios):.3f}) | |"
    )
    steady = statistics.median(ratios)
    verdict = "ok" if steady >= NO_PROVIDER_TARGET else "BELOW TARGET"
    print(
        f"no provider / absent, interleaved: {steady:.3f} (target ≥ {NO_PROVIDER_TARGET}) {verdict}"
    )
    extra = statistics.median(checks["no provider"]) - statistics.median(checks[REFERENCE])
    call_ns = 1e9 / statistics.median(rates[REFERENCE])
    print(
        f"no provider adds {extra:.0f} ns per call to the check: {extra / call_ns:.2%} of a call"
        f" (target < {1 - NO_PROVIDER_TARGET:.0%})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
