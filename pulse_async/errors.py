"""The one error tree of pulse-sdk.

Every failure a call can end in is one of these; no third-party exception
(aiohttp, json, cattrs) ever escapes a public method::

    PulseError
    ├── APIError                  the server answered, and said no
    │   │                         .status .code .message .field .request_id .headers
    │   ├── AuthenticationError   401
    │   ├── PermissionDeniedError 403
    │   ├── NotFoundError         404
    │   ├── ConflictError         409  (.code tells "conflict", retried, from "invalid_state")
    │   ├── RateLimitError        429  .retry_after (seconds, float | None)
    │   └── ServerError           5xx
    ├── ValidationError           400 from the server, or raised before sending
    │                             (.field; also a ValueError)
    ├── ClientMisuseError         the client was used where it cannot work: on a second
    │                             event loop, or after close (also a RuntimeError; never
    │                             retried, nothing was sent)
    ├── APIConnectionError        nothing usable came back (network failure, bad body)
    │   └── APITimeoutError
    └── WebhookVerificationError  a webhook delivery that must not be trusted (.reason)

Every error the server answered (an :class:`APIError`, or a server-side
:class:`ValidationError`) carries ``.rate_limit``: the
:class:`~pulse_async.RateLimitInfo` of its ``X-RateLimit-*`` headers, or
``None`` when the answer had none.

Every error carries ``.idempotency_key``: the key the failed call sent (or
``None`` for calls that send none), so the caller can re-send the same
operation later without risking a duplicate. Every error also carries
``.request_id``: the server's id for the request (``X-Request-Id`` or the
error body's ``request_id``), or ``None`` when no response came back — so
``log(error.request_id)`` works in any ``except PulseError``.

A server-side 400 is a :class:`ValidationError` *and* carries the HTTP
attributes (``.status``, ``.code``, ``.request_id``…); a client-side one has
``status`` ``None``. Other statuses without a class of their own (402, 405,
408 when retries are exhausted, 410, 422, …) are a plain :class:`APIError`.

Nothing here prints the API key: messages come from the server's ``message``
field or from our own text, and ``headers`` are the *response* headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pulse_async._core._retry_after import RateLimitInfo

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "ClientMisuseError",
    "ConflictError",
    "NotFoundError",
    "PermissionDeniedError",
    "PulseError",
    "RateLimitError",
    "ServerError",
    "ValidationError",
    "WebhookVerificationError",
]


class PulseError(Exception):
    """Base class of every error raised by pulse-sdk."""

    idempotency_key: str | None = None
    #: The server's id for the request; ``None`` when no response came back.
    request_id: str | None = None

    def __init__(
        self,
        message: str,
        *,
        idempotency_key: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.idempotency_key = idempotency_key
        self.request_id = request_id

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors defeat Exception's default pickling; rebuild from the
        # attributes instead, so errors cross process boundaries (multiprocessing, Celery).
        return (_restore, (type(self), self.message, self.__dict__.copy()))


def _restore(cls: type[PulseError], message: str, state: dict[str, Any]) -> PulseError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class _HTTPDetails:
    """The attributes of an answer from the server (mixed into API errors)."""

    status: int | None
    code: str | None
    field: str | None
    request_id: str | None
    headers: Mapping[str, str]
    #: The answer's ``X-RateLimit-*`` (limit, remaining, reset), or ``None`` without them.
    rate_limit: RateLimitInfo | None

    def _set_http(
        self,
        *,
        status: int | None,
        code: str | None,
        field: str | None,
        request_id: str | None,
        headers: Mapping[str, str] | None,
        rate_limit: RateLimitInfo | None,
    ) -> None:
        self.status = status
        self.code = code
        self.field = field
        self.request_id = request_id
        self.headers = dict(headers or {})
        self.rate_limit = rate_limit

    def _describe(self, message: str) -> str:
        parts = [message]
        details = []
        if self.status is not None:
            details.append(f"status={self.status}")
        if self.code:
            details.append(f"code={self.code}")
        if self.field:
            details.append(f"field={self.field}")
        if self.request_id:
            details.append(f"request_id={self.request_id}")
        if details:
            parts.append("(" + ", ".join(details) + ")")
        return " ".join(parts)


class APIError(_HTTPDetails, PulseError):
    """The server answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        field: str | None = None,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        rate_limit: RateLimitInfo | None = None,
    ) -> None:
        super().__init__(message, idempotency_key=idempotency_key)
        self._set_http(
            status=status,
            code=code,
            field=field,
            request_id=request_id,
            headers=headers,
            rate_limit=rate_limit,
        )

    def __str__(self) -> str:
        return self._describe(self.message)


class AuthenticationError(APIError):
    """401: the API key is missing, malformed or unknown."""


class PermissionDeniedError(APIError):
    """403: the key is valid but not allowed to do this (or a rule such as last admin)."""


class NotFoundError(APIError):
    """404: the resource does not exist (or the endpoint is not supported)."""


class ConflictError(APIError):
    """409: ``code == "conflict"`` (same key in flight, retried) or ``"invalid_state"``."""


class RateLimitError(APIError):
    """429: over the rate limit; ``retry_after`` is the server's wait in seconds, if given."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 429,
        code: str | None = None,
        field: str | None = None,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        retry_after: float | None = None,
        rate_limit: RateLimitInfo | None = None,
    ) -> None:
        super().__init__(
            message,
            status=status,
            code=code,
            field=field,
            request_id=request_id,
            headers=headers,
            idempotency_key=idempotency_key,
            rate_limit=rate_limit,
        )
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx: the server (or a load balancer in front of it) failed."""


class ValidationError(_HTTPDetails, PulseError, ValueError):
    """A field failed validation; ``field`` names it.

    Raised before sending (``status is None``: nothing left the process) or
    from a server's ``400 validation_failed`` (``status == 400``).
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        status: int | None = None,
        code: str | None = "validation_failed",
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        rate_limit: RateLimitInfo | None = None,
    ) -> None:
        super().__init__(message, idempotency_key=idempotency_key)
        self._set_http(
            status=status,
            code=code,
            field=field,
            request_id=request_id,
            headers=headers,
            rate_limit=rate_limit,
        )

    def __str__(self) -> str:
        if self.status is None:
            return f"{self.field}: {self.message}" if self.field else self.message
        return self._describe(self.message)


class ClientMisuseError(PulseError, RuntimeError):
    """The client was used in a way that cannot work; asking again will not help.

    - An ``AsyncPulse`` is bound to the event loop of its first request: using it on another
      loop — typically a client created once and used in two ``asyncio.run()`` calls — raises
      this. Create the client inside the coroutine that ``asyncio.run()`` runs (``async with
      AsyncPulse() as pulse:``), one per loop; ``pulse_sync`` does this for you.
    - A closed client raises it on every call.

    Nothing was sent. It is deliberately *not* an :class:`APIConnectionError`: code that
    retries network errors must not retry this forever.
    """


class APIConnectionError(PulseError):
    """No usable answer came back: the connection failed, broke, or the body was unusable.

    The request may or may not have reached the server; a POST carrying an
    ``idempotency_key`` can be re-sent safely with the same key.
    """

    #: Whether asking again could help (``False`` for an unreadable or oversized body).
    retryable: bool = True

    def __init__(
        self,
        message: str = "connection error",
        *,
        retryable: bool = True,
        idempotency_key: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, idempotency_key=idempotency_key, request_id=request_id)
        self.retryable = retryable


class APITimeoutError(APIConnectionError):
    """A timeout (connect, read, or the call's total deadline) expired."""

    def __init__(
        self, message: str = "request timed out", *, idempotency_key: str | None = None
    ) -> None:
        super().__init__(message, idempotency_key=idempotency_key)


class WebhookVerificationError(PulseError):
    """A webhook delivery that must not be trusted; ``reason`` says why (a short code).

    Raised by :meth:`pulse_async.webhooks.Webhook.verify`. The reasons are listed in
    :data:`pulse_async.webhooks.REFUSAL_REASONS`; the message never quotes a secret.
    """

    def __init__(
        self, message: str, *, reason: str = "untrusted", request_id: str | None = None
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.message} (reason={self.reason})"
