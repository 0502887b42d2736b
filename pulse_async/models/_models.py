"""The attrs models. Times are aware ``datetime`` objects."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs

from pulse_async.models._enums import FINAL_STATUSES

__all__ = ["Message", "MessageReceipt", "Page", "Thread", "User"]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class User:
    """A workspace member (Pulse v2)."""

    id: str
    email: str
    role: str
    status: str
    name: str | None = None
    metadata: dict[str, str] = attrs.field(factory=dict)
    created_at: datetime | None = None
    invited_at: datetime | None = None
    updated_at: datetime | None = None
    #: The Idempotency-Key the creating call sent (``None`` on users that were listed).
    idempotency_key: str | None = None


@attrs.frozen(kw_only=True)
class MessageReceipt:
    """What ``POST /v2/messages`` answers: the message was queued."""

    message_id: str
    status: str
    recipient_count: int | None = None
    #: The Idempotency-Key this send carried: re-send with it to be safe from duplicates.
    idempotency_key: str | None = None


@attrs.frozen(kw_only=True)
class Message:
    """A message of either API, with its current ``status`` (SPEC §4).

    Pulse v2 fills ``thread_id``, ``recipient_count`` and ``send_at``;
    Pulsewave fills ``object``, ``channel``, ``to``, ``from_``,
    ``template_id`` and ``metadata``. The rest is ``None`` (or empty).
    """

    id: str
    status: str
    subject: str | None = None
    created_at: datetime | None = None
    # Pulse v2
    thread_id: str | None = None
    recipient_count: int | None = None
    send_at: datetime | None = None
    # Pulsewave v1
    object: str | None = None
    channel: str | None = None
    to: str | None = None
    from_: str | None = None
    template_id: str | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict)
    #: The Idempotency-Key of the POST that returned it (create or cancel); ``None`` when
    #: retrieved.
    idempotency_key: str | None = None

    @property
    def is_final(self) -> bool:
        """Whether the message reached a status it never leaves."""
        return self.status in FINAL_STATUSES


@attrs.frozen(kw_only=True)
class Thread:
    """A conversation the key's user takes part in."""

    id: str
    subject: str | None = None
    unread_count: int = 0
    last_message_at: datetime | None = None


@attrs.frozen(kw_only=True)
class Page(Generic[T]):
    """One page of a list: its items, and where the next page starts."""

    data: list[T]
    next_cursor: str | None = None
    has_more: bool = False
