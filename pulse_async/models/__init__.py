"""The models a call returns: frozen, keyword-only attrs classes.

Unknown fields in a response are ignored, and enumerated fields (``role``,
``status``, ``channel``) are plain strings, so a new value from a growing
server never fails a call. The ``StrEnum`` classes name the known values and
compare equal to them: ``user.role == Role.ADMIN``.
"""

from pulse_async.models._enums import FINAL_STATUSES, Channel, MessageStatus, Role, UserStatus
from pulse_async.models._models import Message, MessageReceipt, Page, Thread, User

__all__ = [
    "FINAL_STATUSES",
    "Channel",
    "Message",
    "MessageReceipt",
    "MessageStatus",
    "Page",
    "Role",
    "Thread",
    "User",
    "UserStatus",
]
