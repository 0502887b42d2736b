"""``pulsewave.messages``: one message on one channel (email, SMS, push)."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Mapping
from typing import Any, Literal, overload

from pulse_async import AsyncPulsewave, CreateParams, PulseError
from pulse_async.constants import ChannelName, MessageStatusName
from pulse_async.models import Channel, Message, MessageStatus
from pulse_sync import _batch
from pulse_sync._loop import run
from pulse_sync.resources._base import Resource

__all__ = ["PulsewaveMessages"]


class PulsewaveMessages(Resource[AsyncPulsewave]):
    """Messages (Pulsewave v1 ``/messages``)."""

    __slots__ = ()

    def create(
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

            msg = pw.messages.create(
                channel="sms", to="+14155550123", from_="Pulse", text="Your code: 1234"
            )
        """
        return self._run(
            self._client._async().messages.create(
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
        )

    def retrieve(self, message_id: str) -> Message:
        """The message with its current ``status``."""
        return self._run(self._client._async().messages.retrieve(message_id))

    def cancel(self, message_id: str, *, idempotency_key: str | None = None) -> Message:
        """Cancel a message still ``queued``; otherwise ``ConflictError`` (``invalid_state``)."""
        return self._run(
            self._client._async().messages.cancel(message_id, idempotency_key=idempotency_key)
        )

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
        message reaches a final status outside ``until``.
        """
        return run(  # wait's own timeout is this call's deadline
            self._client._async().messages.wait(
                message_id, until=until, timeout=timeout, poll_interval=poll_interval
            ),
            within=timeout,
        )

    @overload
    def create_many(
        self,
        items: Iterable[CreateParams | dict[str, Any]]
        | AsyncIterable[CreateParams | dict[str, Any]],
        *,
        concurrency: int = 16,
        batch_id: str | None = None,
        key: Callable[[int, Any], str] | None = None,
        on_progress: Callable[[int, int | None, int], object] | None = None,
        progress: bool = False,
        stream: Literal[False] = False,
    ) -> list[Message | PulseError]: ...

    @overload
    def create_many(
        self,
        items: Iterable[CreateParams | dict[str, Any]]
        | AsyncIterable[CreateParams | dict[str, Any]],
        *,
        concurrency: int = 16,
        batch_id: str | None = None,
        key: Callable[[int, Any], str] | None = None,
        on_progress: Callable[[int, int | None, int], object] | None = None,
        progress: bool = False,
        stream: Literal[True],
    ) -> Iterator[Message | PulseError]: ...

    def create_many(
        self,
        items: Iterable[CreateParams | dict[str, Any]]
        | AsyncIterable[CreateParams | dict[str, Any]],
        *,
        concurrency: int = 16,
        batch_id: str | None = None,
        key: Callable[[int, Any], str] | None = None,
        on_progress: Callable[[int, int | None, int], object] | None = None,
        progress: bool = False,
        stream: bool = False,
    ) -> list[Message | PulseError] | Iterator[Message | PulseError]:
        """Create many messages, at most ``concurrency`` at a time; one outcome per item.

        Each item is a mapping (or :class:`CreateParams`) of ``create``'s
        arguments. Outcomes come in input order: the ``Message``, or the
        ``PulseError`` that item raised — one failure never stops the batch.
        With ``batch_id``, item *i* is sent with Idempotency-Key
        ``"<batch_id>:<i>"`` (or ``key(i, item)``), so re-running a crashed
        batch sends nothing twice. ``on_progress(done, total, failed)`` is
        called as items finish; ``progress=True`` shows a tqdm bar::

            outcomes = pw.messages.create_many(
                ({"channel": "sms", "to": n, "from_": "Pulse", "text": code} for n in numbers),
                concurrency=32, batch_id="otp-run-7",
            )

        ``stream=True`` (sync only: the twin of the async batch's ``stream()``)
        returns an iterator instead of a list: outcomes come as they finish, in
        input order, and memory stays flat however many items there are.
        Leaving it early (``break``, ``close()``) cancels the items still in
        flight::

            for outcome in pw.messages.create_many(items, stream=True):
                if isinstance(outcome, PulseError):
                    log.warning("not sent: %s", outcome)
        """
        batch = self._client._async().messages.create_many(
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
