"""The adapters on real loopback servers: aiohttp.web, and the ASGI app under uvicorn."""

from __future__ import annotations

import asyncio
import io
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
import uvicorn
from aiohttp import web
from webhook_helpers import SECRET, event_body

from pulse_async.webhooks import (
    MemoryStore,
    Webhook,
    WebhookEvent,
    aiohttp_handler,
    asgi_app,
    generate_secret,
)

Post = Callable[..., Awaitable[tuple[int, bytes]]]


class Handler:
    def __init__(self) -> None:
        self.handled: list[str] = []
        self.fail_next = False

    async def __call__(self, event: WebhookEvent) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("handler down")
        self.handled.append(event.id)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture(params=["aiohttp", "asgi-uvicorn"])
async def url(request: pytest.FixtureRequest, handler: Handler) -> AsyncIterator[str]:
    """The receiver's URL, served by a real server on 127.0.0.1."""
    webhook, store = Webhook(SECRET), MemoryStore()
    if request.param == "aiohttp":
        app = web.Application()
        app.router.add_route("*", "/hooks", aiohttp_handler(webhook, handler, store=store))
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield f"http://127.0.0.1:{port}/hooks"
        finally:
            await runner.cleanup()
        return
    port = _free_port()
    config = uvicorn.Config(
        asgi_app(webhook, handler, store=store, max_body_size=64 * 1024),
        host="127.0.0.1", port=port, log_level="warning", lifespan="on",
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/hooks"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def post(url: str) -> AsyncIterator[Post]:
    async with aiohttp.ClientSession() as session:

        async def send(
            body: bytes, headers: dict[str, str], method: str = "POST"
        ) -> tuple[int, bytes]:
            data = io.BytesIO(body) if len(body) > 1024 * 1024 else body
            async with session.request(method, url, data=data, headers=headers) as response:
                return response.status, await response.read()

        yield send


def signed(event_id: str, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = event_body(event_id)
    headers = Webhook(secret).sign(body, webhook_id=event_id)
    return body, {**headers, "Content-Type": "application/json"}


async def test_handled_duplicate_untrusted_failed(post: Post, handler: Handler) -> None:
    assert await post(*signed("evt_1")) == (200, b'{"status":"handled"}')
    assert await post(*signed("evt_1")) == (200, b'{"status":"duplicate"}')
    status, body = await post(*signed("evt_2", generate_secret()))
    assert (status, body) == (400, b'{"status":"signature_mismatch"}')
    handler.fail_next = True
    assert await post(*signed("evt_3")) == (500, b'{"status":"handler_failed"}')
    assert await post(*signed("evt_3")) == (200, b'{"status":"handled"}')
    assert handler.handled == ["evt_1", "evt_3"]


async def test_header_case_from_the_wire_does_not_matter(post: Post, handler: Handler) -> None:
    body, headers = signed("evt_case")
    upper = {name.upper(): value for name, value in headers.items()}
    assert (await post(body, upper))[0] == 200
    assert handler.handled == ["evt_case"]


async def test_only_post_is_served(post: Post) -> None:
    status, _ = await post(b"", {}, method="GET")
    assert status == 405


async def test_concurrent_duplicates_over_http(post: Post, handler: Handler) -> None:
    outcomes = await asyncio.gather(*(post(*signed("evt_many")) for _ in range(20)))
    assert all(status in (200, 409) for status, _ in outcomes)
    assert handler.handled == ["evt_many"]


async def test_a_body_over_the_limit_is_refused(post: Post, url: str, handler: Handler) -> None:
    body = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    headers = Webhook(SECRET).sign(body, webhook_id="evt_big")
    status, _ = await post(body, headers)
    assert status == 413
    assert handler.handled == []


def test_the_package_imports_no_web_framework() -> None:
    code = (
        "import sys, pulse_async.webhooks, pulse_sync.webhooks\n"
        "bad = {'aiohttp', 'starlette', 'fastapi', 'uvicorn', 'redis'} & set(sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_an_asgi_client_that_goes_away_mid_body_gets_no_answer_and_runs_nothing() -> None:
    handler = Handler()
    app = asgi_app(Webhook(SECRET), handler)
    sent: list[dict[str, object]] = []
    messages = iter([{"type": "http.request", "body": b"{", "more_body": True},
                     {"type": "http.disconnect"}])  # fmt: skip

    async def receive() -> dict[str, object]:
        return next(messages)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await app({"type": "http", "method": "POST", "headers": []}, receive, send)
    assert sent == []
    assert handler.handled == []
