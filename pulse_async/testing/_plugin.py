"""The pytest plugin (entry point ``pulse``): fixtures for the local Pulse server.

Loaded into every pytest run of a project that installs pulse-messaging, so it
imports nothing heavy at module level and defines fixtures only:

- ``pulse_server`` — a running :class:`~pulse_async.testing.PulseServer`
  (async, function-scoped, on the test's own loop; needs pytest-asyncio, which
  ``pip install 'pulse-messaging[testing]'`` brings);
- ``pulse_client`` — an :class:`~pulse_async.AsyncPulse` on its ``/v2`` with
  the admin key; ``pulsewave_client`` — an :class:`~pulse_async.AsyncPulsewave`
  on its ``/v1``;
- ``pulse_server_thread`` — a server in a background thread, for sync tests
  (no plugin needed).

The async fixtures are pytest-asyncio fixtures with an explicit function loop
scope, so they work in pytest-asyncio's strict mode (the default: mark the test
``@pytest.mark.asyncio``) and in auto mode alike, whatever the project's
``asyncio_default_fixture_loop_scope``. Without pytest-asyncio they still exist, and
fail with the command that installs it rather than "fixture not found".
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


_NEEDS_ASYNCIO = (
    "the {name} fixture is async and needs pytest-asyncio: "
    "pip install 'pulse-messaging[testing]' (or pytest-asyncio), "
    "then mark async tests @pytest.mark.asyncio or set asyncio_mode = auto"
)

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised in the fresh-venv test without it

    @pytest.fixture(name="pulse_server")
    def _pulse_server_needs_pytest_asyncio() -> None:
        """A running local Pulse server (needs pytest-asyncio)."""
        pytest.fail(_NEEDS_ASYNCIO.format(name="pulse_server"), pytrace=False)

    @pytest.fixture(name="pulse_client")
    def _pulse_client_needs_pytest_asyncio() -> None:
        """An ``AsyncPulse`` on ``pulse_server`` (needs pytest-asyncio)."""
        pytest.fail(_NEEDS_ASYNCIO.format(name="pulse_client"), pytrace=False)

    @pytest.fixture(name="pulsewave_client")
    def _pulsewave_client_needs_pytest_asyncio() -> None:
        """An ``AsyncPulsewave`` on ``pulse_server`` (needs pytest-asyncio)."""
        pytest.fail(_NEEDS_ASYNCIO.format(name="pulsewave_client"), pytrace=False)

else:

    @pytest_asyncio.fixture(loop_scope="function")
    async def pulse_server() -> AsyncIterator[PulseServer]:
        """A running local Pulse server (both APIs), fresh for each test."""
        from pulse_async.testing import PulseServer

        async with PulseServer() as server:
            yield server

    @pytest_asyncio.fixture(loop_scope="function")
    async def pulse_client(pulse_server: PulseServer) -> AsyncIterator[AsyncPulse]:
        """An :class:`~pulse_async.AsyncPulse` connected to ``pulse_server`` as admin."""
        from pulse_async import AsyncPulse

        async with AsyncPulse(pulse_server.admin_key, base_url=pulse_server.v2_url) as client:
            yield client

    @pytest_asyncio.fixture(loop_scope="function")
    async def pulsewave_client(pulse_server: PulseServer) -> AsyncIterator[AsyncPulsewave]:
        """An :class:`~pulse_async.AsyncPulsewave` connected to ``pulse_server`` as admin."""
        from pulse_async import AsyncPulsewave

        async with AsyncPulsewave(pulse_server.admin_key, base_url=pulse_server.v1_url) as client:
            yield client
