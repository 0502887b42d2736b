"""``AsyncPager``: lazy cursor pagination.

``async for item in pager`` fetches a page only when the previous one is used
up; ``async for page in pager.pages()`` yields whole pages. Iteration stops
when the server says ``has_more: false`` (even if it sent a cursor), when no
(or only a blank) cursor comes back, or when a cursor repeats (a server bug that would
otherwise loop forever). An empty page with ``has_more: true`` is followed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from pulse_async.models import Page

__all__ = ["AsyncPageIterator", "AsyncPager"]

T = TypeVar("T")


class AsyncPageIterator(Generic[T]):
    """Iterates pages; each ``__anext__`` makes at most one request."""

    __slots__ = ("_cursor", "_done", "_fetch", "_seen")

    def __init__(self, fetch: Callable[[str | None], Awaitable[Page[T]]]) -> None:
        self._fetch = fetch
        self._cursor: str | None = None
        self._done = False
        self._seen: set[str] = set()

    def __aiter__(self) -> AsyncPageIterator[T]:
        return self

    async def __anext__(self) -> Page[T]:
        if self._done:
            raise StopAsyncIteration
        page = await self._fetch(self._cursor)
        cursor = page.next_cursor
        # A blank cursor is no cursor: passing it back would fail our own validation.
        if not page.has_more or not cursor or not cursor.strip() or cursor in self._seen:
            self._done = True
        else:
            self._seen.add(cursor)
            self._cursor = cursor
        return page

    async def aclose(self) -> None:
        """Stop: no further page is fetched."""
        self._done = True


class _AsyncItemIterator(Generic[T]):
    __slots__ = ("_items", "_pages")

    def __init__(self, pages: AsyncPageIterator[T]) -> None:
        self._pages = pages
        self._items: list[T] = []

    def __aiter__(self) -> _AsyncItemIterator[T]:
        return self

    async def __anext__(self) -> T:
        while not self._items:
            page = await self._pages.__anext__()
            self._items = list(reversed(page.data))
        return self._items.pop()

    async def aclose(self) -> None:
        self._items.clear()
        await self._pages.aclose()


class AsyncPager(Generic[T]):
    """The result of a ``list()`` call: iterate items with ``async for``, or ``.pages()``.

    Example::

        async for user in pulse.users.list(status="active"):
            print(user.email)
        async for page in pulse.users.list(limit=100).pages():
            print(len(page.data), page.next_cursor)
    """

    __slots__ = ("_fetch",)

    def __init__(self, fetch: Callable[[str | None], Awaitable[Page[T]]]) -> None:
        self._fetch = fetch

    def __aiter__(self) -> _AsyncItemIterator[T]:
        return _AsyncItemIterator(self.pages())

    def pages(self) -> AsyncPageIterator[T]:
        """Iterate whole pages, fetched one at a time."""
        return AsyncPageIterator(self._fetch)

    async def fetch_page(self, cursor: str | None = None) -> Page[T]:
        """Fetch one page: the first (``cursor=None``) or the one ``cursor`` points at."""
        return await self._fetch(cursor)

    async def to_list(self, *, max_items: int | None = None) -> list[T]:
        """Collect the items into a list (all of them, or the first ``max_items``)."""
        items: list[T] = []
        if max_items is not None and max_items <= 0:
            return items
        async for item in self:
            items.append(item)
            if max_items is not None and len(items) >= max_items:
                break
        return items
