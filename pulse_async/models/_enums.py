"""Enumerations of the API; open-ended, since the server may add values."""

from __future__ import annotations

import enum

__all__ = ["FINAL_STATUSES", "Channel", "MessageStatus", "Role", "UserStatus"]


class Role(enum.StrEnum):
    """A user's role (SPEC §2)."""

    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"


class UserStatus(enum.StrEnum):
    """A user's status (SPEC §2)."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    PENDING = "pending"


class MessageStatus(enum.StrEnum):
    """A message's place in the lifecycle of SPEC §4."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Channel(enum.StrEnum):
    """A Pulsewave delivery channel (SPEC §3)."""

    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"


#: The statuses a message never leaves (SPEC §4).
FINAL_STATUSES: frozenset[str] = frozenset(
    {MessageStatus.DELIVERED, MessageStatus.BOUNCED, MessageStatus.FAILED, MessageStatus.CANCELLED}
)
