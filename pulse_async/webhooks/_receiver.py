"""Receiving: verify, deduplicate on ``webhook-id``, run the handler, decide the answer.

Framework-free: every adapter (aiohttp, ASGI, the sync facade for Django and
Flask) reads the raw body and headers, calls :func:`handle` and answers with
:attr:`Outcome.status`:

=======  =====================  ===========================================================
status   reason                 meaning
=======  =====================  ===========================================================
200      ``handled``            verified; the handler returned
200      ``duplicate``          verified; this ``webhook-id`` was handled before
400      a refusal reason       not trusted (see ``REFUSAL_REASONS``); the handler did not run
409      ``in_progress``        another delivery of this event is being handled right now:
                                the sender retries later, and then hears ``duplicate`` (or,
                                if that handler failed, runs it)
500      ``handler_failed``     the handler raised; the claim is released, so the retry runs it
503      ``store_unavailable``  the store could not be reached; nothing ran
=======  =====================  ===========================================================

An event counts as handled only once its handler returned: at most once per
``webhook-id`` while the store remembers it, and never lost to a failed handler.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeAlias

import attrs

from pulse_async._core._webhooks import Webhook, WebhookEvent
from pulse_async.errors import WebhookVerificationError
from pulse_async.webhooks._store import StoreUnavailableError, WebhookStore

__all__ = ["EventHandler", "Outcome", "handle"]

log = logging.getLogger("pulse_async.webhooks")

#: ``async def on_event(event)``, or a plain function (run in a worker thread).
EventHandler: TypeAlias = Callable[[WebhookEvent], Awaitable[None] | None]


@attrs.frozen(kw_only=True)
class Outcome:
    """What became of one delivery: the HTTP ``status`` to answer, and why."""

    status: int
    reason: str
    event: WebhookEvent | None = None
    error: BaseException | None = attrs.field(default=None, repr=False)

    @property
    def body(self) -> bytes:
        """A short JSON body for the answer (no detail a sender could misuse)."""
        return b'{"status":"%s"}' % self.reason.encode("ascii", "replace")


async def handle(
    webhook: Webhook,
    body: bytes,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    on_event: EventHandler,
    *,
    store: WebhookStore,
) -> Outcome:
    """Verify one delivery and run ``on_event`` at most once per ``webhook-id``.

    ``body`` is the raw request body (bytes, exactly as received). ``on_event``
    is a coroutine function, awaited, or a plain function, run in a worker
    thread so it cannot block the event loop. Answer the sender with
    ``outcome.status`` (see the module's table).
    """
    try:
        event = webhook.verify(body, headers)
    except WebhookVerificationError as exc:
        log.warning("refused a webhook delivery: %s", exc)
        return Outcome(status=400, reason=exc.reason, error=exc)
    try:
        claim = await store.claim(event.id)
    except StoreUnavailableError as exc:
        return Outcome(status=503, reason="store_unavailable", event=event, error=exc)
    if claim.state == "handled":
        log.debug("webhook %s (%s): duplicate, already handled", event.id, event.type)
        return Outcome(status=200, reason="duplicate", event=event)
    if claim.state != "claimed" or claim.token is None:
        return Outcome(status=409, reason="in_progress", event=event)
    token = claim.token
    try:
        await _run(on_event, event)
    except Exception as exc:
        log.exception("webhook %s (%s): the handler failed", event.id, event.type)
        await _release_quietly(store, event.id, token)
        return Outcome(status=500, reason="handler_failed", event=event, error=exc)
    except BaseException:
        # Cancelled (the server shut down, the client went away): not handled.
        await asyncio.shield(_release_quietly(store, event.id, token))
        raise
    try:
        await store.complete(event.id, token)
    except StoreUnavailableError:
        # The handler ran: answering 5xx would have the sender retry it, and it would run
        # again. At most once wins; the store may let a later retry through.
        log.error("webhook %s: handled, but the store could not record it", event.id)
    return Outcome(status=200, reason="handled", event=event)


async def _run(on_event: EventHandler, event: WebhookEvent) -> None:
    if inspect.iscoroutinefunction(on_event):
        await on_event(event)
        return
    result: Any = await asyncio.to_thread(on_event, event)
    if inspect.isawaitable(result):
        await result


async def _release_quietly(store: WebhookStore, webhook_id: str, token: str) -> None:
    try:
        await store.release(webhook_id, token)
    except StoreUnavailableError:
        log.error("webhook %s: could not release the claim; it expires on its own", webhook_id)
