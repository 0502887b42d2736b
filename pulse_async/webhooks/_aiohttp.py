"""The aiohttp.web adapter: the only webhook module that imports aiohttp."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web

from pulse_async._core._webhooks import Webhook
from pulse_async.webhooks._receiver import EventHandler, Outcome, handle
from pulse_async.webhooks._store import MemoryStore, WebhookStore

__all__ = ["aiohttp_handler", "forward", "serve_receiver"]

OutcomeHook = Callable[[Outcome], None]


def aiohttp_handler(
    webhook: Webhook,
    on_event: EventHandler,
    *,
    store: WebhookStore | None = None,
    on_outcome: OutcomeHook | None = None,
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
    a :class:`RedisStore` when several processes receive. ``on_outcome`` is
    called with every :class:`Outcome` (refusals included), for logs and
    metrics. The body size limit is the application's ``client_max_size``
    (aiohttp's default: 1 MiB).
    """
    own_store: WebhookStore = store if store is not None else MemoryStore()

    async def pulse_webhook(request: web.Request) -> web.Response:
        if request.method != "POST":
            return web.Response(status=405, headers={"Allow": "POST"})
        body = await request.read()
        outcome = await handle(webhook, body, request.headers, on_event, store=own_store)
        if on_outcome is not None:
            on_outcome(outcome)
        return web.Response(
            status=outcome.status, body=outcome.body, content_type="application/json"
        )

    return pulse_webhook


@contextlib.asynccontextmanager
async def serve_receiver(
    handler: Callable[[web.Request], Awaitable[web.Response]],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    path: str = "/",
) -> AsyncIterator[str]:
    """Serve ``handler`` for POSTs to ``path`` (and below) on ``host:port``; yields the URL."""
    app = web.Application()
    app.router.add_route("*", path, handler)
    if path != "/":
        app.router.add_route("*", path.rstrip("/") + "/{tail:.*}", handler)
    else:
        app.router.add_route("*", "/{tail:.+}", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        yield f"http://{shown}:{bound}{path}"
    finally:
        await runner.cleanup()


async def forward(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST a delivery on to ``url`` (the signed bytes and signature headers); its status.

    Bounded by the §5 answer window (15 s), as the sender's own attempt is.
    """
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url,
            data=body,
            headers={**headers, "Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=15),
            allow_redirects=False,
        ) as response,
    ):
        await response.read()
        return response.status
