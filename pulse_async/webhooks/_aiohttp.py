"""The aiohttp.web adapter: the only webhook module that imports aiohttp."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from pulse_async._core._webhooks import Webhook
from pulse_async.webhooks._receiver import EventHandler, handle
from pulse_async.webhooks._store import MemoryStore, WebhookStore

__all__ = ["aiohttp_handler"]


def aiohttp_handler(
    webhook: Webhook,
    on_event: EventHandler,
    *,
    store: WebhookStore | None = None,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp.web handler that verifies, deduplicates and handles deliveries.

    Example::

        from aiohttp import web
        from pulse_async.webhooks import Webhook, aiohttp_handler

        async def on_event(event):
            print(event.type, event.data.id)

        app = web.Application()
        app.router.add_post("/webhooks/pulse", aiohttp_handler(Webhook(secret), on_event))

    It reads the raw body before anything else and answers 200 (handled or
    duplicate), 400 (untrusted), 409 (the same event is being handled right
    now), 500 (``on_event`` raised: the sender retries) or 503 (the store is
    unreachable). ``store`` defaults to a :class:`MemoryStore` of its own; pass
    a :class:`RedisStore` when several processes receive. The body size limit is
    the application's ``client_max_size`` (aiohttp's default: 1 MiB).
    """
    own_store: WebhookStore = store if store is not None else MemoryStore()

    async def pulse_webhook(request: web.Request) -> web.Response:
        if request.method != "POST":
            return web.Response(status=405, headers={"Allow": "POST"})
        body = await request.read()
        outcome = await handle(webhook, body, request.headers, on_event, store=own_store)
        return web.Response(
            status=outcome.status, body=outcome.body, content_type="application/json"
        )

    return pulse_webhook
