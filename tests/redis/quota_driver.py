"""The worker processes of the quota tests: each sends through one shared limiter.

Run by the tests as ``python quota_driver.py --processes 8 --base-url … --redis-url …``
with the API key in ``$PULSE_API_KEY``. It imports everything and builds the
limiter once, prints ``ready``, reads the start time (epoch seconds) from
stdin, and forks ``--processes`` children (forking keeps eight Python start-ups
out of the measured window, and it is how preforking servers run: the limiter
is made before the fork, each child opens its own Redis connections).

Each child sends ``POST /v2/messages`` with ``--concurrency`` callers from the
start time for ``--duration`` seconds, each send with its own Idempotency-Key,
and writes ``p<i>.jsonl`` (one line per outcome: the key, whether it
succeeded, the error's class and status if not, when), ``p<i>.json`` (the
client's counters) and ``p<i>.log`` (its log) into ``--out-dir``. The parent
exits 0 when every child did.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

from pulse_async import APIError, AsyncPulse, PulseError, RedisRateLimiter


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--per-minute", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--fallback-share", type=float, default=None)
    return parser.parse_args()


def record(out: TextIO, **fields: Any) -> None:
    out.write(json.dumps({**fields, "t": time.time()}) + "\n")
    out.flush()


async def send_until(
    limiter: RedisRateLimiter, args: argparse.Namespace, index: int, start_at: float, out: TextIO
) -> dict[str, Any]:
    """One child's work: send until the deadline, record every outcome."""
    numbers = itertools.count()
    deadline = start_at + args.duration
    async with AsyncPulse(base_url=args.base_url, rate_limit=limiter) as pulse:
        await asyncio.sleep(max(0.0, start_at - time.time()))

        async def caller() -> None:
            while time.time() < deadline:
                key = f"{args.run_id}-p{index}-{next(numbers)}"
                try:
                    receipt = await pulse.messages.send(
                        to=["quota@example.com"], subject="quota", body="q", idempotency_key=key
                    )
                except PulseError as exc:
                    status = exc.status if isinstance(exc, APIError) else None
                    record(out, key=key, ok=False, error=type(exc).__name__, status=status)
                else:
                    record(out, key=key, ok=True, message_id=receipt.message_id)

        await asyncio.gather(*(caller() for _ in range(args.concurrency)))
        stats = pulse.stats
    await limiter.aclose()
    return {
        "attempts": stats.attempts,
        "retries": stats.retries,
        "rate_limited": stats.rate_limited,
        "throttled": stats.throttled,
        "degraded_at_end": limiter.degraded,
    }


def child(limiter: RedisRateLimiter, args: argparse.Namespace, index: int, start_at: float) -> int:
    out_dir: Path = args.out_dir
    logging.basicConfig(
        level=logging.INFO,
        format="%(levelname)s %(name)s %(message)s",
        filename=out_dir / f"p{index}.log",
        force=True,
    )
    try:
        with (out_dir / f"p{index}.jsonl").open("w") as out:
            counters = asyncio.run(send_until(limiter, args, index, start_at, out))
        (out_dir / f"p{index}.json").write_text(json.dumps(counters))
    except BaseException:
        logging.getLogger("quota_driver").error(
            "child %d failed:\n%s", index, traceback.format_exc()
        )
        return 1
    return 0


def main() -> int:
    args = parse_args()
    options: dict[str, Any] = {}
    if args.fallback_share is not None:
        options["fallback_share"] = args.fallback_share
    limiter = RedisRateLimiter(
        args.redis_url, name=args.name, per_minute=args.per_minute, **options
    )
    print("ready", flush=True)
    start_at = float(sys.stdin.readline())
    children = []
    for index in range(args.processes):
        pid = os.fork()
        if pid == 0:
            os._exit(child(limiter, args, index, start_at))
        children.append(pid)
    failed = 0
    for pid in children:
        _, status = os.waitpid(pid, 0)
        failed += os.waitstatus_to_exitcode(status) != 0
    print(json.dumps({"children": len(children), "failed": failed}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
