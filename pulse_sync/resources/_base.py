"""What a sync resource needs from its sync client: the async client of this process."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Generic, Protocol, TypeVar

from pulse_async import AsyncPager, ClientOptions
from pulse_sync._loop import run
from pulse_sync._pager import Pager

__all__ = ["HasAsync", "Resource"]

T = TypeVar("T")


class _Async(Protocol):
    @property
    def options(self) -> ClientOptions: ...


A_co = TypeVar("A_co", bound=_Async, covariant=True)


class HasAsync(Protocol[A_co]):
    """The sync client, as seen by a resource."""

    #: The total timeout of a call (``options.timeout.total``), read once per client.
    _within: float

    def _async(self) -> A_co:
        """The async client to run the call with (made afresh after a fork)."""
        ...


class Resource(Generic[A_co]):
    """Base of the sync resources: holds the sync client."""

    __slots__ = ("_client",)

    def __init__(self, client: HasAsync[A_co]) -> None:
        self._client = client

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run one call on the loop thread; wait no longer than its total timeout (+ grace)."""
        return run(coro, within=self._client._within)

    def _pager(self, pager: AsyncPager[T]) -> Pager[T]:
        """A sync pager whose every page waits no longer than a call's total timeout."""
        return Pager(pager, within=self._client._within)
