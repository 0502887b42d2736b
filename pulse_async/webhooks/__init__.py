"""Webhooks (SPEC §5): verify deliveries, handle each event once, answer the sender.

Verify in a few lines (pure, no I/O)::

    from pulse_async.webhooks import Webhook, WebhookVerificationError

    webhook = Webhook(os.environ["PULSE_WEBHOOK_SECRET"])     # or a list while rotating
    event = webhook.verify(raw_body_bytes, request_headers)   # raises if not to be trusted
    print(event.id, event.type, event.created_at, event.data.status)

Receive with deduplication: :func:`aiohttp_handler` (aiohttp.web), :func:`asgi_app`
(Starlette, FastAPI, any ASGI server), or :func:`handle` with any framework, each
with a :class:`MemoryStore` (one process) or a :class:`RedisStore` (many).

Only :func:`aiohttp_handler` imports aiohttp, and only when first named.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pulse_async._core._webhooks import (
    DEFAULT_TOLERANCE,
    REFUSAL_REASONS,
    RETRY_HORIZON,
    RETRY_SCHEDULE,
    Webhook,
    WebhookEvent,
    generate_secret,
)
from pulse_async.errors import WebhookVerificationError
from pulse_async.webhooks._asgi import asgi_app
from pulse_async.webhooks._receiver import EventHandler, Outcome, handle
from pulse_async.webhooks._store import (
    DEFAULT_TTL,
    Claim,
    MemoryStore,
    StoreUnavailableError,
    WebhookStore,
)

if TYPE_CHECKING:
    from pulse_async.webhooks._aiohttp import aiohttp_handler
    from pulse_async.webhooks._redis_store import RedisStore

__all__ = [
    "DEFAULT_TOLERANCE",
    "DEFAULT_TTL",
    "REFUSAL_REASONS",
    "RETRY_HORIZON",
    "RETRY_SCHEDULE",
    "Claim",
    "EventHandler",
    "MemoryStore",
    "Outcome",
    "RedisStore",
    "StoreUnavailableError",
    "Webhook",
    "WebhookEvent",
    "WebhookStore",
    "WebhookVerificationError",
    "aiohttp_handler",
    "asgi_app",
    "generate_secret",
    "handle",
]

_LAZY: dict[str, str] = {
    "RedisStore": "pulse_async.webhooks._redis_store",
    "aiohttp_handler": "pulse_async.webhooks._aiohttp",
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
