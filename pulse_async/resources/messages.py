"""``pulse.messages``: send messages to workspace members and follow their delivery."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from datetime import datetime
from typing import Any

import attrs

from pulse_async._batch import DEFAULT_CONCURRENCY, Batch
from pulse_async._core import _endpoints as ep
from pulse_async._core._validation import check_until
from pulse_async._polling import wait_for_status
from pulse_async.models import Message, MessageReceipt, MessageStatus
from pulse_async.models._enums import MessageStatusName
from pulse_async.resources._base import Requester
from pulse_async.resources._structures import STRUCTURE_MESSAGE, STRUCTURE_RECEIPT

__all__ = ["AsyncMessages", "SendParams"]


@attrs.frozen(kw_only=True)
class SendParams:
    """One item of :meth:`AsyncMessages.send_many`: the arguments of ``messages.send``."""

    to: list[str] | tuple[str, ...]
    subject: str
    body: str
    thread_id: str | None = None
    send_at: datetime | str | None = None
    idempotency_key: str | None = None


class AsyncMessages:
    """Messages (Pulse v2 ``/messages``)."""

    def __init__(self, client: Requester) -> None:
        self._client = client

    async def send(
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

            receipt = await pulse.messages.send(
                to=["usr_123", "ada@example.com"], subject="Hi", body="**Hello**"
            )
        """
        request = ep.send_message(
            to=to,
            subject=subject,
            body=body,
            thread_id=thread_id,
            send_at=send_at,
            idempotency_key=idempotency_key,
        )
        return await self._client._call(request, STRUCTURE_RECEIPT)

    async def retrieve(self, message_id: str) -> Message:
        """A message with its current delivery ``status``."""
        return await self._client._call(ep.retrieve_message(message_id), STRUCTURE_MESSAGE)

    async def _poll(self, message_id: str, deadline: float) -> Message:
        """One poll of :meth:`wait`, over by ``deadline`` whatever the client's timeout."""
        request = ep.retrieve_message(message_id)
        return await self._client._call(request, STRUCTURE_MESSAGE, deadline=deadline)

    async def wait(
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

            message = await pulse.messages.wait(receipt.message_id, timeout=30)
            print(message.status)  # delivered, bounced, failed or cancelled
        """
        return await wait_for_status(
            self._poll,
            message_id,
            until=check_until(until),
            timeout=timeout,
            poll_interval=poll_interval,
            clock=self._client._clock,
            sleep=self._client._sleep,
        )

    def send_many(
        self,
        items: Iterable[SendParams | dict[str, Any]] | AsyncIterable[SendParams | dict[str, Any]],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        batch_id: str | None = None,
        key: Callable[[int, Any], str] | None = None,
        on_progress: Callable[[int, int | None, int], object] | None = None,
        progress: bool = False,
    ) -> Batch[MessageReceipt]:
        """Send many messages, at most ``concurrency`` at a time; one outcome per item.

        Each item is a mapping (or :class:`SendParams`) of ``send``'s
        arguments. Outcomes come in input order: the ``MessageReceipt``, or
        the ``PulseError`` that item raised — one failure never stops the
        batch. With ``batch_id``, item *i* is sent with Idempotency-Key
        ``"<batch_id>:<i>"`` (or ``key(i, item)``), so re-running a crashed
        batch sends nothing twice. ``on_progress(done, total, failed)`` is
        called as items finish; ``progress=True`` shows a tqdm bar::

            outcomes = await pulse.messages.send_many(
                ({"to": [u], "subject": "Digest", "body": text} for u in user_ids),
                concurrency=64, batch_id="digest-2024-11-14",
            )
        """
        return Batch(
            self.send,
            items,
            concurrency=concurrency,
            batch_id=batch_id,
            key=key,
            on_progress=on_progress,
            progress=progress,
        )
