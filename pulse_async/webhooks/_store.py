"""Where a receiver remembers which ``webhook-id`` it has handled: the store protocol and
the in-memory store.

A store makes handling at-most-once per ``webhook-id``. :meth:`claim` marks an id
as in progress (only one caller wins); :meth:`complete` marks it handled, for
``ttl`` seconds; :meth:`release` forgets a claim whose handler failed, so the
sender's retry runs the handler again. The Redis store
(:class:`~pulse_async.webhooks.RedisStore`) does the same for many processes.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final, Literal, Protocol

import attrs

from pulse_async._core._webhooks import DEFAULT_TOLERANCE, RETRY_HORIZON
from pulse_async.errors import PulseError, ValidationError

__all__ = [
    "DEFAULT_MAX_ENTRIES",
    "DEFAULT_TTL",
    "Claim",
    "MemoryStore",
    "StoreUnavailableError",
    "WebhookStore",
]

log = logging.getLogger("pulse_async.webhooks")

#: Seconds a handled ``webhook-id`` is remembered: the §5 retry horizon (~27.6 h), plus
#: twice the timestamp tolerance, rounded up to 30 hours.
DEFAULT_TTL: Final = 30 * 3600
assert DEFAULT_TTL >= RETRY_HORIZON + 2 * DEFAULT_TOLERANCE
#: Ids one :class:`MemoryStore` remembers at most (about 20 MB at the limit).
DEFAULT_MAX_ENTRIES: Final = 100_000

ClaimState = Literal["claimed", "handled", "in_progress"]


class StoreUnavailableError(PulseError):
    """The store could not be reached: nothing was handled; answer 503 so the sender retries."""


@attrs.frozen
class Claim:
    """The answer of :meth:`WebhookStore.claim`.

    ``state``: ``"claimed"`` (run the handler, then complete or release with
    ``token``), ``"handled"`` (a duplicate of a handled event) or
    ``"in_progress"`` (another delivery of it is being handled right now).
    """

    state: ClaimState
    token: str | None = None


class WebhookStore(Protocol):
    """What :func:`~pulse_async.webhooks.handle` needs from a store."""

    async def claim(self, webhook_id: str) -> Claim:
        """Claim ``webhook_id`` for handling, atomically."""
        ...

    async def complete(self, webhook_id: str, token: str) -> None:
        """Mark a claimed id handled (its handler returned)."""
        ...

    async def release(self, webhook_id: str, token: str) -> None:
        """Forget a claim (its handler failed): the next delivery may claim it again."""
        ...


_PENDING = 0
_DONE = 1


class MemoryStore:
    """Remembers handled ``webhook-id`` values in this process, bounded in size and time.

    Thread-safe and loop-agnostic: one store may serve several event loops and
    threads of a process (for several processes, use
    :class:`~pulse_async.webhooks.RedisStore`). An id is remembered for ``ttl``
    seconds (default 30 h, past the §5 retry horizon); beyond ``max_entries``
    ids the oldest handled ones are forgotten first (logged once at WARNING: a
    retry of a forgotten id would be handled again). ``clock`` is for tests.
    """

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl < float("inf"):
            raise ValidationError("must be a positive number of seconds", field="ttl")
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValidationError("must be a positive integer", field="max_entries")
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        # webhook-id → (state, expires at, token); insertion order ≈ expiry order.
        self._entries: OrderedDict[str, tuple[int, float, str | None]] = OrderedDict()
        self._counter = 0
        self._warned = False
        #: Handled ids forgotten before their ``ttl`` because the store was full.
        self.evicted_early = 0

    def __repr__(self) -> str:
        return f"MemoryStore(entries={len(self._entries)}, ttl={self._ttl:g})"

    def __len__(self) -> int:
        return len(self._entries)

    def claim_now(self, webhook_id: str) -> Claim:
        """:meth:`claim`, without awaiting (the store never waits)."""
        with self._lock:
            now = self._clock()
            self._purge(now)
            entry = self._entries.get(webhook_id)
            if entry is not None:
                return Claim("handled" if entry[0] == _DONE else "in_progress")
            self._counter += 1
            token = str(self._counter)
            # A claim in progress never expires here: its handler's process is this one, and
            # handle() always completes or releases it.
            self._entries[webhook_id] = (_PENDING, math.inf, token)
            self._bound()
            return Claim("claimed", token)

    def complete_now(self, webhook_id: str, token: str) -> None:
        """:meth:`complete`, without awaiting."""
        with self._lock:
            entry = self._entries.get(webhook_id)
            if entry is None or entry[2] == token:
                self._entries[webhook_id] = (_DONE, self._clock() + self._ttl, None)
                self._entries.move_to_end(webhook_id)
                self._bound()

    def release_now(self, webhook_id: str, token: str) -> None:
        """:meth:`release`, without awaiting."""
        with self._lock:
            entry = self._entries.get(webhook_id)
            if entry is not None and entry[2] == token:
                del self._entries[webhook_id]

    async def claim(self, webhook_id: str) -> Claim:
        """Claim ``webhook_id`` for handling (see :class:`Claim`)."""
        return self.claim_now(webhook_id)

    async def complete(self, webhook_id: str, token: str) -> None:
        """Mark ``webhook_id`` handled for ``ttl`` seconds."""
        self.complete_now(webhook_id, token)

    async def release(self, webhook_id: str, token: str) -> None:
        """Forget the claim: the sender's retry will be handled."""
        self.release_now(webhook_id, token)

    def _purge(self, now: float) -> None:
        entries = self._entries
        skipped = 0
        while entries and skipped < len(entries):
            webhook_id, (state, expires, _token) = next(iter(entries.items()))
            if expires <= now:
                del entries[webhook_id]
            elif state == _PENDING:
                entries.move_to_end(webhook_id)  # look past claims in progress
                skipped += 1
            else:
                break

    def _bound(self) -> None:
        entries = self._entries
        # Pending claims are never evicted (their handlers are running); skip past them.
        skipped = 0
        while len(entries) > self._max_entries and skipped < len(entries):
            webhook_id, entry = next(iter(entries.items()))
            if entry[0] == _PENDING:
                entries.move_to_end(webhook_id)
                skipped += 1
                continue
            del entries[webhook_id]
            self.evicted_early += 1
            if not self._warned:
                self._warned = True
                log.warning(
                    "MemoryStore is full (max_entries=%d): forgetting the oldest handled "
                    "webhook ids before their ttl; a late retry of one would be handled again",
                    self._max_entries,
                )
