"""``pulsewave.messages``: one message on one channel (email, SMS, push)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulse_async._core import _endpoints as ep
from pulse_async.models import Message
from pulse_async.resources._base import Requester
from pulse_async.resources._structures import STRUCTURE_MESSAGE

__all__ = ["AsyncPulsewaveMessages"]


class AsyncPulsewaveMessages:
    """Messages (Pulsewave v1 ``/messages``)."""

    def __init__(self, client: Requester) -> None:
        self._client = client

    async def create(
        self,
        *,
        channel: str,
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
