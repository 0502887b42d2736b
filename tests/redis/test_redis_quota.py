"""Eight processes, one quota: real processes, a real redis-server, the local Pulse server.

The server's key allows 600 requests a minute. Eight worker processes, each
an ``AsyncPulse`` with a ``RedisRateLimiter`` on the same name, send as fast
as their limiter lets them. What counts is what the *server* accepted, by
the ledger's timestamps, inside the measured window.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from redis_helpers import Drivers, RedisServer, unique

from pulse_async.testing import LedgerEntry, PulseServer, ServerThread

PER_MINUTE = 600
PROCESSES = 8


def entries_of(server: ServerThread, run_id: str) -> list[LedgerEntry]:
    return [
        e
        for e in server.ledger.of_kind("message.created")
        if e.idempotency_key is not None and e.idempotency_key.startswith(run_id)
    ]


@pytest.mark.slow
def test_eight_processes_use_the_quota_without_a_single_429(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    duration = 30.0
    run_id = unique("share")
    with PulseServer().start_in_thread() as server:
        api_key = server.create_key(role="editor", rate_limit=PER_MINUTE)
        drivers = Drivers(
            server_url=server.url,
            api_key=api_key,
            redis_url=redis_server.url,
            name=unique("quota"),
            per_minute=PER_MINUTE,
            processes=PROCESSES,
            duration=duration,
            out_dir=tmp_path,
            run_id=run_id,
        )
        try:
            start_at = drivers.start()
            assert drivers.finish(timeout=duration + 60) == 0, drivers.driver_log()
        finally:
            drivers.kill()
        entries = entries_of(server, run_id)
        rate_limited = server.stats.rate_limited

    window = [e for e in entries if start_at <= e.timestamp < start_at + duration]
    quota = PER_MINUTE * duration / 60  # 300 requests in 30 s
    assert rate_limited == 0
    assert all(drivers.counters(i)["rate_limited"] == 0 for i in range(PROCESSES))
    # At least 90 % of the plan used, and never more than the plan.
    print(f"accepted in the window: {len(window)} of {quota:g}")
    assert len(window) >= 0.9 * quota, len(window)
    assert len(window) <= quota + 1, len(window)
    # First come, first served: no process is starved.
    per_process = Counter(e.idempotency_key.rsplit("-", 1)[0] for e in window)  # type: ignore[union-attr]
    assert len(per_process) == PROCESSES
    assert min(per_process.values()) >= 0.5 * len(window) / PROCESSES, per_process
    outcomes = drivers.outcomes()
    assert all(o["ok"] for o in outcomes)
    assert len(entries) == len(outcomes)


@pytest.mark.slow
def test_redis_killed_mid_run_every_process_falls_back_and_rejoins(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    duration, kill_at, restart_at = 20.0, 8.0, 14.0
    run_id = unique("outage")
    with PulseServer().start_in_thread() as server:
        api_key = server.create_key(role="editor", rate_limit=PER_MINUTE)
        drivers = Drivers(
            server_url=server.url,
            api_key=api_key,
            redis_url=own_redis.url,
            name=unique("quota"),
            per_minute=PER_MINUTE,
            processes=PROCESSES,
            duration=duration,
            out_dir=tmp_path,
            run_id=run_id,
            fallback_share=1 / PROCESSES,
        )
        try:
            start_at = drivers.start()
            time.sleep(max(0.0, start_at + kill_at - time.time()))
            own_redis.kill()
            killed = time.time()
            time.sleep(max(0.0, start_at + restart_at - time.time()))
            own_redis.start()
            restarted = time.time()
            assert drivers.finish(timeout=duration + 60) == 0, drivers.driver_log()
        finally:
            drivers.kill()
        entries = entries_of(server, run_id)
        duplicates = server.ledger.duplicate_idempotency_keys()
        rate_limited = server.stats.rate_limited

    outcomes = drivers.outcomes()
    # Nothing crashed, nothing failed, nothing was lost or sent twice.
    assert all(o["ok"] for o in outcomes), [o for o in outcomes if not o["ok"]][:5]
    assert not duplicates
    ledger_keys = Counter(e.idempotency_key for e in entries)
    assert set(ledger_keys) == {o["key"] for o in outcomes}
    assert len(entries) == len(outcomes)
    assert rate_limited == 0

    for index in range(PROCESSES):
        log = drivers.log(index)
        # One warning when Redis went away, one notice when it came back: no log storm.
        assert log.count("WARNING pulse_async.ratelimit") == 1, log
        assert log.count("is unreachable") == 1, log
        assert log.count("INFO pulse_async.ratelimit") == 1, log
        assert "is back" in log
        assert "hunter" not in log
        assert drivers.counters(index)["degraded_at_end"] is False

    # While Redis was down (once the slots booked before it died were spent), every
    # process kept sending at its share of the quota, and together never above it.
    settled = killed + 2
    outage = [o for o in outcomes if settled <= o["t"] < restarted]
    per_process = Counter(o["key"].rsplit("-", 1)[0] for o in outage)
    assert len(per_process) == PROCESSES, per_process
    assert min(per_process.values()) >= 2, per_process
    assert len(outage) <= PER_MINUTE / 60 * (restarted - settled) + PROCESSES, len(outage)
