"""``pulse webhooks listen | verify | sign`` as a user runs them: real processes, real ports."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from webhook_helpers import SECRET, event_body

from pulse_async import AsyncPulsewave
from pulse_async.testing import PulseServer
from pulse_async.webhooks import MemoryStore, Webhook, WebhookEvent, aiohttp_handler

PULSE = [sys.executable, "-m", "pulse_async._cli"]


def run(
    *args: str, stdin: bytes = b"", secret: str | None = SECRET
) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "PULSE_WEBHOOK_SECRET"}
    if secret is not None:
        env["PULSE_WEBHOOK_SECRET"] = secret
    return subprocess.run(
        [*PULSE, "webhooks", *args], input=stdin, capture_output=True, env=env, timeout=60,
        check=False,
    )  # fmt: skip


def test_sign_then_verify_round_trips_and_tampering_is_refused() -> None:
    signed = run("sign", "--event", "message.delivered", "--id", "evt_cli1")
    assert signed.returncode == 0, signed.stderr
    dump = signed.stdout
    assert b"webhook-id: evt_cli1\n" in dump
    assert SECRET.encode() not in dump + signed.stderr
    ok = run("verify", stdin=dump)
    assert ok.returncode == 0, ok.stderr
    assert b"message.delivered" in ok.stdout
    bad = run("verify", "--json", stdin=dump.replace(b"delivered", b"bounced!!"))
    assert bad.returncode == 1
    assert json.loads(bad.stdout) == {"verified": False, "reason": "signature_mismatch"}
    other = run("verify", stdin=dump, secret="whsec_" + "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC")
    assert other.returncode == 1


def test_verify_with_header_options_and_a_crlf_dump() -> None:
    body = event_body("evt_h")
    headers = Webhook(SECRET).sign(body, webhook_id="evt_h")
    options = [f"--header={name}: {value}" for name, value in headers.items()]
    result = run("verify", "--json", *options, stdin=body)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["event"]["id"] == "evt_h"
    dump = "POST /hook HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    result = run("verify", stdin=dump.encode() + b"\r\n" + body)
    assert result.returncode == 0, result.stderr
    stale = Webhook(SECRET).sign(body, webhook_id="evt_h", timestamp=1_000_000)
    dump = "".join(f"{k}: {v}\n" for k, v in stale.items()).encode() + b"\n" + body
    assert run("verify", stdin=dump).returncode == 1
    assert run("verify", "--tolerance", "1e12", stdin=dump).returncode == 0


def test_sign_reads_stdin_and_json() -> None:
    result = run("sign", "--json", "--id", "evt_s", "--timestamp", "1731578405", stdin=b'{"a":1}')
    assert result.returncode == 0
    out = json.loads(result.stdout)
    assert out["body"] == '{"a":1}'
    assert out["headers"] == Webhook(SECRET).sign(
        b'{"a":1}', webhook_id="evt_s", timestamp=1731578405
    )


@pytest.mark.parametrize(
    ("args", "secret", "message"),
    [
        (["sign", "--event", "message.sent"], None, b"set $PULSE_WEBHOOK_SECRET"),
        (["sign", "--event", "message.sent"], "whsec_tooshort", b"encodes"),
        (["verify"], SECRET, b"not a delivery dump"),
        (["listen", "--forward-to", "ftp://x"], SECRET, b"--forward-to must be"),
    ],
)
def test_usage_errors_exit_2_without_echoing_the_secret(
    args: list[str], secret: str | None, message: bytes
) -> None:
    result = run(*args, stdin=b"no blank line", secret=secret)
    assert result.returncode == 2
    assert message in result.stderr
    assert b"Traceback" not in result.stderr
    if secret:
        assert secret[6:].encode() not in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def app_receiver(secret: str, handled: list[str]) -> AsyncIterator[str]:
    """The user's application behind the listener: fails its first delivery once."""
    failures = [1]

    async def on_event(event: WebhookEvent) -> None:
        if failures:
            failures.pop()
            raise RuntimeError("app not ready")
        handled.append(event.type)

    app = web.Application()
    app.router.add_post("/app", aiohttp_handler(Webhook(secret), on_event, store=MemoryStore()))
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/app"
    finally:
        await runner.cleanup()


async def test_listen_prints_and_forwards_a_lifecycle() -> None:
    handled: list[str] = []
    port = _free_port()
    async with (
        PulseServer(frozen_clock=True) as server,
        # The application verifies the forwarded copy with the same secret as the listener.
        app_receiver(secret := server.add_webhook(f"http://127.0.0.1:{port}/"), handled) as app_url,
    ):
        env = {**os.environ, "PULSE_WEBHOOK_SECRET": secret, "PYTHONUNBUFFERED": "1"}
        proc = await asyncio.create_subprocess_exec(
            *PULSE, "webhooks", "listen", "--port", str(port), "--json", "--forward-to", app_url,
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            assert proc.stderr is not None
            assert proc.stdout is not None
            ready = await asyncio.wait_for(proc.stderr.readline(), 30)
            assert b"Ready! Listening" in ready
            assert secret.encode() not in ready
            async with AsyncPulsewave(server.admin_key, base_url=server.v1_url) as pw:
                message = await pw.messages.create(
                    channel="push", to="device-1", from_="app_1", text="hi"
                )
            server.advance(1)
            await server.webhooks.drain()
            server.advance(5)  # the retry of the delivery the application failed
            await server.webhooks.drain()
            lines = [
                json.loads(await asyncio.wait_for(proc.stdout.readline(), 10)) for _ in range(5)
            ]
        finally:
            proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(proc.wait(), 20)
    assert proc.returncode == 0
    assert [line["status"] for line in lines].count(500) == 1
    handled_lines = [line for line in lines if line["result"] == "handled"]
    assert sorted(line["event"]["type"] for line in handled_lines) == sorted(
        ["message.queued", "message.sending", "message.sent", "message.delivered"]
    )
    assert {line["forwarded"] for line in handled_lines} == {200}
    assert all(line["event"]["data"]["id"] == message.id for line in handled_lines)
    assert sorted(handled) == sorted(
        ["message.queued", "message.sending", "message.sent", "message.delivered"]
    )
