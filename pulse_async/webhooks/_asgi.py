"""The ASGI adapter (Starlette, FastAPI, any ASGI server): pure ASGI, no framework import."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final, TypeAlias

from pulse_async._core._webhooks import Webhook
from pulse_async.webhooks._receiver import EventHandler, handle
from pulse_async.webhooks._store import MemoryStore, WebhookStore

__all__ = ["DEFAULT_MAX_BODY_SIZE", "ASGIApp", "asgi_app"]

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Bytes of body accepted (an event is a few KiB); more is answered 413 unread.
DEFAULT_MAX_BODY_SIZE: Final = 1024 * 1024
_JSON: Final = [(b"content-type", b"application/json")]


def asgi_app(
    webhook: Webhook,
    on_event: EventHandler,
    *,
    store: WebhookStore | None = None,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
) -> ASGIApp:
    """An ASGI application that verifies, deduplicates and handles deliveries.

    Mount it in Starlette or FastAPI, or serve it alone with any ASGI server::

        from fastapi import FastAPI
        from pulse_async.webhooks import Webhook, asgi_app

        async def on_event(event):
            print(event.type, event.data.id)

        app = FastAPI()
        app.mount("/webhooks/pulse", asgi_app(Webhook(secret), on_event))

    Every POST to it is a delivery (whatever the path under the mount). It
    reads the raw body (at most ``max_body_size`` bytes, else 413) before
    anything else and answers like
    :func:`~pulse_async.webhooks.aiohttp_handler`: 200, 400, 409, 500 or 503.
    """
    own_store: WebhookStore = store if store is not None else MemoryStore()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind != "http":
            raise RuntimeError(f"the Pulse webhook app serves HTTP, not {kind!r}")
        if scope["method"] != "POST":
            await _answer(send, 405, b"", [(b"allow", b"POST")])
            return
        try:
            body = await _read_body(receive, max_body_size)
        except _Disconnected:
            return  # the sender gave up: nothing to answer, nothing handled
        if body is None:
            await _answer(send, 413, b'{"status":"too_large"}', _JSON)
            return
        headers = [
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]
        ]
        outcome = await handle(webhook, body, headers, on_event, store=own_store)
        await _answer(send, outcome.status, outcome.body, _JSON)

    return app


class _Disconnected(Exception):
    """The client went away before sending its whole body."""


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
