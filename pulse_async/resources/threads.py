"""``pulse.threads``: the conversations the key's user takes part in."""

from __future__ import annotations

from functools import partial

from pulse_async._core import _endpoints as ep
from pulse_async._core._http import UNPARSED, Unparsed
from pulse_async._pager import AsyncPager
from pulse_async.models import Thread
from pulse_async.resources._base import Requester
from pulse_async.resources._structures import STRUCTURE_THREAD_PAGE

__all__ = ["AsyncThreads"]


class AsyncThreads:
    """Threads (Pulse v2 ``/threads``)."""

    def __init__(self, client: Requester) -> None:
        self._client = client

    def list(
        self, *, limit: int | None = None, unread: bool | None = None, cursor: str | None = None
    ) -> AsyncPager[Thread]:
        """Threads, most recent activity first; ``unread=True`` for those with unread messages.

        ``limit`` is the page size (1–50); ``cursor`` resumes a listing from a
        page's ``next_cursor`` you kept::

            async for thread in pulse.threads.list(unread=True):
                print(thread.subject, thread.unread_count)
        """
        ep.list_threads(limit=limit, cursor=cursor, unread=unread)
        return AsyncPager(
            partial(self._page, limit=limit, unread=unread, start=cursor), STRUCTURE_THREAD_PAGE
        )

    async def _page(
        self, cursor: str | None, *, limit: int | None, unread: bool | None, start: str | None
    ) -> Unparsed:
        cursor = start if cursor is None else cursor
        request = ep.list_threads(limit=limit, cursor=cursor, unread=unread)
        # The body as it came: the pager sends the request for the next page before it
        # parses and structures this one.
        return await self._client._call(request, UNPARSED)
