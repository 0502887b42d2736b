"""What a resource needs from its client: a way to make one call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from pulse_async._core._http import Request

__all__ = ["Requester"]

T = TypeVar("T")


class Requester(Protocol):
    """The client, as seen by a resource."""

    _clock: Callable[[], float]
    _sleep: Callable[[float], Awaitable[None]]

    async def _call(
        self, request: Request, structure: Callable[[Any], T], *, deadline: float | None = None
    ) -> T:
        """Send ``request`` (with retries and limits) and structure the answer.

        ``deadline`` (on ``_clock``) ends the call sooner than its own timeout would.
        """

    async def _call_empty(self, request: Request) -> None:
        """Send ``request``; the answer has no body."""
