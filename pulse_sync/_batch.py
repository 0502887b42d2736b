"""The blocking faces of a :class:`~pulse_async.Batch`: a list, or a stream of outcomes.

A stream crosses to the loop once per outcome (the async ``stream()``'s
``__anext__``), so it holds no more than the async batch does: a bounded window
of items in flight, however long the input. Closing the iterator early (a
``break`` in a ``for``, ``close()``, or dropping it) closes the async stream on
the loop, which cancels every item still in flight and waits for them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Generator
from typing import TypeVar

from pulse_async import Batch, PulseError
from pulse_sync._loop import run

__all__ = ["collect", "stream"]

R = TypeVar("R")


def collect(batch: Batch[R]) -> list[R | PulseError]:
    """Run the whole batch; the outcomes in input order.

    Not bounded by one call's deadline: each item is bounded by its own.
    """
    return run(batch.collect())


def stream(batch: Batch[R]) -> Generator[R | PulseError, None, None]:
    """Yield the batch's outcomes in input order, one loop crossing each."""
    outcomes = batch.stream()
    try:
        while (outcome := _next(outcomes)) is not _END:
            yield outcome  # type: ignore[misc]  # not _END
    finally:
        _close(outcomes)


_END = object()


def _next(outcomes: AsyncGenerator[R | PulseError, None]) -> R | PulseError | object:
    try:
        return run(outcomes.__anext__())
    except StopAsyncIteration:
        return _END


def _close(outcomes: AsyncGenerator[R | PulseError, None]) -> None:
    # Best effort when finalized at interpreter exit (the loop is gone) or by a garbage
    # collection on the loop thread itself (LoopThreadError is a RuntimeError).
    with contextlib.suppress(RuntimeError):
        run(outcomes.aclose())
