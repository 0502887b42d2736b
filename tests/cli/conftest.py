"""Fixtures of the ``pulse`` command tests: a local server in a thread, and the CLI against it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cli_helpers import Cli

from pulse_async.testing import PulseServer, ServerThread


@pytest.fixture
def server() -> Iterator[ServerThread]:
    """A local server on a frozen clock: messages stay ``queued`` until the test moves it."""
    handle = PulseServer(frozen_clock=True, seed=1234).start_in_thread()
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def cli(server: ServerThread) -> Cli:
    """The ``pulse`` command, pointed at ``server`` with its admin key."""
    return Cli(server)
