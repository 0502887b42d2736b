"""End to end: the local server delivers whole lifecycles, with injected duplicates, delays,
reordering and tampering, to our aiohttp receiver and to our ASGI app under uvicorn. Each
event is handled exactly once, and the final state per message is right."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
from aiohttp import web

from pulse_async import AsyncPulse, AsyncPulsewave
from pulse_async.testing import PulseServer
from pulse_async.webhooks import (
    RETRY_SCHEDULE,
    MemoryStore,
    Webhook,
    WebhookEvent,
    aiohttp_handler,
    asgi_app,
)

RANK = {"queued": 0, "sending": 1, "sent": 2}  # every other status is final (rank 3)


class App:
    """What a receiver's application keeps: events handled, and each message's latest state."""

    def __init__(self) -> None:
        self.handled: list[str] = []
        self.state: dict[str, tuple[int, str]] = {}
        self.fail_once = {"message.sent"}

    async def on_event(self, event: WebhookEvent) -> None:
        assert event.data is not None
        if event.type in self.fail_once:  # one handler failure: the server's retry heals it
            self.fail_once.discard(event.type)
            raise RuntimeError("transient")
        await asyncio.sleep(0.001)
        self.handled.append(event.id)
        rank = RANK.get(event.data.status, 3)
        # Order by the lifecycle, never by arrival (§5).
        if rank >= self.state.get(event.data.id, (-1, ""))[0]:
            self.state[event.data.id] = (rank, event.data.status)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def _serve_aiohttp(webhook: Webhook, app: App, port: int) -> AsyncIterator[None]:
    web_app = web.Application()
    web_app.router.add_post("/pulse", aiohttp_handler(webhook, app.on_event, store=MemoryStore()))
    runner = web.AppRunner(web_app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def _serve_uvicorn(webhook: Webhook, app: App, port: int) -> AsyncIterator[None]:
    config = uvicorn.Config(
        asgi_app(webhook, app.on_event, store=MemoryStore()),
        host="127.0.0.1", port=port, log_level="warning", lifespan="off",
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@pytest.mark.parametrize("serve", [_serve_aiohttp, _serve_uvicorn], ids=["aiohttp", "asgi"])
async def test_every_event_handled_once_and_final_states_right(serve: object) -> None:
    app = App()
    async with PulseServer(frozen_clock=True, seed=3) as server:
        # Every first attempt of the queued events is tampered with (so some surely are), then
        # one attempt in ten; half of all attempts are sent twice at once.
        server.webhooks.faults.set(duplicate=0.5, delay=2.0, reorder=True, tamper=1.0)
        port = _free_port()
        secret = server.add_webhook(f"http://127.0.0.1:{port}/pulse")
        async with serve(Webhook(secret), app, port):  # type: ignore[operator]
            ids = await _send_messages(server)
            await server.webhooks.drain()  # the queued events exist, their attempts delayed
            server.advance(2)  # every queued event's first attempt is now due: all tampered
            await server.webhooks.drain()
            server.webhooks.faults.set(tamper=0.1)
            for _ in range(6):
                server.advance(1)
                await server.webhooks.drain()
            # The whole §5 schedule: a retry that fails again (tampered, or the losing copy of
            # a duplicate) is retried later; none is dropped.
            for wait in RETRY_SCHEDULE:
                server.advance(wait)
                await server.webhooks.drain()
            assert server.webhooks.pending() == 0
            expected = {mid: server.message_status(mid) for mid in ids}
    events = server.webhooks.events
    assert len(events) == 4 * 6 + 2 + 3 + 4 * 3  # see _send_messages
    counts = collections.Counter(app.handled)
    assert counts == {event.id: 1 for event in events}
    assert {mid: status for mid, (_, status) in app.state.items()} == expected
    log = server.webhooks.deliveries
    assert any(d.result == "duplicate" for d in log)
    assert not any(d.result == "dropped" for d in log)
    assert sum(d.tampered and d.attempt == 1 for d in log) >= 11  # one per message at least
    assert any(d.status == 500 for d in log)
    assert any(d.status == 400 for d in log)  # the tampered ones were refused
    delivered = [d.event_id for d in log if d.result == "delivered"]
    assert sorted(delivered) == sorted(event.id for event in events)


async def _send_messages(server: PulseServer) -> list[str]:
    """Pulsewave: 6 messages delivered or bounced (4 events each), 1 cancelled (2 events),
    1 failed (3 events); Pulse v2: 3 messages delivered (4 events each)."""
    ids = []
    async with AsyncPulsewave(server.admin_key, base_url=server.v1_url) as pw:
        for to in ("a@example.com", "b@example.com", "c+bounce@example.com",
                   "d@example.com", "e+bounce@example.com", "f@example.com"):  # fmt: skip
            message = await pw.messages.create(
                channel="email", to=to, from_="news@example.com", subject="Hi", text="x"
            )
            ids.append(message.id)
        cancelled = await pw.messages.create(
            channel="sms", to="+14155550123", from_="+14155550100", text="x"
        )
        await pw.messages.cancel(cancelled.id)
        ids.append(cancelled.id)
        failed = await pw.messages.create(
            channel="email", to="g+fail@example.com", from_="news@example.com", subject="S"
        )
        ids.append(failed.id)
    async with AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse:
        for _ in range(3):
            receipt = await pulse.messages.send(to=["viewer@example.com"], subject="S", body="B")
            ids.append(receipt.message_id)
    return ids
