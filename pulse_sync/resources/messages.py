"""``pulse.messages``: send messages to workspace members and follow their delivery."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, Literal, overload

from pulse_async import AsyncPulse, PulseError, SendParams
from pulse_async.constants import MessageStatusName
from pulse_async.models import Message, MessageReceipt, MessageStatus
from pulse_sync import _batch
from pulse_sync._loop import run
from pulse_sync.resources._base import Resource

__all__ = ["Messages"]


class Messages(Resource[AsyncPulse]):
    """Messages (Pulse v2 ``/messages``)."""

    __slots__ = ()

    def send(
        self,
        *,
        to: list[str] | tuple[str, ...],
        subject: str,
        body: str,
        thread_id: str | None = None,
        send_at: datetime | str | None = None,
        idempotency_key: str | None = None,
    ) -> MessageReceipt:
        """Queue a message to 1–50 recipients (user ids or email addresses).

        ``body`` is Markdown. Without ``thread_id`` a new thread starts.
        ``send_at`` (an aware ``datetime`` or ISO 8601 string, at most 30
        days ahead) schedules it. Every attempt carries the same
        ``idempotency_key`` (a fresh one unless given), returned on the
        receipt::

            receipt = pulse.messages.send(
                to=["usr_123", "ada@example.com"], subject="Hi", body="**Hello**"
            )
        """
        return self._run(
            self._client._async().messages.send(
                to=to,
                subject=subject,
                body=body,
                thread_id=thread_id,
                send_at=send_at,
                idempotency_key=idempotency_key,
            )
        )

    def retrieve(self, message_id: str) -> Message:
        """A message with its current delivery ``status``."""
        return self._run(self._client._async().messages.retrieve(message_id))

    def wait(
        self,
        message_id: str,
        *,
        until: Iterable[MessageStatus | MessageStatusName] | None = None,
        timeout: float = 60.0,
        poll_interval: float = 0.5,
    ) -> Message:
        """Poll until the message reaches a status in ``until`` (default: a final one).

        Polls back off from ``poll_interval`` up to 5 s. Raises
        ``APITimeoutError`` after ``timeout`` seconds; returns early if the
        message reaches a final status outside ``until``::

            message = pulse.messages.wait(receipt.message_id, timeout=30)
            print(message.status)  # delivered, bounced, failed or cancelled
        """
        return run(  # wait's own timeout is this call's deadline
            self._client._async().messages.wait(
                message_id, until=until, timeout=timeout, poll_interval=poll_interval
            ),
            within=timeout,
        )

    @overload
    def send_many(
        self,
        items: Iterable[SendParams | dict[str, Any]] | AsyncIterable[SendParams | dict[str, Any]],
        *,
        concurrency: int = 16,
        batch_id: str | None = None,
        key: Callable[[int, Any], str] | None = None,
        on_progress: Callable[[int, int | None, int], object] | None = None,
        progress: bool = False,
        stream: Literal[False] = False,
    ) -> list[MessageReceipt | PulseError]: ...

    @overload
    def send_many(
        self,
        items: Iterable[SendParams | dict[str, Any]] | AsyncIterable[SendParams | dict[str, Any]],
        *,
        concurrency: int = 16,
        batch_id: str | None = None,
        key: Callable[[int, Any], str] | None = None,
        on_progress: Callable[[int, int | None, int], object] | None = None,
        progress: bool = False,
        stream: Literal[True],
    ) -> Iterator[MessageReceipt | PulseError]: ...

    def send_many(
        self,
        items: Iterable[SendParams | dict[str, Any]] | AsyncIterable[SendParams | dict[str, Any]],
        *,
        concurrency: int = 16,
        batch_id: str | None = None,
        key: Callable[[int, Any], str] | None = None,
        on_progress: Callable[[int, int | None, int], object] | None = None,
        progress: bool = False,
        stream: bool = False,
    ) -> list[MessageReceipt | PulseError] | Iterator[MessageReceipt | PulseError]:
        """Send many messages, at most ``concurrency`` at a time; one outcome per item.

        Each item is a mapping (or :class:`SendParams`) of ``send``'s
        arguments. Outcomes come in input order: the ``MessageReceipt``, or
        the ``PulseError`` that item raised — one failure never stops the
        batch. With ``batch_id``, item *i* is sent with Idempotency-Key
        ``"<batch_id>:<i>"`` (or ``key(i, item)``), so re-running a crashed
        batch sends nothing twice. ``on_progress(done, total, failed)`` is
        called as items finish; ``progress=True`` shows a tqdm bar::

            outcomes = pulse.messages.send_many(
                ({"to": [u], "subject": "Digest", "body": text} for u in user_ids),
                concurrency=64, batch_id="digest-2024-11-14",
            )

        ``stream=True`` (sync only: the twin of the async batch's ``stream()``)
        returns an iterator instead of a list: outcomes come as they finish, in
        input order, and memory stays flat however many items there are.
        Leaving it early (``break``, ``close()``) cancels the items still in
        flight::

            for outcome in pulse.messages.send_many(items, stream=True):
                if isinstance(outcome, PulseError):
                    log.warning("not sent: %s", outcome)
        """
        batch = self._client._async().messages.send_many(
            items,
            concurrency=concurrency,
            batch_id=batch_id,
            key=key,
            on_progress=on_progress,
            progress=progress,
        )
        if stream:  # which of the async batch's two faces; no behaviour of its own
            return _batch.stream(batch)
        return _batch.collect(batch)
