"""The local server's ledger (every committed side effect, in order) and request stats."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, overload

import attrs

from pulse_async.testing._records import _iso

__all__ = ["Ledger", "LedgerEntry", "Stats"]


@attrs.frozen(kw_only=True)
class LedgerEntry:
    """One committed side effect.

    ``kind`` is ``user.created``, ``user.updated``, ``user.deleted``,
    ``message.created`` or ``message.cancelled``; ``api`` is ``"pulse"`` (v2)
    or ``"pulsewave"`` (v1); ``timestamp`` is the server clock (epoch seconds).
    """

    kind: str
    resource_id: str
    api: str
    idempotency_key: str | None
    request_id: str | None
    timestamp: float

    @property
    def at(self) -> datetime:
        """When it was committed, as an aware UTC ``datetime``."""
        return datetime.fromtimestamp(self.timestamp, UTC)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form."""
        return {
            "kind": self.kind,
            "resource_id": self.resource_id,
            "api": self.api,
            "idempotency_key": self.idempotency_key,
            "request_id": self.request_id,
            "at": _iso(self.timestamp),
        }


class Ledger(Sequence[LedgerEntry]):
    """Every side effect the server committed, in order.

    The exactly-once tests compare it with what the client believes::

        assert len(server.ledger.of_kind("message.created")) == 100
        assert not server.ledger.duplicate_idempotency_keys()
    """

    def __init__(self) -> None:
        self._entries: list[LedgerEntry] = []

    def append(self, entry: LedgerEntry) -> None:
        """Record one side effect (the server does this)."""
        self._entries.append(entry)

    @overload
    def __getitem__(self, index: int) -> LedgerEntry: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[LedgerEntry]: ...
    def __getitem__(self, index: int | slice) -> LedgerEntry | Sequence[LedgerEntry]:
        return self._entries[index]

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[LedgerEntry]:
        return iter(list(self._entries))

    def of_kind(self, kind: str, *, api: str | None = None) -> list[LedgerEntry]:
        """Entries of one kind (and API, if given)."""
        return [e for e in self._entries if e.kind == kind and (api is None or e.api == api)]

    def duplicate_idempotency_keys(self, kind: str = "message.created") -> dict[str, int]:
        """Idempotency keys that committed ``kind`` more than once (should be empty)."""
        counts = Counter(
            e.idempotency_key
            for e in self._entries
            if e.kind == kind and e.idempotency_key is not None
        )
        return {k: n for k, n in counts.items() if n > 1}

    def clear(self) -> None:
        """Forget every entry (the workspace itself is unchanged)."""
        self._entries.clear()

    def __repr__(self) -> str:
        return f"<Ledger {len(self._entries)} entries>"


class Stats:
    """Counters of what the server saw.

    ``requests``: per route (``"POST /v2/messages"``; unknown paths count
    under ``"* <unmatched>"``); ``cancelled``: handlers cancelled because the
    client went away mid-request (``cancelled_by_route`` per route);
    ``faults``: injected faults per kind; ``replayed``: idempotent replays;
    ``rate_limited``: 429s from the rate limiter (not injected ones).
    """

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.cancelled = 0
        self.cancelled_by_route: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.replayed = 0
        self.rate_limited = 0

    @property
    def total(self) -> int:
        """Requests received, all routes."""
        return sum(self.requests.values())

    def reset(self) -> None:
        """Zero every counter."""
        self.__init__()  # type: ignore[misc]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form."""
        return {
            "total": self.total,
            "requests": dict(self.requests),
            "cancelled": self.cancelled,
            "cancelled_by_route": dict(self.cancelled_by_route),
            "faults": dict(self.faults),
            "replayed": self.replayed,
            "rate_limited": self.rate_limited,
        }

    def __repr__(self) -> str:
        return f"<Stats {self.as_dict()}>"
