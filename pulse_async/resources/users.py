"""``pulse.users``: list, create (invite), update and delete workspace users."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from pulse_async._core import _endpoints as ep
from pulse_async._core._http import UNPARSED, Unparsed
from pulse_async._pager import AsyncPager
from pulse_async.models import Role, User, UserStatus
from pulse_async.models._enums import RoleName, UserStatusName
from pulse_async.resources._base import Requester
from pulse_async.resources._structures import STRUCTURE_USER, STRUCTURE_USER_PAGE

__all__ = ["AsyncUsers"]


class AsyncUsers:
    """Workspace users (Pulse v2 ``/users``)."""

    def __init__(self, client: Requester) -> None:
        self._client = client

    def list(
        self,
        *,
        limit: int | None = None,
        status: UserStatus | UserStatusName | None = None,
        q: str | None = None,
        cursor: str | None = None,
    ) -> AsyncPager[User]:
        """Users, newest first, fetched a page at a time as you iterate.

        ``limit`` is the page size (1–100); ``status`` filters (``active``,
        ``inactive``, ``pending``); ``q`` searches name and email; ``cursor``
        resumes a listing from a page's ``next_cursor`` you kept (give the same
        filters). Arguments are checked now, before any request::

            async for user in pulse.users.list(status="active"):
                ...
        """
        ep.list_users(limit=limit, cursor=cursor, status=status, q=q)
        return AsyncPager(
            partial(self._page, limit=limit, status=status, q=q, start=cursor), STRUCTURE_USER_PAGE
        )

    async def _page(
        self,
        cursor: str | None,
        *,
        limit: int | None,
        status: str | None,
        q: str | None,
        start: str | None,
    ) -> Unparsed:
        # The pager asks for its first page with ``None``: that is where the caller resumes.
        cursor = start if cursor is None else cursor
        request = ep.list_users(limit=limit, cursor=cursor, status=status, q=q)
        # The body as it came: the pager sends the request for the next page before it
        # parses and structures this one.
        return await self._client._call(request, UNPARSED)

    async def create(
        self,
        *,
        email: str,
        role: Role | RoleName,
        name: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> User:
        """Invite a user; they start ``pending``. Needs an admin key.

        ``metadata`` is a flat map of strings (at most 50 keys)::

            user = await pulse.users.create(email="ada@example.com", role="editor")
        """
        request = ep.create_user(
            email=email, role=role, name=name, metadata=metadata, idempotency_key=idempotency_key
        )
        return await self._client._call(request, STRUCTURE_USER)

    async def update(
        self,
        user_id: str,
        *,
        role: Role | RoleName | None = None,
        name: str | None = None,
        metadata: Mapping[str, str | None] | None = None,
    ) -> User:
        """Change only the fields given. ``metadata`` is merged; a ``None`` value removes a key.

        Demoting the last admin is refused (``PermissionDeniedError``)::

            await pulse.users.update(user.id, metadata={"team": "ops", "old": None})
        """
        request = ep.update_user(user_id, role=role, name=name, metadata=metadata)
        return await self._client._call(request, STRUCTURE_USER)

    async def delete(self, user_id: str) -> None:
        """Delete a user, revoking their sessions and keys. Not the last admin.

        An unknown id raises ``NotFoundError``, except on a retry: when an
        earlier attempt of this call failed without a clear answer (a
        connection reset, a timeout, a 5xx) it may have deleted the user, so a
        404 on the retry means the user is gone as asked, and the call succeeds.
        """
        await self._client._call_empty(ep.delete_user(user_id))
