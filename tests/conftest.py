"""Fixtures shared by the whole test suite. Keep this small: most helpers live with their tests."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

#: A key of the documented shape; tests check it never shows up where it must not.
API_KEY = "pw_test_s3cr3t-KEY-never-printed"


@pytest.fixture
def api_key() -> str:
    """The API key the tests' clients are built with."""
    return API_KEY


@pytest.fixture
def no_pulse_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment without any ``PULSE*`` variable, whatever the developer's shell holds."""
    for name in ("PULSE_API_KEY", "PULSE_BASE_URL", "PULSEWAVE_BASE_URL", "PULSEWAVE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


class FakeSleep:
    """An async ``sleep`` that records the waits asked for and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def fake_sleep() -> FakeSleep:
    """A :class:`FakeSleep` to pass as a client's ``_sleep``."""
    return FakeSleep()


class _MockedResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.9 omits ``stream_writer``, which aiohttp 3.14 responses require."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[aioresponses]:
    """aioresponses, patched to build responses the installed aiohttp accepts."""
    monkeypatch.setattr("aioresponses.core.ClientResponse", _MockedResponse)
    with aioresponses() as m:
        yield m
