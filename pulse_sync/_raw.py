"""``with_raw_response`` for the sync clients: the async raw methods, blocking.

Each method runs ``client._async().with_raw_response.<resource>.<method>`` on
the loop thread (the async client of this process, so it stays fork-safe);
``ParamSpec`` carries the exact parameters across, so mypy sees
``APIResponse[MessageReceipt]`` here too. No logic of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator, Iterator
from typing import Any, Generic, ParamSpec, TypeVar

from pulse_async import (
    APIResponse,
    AsyncPulse,
    AsyncPulsewave,
    AsyncRawPageIterator,
    AsyncRawPager,
    Page,
)
from pulse_sync._loop import run
from pulse_sync.resources._base import HasAsync

__all__ = ["PulseWithRawResponse", "PulsewaveWithRawResponse", "RawPager"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
A = TypeVar("A", AsyncPulse, AsyncPulsewave)


def _blocking(
    client: HasAsync[A], pick: Callable[[A], Callable[P, Coroutine[Any, Any, R]]]
) -> Callable[P, R]:
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        return run(pick(client._async())(*args, **kwargs))

    return call


def _blocking_list(
    client: HasAsync[A], pick: Callable[[A], Callable[P, AsyncRawPager[T]]]
) -> Callable[P, RawPager[T]]:
    def call(*args: P.args, **kwargs: P.kwargs) -> RawPager[T]:
        return RawPager(pick(client._async())(*args, **kwargs))

    return call


def _next(pages: AsyncRawPageIterator[T]) -> APIResponse[Page[T]] | None:
    try:
        return run(pages.__anext__())
    except StopAsyncIteration:
        return None


class RawPager(Generic[T]):
    """A ``list()`` made through ``with_raw_response``; ``.pages()`` yields ``APIResponse``s.

    Example::

        for response in pulse.with_raw_response.users.list(limit=100).pages():
            print(response.request_id, len(response.parse().data))
    """

    __slots__ = ("_pager",)

    def __init__(self, pager: AsyncRawPager[T]) -> None:
        self._pager = pager

    def __iter__(self) -> Iterator[T]:
        for response in self.pages():
            yield from response.parse().data

    def pages(self) -> Generator[APIResponse[Page[T]], None, None]:
        """Iterate whole pages, each as an ``APIResponse[Page[T]]``, fetched one at a time."""
        pages = self._pager.pages()
        try:
            while (response := _next(pages)) is not None:
                yield response
        except GeneratorExit:
            run(pages.aclose())
            raise

    def fetch_page(self, cursor: str | None = None) -> APIResponse[Page[T]]:
        """Fetch one page (the first, or the one ``cursor`` points at) with its metadata."""
        return run(self._pager.fetch_page(cursor))


class _UsersWithRawResponse:
    def __init__(self, client: HasAsync[AsyncPulse]) -> None:
        self.list = _blocking_list(client, lambda c: c.with_raw_response.users.list)
        self.create = _blocking(client, lambda c: c.with_raw_response.users.create)
        self.update = _blocking(client, lambda c: c.with_raw_response.users.update)
        self.delete = _blocking(client, lambda c: c.with_raw_response.users.delete)


class _MessagesWithRawResponse:
    def __init__(self, client: HasAsync[AsyncPulse]) -> None:
        self.send = _blocking(client, lambda c: c.with_raw_response.messages.send)
        self.retrieve = _blocking(client, lambda c: c.with_raw_response.messages.retrieve)


class _ThreadsWithRawResponse:
    def __init__(self, client: HasAsync[AsyncPulse]) -> None:
        self.list = _blocking_list(client, lambda c: c.with_raw_response.threads.list)


class _PulsewaveMessagesWithRawResponse:
    def __init__(self, client: HasAsync[AsyncPulsewave]) -> None:
        self.create = _blocking(client, lambda c: c.with_raw_response.messages.create)
        self.retrieve = _blocking(client, lambda c: c.with_raw_response.messages.retrieve)
        self.cancel = _blocking(client, lambda c: c.with_raw_response.messages.cancel)


class PulseWithRawResponse:
    """``Pulse.with_raw_response``: the resources, each method returning ``APIResponse``."""

    def __init__(self, client: HasAsync[AsyncPulse]) -> None:
        self.users = _UsersWithRawResponse(client)
        self.messages = _MessagesWithRawResponse(client)
        self.threads = _ThreadsWithRawResponse(client)


class PulsewaveWithRawResponse:
    """``Pulsewave.with_raw_response``: ``messages``, each method returning ``APIResponse``."""

    def __init__(self, client: HasAsync[AsyncPulsewave]) -> None:
        self.messages = _PulsewaveMessagesWithRawResponse(client)
