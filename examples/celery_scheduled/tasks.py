"""Celery tasks that send scheduled batches: re-delivered safely, one quota for every worker.

Every worker process — prefork children on every host — sends through
``pulse_sync.Pulse`` with a :class:`~pulse_async.RedisRateLimiter` on the same
Redis and name, so together they stay within the workspace's plan. Each batch
carries a ``batch_id``: item *i* is sent with Idempotency-Key
``"<batch_id>:<i>"``, so a task that runs twice (enqueued twice, retried,
re-delivered after its worker died) replays what was already sent instead
of sending it again.

Configuration (environment):

- ``PULSE_API_KEY``, ``PULSE_BASE_URL`` — read by the SDK itself;
- ``REDIS_URL`` — the broker, the result backend and the shared limiter
  (default ``redis://127.0.0.1:6379/0``);
- ``PULSE_RATE_LIMIT_NAME`` — the shared bucket (default ``pulse-workspace``):
  one name per API key's plan;
- ``PULSE_PER_MINUTE`` — the plan (default 1000, Pro);
- ``PULSE_FALLBACK_SHARE`` — each process's share while Redis is unreachable
  (default 1/8: set ``1 / <worker processes>``).

Run a worker from this directory::

    celery -A tasks worker --pool=prefork --concurrency=4 --loglevel=INFO
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

from celery import Celery, Task

from pulse_async import (
    APIConnectionError,
    ConflictError,
    MessageReceipt,
    PulseError,
    RateLimitError,
    RedisRateLimiter,  # pulse_async.RedisRateLimiter
    ServerError,
)
from pulse_sync import Pulse

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

app = Celery("pulse_scheduled", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    # Acknowledge a batch only once it has run: a worker killed halfway leaves it queued,
    # and the batch_id makes running it again safe.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    result_expires=24 * 3600,
)

log = logging.getLogger(__name__)

#: Failures worth running the batch again for (the others would fail the same way).
TRANSIENT = (APIConnectionError, ServerError, RateLimitError, ConflictError)


@functools.cache
def client() -> Pulse:
    """This process's client, made on first use: in a prefork child, after the fork.

    (A client made before the fork would work as well: the sync facade and the
    limiter both notice the fork and open their own connections in the child.)
    """
    limiter = RedisRateLimiter(
        REDIS_URL,
        name=os.environ.get("PULSE_RATE_LIMIT_NAME", "pulse-workspace"),
        per_minute=float(os.environ.get("PULSE_PER_MINUTE", "1000")),
        fallback_share=float(os.environ.get("PULSE_FALLBACK_SHARE", str(1 / 8))),
    )
    return Pulse(rate_limit=limiter)


@app.task(bind=True, max_retries=5, default_retry_delay=30)
def send_batch(self: Task, batch_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Send ``items`` (each the keyword arguments of ``messages.send``) as batch ``batch_id``.

    Safe to run any number of times with the same ``batch_id`` and items
    within the server's 24-hour idempotency window: every message is sent
    once. Transient failures re-run the whole batch later (what was sent is
    replayed, not re-sent); a permanent one (a validation error) is reported.
    """
    outcomes = client().messages.send_many(items, batch_id=batch_id, concurrency=8)
    failed = {
        index: f"{type(outcome).__name__}: {outcome}"
        for index, outcome in enumerate(outcomes)
        if isinstance(outcome, PulseError)
    }
    if any(isinstance(o, TRANSIENT) for o in outcomes):
        log.warning("batch %s: %d transient failures, running it again", batch_id, len(failed))
        raise self.retry()
    sent = [o.message_id for o in outcomes if isinstance(o, MessageReceipt)]
    log.info("batch %s: %d sent, %d failed", batch_id, len(sent), len(failed))
    return {"batch_id": batch_id, "sent": len(sent), "failed": failed}
