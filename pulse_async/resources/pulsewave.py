"""``pulsewave.messages``: one message on one channel (email, SMS, push)."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from typing import Any

import attrs

from pulse_async._batch import DEFAULT_CONCURRENCY, Batch
from pulse_async._core import _endpoints as ep
from pulse_async._core._validation import check_until
from pulse_async._polling import wait_for_status
from pulse_async.models import Channel, Message, MessageStatus
from pulse_async.models._enums import ChannelName, MessageStatusName
from pulse_async.resources._base import Requester
from pulse_async.resources._structures import STRUCTURE_MESSAGE

__all__ = ["AsyncPulsewaveMessages", "CreateParams"]


@attrs.frozen(kw_only=True)
class CreateParams:
    """One item of :meth:`AsyncPulsewaveMessages.create_many`: ``create``'s arguments."""

    channel: Channel | ChannelName
    to: str
    from_: str
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    template_id: str | None = None
    template_data: Mapping[str, Any] | None = None
    metadata: Mapping[str, Any] | None = None
    idempotency_key: str | None = None


class AsyncPulsewaveMessages:
    """Messages (Pulsewave v1 ``/messages``)."""

    def __init__(self, client: Requester) -> None:
        self._client = client

    async def create(
        self,
        *,
        channel: Channel | ChannelName,
        to: str,
        from_: str,
        subject: str | None = None,
        text: str | None = None,
        html: str | None = None,
        template_id: str | None = None,
        template_data: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Message:
        """Send one message on one channel.

        ``to`` is an email address, an E.164 number or a device token,
        by channel; ``from_`` is required on every channel. Email needs a
        ``subject`` and SMS/push a ``text`` unless ``template_id`` supplies
        them; ``html`` is for email only::

            msg = await pw.messages.create(
                channel="sms", to="+14155550123", from_="Pulse", text="Your code: 1234"
            )
        """
        request = ep.create_pulsewave_message(
            channel=channel,
            to=to,
            from_=from_,
            subject=subject,
            text=text,
            html=html,
            template_id=template_id,
            template_data=template_data,
            metadata=metadata,
            idempotency_key=idempotency_key,
        )
        return await self._client._call(request, STRUCTURE_MESSAGE)

    async def retrieve(self, message_id: str) -> Message:
        """The message with its current ``status``."""
        request = ep.retrieve_pulsewave_message(message_id)
        return await self._client._call(request, STRUCTURE_MESSAGE)

    async def cancel(self, message_id: str, *, idempotency_key: str | None = None) -> Message:
        """Cancel a message still ``queued``; otherwise ``ConflictError`` (``invalid_state``)."""
        request = ep.cancel_pulsewave_message(message_id, idempotency_key=idempotency_key)
        return await self._client._call(request, STRUCTURE_MESSAGE)

    async def _poll(self, message_id: str, deadline: float) -> Message:
        """One poll of :meth:`wait`, over by ``deadline`` whatever the client's timeout."""
        request = ep.retrieve_pulsewave_message(message_id)
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
        message reaches a final status outside ``until``.
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

    def create_many(
        self,
        items: Iterable[CreateParams | dict[str, Any]]
        | AsyncIterable[CreateParams | dict[str, Any]],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        batch_id: str | None = None,
        key: Callable[[int, Any], str] | None = None,
        on_progress: Callable[[int, int | None, int], object] | None = None,
        progress: bool = False,
    ) -> Batch[Message]:
        """Create many messages, at most ``concurrency`` at a time; one outcome per item.

        Each item is a mapping (or :class:`CreateParams`) of ``create``'s
        arguments. Outcomes come in input order: the ``Message``, or the
        ``PulseError`` that item raised — one failure never stops the batch.
        With ``batch_id``, item *i* is sent with Idempotency-Key
        ``"<batch_id>:<i>"`` (or ``key(i, item)``), so re-running a crashed
        batch sends nothing twice. ``on_progress(done, total, failed)`` is
        called as items finish; ``progress=True`` shows a tqdm bar::

            outcomes = await pw.messages.create_many(
                ({"channel": "sms", "to": n, "from_": "Pulse", "text": code} for n in numbers),
                concurrency=32, batch_id="otp-run-7",
            )
        """
        return Batch(
            self.create,
            items,
            concurrency=concurrency,
            batch_id=batch_id,
            key=key,
            on_progress=on_progress,
            progress=progress,
            description="creating",
        )
