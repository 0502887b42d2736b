"""A webhook receiver: verify Pulse's deliveries, handle each event once, track message status.

``POST /webhooks/pulse`` receives the events (SPEC §5); ``GET /messages/{id}``
answers with the latest status this application knows for a message. Run it,
then point a local Pulse server at it::

    PULSE_WEBHOOK_SECRET=whsec_… python examples/webhook_receiver.py --port 9000
    pulse serve --webhook http://127.0.0.1:9000/webhooks/pulse   # prints the secret

(Start the server first to learn the secret, or give the server's ``add_webhook``
URL the receiver's port in a test.) With ``REDIS_URL`` set, the record of
handled events lives in Redis, so several receiver processes share it.

Deliveries can repeat and arrive out of order: the handler is idempotent per
``webhook-id`` (the store guarantees it) and keeps the most advanced status of
the lifecycle, never simply the last one to arrive.
"""

from __future__ import annotations

import argparse
import os

from aiohttp import web

from pulse_async.webhooks import (
    MemoryStore,
    RedisStore,
    Webhook,
    WebhookEvent,
    WebhookStore,
    aiohttp_handler,
)

#: Where each status sits in the lifecycle (SPEC §4); every final status ranks last.
PROGRESS = {"queued": 0, "sending": 1, "sent": 2}
STATUSES: web.AppKey[dict[str, str]] = web.AppKey("statuses", dict)


def make_app(secret: str, *, redis_url: str | None = None) -> web.Application:
    """The receiver's application (the secret from the environment, never the code)."""
    app = web.Application()
    statuses: dict[str, str] = {}
    app[STATUSES] = statuses
    store: WebhookStore = RedisStore(redis_url) if redis_url else MemoryStore()

    async def on_event(event: WebhookEvent) -> None:
        # Runs at most once per event; raising here answers 500 and Pulse retries later.
        message = event.data
        if message is None:  # an event type this receiver does not know: accept, ignore
            return
        known = statuses.get(message.id)
        if known is None or PROGRESS.get(message.status, 3) >= PROGRESS.get(known, 3):
            statuses[message.id] = message.status

    async def status(request: web.Request) -> web.Response:
        message_id = request.match_info["id"]
        if message_id not in statuses:
            raise web.HTTPNotFound()
        return web.json_response({"id": message_id, "status": statuses[message_id]})

    async def close_store(_app: web.Application) -> None:
        if isinstance(store, RedisStore):
            await store.aclose()

    app.router.add_post("/webhooks/pulse", aiohttp_handler(Webhook(secret), on_event, store=store))
    app.router.add_get("/messages/{id}", status)
    app.on_cleanup.append(close_store)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    secret = os.environ.get("PULSE_WEBHOOK_SECRET")
    if not secret:
        parser.error("set PULSE_WEBHOOK_SECRET to the endpoint's whsec_ secret")
    app = make_app(secret, redis_url=os.environ.get("REDIS_URL"))
    web.run_app(app, host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
