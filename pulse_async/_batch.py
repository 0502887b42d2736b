"""Fan-out: many calls of one method, bounded, ordered, crash-safe to re-run.

:class:`Batch` streams items from any iterable or async iterable, keeps at most
``concurrency`` calls in flight (through the client's limiter and retry
budget, since each item is an ordinary call) and hands back one outcome per
item, in input order: the call's result, or the :class:`PulseError` it
raised. One item's failure never stops the others.

Only a bounded window of items is in the air at once (at most
``16 × concurrency`` outcomes, 256 at least, wait to be yielded), so memory
stays flat however long the input is, as long as the caller streams the
outcomes (``async for``) rather than collecting them (``await``).

With a ``batch_id`` every item's Idempotency-Key is derived from the batch
id and the item's position (``"<batch_id>:<index>"``), or from a caller's
``key=`` function: re-running a batch that crashed halfway, within the
server's 24-hour idempotency window, replays what was already sent instead of
sending it twice. An item's own ``idempotency_key`` always wins.

Under a rate limit, items queue: the time an item waits for the client's own
limiter (or a pause the server asked for) before its first attempt does not
count against its ``timeout``, which starts when the item is let through. So
a batch of N items under a limit of R per minute takes about N / R minutes at
any ``concurrency``, and no item fails because the batch was larger than the
limit. Each wait is still bounded: the limiter serves in arrival order, so an
item waits at most for the ``concurrency`` items ahead of it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Mapping,
)
from typing import Any, Generic, TypeVar

import attrs

from pulse_async._core._options import DEFAULT_CONCURRENCY, MAX_CONCURRENCY
from pulse_async._core._validation import check_idempotency_key, check_int_range
from pulse_async.errors import PulseError, ValidationError

__all__ = ["QUEUED", "Batch", "ProgressCallback"]

log = logging.getLogger("pulse_async.batch")

R = TypeVar("R")

#: ``on_progress(done, total_or_None, failed)``
ProgressCallback = Callable[[int, int | None, int], object]

#: True in a batch item's task: the call's first admission queues for the client's limiter
#: and pauses, and its deadline starts when it is let through (see the module docstring).
QUEUED: contextvars.ContextVar[bool] = contextvars.ContextVar("pulse_batch_item", default=False)

#: Outcomes a batch may hold (finished, not yet yielded) per unit of concurrency.
BUFFER_PER_SLOT = 16
MIN_BUFFER = 256


def _kwargs_of(item: Any, index: int) -> dict[str, Any]:
    if isinstance(item, Mapping):
        return dict(item)
    if attrs.has(type(item)):
        return {k: v for k, v in attrs.asdict(item, recurse=False).items() if v is not None}
    raise ValidationError(
        f"each item must be a mapping or a params object, got {type(item).__name__}",
        field=f"items[{index}]",
    )


class Batch(Generic[R]):
    """A fan-out in progress: ``await`` it for a list, or ``async for`` over it to stream.

    Example::

        outcomes = await pulse.messages.send_many(items, concurrency=64, batch_id="digest-42")
        failed = [o for o in outcomes if isinstance(o, PulseError)]

        async with contextlib.aclosing(pulse.messages.send_many(items).stream()) as stream:
            async for outcome in stream:
                ...
    """

    def __init__(
        self,
        call: Callable[..., Awaitable[R]],
        items: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        batch_id: str | None = None,
        key: Callable[[int, Any], str] | None = None,
        on_progress: ProgressCallback | None = None,
        progress: bool = False,
        description: str = "sending",
    ) -> None:
        check_int_range(concurrency, "concurrency", 1, MAX_CONCURRENCY)
        if batch_id is not None:
            # ":<index>" must still fit the 255-character key.
            check_idempotency_key(batch_id, "batch_id")
            if len(batch_id) > 200:
                raise ValidationError("must be at most 200 characters", field="batch_id")
        if batch_id is not None and key is not None:
            raise ValidationError("give batch_id or key, not both", field="key")
        self._call = call
        self._items = items
        self._concurrency = concurrency
        self._batch_id = batch_id
        self._key = key
        self._on_progress = on_progress
        self._progress = progress
        self._description = description
        self._started = False
        try:
            self.total: int | None = len(items)  # type: ignore[arg-type]
        except TypeError:
            self.total = None
        #: Items finished so far, and how many of them failed.
        self.done = 0
        self.failed = 0

    def __await__(self) -> Generator[Any, None, list[R | PulseError]]:
        return self.collect().__await__()

    async def collect(self) -> list[R | PulseError]:
        """Run the whole batch; the outcomes in input order."""
        outcomes: list[R | PulseError] = []
        stream = self.stream()
        try:
            async for outcome in stream:
                outcomes.append(outcome)
        finally:
            await stream.aclose()
        return outcomes

    def __aiter__(self) -> AsyncGenerator[R | PulseError, None]:
        return self.stream()

    def _key_for(self, index: int, item: Any) -> str | None:
        if self._batch_id is not None:
            return f"{self._batch_id}:{index}"
        if self._key is not None:
            return check_idempotency_key(self._key(index, item), "key")
        return None

    async def _one(self, index: int, item: Any, slots: asyncio.Semaphore) -> R | PulseError:
        """Run one item (its slot already taken) and turn any failure into its outcome."""
        derived: str | None = None
        QUEUED.set(True)  # this task's own context: only this item's calls see it
        try:
            kwargs = _kwargs_of(item, index)
            if kwargs.get("idempotency_key") is None:
                derived = self._key_for(index, item)
                if derived is not None:
                    kwargs["idempotency_key"] = derived
            outcome: R | PulseError = await self._call(**kwargs)
        except PulseError as exc:
            outcome = exc
        except TypeError as exc:
            # An item with a field the method does not take.
            outcome = ValidationError(str(exc), field=f"items[{index}]")
        finally:
            slots.release()
        if isinstance(outcome, PulseError):
            self.failed += 1
            if outcome.idempotency_key is None:
                outcome.idempotency_key = derived
        self.done += 1
        if self._on_progress is not None:
            self._on_progress(self.done, self.total, self.failed)
        return outcome

    async def _produce(
        self,
        ready: asyncio.Queue[asyncio.Task[R | PulseError] | None],
        slots: asyncio.Semaphore,
        room: asyncio.Semaphore,
    ) -> None:
        """Start items as soon as a slot is free, while the outcome buffer has room."""
        # The start of an item is inline in both loops, not a helper coroutine: one
        # coroutine fewer per item.
        one, put = self._one, ready.put_nowait
        try:
            index = 0
            if isinstance(self._items, AsyncIterable):
                async for item in self._items:
                    await room.acquire()
                    await slots.acquire()
                    put(asyncio.ensure_future(one(index, item, slots)))
                    index += 1
            else:
                for item in self._items:
                    await room.acquire()
                    await slots.acquire()
                    put(asyncio.ensure_future(one(index, item, slots)))
                    index += 1
        finally:
            ready.put_nowait(None)

    async def stream(self) -> AsyncGenerator[R | PulseError, None]:
        """Yield one outcome per item, in input order, as they become available.

        At most ``concurrency`` calls run at once. A slow item at the head
        (one waiting out a retry) does not stall the others: new items keep
        starting until :data:`BUFFER_PER_SLOT` × ``concurrency`` outcomes wait
        to be yielded, which is also all the memory a batch holds.
        """
        if self._started:
            raise RuntimeError("a batch runs once; call send_many again to re-run it")
        self._started = True
        bar = _progress_bar(self.total, self._description) if self._progress else None
        slots = asyncio.Semaphore(self._concurrency)
        room = asyncio.Semaphore(max(MIN_BUFFER, self._concurrency * BUFFER_PER_SLOT))
        ready: asyncio.Queue[asyncio.Task[R | PulseError] | None] = asyncio.Queue()
        producer = asyncio.ensure_future(self._produce(ready, slots, room))
        try:
            while (task := await ready.get()) is not None:
                outcome = await task
                room.release()
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(failed=self.failed, refresh=False)
                yield outcome
            await producer  # the source's own exception, if it raised one
        finally:
            producer.cancel()
            leftovers: list[asyncio.Future[Any]] = [producer]
            while not ready.empty():
                pending = ready.get_nowait()
                if pending is not None:
                    pending.cancel()
                    leftovers.append(pending)
            await asyncio.gather(*leftovers, return_exceptions=True)
            if bar is not None:
                bar.close()


def _progress_bar(total: int | None, description: str) -> Any:
    """A tqdm bar: a widget in a Jupyter kernel that has ipywidgets, a text bar elsewhere.

    Not ``tqdm.auto``: in a kernel without ipywidgets it emits a ``TqdmWarning``
    ("IProgress not found") and falls back anyway; a plain text bar renders
    cleanly in a notebook's output.
    """
    try:
        from tqdm.std import tqdm
    except ImportError:
        log.warning("progress=True needs tqdm: pip install 'pulse-messaging[progress]'")
        return None
    bar: Any = tqdm
    if "ipykernel.zmqshell" in sys.modules:  # tqdm's own test for a Jupyter kernel
        from tqdm import notebook

        if notebook.IProgress is not None:  # ipywidgets is installed
            bar = notebook.tqdm
    return bar(total=total, desc=description, unit="msg")
