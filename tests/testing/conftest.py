"""Fixtures of the local-server tests: a frozen-clock server and a raw aiohttp session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from server_helpers import Api

from pulse_async.testing import Clock, PulseServer


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def server() -> AsyncIterator[PulseServer]:
    """A server whose clock is frozen: the tests step it with ``advance``."""
    async with PulseServer(clock=Clock(frozen=True), seed=1234) as s:
        yield s


@pytest.fixture
def api(session: aiohttp.ClientSession, server: PulseServer) -> Api:
    return Api(session, server)
