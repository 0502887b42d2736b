"""Exactly-once under faults, and the limiter at a plan's rate, against the local server."""

from __future__ import annotations

import asyncio
import time

from pulse_async import AsyncPulse, MessageReceipt, PulseError
from pulse_async.testing import PulseServer


async def scaled_sleep(seconds: float) -> None:
    # Real waits, 50 times shorter: the backoff schedule is exercised without its wall time.
    await asyncio.sleep(seconds / 50)


async def test_2000_sends_under_faults_make_exactly_2000_messages() -> None:
    async with PulseServer(seed=2024) as server:
        server.faults.add(
            "rate_limited", route="POST /v2/messages", probability=0.02, count=40, retry_after=1
        )
        server.faults.add("reset_after_commit", route="POST /v2/messages", probability=0.20)
        server.faults.add("server_error", route="POST /v2/messages", probability=0.0625)
        async with AsyncPulse(
            server.admin_key, base_url=server.v2_url, max_retries=5, _sleep=scaled_sleep
        ) as pulse:

            async def one(n: int) -> MessageReceipt | PulseError:
                try:
                    return await pulse.messages.send(
                        to=[f"user{n % 50}@example.com"], subject=f"n{n}", body="exactly once"
                    )
                except PulseError as exc:
                    return exc

            outcomes = await asyncio.gather(*(one(n) for n in range(2000)))
            # Every call returned a receipt or raised a typed error, each carrying its key.
            assert all(isinstance(o, MessageReceipt | PulseError) for o in outcomes)
            assert all(o.idempotency_key for o in outcomes)
            keys = [o.idempotency_key for o in outcomes]
            assert len(set(keys)) == 2000
            # What failed is re-sent later with its own key, as a caller would.
            server.faults.clear()
            for index, outcome in enumerate(outcomes):
                if isinstance(outcome, PulseError):
                    outcomes[index] = await pulse.messages.send(
                        to=[f"user{index % 50}@example.com"],
                        subject=f"n{index}",
                        body="exactly once",
                        idempotency_key=outcome.idempotency_key,
                    )
            stats = pulse.stats
        created = server.ledger.of_kind("message.created")
        assert len(created) == 2000
        assert {entry.idempotency_key for entry in created} == set(keys)
        assert not server.ledger.duplicate_idempotency_keys()
        # The faults really happened and were really retried.
        assert stats.retries > 300
        assert stats.rate_limited > 0
        receipts = [o for o in outcomes if isinstance(o, MessageReceipt)]
        assert len({r.message_id for r in receipts}) == 2000


async def test_limiter_at_the_plan_rate_sees_no_429_and_uses_the_quota() -> None:
    per_minute = 1200  # 20 per second: a few seconds of sending is a real test of the rate
    async with PulseServer() as server:
        key = server.create_key(role="editor", rate_limit=per_minute)
        async with AsyncPulse(
            key, base_url=server.v2_url, rate_limit=per_minute, max_retries=0
        ) as pulse:
            sent = 0
            errors: list[PulseError] = []
            start = time.monotonic()
            window = 4.0

            async def worker() -> None:
                nonlocal sent
                while time.monotonic() - start < window:
                    try:
                        await pulse.messages.send(to=["a@example.com"], subject="s", body="b")
                        sent += 1
                    except PulseError as exc:
                        errors.append(exc)
                        return

            await asyncio.gather(*(worker() for _ in range(32)))
            elapsed = time.monotonic() - start
        assert errors == []
        assert server.stats.rate_limited == 0
        allowed = per_minute / 60 * elapsed
        assert sent >= 0.9 * allowed
