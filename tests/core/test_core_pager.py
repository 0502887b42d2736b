"""Cursor pagination, through the client (aioresponses) and on the pager itself."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import pytest
from yarl import URL

from pulse_async import APIConnectionError, AsyncPager, AsyncPulse, Page
from pulse_async._pager import MAX_EMPTY_PAGES

PULSE = "https://api.pulse.io/v2"


def user(n: int) -> dict[str, Any]:
    return {"id": f"usr_{n}", "email": f"u{n}@example.com", "role": "viewer", "status": "active"}


def thread(n: int) -> dict[str, Any]:
    return {"id": f"thr_{n}", "subject": f"t{n}", "unread_count": n}


async def collect(pager: AsyncPager[Any], into: list[Any]) -> None:
    async for item in pager:
        into.append(item)


@pytest.fixture
async def pulse(api_key: str) -> AsyncIterator[AsyncPulse]:
    async with AsyncPulse(api_key, base_url=PULSE, max_retries=0) as client:
        yield client


async def test_items_across_several_pages(mocked: Any, pulse: AsyncPulse) -> None:
    mocked.get(
        f"{PULSE}/users?limit=2",
        payload={"data": [user(1), user(2)], "has_more": True, "next_cursor": "c2"},
    )
    mocked.get(
        f"{PULSE}/users?limit=2&cursor=c2",
        payload={"data": [user(3), user(4)], "has_more": True, "next_cursor": "c3"},
    )
    mocked.get(
        f"{PULSE}/users?limit=2&cursor=c3",
        payload={"data": [user(5)], "has_more": False, "next_cursor": None},
    )
    ids = [u.id async for u in pulse.users.list(limit=2)]
    assert ids == ["usr_1", "usr_2", "usr_3", "usr_4", "usr_5"]
    assert len(mocked.requests) == 3
    assert pulse.stats.attempts == 3


async def test_empty_page_with_has_more_is_followed(mocked: Any, pulse: AsyncPulse) -> None:
    mocked.get(f"{PULSE}/threads", payload={"data": [], "has_more": True, "next_cursor": "c2"})
    mocked.get(
        f"{PULSE}/threads?cursor=c2", payload={"data": [], "has_more": True, "next_cursor": "c3"}
    )
    mocked.get(
        f"{PULSE}/threads?cursor=c3",
        payload={"data": [thread(1)], "has_more": False, "next_cursor": None},
    )
    threads = [t async for t in pulse.threads.list()]
    assert [t.id for t in threads] == ["thr_1"]
    assert len(mocked.requests) == 3


async def test_has_more_false_stops_even_with_a_cursor(mocked: Any, pulse: AsyncPulse) -> None:
    mocked.get(
        f"{PULSE}/users", payload={"data": [user(1)], "has_more": False, "next_cursor": "c2"}
    )
    mocked.get(f"{PULSE}/users?cursor=c2", payload={"data": [user(2)], "has_more": False})
    assert [u.id async for u in pulse.users.list()] == ["usr_1"]
    assert ("GET", URL(f"{PULSE}/users?cursor=c2")) not in mocked.requests


async def test_has_more_without_cursor_stops(mocked: Any, pulse: AsyncPulse) -> None:
    mocked.get(f"{PULSE}/users", payload={"data": [user(1)], "has_more": True, "next_cursor": None})
    assert [u.id async for u in pulse.users.list()] == ["usr_1"]
    mocked.get(f"{PULSE}/users", payload={"data": [user(1)], "has_more": True, "next_cursor": ""})
    assert [u.id async for u in pulse.users.list()] == ["usr_1"]


async def test_a_repeated_cursor_stops_with_a_typed_error(mocked: Any, pulse: AsyncPulse) -> None:
    mocked.get(f"{PULSE}/users", payload={"data": [user(1)], "has_more": True, "next_cursor": "a"})
    mocked.get(
        f"{PULSE}/users?cursor=a", payload={"data": [user(2)], "has_more": True, "next_cursor": "b"}
    )
    mocked.get(
        f"{PULSE}/users?cursor=b", payload={"data": [user(3)], "has_more": True, "next_cursor": "a"}
    )
    mocked.get(
        f"{PULSE}/users?cursor=a",
        payload={"data": [user(9)], "has_more": False},
        repeat=True,
    )
    seen: list[Any] = []
    with pytest.raises(APIConnectionError, match="next_cursor it had already sent") as caught:
        await collect(pulse.users.list(), seen)
    assert [u.id for u in seen] == ["usr_1", "usr_2", "usr_3"]  # pages received come first
    assert caught.value.retryable is False
    assert len(mocked.requests[("GET", URL(f"{PULSE}/users?cursor=a"))]) == 1


async def test_pages(mocked: Any, pulse: AsyncPulse) -> None:
    mocked.get(
        f"{PULSE}/users?limit=2&status=active",
        payload={"data": [user(1), user(2)], "has_more": True, "next_cursor": "c2"},
    )
    mocked.get(
        f"{PULSE}/users?limit=2&status=active&cursor=c2",
        payload={"data": [user(3)], "has_more": False, "next_cursor": None},
    )
    pages = [page async for page in pulse.users.list(limit=2, status="active").pages()]
    assert [[u.id for u in p.data] for p in pages] == [["usr_1", "usr_2"], ["usr_3"]]
    assert [(p.next_cursor, p.has_more) for p in pages] == [("c2", True), (None, False)]


async def test_early_break_fetches_at_most_one_page_ahead(mocked: Any, pulse: AsyncPulse) -> None:
    mocked.get(
        f"{PULSE}/users",
        payload={"data": [user(1), user(2)], "has_more": True, "next_cursor": "c2"},
    )
    mocked.get(
        f"{PULSE}/users?cursor=c2",
        payload={"data": [user(3)], "has_more": True, "next_cursor": "c3"},
    )
    mocked.get(f"{PULSE}/users?cursor=c3", payload={"data": [user(4)], "has_more": False})
    seen = []
    async for u in pulse.users.list():
        seen.append(u.id)
        if len(seen) == 2:
            break
    await asyncio.sleep(0)
    assert seen == ["usr_1", "usr_2"]
    assert ("GET", URL(f"{PULSE}/users?cursor=c3")) not in mocked.requests


async def test_to_list_with_max_items(mocked: Any, pulse: AsyncPulse) -> None:
    mocked.get(
        f"{PULSE}/users",
        payload={"data": [user(1), user(2)], "has_more": True, "next_cursor": "c2"},
    )
    mocked.get(f"{PULSE}/users?cursor=c2", payload={"data": [user(3)], "has_more": False})
    assert [u.id for u in await pulse.users.list().to_list(max_items=2)] == ["usr_1", "usr_2"]
    assert len(mocked.requests) == 1
    assert await pulse.users.list().to_list(max_items=0) == []
    assert len(mocked.requests) == 1


async def test_fetch_page_with_a_cursor(mocked: Any, pulse: AsyncPulse) -> None:
    mocked.get(
        f"{PULSE}/threads?cursor=xyz&limit=5", payload={"data": [thread(7)], "has_more": False}
    )
    page = await pulse.threads.list(limit=5).fetch_page("xyz")
    assert [t.unread_count for t in page.data] == [7]


async def test_a_pager_can_be_iterated_again_from_the_start(mocked: Any, pulse: AsyncPulse) -> None:
    mocked.get(f"{PULSE}/users", payload={"data": [user(1)], "has_more": False}, repeat=True)
    pager = pulse.users.list()
    assert [u.id async for u in pager] == ["usr_1"]
    assert [u.id async for u in pager] == ["usr_1"]
    assert len(mocked.requests[("GET", URL(f"{PULSE}/users"))]) == 2


# --- the pager alone --------------------------------------------------------------------------


class FakeFetch:
    def __init__(self, pages: dict[str | None, Page[int]]) -> None:
        self.pages = pages
        self.cursors: list[str | None] = []

    async def __call__(self, cursor: str | None) -> Page[int]:
        self.cursors.append(cursor)
        return self.pages[cursor]


async def test_page_iterator_stops_and_stays_stopped() -> None:
    fetch = FakeFetch({None: Page(data=[1], next_cursor="b", has_more=True), "b": Page(data=[2])})
    pages = AsyncPager(fetch).pages()
    assert [p.data async for p in pages] == [[1], [2]]
    with pytest.raises(StopAsyncIteration):
        await pages.__anext__()
    assert fetch.cursors == [None, "b"]


async def test_aclose_stops_iteration() -> None:
    fetch = FakeFetch(
        {None: Page(data=[1, 2], next_cursor="b", has_more=True), "b": Page(data=[3])}
    )
    items = aiter(AsyncPager(fetch))
    assert aiter(items) is items
    assert await anext(items) == 1
    await items.aclose()  # type: ignore[attr-defined]
    with pytest.raises(StopAsyncIteration):
        await anext(items)
    pages = AsyncPager(fetch).pages()
    await pages.aclose()
    assert [p async for p in pages] == []
    assert fetch.cursors == [None]  # the page fetched ahead was cancelled before it started


# --- fetching ahead, and servers whose listing never ends ---------------------------------------


class EndlessServer:
    """A listing that never ends: every page names a fresh cursor (and says has_more).

    ``fetch`` answers parsed JSON, as the resources hand it to the pager; ``hang``
    makes every request after the first ``answer`` ones wait forever (until cancelled).
    """

    def __init__(self, *, per_page: int = 2, answer: int | None = None) -> None:
        self.per_page = per_page
        self.answer = answer
        self.started: list[str | None] = []
        self.cancelled: list[str | None] = []
        self.events: list[str] = []

    async def fetch(self, cursor: str | None) -> dict[str, Any]:
        self.started.append(cursor)
        self.events.append(f"fetch {cursor}")
        n = len(self.started)
        if self.answer is not None and n > self.answer:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.append(cursor)
                raise
        await asyncio.sleep(0)
        data = [n * 1000 + i for i in range(self.per_page)]
        return {"data": data, "has_more": True, "next_cursor": f"c{n}"}

    def structure(self, payload: dict[str, Any]) -> Page[int]:
        self.events.append(f"structure {payload['next_cursor']}")
        return Page(data=payload["data"], next_cursor=payload["next_cursor"], has_more=True)


async def test_the_next_request_leaves_before_this_page_is_structured() -> None:
    server = EndlessServer()
    pages = AsyncPager(server.fetch, server.structure).pages()
    await anext(pages)
    await anext(pages)
    # page 1 is structured only after the request for page 2 went out, and so on
    assert server.events[:4] == ["fetch None", "fetch c1", "structure c1", "fetch c2"]
    await pages.aclose()
    assert server.cancelled == [] or server.cancelled == ["c2"]


async def test_empty_pages_with_fresh_cursors_forever_stop_with_a_typed_error() -> None:
    server = EndlessServer(per_page=0)
    seen: list[Any] = []
    with pytest.raises(APIConnectionError, match="empty pages in a row") as caught:
        await collect(AsyncPager(server.fetch, server.structure), seen)
    assert seen == []
    assert caught.value.retryable is False
    # bounded: the pages it gave up after, and at most the one fetched ahead of the last
    assert MAX_EMPTY_PAGES <= len(server.started) <= MAX_EMPTY_PAGES + 1
    await asyncio.sleep(0)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_a_page_with_items_resets_the_empty_run() -> None:
    answers = [0] * (MAX_EMPTY_PAGES - 1) + [1] + [0] * (MAX_EMPTY_PAGES - 1)

    async def fetch(cursor: str | None) -> Page[int]:
        n = 0 if cursor is None else int(cursor)
        more = n + 1 < len(answers)
        return Page(data=[n] * answers[n], next_cursor=str(n + 1), has_more=more)

    assert [i async for i in AsyncPager(fetch)] == [MAX_EMPTY_PAGES - 1]


async def test_breaking_out_of_an_endless_listing_cancels_the_page_fetched_ahead() -> None:
    # Past saturation: 20 listings at once against a server that never ends, each
    # abandoned mid-page in a different way, while their next page hangs.
    servers = [EndlessServer(per_page=3, answer=1) for _ in range(20)]

    async def consume(i: int, server: EndlessServer) -> None:
        pager = AsyncPager(server.fetch, server.structure)
        if i % 3 == 0:  # a plain break: the iterator is dropped, no aclose()
            async for _item in pager:
                break
        elif i % 3 == 1:  # an explicit aclose()
            items = aiter(pager)
            await anext(items)
            await items.aclose()  # type: ignore[attr-defined]
        else:  # the caller's own deadline: cancelled while waiting for the next page
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(collect(pager, []), 0.05)

    await asyncio.gather(*(consume(i, s) for i, s in enumerate(servers)))
    gc.collect()
    for _ in range(3):
        await asyncio.sleep(0)
    for server in servers:
        assert server.started == [None, "c1"]  # never more than one page ahead
        assert server.cancelled == ["c1"]
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_a_page_that_cannot_be_structured_is_an_unusable_answer() -> None:
    server = EndlessServer(answer=1)

    def broken(payload: dict[str, Any]) -> Page[int]:
        raise TypeError("expected a list of items, got str")

    pages = AsyncPager(server.fetch, broken).pages()
    with pytest.raises(APIConnectionError, match="could not be read: TypeError") as caught:
        await anext(pages)
    assert caught.value.retryable is False
    for _ in range(3):
        await asyncio.sleep(0)
    assert server.cancelled == ["c1"]  # the page fetched ahead is cancelled
    with pytest.raises(StopAsyncIteration):
        await anext(pages)
    with pytest.raises(APIConnectionError, match="could not be read"):
        await AsyncPager(EndlessServer().fetch, broken).fetch_page()


async def test_to_list_with_max_items_fetches_nothing_ahead() -> None:
    server = EndlessServer(per_page=3)
    got = await AsyncPager(server.fetch, server.structure).to_list(max_items=5)
    assert got == [1000, 1001, 1002, 2000, 2001]
    assert server.started == [None, "c1"]
