"""The API's enumerations, defined once: the values, their ``Literal`` types and their sets.

Each enumeration is spelt exactly once, as a ``Literal`` type (what a parameter accepts,
checked by mypy); the ``frozenset`` every runtime check uses is derived from it, and the
``StrEnum`` naming the same values is held to it by a test. Validation, the local server,
the CLI and ``pulse_sync`` import them from here (publicly: :mod:`pulse_async.constants`).

Parameters take the ``Literal`` (or the ``StrEnum`` member); responses stay plain ``str``
(SPEC §1: a server may add a role, status or channel, and that must never fail a call).
"""

from __future__ import annotations

import enum
from typing import Final, Literal, get_args

__all__ = [
    "CHANNELS",
    "FINAL_STATUSES",
    "MESSAGE_STATUSES",
    "ROLES",
    "USER_STATUSES",
    "Channel",
    "ChannelName",
    "MessageStatus",
    "MessageStatusName",
    "Role",
    "RoleName",
    "UserStatus",
    "UserStatusName",
]

#: A user's role (SPEC §2).
RoleName = Literal["admin", "editor", "viewer"]
#: A user's status (SPEC §2).
UserStatusName = Literal["active", "inactive", "pending"]
#: A message's status (SPEC §4).
MessageStatusName = Literal[
    "queued", "sending", "sent", "delivered", "bounced", "failed", "cancelled"
]
#: A Pulsewave channel (SPEC §3).
ChannelName = Literal["email", "sms", "push"]

ROLES: Final[frozenset[str]] = frozenset(get_args(RoleName))
USER_STATUSES: Final[frozenset[str]] = frozenset(get_args(UserStatusName))
MESSAGE_STATUSES: Final[frozenset[str]] = frozenset(get_args(MessageStatusName))
CHANNELS: Final[frozenset[str]] = frozenset(get_args(ChannelName))
#: The statuses a message never leaves (SPEC §4).
FINAL_STATUSES: Final[frozenset[str]] = frozenset({"delivered", "bounced", "failed", "cancelled"})


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
