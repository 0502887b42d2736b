"""The local server's webhooks from a shell (``--webhook URL``) and over ``/_admin``."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from typing import Any

import aiohttp
from aiohttp import web

from pulse_async.webhooks import Webhook, WebhookVerificationError


def _start(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pulse_async.testing", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    found: dict[str, str] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        if match := re.search(r"listening on (http://\S+)", line):
            found["url"] = match.group(1)
        if match := re.search(r"admin key:\s+(pw_test_\w+)", line):
            found["admin"] = match.group(1)
        if match := re.search(r"webhook:\s+(\S+)\s+secret (whsec_\S+)", line):
            found["secret"] = match.group(2)
        if "Press Ctrl-C" in line:
            break
    return proc, found


async def test_shell_webhook_and_admin_routes() -> None:
    secrets: list[str] = []
    types: list[str] = []

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            event = Webhook(secrets).verify(body, request.headers)
        except WebhookVerificationError:
            return web.Response(status=400)
        types.append(event.type)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    proc, found = await asyncio.to_thread(_start, "--frozen-clock", "--webhook", hook)
    try:
        secrets.append(found["secret"])
        auth = {"Authorization": f"Bearer {found['admin']}"}
        base = found["url"]
        async with aiohttp.ClientSession(headers=auth) as session:

            async def call(method: str, path: str, body: Any = None) -> Any:
                async with session.request(method, base + path, json=body) as response:
                    assert response.status in (200, 202), await response.text()
                    return await response.json()

            listed = await call("GET", "/_admin/webhooks")
            assert listed == {"data": [{"url": hook, "events": None, "secrets": 1}]}
            assert found["secret"] not in str(listed)
            knobs = await call("POST", "/_admin/webhooks/faults", {"duplicate": 0.0})
            assert knobs["timeout"] == 15.0
            await call("POST", "/v1/messages", {
                "channel": "push", "to": "device-1", "from": "app_1", "text": "hi",
            })  # fmt: skip
            await call("POST", "/_admin/advance", {"seconds": 1})
            for _ in range(750):  # up to 15 s on a busy machine
                log = (await call("GET", "/_admin/webhooks/deliveries"))["data"]
                if len(log) == 4:
                    break
                await asyncio.sleep(0.02)
            assert {d["event_type"] for d in log} == {
                "message.queued", "message.sending", "message.sent", "message.delivered",
            }  # fmt: skip
            assert {d["status"] for d in log} == {204}
            assert sorted(types) == sorted(
                ["message.queued", "message.sending", "message.sent", "message.delivered"]
            )
            rotated = await call("POST", "/_admin/webhooks/rotate", {"url": hook})
            assert rotated["secret"].startswith("whsec_")
            assert (await call("GET", "/_admin/webhooks"))["data"][0]["secrets"] == 2
            added = await call(
                "POST", "/_admin/webhooks", {"url": hook + "2", "events": ["message.sent"]}
            )
            assert added["secret"].startswith("whsec_")
            async with session.post(base + "/_admin/webhooks", json={"url": "nope"}) as bad:
                assert bad.status == 400
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = await asyncio.to_thread(proc.communicate, timeout=20)
        await runner.cleanup()
    assert proc.returncode == 0
    assert "Traceback" not in stderr


def test_shell_refuses_a_bad_webhook_url() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pulse_async.testing", "--webhook", "ftp://x"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "http:// or https://" in result.stderr
