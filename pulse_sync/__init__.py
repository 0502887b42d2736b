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

Every name loads when first named (``from pulse_sync import Pulse`` loads the
clients, and with them aiohttp), so ``import pulse_sync`` itself costs next to
nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pulse_async import (
        FINAL_STATUSES,
        APIConnectionError,
        APIError,
        APIResponse,
        APITimeoutError,
        AuthenticationError,
        Channel,
        ClientMisuseError,
        ClientOptions,
        ClientStats,
        ConflictError,
        CreateParams,
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
        RateLimitInfo,
        RedisRateLimiter,
        RetryEvent,
        Role,
        SendParams,
        ServerError,
        Thread,
        Timeout,
        User,
        UserStatus,
        ValidationError,
        WebhookVerificationError,
        __version__,
    )
    from pulse_sync._client import Client, Pulse, Pulsewave
    from pulse_sync._loop import LoopThreadError
    from pulse_sync._pager import Pager
    from pulse_sync._raw import RawPager

__all__ = [
    "FINAL_STATUSES",
    "APIConnectionError",
    "APIError",
    "APIResponse",
    "APITimeoutError",
    "AuthenticationError",
    "Channel",
    "Client",
    "ClientMisuseError",
    "ClientOptions",
    "ClientStats",
    "ConflictError",
    "CreateParams",
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
    "RateLimitInfo",
    "RateLimiter",
    "RawPager",
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

#: Where each name lives; every name not listed here comes from :mod:`pulse_async`.
_HOMES: dict[str, str] = {
    "Client": "pulse_sync._client",
    "LoopThreadError": "pulse_sync._loop",
    "Pager": "pulse_sync._pager",
    "Pulse": "pulse_sync._client",
    "Pulsewave": "pulse_sync._client",
    "RawPager": "pulse_sync._raw",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES.get(name, "pulse_async")), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # The public names only: not this module's own imports and helpers.
    return sorted(__all__)
