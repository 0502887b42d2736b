"""The local server's webhooks, pure part: endpoints, secrets, and events from status changes.

No aiohttp, no asyncio (the sending lives in :mod:`pulse_async.testing._delivery`).

- **Events.** Every status a message reaches (SPEC §4) becomes one
  ``message.<status>`` event whose ``created_at`` is the moment it was reached
  on the server clock (``queued`` when accepted, then one ``step_delay`` per
  step) and whose ``data`` is the message as ``GET /messages/{id}`` of its API
  returns it with that status. Events exist only from the first registered
  endpoint on: a message already past a status then gets no event for it.
- **Endpoints.** :meth:`WebhookRegistry.add` registers a URL (optionally only
  some event types) and returns its ``whsec_`` secret. Rotating gives a new
  secret and keeps the old one signing too for ``overlap`` seconds of the
  server clock (default 24 h), so both ``v1`` entries travel meanwhile.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Final

import attrs

from pulse_async._core._converter import format_datetime
from pulse_async._core._webhooks import generate_secret
from pulse_async.errors import ValidationError
from pulse_async.models import MessageStatus
from pulse_async.testing._records import MessageRecord

__all__ = ["DEFAULT_ROTATION_OVERLAP", "Endpoint", "EventRecord", "WebhookRegistry", "transitions"]

#: Seconds (server clock) an old secret keeps signing after a rotation.
DEFAULT_ROTATION_OVERLAP: Final = 24 * 3600.0
#: Every event type the server sends.
EVENT_TYPES: Final = frozenset(f"message.{status}" for status in MessageStatus)
_SLACK: Final = 5e-7  # as lifecycle_status: a step due "exactly now" has happened


def transitions(message: MessageRecord, step: float) -> list[tuple[float, str]]:
    """Every (time, status) a message goes through, in order (SPEC §4)."""
    steps = [(message.created_at, "queued")]
    if message.cancelled_at is not None:
        steps.append((message.cancelled_at, "cancelled"))
        return steps
    steps.append((message.due + step, "sending"))
    if message.outcome == "failed":
        steps.append((message.due + 2 * step, "failed"))
    else:
        steps.append((message.due + 2 * step, "sent"))
        steps.append((message.due + 3 * step, message.outcome))
    return steps


@attrs.frozen(kw_only=True)
class EventRecord:
    """An event the server generated: ``body`` is the exact bytes every delivery sends."""

    id: str
    type: str
    message_id: str
    created_at: datetime
    body: bytes = attrs.field(repr=False)


@attrs.define(kw_only=True)
class Endpoint:
    """A registered receiver: its URL, the event types it wants (``None``: all), its secrets."""

    url: str
    events: frozenset[str] | None
    #: (secret, server-clock time it stops signing or ``None``), newest first.
    secrets: list[tuple[str, float | None]] = attrs.field(repr=False)

    def signing_secrets(self, now: float) -> list[str]:
        """The secrets that sign at ``now`` (two during a rotation's overlap)."""
        return [secret for secret, until in self.secrets if until is None or now < until]

    def wants(self, event_type: str) -> bool:
        """Whether this endpoint subscribed to ``event_type``."""
        return self.events is None or event_type in self.events


class WebhookRegistry:
    """Endpoints and the events of every message status change (see the module docstring)."""

    def __init__(
        self,
        messages: dict[str, MessageRecord],
        *,
        clock: Callable[[], float],
        step_delay: float,
        message_json: Callable[[MessageRecord, str], dict[str, Any]],
    ) -> None:
        self._messages = messages
        self._clock = clock
        self._step = step_delay
        self._message_json = message_json
        self.endpoints: dict[str, Endpoint] = {}
        #: Every event generated, in order.
        self.events: list[EventRecord] = []
        # Message id → number of its transitions already turned into events.
        self._emitted: dict[str, int] = {}
        self._open: dict[str, MessageRecord] = {}
        self._scanned = 0
        self._ids = itertools.count(1)
        self._prefix = "evt_" + secrets.token_hex(4)

    # -- endpoints -----------------------------------------------------------------------------

    def add(self, url: str, *, events: Iterable[str] | None = None) -> str:
        """Register ``url``; its new secret. Re-adding a URL replaces it (and its secret)."""
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValidationError("must be an http:// or https:// URL", field="url")
        wanted = None
        if events is not None:
            if isinstance(events, str):
                raise ValidationError("must be a list of event types", field="events")
            wanted = frozenset(events)
            unknown = sorted(wanted - EVENT_TYPES)
            if unknown or not wanted:
                raise ValidationError(
                    f"unknown event types {unknown}; use {sorted(EVENT_TYPES)}", field="events"
                )
        if not self.endpoints:
            # The first endpoint: events start now, not with the messages' past.
            self.collect(emit=False)
        secret = generate_secret()
        self.endpoints[url] = Endpoint(url=url, events=wanted, secrets=[(secret, None)])
        return secret

    def rotate(self, url: str, *, overlap: float = DEFAULT_ROTATION_OVERLAP) -> str:
        """A new secret for ``url``; the current ones keep signing for ``overlap`` seconds."""
        endpoint = self._endpoint(url)
        if not 0 <= overlap < float("inf"):
            raise ValidationError("must be a non-negative number of seconds", field="overlap")
        now = self._clock()
        until = now + overlap
        kept = [
            (secret, until if old is None else min(old, until))
            for secret, old in endpoint.secrets
            if old is None or now < old
        ]
        secret = generate_secret()
        endpoint.secrets = [(secret, None), *kept]
        return secret

    def remove(self, url: str) -> None:
        """Stop sending to ``url`` (pending retries to it are dropped)."""
        self._endpoint(url)
        del self.endpoints[url]

    def _endpoint(self, url: str) -> Endpoint:
        endpoint = self.endpoints.get(url)
        if endpoint is None:
            raise ValidationError(f"no webhook endpoint {url!r}", field="url")
        return endpoint

    # -- events --------------------------------------------------------------------------------

    def collect(self, *, emit: bool = True) -> list[EventRecord]:
        """Turn every status change up to now into events (in time order); the new ones."""
        messages = self._messages
        if len(messages) > self._scanned:
            for message in itertools.islice(messages.values(), self._scanned, None):
                self._open[message.id] = message
                self._emitted.setdefault(message.id, 0)
            self._scanned = len(messages)
        now = self._clock() + _SLACK
        new: list[tuple[float, str, MessageRecord]] = []
        for message_id, message in list(self._open.items()):
            steps = transitions(message, self._step)
            done = self._emitted[message_id]
            reached = done
            while reached < len(steps) and steps[reached][0] <= now:
                if emit:
                    new.append((steps[reached][0], steps[reached][1], message))
                reached += 1
            self._emitted[message_id] = reached
            if reached == len(steps):
                del self._open[message_id]
        new.sort(key=lambda item: item[0])
        records = [self._event(at, status, message) for at, status, message in new]
        self.events.extend(records)
        return records

    def _event(self, at: float, status: str, message: MessageRecord) -> EventRecord:
        event_id = f"{self._prefix}{next(self._ids):08x}"
        created_at = datetime.fromtimestamp(at, UTC)
        event = {
            "id": event_id,
            "object": "event",
            "type": f"message.{status}",
            "created_at": format_datetime(created_at),
            "data": self._message_json(message, status),
        }
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return EventRecord(
            id=event_id,
            type=f"message.{status}",
            message_id=message.id,
            created_at=created_at,
            body=body,
        )
