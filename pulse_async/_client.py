"""``AsyncPulse`` and ``AsyncPulsewave``: options, transport, resilience and resources.

A call goes: resource method (validate, build) → :meth:`AsyncClient._call` →
rate limiter (only if one is set, or the server asked us to pause) →
transport → :func:`decipher`. A call that succeeds first time touches
neither tenacity nor the retry budget's slow path; only after a first
retryable failure does the tenacity loop take over, with the pure policy of
:mod:`pulse_async._core._retry` deciding.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, TypeVar, cast

import attrs

from pulse_async._core._http import Request, decipher
from pulse_async._core._options import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    PULSE_BASE_URL,
    PULSE_KEY_VARIABLES,
    PULSEWAVE_BASE_URL,
    PULSEWAVE_KEY_VARIABLES,
    ClientOptions,
    Timeout,
    check_max_retries,
    resolve_options,
)
from pulse_async._core._retry import (
    DEFAULT_MAX_RETRY_AFTER,
    RetryBudget,
    is_retryable,
    retry_delay,
    server_retry_after,
)
from pulse_async._core._retry_after import parse_rate_limit_headers
from pulse_async._limiter import RateLimiter, make_limiter
from pulse_async._transport import ConnectorFactory, RawResponse, Transport
from pulse_async.errors import APITimeoutError, PulseError, RateLimitError
from pulse_async.resources import AsyncMessages, AsyncPulsewaveMessages, AsyncThreads, AsyncUsers

if TYPE_CHECKING:
    import tenacity

__all__ = ["AsyncClient", "AsyncPulse", "AsyncPulsewave", "ClientStats", "RetryEvent"]

T = TypeVar("T")
log = logging.getLogger("pulse_async")


@attrs.frozen(kw_only=True)
class RetryEvent:
    """What ``on_retry`` is told: which retry is next, after how long, and why."""

    attempt: int
    delay: float
    cause: PulseError
    method: str
    path: str
    idempotency_key: str | None


@attrs.define
class ClientStats:
    """Counters for one client (shared by its ``with_options`` copies)."""

    #: Requests sent, retries included.
    attempts: int = 0
    #: Retries made after a failed attempt.
    retries: int = 0
    #: 429 answers received.
    rate_limited: int = 0
    #: Attempts held back before sending (by the limiter, or a 429's pause), each once.
    throttled: int = 0
    #: Retries refused because the retry budget was spent.
    budget_exhausted: int = 0


class _Runtime:
    """What every ``with_options`` copy of a client shares."""

    __slots__ = ("budget", "limiter", "paused_until", "stats", "transport")

    def __init__(self, transport: Transport, limiter: RateLimiter | None) -> None:
        self.transport = transport
        self.limiter = limiter
        self.budget = RetryBudget()
        self.paused_until = 0.0
        self.stats = ClientStats()


class AsyncClient:
    """What :class:`AsyncPulse` and :class:`AsyncPulsewave` share: options, connections, calls.

    Not made directly; annotate with it to accept either client. It is public so that type
    checkers name it (not a private class) in their messages.
    """

    _default_base_url: ClassVar[str]
    _env_base_url: ClassVar[tuple[str, ...]] = ("PULSE_BASE_URL",)
    _env_api_key: ClassVar[tuple[str, ...]] = PULSE_KEY_VARIABLES

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        rate_limit: RateLimiter | str | float | None = None,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        on_retry: Callable[[RetryEvent], object] | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        verify_ssl: bool = True,
        default_headers: Mapping[str, str] | None = None,
        proxy: str | Literal[False] | None = None,
        connector_factory: ConnectorFactory | None = None,
        _clock: Callable[[], float] = time.monotonic,
        _sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        _rng: random.Random | None = None,
    ) -> None:
        self._options = resolve_options(
            api_key=api_key,
            base_url=base_url,
            default_base_url=self._default_base_url,
            env_base_url=self._env_base_url,
            env_api_key=self._env_api_key,
            timeout=timeout,
            max_retries=max_retries,
            max_response_bytes=max_response_bytes,
            max_connections=max_connections,
            verify_ssl=verify_ssl,
            default_headers=default_headers,
            proxy=proxy,
            connector_factory=connector_factory,
        )
        self._clock = _clock
        self._sleep = _sleep
        self._rng = _rng or random.Random()
        self._max_retry_after = float(max_retry_after)
        self._on_retry = on_retry
        limiter = make_limiter(rate_limit, clock=_clock, sleep=_sleep)
        self._rt = _Runtime(Transport(self._options), limiter)
        self._owner = True
        self._bind_resources()

    def _bind_resources(self) -> None:
        raise NotImplementedError

    # --- public ---------------------------------------------------------------------------

    @property
    def options(self) -> ClientOptions:
        """The options this client was configured with (the key is hidden from its repr)."""
        return self._options

    @property
    def stats(self) -> ClientStats:
        """Attempts, retries, 429s and throttled calls so far."""
        return self._rt.stats

    @property
    def rate_limiter(self) -> RateLimiter | None:
        """The client-side rate limiter, if any."""
        return self._rt.limiter

    def with_options(
        self,
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
    ) -> Self:
        """A copy for some calls with other options, sharing connections, limiter and budget.

        Example::

            await pulse.with_options(max_retries=0, timeout=5).messages.send(...)
        """
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        changes: dict[str, Any] = {}
        if timeout is not None:
            changes["timeout"] = Timeout.coerce(timeout)
        if max_retries is not None:
            changes["max_retries"] = check_max_retries(max_retries)
        clone._options = attrs.evolve(self._options, **changes)
        clone._owner = False
        clone._bind_resources()
        return clone

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._options.base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close connections. Safe to call twice; a ``with_options`` copy closes nothing."""
        if self._owner:
            await self._rt.transport.aclose()

    async def close(self) -> None:
        """Alias of :meth:`aclose`."""
        await self.aclose()

    # --- the call path --------------------------------------------------------------------

    async def _call(self, request: Request, structure: Callable[[Any], T]) -> T:
        # With a structure, decipher returns a model or raises: never None.
        return cast(T, await self._send(request, structure))

    async def _call_empty(self, request: Request) -> None:
        await self._send(request, None)

    async def _send(self, request: Request, structure: Callable[[Any], T] | None) -> T | None:
        rt = self._rt
        start = self._clock()
        total = self._options.timeout.total
        try:
            if rt.limiter is not None or rt.paused_until > start:
                await self._admit(start + total)
                remaining = start + total - self._clock()
                if remaining <= 0:  # aiohttp reads a total timeout <= 0 as "none at all"
                    raise APITimeoutError(
                        f"{request.method} {request.path}: the call's deadline passed"
                    )
            else:
                remaining = total
            rt.stats.attempts += 1
            raw = await rt.transport.send(request, total_timeout=remaining)
            result = decipher(
                raw.status,
                raw.headers,
                raw.body,
                structure,
                idempotency_key=request.idempotency_key,
            )
        except PulseError as exc:
            error = exc
        else:
            rt.budget.on_success(0)
            if rt.limiter is not None:
                await self._observe(raw)
            return result
        if error.idempotency_key is None:
            error.idempotency_key = request.idempotency_key
        if self._options.max_retries == 0 or not is_retryable(error):
            if isinstance(error, RateLimitError):
                await self._on_rate_limited(error)
            raise error
        return await self._retry(request, structure, error, start + total)

    async def _attempt(
        self, request: Request, structure: Callable[[Any], T] | None, deadline: float
    ) -> T | None:
        await self._admit(deadline)
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise APITimeoutError(
                f"{request.method} {request.path}: the call's deadline passed",
                idempotency_key=request.idempotency_key,
            )
        rt = self._rt
        rt.stats.attempts += 1
        raw = await rt.transport.send(request, total_timeout=remaining)
        result = decipher(
            raw.status, raw.headers, raw.body, structure, idempotency_key=request.idempotency_key
        )
        if rt.limiter is not None:
            await self._observe(raw)
        return result

    async def _retry(
        self,
        request: Request,
        structure: Callable[[Any], T] | None,
        first_error: PulseError,
        deadline: float,
    ) -> T | None:
        """The slow path, entered after a first retryable failure."""
        # Imported here: a process whose calls all succeed never pays for loading tenacity.
        import tenacity

        rt = self._rt
        max_retries = self._options.max_retries
        pending = [first_error]
        delays: list[float] = []

        async def attempt() -> T | None:
            if pending:
                raise pending.pop()
            return await self._attempt(request, structure, deadline)

        def should_retry(state: tenacity.RetryCallState) -> bool:
            assert state.outcome is not None
            exc = state.outcome.exception()
            if not isinstance(exc, PulseError):
                return False
            if exc.idempotency_key is None:
                exc.idempotency_key = request.idempotency_key
            if state.attempt_number > max_retries or not is_retryable(exc):
                return False
            delay = retry_delay(
                exc,
                state.attempt_number,
                self._rng,
                now=time.time(),
                max_retry_after=self._max_retry_after,
            )
            if delay is None:  # the server asks for longer than we are willing to wait
                return False
            if self._clock() + delay >= deadline:
                return False
            if not rt.budget.try_spend():
                rt.stats.budget_exhausted += 1
                return False
            delays.append(delay)
            return True

        def wait(_state: tenacity.RetryCallState) -> float:
            return delays[-1]

        async def before_sleep(state: tenacity.RetryCallState) -> None:
            assert state.outcome is not None
            cause = state.outcome.exception()
            assert isinstance(cause, PulseError)
            delay = delays[-1]
            rt.stats.retries += 1
            if isinstance(cause, RateLimitError):
                await self._on_rate_limited(cause)
            log.info(
                "retrying %s %s in %.2fs (retry %d of %d): %s",
                request.method,
                request.path,
                delay,
                state.attempt_number,
                max_retries,
                type(cause).__name__,
            )
            if self._on_retry is not None:
                self._on_retry(
                    RetryEvent(
                        attempt=state.attempt_number,
                        delay=delay,
                        cause=cause,
                        method=request.method,
                        path=request.path,
                        idempotency_key=request.idempotency_key,
                    )
                )

        retrying = tenacity.AsyncRetrying(
            retry=should_retry,
            wait=wait,
            stop=tenacity.stop_never,
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        result: T | None = await retrying(attempt)
        rt.budget.on_success(len(delays))
        return result

    async def _admit(self, deadline: float) -> None:
        """Wait for a pause the server asked for, then for the limiter's slot.

        ``stats.throttled`` counts attempts held back here (once each, however they waited).
        """
        rt = self._rt
        now = self._clock()
        held = False
        if rt.paused_until > now:
            wait = rt.paused_until - now
            if now + wait >= deadline:
                raise APITimeoutError("the server's Retry-After runs past the call's deadline")
            held = True
            await self._sleep(wait)
            now = self._clock()
        if rt.limiter is not None and await rt.limiter.acquire(deadline - now):
            held = True
        if held:
            rt.stats.throttled += 1

    async def _on_rate_limited(self, error: RateLimitError) -> None:
        """A 429: hold the whole client back, not just this call."""
        rt = self._rt
        rt.stats.rate_limited += 1
        wait = server_retry_after(error, time.time())
        if wait is None or wait > self._max_retry_after:
            return
        rt.paused_until = max(rt.paused_until, self._clock() + wait)
        if rt.limiter is not None:
            await rt.limiter.pause(wait)

    async def _observe(self, raw: RawResponse) -> None:
        """Keep the limiter in step with ``X-RateLimit-*`` when the server says we are out."""
        remaining = raw.headers.get("X-RateLimit-Remaining")
        if remaining is None or remaining.strip() != "0":
            return
        info = parse_rate_limit_headers(raw.headers)
        if info is not None and info.reset is not None and self._rt.limiter is not None:
            await self._rt.limiter.pause(info.reset)


class AsyncPulse(AsyncClient):
    """The Pulse v2 (workspace) API: users, messages to members, threads.

    Example::

        async with AsyncPulse() as pulse:                 # key from $PULSE_API_KEY
            receipt = await pulse.messages.send(to=["usr_123"], subject="Hi", body="Hello")
            async for user in pulse.users.list(status="active"):
                print(user.email)

    ``timeout`` is a :class:`Timeout` or a number (the total deadline of a
    call, retries included); ``max_retries`` (default 2) counts retries after
    the first attempt; ``rate_limit`` is a plan name (``"free"``, ``"pro"``),
    requests per minute, a limiter object, or ``None`` (default: no
    client-side limit, but a 429 still pauses the whole client).
    """

    _default_base_url = PULSE_BASE_URL

    users: AsyncUsers
    messages: AsyncMessages
    threads: AsyncThreads

    def _bind_resources(self) -> None:
        self.users = AsyncUsers(self)
        self.messages = AsyncMessages(self)
        self.threads = AsyncThreads(self)


class AsyncPulsewave(AsyncClient):
    """The Pulsewave v1 (delivery) API: one message on one channel.

    Example::

        async with AsyncPulsewave() as pw:
            msg = await pw.messages.create(
                channel="email", to="ada@example.com", from_="news@example.com",
                subject="Hello", text="Hi Ada",
            )
            msg = await pw.messages.retrieve(msg.id)

    Takes the same options as :class:`AsyncPulse`.
    """

    _default_base_url = PULSEWAVE_BASE_URL
    _env_base_url = ("PULSEWAVE_BASE_URL", "PULSE_BASE_URL")
    _env_api_key = PULSEWAVE_KEY_VARIABLES

    messages: AsyncPulsewaveMessages

    def _bind_resources(self) -> None:
        self.messages = AsyncPulsewaveMessages(self)
