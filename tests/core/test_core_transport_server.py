"""The transport against a real aiohttp.web server on 127.0.0.1: what aioresponses cannot show."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from pulse_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AsyncPulse,
    AsyncPulsewave,
    ClientMisuseError,
    Timeout,
)
from pulse_async._core._http import Request
from pulse_async._core._options import PULSE_BASE_URL, resolve_options
from pulse_async._transport import Transport

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PAGE = {"data": [], "has_more": False, "next_cursor": None}


class Server:
    """A tiny server whose routes each test sets; it records every request it receives."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.received: list[tuple[str, str, dict[str, str], bytes]] = []
        self.base_url = ""

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes[(method, path)] = handler
            return handler

        return register

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append((request.method, request.path_qs, dict(request.headers), body))
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            return web.json_response({"error": {"code": "not_found", "message": "no"}}, status=404)
        return await handler(request)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", srv.dispatch)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    srv.base_url = f"http://127.0.0.1:{port}"
    try:
        yield srv
    finally:
        await runner.cleanup()


async def no_sleep(_seconds: float) -> None:
    return None


def client(server: Server, api_key: str, **kwargs: Any) -> AsyncPulse:
    kwargs.setdefault("_sleep", no_sleep)
    return AsyncPulse(api_key, base_url=server.base_url, **kwargs)


# --- the request on the wire ------------------------------------------------------------------


async def test_headers_and_body_on_the_wire(server: Server, api_key: str) -> None:
    @server.route("POST", "/v2/users")
    async def created(request: web.Request) -> web.Response:
        user = {"id": "usr_1", "email": "a@b.co", "role": "admin", "status": "pending"}
        return web.json_response(user, status=201)

    async with client(server, api_key) as pulse:
        user = await pulse.users.create(email="a@b.co", role="admin", name="Zoë")
    method, path, headers, body = server.received[0]
    assert (method, path) == ("POST", "/v2/users")
    assert headers["Authorization"] == f"Bearer {api_key}"
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("pulse-messaging/")
    assert uuid.UUID(headers["Idempotency-Key"]).version == 4
    assert headers["Idempotency-Key"] == user.idempotency_key
    assert json.loads(body) == {"email": "a@b.co", "role": "admin", "name": "Zoë"}


async def test_bare_root_base_url_serves_both_apis(server: Server, api_key: str) -> None:
    @server.route("GET", "/v1/messages/msg_1")
    async def message(request: web.Request) -> web.Response:
        return web.json_response({"id": "msg_1", "status": "sent"})

    async with AsyncPulsewave(api_key, base_url=server.base_url) as pw:
        assert (await pw.messages.retrieve("msg_1")).status == "sent"
    assert [r[1] for r in server.received] == ["/v1/messages/msg_1"]


# --- body size cap ----------------------------------------------------------------------------


async def test_body_with_content_length_over_the_cap(server: Server, api_key: str) -> None:
    @server.route("GET", "/v2/users")
    async def huge(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000, content_type="application/json")

    async with client(server, api_key, max_response_bytes=1000) as pulse:
        with pytest.raises(APIConnectionError) as info:
            await pulse.users.list().fetch_page()
    assert type(info.value) is APIConnectionError
    assert info.value.retryable is False
    assert "5000 bytes" in str(info.value)
    assert len(server.received) == 1  # not retried: it would come back just as big


async def test_body_exactly_at_the_cap_is_read(server: Server, api_key: str) -> None:
    payload = json.dumps(PAGE).encode()

    @server.route("GET", "/v2/users")
    async def exact(request: web.Request) -> web.Response:
        return web.Response(body=payload, content_type="application/json")

    async with client(server, api_key, max_response_bytes=len(payload)) as pulse:
        page = await pulse.users.list().fetch_page()
    assert page.data == []


async def test_chunked_body_over_the_cap(server: Server, api_key: str) -> None:
    @server.route("GET", "/v2/users")
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for _ in range(20):
                await response.write(b"[" * 500)
        except (ConnectionResetError, ConnectionError):
            pass  # the client hung up, as it should
        return response

    async with client(server, api_key, max_response_bytes=2000) as pulse:
        with pytest.raises(APIConnectionError) as info:
            await pulse.users.list().fetch_page()
    assert info.value.retryable is False
    assert "limit" in str(info.value)
    assert len(server.received) == 1


async def test_compressed_body_is_capped_after_decompression(server: Server, api_key: str) -> None:
    bomb = gzip.compress(b" " * 200_000)

    @server.route("GET", "/v2/users")
    async def compressed(request: web.Request) -> web.Response:
        return web.Response(
            body=bomb, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
        )

    assert len(bomb) < 10_000
    async with client(server, api_key, max_response_bytes=10_000) as pulse:
        with pytest.raises(APIConnectionError) as info:
            await pulse.users.list().fetch_page()
    assert info.value.retryable is False


async def test_compressed_body_under_the_cap(server: Server, api_key: str) -> None:
    @server.route("GET", "/v2/users")
    async def compressed(request: web.Request) -> web.Response:
        return web.Response(
            body=gzip.compress(json.dumps(PAGE).encode()),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )

    async with client(server, api_key) as pulse:
        assert (await pulse.users.list().fetch_page()).has_more is False


# --- redirects --------------------------------------------------------------------------------


async def test_redirects_are_not_followed(server: Server, api_key: str) -> None:
    @server.route("GET", "/v2/messages/msg_1")
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound(location=f"{server.base_url}/elsewhere")

    @server.route("GET", "/elsewhere")
    async def target(request: web.Request) -> web.Response:
        return web.json_response({"id": "msg_1", "status": "sent"})

    async with client(server, api_key) as pulse:
        with pytest.raises(APIError) as info:
            await pulse.messages.retrieve("msg_1")
    assert type(info.value) is APIError
    assert info.value.status == 302
    assert [r[1] for r in server.received] == ["/v2/messages/msg_1"]


# --- session lifecycle, loops, network failures -----------------------------------------------


async def test_session_is_created_lazily_and_aclose_twice_is_safe(
    server: Server, api_key: str
) -> None:
    @server.route("GET", "/v2/users")
    async def users(request: web.Request) -> web.Response:
        return web.json_response(PAGE)

    pulse = client(server, api_key)
    transport = pulse._rt.transport
    assert transport._session is None
    await pulse.users.list().fetch_page()
    session = transport._session
    assert session is not None
    await pulse.users.list().fetch_page()
    assert transport._session is session  # one session, reused
    await pulse.aclose()
    assert session.closed
    assert transport.closed
    await pulse.aclose()
    await pulse.close()
    with pytest.raises(ClientMisuseError, match="closed") as info:
        await pulse.users.list().fetch_page()
    assert not isinstance(info.value, APIConnectionError)  # never retried as a network error
    assert len(server.received) == 2


async def test_closing_an_unused_client_creates_no_session(api_key: str) -> None:
    pulse = AsyncPulse(api_key, base_url="http://127.0.0.1:9")
    await pulse.aclose()
    assert pulse._rt.transport._session is None


async def test_with_options_copy_shares_the_session_and_closes_nothing(
    server: Server, api_key: str
) -> None:
    @server.route("GET", "/v2/users")
    async def users(request: web.Request) -> web.Response:
        return web.json_response(PAGE)

    async with client(server, api_key) as pulse:
        copy = pulse.with_options(max_retries=0, timeout=5)
        assert copy.options.max_retries == 0
        assert copy.options.timeout.total == 5
        await copy.users.list().fetch_page()
        await copy.aclose()
        await pulse.users.list().fetch_page()
        assert copy._rt.transport is pulse._rt.transport


async def test_a_second_event_loop_is_refused_clearly(server: Server, api_key: str) -> None:
    @server.route("GET", "/v2/users")
    async def users(request: web.Request) -> web.Response:
        return web.json_response(PAGE)

    async with client(server, api_key) as pulse:
        await pulse.users.list().fetch_page()

        def on_another_loop() -> BaseException | None:
            try:
                asyncio.run(pulse.users.list().fetch_page())
            except BaseException as exc:
                return exc
            return None

        error = await asyncio.to_thread(on_another_loop)
    assert isinstance(error, ClientMisuseError)
    assert not isinstance(error, APIConnectionError)  # retry-on-network-error code stops
    assert "another event loop" in str(error)
    assert len(server.received) == 1


async def test_read_timeout(server: Server, api_key: str) -> None:
    release = asyncio.Event()

    @server.route("GET", "/v2/users")
    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response(PAGE)

    timeout = Timeout(connect=2, read=0.05, total=10)
    async with client(server, api_key, timeout=timeout, max_retries=0) as pulse:
        with pytest.raises(APITimeoutError) as info:
            await pulse.users.list().fetch_page()
    release.set()
    assert info.value.__context__ is None
    assert api_key not in repr(info.value)


async def test_connection_refused(api_key: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on ``port`` any more.
    async with AsyncPulse(api_key, base_url=f"http://127.0.0.1:{port}", max_retries=0) as pulse:
        with pytest.raises(APIConnectionError) as info:
            await pulse.messages.retrieve("msg_1")
    assert type(info.value) is APIConnectionError
    assert info.value.retryable is True
    assert info.value.__context__ is None
    assert info.value.__cause__ is None
    assert api_key not in str(info.value)


async def test_logs_never_carry_the_key(
    server: Server, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    @server.route("GET", "/v2/users")
    async def users(request: web.Request) -> web.Response:
        return web.json_response(PAGE)

    caplog.set_level(logging.DEBUG, logger="pulse_async")
    async with client(server, api_key, verify_ssl=False) as pulse:
        await pulse.users.list(q="ada").fetch_page()
    messages = [record.getMessage() for record in caplog.records]
    assert any("TLS certificate verification is OFF" in m for m in messages)
    # One line per attempt, the path as its template (pulse_async._instrument).
    assert any(m.startswith("GET /v2/users status=200 attempt=1 ") for m in messages)
    assert not any(api_key in m for m in messages)


async def test_transport_alone_without_a_per_call_deadline(server: Server, api_key: str) -> None:
    @server.route("DELETE", "/v2/users/usr_1")
    async def deleted(request: web.Request) -> web.Response:
        return web.Response(status=204)

    options = resolve_options(
        api_key=api_key, base_url=server.base_url, default_base_url=PULSE_BASE_URL, environ={}
    )
    transport = Transport(options)
    assert api_key not in repr(transport)
    try:
        raw = await transport.send(Request(method="DELETE", path="/users/usr_1"))
    finally:
        await transport.aclose()
    assert (raw.status, raw.body) == (204, b"")
    assert server.received[0][:2] == ("DELETE", "/v2/users/usr_1")


async def test_a_requests_own_headers_go_out_but_never_replace_the_signed_ones(
    server: Server, api_key: str
) -> None:
    # A trace propagator adds headers to a request; whatever it adds, the key, the client's
    # identity and what it accepts stay ours (case-insensitively).
    @server.route("GET", "/v2/users/usr_1")
    async def user(request: web.Request) -> web.Response:
        return web.json_response({"id": "usr_1"})

    options = resolve_options(
        api_key=api_key, base_url=server.base_url, default_base_url=PULSE_BASE_URL, environ={}
    )
    transport = Transport(options)
    own = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "authorization": "Bearer someone-else",
        "USER-AGENT": "not-us",
        "Accept": "text/html",
    }
    try:
        await transport.send(Request(method="GET", path="/users/usr_1", headers=own))
    finally:
        await transport.aclose()
    headers = server.received[0][2]
    assert headers["traceparent"] == own["traceparent"]
    assert headers["Authorization"] == f"Bearer {api_key}"
    assert headers["User-Agent"].startswith("pulse-messaging/")
    assert headers["Accept"] == "application/json"
    assert "someone-else" not in str(headers)
