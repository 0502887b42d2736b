"""Issue 18, items 6 and 7 of the list: ``request_id`` on every error, and a misuse error.

``except PulseError as e: log(e.request_id)`` must work for every error — ``None`` when no
response came back. An ``AsyncPulse`` used on a second event loop (two ``asyncio.run()``
calls) raises ``ClientMisuseError``, which is not an ``APIConnectionError``: code that
retries network errors stops at once instead of looping forever.
"""

from __future__ import annotations

import asyncio
import inspect
import pickle
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

import pulse_async.errors as errors
from pulse_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncPulse,
    ClientMisuseError,
    PulseError,
)
from pulse_async.testing import PulseServer

ROOT = Path(__file__).resolve().parents[2]
ERROR_CLASSES = [
    getattr(errors, name) for name in errors.__all__ if inspect.isclass(getattr(errors, name))
]


def _make(cls: type[PulseError]) -> PulseError:
    """An instance built the way the SDK builds one without a response."""
    if issubclass(cls, errors.APIError):
        return cls("no", status=418)
    return cls("no")


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_error_has_request_id(cls: type[PulseError]) -> None:
    error = _make(cls)
    assert error.request_id is None
    assert pickle.loads(pickle.dumps(error)).request_id is None
    error.request_id = "req_1"
    assert pickle.loads(pickle.dumps(error)).request_id == "req_1"


@pytest.fixture
async def odd_server() -> AsyncIterator[str]:
    """Answers ``/v2/users`` with an unreadable body and ``/v2/slow`` never."""

    async def unreadable(_: web.Request) -> web.Response:
        return web.Response(body=b"{not json", headers={"X-Request-Id": "req_unreadable"})

    app = web.Application()
    app.router.add_get("/v2/users", unreadable)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/v2"
    finally:
        await runner.cleanup()


async def test_request_id_from_a_response_and_none_without_one(odd_server: str) -> None:
    async with AsyncPulse("pw_test_k", base_url=odd_server, max_retries=0) as client:
        with pytest.raises(PulseError) as unreadable:
            await client.users.list().fetch_page()
    assert isinstance(unreadable.value, APIConnectionError)
    assert unreadable.value.request_id == "req_unreadable"

    async with PulseServer() as server:
        server.faults.add("latency", route="GET /v2/users", delay=5)
        async with AsyncPulse(
            server.admin_key, base_url=server.v2_url, timeout=0.2, max_retries=0
        ) as client:
            with pytest.raises(PulseError) as timed_out:
                await client.users.list().fetch_page()
            assert isinstance(timed_out.value, APITimeoutError)
            assert timed_out.value.request_id is None  # no response: None, not AttributeError
            server.faults.clear()
            with pytest.raises(PulseError) as refused:
                await client.users.create(email="ada@example.com", role="editor", name=" ")
            with pytest.raises(PulseError) as not_found:
                await client.messages.retrieve("msg_missing")
    assert refused.value.request_id is None  # refused before sending
    assert not_found.value.request_id is not None
    assert not_found.value.request_id.startswith("req_")


async def test_a_second_asyncio_run_is_a_misuse_error_that_retry_loops_do_not_retry(
    pulse_client: AsyncPulse,
) -> None:
    client = pulse_client
    await client.users.list().fetch_page()  # binds the client to this loop

    def naive_retry_loop() -> tuple[int, BaseException | None]:
        """What users write: retry network errors until they go away."""
        for attempt in range(1, 101):
            try:
                asyncio.run(client.users.list().fetch_page())
            except APIConnectionError:
                continue
            except BaseException as exc:
                return attempt, exc
            return attempt, None
        return 100, None

    attempts, error = await asyncio.to_thread(naive_retry_loop)
    assert attempts == 1
    assert isinstance(error, ClientMisuseError)
    assert isinstance(error, RuntimeError)
    assert not isinstance(error, APIConnectionError)
    assert "another event loop" in str(error)
    assert "asyncio.run()" in str(error)
    assert error.request_id is None


async def test_a_closed_client_is_a_misuse_error() -> None:
    client = AsyncPulse("pw_test_k", base_url="http://127.0.0.1:9")
    await client.aclose()
    with pytest.raises(ClientMisuseError, match="closed"):
        await client.users.list().fetch_page()
    assert client.stats.retries == 0


def test_the_error_tree_is_drawn_whole() -> None:
    """The tree in errors.py's docstring and in the README names every error class."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tree = readme[readme.index("PulseError\n├──") :]
    tree = tree[: tree.index("```")]
    for cls in ERROR_CLASSES:
        assert cls.__name__ in (errors.__doc__ or ""), cls.__name__
        assert cls.__name__ in tree, cls.__name__
