"""``pulse.threads``: the conversations the key's user takes part in."""

from __future__ import annotations

from pulse_async import AsyncPulse
from pulse_async.models import Thread
from pulse_sync._pager import Pager
from pulse_sync.resources._base import Resource

__all__ = ["Threads"]


class Threads(Resource[AsyncPulse]):
    """Threads (Pulse v2 ``/threads``)."""

    __slots__ = ()

    def list(
        self, *, limit: int | None = None, unread: bool | None = None, cursor: str | None = None
    ) -> Pager[Thread]:
        """Threads, most recent activity first; ``unread=True`` for those with unread messages.

        ``limit`` is the page size (1–50); ``cursor`` resumes a listing from a
        page's ``next_cursor`` you kept::

            for thread in pulse.threads.list(unread=True):
                print(thread.subject, thread.unread_count)
        """
        return self._pager(
            self._client._async().threads.list(limit=limit, unread=unread, cursor=cursor)
        )
