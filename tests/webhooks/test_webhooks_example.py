"""``examples/webhook_receiver.py`` run as a real process, fed by the local server."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

from pulse_async import AsyncPulsewave
from pulse_async.testing import PulseServer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webhook_receiver.py"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_until_up(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(url) as response:
                    await response.read()
                    return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    raise AssertionError("the example did not start")


async def test_the_example_receiver_tracks_final_statuses_despite_faults() -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    async with PulseServer(frozen_clock=True, seed=5) as server:
        secret = server.add_webhook(base + "/webhooks/pulse")
        server.webhooks.faults.set(duplicate=0.5, reorder=True, delay=1.0)
        env = {**os.environ, "PULSE_WEBHOOK_SECRET": secret}
        env.pop("REDIS_URL", None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(EXAMPLE), "--port", str(port),
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            await _wait_until_up(base + "/messages/none")
            async with AsyncPulsewave(server.admin_key, base_url=server.v1_url) as pw:
                ids = [
                    (
                        await pw.messages.create(
                            channel="email", to=to, from_="news@example.com", subject="S"
                        )
                    ).id
                    for to in ("a@example.com", "b+bounce@example.com", "c+fail@example.com")
                ]
            for wait in (1, 1, 1, 5, 300):
                server.advance(wait)
                await server.webhooks.drain()
            async with aiohttp.ClientSession() as session:
                seen = {}
                for message_id in ids:
                    async with session.get(f"{base}/messages/{message_id}") as response:
                        seen[message_id] = (await response.json())["status"]
            assert seen == dict(zip(ids, ["delivered", "bounced", "failed"], strict=True))
            assert server.webhooks.pending() == 0
        finally:
            proc.send_signal(signal.SIGINT)
            _, stderr = await asyncio.wait_for(proc.communicate(), 20)
    assert b"Traceback" not in stderr, stderr.decode()
