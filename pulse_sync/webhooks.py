"""Webhooks, blocking: :mod:`pulse_async.webhooks` for Django, Flask and other sync code.

Verification is the same object (it never waits). :func:`handle` is the
blocking twin of :func:`pulse_async.webhooks.handle`, run on ``pulse_sync``'s
loop thread; a plain ``on_event`` function runs in a worker thread there.
Flask, in a few lines::

    from pulse_sync.webhooks import MemoryStore, Webhook, handle

    webhook = Webhook(os.environ["PULSE_WEBHOOK_SECRET"])
    store = MemoryStore()            # RedisStore(url) when several processes receive

    @app.post("/webhooks/pulse")
    def pulse_webhook():
        outcome = handle(webhook, request.get_data(), request.headers, on_event, store=store)
        return outcome.body, outcome.status, {"Content-Type": "application/json"}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pulse_async.webhooks import (
    DEFAULT_TOLERANCE,
    DEFAULT_TTL,
    REFUSAL_REASONS,
    RETRY_HORIZON,
    RETRY_SCHEDULE,
    Claim,
    EventHandler,
    MemoryStore,
    Outcome,
    StoreUnavailableError,
    Webhook,
    WebhookEvent,
    WebhookStore,
    WebhookVerificationError,
    generate_secret,
)
from pulse_async.webhooks import handle as _async_handle
from pulse_sync import _loop

if TYPE_CHECKING:
    from pulse_async.webhooks import RedisStore

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
    "generate_secret",
    "handle",
]


def handle(
    webhook: Webhook,
    body: bytes,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    on_event: EventHandler,
    *,
    store: WebhookStore,
) -> Outcome:
    """Verify one delivery and run ``on_event`` at most once per ``webhook-id`` (blocking).

    See :func:`pulse_async.webhooks.handle`; answer with ``outcome.status``.
    """
    return _loop.run(_async_handle(webhook, body, headers, on_event, store=store))


def __getattr__(name: str) -> Any:
    if name == "RedisStore":
        from pulse_async.webhooks import RedisStore

        globals()[name] = RedisStore
        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
