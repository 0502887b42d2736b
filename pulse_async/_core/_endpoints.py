"""One builder per endpoint: validate the caller's arguments, then describe the request.

Every builder raises :class:`~pulse_async.errors.ValidationError` before
anything is sent, puts in the body only what the caller set, and gives every
POST an ``Idempotency-Key`` (the caller's, or a fresh UUID4).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pulse_async._core import _validation as v
from pulse_async._core._converter import format_datetime
from pulse_async._core._http import Request, path

__all__ = [
    "cancel_pulsewave_message",
    "create_pulsewave_message",
    "create_user",
    "delete_user",
    "list_threads",
    "list_users",
    "new_idempotency_key",
    "retrieve_message",
    "retrieve_pulsewave_message",
    "send_message",
    "update_user",
]


def new_idempotency_key() -> str:
    """A fresh key: a random UUID4, never reused by another call.

    The canonical text of ``uuid.uuid4()`` (16 bytes from ``os.urandom``, the version and
    variant bits set), written out directly: half the CPU of building the ``UUID`` object
    to format it. Read straight from the OS on every call, so a forked child never repeats
    its parent's keys.
    """
    h = _urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


_urandom = os.urandom
#: RFC 9562 variant (binary 10xx) as the 17th hex digit, from two random bits.
_VARIANT = "89ab"


def _key(idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return new_idempotency_key()
    return v.check_idempotency_key(idempotency_key)


def _query(**params: Any) -> dict[str, str] | None:
    query = {}
    for name, value in params.items():
        if value is None:
            continue
        query[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return query or None


# --- Pulse v2 ---------------------------------------------------------------------------------


def list_users(
    *, limit: int | None, cursor: str | None, status: str | None, q: str | None
) -> Request:
    """``GET /users``."""
    v.validate_list_users(limit=limit, cursor=cursor, status=status, q=q)
    return Request(
        method="GET",
        path="/users",
        query=_query(limit=limit, cursor=cursor, status=status, q=q),
        operation="users.list",
    )


def create_user(
    *,
    email: str,
    role: str,
    name: str | None,
    metadata: Mapping[str, str] | None,
    idempotency_key: str | None,
) -> Request:
    """``POST /users``."""
    v.validate_create_user(email=email, role=role, name=name, metadata=metadata)
    body: dict[str, Any] = {"email": email, "role": str(role)}
    if name is not None:
        body["name"] = name
    if metadata is not None:
        body["metadata"] = dict(metadata)
    return Request(
        method="POST",
        path="/users",
        body=body,
        idempotency_key=_key(idempotency_key),
        operation="users.create",
    )


def update_user(
    user_id: str,
    *,
    role: str | None,
    name: str | None,
    metadata: Mapping[str, str | None] | None,
) -> Request:
    """``PATCH /users/{id}``: only the fields given are sent (and changed)."""
    v.check_path_id(user_id, "user_id")
    v.validate_update_user(role=role, name=name, metadata=metadata)
    body: dict[str, Any] = {}
    if role is not None:
        body["role"] = str(role)
    if name is not None:
        body["name"] = name
    if metadata is not None:
        body["metadata"] = dict(metadata)
    return Request(
        method="PATCH",
        path=path("/users/{}", user_id),
        body=body,
        operation="users.update",
        template="/users/{id}",
    )


def delete_user(user_id: str) -> Request:
    """``DELETE /users/{id}``."""
    v.check_path_id(user_id, "user_id")
    return Request(
        method="DELETE",
        path=path("/users/{}", user_id),
        operation="users.delete",
        template="/users/{id}",
    )


def send_message(
    *,
    to: Sequence[str],
    subject: str,
    body: str,
    thread_id: str | None,
    send_at: datetime | str | None,
    idempotency_key: str | None,
    now: datetime | None = None,
) -> Request:
    """``POST /messages`` (Pulse v2)."""
    when = v.validate_send_message(
        to=list(to) if isinstance(to, tuple) else to,
        subject=subject,
        body=body,
        thread_id=thread_id,
        send_at=send_at,
        now=now,
    )
    payload: dict[str, Any] = {"to": list(to), "subject": subject, "body": body}
    if thread_id is not None:
        payload["thread_id"] = thread_id
    if when is not None:
        payload["send_at"] = format_datetime(when)
    return Request(
        method="POST",
        path="/messages",
        body=payload,
        idempotency_key=_key(idempotency_key),
        operation="messages.send",
    )


def retrieve_message(message_id: str) -> Request:
    """``GET /messages/{id}`` (Pulse v2)."""
    v.check_path_id(message_id, "message_id")
    return Request(
        method="GET",
        path=path("/messages/{}", message_id),
        operation="messages.retrieve",
        template="/messages/{id}",
    )


def list_threads(*, limit: int | None, cursor: str | None, unread: bool | None) -> Request:
    """``GET /threads``."""
    v.validate_list_threads(limit=limit, cursor=cursor, unread=unread)
    return Request(
        method="GET",
        path="/threads",
        query=_query(limit=limit, cursor=cursor, unread=unread),
        operation="threads.list",
    )


# --- Pulsewave v1 -----------------------------------------------------------------------------


def create_pulsewave_message(
    *,
    channel: str,
    to: str,
    from_: str,
    subject: str | None,
    text: str | None,
    html: str | None,
    template_id: str | None,
    template_data: Mapping[str, Any] | None,
    metadata: Mapping[str, Any] | None,
    idempotency_key: str | None,
) -> Request:
    """``POST /messages`` (Pulsewave)."""
    v.validate_create_message(
        channel=channel,
        to=to,
        from_=from_,
        subject=subject,
        text=text,
        html=html,
        template_id=template_id,
        template_data=template_data,
        metadata=metadata,
    )
    body: dict[str, Any] = {"channel": str(channel), "to": to, "from": from_}
    optional = {
        "subject": subject,
        "text": text,
        "html": html,
        "template_id": template_id,
        "template_data": dict(template_data) if template_data is not None else None,
        "metadata": dict(metadata) if metadata is not None else None,
    }
    body.update((k, val) for k, val in optional.items() if val is not None)
    return Request(
        method="POST",
        path="/messages",
        body=body,
        idempotency_key=_key(idempotency_key),
        operation="messages.create",
    )


def retrieve_pulsewave_message(message_id: str) -> Request:
    """``GET /messages/{id}`` (Pulsewave)."""
    v.check_path_id(message_id, "message_id")
    return Request(
        method="GET",
        path=path("/messages/{}", message_id),
        operation="messages.retrieve",
        template="/messages/{id}",
    )


def cancel_pulsewave_message(message_id: str, *, idempotency_key: str | None) -> Request:
    """``POST /messages/{id}/cancel`` (Pulsewave)."""
    v.check_path_id(message_id, "message_id")
    return Request(
        method="POST",
        path=path("/messages/{}/cancel", message_id),
        idempotency_key=_key(idempotency_key),
        operation="messages.cancel",
        template="/messages/{id}/cancel",
    )
