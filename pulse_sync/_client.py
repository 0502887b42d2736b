"""``Pulse`` and ``Pulsewave``: the blocking twins of ``AsyncPulse`` and ``AsyncPulsewave``.

A sync client owns one async client (through a :class:`~pulse_sync._loop.Binding`)
and no logic of its own: every method builds the async call in the caller's
thread and runs it on the loop thread (:func:`pulse_sync._loop.run`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Generic, Literal, Self, TypeVar

from pulse_async import (
    AsyncPulse,
    AsyncPulsewave,
    ClientOptions,
    ClientStats,
    RateLimiter,
    RetryEvent,
    Timeout,
)
from pulse_async.constants import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_AFTER,
)
from pulse_sync import _loop
from pulse_sync._loop import Binding
from pulse_sync._raw import PulsewaveWithRawResponse, PulseWithRawResponse

if TYPE_CHECKING:
    from pulse_async import ConnectorFactory
from pulse_sync.resources import Messages, PulsewaveMessages, Threads, Users

__all__ = ["Client", "Pulse", "Pulsewave"]

A = TypeVar("A", AsyncPulse, AsyncPulsewave)


def _same(client: A) -> A:
    return client


class Client(Generic[A]):
    """What :class:`Pulse` and :class:`Pulsewave` share: the binding, ``with_options`` copies,
    closing.

    Not made directly; annotate with it to accept either client. It is public so that type
    checkers name it (not a private class) in their messages.
    """

    _binding: Binding[A]
    _derive: Callable[[A], A]
    _owner: bool
    _pid: int
    _client: A
    _within: float

    # The defaults are AsyncPulse's, from their one home (pulse_async.constants), so that
    # they show in signatures and IDEs; test_sync_surface checks they agree.
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
    ) -> None:
        factory = functools.partial(
            self._async_type(),
            api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            rate_limit=rate_limit,
            max_retry_after=max_retry_after,
            on_retry=on_retry,
            max_response_bytes=max_response_bytes,
            max_connections=max_connections,
            verify_ssl=verify_ssl,
            default_headers=default_headers,
            proxy=proxy,
            connector_factory=connector_factory,
        )
        # The binding hands the client's rate limiter (perhaps the caller's, shared) to the
        # exit hook of the process that uses it: closing this client leaves it open.
        self._setup(Binding(factory), _same, owner=True)

    @staticmethod
    def _async_type() -> Callable[..., A]:
        raise NotImplementedError

    def _bind_resources(self) -> None:
        raise NotImplementedError

    def _setup(self, binding: Binding[A], derive: Callable[[A], A], *, owner: bool) -> None:
        self._binding = binding
        self._derive = derive
        self._owner = owner
        self._client = derive(binding.client())
        self._pid = _loop.pid
        # How long a call's caller waits (its total timeout, plus the handoff's grace): the
        # options of a client never change, a forked child's client is made from the same.
        self._within = self._client.options.timeout.total
        self._bind_resources()

    def _async(self) -> A:
        """The async client of this process: the hot path, one compare (no system call)."""
        if self._pid == _loop.pid:
            return self._client
        # Forked: the child gets its own async client (and session) on first use.
        self._client = self._derive(self._binding.client())
        self._pid = _loop.pid
        return self._client

    # --- public ---------------------------------------------------------------------------

    @property
    def options(self) -> ClientOptions:
        """The options this client was configured with (the key is hidden from its repr)."""
        return self._async().options

    @property
    def stats(self) -> ClientStats:
        """Attempts, retries, 429s and throttled calls so far."""
        return self._async().stats

    @property
    def rate_limiter(self) -> RateLimiter | None:
        """The client-side rate limiter, if any."""
        return self._async().rate_limiter

    def with_options(
        self,
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
    ) -> Self:
        """A copy for some calls with other options, sharing connections, limiter and budget.

        Example::

            pulse.with_options(max_retries=0, timeout=5).messages.send(...)
        """
        derive = self._derive

        def derive_copy(client: A) -> A:
            return derive(client).with_options(timeout=timeout, max_retries=max_retries)

        clone = object.__new__(type(self))
        clone._setup(self._binding, derive_copy, owner=False)
        return clone

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.options.base_url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close connections. Safe to call twice; a ``with_options`` copy closes nothing."""
        if self._owner:
            self._binding.close()


class Pulse(Client[AsyncPulse]):
    """The Pulse v2 (workspace) API: users, messages to members, threads.

    Example::

        with Pulse() as pulse:                 # key from $PULSE_API_KEY
            receipt = pulse.messages.send(to=["usr_123"], subject="Hi", body="Hello")
            for user in pulse.users.list(status="active"):
                print(user.email)

    ``timeout`` is a :class:`Timeout` or a number (the total deadline of a
    call, retries included); ``max_retries`` (default 2) counts retries after
    the first attempt; ``rate_limit`` is a plan name (``"free"``, ``"pro"``),
    requests per minute, a limiter object, or ``None`` (default: no
    client-side limit, but a 429 still pauses the whole client).

    Calls run on one event-loop thread per process (``pulse-sync-loop``), so
    they work the same in a script, a thread pool, a forked worker and a
    Jupyter cell. ``on_retry`` is called on that thread: it must not call the
    sync client (that raises :class:`~pulse_sync.LoopThreadError`).
    """

    users: Users
    messages: Messages
    threads: Threads

    @staticmethod
    def _async_type() -> type[AsyncPulse]:
        return AsyncPulse

    def _bind_resources(self) -> None:
        self.users = Users(self)
        self.messages = Messages(self)
        self.threads = Threads(self)

    @property
    def with_raw_response(self) -> PulseWithRawResponse:
        """The same methods, each returning an :class:`~pulse_async.APIResponse`.

        The response carries the model (``.parse()``) with the request id, the
        rate-limit state, whether it was an idempotent replay, the attempts
        made and the time taken; list methods' ``.pages()`` yield one per page::

            response = pulse.with_raw_response.messages.send(to=["usr_1"], subject="Hi", body="…")
        """
        return PulseWithRawResponse(self)


class Pulsewave(Client[AsyncPulsewave]):
    """The Pulsewave v1 (delivery) API: one message on one channel.

    Example::

        with Pulsewave() as pw:
            msg = pw.messages.create(
                channel="email", to="ada@example.com", from_="news@example.com",
                subject="Hello", text="Hi Ada",
            )
            msg = pw.messages.retrieve(msg.id)

    Takes the same options as :class:`Pulse`.
    """

    messages: PulsewaveMessages

    @staticmethod
    def _async_type() -> type[AsyncPulsewave]:
        return AsyncPulsewave

    def _bind_resources(self) -> None:
        self.messages = PulsewaveMessages(self)

    @property
    def with_raw_response(self) -> PulsewaveWithRawResponse:
        """The same methods, each returning an :class:`~pulse_async.APIResponse`.

        The response carries the model (``.parse()``) with the request id, the
        rate-limit state, whether it was an idempotent replay, the attempts
        made and the time taken.
        """
        return PulsewaveWithRawResponse(self)
