"""One process of the saturation test: callers far past the shared rate, half of them giving up.

Run by ``test_redis_saturation.py`` as ``python saturation_worker.py ARGS-JSON``. From
the start time (epoch seconds) for ``duration`` seconds it starts ``per_second``
callers a second, spread evenly, over ``limiters`` RedisRateLimiter instances on one
name (each its own queue, as separate processes would be). Callers take turns at four
behaviours: two wait as long as it takes, one is cancelled (its own ``asyncio.timeout``)
after 0-50 ms, one gives ``max_wait`` 0-50 ms (refused if its slot is further).

It prints one JSON line: the epoch time each admitted caller got its slot, and how
many callers were cancelled and refused. ``time.time()`` is the host's real-time clock,
the one Redis's ``TIME`` reads: admissions are counted on Redis's clock.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import sys
import time
from typing import Any

from pulse_async import APITimeoutError, RedisRateLimiter


async def main(args: dict[str, Any]) -> dict[str, Any]:
    limiters = [
        RedisRateLimiter(
            args["redis_url"], name=args["name"], per_minute=args["per_minute"], burst=args["burst"]
        )
        for _ in range(args["limiters"])
    ]
    rng = random.Random(args["seed"])
    admitted: list[float] = []
    counts = {"cancelled": 0, "refused": 0}

    async def caller(n: int) -> None:
        limiter = limiters[n % len(limiters)]
        kind = n % 4
        try:
            if kind == 2:
                async with asyncio.timeout(rng.uniform(0, 0.05)):
                    await limiter.acquire(math.inf)
            else:
                await limiter.acquire(rng.uniform(0, 0.05) if kind == 3 else math.inf)
        except TimeoutError:
            counts["cancelled"] += 1
            return
        except APITimeoutError:
            counts["refused"] += 1
            return
        admitted.append(time.time())

    # One connection each before the start: connecting is not what is measured.
    for limiter in limiters:
        await limiter.acquire(math.inf)
    await asyncio.sleep(max(0.0, args["start_at"] - time.time()))
    # Start saturated, as the bucket is from the first slot on at this load: its burst spent
    # (a pause of a millisecond), so that the burst allowance is left to absorb the lag
    # between a slot and the moment a busy event loop resumes its caller.
    await limiters[0].pause(0.001)
    start = time.monotonic()
    gap = 1 / args["per_second"]
    tasks: list[asyncio.Task[None]] = []
    for n in range(round(args["per_second"] * args["duration"])):
        await asyncio.sleep(max(0.0, start + n * gap - time.monotonic()))
        tasks.append(asyncio.create_task(caller(n)))
    await asyncio.sleep(max(0.0, start + args["duration"] - time.monotonic()))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for limiter in limiters:
        await limiter.aclose()
    return {"admitted": admitted, **counts}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
