"""The pytest plugin (entry point ``pulse``): fixtures for the local Pulse server.

Loaded into every pytest run of a project that installs pulse-messaging, so it
imports nothing heavy at module level and defines fixtures only:

- ``pulse_server`` — a running :class:`~pulse_async.testing.PulseServer`
  (async, function-scoped; needs pytest-asyncio);
- ``pulse_client`` — an :class:`~pulse_async.AsyncPulse` on its ``/v2`` with
  the admin key; ``pulsewave_client`` — an :class:`~pulse_async.AsyncPulsewave`
  on its ``/v1``;
- ``pulse_server_thread`` — a server in a background thread, for sync tests
  (no plugin needed).

Without pytest-asyncio installed, only ``pulse_server_thread`` exists.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pulse_async import AsyncPulse, AsyncPulsewave
    from pulse_async.testing import PulseServer, ServerThread


@pytest.fixture
def pulse_server_thread() -> Iterator[ServerThread]:
    """A :class:`~pulse_async.testing.PulseServer` running in a daemon thread."""
    from pulse_async.testing import PulseServer

    handle = PulseServer().start_in_thread()
    try:
        yield handle
    finally:
        handle.stop()


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - pytest-asyncio is a dev dependency
    pass
else:

    @pytest_asyncio.fixture
    async def pulse_server() -> AsyncIterator[PulseServer]:
        """A running local Pulse server (both APIs), fresh for each test."""
        from pulse_async.testing import PulseServer

        async with PulseServer() as server:
            yield server

    @pytest_asyncio.fixture
    async def pulse_client(pulse_server: PulseServer) -> AsyncIterator[AsyncPulse]:
        """An :class:`~pulse_async.AsyncPulse` connected to ``pulse_server`` as admin."""
        from pulse_async import AsyncPulse

        async with AsyncPulse(pulse_server.admin_key, base_url=pulse_server.v2_url) as client:
            yield client

    @pytest_asyncio.fixture
    async def pulsewave_client(pulse_server: PulseServer) -> AsyncIterator[AsyncPulsewave]:
        """An :class:`~pulse_async.AsyncPulsewave` connected to ``pulse_server`` as admin."""
        from pulse_async import AsyncPulsewave

        async with AsyncPulsewave(pulse_server.admin_key, base_url=pulse_server.v1_url) as client:
            yield client
