"""What a sync resource needs from its sync client: the async client of this process."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

__all__ = ["HasAsync", "Resource"]

A_co = TypeVar("A_co", covariant=True)


class HasAsync(Protocol[A_co]):
    """The sync client, as seen by a resource."""

    def _async(self) -> A_co:
        """The async client to run the call with (made afresh after a fork)."""
        ...


class Resource(Generic[A_co]):
    """Base of the sync resources: holds the sync client."""

    __slots__ = ("_client",)

    def __init__(self, client: HasAsync[A_co]) -> None:
        self._client = client
