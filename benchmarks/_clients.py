"""The clients under test, as seen from inside one worker process.

Every async client is an :class:`AsyncClient`: ``open``, one ``op`` (one
``POST /v2/messages`` or one listing of the users), ``close``. Every sync
client is a :class:`SyncClient` with the same three steps. The drivers in
:mod:`benchmarks._drivers` call ``op`` the same way for all of them, so a ratio
compares clients, not fan-out patterns.

Each ``op`` does the whole job a caller would: the same headers (key,
``Content-Type``, a fresh ``Idempotency-Key``), the same JSON body, the status
checked and the JSON answer parsed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from typing import Any

MESSAGE = {"to": ["ada@example.com"], "subject": "Benchmark", "body": "Hello from the benchmark"}
PAGE_SIZE = 100


class BenchError(RuntimeError):
    """A call under test did not succeed: the run is void."""


def _check(status: int, expected: int) -> None:
    if status != expected:
        raise BenchError(f"expected HTTP {expected}, got {status}")


def _encode(body: dict[str, Any]) -> bytes:
    # Encoded on every call, as a caller sending different messages would.
    return json.dumps(body, separators=(",", ":")).encode()


def _headers(key: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {key}",
        "Accept": "application/json",
        "Content-Type": "application/json",
    }


# --- async clients ---------------------------------------------------------------------------


class AsyncClient:
    """One async client: ``await open()``, then ``await send()`` / ``await list_all()``."""

    def __init__(self, url: str, key: str, **options: Any) -> None:
        self.url = url  # the server root, e.g. http://127.0.0.1:40000
        self.key = key
        self.options = options

    async def open(self) -> None:
        """Create sessions and the like (inside the running loop)."""

    async def send(self) -> None:
        """One ``POST /v2/messages``, answer parsed."""
        raise NotImplementedError

    async def list_all(self) -> int:
        """Walk every page of ``GET /v2/users?limit=100``; the number of users seen."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections."""


class RawAiohttp(AsyncClient):
    """The reference: aiohttp by hand, as lean as a careful caller would write it."""

    async def open(self) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
        self.headers = _headers(self.key)
        self.get_headers = {k: v for k, v in self.headers.items() if k != "Content-Type"}

    async def send(self) -> None:
        headers = {**self.headers, "Idempotency-Key": str(uuid.uuid4())}
        async with self.session.post(
            self.url + "/v2/messages", data=_encode(MESSAGE), headers=headers
        ) as response:
            payload = await response.read()
            _check(response.status, 202)
        json.loads(payload)

    async def list_all(self) -> int:
        seen = 0
        params = {"limit": str(PAGE_SIZE)}
        while True:
            async with self.session.get(
                self.url + "/v2/users", params=params, headers=self.get_headers
            ) as response:
                payload = await response.read()
                _check(response.status, 200)
            page = json.loads(payload)
            for _user in page["data"]:
                seen += 1
            cursor = page.get("next_cursor")
            if not page.get("has_more") or not cursor:
                return seen
            params = {"limit": str(PAGE_SIZE), "cursor": cursor}

    async def create_user(self, number: int) -> None:
        """One ``POST /v2/users`` (to seed the pagination workload; needs an admin key)."""
        body = {"email": f"user{number:06d}@example.com", "role": "viewer"}
        headers = {**self.headers, "Idempotency-Key": str(uuid.uuid4())}
        async with self.session.post(
            self.url + "/v2/users", data=json.dumps(body).encode(), headers=headers
        ) as response:
            await response.read()
            _check(response.status, 201)

    async def close(self) -> None:
        await self.session.close()


class Sdk(AsyncClient):
    """``pulse_async.AsyncPulse``; ``options`` go to its constructor."""

    async def open(self) -> None:
        from pulse_async import AsyncPulse

        self.pulse = AsyncPulse(self.key, base_url=self.url + "/v2", **self.options)

    async def send(self) -> None:
        await self.pulse.messages.send(**MESSAGE)

    async def list_all(self) -> int:
        seen = 0
        async for _user in self.pulse.users.list(limit=PAGE_SIZE):
            seen += 1
        return seen

    async def close(self) -> None:
        await self.pulse.aclose()


def httpx_limits() -> Any:
    """100 connections, all kept alive, as every other client here (httpx keeps 20 by default)."""
    import httpx

    return httpx.Limits(max_connections=100, max_keepalive_connections=100)


class Httpx(AsyncClient):
    """``httpx.AsyncClient`` with 100 connections kept alive, like the others."""

    async def open(self) -> None:
        import httpx

        # No pool timeout: at high concurrency httpx may queue for a connection for long.
        self.client = httpx.AsyncClient(
            base_url=self.url, timeout=httpx.Timeout(60, pool=None), limits=httpx_limits()
        )
        self.headers = _headers(self.key)

    async def send(self) -> None:
        headers = {**self.headers, "Idempotency-Key": str(uuid.uuid4())}
        response = await self.client.post("/v2/messages", content=_encode(MESSAGE), headers=headers)
        _check(response.status_code, 202)
        response.json()

    async def close(self) -> None:
        await self.client.aclose()


class Stripe(AsyncClient):
    """The stripe SDK's ``StripeClient.raw_request_async`` (a ``/v2`` path: a JSON body).

    ``options["http"]`` picks its async HTTP client: ``"aiohttp"`` or ``"httpx"``.
    It adds its own ``Idempotency-Key`` to every ``/v2`` POST and parses the JSON.
    """

    async def open(self) -> None:
        import stripe

        http = self.options.get("http", "aiohttp")
        self.http = stripe.AIOHTTPClient() if http == "aiohttp" else stripe.HTTPXClient()
        self.client = stripe.StripeClient(
            self.key, base_addresses={"api": self.url}, http_client=self.http
        )

    async def send(self) -> None:
        response = await self.client.raw_request_async("post", "/v2/messages", **MESSAGE)
        _check(response.code, 202)
        response.data  # noqa: B018 - parses the body (a cached property)

    async def close(self) -> None:
        await self.http.close_async()


class OpenAI(AsyncClient):
    """The openai SDK's ``AsyncOpenAI.post`` (its raw request API), ``base_url`` at ``/v2``.

    Its httpx pool is given the same 100 connections, all kept alive (its default is 1,000).
    """

    async def open(self) -> None:
        import openai

        self.client = openai.AsyncOpenAI(
            api_key=self.key,
            base_url=self.url + "/v2",
            http_client=openai.DefaultAsyncHttpxClient(limits=httpx_limits()),
        )

    async def send(self) -> None:
        data = await self.client.post(
            "/messages",
            body=MESSAGE,
            cast_to=object,
            options={"headers": {"Idempotency-Key": str(uuid.uuid4())}},
        )
        if not isinstance(data, dict) or "message_id" not in data:
            raise BenchError(f"unexpected answer {data!r}")

    async def close(self) -> None:
        await self.client.close()


class Lean(AsyncClient):
    """The leanest SDK one could write on aiohttp's public API.

    It does what the SDK's success path must do and nothing more: the SDK's own
    signed headers with a fresh ``Idempotency-Key``, the body encoded, a
    prebuilt ``ClientTimeout``, the status checked, the JSON parsed and
    structured into a ``MessageReceipt`` by the SDK's converter. No retry
    engine, no error mapping, no options.
    """

    async def open(self) -> None:
        import aiohttp

        from pulse_async._core._converter import converter
        from pulse_async.models import MessageReceipt

        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
        self.timeout = aiohttp.ClientTimeout(total=60, sock_connect=10, sock_read=30)
        self.headers = {**_headers(self.key), "User-Agent": "pulse-sdk-lean"}
        self.structure = converter.get_structure_hook(MessageReceipt)
        self.target = self.url + "/v2/messages"

    async def send(self) -> None:
        headers = self.headers.copy()
        key = headers["Idempotency-Key"] = str(uuid.uuid4())
        async with self.session.post(
            self.target, data=_encode(MESSAGE), headers=headers, timeout=self.timeout
        ) as response:
            payload = await response.read()
            _check(response.status, 202)
        data = json.loads(payload)
        data["idempotency_key"] = key
        self.structure(data, None)

    async def close(self) -> None:
        await self.session.close()


ASYNC_CLIENTS: dict[str, type[AsyncClient]] = {
    "aiohttp": RawAiohttp,
    "sdk": Sdk,
    "lean": Lean,
    "httpx": Httpx,
    "stripe": Stripe,
    "openai": OpenAI,
}


# --- sync clients ----------------------------------------------------------------------------


class SyncClient:
    """One blocking client, shared by the driver's threads (or one per thread inside)."""

    def __init__(self, url: str, key: str, **options: Any) -> None:
        self.url = url
        self.key = key
        self.options = options

    def open(self) -> None:
        """Create sessions."""

    def send(self) -> None:
        """One ``POST /v2/messages``, answer parsed."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""


class PulseSync(SyncClient):
    """``pulse_sync.Pulse`` (its loop thread runs uvloop unless ``PULSE_SYNC_UVLOOP=0``)."""

    def open(self) -> None:
        from pulse_sync import Pulse

        self.pulse = Pulse(self.key, base_url=self.url + "/v2", **self.options)

    def send(self) -> None:
        self.pulse.messages.send(**MESSAGE)

    def close(self) -> None:
        self.pulse.close()


class Requests(SyncClient):
    """``requests.Session``: one per thread (a Session is not meant to be shared)."""

    def open(self) -> None:
        import requests

        self._new = requests.Session
        self._local = threading.local()
        self._sessions: list[Any] = []
        self._lock = threading.Lock()
        self.headers = _headers(self.key)

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self._new()
            with self._lock:
                self._sessions.append(session)
        return session

    def send(self) -> None:
        headers = {**self.headers, "Idempotency-Key": str(uuid.uuid4())}
        response = self._session().post(
            self.url + "/v2/messages", data=_encode(MESSAGE), headers=headers
        )
        _check(response.status_code, 202)
        response.json()

    def close(self) -> None:
        for session in self._sessions:
            session.close()


class HttpxSync(SyncClient):
    """``httpx.Client``, one shared by all threads (it is thread-safe)."""

    def open(self) -> None:
        import httpx

        self.client = httpx.Client(
            base_url=self.url, timeout=httpx.Timeout(60, pool=None), limits=httpx_limits()
        )
        self.headers = _headers(self.key)

    def send(self) -> None:
        headers = {**self.headers, "Idempotency-Key": str(uuid.uuid4())}
        response = self.client.post("/v2/messages", content=_encode(MESSAGE), headers=headers)
        _check(response.status_code, 202)
        response.json()

    def close(self) -> None:
        self.client.close()


SYNC_CLIENTS: dict[str, type[SyncClient]] = {
    "pulse_sync": PulseSync,
    "requests": Requests,
    "httpx_sync": HttpxSync,
}


# --- send_many and its hand-written twin --------------------------------------------------------


def message_items(count: int) -> Any:
    """A generator of ``send_many`` items (never a list: memory must stay flat)."""
    return (dict(MESSAGE) for _ in range(count))


async def send_many(
    pulse: Any, count: int, concurrency: int, *, stream: bool, max_seconds: float | None = None
) -> tuple[int, int]:
    """``messages.send_many`` over ``count`` items: (outcomes seen, failed outcomes).

    Streaming stops taking outcomes after ``max_seconds`` (the rest is cancelled).
    """
    from pulse_async import PulseError

    batch = pulse.messages.send_many(message_items(count), concurrency=concurrency)
    if not stream:
        outcomes = await batch
        return len(outcomes), sum(isinstance(o, PulseError) for o in outcomes)
    deadline = time.perf_counter() + max_seconds if max_seconds else float("inf")
    seen = failed = 0
    async with contextlib.aclosing(batch.stream()) as outcomes:
        async for outcome in outcomes:
            seen += 1
            if isinstance(outcome, PulseError):
                failed += 1
            if time.perf_counter() > deadline:
                break
    return seen, failed


async def semaphore_gather(pulse: Any, count: int, concurrency: int) -> tuple[int, int]:
    """What a caller writes by hand: a semaphore and one ``gather`` of every call."""
    from pulse_async import PulseError

    gate = asyncio.Semaphore(concurrency)

    async def one(item: dict[str, Any]) -> Any:
        async with gate:
            return await pulse.messages.send(**item)

    outcomes = await asyncio.gather(
        *(one(item) for item in message_items(count)), return_exceptions=True
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, PulseError):
            raise outcome
    return len(outcomes), sum(isinstance(o, PulseError) for o in outcomes)
