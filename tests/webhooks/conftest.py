"""Fixtures of the webhook tests; the Redis helpers are shared with ``tests/redis``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "redis"))

from collections.abc import Iterator

import pytest
from redis_helpers import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One ``redis-server`` for the webhook tests; tests keep apart by unique key prefixes."""
    server = RedisServer(tmp_path_factory.mktemp("redis"), password="webhook-redis-pw")
    server.start()
    try:
        yield server
    finally:
        server.stop()
