"""The local server sends webhooks: events from every status change, §5 retries, faults."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from aiohttp import web

from pulse_async import AsyncPulse, AsyncPulsewave
from pulse_async.errors import ValidationError
from pulse_async.testing import PulseServer
from pulse_async.webhooks import RETRY_SCHEDULE, Webhook, WebhookVerificationError


class Receiver:
    """A bare aiohttp receiver that verifies and answers what ``answer`` says."""

    def __init__(self) -> None:
        self.secret: list[str] = []
        self.answer: Callable[[], int] = lambda: 200
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.verified: list[str] = []
        self.refused: list[str] = []
        self.stall = 0.0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((dict(request.headers), body))
        try:
            event = Webhook(self.secret).verify(body, request.headers)
        except WebhookVerificationError as exc:
            self.refused.append(exc.reason)
            return web.Response(status=400)
        self.verified.append(event.type)
        if self.stall:
            await asyncio.sleep(self.stall)
        return web.Response(status=self.answer())


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()

    async def route(request: web.Request) -> web.Response:
        return await rec.handle(request)  # looked up per request: a test may wrap it

    app.router.add_post("/hook", route)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield rec
    await runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[PulseServer]:
    async with PulseServer(frozen_clock=True, seed=11) as srv:
        yield srv


async def send_wave(server: PulseServer, to: str = "ada@example.com") -> str:
    async with AsyncPulsewave(server.admin_key, base_url=server.v1_url) as pw:
        message = await pw.messages.create(
            channel="email", to=to, from_="news@example.com", subject="Hi", text="Hello",
            metadata={"order": "42"},
        )  # fmt: skip
    return message.id


async def test_a_message_lifecycle_becomes_signed_events(
    server: PulseServer, receiver: Receiver
) -> None:
    receiver.secret = [server.add_webhook(receiver.url)]
    assert receiver.secret[0].startswith("whsec_")
    message_id = await send_wave(server)
    server.advance(1)
    await server.webhooks.drain()
    assert receiver.verified == ["message.queued", "message.sending", "message.sent",
                                 "message.delivered"]  # fmt: skip
    headers, body = receiver.received[-1]
    assert headers["Content-Type"] == "application/json"
    event = Webhook(receiver.secret).verify(body, headers)
    assert event.data is not None
    assert (event.data.id, event.data.status, event.data.metadata) == (
        message_id, "delivered", {"order": "42"},
    )  # fmt: skip
    assert event.id == headers["webhook-id"]
    times = [e.created_at for e in server.webhooks.events]
    assert times == sorted(times)
    assert times[-1] - times[0] == timedelta(seconds=0.75)
    log = server.webhooks.deliveries
    assert {d.result for d in log} == {"delivered"}
    assert all(d.attempt == 1 and d.status == 200 for d in log)


async def test_pulse_v2_messages_send_events_too(server: PulseServer, receiver: Receiver) -> None:
    receiver.secret = [server.add_webhook(receiver.url, events=["message.delivered"])]
    async with AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse:
        receipt = await pulse.messages.send(to=["viewer@example.com"], subject="S", body="B")
    server.advance(1)
    await server.webhooks.drain()
    assert receiver.verified == ["message.delivered"]
    event = Webhook(receiver.secret).verify(receiver.received[0][1], receiver.received[0][0])
    assert event.data is not None
    assert (event.data.id, event.data.recipient_count) == (receipt.message_id, 1)


async def test_failed_attempts_follow_the_spec_schedule_then_drop(
    server: PulseServer, receiver: Receiver
) -> None:
    receiver.secret = [server.add_webhook(receiver.url, events=["message.queued"])]
    receiver.answer = lambda: 503
    await send_wave(server)
    await server.webhooks.drain()
    for wait in RETRY_SCHEDULE:
        server.advance(wait - 0.5)
        await server.webhooks.drain()
        attempts = len(server.webhooks.deliveries)
        server.advance(0.5)
        await server.webhooks.drain()
        assert len(server.webhooks.deliveries) == attempts + 1
    log = server.webhooks.deliveries
    assert [d.attempt for d in log] == list(range(1, 9))
    assert [d.result for d in log] == ["retrying"] * 7 + ["dropped"]
    assert {d.status for d in log} == {503}
    gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(log)]
    assert gaps == list(RETRY_SCHEDULE)
    ids = {headers["webhook-id"] for headers, _ in receiver.received}
    stamps = [headers["webhook-signature"] for headers, _ in receiver.received]
    assert len(ids) == 1
    assert len(stamps) == 8
    assert server.webhooks.pending() == 0


async def test_a_handler_failure_then_a_successful_retry(
    server: PulseServer, receiver: Receiver
) -> None:
    receiver.secret = [server.add_webhook(receiver.url, events=["message.queued"])]
    answers = iter([500, 200])
    receiver.answer = lambda: next(answers)
    await send_wave(server)
    await server.webhooks.drain()
    server.advance(5)
    await server.webhooks.drain()
    assert [(d.attempt, d.status, d.result) for d in server.webhooks.deliveries] == [
        (1, 500, "retrying"), (2, 200, "delivered"),
    ]  # fmt: skip


async def test_rotation_signs_with_both_secrets_for_the_overlap(
    server: PulseServer, receiver: Receiver
) -> None:
    old = server.add_webhook(receiver.url, events=["message.queued"])
    new = server.rotate_webhook_secret(receiver.url, overlap=60)
    receiver.secret = [old]
    await send_wave(server)
    await server.webhooks.drain()
    receiver.secret = [new]
    server.advance(61)
    await send_wave(server)
    await server.webhooks.drain()
    first, second = (headers["webhook-signature"] for headers, _ in receiver.received)
    assert len(first.split()) == 2
    assert len(second.split()) == 1
    assert receiver.refused == []
    Webhook(new).verify(receiver.received[0][1], receiver.received[0][0])
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(receiver.received[1][1], receiver.received[1][0])


async def test_tamper_and_slow_receiver_faults_fail_attempts(
    server: PulseServer, receiver: Receiver
) -> None:
    receiver.secret = [server.add_webhook(receiver.url, events=["message.queued"])]
    server.webhooks.faults.set(tamper=1.0)
    await send_wave(server)
    await server.webhooks.drain()
    assert receiver.refused == ["signature_mismatch"]
    assert server.webhooks.deliveries[-1].tampered
    server.webhooks.faults.set(tamper=0.0, timeout=0.05)
    receiver.stall = 0.5
    server.advance(5)
    await server.webhooks.drain()
    assert server.webhooks.deliveries[-1].error == "no answer within 0.05s"
    receiver.stall = 0.0
    server.webhooks.faults.set(timeout=15)
    server.advance(300)
    await server.webhooks.drain()
    assert [d.result for d in server.webhooks.deliveries] == ["retrying", "retrying", "delivered"]


async def test_no_events_before_the_first_endpoint_and_checked_arguments(
    server: PulseServer, receiver: Receiver
) -> None:
    await send_wave(server)
    server.advance(1)
    receiver.secret = [server.add_webhook(receiver.url)]
    await server.webhooks.drain()
    assert server.webhooks.events == []
    for bad in ("ftp://x", "", None):
        with pytest.raises(ValidationError):
            server.add_webhook(bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="unknown event types"):
        server.add_webhook(receiver.url, events=["message.opened"])
    with pytest.raises(ValidationError):
        server.rotate_webhook_secret("http://127.0.0.1:1/unknown")
    with pytest.raises(ValidationError):
        server.webhooks.faults.set(duplicate=2)
    assert receiver.secret[0] not in repr(server.webhooks.endpoints)


async def test_many_events_to_a_slow_receiver_stay_within_the_senders_bound(
    server: PulseServer, receiver: Receiver
) -> None:
    """240 events at once, several times the 32 attempts the sender keeps in flight."""
    receiver.secret = [server.add_webhook(receiver.url)]
    in_flight = peak = 0
    original = receiver.handle

    async def counting(request: web.Request) -> web.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await original(request)
        finally:
            in_flight -= 1

    receiver.handle = counting  # type: ignore[method-assign]
    receiver.stall = 0.02
    async with AsyncPulsewave(server.admin_key, base_url=server.v1_url) as pw:
        for n in range(60):
            await pw.messages.create(channel="push", to=f"device-{n}", from_="app_1", text="x")
    server.advance(1)
    await server.webhooks.drain(timeout=60)
    log = server.webhooks.deliveries
    assert len(server.webhooks.events) == 240
    assert sorted(d.event_id for d in log if d.result == "delivered") == sorted(
        e.id for e in server.webhooks.events
    )
    assert 1 < peak <= 32  # concurrent, and never past the bound
