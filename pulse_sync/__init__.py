"""pulse-sdk, blocking: the sync facade over :mod:`pulse_async`.

Example::

    from pulse_sync import Pulse

    with Pulse() as pulse:                   # api key from $PULSE_API_KEY
        receipt = pulse.messages.send(to=["usr_123"], subject="Hi", body="Hello")
        for user in pulse.users.list(status="active"):
            print(user.email)

Every call runs the matching :mod:`pulse_async` coroutine on one event-loop
thread per process and blocks on its result: it works in scripts, thread
pools, forked workers and Jupyter notebooks alike, and never runs, re-enters
or patches an event loop in the caller's thread. Models and errors are
:mod:`pulse_async`'s own classes.
"""

from pulse_async import (
    FINAL_STATUSES,
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    Channel,
    ClientOptions,
    ClientStats,
    ConflictError,
    LocalRateLimiter,
    Message,
    MessageReceipt,
    MessageStatus,
    NotFoundError,
    Page,
    PermissionDeniedError,
    PulseError,
    RateLimiter,
    RateLimitError,
    RedisRateLimiter,
    RetryEvent,
    Role,
    ServerError,
    Thread,
    Timeout,
    User,
    UserStatus,
    ValidationError,
    __version__,
)
from pulse_sync._client import Pulse, Pulsewave
from pulse_sync._loop import LoopThreadError
from pulse_sync._pager import Pager

__all__ = [
    "FINAL_STATUSES",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "Channel",
    "ClientOptions",
    "ClientStats",
    "ConflictError",
    "LocalRateLimiter",
    "LoopThreadError",
    "Message",
    "MessageReceipt",
    "MessageStatus",
    "NotFoundError",
    "Page",
    "Pager",
    "PermissionDeniedError",
    "Pulse",
    "PulseError",
    "Pulsewave",
    "RateLimitError",
    "RateLimiter",
    "RedisRateLimiter",
    "RetryEvent",
    "Role",
    "ServerError",
    "Thread",
    "Timeout",
    "User",
    "UserStatus",
    "ValidationError",
    "__version__",
]
