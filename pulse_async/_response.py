"""``APIResponse``: a model together with what the HTTP exchange said about it.

``client.with_raw_response.<resource>.<method>(...)`` returns one (see
:mod:`pulse_async.resources._raw`); the plain methods never build one, so they
pay nothing for it. Everything here is read from the call's last answer and its
bookkeeping, and parsed only when asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Generic, TypeVar

from pulse_async._core._http import header
from pulse_async._core._retry_after import RateLimitInfo, parse_rate_limit_headers

__all__ = ["APIResponse", "RateLimitInfo"]

T = TypeVar("T")
U = TypeVar("U")

_NO_RATE_LIMIT = RateLimitInfo(None, None, None)


class APIResponse(Generic[T]):
    """The answer to one call: its model (:meth:`parse`) and its HTTP metadata.

    Example::

        response = await pulse.with_raw_response.messages.send(
            to=["usr_123"], subject="Hi", body="Hello"
        )
        receipt = response.parse()                 # the MessageReceipt
        response.request_id, response.rate_limit.remaining, response.replayed

    - ``status``, ``headers``: of the last answer (headers are case-insensitive).
    - ``request_id``: the server's ``X-Request-Id`` (``None`` if absent).
    - ``rate_limit``: :class:`RateLimitInfo` from ``X-RateLimit-*``; each part
      ``None`` when the server did not send it.
    - ``idempotency_key``: the key every attempt of the call carried (POSTs),
      else ``None``.
    - ``replayed``: the server answered from its idempotency record
      (``Idempotent-Replayed: true``): this call created nothing new.
    - ``attempts``: requests sent for this call, retries included (1 when the
      first one succeeded).
    - ``elapsed``: seconds from the call's start to its answer, retries, backoff
      and rate-limit waits included (on the client's clock).
    """

    __slots__ = ("_parsed", "attempts", "elapsed", "headers", "idempotency_key", "status")

    def __init__(
        self,
        *,
        status: int,
        headers: Mapping[str, str],
        parsed: T,
        attempts: int,
        elapsed: float,
        idempotency_key: str | None,
    ) -> None:
        self.status = status
        self.headers = headers
        self.attempts = attempts
        self.elapsed = elapsed
        self.idempotency_key = idempotency_key
        self._parsed = parsed

    def parse(self) -> T:
        """The model the plain method returns (``None`` for a method that returns nothing)."""
        return self._parsed

    def with_parsed(self, parsed: U) -> APIResponse[U]:
        """The same answer around another model (a page structured after it arrived)."""
        return APIResponse(
            status=self.status,
            headers=self.headers,
            parsed=parsed,
            attempts=self.attempts,
            elapsed=self.elapsed,
            idempotency_key=self.idempotency_key,
        )

    @property
    def request_id(self) -> str | None:
        """The server's ``X-Request-Id`` for the last attempt: quote it to support."""
        return header(self.headers, "X-Request-Id") or None

    @property
    def rate_limit(self) -> RateLimitInfo:
        """``X-RateLimit-Limit``, ``-Remaining``, ``-Reset`` (s); a part is ``None`` if absent."""
        return parse_rate_limit_headers(self.headers) or _NO_RATE_LIMIT

    @property
    def replayed(self) -> bool:
        """Whether the server replayed a stored answer for this idempotency key."""
        value = header(self.headers, "Idempotent-Replayed")
        return value is not None and value.strip().lower() == "true"

    def __repr__(self) -> str:
        return (
            f"<APIResponse status={self.status} request_id={self.request_id!r}"
            f" attempts={self.attempts} elapsed={self.elapsed:.3f}s>"
        )
