"""``RedisStore``: the store protocol on a real redis-server, outages, several processes."""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis_helpers import RedisServer, free_port, unique
from webhook_helpers import SECRET, event_body

from pulse_async.errors import ClientMisuseError, ValidationError
from pulse_async.webhooks import (
    MemoryStore,
    RedisStore,
    StoreUnavailableError,
    Webhook,
    WebhookEvent,
    WebhookStore,
    handle,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


@pytest.fixture(params=["memory", "redis"])
async def store(
    request: pytest.FixtureRequest, redis_server: RedisServer
) -> AsyncIterator[WebhookStore]:
    """Both stores, held to one behaviour."""
    if request.param == "memory":
        yield MemoryStore()
        return
    redis_store = RedisStore(redis_server.url, key_prefix=unique("wh") + ":")
    yield redis_store
    await redis_store.aclose()


async def test_claim_complete_release(store: WebhookStore) -> None:
    first = await store.claim("evt_a")
    assert first.state == "claimed"
    assert first.token is not None
    assert (await store.claim("evt_a")).state == "in_progress"
    await store.release("evt_a", "someone-else")
    assert (await store.claim("evt_a")).state == "in_progress"
    await store.release("evt_a", first.token)
    second = await store.claim("evt_a")
    assert second.state == "claimed"
    assert second.token is not None
    await store.complete("evt_a", second.token)
    assert (await store.claim("evt_a")).state == "handled"
    await store.release("evt_a", second.token)  # too late: a handled id stays handled
    assert (await store.claim("evt_a")).state == "handled"


async def test_concurrent_claims_one_winner(store: WebhookStore) -> None:
    claims = await asyncio.gather(*(store.claim("evt_b") for _ in range(40)))
    assert sorted(c.state for c in claims) == ["claimed"] + ["in_progress"] * 39


async def test_redis_ttl_and_lease_expire(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, key_prefix=unique("wh") + ":", ttl=0.2, lease=0.2)
    try:
        claim = await store.claim("evt_ttl")
        assert claim.token is not None
        await asyncio.sleep(0.4)  # the process "died": its lease runs out
        again = await store.claim("evt_ttl")
        assert again.state == "claimed"
        assert again.token is not None
        await store.complete("evt_ttl", again.token)
        assert (await store.claim("evt_ttl")).state == "handled"
        await asyncio.sleep(0.4)
        assert (await store.claim("evt_ttl")).state == "claimed"
    finally:
        await store.aclose()


async def test_redis_store_defaults_cover_the_retry_horizon(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, key_prefix=unique("wh") + ":")
    try:
        claim = await store.claim("evt_horizon")
        assert claim.token is not None
        await store.complete("evt_horizon", claim.token)
        client = store._redis
        assert client is not None
        assert (
            await client.pttl(store.key("evt_horizon"))
            > (5 + 300 + 1800 + 7200 + 18000 + 72000) * 1000
        )
    finally:
        await store.aclose()


async def test_an_unreachable_redis_answers_503_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pulse_async.webhooks")
    server = RedisServer(tmp_path, port=free_port(), password="hunter2-redis")
    store = RedisStore(server.url, key_prefix="wh:", socket_timeout=0.3)
    ran: list[str] = []

    async def on_event(event: WebhookEvent) -> None:
        ran.append(event.id)

    body = event_body("evt_down")
    webhook = Webhook(SECRET)
    try:
        for _ in range(3):
            outcome = await handle(webhook, body, webhook.sign(body, webhook_id="evt_down"),
                                   on_event, store=store)  # fmt: skip
            assert (outcome.status, outcome.reason) == (503, "store_unavailable")
        assert ran == []
        assert caplog.text.count("Redis is unreachable") == 1
        server.start()
        outcome = await handle(webhook, body, webhook.sign(body, webhook_id="evt_down"),
                               on_event, store=store)  # fmt: skip
        assert outcome.reason == "handled"
        assert "Redis is back" in caplog.text
        assert "hunter2-redis" not in caplog.text
        assert "hunter2-redis" not in repr(store)
        server.kill()
        with pytest.raises(StoreUnavailableError) as info:
            await store.claim("evt_x")
        assert "hunter2-redis" not in str(info.value)
    finally:
        await store.aclose()
        server.stop()


def test_redis_store_checks_its_arguments() -> None:
    for kwargs, field in (
        ({"ttl": 0}, "ttl"),
        ({"lease": -1}, "lease"),
        ({"socket_timeout": float("inf")}, "socket_timeout"),
    ):
        with pytest.raises(ValidationError) as info:
            RedisStore("redis://127.0.0.1:1/0", **kwargs)  # type: ignore[arg-type]
        assert info.value.field == field
    with pytest.raises(ValidationError) as info:
        RedisStore("http://user:pw-secret@example.com")
    assert info.value.field == "redis_url"
    assert "pw-secret" not in str(info.value)


@pytest.mark.slow
def test_several_processes_share_one_store_and_handle_each_event_once(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Four real processes receive the same 150 events three times each, concurrently, with
    handlers that fail one time in four: every event's handler succeeds exactly once."""
    prefix = unique("wh-mp") + ":"
    events, workers = 150, 4
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                str(HERE / "dedupe_worker.py"),
                redis_server.url,
                prefix,
                str(events),
                str(seed),
                str(tmp_path / f"out{seed}"),
                str(go),
            ],
            env=env,
        )
        for seed in range(workers)
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"out{seed}.ready").exists() for seed in range(workers)):
        assert time.monotonic() < deadline, "the workers did not start"
        assert all(process.poll() is None for process in processes)
        time.sleep(0.02)
    go.touch()
    for process in processes:
        assert process.wait(timeout=120) == 0
    runs = collections.Counter(
        line
        for seed in range(workers)
        for line in (tmp_path / f"out{seed}").read_text().splitlines()
    )
    assert runs == {f"evt_{i}": 1 for i in range(events)}
    # Several processes did some of the work: the store really was shared.
    assert sum(bool((tmp_path / f"out{seed}").read_text()) for seed in range(workers)) >= 2


async def test_a_claim_taken_over_after_its_lease_is_not_completed_twice(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisStore(redis_server.url, key_prefix=unique("wh") + ":", lease=0.1)
    try:
        slow = await store.claim("evt_lease")
        await asyncio.sleep(0.3)
        fast = await store.claim("evt_lease")
        assert fast.state == "claimed"
        assert slow.token is not None
        await store.complete("evt_lease", slow.token)  # too late: another delivery owns it
        assert "lease expired" in caplog.text
        assert (await store.claim("evt_lease")).state == "in_progress"
    finally:
        await store.aclose()


def test_one_store_serves_one_loop_after_another(redis_server: RedisServer) -> None:
    """asyncio.run twice (a CLI, a test): the second loop opens its own connections."""
    store = RedisStore(redis_server.url, key_prefix=unique("wh") + ":")

    async def claim_and_close() -> str:
        try:
            return (await store.claim("evt_loop1")).state
        finally:
            await store.aclose()

    first = asyncio.run(store.claim("evt_loop1"))
    second = asyncio.run(claim_and_close())
    assert (first.state, second) == ("claimed", "in_progress")
    asyncio.run(store.aclose())  # nothing left to close: a no-op


def test_a_store_in_use_on_another_open_loop_is_a_misuse(redis_server: RedisServer) -> None:
    """Two live loops on one store: a ``ClientMisuseError`` (never retried), as for the
    rate limiter, not a bare ``RuntimeError`` outside the error tree."""
    store = RedisStore(redis_server.url, key_prefix=unique("wh") + ":")
    first = asyncio.new_event_loop()
    try:
        assert first.run_until_complete(store.claim("evt_a")).state == "claimed"

        async def from_a_second_loop() -> None:
            await store.claim("evt_b")

        with pytest.raises(ClientMisuseError, match="another event loop"):
            asyncio.run(from_a_second_loop())
        first.run_until_complete(store.aclose())
    finally:
        first.close()
