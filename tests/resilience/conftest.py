"""Fixtures of the resilience tests: a scripted loopback server and a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from resilience_helpers import FakeTime, ScriptedServer


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.url = f"http://127.0.0.1:{port}"
    yield server
    await runner.cleanup()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()
