"""The local server's idempotency records: one answer per (API key, Idempotency-Key), 24 h."""

from __future__ import annotations

from typing import Any, Final

import attrs

from pulse_async._core._validation import (
    check_idempotency_key,
)
from pulse_async.errors import ValidationError
from pulse_async.testing._records import ApiFailure, _invalid

__all__ = ["IDEMPOTENCY_WINDOW", "IdempotencyStore", "check_idempotency_header"]

IDEMPOTENCY_WINDOW: Final = 24 * 3600.0


@attrs.define
class _IdempotencyRecord:
    fingerprint: Any
    started: float
    done: bool = False
    status: int = 0
    body: bytes = b""


class IdempotencyStore:
    """SPEC §1 Idempotency: replay, mismatch (400) and in-flight (409), per API key, 24 h.

    The server calls :meth:`begin` before processing a POST that carries an
    Idempotency-Key, then :meth:`complete` with the answer it sent, or
    :meth:`abandon` if processing never finished (the client went away), so a
    retry runs afresh.
    """

    def __init__(self, window: float = IDEMPOTENCY_WINDOW) -> None:
        self.window = window
        self._records: dict[tuple[str, str], _IdempotencyRecord] = {}
        self._added = 0

    def __len__(self) -> int:
        return len(self._records)

    def begin(self, scope: str, key: str, fingerprint: Any, now: float) -> tuple[int, bytes] | None:
        """``None``: go ahead (now in flight). ``(status, body)``: replay that answer."""
        record = self._records.get((scope, key))
        if record is not None and now - record.started < self.window:
            if record.fingerprint != fingerprint:
                raise _invalid(
                    "Idempotency-Key",
                    "this Idempotency-Key was already used with different parameters",
                )
            if not record.done:
                raise ApiFailure(
                    409,
                    "conflict",
                    "a request with this Idempotency-Key is still being processed; retry later",
                )
            return record.status, record.body
        self._records[(scope, key)] = _IdempotencyRecord(fingerprint, now)
        self._added += 1
        if self._added % 10_000 == 0:  # keep a long-running server's memory bounded
            self.purge(now)
        return None

    def complete(self, scope: str, key: str, status: int, body: bytes) -> None:
        """Remember the answer for replays."""
        record = self._records.get((scope, key))
        if record is not None:
            record.done, record.status, record.body = True, status, body

    def abandon(self, scope: str, key: str) -> None:
        """Forget an in-flight attempt that never finished."""
        record = self._records.get((scope, key))
        if record is not None and not record.done:
            del self._records[(scope, key)]

    def purge(self, now: float) -> int:
        """Drop finished records older than the window; returns how many."""
        old = [k for k, r in self._records.items() if r.done and now - r.started >= self.window]
        for k in old:
            del self._records[k]
        return len(old)


def check_idempotency_header(value: str | None) -> str | None:
    """The ``Idempotency-Key`` header, validated (400 naming ``Idempotency-Key``)."""
    if value is None:
        return None
    try:
        return check_idempotency_key(value, "Idempotency-Key")
    except ValidationError as exc:
        raise _invalid("Idempotency-Key", exc.message) from None
