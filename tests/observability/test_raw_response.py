"""``with_raw_response`` and ``APIError.rate_limit`` against the local Pulse server."""

from __future__ import annotations

import random

import pytest

from pulse_async import (
    APIResponse,
    AsyncPulse,
    AsyncPulsewave,
    NotFoundError,
    RateLimitError,
    RateLimitInfo,
    RetryEvent,
)
from pulse_async.testing import PulseServer


class VirtualTime:
    """The client's clock and sleep: waits advance the clock at once."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_send_carries_the_exchange_and_a_replay_is_flagged() -> None:
    async with (
        PulseServer(rate_limit="pro") as server,
        AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse,
    ):
        raw = pulse.with_raw_response.messages
        first = await raw.send(to=["ada@example.com"], subject="Hi", body="Hello")
        assert isinstance(first, APIResponse)
        receipt = first.parse()
        assert first.status == 202
        assert first.request_id is not None
        assert first.request_id.startswith("req_")
        assert first.request_id == first.headers["x-request-id"]  # case-insensitive
        assert first.idempotency_key == receipt.idempotency_key is not None
        assert first.replayed is False
        assert first.attempts == 1
        assert first.elapsed >= 0
        assert first.rate_limit == RateLimitInfo(1000, 999, first.rate_limit.reset)
        assert first.rate_limit.reset is not None
        assert first.rate_limit.reset >= 0

        again = await raw.send(
            to=["ada@example.com"],
            subject="Hi",
            body="Hello",
            idempotency_key=first.idempotency_key,
        )
        assert again.replayed is True
        assert again.parse().message_id == receipt.message_id
        assert again.request_id != first.request_id
        assert server.stats.replayed == 1
        assert len(server.ledger.of_kind("message.created")) == 1
        assert "req_" in repr(again)
        assert "attempts=1" in repr(again)


async def test_attempts_and_elapsed_count_retries_and_waits() -> None:
    time = VirtualTime()
    events: list[RetryEvent] = []
    async with (
        PulseServer() as server,
        AsyncPulse(
            server.admin_key,
            base_url=server.v2_url,
            _clock=time.clock,
            _sleep=time.sleep,
            _rng=random.Random(7),
            on_retry=events.append,
        ) as pulse,
    ):
        server.faults.add("server_error", route="POST /v2/messages", count=2)
        response = await pulse.with_raw_response.messages.send(
            to=["ada@example.com"], subject="Hi", body="Hello"
        )
    assert response.status == 202
    assert response.attempts == 3
    assert len(time.sleeps) == 2 == len(events)
    assert response.elapsed == pytest.approx(sum(time.sleeps))
    assert response.elapsed > 0
    # Every attempt carried the same key; the server created one message.
    assert response.idempotency_key == events[0].idempotency_key
    assert len(server.ledger.of_kind("message.created")) == 1


async def test_a_server_without_rate_limit_headers_gives_empty_info() -> None:
    async with (
        PulseServer() as server,
        AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse,
    ):
        user = await pulse.users.create(email="ada@example.com", role="viewer")
        response = await pulse.with_raw_response.users.update(user.id, name="Ada")
        assert response.parse().name == "Ada"
        assert response.rate_limit == RateLimitInfo(None, None, None)
        assert response.idempotency_key is None  # PATCH carries none
        deleted = await pulse.with_raw_response.users.delete(user.id)
        assert deleted.status == 204
        assert deleted.parse() is None


async def test_list_pages_each_carry_their_metadata() -> None:
    async with (
        PulseServer(rate_limit="pro") as server,
        AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse,
    ):
        for i in range(4):
            await pulse.users.create(email=f"u{i}@example.com", role="viewer")
        pages = [page async for page in pulse.with_raw_response.users.list(limit=2).pages()]
        plain = [page async for page in pulse.users.list(limit=2).pages()]
        assert [len(p.parse().data) for p in pages] == [len(p.data) for p in plain]
        assert len(pages) >= 3  # 4 invited + the admin, two a page
        assert len({p.request_id for p in pages}) == len(pages)
        assert all(p.status == 200 and p.attempts == 1 for p in pages)
        remaining = [p.rate_limit.remaining for p in pages]
        assert remaining == sorted(remaining, reverse=True)  # each page spent one request
        items = [user async for user in pulse.with_raw_response.users.list(limit=2)]
        assert [u.id for u in items] == [u.id for p in plain for u in p.data]
        first = await pulse.with_raw_response.threads.list().fetch_page()
        assert first.status == 200
        assert first.parse().data is not None


async def test_a_raw_page_iterator_can_stop_early() -> None:
    async with (
        PulseServer() as server,
        AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse,
    ):
        for i in range(3):
            await pulse.users.create(email=f"u{i}@example.com", role="viewer")
        before = server.stats.total
        pages = pulse.with_raw_response.users.list(limit=1).pages()
        first = await pages.__anext__()
        await pages.aclose()
        with pytest.raises(StopAsyncIteration):
            await pages.__anext__()
        assert first.parse().has_more
        assert server.stats.total == before + 1


async def test_pulsewave_methods() -> None:
    async with (
        PulseServer() as server,
        AsyncPulsewave(server.admin_key, base_url=server.v1_url) as pw,
    ):
        raw = pw.with_raw_response.messages
        created = await raw.create(channel="sms", to="+14155550123", from_="Pulse", text="1")
        assert created.status in (200, 201, 202)
        assert created.idempotency_key is not None
        fetched = await raw.retrieve(created.parse().id)
        assert fetched.parse().id == created.parse().id
        assert fetched.idempotency_key is None


async def test_plain_methods_still_return_models() -> None:
    async with (
        PulseServer() as server,
        AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse,
    ):
        receipt = await pulse.messages.send(to=["ada@example.com"], subject="Hi", body="x")
        assert not isinstance(receipt, APIResponse)
        assert receipt.message_id.startswith("msg_")


async def test_every_api_error_carries_the_rate_limit() -> None:
    async with (
        PulseServer(rate_limit="pro") as server,
        AsyncPulse(server.admin_key, base_url=server.v2_url, max_retries=0) as pulse,
    ):
        with pytest.raises(NotFoundError) as not_found:
            await pulse.messages.retrieve("msg_missing")
        info = not_found.value.rate_limit
        assert info is not None
        assert info.limit == 1000
        assert info.remaining == 999
        server.faults.add("rate_limited", route="GET /v2/messages/{id}", count=1)
        with pytest.raises(RateLimitError) as limited:
            await pulse.messages.retrieve("msg_missing")
        # The injected 429 comes before the server's own limiter: no X-RateLimit-* on it.
        assert limited.value.rate_limit is None
        assert limited.value.retry_after is not None


async def test_the_servers_own_429_carries_its_rate_limit() -> None:
    async with (
        PulseServer(rate_limit=2) as server,
        AsyncPulse(server.admin_key, base_url=server.v2_url, max_retries=0) as pulse,
    ):
        ok = await pulse.with_raw_response.threads.list().fetch_page()
        assert ok.rate_limit.limit == 2
        await pulse.threads.list().fetch_page()
        with pytest.raises(RateLimitError) as limited:
            await pulse.threads.list().fetch_page()
        info = limited.value.rate_limit
        assert info is not None
        assert (info.limit, info.remaining) == (2, 0)
        assert info.reset is not None
        assert info.reset > 0
