"""Issue 13's call-path bugs, one test each, against a scripted loopback server.

Each test here failed on the call path before issue 13 (see the report of the branch
that added them); they use only what that call path already had (``_clock``,
``_sleep``, ``with_options``), so they can be run against it unchanged.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from aiohttp import web
from resilience_helpers import FakeTime, ScriptedServer, error, receipt

from pulse_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncPulse,
    MessageReceipt,
    NotFoundError,
    RateLimitError,
    Timeout,
)

KEY = "pw_test_overload"


def client(server: ScriptedServer, fake: FakeTime, **kwargs: Any) -> AsyncPulse:
    return AsyncPulse(
        KEY,
        base_url=server.url,
        _clock=fake.clock,
        _sleep=fake.sleep,
        _rng=random.Random(3),
        **kwargs,
    )


def item(n: int) -> dict[str, Any]:
    return {"to": [f"u{n}@example.com"], "subject": "s", "body": "b"}


async def send(pulse: AsyncPulse) -> MessageReceipt:
    return await pulse.messages.send(to=["a@example.com"], subject="s", body="b")


# --- a batch fails most items against its own limiter --------------------------------------


@pytest.mark.parametrize(
    ("rate_limit", "deadline", "items", "concurrency"),
    [(600, 5, 300, 64), ("free", None, 100, 64)],
    ids=["600-per-minute-timeout-5", "free-plan-default-timeout"],
)
async def test_a_batch_larger_than_its_deadline_allows_queues_for_the_limiter(
    scripted: ScriptedServer,
    fake_time: FakeTime,
    rate_limit: int | str,
    deadline: float | None,
    items: int,
    concurrency: int,
) -> None:
    # Issue 13: 300 items at 600/min with timeout=5 spend 30 s in the limiter's queue; 250
    # of them failed with "the rate limiter's next slot is 9.3s away". Waiting for the
    # client's own limiter before the first attempt is queueing, not the item's deadline.
    scripted.then(receipt)
    async with client(scripted, fake_time, rate_limit=rate_limit, timeout=deadline) as pulse:
        outcomes = await pulse.messages.send_many(
            [item(n) for n in range(items)], concurrency=concurrency
        )
    failures = [o for o in outcomes if not isinstance(o, MessageReceipt)]
    assert failures == []
    assert len(scripted.requests) == items


# --- a 429 that ends a call does not pause the client ---------------------------------------


def timed(fake: FakeTime, arrivals: list[float], handler: Any) -> Any:
    """``handler``, recording the fake time each request arrives at."""

    def respond(request: web.Request) -> Any:
        arrivals.append(fake.now)
        return handler(request)

    return respond


def limited(seconds: str) -> Any:
    return error(429, "rate_limited", **{"Retry-After": seconds})


async def test_a_429_that_ends_the_call_by_max_retries_still_pauses_the_client(
    scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    # Issue 13: max_retries=1, two 429s (Retry-After 1, then 2): the call raises, and the
    # next call reached the server 0.00 s later.
    arrivals: list[float] = []
    scripted.then(
        timed(fake_time, arrivals, limited("1")),
        timed(fake_time, arrivals, limited("2")),
        timed(fake_time, arrivals, receipt),
    )
    async with client(scripted, fake_time, max_retries=1) as pulse:
        with pytest.raises(RateLimitError):
            await send(pulse)
        await send(pulse)
        assert pulse.stats.rate_limited == 2  # every 429 is counted
    assert len(arrivals) == 3
    assert arrivals[2] - arrivals[1] >= 2.0


async def test_a_429_that_ends_the_call_by_the_budget_still_pauses_the_client(
    scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    arrivals: list[float] = []
    scripted.then(timed(fake_time, arrivals, limited("3")), timed(fake_time, arrivals, receipt))
    async with client(scripted, fake_time) as pulse:
        while pulse._rt.budget.try_spend():  # white-box: a spent budget, as after a storm
            pass
        with pytest.raises(RateLimitError):
            await send(pulse)
        assert pulse.stats.budget_exhausted == 1
        await send(pulse)
    assert arrivals[1] - arrivals[0] >= 3.0


async def test_a_429_that_ends_the_call_by_its_deadline_still_pauses_the_client(
    scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    arrivals: list[float] = []
    scripted.then(timed(fake_time, arrivals, limited("5")), timed(fake_time, arrivals, receipt))
    async with client(scripted, fake_time, timeout=3) as pulse:
        with pytest.raises(RateLimitError):
            await send(pulse)  # a 5 s wait does not fit in a 3 s deadline
        with pytest.raises(APITimeoutError):
            await send(pulse)  # nor does the pause: refused at once, nothing sent
        assert len(arrivals) == 1
        await send(pulse.with_options(timeout=10))
    assert arrivals[1] - arrivals[0] >= 5.0


async def test_a_pause_longer_than_max_retry_after_is_capped(
    scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    arrivals: list[float] = []
    scripted.then(timed(fake_time, arrivals, limited("600")), timed(fake_time, arrivals, receipt))
    async with client(scripted, fake_time, max_retry_after=20, timeout=60) as pulse:
        with pytest.raises(RateLimitError) as caught:
            await send(pulse)  # raised at once: 600 s is more than we wait for
        assert caught.value.retry_after == 600
        await send(pulse)
    assert 20.0 <= arrivals[1] - arrivals[0] <= 20.0 * 1.1 + 0.05


# --- messages.wait() overran its timeout when a poll hung -----------------------------------


async def test_wait_bounds_each_poll_by_what_is_left_of_the_wait(
    scripted: ScriptedServer,
) -> None:
    # Issue 13: wait(timeout=1) took 4.0 s when a poll hung: each poll had the client's
    # full 60 s deadline. Real time here: the poll's deadline is aiohttp's timer.
    finished = asyncio.Event()

    async def hung(_request: web.Request) -> web.Response:
        try:
            await asyncio.sleep(4)
            return web.json_response({"id": "msg_1", "status": "queued"})
        finally:
            finished.set()

    scripted.then(hung)
    async with AsyncPulse(KEY, base_url=scripted.url, max_retries=0) as pulse:
        with pytest.raises(APITimeoutError):
            await pulse.messages.wait("msg_1", timeout=1)
        # The wait gave up while the poll was still hanging, not after it came back.
        assert not finished.is_set()


# --- per-call timeouts were ignored ----------------------------------------------------------


async def test_with_options_read_timeout_applies_to_the_call(scripted: ScriptedServer) -> None:
    # Issue 13: with_options(timeout=Timeout(connect=5, read=0.3, total=20)) did not apply
    # read: a response 3 s late came back instead of timing out at 0.3 s.
    finished = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        try:
            await asyncio.sleep(3)
            return receipt(request)
        finally:
            finished.set()

    scripted.then(slow)
    async with AsyncPulse(KEY, base_url=scripted.url, max_retries=0) as pulse:
        quick = pulse.with_options(timeout=Timeout(connect=5, read=0.3, total=20))
        with pytest.raises(APITimeoutError):
            await send(quick)
        assert not finished.is_set()


async def test_with_options_total_timeout_applies_to_the_call(scripted: ScriptedServer) -> None:
    finished = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        try:
            await asyncio.sleep(3)
            return receipt(request)
        finally:
            finished.set()

    scripted.then(slow)
    async with AsyncPulse(KEY, base_url=scripted.url, max_retries=0) as pulse:
        quick = pulse.with_options(timeout=Timeout(connect=5, read=30, total=0.3))
        with pytest.raises(APITimeoutError):
            await send(quick)
        assert not finished.is_set()


# --- a retried DELETE whose first attempt succeeded ---------------------------------------


def deleted_but_reset(state: dict[str, bool]) -> Any:
    """Delete the user, then drop the connection before answering."""

    def respond(request: web.Request) -> web.Response:
        state["deleted"] = True
        assert request.transport is not None
        request.transport.close()
        return web.Response(status=204)

    return respond


def deleted_but_502(state: dict[str, bool]) -> Any:
    """Delete the user, then a gateway loses the answer."""

    def respond(_request: web.Request) -> web.Response:
        state["deleted"] = True
        return web.Response(status=502, text="<html>bad gateway</html>", content_type="text/html")

    return respond


@pytest.mark.parametrize("first", [deleted_but_reset, deleted_but_502], ids=["reset", "502"])
async def test_a_retried_delete_that_finds_the_user_gone_succeeds(
    scripted: ScriptedServer, fake_time: FakeTime, first: Any
) -> None:
    state: dict[str, bool] = {}
    scripted.then(first(state), error(404, "not_found"))
    async with client(scripted, fake_time) as pulse:
        assert await pulse.users.delete("usr_1") is None
    assert state == {"deleted": True}
    assert [method for method, _, _ in scripted.requests] == ["DELETE", "DELETE"]


async def test_a_retried_delete_that_timed_out_then_finds_the_user_gone_succeeds(
    scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    async def slow_delete(_request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(status=204)

    scripted.then(slow_delete, error(404, "not_found"))
    async with client(scripted, fake_time, timeout=Timeout(connect=5, read=0.2, total=30)) as pulse:
        assert await pulse.users.delete("usr_1") is None


@pytest.mark.parametrize(
    "before",
    [[], [limited("1")], [error(409, "conflict")]],
    ids=["first-attempt", "after-429", "after-409-conflict"],
)
async def test_a_delete_that_finds_no_user_without_an_ambiguous_attempt_raises(
    scripted: ScriptedServer, fake_time: FakeTime, before: list[Any]
) -> None:
    # A 429 or a 409 conflict says the server did not act: a 404 after them is the truth.
    scripted.then(*before, error(404, "not_found"))
    async with client(scripted, fake_time) as pulse:
        with pytest.raises(NotFoundError):
            await pulse.users.delete("usr_1")


async def test_every_request_the_server_sees_is_an_attempt_the_client_counts(
    scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    # aiohttp resends a GET or DELETE once on its own when the connection drops; that
    # resend went uncounted, unbudgeted and (for a DELETE) unrecognised by the call path.
    def drop(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.close()
        return web.Response(status=204)

    scripted.then(drop, drop, drop)
    async with client(scripted, fake_time, max_retries=1) as pulse:
        with pytest.raises(APIConnectionError):
            await pulse.messages.retrieve("msg_1")
        assert pulse.stats.attempts == len(scripted.requests) == 2
