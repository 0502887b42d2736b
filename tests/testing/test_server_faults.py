"""Each injected fault, observed with raw aiohttp; the ledger; abandoned requests."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from server_helpers import Api

from pulse_async.testing import PulseServer

pytestmark = pytest.mark.asyncio

MESSAGE = {"to": ["a@example.com"], "subject": "s", "body": "b"}


def _auth(server: PulseServer, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.admin_key}", **extra}


async def _wait_for(predicate: object, attempts: int = 500) -> None:
    assert callable(predicate)
    for _ in range(attempts):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")


async def test_server_error(api: Api, server: PulseServer) -> None:
    server.faults.add("server_error", route="POST /v2/messages", count=1)
    reply = await api.send()
    assert reply.status == 500
    assert reply.error["code"] == "server_error"
    assert len(server.ledger) == 0
    assert (await api.send()).status == 202  # count=1: only the next one
    assert server.stats.faults["server_error"] == 1


@pytest.mark.parametrize(
    ("kind", "status", "extra"),
    [
        ("bad_gateway", 502, {}),
        ("service_unavailable", 503, {}),
        ("http_error", 504, {}),
        ("http_error", 520, {"status": 520}),
    ],
)
async def test_html_errors(
    api: Api, server: PulseServer, kind: str, status: int, extra: dict[str, int]
) -> None:
    server.faults.add(kind, count=1, **extra)  # type: ignore[arg-type]
    reply = await api("GET", "/v2/users")
    assert reply.status == status
    assert reply.headers["Content-Type"].startswith("text/html")
    assert reply.text.startswith("<html>")
    assert str(status) in reply.text


async def test_rate_limited_burst(api: Api, server: PulseServer) -> None:
    server.faults.add("rate_limited", route="POST /v2/*", count=3, retry_after=7)
    replies = [await api.send() for _ in range(4)]
    assert [r.status for r in replies] == [429, 429, 429, 202]
    assert replies[0].headers["Retry-After"] == "7"
    assert replies[0].error["code"] == "rate_limited"
    assert server.stats.rate_limited == 0  # injected, not the limiter's
    assert server.stats.faults["rate_limited"] == 3


async def test_reset_before_processing(session: aiohttp.ClientSession, server: PulseServer) -> None:
    server.faults.add("reset_before", route="POST /v2/messages", count=1)
    with pytest.raises(aiohttp.ClientConnectionError):
        async with session.post(
            server.v2_url + "/messages",
            json=MESSAGE,
            headers=_auth(server, **{"Idempotency-Key": "rb"}),
        ) as resp:
            await resp.read()
    assert len(server.ledger) == 0
    assert server.stats.cancelled == 0  # our own abort is not a client abandoning
    # Nothing was recorded for the key: the retry runs for real.
    async with session.post(
        server.v2_url + "/messages",
        json=MESSAGE,
        headers=_auth(server, **{"Idempotency-Key": "rb"}),
    ) as resp:
        assert resp.status == 202
        assert "Idempotent-Replayed" not in resp.headers
    assert len(server.ledger) == 1


async def test_reset_after_commit_then_replay(
    session: aiohttp.ClientSession, server: PulseServer
) -> None:
    server.faults.add("reset_after_commit", route="POST /v2/messages", count=1)
    headers = _auth(server, **{"Idempotency-Key": "rac-1"})
    with pytest.raises(aiohttp.ClientConnectionError):
        async with session.post(server.v2_url + "/messages", json=MESSAGE, headers=headers) as resp:
            await resp.read()
    created = server.ledger.of_kind("message.created")
    assert len(created) == 1
    assert created[0].idempotency_key == "rac-1"
    async with session.post(server.v2_url + "/messages", json=MESSAGE, headers=headers) as resp:
        assert resp.status == 202
        assert resp.headers["Idempotent-Replayed"] == "true"
        assert (await resp.json())["message_id"] == created[0].resource_id
    assert len(server.ledger) == 1
    assert server.stats.cancelled == 0


async def test_truncated_body(session: aiohttp.ClientSession, server: PulseServer) -> None:
    server.faults.add("truncated", route="GET /v2/users", count=1)
    async with session.get(server.v2_url + "/users", headers=_auth(server)) as resp:
        assert resp.status == 200
        assert resp.content_length is not None
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()


async def test_truncated_after_commit(session: aiohttp.ClientSession, server: PulseServer) -> None:
    server.faults.add("truncated", route="POST /v1/messages", count=1)
    body = {"channel": "sms", "to": "+14155550123", "from": "Acme", "text": "x"}
    async with session.post(server.v1_url + "/messages", json=body, headers=_auth(server)) as resp:
        assert resp.status == 202
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.json()
    assert len(server.ledger.of_kind("message.created", api="pulsewave")) == 1


async def test_drip(session: aiohttp.ClientSession, server: PulseServer) -> None:
    server.faults.add("drip", route="GET /v2/users", chunk_size=128, chunk_delay=0.05)
    async with session.get(server.v2_url + "/users", headers=_auth(server)) as resp:
        chunks = [chunk async for chunk in resp.content.iter_any()]
    body = b"".join(chunks)
    assert len(chunks) > 1
    assert len(body) == resp.content_length
    async with session.get(server.v2_url + "/users", headers=_auth(server)) as resp:
        assert len(body) == len(await resp.read())  # same length as an undripped answer


async def test_latency_and_abandoned_requests(
    session: aiohttp.ClientSession, server: PulseServer
) -> None:
    server.faults.add("latency", route="POST /v2/messages", delay=30)
    headers = _auth(server, **{"Idempotency-Key": "abandoned"})
    with pytest.raises(asyncio.TimeoutError):
        async with session.post(
            server.v2_url + "/messages",
            json=MESSAGE,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=0.2),
        ):
            pass
    await _wait_for(lambda: server.stats.cancelled == 1)
    assert server.stats.cancelled_by_route == {"POST /v2/messages": 1}
    assert len(server.ledger) == 0
    # The abandoned attempt released its key: the retry is not a 409, and runs once.
    server.faults.clear()
    async with session.post(server.v2_url + "/messages", json=MESSAGE, headers=headers) as resp:
        assert resp.status == 202
    assert len(server.ledger) == 1


async def test_latency_delays_but_answers(api: Api, server: PulseServer) -> None:
    server.faults.add("latency", route="GET /v2/users/*", delay=0.05)
    server.faults.add("latency", route="GET /v2/users", delay=0.05, count=1)
    reply = await api("GET", "/v2/users")
    assert reply.status == 200
    assert server.stats.faults == {"latency": 1}
    assert [r.route for r in server.faults.rules] == ["GET /v2/users/*"]


async def test_route_patterns(api: Api, server: PulseServer) -> None:
    server.faults.add("server_error", route="GET /v1/messages/{id}")
    server.faults.add("bad_gateway", route="* /v1/*")
    assert (await api("GET", "/v1/messages/msg_1")).status == 500
    assert (await api("POST", "/v1/messages/msg_1/cancel")).status == 502
    assert (await api("GET", "/v2/users")).status == 200
    server.faults.clear()
    server.faults.add("service_unavailable", route="/v2/threads")
    assert (await api("GET", "/v2/threads")).status == 503
    assert (await api("GET", "/_admin/stats")).status == 200  # never faulted


async def test_probability_is_deterministic_with_a_seed(session: aiohttp.ClientSession) -> None:
    patterns = []
    for _ in range(2):
        async with PulseServer(seed=99) as server:
            api = Api(session, server)
            server.faults.add("server_error", route="GET /v2/users", probability=0.5)
            patterns.append([(await api("GET", "/v2/users")).status for _ in range(40)])
    assert patterns[0] == patterns[1]
    assert set(patterns[0]) == {200, 500}


async def test_exactly_once_with_resets_after_commit(
    session: aiohttp.ClientSession, server: PulseServer
) -> None:
    """N sends, each retried with its key until answered, make exactly N messages."""
    server.faults.add("reset_after_commit", route="POST /v2/messages", probability=0.3)
    server.faults.add("reset_before", route="POST /v2/messages", probability=0.1)
    url = server.v2_url + "/messages"

    async def send(n: int) -> str:
        headers = _auth(server, **{"Idempotency-Key": f"send-{n}"})
        body = {**MESSAGE, "subject": f"n{n}"}
        while True:
            try:
                async with session.post(url, json=body, headers=headers) as resp:
                    if resp.status == 409:
                        await asyncio.sleep(0.01)
                        continue
                    assert resp.status == 202
                    message_id: str = (await resp.json())["message_id"]
                    return message_id
            except aiohttp.ClientConnectionError:
                continue

    ids = await asyncio.gather(*(send(n) for n in range(60)))
    assert len(set(ids)) == 60
    created = server.ledger.of_kind("message.created")
    assert len(created) == 60
    assert {e.resource_id for e in created} == set(ids)
    assert not server.ledger.duplicate_idempotency_keys()
    assert server.stats.faults["reset_after_commit"] > 0
    # Committed-then-reset sends came back as replays, never as second messages. (Not one
    # replay per reset: a retry can itself be reset before it reaches the record.)
    assert server.stats.replayed > 0


async def test_stats_count_requests_per_route(api: Api, server: PulseServer) -> None:
    await api("GET", "/v2/users")
    await api("GET", "/v2/users")
    await api.send()
    await api("GET", "/v2/messages/msg_x")
    await api("GET", "/elsewhere")
    assert server.stats.requests == {
        "GET /v2/users": 2,
        "POST /v2/messages": 1,
        "GET /v2/messages/{id}": 1,
        "* <unmatched>": 1,
    }
    assert server.stats.total == 5
    server.stats.reset()
    assert server.stats.total == 0
