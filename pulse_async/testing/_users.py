"""The local server's Pulse v2 user endpoints: list, create (invite), update, delete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pulse_async._core._validation import (
    validate_create_user,
    validate_list_users,
    validate_update_user,
)
from pulse_async.testing._records import (
    ApiFailure,
    Call,
    UserRecord,
    _decode_cursor,
    _encode_cursor,
    _invalid,
    _not_found,
    object_body,
    query_int,
)
from pulse_async.testing._workspace import Workspace

__all__ = ["UserEndpoints"]

_USER_FIELDS: Final = frozenset({"email", "role", "name", "metadata"})
_PATCH_FIELDS: Final = frozenset({"role", "name", "metadata"})


class UserEndpoints(Workspace):
    """``/v2/users``."""

    def list_users(self, call: Call, query: Mapping[str, str]) -> tuple[int, Any]:
        limit = query_int(query, "limit")
        cursor, status, q = query.get("cursor"), query.get("status"), query.get("q")
        validate_list_users(limit=limit, cursor=cursor, status=status, q=q)
        after = _decode_cursor(cursor, 2) if cursor is not None else None
        size = limit or 20
        now = self.clock.time()
        terms = q.casefold().split() if q else []
        page: list[UserRecord] = []
        for user in reversed(self._user_order):
            if after is not None and (int(user.created_at * 1e6), user.seq) >= after:
                continue
            if status is not None and user.status_at(now) != status:
                continue
            if terms:
                haystack = f"{(user.name or '').casefold()} {user.email.casefold()}"
                if not all(t in haystack for t in terms):
                    continue
            page.append(user)
            if len(page) > size:
                break
        has_more = len(page) > size
        page = page[:size]
        last = page[-1] if has_more else None
        next_cursor = (
            _encode_cursor(int(last.created_at * 1e6), last.seq) if last is not None else None
        )
        return 200, {
            "data": [u.to_json(now) for u in page],
            "next_cursor": next_cursor,
            "has_more": has_more,
        }

    def create_user(self, call: Call, body: Any) -> tuple[int, Any]:
        b = object_body(body, _USER_FIELDS, ("email", "role"))
        validate_create_user(
            email=b["email"], role=b["role"], name=b.get("name"), metadata=b.get("metadata")
        )
        email: str = b["email"]
        if email.casefold() in self._emails:
            raise _invalid("email", "email is already in use")
        now = self.clock.time()
        user = self._add_user(
            email, b["role"], b.get("name"), dict(b.get("metadata") or {}), now, status="pending"
        )
        self._record("user.created", user.id, "pulse", call)
        return 201, user.to_json(now)

    def _admin_count(self) -> int:
        return sum(1 for u in self._user_order if u.role == "admin")

    def update_user(self, call: Call, user_id: str, body: Any) -> tuple[int, Any]:
        b = object_body(body, _PATCH_FIELDS)
        validate_update_user(role=b.get("role"), name=b.get("name"), metadata=b.get("metadata"))
        user = self.users.get(user_id)
        if user is None:
            raise _not_found("user", user_id)
        role = b.get("role")
        if (
            role is not None
            and user.role == "admin"
            and role != "admin"
            and self._admin_count() <= 1
        ):
            raise ApiFailure(403, "forbidden", "cannot demote the last admin")
        metadata = dict(user.metadata)
        for k, v in (b.get("metadata") or {}).items():
            if v is None:
                metadata.pop(k, None)
            else:
                metadata[k] = v
        if len(metadata) > 50:
            raise _invalid(
                "metadata", f"must have at most 50 keys after merging, would have {len(metadata)}"
            )
        if role is not None:
            user.role = role
        if "name" in b:
            user.name = b["name"]
        user.metadata = metadata
        now = self.clock.time()
        user.updated_at = now
        self._record("user.updated", user.id, "pulse", call)
        return 200, user.to_json(now)

    def delete_user(self, call: Call, user_id: str) -> tuple[int, Any]:
        user = self.users.get(user_id)
        if user is None:
            raise _not_found("user", user_id)
        if user.role == "admin" and self._admin_count() <= 1:
            raise ApiFailure(403, "forbidden", "cannot delete the last admin")
        del self.users[user_id]
        self._user_order.remove(user)
        self._emails.pop(user.email.casefold(), None)
        for secret in [s for s, k in self.keys.items() if k.user_id == user_id]:
            del self.keys[secret]
        self._record("user.deleted", user.id, "pulse", call)
        return 204, None
