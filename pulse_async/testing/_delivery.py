"""The local server sends its webhooks: signed POSTs, §5 retries on the server clock, faults.

``server.webhooks`` is a :class:`WebhookSender`. A background task on the
server's loop turns status changes into events (see
:mod:`pulse_async.testing._webhooks`) and delivers each to every subscribed
endpoint:

- ``POST <url>``, ``Content-Type: application/json``, the event's exact bytes,
  and the §5 headers signed with every secret the endpoint has (two while a
  rotation overlaps). ``webhook-timestamp`` is the *wall* clock at the attempt
  (the receiver checks it against its own clock); everything else — event
  times, when a retry is due — follows the server clock, so
  :meth:`PulseServer.advance` drives retries without waiting.
- An answer other than 2xx within ``faults.timeout`` seconds (default 15) is a
  failed attempt, retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h of
  server time (8 attempts), then dropped.
- Every attempt is one :class:`Delivery` in :attr:`WebhookSender.deliveries`.

Fault knobs (:class:`WebhookFaults`, ``server.webhooks.faults``), all off by
default and seeded by the server's ``seed``: ``duplicate`` (probability that
an attempt is also sent a second time at once), ``delay`` (each event's first
attempt waits a random 0–``delay`` seconds of server time: events arrive out
of order), ``reorder`` (deliveries due together go out in random order),
``tamper`` (probability that the body is altered after signing: the receiver
must refuse it; the retry is sent intact unless it is tampered too) and
``timeout`` (the sender's patience: a slow receiver fails the attempt).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import aiohttp
import attrs

from pulse_async._core._converter import format_datetime
from pulse_async._core._webhooks import RETRY_SCHEDULE, Webhook
from pulse_async.errors import ValidationError
from pulse_async.testing._webhooks import (
    DEFAULT_ROTATION_OVERLAP,
    Endpoint,
    EventRecord,
    WebhookRegistry,
)

if TYPE_CHECKING:
    from pulse_async.testing._state import State

__all__ = ["Delivery", "WebhookFaults", "WebhookSender"]

#: Attempts of one event to one endpoint: the first and the seven retries of §5.
MAX_ATTEMPTS: Final = len(RETRY_SCHEDULE) + 1
_POLL: Final = 0.02  # seconds between two looks at the clock while idle
_MAX_IN_FLIGHT: Final = 32


@attrs.frozen(kw_only=True)
class Delivery:
    """One delivery attempt, as the delivery log keeps it.

    ``status`` is the receiver's HTTP status (``None`` when no answer came:
    ``error`` says why). ``result``: ``"delivered"`` (2xx), ``"retrying"``
    (``next_attempt_at`` is set), ``"dropped"`` (the 8th attempt failed, or the
    endpoint was removed) or ``"duplicate"`` (an extra copy sent by the
    ``duplicate`` fault; it does not count as an attempt). ``at`` is the server
    clock when it was sent; ``duration`` the seconds the answer took.
    """

    event_id: str
    event_type: str
    message_id: str
    url: str
    attempt: int
    status: int | None
    error: str | None
    result: str
    at: datetime
    duration: float
    tampered: bool = False
    next_attempt_at: datetime | None = None

    @property
    def ok(self) -> bool:
        """Whether the receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON (times as ISO 8601 strings)."""
        data = attrs.asdict(self)
        data["at"] = format_datetime(self.at)
        if self.next_attempt_at is not None:
            data["next_attempt_at"] = format_datetime(self.next_attempt_at)
        return data


@attrs.define(kw_only=True)
class WebhookFaults:
    """The delivery fault knobs (see the module docstring)."""

    duplicate: float = 0.0
    delay: float = 0.0
    reorder: bool = False
    tamper: float = 0.0
    timeout: float = 15.0

    def set(
        self,
        *,
        duplicate: float | None = None,
        delay: float | None = None,
        reorder: bool | None = None,
        tamper: float | None = None,
        timeout: float | None = None,
    ) -> WebhookFaults:
        """Change some knobs (checked); returns self."""
        for name, value in (("duplicate", duplicate), ("tamper", tamper)):
            if value is not None and not (isinstance(value, int | float) and 0 <= value <= 1):
                raise ValidationError("must be a probability from 0 to 1", field=name)
        for name, value in (("delay", delay), ("timeout", timeout)):
            if value is not None and not (
                isinstance(value, int | float) and 0 <= value < float("inf")
            ):
                raise ValidationError("must be a non-negative number of seconds", field=name)
        if timeout is not None and timeout == 0:
            raise ValidationError("must be more than 0 seconds", field="timeout")
        if duplicate is not None:
            self.duplicate = float(duplicate)
        if delay is not None:
            self.delay = float(delay)
        if reorder is not None:
            self.reorder = bool(reorder)
        if tamper is not None:
            self.tamper = float(tamper)
        if timeout is not None:
            self.timeout = float(timeout)
        return self

    def as_dict(self) -> dict[str, float | bool]:
        """The knobs as JSON."""
        return attrs.asdict(self)


@attrs.define(eq=False)
class _Job:
    event: EventRecord
    url: str
    attempt: int
    due: float


class WebhookSender:
    """``server.webhooks``: endpoints, events, the delivery log and the fault knobs."""

    def __init__(self, state: State, *, seed: int | str | None = None) -> None:
        self._state = state
        self.registry = WebhookRegistry(
            state.messages,
            clock=state.clock.time,
            step_delay=state.step_delay,
            message_json=state.message_json,
        )
        self.faults = WebhookFaults()
        #: Every attempt, in the order answers came back.
        self.deliveries: list[Delivery] = []
        self._rng = random.Random(f"{seed}:webhooks") if seed is not None else random.Random()
        self._jobs: list[_Job] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._session: aiohttp.ClientSession | None = None
        self._gate: asyncio.Semaphore | None = None

    def __repr__(self) -> str:
        return (
            f"<WebhookSender endpoints={len(self.registry.endpoints)} "
            f"events={len(self.events)} deliveries={len(self.deliveries)}>"
        )

    # -- the public surface (called on the server's loop) -----------------------------------

    @property
    def events(self) -> list[EventRecord]:
        """Every event generated so far, in order."""
        return self.registry.events

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        """The registered endpoints by URL."""
        return self.registry.endpoints

    def add(self, url: str, *, events: Iterable[str] | None = None) -> str:
        """Register an endpoint; its ``whsec_`` secret (see :meth:`PulseServer.add_webhook`)."""
        secret = self.registry.add(url, events=events)
        self._ensure_running()
        return secret

    def rotate(self, url: str, *, overlap: float = DEFAULT_ROTATION_OVERLAP) -> str:
        """A new secret for ``url``; the old one keeps signing for ``overlap`` seconds."""
        return self.registry.rotate(url, overlap=overlap)

    def remove(self, url: str) -> None:
        """Stop sending to ``url``."""
        self.registry.remove(url)

    def wake(self) -> None:
        """Look at the clock now (after :meth:`PulseServer.advance` or a request)."""
        if self._wake is not None:
            self._wake.set()

    def pending(self) -> int:
        """Attempts in flight or scheduled (retries included)."""
        return len(self._jobs) + len(self._in_flight)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait (real time) until nothing is due now and no attempt is in flight.

        Retries scheduled in the server's future stay scheduled: advance the
        clock to send them. ``TimeoutError`` after ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while True:
                self.wake()
                await asyncio.sleep(_POLL)
                self._collect()
                now = self._state.clock.time()
                if not self._in_flight and all(job.due > now for job in self._jobs):
                    return

    # -- lifecycle ------------------------------------------------------------------------------

    def _ensure_running(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # the server is not running: start() starts the loop
        if self._task is None and self.endpoints:
            self._wake = asyncio.Event()
            self._gate = asyncio.Semaphore(_MAX_IN_FLIGHT)
            self._task = loop.create_task(self._run(), name="pulse-webhooks")

    async def start(self) -> None:
        """Start sending (the server calls this when it starts)."""
        self._ensure_running()

    async def stop(self) -> None:
        """Stop sending: cancel attempts in flight, close the connections."""
        task, self._task = self._task, None
        tasks = [*self._in_flight, *([task] if task is not None else [])]
        for item in tasks:
            item.cancel()
        for item in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await item
        self._in_flight.clear()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # -- the loop -------------------------------------------------------------------------------

    async def _run(self) -> None:
        wake = self._wake
        assert wake is not None
        while True:
            self._collect()
            now = self._state.clock.time()
            due = [job for job in self._jobs if job.due <= now]
            if due:
                self._jobs = [job for job in self._jobs if job.due > now]
                if self.faults.reorder:
                    self._rng.shuffle(due)
                for job in due:
                    self._launch(job)
            wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_POLL):
                    await wake.wait()

    def _collect(self) -> None:
        if not self.endpoints:
            return
        now = self._state.clock.time()
        for event in self.registry.collect():
            for endpoint in self.endpoints.values():
                if endpoint.wants(event.type):
                    extra = self._rng.uniform(0, self.faults.delay) if self.faults.delay else 0.0
                    self._jobs.append(_Job(event, endpoint.url, 1, now + extra))

    def _launch(self, job: _Job) -> None:
        copies = 2 if self._rng.random() < self.faults.duplicate else 1
        for copy in range(copies):
            task = asyncio.get_running_loop().create_task(self._attempt(job, copy > 0))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _attempt(self, job: _Job, duplicate: bool) -> None:
        endpoint = self.endpoints.get(job.url)
        clock = self._state.clock
        if endpoint is None:
            self._log(job, None, "endpoint removed", "dropped", clock.time(), 0.0)
            return
        body = job.event.body
        headers = Webhook(endpoint.signing_secrets(clock.time())).sign(
            body, webhook_id=job.event.id, timestamp=int(time.time())
        )
        tampered = self._rng.random() < self.faults.tamper
        if tampered:
            body = body.replace(b'"object":"event"', b'"object":"evenT"', 1)
        headers["Content-Type"] = "application/json"
        gate = self._gate
        assert gate is not None
        sent_at = clock.time()
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        async with gate:
            try:
                session = self._client()
                timeout = aiohttp.ClientTimeout(total=self.faults.timeout)
                async with session.post(
                    job.url, data=body, headers=headers, timeout=timeout, allow_redirects=False
                ) as response:
                    status = response.status
                    await response.read()
            except TimeoutError:
                error = f"no answer within {self.faults.timeout:g}s"
            except aiohttp.ClientError as exc:
                error = type(exc).__name__
        duration = time.monotonic() - started
        if duplicate:
            self._log(job, status, error, "duplicate", sent_at, duration, tampered)
            return
        if status is not None and 200 <= status < 300:
            self._log(job, status, error, "delivered", sent_at, duration, tampered)
            return
        if job.attempt >= MAX_ATTEMPTS:
            self._log(job, status, error, "dropped", sent_at, duration, tampered)
            return
        wait = RETRY_SCHEDULE[job.attempt - 1]
        retry = _Job(job.event, job.url, job.attempt + 1, clock.time() + wait)
        self._jobs.append(retry)
        self._log(job, status, error, "retrying", sent_at, duration, tampered, retry.due)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=_MAX_IN_FLIGHT),
                headers={"User-Agent": "pulse-local-webhooks"},
            )
        return self._session

    def _log(
        self,
        job: _Job,
        status: int | None,
        error: str | None,
        result: str,
        sent_at: float,
        duration: float,
        tampered: bool = False,
        next_at: float | None = None,
    ) -> None:
        self.deliveries.append(
            Delivery(
                event_id=job.event.id,
                event_type=job.event.type,
                message_id=job.event.message_id,
                url=job.url,
                attempt=job.attempt,
                status=status,
                error=error,
                result=result,
                at=datetime.fromtimestamp(sent_at, UTC),
                duration=duration,
                tampered=tampered,
                next_attempt_at=datetime.fromtimestamp(next_at, UTC) if next_at else None,
            )
        )
