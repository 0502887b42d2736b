"""The API's enumerations and the clients' defaults, as public constants.

One home each: every value here is *defined* once, in the module named beside it, and
imported everywhere else — validation, the models, the local test server, the ``pulse`` CLI
and :mod:`pulse_sync` (whose signatures show these defaults). Pure: importing this module
loads neither aiohttp nor asyncio.

Example::

    from pulse_async.constants import ROLES, RoleName

    def invite(pulse: AsyncPulse, email: str, role: RoleName = "viewer") -> ...:
        ...
"""

from __future__ import annotations

from pulse_async._core._options import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    PULSE_BASE_URL,
    PULSEWAVE_BASE_URL,
)
from pulse_async._core._ratelimit import PLANS
from pulse_async._core._retry import DEFAULT_MAX_RETRY_AFTER
from pulse_async._core._validation import MAX_RECIPIENTS
from pulse_async.models._enums import (
    CHANNELS,
    FINAL_STATUSES,
    MESSAGE_STATUSES,
    ROLES,
    USER_STATUSES,
    ChannelName,
    MessageStatusName,
    RoleName,
    UserStatusName,
)

__all__ = [
    "CHANNELS",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_RETRY_AFTER",
    "FINAL_STATUSES",
    "MAX_RECIPIENTS",
    "MESSAGE_STATUSES",
    "PLANS",
    "PULSEWAVE_BASE_URL",
    "PULSE_BASE_URL",
    "ROLES",
    "USER_STATUSES",
    "ChannelName",
    "MessageStatusName",
    "RoleName",
    "UserStatusName",
]
