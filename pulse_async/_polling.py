"""``messages.wait``: poll a message until it reaches a status we wait for.

Polls start every ``poll_interval`` seconds and back off by half each time up
to :data:`MAX_POLL_INTERVAL`, so a long wait costs few requests. A transient
failure of one poll (connection error, 5xx, 429 — already retried by the
client) does not end the wait; the call's ``timeout`` does, with an
:class:`APITimeoutError` that names the last status seen. Each poll, its
retries included, is bounded by what is left of the wait: a hung poll ends
when the wait does, not when the client's own timeout would. A message that
reaches a final status outside ``until`` (waiting for ``delivered``, it
``bounced``) is returned at once: it will never change again, and its
``status`` says what happened.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection

from pulse_async._core._retry import is_retryable
from pulse_async._core._validation import check_path_id
from pulse_async.errors import APITimeoutError, PulseError, ValidationError
from pulse_async.models import FINAL_STATUSES, Message

__all__ = ["MAX_POLL_INTERVAL", "wait_for_status"]

MAX_POLL_INTERVAL = 5.0
BACKOFF = 1.5


async def wait_for_status(
    retrieve: Callable[[str, float], Awaitable[Message]],
    message_id: str,
    *,
    until: Collection[str] | None,
    timeout: float,
    poll_interval: float,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
) -> Message:
    """Retrieve ``message_id`` until its status is in ``until`` (default: a final one).

    ``retrieve(message_id, deadline)`` makes one poll that must be over by
    ``deadline`` (on ``clock``).
    """
    check_path_id(message_id, "message_id")
    targets = FINAL_STATUSES if until is None else frozenset(until)
    if not targets:
        raise ValidationError("must name at least one status", field="until")
    if not timeout > 0:
        raise ValidationError("must be a positive number of seconds", field="timeout")
    if not poll_interval > 0:
        raise ValidationError("must be a positive number of seconds", field="poll_interval")
    deadline = clock() + timeout
    interval = poll_interval
    last: str | None = None
    while True:
        try:
            message = await retrieve(message_id, deadline)
        except PulseError as exc:
            if not is_retryable(exc):
                raise
        else:
            # A final status outside ``until`` ends the wait too: it can never change again.
            if message.status in targets or message.status in FINAL_STATUSES:
                return message
            last = message.status
        remaining = deadline - clock()
        if remaining <= 0:
            seen = f"last status {last!r}" if last is not None else "no status seen"
            raise APITimeoutError(
                f"message {message_id} did not reach {', '.join(sorted(targets))}"
                f" within {timeout:g}s ({seen})"
            )
        await sleep(min(interval, remaining))
        interval = min(MAX_POLL_INTERVAL, interval * BACKOFF)
