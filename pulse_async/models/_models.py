"""The attrs models. Times are aware ``datetime`` objects.

Every model has ``to_dict()`` — JSON-ready, as on the wire: times as ISO 8601 strings in UTC
(``2024-11-14T09:00:00Z``), ``from_`` spelt ``from`` — and ``to_json()``. Both go through the
one converter, so ``converter.structure(model.to_dict(), type(model)) == model``: what you
store or send on can be read back into the same model. ``idempotency_key``, which the SDK
adds, is included.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs

from pulse_async.models._enums import FINAL_STATUSES

__all__ = ["Message", "MessageReceipt", "Page", "Thread", "User"]

T = TypeVar("T")


class _Serialisable:
    """``to_dict()`` and ``to_json()`` for the models."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """This model as JSON-ready data: ISO 8601 times, field names as on the wire.

        ``json.dumps(user.to_dict())`` works; ``converter.structure`` reads it back.
        """
        # Imported here: the converter imports the models.
        from pulse_async._core._converter import converter

        data: dict[str, Any] = converter.unstructure(self)
        return data

    def to_json(self, *, indent: int | None = None) -> str:
        """This model as a JSON document (``to_dict()`` serialised; no NaN or Infinity)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)


@attrs.frozen(kw_only=True)
class User(_Serialisable):
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
class MessageReceipt(_Serialisable):
    """What ``POST /v2/messages`` answers: the message was queued."""

    message_id: str
    status: str
    recipient_count: int | None = None
    #: The Idempotency-Key this send carried: re-send with it to be safe from duplicates.
    idempotency_key: str | None = None


@attrs.frozen(kw_only=True)
class Message(_Serialisable):
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
class Thread(_Serialisable):
    """A conversation the key's user takes part in."""

    id: str
    subject: str | None = None
    unread_count: int = 0
    last_message_at: datetime | None = None


@attrs.frozen(kw_only=True)
class Page(_Serialisable, Generic[T]):
    """One page of a list: its items, and where the next page starts."""

    data: list[T]
    next_cursor: str | None = None
    has_more: bool = False
