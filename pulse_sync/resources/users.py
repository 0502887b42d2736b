"""``pulse.users``: list, create (invite), update and delete workspace users."""

from __future__ import annotations

from collections.abc import Mapping

from pulse_async import AsyncPulse
from pulse_async.constants import RoleName, UserStatusName
from pulse_async.models import Role, User, UserStatus
from pulse_sync._pager import Pager
from pulse_sync.resources._base import Resource

__all__ = ["Users"]


class Users(Resource[AsyncPulse]):
    """Workspace users (Pulse v2 ``/users``)."""

    __slots__ = ()

    def list(
        self,
        *,
        limit: int | None = None,
        status: UserStatus | UserStatusName | None = None,
        q: str | None = None,
        cursor: str | None = None,
    ) -> Pager[User]:
        """Users, newest first, fetched a page at a time as you iterate.

        ``limit`` is the page size (1–100); ``status`` filters (``active``,
        ``inactive``, ``pending``); ``q`` searches name and email; ``cursor``
        resumes a listing from a page's ``next_cursor`` you kept (give the same
        filters). Arguments are checked now, before any request::

            for user in pulse.users.list(status="active"):
                ...
        """
        return self._pager(
            self._client._async().users.list(limit=limit, status=status, q=q, cursor=cursor)
        )

    def create(
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

            user = pulse.users.create(email="ada@example.com", role="editor")
        """
        return self._run(
            self._client._async().users.create(
                email=email,
                role=role,
                name=name,
                metadata=metadata,
                idempotency_key=idempotency_key,
            )
        )

    def update(
        self,
        user_id: str,
        *,
        role: Role | RoleName | None = None,
        name: str | None = None,
        metadata: Mapping[str, str | None] | None = None,
    ) -> User:
        """Change only the fields given. ``metadata`` is merged; a ``None`` value removes a key.

        Demoting the last admin is refused (``PermissionDeniedError``)::

            pulse.users.update(user.id, metadata={"team": "ops", "old": None})
        """
        return self._run(
            self._client._async().users.update(user_id, role=role, name=name, metadata=metadata)
        )

    def delete(self, user_id: str) -> None:
        """Delete a user, revoking their sessions and keys. Not the last admin.

        An unknown id raises ``NotFoundError``, except on a retry: when an
        earlier attempt of this call failed without a clear answer (a
        connection reset, a timeout, a 5xx) it may have deleted the user, so a
        404 on the retry means the user is gone as asked, and the call succeeds.
        """
        return self._run(self._client._async().users.delete(user_id))
