"""Fixtures for the sync facade's tests: one local server for the module, clients on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pulse_async.testing import PulseServer, ServerThread
from pulse_sync import Pulse, Pulsewave


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    """A local Pulse server in a background thread, shared by a test module."""
    handle = PulseServer().start_in_thread()
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def pulse(server: ServerThread) -> Iterator[Pulse]:
    """A sync Pulse v2 client with the admin key, closed after the test."""
    with Pulse(server.admin_key, base_url=server.url) as client:
        yield client


@pytest.fixture
def pulsewave(server: ServerThread) -> Iterator[Pulsewave]:
    """A sync Pulsewave v1 client with the admin key, closed after the test."""
    with Pulsewave(server.admin_key, base_url=server.url) as client:
        yield client
