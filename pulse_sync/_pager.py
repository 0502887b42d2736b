"""``Pager``: lazy cursor pagination, one loop crossing per page.

A sync pager wraps the :class:`~pulse_async.AsyncPager` of the same call:
each page is fetched by the async page iterator on the loop thread (so when to
stop — ``has_more``, a missing or repeated cursor — is decided there, once),
and its items are then handed out here without crossing again. The async
iterator fetches the next page on the loop thread while this thread consumes
the current one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator
from typing import Generic, TypeVar

from pulse_async import AsyncPageIterator, AsyncPager
from pulse_async.models import Page
from pulse_sync._loop import run

__all__ = ["Pager"]

T = TypeVar("T")


def _next_page(pages: AsyncPageIterator[T], within: float | None) -> Page[T] | None:
    try:
        return run(pages.__anext__(), within=within)
    except StopAsyncIteration:
        return None


def _close(pages: AsyncPageIterator[T]) -> None:
    # Best effort: a generator may be finalized at interpreter exit (the loop is
    # gone) or, rarely, by a garbage collection on the loop thread itself.
    with contextlib.suppress(RuntimeError):
        run(pages.aclose())


class Pager(Generic[T]):
    """The result of a ``list()`` call: iterate items with ``for``, or ``.pages()``.

    The next page is fetched while the current one is consumed (one page ahead,
    cancelled when you stop early).

    Example::

        for user in pulse.users.list(status="active"):
            print(user.email)
        for page in pulse.users.list(limit=100).pages():
            print(len(page.data), page.next_cursor)
    """

    __slots__ = ("_pager", "_within")

    def __init__(self, pager: AsyncPager[T], *, within: float | None = None) -> None:
        self._pager = pager
        #: One page is one call: its fetch waits no longer than a call's deadline.
        self._within = within

    def __iter__(self) -> Iterator[T]:
        pages = self.pages()
        try:
            for page in pages:
                yield from page.data
        finally:
            pages.close()  # stopped early: the page iterator closes the async one

    def pages(self) -> Generator[Page[T], None, None]:
        """Iterate whole pages (the next one fetched while you use this one)."""
        pages = self._pager.pages()
        try:
            while (page := _next_page(pages, self._within)) is not None:
                yield page
        except GeneratorExit:  # the caller's loop stopped early
            _close(pages)
            raise

    def fetch_page(self, cursor: str | None = None) -> Page[T]:
        """Fetch one page: the first (``cursor=None``) or the one ``cursor`` points at."""
        return run(self._pager.fetch_page(cursor), within=self._within)

    def to_list(self, *, max_items: int | None = None) -> list[T]:
        """Collect the items into a list (all of them, or the first ``max_items``).

        With ``max_items`` no page is fetched ahead: no request beyond what the items need.
        """
        return run(self._pager.to_list(max_items=max_items))
