"""``pulse.messages``: send messages to workspace members and follow their delivery."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pulse_async._core import _endpoints as ep
from pulse_async.models import Message, MessageReceipt
from pulse_async.resources._base import Requester
from pulse_async.resources._structures import STRUCTURE_MESSAGE, STRUCTURE_RECEIPT

__all__ = ["AsyncMessages"]


class AsyncMessages:
    """Messages (Pulse v2 ``/messages``)."""

    def __init__(self, client: Requester) -> None:
        self._client = client

    async def send(
        self,
        *,
        to: Sequence[str],
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
