"""pulse-sdk: the async-first Python SDK for the Pulse messaging APIs.

Example::

    from pulse_async import AsyncPulse

    async with AsyncPulse() as pulse:        # api key from $PULSE_API_KEY
        receipt = await pulse.messages.send(to=["usr_123"], subject="Hi", body="Hello")

The blocking twin of every name lives in :mod:`pulse_sync`.
"""

from pulse_async._batch import Batch
from pulse_async._client import AsyncPulse, AsyncPulsewave, ClientStats, RetryEvent
from pulse_async._core._options import ClientOptions, Timeout
from pulse_async._limiter import LocalRateLimiter, RateLimiter
from pulse_async._pager import AsyncPageIterator, AsyncPager
from pulse_async._redis_limiter import RedisRateLimiter
from pulse_async._version import __version__
from pulse_async.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    PulseError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from pulse_async.models import (
    FINAL_STATUSES,
    Channel,
    Message,
    MessageReceipt,
    MessageStatus,
    Page,
    Role,
    Thread,
    User,
    UserStatus,
)
from pulse_async.resources.messages import SendParams
from pulse_async.resources.pulsewave import CreateParams

__all__ = [
    "FINAL_STATUSES",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AsyncPageIterator",
    "AsyncPager",
    "AsyncPulse",
    "AsyncPulsewave",
    "AuthenticationError",
    "Batch",
    "Channel",
    "ClientOptions",
    "ClientStats",
    "ConflictError",
    "CreateParams",
    "LocalRateLimiter",
    "Message",
    "MessageReceipt",
    "MessageStatus",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "PulseError",
    "RateLimitError",
    "RateLimiter",
    "RedisRateLimiter",
    "RetryEvent",
    "Role",
    "SendParams",
    "ServerError",
    "Thread",
    "Timeout",
    "User",
    "UserStatus",
    "ValidationError",
    "__version__",
]
