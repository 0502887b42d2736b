"""``AsyncPulse`` and ``AsyncPulsewave``: options, transport, resilience and resources.

Life of a call
--------------
The coroutine :meth:`AsyncClient._run` hands back for a call follows these steps in order:

1. **Build.** A resource method validates its arguments and builds a
   :class:`~pulse_async._core._http.Request`; a POST gets its Idempotency-Key
   here, the same on every attempt.
2. **Open the call.** One small :class:`_Call` holds what the call learns as
   it goes: the key, attempts, seconds throttled, its start and deadline
   (``timeout.total`` from now, or the caller's own deadline if sooner) and
   the last raw response.
3. **Admission**, only when a limiter is set or the server asked the client
   to pause: wait out the pause (each waiter wakes at a random moment just
   after it, so they do not all fire at once), then take the limiter's slot,
   neither past the deadline. A batch item's first admission queues instead,
   and its deadline starts when it is let through (see :mod:`pulse_async._batch`).
4. **Attempt.** The transport sends once, under the call's connect and read
   timeouts and a total of what is left of the deadline;
   :func:`~pulse_async._core._http.decipher` turns the answer into a model or
   an error of the tree.
5. **Success:** the retry budget earns its token back, ``X-RateLimit-*`` keeps
   the limiter in step, the model is returned.
6. **Failure:** a 429 pauses the whole client for its ``Retry-After`` (at
   most ``max_retry_after``), however the call then ends. A DELETE that finds
   404 after an attempt whose fate is unknown (connection error, timeout,
   5xx) succeeds: that attempt may have deleted it. The call goes on only if
   the error is retryable, ``max_retries`` is not reached, the wait fits in
   the deadline and the retry budget pays for it; otherwise it is raised.
7. **Backoff:** ``on_retry`` is told, the wait is slept, and the call goes
   back to step 3.

Steps 3 to 5 are one method, :meth:`AsyncClient._attempt`, for the first
attempt and every retry; after a first retryable failure, tenacity's engine
runs the retries (step 7 and back), loaded only then. A call that succeeds
first time with no limiter and no pause runs steps 1, 2, 4 and 5 only: one
clock read, one small object, no retry machinery. The retry policy itself
(what is retried, backoff, the budget) is pure arithmetic in
:mod:`pulse_async._core._retry`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from types import TracebackType
from typing import Any, ClassVar, Literal, Protocol, Self, TypeVar, cast

import attrs

from pulse_async._batch import QUEUED
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
    retry_after_spread,
    retry_delay,
)
from pulse_async._core._retry_after import parse_rate_limit_headers
from pulse_async._instrument import CallWatch
from pulse_async._instrument import watch as watch_call
from pulse_async._limiter import RateLimiter, make_limiter
from pulse_async._response import APIResponse
from pulse_async._transport import ConnectorFactory, RawResponse, Transport
from pulse_async.errors import (
    APIConnectionError,
    APITimeoutError,
    NotFoundError,
    PulseError,
    RateLimitError,
    ServerError,
)
from pulse_async.resources import AsyncMessages, AsyncPulsewaveMessages, AsyncThreads, AsyncUsers
from pulse_async.resources._raw import AsyncPulsewaveWithRawResponse, AsyncPulseWithRawResponse

__all__ = ["AsyncClient", "AsyncPulse", "AsyncPulsewave", "ClientStats", "RetryEvent", "Sender"]

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


class Sender(Protocol):
    """What the client needs from a transport: send one request once, and close.

    :class:`~pulse_async._transport.Transport` is the real one; the simulation
    tests hand the client an in-process one through ``_transport=``.
    """

    async def send(
        self,
        request: Request,
        *,
        timeout: Timeout,  # noqa: ASYNC109 - per-phase HTTP timeouts (connect, read), not a cancel scope
    ) -> RawResponse:
        """Send ``request`` once under ``timeout`` (``total``: what is left of the call)."""

    async def aclose(self) -> None:
        """Release connections."""


class _Call:
    """One call's state across its attempts (step 2 of the life of a call).

    What a raw response (``.attempts``, ``.elapsed``) or a trace span reports
    about the call is read from here.
    """

    __slots__ = (
        "ambiguous",
        "attempts",
        "deadline",
        "idempotency_key",
        "raw",
        "request",
        "retries",
        "started",
        "throttled",
    )

    def __init__(self, request: Request, started: float, deadline: float) -> None:
        self.request = request
        self.idempotency_key = request.idempotency_key
        #: When the call began, and when it must be over (the client's clock).
        self.started = started
        self.deadline = deadline
        #: Requests sent, and retries waited for.
        self.attempts = 0
        self.retries = 0
        #: Seconds spent held back by a pause or the limiter.
        self.throttled = 0.0
        #: The last answer received, if any.
        self.raw: RawResponse | None = None
        #: An attempt failed in a way that leaves unknown whether the server acted on it.
        self.ambiguous = False


class _Runtime:
    """What every ``with_options`` copy of a client shares."""

    __slots__ = ("budget", "limiter", "pause_spread", "paused_until", "stats", "transport")

    def __init__(self, transport: Sender, limiter: RateLimiter | None) -> None:
        self.transport = transport
        self.limiter = limiter
        self.budget = RetryBudget()
        #: No request leaves before this time (the client's clock): the server asked.
        self.paused_until = 0.0
        #: Calls waiting out the pause wake at random within this many seconds after it.
        self.pause_spread = 0.0
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
        _wall: Callable[[], float] = time.time,
        _transport: Sender | None = None,
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
        self._wall = _wall  # Unix time, for HTTP-date Retry-After
        self._max_retry_after = float(max_retry_after)
        self._on_retry = on_retry
        limiter = make_limiter(rate_limit, clock=_clock, sleep=_sleep)
        transport = Transport(self._options) if _transport is None else _transport
        self._rt = _Runtime(transport, limiter)
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

    # --- the call path (see "Life of a call" in the module docstring) ----------------------

    def _call(
        self, request: Request, structure: Callable[[Any], T], *, deadline: float | None = None
    ) -> Coroutine[Any, Any, T]:
        # Not a coroutine itself: it hands back the first attempt's, one coroutine layer less
        # per call. With a structure, the call returns a model or raises: never None.
        return cast("Coroutine[Any, Any, T]", self._run(self._open(request, deadline), structure))

    def _call_empty(self, request: Request) -> Coroutine[Any, Any, None]:
        return self._run(self._open(request, None), None)

    async def _call_raw(
        self,
        request: Request,
        structure: Callable[[Any], T] | None,
        *,
        deadline: float | None = None,
    ) -> APIResponse[T | None]:
        """The call of ``with_raw_response``: the model with the call's metadata."""
        call = self._open(request, deadline)
        result = await self._run(call, structure)
        raw = call.raw
        assert raw is not None  # a call that returned had an answer
        return APIResponse(
            status=raw.status,
            headers=raw.headers,
            parsed=result,
            attempts=call.attempts,
            elapsed=self._clock() - call.started,
            idempotency_key=call.idempotency_key,
        )

    def _open(self, request: Request, deadline: float | None) -> _Call:
        """2. The call's state and deadline."""
        now = self._clock()
        call = _Call(request, now, now + self._options.timeout.total)
        if deadline is not None and deadline < call.deadline:
            call.deadline = deadline
        return call

    def _run(
        self, call: _Call, structure: Callable[[Any], T] | None
    ) -> Coroutine[Any, Any, T | None]:
        """The call's coroutine: its first attempt, which goes on to the retries if need be.

        Tracing or DEBUG logging on: the call runs in its span, each attempt through the
        watcher. Off (the usual case): this one question is all it costs.
        """
        sender = self._rt.transport
        watch = watch_call(self._options.base_url, call.request, call, sender)
        if watch is not None:
            return watch.run(self._attempt(call, structure, watch))
        return self._attempt(call, structure, sender)

    async def _attempt(
        self,
        call: _Call,
        structure: Callable[[Any], T] | None,
        sender: Sender | CallWatch,
        *,
        retrying: bool = False,
    ) -> T | None:
        """Steps 3 to 5, once: admission, one attempt, its answer (every attempt of a call).

        The first attempt (``retrying`` false) also decides, on a failure, whether the call
        goes on (step 6) and hands over to :meth:`_retry`; a retry's failure goes back to
        tenacity's engine, which asks the same question.
        """
        rt = self._rt
        request = call.request
        try:
            now = self._clock() if call.attempts else call.started
            # 3. Admission: a server-requested pause, then the limiter's slot.
            if rt.limiter is not None or rt.paused_until > now:
                await self._admit(call)
                now = self._clock()
            # 4. One attempt, bounded by what is left of the deadline.
            remaining = call.deadline - now
            if remaining <= 0:
                raise APITimeoutError(
                    f"{request.method} {request.path}: the call's deadline passed",
                    idempotency_key=call.idempotency_key,
                )
            timeout = self._options.timeout
            if remaining < timeout.total:
                # The total bounds connect and read too; they stay as set (one aiohttp
                # timeout object each, built once by the transport).
                timeout = Timeout(connect=timeout.connect, read=timeout.read, total=remaining)
            # else: the first attempt of an unthrottled call, no new object
            call.attempts += 1
            rt.stats.attempts += 1
            try:
                raw = call.raw = await sender.send(request, timeout=timeout)
                result = decipher(
                    raw.status,
                    raw.headers,
                    raw.body,
                    structure,
                    idempotency_key=call.idempotency_key,
                    now=self._wall,
                )
            except PulseError as exc:
                if exc.idempotency_key is None:
                    exc.idempotency_key = call.idempotency_key
                if call.ambiguous and request.method == "DELETE" and isinstance(exc, NotFoundError):
                    # An earlier attempt may have deleted it, its answer lost: gone as asked.
                    rt.budget.on_success(call.retries)
                    return None
                raise
            # 5. Success.
            rt.budget.on_success(call.retries)
            if rt.limiter is not None:
                await self._observe(raw)
            return result
        except PulseError as exc:
            if retrying:
                raise  # to tenacity's engine, which decides (see _retry)
            # 6. Failure: pause on 429, then retry or raise.
            delay = await self._after_failure(call, exc)
            if delay is None:
                raise
            first = exc
        # Retried outside the ``except``, so no later error carries this one as its context.
        return await self._retry(call, structure, sender, first, delay)

    async def _retry(
        self,
        call: _Call,
        structure: Callable[[Any], T] | None,
        sender: Sender | CallWatch,
        cause: PulseError,
        delay: float,
    ) -> T | None:
        """Step 7 and what follows: the retries, on tenacity's engine.

        Entered only after a first retryable failure, so a process whose calls succeed
        never loads tenacity. The decisions stay ours (:meth:`_after_failure`: the pure
        policy of :mod:`pulse_async._core._retry`, the deadline and the budget); tenacity
        runs the loop, sleeping on the client's injected sleep. Every attempt goes through
        :meth:`_attempt`, as the first did.
        """
        import tenacity  # here: loaded on the first retry, never on the success path

        delays = [delay]

        async def should_retry(state: tenacity.RetryCallState) -> bool:
            assert state.outcome is not None
            error = state.outcome.exception()
            if not isinstance(error, PulseError):
                return False  # cancelled, or a bug: raised as it is
            next_delay = await self._after_failure(call, error)
            if next_delay is None:
                return False
            delays.append(next_delay)
            return True

        def before_sleep(state: tenacity.RetryCallState) -> None:
            assert state.outcome is not None
            error = state.outcome.exception()
            assert isinstance(error, PulseError)
            self._before_retry(call, error, delays[-1])

        retrying = tenacity.AsyncRetrying(
            retry=should_retry,
            wait=lambda _state: delays[-1],
            stop=tenacity.stop_never,  # max_retries, the deadline and the budget decide
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        # 7. Backoff after the first failure (decided by the caller), then back to step 3.
        self._before_retry(call, cause, delay)
        await self._sleep(delay)
        result: T | None = await retrying(self._attempt, call, structure, sender, retrying=True)
        return result

    async def _after_failure(self, call: _Call, error: PulseError) -> float | None:
        """How long to wait before retrying ``call`` after ``error``; ``None``: raise it.

        A 429 pauses the whole client first, whether or not the call goes on.
        """
        if isinstance(error, RateLimitError):
            await self._on_rate_limited(error)
        if call.attempts > self._options.max_retries or not is_retryable(error):
            return None
        if isinstance(error, APIConnectionError | ServerError):
            call.ambiguous = True  # the server may have acted on it before the answer was lost
        delay = retry_delay(
            error,
            call.attempts,
            self._rng,
            now=self._wall(),
            max_retry_after=self._max_retry_after,
        )
        if delay is None:  # the server asks for longer than we are willing to wait
            return None
        if self._clock() + delay >= call.deadline:
            return None
        rt = self._rt
        if not rt.budget.try_spend():
            rt.stats.budget_exhausted += 1
            return None
        return delay

    def _before_retry(self, call: _Call, cause: PulseError, delay: float) -> None:
        """Count, log and report the retry about to be waited for."""
        call.retries += 1
        self._rt.stats.retries += 1
        request = call.request
        log.info(
            "retrying %s %s in %.2fs (retry %d of %d): %s",
            request.method,
            request.path,
            delay,
            call.retries,
            self._options.max_retries,
            type(cause).__name__,
        )
        if self._on_retry is not None:
            self._on_retry(
                RetryEvent(
                    attempt=call.retries,
                    delay=delay,
                    cause=cause,
                    method=request.method,
                    path=request.path,
                    idempotency_key=call.idempotency_key,
                )
            )

    async def _admit(self, call: _Call) -> None:
        """Step 3: wait for a pause the server asked for, then for the limiter's slot.

        Neither wait runs past the call's deadline: a slot or a pause's end beyond it is an
        :class:`APITimeoutError` at once, with nothing booked. A batch item's first
        admission queues instead (no bound), and its deadline starts once let through.
        ``stats.throttled`` counts attempts held back here (once each, however they waited).
        """
        rt = self._rt
        queued = call.attempts == 0 and QUEUED.get()
        now = self._clock()
        held = 0.0
        try:
            while True:
                paused_until = rt.paused_until
                if paused_until > now:
                    if paused_until >= call.deadline and not queued:
                        raise APITimeoutError(
                            "the server's Retry-After runs past the call's deadline"
                        )
                    # Spread the wake-up, so the calls held back do not all fire at once.
                    wake = paused_until + self._rng.random() * rt.pause_spread
                    if not queued and wake > call.deadline:
                        wake = call.deadline
                    await self._sleep(wake - now)
                    held += wake - now
                if rt.limiter is not None:
                    max_wait = math.inf if queued else call.deadline - self._clock()
                    held += await rt.limiter.acquire(max_wait) or 0.0
                now = self._clock()
                if rt.paused_until == paused_until or rt.paused_until <= now:
                    break
                # A 429 came back while this call waited: its pause comes first, and the
                # limiter (paused too) books a new slot after it.
        except PulseError as exc:
            if exc.idempotency_key is None:
                exc.idempotency_key = call.idempotency_key
            raise
        if held > 0:
            call.throttled += held
            rt.stats.throttled += 1
        if queued:
            call.deadline = self._clock() + self._options.timeout.total

    async def _on_rate_limited(self, error: RateLimitError) -> None:
        """A 429: hold the whole client back, not just this call, however the call ends.

        The pause lasts the ``Retry-After`` (at most ``max_retry_after``); a 429 without
        a usable one pauses nothing (the call's own backoff still applies).
        """
        rt = self._rt
        rt.stats.rate_limited += 1
        wait = error.retry_after
        if wait is None or wait <= 0:
            return
        wait = min(wait, self._max_retry_after)
        until = self._clock() + wait
        if until > rt.paused_until:
            rt.paused_until = until
            rt.pause_spread = retry_after_spread(wait)
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
    call: its wait for the rate limiter and for a pause the server asked for,
    every attempt and every backoff; a limiter slot or a pause that would end
    past it fails the call at once with ``APITimeoutError``, booking nothing;
    items of ``send_many`` count from when they are let through the limiter);
    ``with_options(timeout=Timeout(connect=..., read=..., total=...))``
    applies all three to its calls; ``max_retries`` (default 2) counts retries after
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

    @property
    def with_raw_response(self) -> AsyncPulseWithRawResponse:
        """The same methods, each returning an :class:`~pulse_async.APIResponse`.

        The response carries the model (``.parse()``) with the request id, the
        rate-limit state, whether it was an idempotent replay, the attempts
        made and the time taken; list methods' ``.pages()`` yield one per page::

            response = pulse.with_raw_response.messages.send(to=["usr_1"], subject="Hi", body="…")
        """
        return AsyncPulseWithRawResponse(self)


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

    @property
    def with_raw_response(self) -> AsyncPulsewaveWithRawResponse:
        """The same methods, each returning an :class:`~pulse_async.APIResponse`.

        The response carries the model (``.parse()``) with the request id, the
        rate-limit state, whether it was an idempotent replay, the attempts
        made and the time taken.
        """
        return AsyncPulsewaveWithRawResponse(self)
