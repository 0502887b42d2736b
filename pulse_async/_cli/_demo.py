"""``pulse demo``: the SDK's main job, end to end, with no account and no key.

A local Pulse server (:mod:`pulse_async.testing`) starts on this process's
event loop; the real async client invites a few users, fans out ``--count``
messages with ``messages.send_many`` through its rate limiter and retry
engine, follows each one to a final status with ``messages.wait``, and
compares what it believes with the server's ledger. ``--faults`` makes the
server drop connections after committing, answer 500s and a burst of 429s,
so the retries (and the idempotency keys that make them safe) show.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any, TextIO

from pulse_async import AsyncPulse, MessageReceipt, PulseError
from pulse_async._cli._output import make_progress, print_json
from pulse_async.constants import RoleName
from pulse_async.testing import PulseServer

__all__ = ["run_demo"]

_USERS: tuple[tuple[str, str, RoleName], ...] = (
    ("ada@example.com", "Ada Lovelace", "editor"),
    ("grace@example.com", "Grace Hopper", "editor"),
    ("alan@example.com", "Alan Turing", "viewer"),
    ("katherine@example.com", "Katherine Johnson", "viewer"),
    ("edsger@example.com", "Edsger Dijkstra", "viewer"),
)
# The local server bounces or fails mail to addresses with ``+bounce`` / ``+fail`` in them.
_BOUNCES = "returned+bounce@example.net"
_FAILS = "unreachable+fail@example.net"

#: Fault mix of ``--faults`` on ``POST /v2/messages`` (and 500s on the polls too).
_RESET_AFTER_COMMIT = 0.10
_SERVER_ERRORS = 0.05
_BURST_OF_429 = 8
_FAULT_RETRIES = 5


def _item(index: int, user_ids: list[str]) -> dict[str, Any]:
    if index % 50 == 49:
        to = [_BOUNCES]
    elif index % 100 == 73:
        to = [_FAILS]
    else:
        to = [user_ids[index % len(user_ids)]]
    return {
        "to": to,
        "subject": f"Pulse demo #{index + 1}",
        "body": f"**Hello** from `pulse demo`: message {index + 1}.",
    }


class _Narrator:
    """Lines for a human on stdout; nothing in ``--json`` mode."""

    def __init__(self, out: TextIO, quiet: bool) -> None:
        self._out = out
        self._quiet = quiet

    def __call__(self, text: str = "") -> None:
        if not self._quiet:
            self._out.write(text + "\n")
            self._out.flush()


async def run_demo(args: argparse.Namespace) -> int:
    """Run the demo; 0 when every message was accepted exactly once, else 1.

    With ``--serve`` the server keeps running afterwards, with its web inbox,
    until Ctrl-C (or SIGTERM).
    """
    per_minute: float | None = args.rate_limit
    server = PulseServer(
        rate_limit=None if per_minute is None else max(1, int(per_minute)),
        seed=args.seed,
        port=getattr(args, "port", 0) or 0,
    )
    async with server:
        status = await _fan_out(args, server)
        if getattr(args, "serve", False):
            await _serve(server, sys.stderr if getattr(args, "json", False) else sys.stdout)
    return status


async def _serve(server: PulseServer, out: TextIO) -> None:
    """Keep the server up, and say where its inbox is, until SIGINT or SIGTERM.

    ``out`` is stderr under ``--json``, so stdout stays one JSON document.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows: no handlers
            loop.add_signal_handler(sig, stop.set)
    out.write(
        f"\nThe local Pulse server keeps running: open its inbox at {server.url}/\n"
        f"  Pulse v2:    {server.v2_url}\n"
        f"  Pulsewave:   {server.v1_url}\n"
        f"  admin key:   {server.admin_key}   (the inbox's controls ask for it)\n"
        "Press Ctrl-C to stop.\n"
    )
    out.flush()
    await stop.wait()
    out.write("Stopped.\n")
    out.flush()


async def _fan_out(args: argparse.Namespace, server: PulseServer) -> int:
    out = sys.stdout
    as_json = bool(getattr(args, "json", False))
    say = _Narrator(out, as_json)
    count: int = args.count
    concurrency: int = args.concurrency
    per_minute: float | None = args.rate_limit
    started = time.perf_counter()
    say(f"pulse demo: a local Pulse server is running in this process at {server.url}")
    say("  (no account and no key needed: the server issued its own test keys)")
    say()
    async with AsyncPulse(
        server.admin_key,
        base_url=server.v2_url,
        rate_limit=per_minute,
        max_retries=_FAULT_RETRIES if args.faults else 2,
    ) as pulse:
        users = await asyncio.gather(
            *(pulse.users.create(email=e, name=n, role=r) for e, n, r in _USERS)
        )
        say(f"Invited {len(users)} users: " + ", ".join(u.name or u.email for u in users))

        burst = min(_BURST_OF_429, max(1, count // 4))
        if args.faults:
            route = "POST /v2/messages"
            server.faults.add("reset_after_commit", route=route, probability=_RESET_AFTER_COMMIT)
            server.faults.add("server_error", route=route, probability=_SERVER_ERRORS)
            server.faults.add(
                "server_error", route="GET /v2/messages/{id}", probability=_SERVER_ERRORS
            )
            say(
                f"Faults on: {_RESET_AFTER_COMMIT:.0%} of sends are committed and then the "
                f"connection is reset, {_SERVER_ERRORS:.0%} answer 500, and a burst of "
                f"{burst} x 429 hits halfway (max_retries={_FAULT_RETRIES})"
            )

        limit_text = "off" if per_minute is None else f"{per_minute:,.0f}/min"
        say(
            f"Sending {count:,} messages with messages.send_many "
            f"({concurrency} in flight, rate limiter {limit_text})..."
        )
        user_ids = [u.id for u in users]

        def items() -> Iterator[dict[str, Any]]:
            # send_many pulls items as it goes: the burst meets the second half.
            for index in range(count):
                if args.faults and index == count // 2:
                    server.faults.add("rate_limited", route="POST /v2/messages", count=burst)
                yield _item(index, user_ids)

        bar = make_progress(count, "sending")

        def on_progress(done: int, _total: int | None, failed: int) -> None:
            bar.update(done, failed)

        send_started = time.perf_counter()
        try:
            outcomes = await pulse.messages.send_many(
                items(),
                concurrency=concurrency,
                batch_id=f"demo-{uuid.uuid4().hex[:12]}",
                on_progress=on_progress,
            )
        finally:
            bar.close()
        send_seconds = time.perf_counter() - send_started
        receipts = [o for o in outcomes if isinstance(o, MessageReceipt)]
        send_errors = [o for o in outcomes if isinstance(o, PulseError)]

        say(f"Waiting for {len(receipts):,} messages to reach a final status (messages.wait)...")
        statuses: Counter[str] = Counter()
        gate = asyncio.Semaphore(concurrency)
        bar = make_progress(len(receipts), "delivering")

        async def track(receipt: MessageReceipt) -> None:
            async with gate:
                try:
                    message = await pulse.messages.wait(
                        receipt.message_id, timeout=60, poll_interval=0.25
                    )
                except PulseError:
                    statuses["unknown"] += 1
                else:
                    statuses[message.status] += 1
            bar.update(statuses.total())

        try:
            async with asyncio.TaskGroup() as group:
                for receipt in receipts:
                    group.create_task(track(receipt))
        finally:
            bar.close()
        stats = pulse.stats

    on_server = len(server.ledger.of_kind("message.created"))
    duplicates = server.ledger.duplicate_idempotency_keys()
    faults = dict(server.stats.faults)
    replayed = server.stats.replayed
    server_429s = server.stats.rate_limited
    total_seconds = time.perf_counter() - started

    summary: dict[str, Any] = {
        "requested": count,
        "sent": len(receipts),
        "send_errors": len(send_errors),
        "delivered": statuses["delivered"],
        "bounced": statuses["bounced"],
        "failed": statuses["failed"],
        "other_statuses": {
            k: v for k, v in statuses.items() if k not in ("delivered", "bounced", "failed")
        },
        "retries": stats.retries,
        "rate_limited": stats.rate_limited,
        "throttled": stats.throttled,
        "attempts": stats.attempts,
        "server_rate_limited": server_429s,
        "rate_limit_per_minute": per_minute,
        "faults_injected": faults,
        "idempotent_replays": replayed,
        "on_server": on_server,
        "duplicate_idempotency_keys": len(duplicates),
        "exactly_once": on_server == count and not duplicates,
        "send_seconds": round(send_seconds, 3),
        "throughput_per_second": round(len(receipts) / send_seconds, 1) if send_seconds else None,
        "total_seconds": round(total_seconds, 3),
    }
    ok = summary["exactly_once"] and not send_errors
    if as_json:
        print_json(summary, out)
    else:
        _print_summary(summary, send_errors, say)
    return 0 if ok else 1


def _print_summary(s: dict[str, Any], send_errors: list[PulseError], say: _Narrator) -> None:
    rows: list[tuple[str, str, str]] = [
        ("requested", f"{s['requested']:,}", ""),
        ("sent", f"{s['sent']:,}", "accepted by the server (202)"),
    ]
    if send_errors:
        first = send_errors[0]
        rows.append(
            ("send errors", f"{len(send_errors):,}", f"first: {type(first).__name__}: {first}")
        )
    rows += [
        ("delivered", f"{s['delivered']:,}", ""),
        ("bounced", f"{s['bounced']:,}", ""),
        ("failed", f"{s['failed']:,}", ""),
    ]
    rows += [(status, f"{n:,}", "") for status, n in sorted(s["other_statuses"].items())]
    rows.append(("retries taken", f"{s['retries']:,}", f"of {s['attempts']:,} requests in all"))
    rows.append(
        (
            "429s received",
            f"{s['rate_limited']:,}",
            "each one paused the whole client for its Retry-After" if s["rate_limited"] else "",
        )
    )
    if s["rate_limit_per_minute"] is not None:
        # What was measured: calls that waited before sending. Whether any of them would have
        # been a 429 without the wait is not something this run can know, so it is not said.
        rows.append(
            (
                "held back",
                f"{s['throttled']:,}",
                f"calls that waited for the client's {s['rate_limit_per_minute']:,.0f}/min "
                f"limiter (or a 429's pause) before sending; the server answered "
                f"{s['server_rate_limited']:,} with 429",
            )
        )
    if s["faults_injected"]:
        names = {
            "reset_after_commit": "resets after commit",
            "server_error": "x 500",
            "rate_limited": "x 429",
        }
        injected = ", ".join(
            f"{n:,} {names.get(kind, kind)}" for kind, n in sorted(s["faults_injected"].items())
        )
        rows.append(("faults injected", f"{sum(s['faults_injected'].values()):,}", injected))
        rows.append(
            (
                "idempotent replays",
                f"{s['idempotent_replays']:,}",
                "retries of committed sends, answered from the server's record, not sent twice",
            )
        )
    note = f"msgs/s ({s['sent']:,} sends in {s['send_seconds']:.2f} s"
    if s["rate_limit_per_minute"] is not None:
        cap = s["rate_limit_per_minute"] / 60
        note += (
            f"; capped by this demo's own rate limit, {s['rate_limit_per_minute']:,.0f}/min "
            f"= {cap:,.0f}/s: not a measure of the SDK's speed"
        )
    rows.append(("throughput", f"{s['throughput_per_second'] or 0:,.0f}", note + ")"))
    rows.append(("total time", f"{s['total_seconds']:.1f}", "s"))
    label_width = max(len(label) for label, _, _ in rows)
    number_width = max(len(number) for _, number, _ in rows)
    say()
    for label, number, note in rows:
        say(f"  {label.ljust(label_width)}  {number.rjust(number_width)}  {note}".rstrip())
    say()
    if s["exactly_once"]:
        noun = "message" if s["on_server"] == 1 else "messages"
        say(f"exactly {s['on_server']:,} {noun} on the server for {s['requested']:,} requested")
    else:
        say(
            f"MISMATCH: {s['on_server']:,} messages on the server for {s['requested']:,} "
            f"requested ({s['duplicate_idempotency_keys']} idempotency keys committed twice)"
        )
