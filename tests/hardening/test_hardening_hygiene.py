"""Connection hygiene: 10,000 calls of every outcome leave nothing behind.

Successes, injected faults (resets before and after commit, 500s, truncated
bodies), timeouts (latency past the read timeout) and tasks cancelled
mid-flight, at a concurrency of 100 against the local Pulse server. During
the run the pool never holds more connections than its limit (sampled from
the connector and from the kernel's socket table); afterwards file
descriptors are back where they were, and no unclosed-session,
unclosed-connection or never-retrieved-exception report reached the loop.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import random
from typing import Any

import pytest
from hardening_helpers import acquired_connections, connector_of, established_sockets, open_fds

from pulse_async import AsyncPulse, Timeout
from pulse_async.errors import APIConnectionError, APITimeoutError, PulseError, ServerError
from pulse_async.models import Message, MessageReceipt, Page
from pulse_async.testing import PulseServer

CALLS = 10_000
CONCURRENCY = 100
POOL = 20  # smaller than the concurrency, so the limit is really tested
CANCEL_PROBABILITY = 0.04


async def fast_sleep(seconds: float) -> None:
    # Backoff between retries is policy, tested elsewhere; here it only slows the run.
    await asyncio.sleep(min(seconds, 0.01))


@pytest.mark.slow
async def test_ten_thousand_mixed_calls_leak_no_connection_and_no_descriptor() -> None:
    loop = asyncio.get_running_loop()
    reports: list[dict[str, Any]] = []
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reports.append(context))
    rng = random.Random(20241114)
    try:
        async with PulseServer(seed=11) as server:
            faults = server.faults
            faults.add("latency", route="GET /v2/messages/{id}", probability=0.05, delay=2.0)
            faults.add("reset_before", probability=0.03)
            faults.add("reset_after_commit", route="POST /v2/messages", probability=0.05)
            faults.add("server_error", probability=0.03)
            faults.add("truncated", route="GET *", probability=0.03)
            gc.collect()
            fds_before = open_fds()
            pulse = AsyncPulse(
                server.admin_key,
                base_url=server.url,
                max_retries=1,
                timeout=Timeout(connect=1.0, read=0.4, total=1.0),
                max_connections=POOL,
                _sleep=fast_sleep,
            )
            try:
                receipt = await pulse.with_options(max_retries=5).messages.send(
                    to=["ada@example.com"], subject="Seed", body="for retrieve"
                )
                message_id = receipt.message_id

                async def one_call(i: int) -> Any:
                    kind = i % 4
                    if kind == 0:
                        return await pulse.messages.send(
                            to=["ada@example.com"], subject=f"n{i}", body="hello"
                        )
                    if kind in (1, 2):
                        return await pulse.messages.retrieve(message_id)
                    return await pulse.users.list(limit=5).pages().__anext__()

                outcomes: collections.Counter[str] = collections.Counter()
                peak = {"acquired": 0, "established": 0}
                next_call = iter(range(CALLS))

                async def worker() -> None:
                    for i in next_call:
                        task = asyncio.create_task(one_call(i))
                        if rng.random() < CANCEL_PROBABILITY:
                            loop.call_later(rng.uniform(0, 0.02), task.cancel)
                        await asyncio.wait([task])
                        if task.cancelled():
                            outcomes["cancelled"] += 1
                            continue
                        error = task.exception()
                        if error is None:
                            result = task.result()
                            assert isinstance(result, MessageReceipt | Message | Page), result
                            outcomes["ok"] += 1
                        else:
                            assert isinstance(error, PulseError), repr(error)
                            outcomes[type(error).__name__] += 1

                async def sampler() -> None:
                    tick = 0
                    while True:
                        connector = connector_of(pulse)
                        if connector is not None:
                            peak["acquired"] = max(peak["acquired"], acquired_connections(pulse))
                        if tick % 10 == 0:
                            live = established_sockets(server.port)
                            for _ in range(3):
                                if len(live) <= POOL:
                                    break
                                # aiohttp hands a released slot to the next waiter before it
                                # closes the old socket, and asyncio closes a socket one loop
                                # iteration after transport.close(): for that iteration the
                                # kernel may see one socket more than the pool. Of what was
                                # established at this instant, what is still established a
                                # few iterations later must be within the limit.
                                await asyncio.sleep(0)
                                live &= established_sockets(server.port)
                            peak["established"] = max(peak["established"], len(live))
                        tick += 1
                        await asyncio.sleep(0.005)

                sampling = asyncio.create_task(sampler())
                await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
                sampling.cancel()
                await asyncio.wait([sampling])

                assert sum(outcomes.values()) == CALLS
                # Every kind of outcome really happened.
                assert outcomes["ok"] > CALLS // 2, outcomes
                assert outcomes["cancelled"] > 0, outcomes
                assert outcomes[APITimeoutError.__name__] > 0, outcomes
                assert outcomes[APIConnectionError.__name__] + outcomes[ServerError.__name__] > 0
                # The pool never went past its limit.
                assert 0 < peak["acquired"] <= POOL, peak
                assert 0 < peak["established"] <= POOL, peak
                assert acquired_connections(pulse) == 0
                # What is left open is at most the pool's idle connections (and the server's ends).
                gc.collect()
                assert open_fds() <= fds_before + 2 * POOL
                await pulse.aclose()
                await asyncio.sleep(0)
                for _ in range(200):  # the server closes its ends as the client's FINs arrive
                    gc.collect()
                    if open_fds() <= fds_before and len(established_sockets(server.port)) == 0:
                        break
                    await asyncio.sleep(0.01)
                assert len(established_sockets(server.port)) == 0
                assert open_fds() <= fds_before
            finally:
                # A failed assertion above must not leave the pool for a later test to find.
                await pulse.aclose()
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous_handler)
    messages = [str(context.get("message")) for context in reports]
    assert not messages, messages
