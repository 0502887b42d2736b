"""``AsyncPager``: lazy cursor pagination, one page fetched ahead.

``async for item in pager`` and ``async for page in pager.pages()`` fetch
page *k+1* while page *k* is being parsed, structured and consumed: as soon as
page *k*'s answer names a next cursor, the request for page *k+1* goes out (one
task, never more than one page ahead), and only then is page *k* turned into
models and handed over. Stopping early (``break``, an exception, ``aclose()``,
or the iterator being dropped) cancels that request. ``to_list(max_items=...)``
and ``fetch_page()`` fetch nothing ahead.

The listing is sequential: the server cannot start page *k+1* before it has the
cursor, so the time from page *k*'s answer to page *k+1*'s request is what a
listing waits for on every page, on top of the server's own time. The resources
therefore hand the pager the page's raw body (:class:`~pulse_async._core._http.Unparsed`),
and when the body *ends* with the two top-level members ``"next_cursor": "<c>"``
and ``"has_more": true`` (either order; a cursor of URL-safe characters, no
escapes), the request for *c* leaves before the body is parsed. In a JSON object
those closing members can only be the top level's (a valid JSON text is read
the same way from the end), so a well-formed answer always confirms it; the
parsed page still decides (an answer that does not, or does not parse, cancels
that request, and the pager goes on as the parsed page says). When the caller is
already waiting for the page fetched ahead, that fetch starts the next request
itself as its answer comes in, with no turn of the event loop in between; the
caller waiting means the page before was handed over, so that is still one page
ahead.

Iteration stops when the server says ``has_more: false`` (even if it sent a
cursor), or when no (or only a blank) cursor comes back. An empty page with
``has_more: true`` is followed. A server whose pagination is broken does not
make us loop forever: a cursor sent a second time, or
:data:`MAX_EMPTY_PAGES` empty pages in a row that each say ``has_more``,
raise :class:`~pulse_async.errors.APIConnectionError` (not retryable) after
the pages already received have been handed over.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar, cast

from pulse_async._core._http import Unparsed
from pulse_async.errors import APIConnectionError
from pulse_async.models import Page

__all__ = ["MAX_EMPTY_PAGES", "AsyncPageIterator", "AsyncPager"]

T = TypeVar("T")

#: Empty pages in a row, each with ``has_more: true`` and a new cursor, after which the
#: pager gives up with an error: a server that does this is not going to end.
MAX_EMPTY_PAGES = 100


# JSON whitespace, and the two members that end a page that has a next page.
_WS = rb"[ \t\r\n]*"
_CURSOR = rb'"next_cursor"' + _WS + rb":" + _WS + rb'"([A-Za-z0-9._~+/=-]{1,1024})"'
_MORE = rb'"has_more"' + _WS + rb":" + _WS + rb"true"
_TAIL = re.compile(
    rb"(?:" + _CURSOR + _WS + rb"," + _WS + _MORE
    + rb"|" + _MORE + _WS + rb"," + _WS + _CURSOR
    + rb")" + _WS + rb"\}" + _WS + rb"\Z"
)  # fmt: skip
#: How far from the end of a body its closing members can start (the cursor is bounded).
_TAIL_SPAN = 1100


def next_cursor_hint(body: bytes) -> str | None:
    """The next cursor of a page's raw JSON body, read off its end without parsing it.

    ``None`` unless the body ends with the members ``"next_cursor": "<cursor>"`` and
    ``"has_more": true`` (in either order), a cursor of URL-safe characters without
    escapes. When the body is a JSON object, those are its top-level members, and the
    last ones of their names (the values a parser keeps): a ``"`` cannot be escaped
    after ``,`` or ``:``, and nothing but the object's own members sits right before
    its closing brace.
    """
    match = _TAIL.search(body, max(0, len(body) - _TAIL_SPAN))
    if match is None:
        return None
    cursor = match[1] or match[2]
    return cursor.decode("ascii")


def _retrieve(task: asyncio.Task[Any]) -> None:
    # A prefetch nobody awaits (iteration stopped) must not log "exception never retrieved".
    if not task.cancelled():
        task.exception()


class AsyncPageIterator(Generic[T]):
    """Iterates pages, fetching at most one page ahead of the one handed over.

    ``fetch(cursor)`` returns a :class:`~pulse_async.models.Page`, or, when
    ``structure`` is given, the JSON object that ``structure`` turns into one,
    parsed or not yet (an :class:`~pulse_async._core._http.Unparsed` answer), so
    the next request can leave before this page is parsed and structured.
    """

    __slots__ = (
        "__weakref__",
        "_cursor",
        "_done",
        "_empty_run",
        "_error",
        "_fetch",
        "_hint",
        "_next",
        "_prefetch",
        "_seen",
        "_structure",
        "_waiting",
    )

    def __init__(
        self,
        fetch: Callable[[str | None], Awaitable[Any]],
        structure: Callable[[Any], Page[T]] | None = None,
        *,
        prefetch: bool = True,
    ) -> None:
        self._fetch = fetch
        self._structure = structure
        self._prefetch = prefetch
        self._cursor: str | None = None
        self._done = False
        self._error: APIConnectionError | None = None
        self._seen: set[str] = set()
        self._empty_run = 0
        self._next: asyncio.Task[Any] | None = None
        # While the caller waits for the page fetched ahead (``_waiting``), that fetch starts
        # the request after it as soon as its body is in (``_hint``: the cursor it guessed).
        self._waiting = False
        self._hint: str | None = None

    def __aiter__(self) -> AsyncPageIterator[T]:
        return self

    async def __anext__(self) -> Page[T]:
        if self._done:
            raise StopAsyncIteration
        if self._error is not None:
            self._done = True
            raise self._error
        task, self._next = self._next, None
        try:
            if task is None:
                got = await self._fetch(self._cursor)
            else:
                self._waiting = True
                try:
                    got = await task
                finally:
                    self._waiting = False
        except BaseException:
            self._stop()  # and the request the page fetched ahead may have started
            raise
        structure = self._structure
        if structure is None:
            page = cast(Page[T], got)
            self._advance(page.next_cursor, page.has_more, not page.data)
            if self._prefetch and not self._done and self._error is None:
                self._next = self._start(self._cursor)
            return page
        # A cursor the fetch we waited for guessed and started, as it ended (or None).
        hint, self._hint = self._hint, None
        if type(got) is Unparsed:
            # The raw body: when its tail names the next page, that request leaves first,
            # and the body is parsed and structured while it travels.
            if hint is None and self._prefetch:
                hint = self._guess(got.body)
                if hint is not None:
                    self._next = self._start(hint)
                    await self._let_it_send()
            try:
                got = got.parse()  # raises as decipher does
            except BaseException:
                self._stop()
                raise
        # A parsed JSON object (decipher checked that much): it decides where to go next.
        self._advance(got.get("next_cursor"), got.get("has_more") is True, not got.get("data"))
        ahead = self._next
        if ahead is not None and (self._done or self._error is not None or hint != self._cursor):
            # The parsed page says otherwise (a well-formed answer never does).
            self._next = None
            ahead.cancel()
        if self._prefetch and not self._done and self._error is None and self._next is None:
            self._next = self._start(self._cursor)
            await self._let_it_send()
        try:
            return structure(got)
        except Exception as exc:
            self._stop()
            raise _unreadable(exc) from None

    async def _let_it_send(self) -> None:
        """One turn of the loop, for the request just started to be written before we
        spend the CPU on this page. Cancelled here, the iteration stops (this page is lost
        to the caller, so going on would skip it)."""
        try:
            await asyncio.sleep(0)
        except BaseException:
            self._stop()
            raise

    def _guess(self, body: bytes) -> str | None:
        """The next cursor read off ``body``, unless the parsed page could not lead there:
        a cursor already followed, or a page past the empty-page limit."""
        hint = next_cursor_hint(body)
        if hint in self._seen or self._empty_run + 1 >= MAX_EMPTY_PAGES:
            return None
        return hint

    def _start(self, cursor: str | None) -> asyncio.Task[Any]:
        # The task holds the iterator weakly: one dropped mid-iteration is collected, and
        # its __del__ cancels the task.
        task = asyncio.ensure_future(_ahead(weakref.ref(self), self._fetch, cursor))
        task.add_done_callback(_retrieve)
        return task

    def _chain(self, got: Any) -> None:
        """Called by the fetch of the page the caller waits for, as it ends: start the
        request for the page after it now, before the page is handed over.

        The caller waiting means the page before was handed over: the request started
        here is one page ahead of this one, as ``__anext__`` would start it.
        """
        if self._waiting and not self._done and self._next is None and type(got) is Unparsed:
            hint = self._guess(got.body)
            if hint is not None:
                self._hint = hint
                self._next = self._start(hint)

    def _advance(self, cursor: object, has_more: bool, empty: bool) -> None:
        """Decide, from page *k*, whether and where page *k+1* is."""
        # A blank cursor is no cursor: passing it back would fail our own validation.
        if not has_more or not isinstance(cursor, str) or not cursor.strip():
            self._done = True
            return
        if cursor in self._seen:
            self._error = APIConnectionError(
                "pagination stopped: the server sent a next_cursor it had already sent;"
                " following it would return the same pages forever",
                retryable=False,
            )
            return
        self._empty_run = self._empty_run + 1 if empty else 0
        if self._empty_run >= MAX_EMPTY_PAGES:
            self._error = APIConnectionError(
                f"pagination stopped: {self._empty_run} empty pages in a row, each saying"
                " has_more; the server's listing does not end",
                retryable=False,
            )
            return
        self._seen.add(cursor)
        self._cursor = cursor

    def _stop(self) -> asyncio.Task[Any] | None:
        self._done = True
        task, self._next = self._next, None
        if task is not None:
            task.cancel()
        return task

    async def aclose(self) -> None:
        """Stop: no further page is fetched, and a page being fetched ahead is cancelled."""
        task = self._stop()
        if task is not None:
            await asyncio.wait([task])  # its connection is released before we return

    def __del__(self) -> None:
        # Dropped mid-iteration (a ``break`` out of ``async for`` calls no aclose()).
        task = self._next
        if task is not None and not task.done():
            with contextlib.suppress(RuntimeError):  # its loop is already closed
                task.cancel()


async def _ahead(
    pages: weakref.ref[AsyncPageIterator[Any]],
    fetch: Callable[[str | None], Awaitable[Any]],
    cursor: str | None,
) -> Any:
    """A page fetched ahead (no turn of the loop between its answer and the next request)."""
    got = await fetch(cursor)
    iterator = pages()
    if iterator is not None:
        iterator._chain(got)
    return got


def _unreadable(exc: BaseException) -> APIConnectionError:
    """The error ``decipher`` gives for a 2xx body that is not the model expected."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    what = f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
    return APIConnectionError(f"the 200 response body could not be read: {what}", retryable=False)


class _AsyncItemIterator(Generic[T]):
    __slots__ = ("_items", "_pages")

    def __init__(self, pages: AsyncPageIterator[T]) -> None:
        self._pages = pages
        self._items: list[T] = []

    def __aiter__(self) -> _AsyncItemIterator[T]:
        return self

    async def __anext__(self) -> T:
        items = self._items
        while not items:
            page = await self._pages.__anext__()
            items = self._items = page.data[::-1]
        return items.pop()

    async def aclose(self) -> None:
        self._items.clear()
        await self._pages.aclose()


class AsyncPager(Generic[T]):
    """The result of a ``list()`` call: iterate items with ``async for``, or ``.pages()``.

    The next page is fetched while the current one is consumed (one page ahead,
    cancelled when you stop early).

    Example::

        async for user in pulse.users.list(status="active"):
            print(user.email)
        async for page in pulse.users.list(limit=100).pages():
            print(len(page.data), page.next_cursor)
    """

    __slots__ = ("_fetch", "_structure")

    def __init__(
        self,
        fetch: Callable[[str | None], Awaitable[Any]],
        structure: Callable[[Any], Page[T]] | None = None,
    ) -> None:
        self._fetch = fetch
        self._structure = structure

    def __aiter__(self) -> _AsyncItemIterator[T]:
        return _AsyncItemIterator(self.pages())

    def pages(self) -> AsyncPageIterator[T]:
        """Iterate whole pages (the next one fetched while you use this one)."""
        return AsyncPageIterator(self._fetch, self._structure)

    async def fetch_page(self, cursor: str | None = None) -> Page[T]:
        """Fetch one page: the first (``cursor=None``) or the one ``cursor`` points at."""
        got = await self._fetch(cursor)
        if type(got) is Unparsed:
            got = got.parse()
        if self._structure is None:
            return cast(Page[T], got)
        try:
            return self._structure(got)
        except Exception as exc:
            raise _unreadable(exc) from None

    async def to_list(self, *, max_items: int | None = None) -> list[T]:
        """Collect the items into a list (all of them, or the first ``max_items``).

        With ``max_items`` no page is fetched ahead: no request beyond what the items need.
        """
        items: list[T] = []
        if max_items is not None and max_items <= 0:
            return items
        pages = AsyncPageIterator(self._fetch, self._structure, prefetch=max_items is None)
        try:
            async for page in pages:
                items.extend(page.data)
                if max_items is not None and len(items) >= max_items:
                    return items[:max_items]
        finally:
            await pages.aclose()
        return items
