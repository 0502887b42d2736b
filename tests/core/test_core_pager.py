"""Cursor pagination, through the client (aioresponses) and on the pager itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from yarl import URL

from pulse_async import AsyncPager, AsyncPulse, Page

PULSE = "https://api.pulse.io/v2"


def user(n: int) -> dict[str, Any]:
    return {"id": f"usr_{n}", "email": f"u{n}@example.com", "role": "viewer", "status": "active"}


def thread(n: int) -> dict[str, Any]:
    return {"id": f"thr_{n}", "subject": f"t{n}", "unread_count": n}


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


async def test_a_repeated_cursor_stops(mocked: Any, pulse: AsyncPulse) -> None:
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
    assert [u.id async for u in pulse.users.list()] == ["usr_1", "usr_2", "usr_3"]
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


async def test_early_break_fetches_no_more_pages(mocked: Any, pulse: AsyncPulse) -> None:
    mocked.get(
        f"{PULSE}/users",
        payload={"data": [user(1), user(2)], "has_more": True, "next_cursor": "c2"},
    )
    mocked.get(f"{PULSE}/users?cursor=c2", payload={"data": [user(3)], "has_more": False})
    seen = []
    async for u in pulse.users.list():
        seen.append(u.id)
        if len(seen) == 2:
            break
    assert seen == ["usr_1", "usr_2"]
    assert len(mocked.requests) == 1


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
    assert fetch.cursors == [None]
