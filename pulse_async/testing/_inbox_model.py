"""What the inbox shows, read from the local server (pure: no aiohttp, no asyncio).

The inbox reads the workspace through the server's accessors (``state.messages``,
``state.users``, ``state.threads``, ``state.status_of``, ``ledger``, ``faults``,
``clock``) and one thing the workspace does not keep: each accepted send's
*envelope* — who sent it, the recipients as given, the Idempotency-Key, the
request id and the template data. :class:`Envelopes` records those as the
server accepts a message (a reference to the decoded body, no copy), the way
Mailpit keeps an SMTP envelope beside the message.

Readings (where the SPEC is silent):

- A Pulse v2 message shows under the channel ``thread`` (v2 messages live in
  threads); Pulsewave messages under ``email``, ``sms`` or ``push``.
- The status timeline is the lifecycle of SPEC §4 as the server plays it:
  ``queued`` from acceptance, then a change of status every ``step_delay``
  after the message is due (``send_at`` or acceptance). Each step's status is
  the server's own :func:`lifecycle_status` at that moment; steps still ahead
  are shown as expected, with their time.
- Search matches, case-insensitively, every whitespace-separated term against
  the id, subject, body, sender, recipients, metadata, template and
  Idempotency-Key; the recipient filter is a substring of any recipient.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import attrs

from pulse_async._core._converter import format_datetime
from pulse_async.testing._state import lifecycle_status

if TYPE_CHECKING:
    from pulse_async.testing._server import PulseServer
    from pulse_async.testing._state import Call

__all__ = ["CHANNELS", "STATUSES", "Envelope", "Envelopes", "MessageView", "Step", "messages"]

CHANNELS: Final = ("thread", "email", "sms", "push")
STATUSES: Final = ("queued", "sending", "sent", "delivered", "bounced", "failed", "cancelled")


@attrs.frozen
class Envelope:
    """What the request that created a message said beyond the message itself."""

    sender: str
    to: tuple[str, ...]
    idempotency_key: str | None
    request_id: str | None
    template_data: Mapping[str, Any] | None


class Envelopes:
    """Envelopes of accepted sends, by message id (the server calls :meth:`record`)."""

    def __init__(self) -> None:
        self._by_id: dict[str, Envelope] = {}

    def record(self, call: Call, body: Any, data: Any) -> None:
        """Keep the envelope of a send the server just accepted (``data``: its answer)."""
        message_id = data.get("message_id") or data.get("id")
        to = body["to"]
        self._by_id[message_id] = Envelope(
            sender=call.user.email,
            to=tuple(to) if isinstance(to, list) else (to,),
            idempotency_key=call.idempotency_key,
            request_id=call.request_id,
            template_data=body.get("template_data"),
        )

    def get(self, message_id: str) -> Envelope | None:
        """The envelope of a message, if the server recorded one."""
        return self._by_id.get(message_id)


@attrs.frozen
class Step:
    """One step of a message's timeline; ``reached`` is False for steps still ahead."""

    status: str
    at: float
    reached: bool


def iso(timestamp: float) -> str:
    """Epoch seconds → the API's ISO 8601 form."""
    return format_datetime(datetime.fromtimestamp(timestamp, UTC))


@attrs.frozen
class MessageView:
    """One message of either API, as the inbox shows it."""

    id: str
    api: str
    channel: str
    sender: str
    to: tuple[str, ...]
    subject: str | None
    status: str
    created_at: float
    send_at: float | None
    thread_id: str | None
    text: str | None
    html: str | None
    template_id: str | None
    template_data: Mapping[str, Any] | None
    metadata: Mapping[str, Any]
    idempotency_key: str | None
    request_id: str | None
    timeline: tuple[Step, ...]
    api_json: Mapping[str, Any]

    def matches(
        self,
        *,
        terms: Iterable[str] = (),
        recipient: str = "",
        status: str = "",
        channel: str = "",
    ) -> bool:
        """Whether the message passes the list's filters (see the module docstring)."""
        if status and self.status != status:
            return False
        if channel and self.channel != channel:
            return False
        if recipient and not any(recipient.casefold() in t.casefold() for t in self.to):
            return False
        terms = list(terms)
        if terms:
            haystack = self.search_text()
            return all(term.casefold() in haystack for term in terms)
        return True

    def search_text(self) -> str:
        """Everything search looks at, case-folded."""
        parts = [
            self.id,
            self.subject or "",
            self.text or "",
            self.html or "",
            self.sender,
            *self.to,
            self.template_id or "",
            self.idempotency_key or "",
            self.thread_id or "",
            json.dumps(dict(self.metadata), ensure_ascii=False),
        ]
        return "\n".join(parts).casefold()


def _timeline(
    now: float, created: float, due: float, step: float, outcome: str, cancelled_at: float | None
) -> tuple[Step, ...]:
    steps = [Step("queued", created, True)]
    if cancelled_at is not None:
        steps.append(Step("cancelled", cancelled_at, True))
        return tuple(steps)
    for k in (1, 2, 3):
        at = due + k * step
        status = lifecycle_status(at, due, step, outcome, False)
        if status != steps[-1].status:
            steps.append(Step(status, at, at <= now + 5e-7))
    return tuple(steps)


def message_view(server: PulseServer, envelopes: Envelopes, message_id: str) -> MessageView | None:
    """The view of one message, or ``None`` if the server has no such message."""
    state = server.state
    m = state.messages.get(message_id)
    if m is None:
        return None
    now = state.clock.time()
    envelope = envelopes.get(m.id)
    status = state.status_of(m)
    idempotency_key = envelope.idempotency_key if envelope else None
    request_id = envelope.request_id if envelope else None
    if m.api == "pulse":
        channel = "thread"
        sender = envelope.sender if envelope else ""
        to = envelope.to if envelope else ()
        api_json: dict[str, Any] = {
            "id": m.id,
            "status": status,
            "thread_id": m.thread_id,
            "subject": m.subject,
            "recipient_count": m.recipient_count,
            "send_at": iso(m.send_at) if m.send_at is not None else None,
            "created_at": iso(m.created_at),
        }
    else:
        channel = m.channel or ""
        sender = m.from_ or ""
        to = (m.to,) if m.to else ()
        api_json = {
            "id": m.id,
            "object": "message",
            "channel": m.channel,
            "status": status,
            "to": m.to,
            "from": m.from_,
            "subject": m.subject,
            "template_id": m.template_id,
            "metadata": dict(m.metadata),
            "created_at": iso(m.created_at),
        }
    return MessageView(
        id=m.id,
        api="v2" if m.api == "pulse" else "v1",
        channel=channel,
        sender=sender,
        to=to,
        subject=m.subject,
        status=status,
        created_at=m.created_at,
        send_at=m.send_at,
        thread_id=m.thread_id,
        text=m.text,
        html=m.html,
        template_id=m.template_id,
        template_data=envelope.template_data if envelope else None,
        metadata=dict(m.metadata),
        idempotency_key=idempotency_key,
        request_id=request_id,
        timeline=_timeline(now, m.created_at, m.due, state.step_delay, m.outcome, m.cancelled_at),
        api_json=api_json,
    )


def messages(server: PulseServer, envelopes: Envelopes) -> Iterator[MessageView]:
    """Every message of both APIs, newest first."""
    ids = list(server.state.messages)
    for message_id in reversed(ids):
        view = message_view(server, envelopes, message_id)
        if view is not None:
            yield view
