"""pulse-sdk: the async-first Python SDK for the Pulse messaging APIs.

Example::

    from pulse_async import AsyncPulse

    async with AsyncPulse() as pulse:        # api key from $PULSE_API_KEY
        receipt = await pulse.messages.send(to=["usr_123"], subject="Hi", body="Hello")

The blocking twin of every name lives in :mod:`pulse_sync`.

Errors and models load with the package; the clients (and with them aiohttp)
load when first named, so ``import pulse_async.errors``, the
``pulse`` CLI's ``--help`` and the pytest plugin stay cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pulse_async._version import __version__
from pulse_async.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ClientMisuseError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    PulseError,
    RateLimitError,
    ServerError,
    ValidationError,
    WebhookVerificationError,
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

if TYPE_CHECKING:
    from pulse_async._batch import Batch
    from pulse_async._client import (
        AsyncClient,
        AsyncPulse,
        AsyncPulsewave,
        ClientStats,
        RetryEvent,
    )
    from pulse_async._core._options import ClientOptions, Timeout
    from pulse_async._limiter import LocalRateLimiter, RateLimiter
    from pulse_async._pager import AsyncPageIterator, AsyncPager
    from pulse_async._redis_limiter import RedisRateLimiter
    from pulse_async._response import APIResponse, RateLimitInfo
    from pulse_async._transport import ConnectorFactory
    from pulse_async.resources._raw import AsyncRawPageIterator, AsyncRawPager
    from pulse_async.resources.messages import SendParams
    from pulse_async.resources.pulsewave import CreateParams

__all__ = [
    "FINAL_STATUSES",
    "APIConnectionError",
    "APIError",
    "APIResponse",
    "APITimeoutError",
    "AsyncClient",
    "AsyncPageIterator",
    "AsyncPager",
    "AsyncPulse",
    "AsyncPulsewave",
    "AsyncRawPageIterator",
    "AsyncRawPager",
    "AuthenticationError",
    "Batch",
    "Channel",
    "ClientMisuseError",
    "ClientOptions",
    "ClientStats",
    "ConflictError",
    "ConnectorFactory",
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
    "RateLimitInfo",
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
    "WebhookVerificationError",
    "__version__",
]

_LAZY: dict[str, str] = {
    "APIResponse": "pulse_async._response",
    "AsyncClient": "pulse_async._client",
    "AsyncPageIterator": "pulse_async._pager",
    "AsyncPager": "pulse_async._pager",
    "AsyncPulse": "pulse_async._client",
    "AsyncPulsewave": "pulse_async._client",
    "AsyncRawPageIterator": "pulse_async.resources._raw",
    "AsyncRawPager": "pulse_async.resources._raw",
    "Batch": "pulse_async._batch",
    "ClientOptions": "pulse_async._core._options",
    "ClientStats": "pulse_async._client",
    "ConnectorFactory": "pulse_async._transport",
    "CreateParams": "pulse_async.resources.pulsewave",
    "LocalRateLimiter": "pulse_async._limiter",
    "RateLimitInfo": "pulse_async._response",
    "RateLimiter": "pulse_async._limiter",
    "RedisRateLimiter": "pulse_async._redis_limiter",
    "RetryEvent": "pulse_async._client",
    "SendParams": "pulse_async.resources.messages",
    "Timeout": "pulse_async._core._options",
}


def __getattr__(name: str) -> Any:
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
