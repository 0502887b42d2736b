"""The transport: the only client-side module that imports aiohttp.

It owns one ``ClientSession`` per client (created lazily, inside the running
loop), sends a signed :class:`~pulse_async._core._http.Request`, reads the
body under a size cap and hands back ``(status, headers, body)``. aiohttp's
exceptions become :class:`~pulse_async.errors.APIConnectionError` or
:class:`~pulse_async.errors.APITimeoutError` *without* chaining the aiohttp
object: its repr carries the request headers, and so the API key.

Retries and rate limiting wrap :meth:`Transport.send` in the client; nothing
here retries.

Proxies: the session keeps ``trust_env=False`` (aiohttp would otherwise read the proxy
variables *and* ``~/.netrc``, whose credentials must never reach our requests). The proxy
resolved by :mod:`pulse_async._core._proxy` goes on each request as ``proxy=``; its
credentials travel as ``Proxy-Authorization`` — on the CONNECT of an ``https://`` API, or on
the request itself (which only the proxy reads) for a plain ``http://`` loopback API.

``connector_factory`` (the escape hatch: a custom TLS context, client certificates, a
resolver, a Unix socket) is called here, inside the loop that first uses the client, each
time a session is made (again in a forked child); the session owns and closes what it
returns.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Callable, Mapping
from typing import Any, cast

import aiohttp
from aiohttp.client_proto import ResponseHandler

from pulse_async._core._http import Request, encode_json, redacted, sign
from pulse_async._core._options import ClientOptions, Timeout
from pulse_async._watchdog import Watchdog
from pulse_async.errors import (
    APIConnectionError,
    APITimeoutError,
    ClientMisuseError,
    ValidationError,
)

__all__ = ["ConnectorFactory", "RawResponse", "Transport"]

#: What ``connector_factory=`` takes: called with no argument, inside the running loop.
ConnectorFactory = Callable[[], aiohttp.BaseConnector]

log = logging.getLogger("pulse_async.transport")


class RawResponse:
    """What came back: status, response headers (case-insensitive) and the whole body.

    A plain slotted class, not attrs: it is built once per call on the hot path.
    """

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"RawResponse(status={self.status}, body={len(self.body)} bytes)"


class _ReadTimer(ResponseHandler):
    """aiohttp's connection protocol, with a ``sock_read`` timer that is not remade per read.

    aiohttp enforces ``sock_read`` ("at most this long between two reads") by cancelling
    and re-making a loop timer when a request is sent, on every chunk received, and
    once more when the body ends: two timers made and cancelled per small request. Here
    the chunk only moves a due time forward; the one timer per connection stays armed and,
    when it fires, either raises the timeout (nothing read since the due time) or re-arms
    for the new due time. A pooled idle connection's timer finds nothing to do and lapses.

    It overrides aiohttp's two private timer methods (``_reschedule_timeout``,
    ``_drop_timeout``) and calls a third (``_on_read_timeout``); :data:`LAZY_READ_TIMER`
    says whether this aiohttp still has them (else the stock protocol is used: correct,
    slower), and a test fails if it does not, so a rename cannot pass silently.
    """

    _read_due = 0.0  # loop time by which the next read must come; 0.0: not reading

    def _reschedule_timeout(self) -> None:
        timeout = self._read_timeout
        if not timeout:
            self._read_due = 0.0
            return
        self._read_due = due = self._loop.time() + timeout
        if self._read_timeout_handle is None:
            self._read_timeout_handle = self._loop.call_at(due, self._read_timer_fired)

    def _drop_timeout(self) -> None:
        self._read_due = 0.0  # the timer lapses when it fires

    def _read_timer_fired(self) -> None:
        self._read_timeout_handle = None
        due = self._read_due
        if not due:
            return  # nothing being read: let it lapse
        if self._loop.time() >= due:
            self._read_due = 0.0
            self._on_read_timeout()
        else:
            self._read_timeout_handle = self._loop.call_at(due, self._read_timer_fired)

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        handle, self._read_timeout_handle = self._read_timeout_handle, None
        if handle is not None:
            handle.cancel()


#: Whether this aiohttp has the private methods :class:`_ReadTimer` overrides and calls.
LAZY_READ_TIMER = all(
    callable(getattr(ResponseHandler, name, None))
    for name in ("_reschedule_timeout", "_drop_timeout", "_on_read_timeout")
)


class Transport:
    """Sends requests for one client over one lazily created ``aiohttp.ClientSession``."""

    def __init__(self, options: ClientOptions) -> None:
        self._options = options
        self._base_url = options.base_url
        signed = sign(options, aiohttp.__version__)
        #: ``proxy=`` and ``proxy_headers=`` for every request (empty without a proxy).
        self._proxy_args: dict[str, Any] = {}
        proxy = options.proxy
        if proxy is None:
            #: The session's headers: without a proxy, the signed ones. aiohttp merges them
            #: into each request in C; passed per request they cost a Python loop over each,
            #: twice.
            self._session_headers: dict[str, str] | None = signed
            #: What every request passes itself (never mutated).
            self._request_headers: dict[str, str] = {}
        else:
            # With a proxy, aiohttp merges the session's headers into the proxy's too: the
            # API key would reach the proxy (as Proxy-Authorization, on plain HTTP). So the
            # signed headers go with each request, and the session has none.
            self._session_headers = None
            self._request_headers = signed
            self._proxy_args["proxy"] = proxy.url
            if proxy.authorization is not None:
                credential = redacted(proxy.authorization)
                if self._base_url.startswith("https:"):
                    self._proxy_args["proxy_headers"] = {"Proxy-Authorization": credential}
                else:
                    signed["Proxy-Authorization"] = credential
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        #: aiohttp's per-phase timeouts by (connect, read); the total is the watchdog's.
        self._phase_timeouts: dict[tuple[float, float], aiohttp.ClientTimeout] = {}
        self._timeout = self._phase_timeout(options.timeout)
        self._watchdog: Watchdog | None = None
        #: The signed headers' names, lower-cased: a request's own headers never replace them.
        self._signed = frozenset(name.lower() for name in signed)
        self._max_body = options.max_response_bytes
        if not options.verify_ssl:
            log.warning("TLS certificate verification is OFF for %s", options.base_url)

    def __repr__(self) -> str:
        return f"<Transport {self._base_url}>"

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def _new_connector(self) -> aiohttp.BaseConnector:
        factory = self._options.connector_factory
        if factory is not None:
            connector = factory()
            if not isinstance(connector, aiohttp.BaseConnector):
                raise ValidationError(
                    f"must return an aiohttp connector, got {type(connector).__name__}",
                    field="connector_factory",
                )
            return connector
        ssl_arg: ssl.SSLContext | bool = bool(self._options.verify_ssl)
        connector = aiohttp.TCPConnector(
            limit=self._options.max_connections,
            ssl=ssl_arg,
            enable_cleanup_closed=False,
        )
        if LAZY_READ_TIMER:
            # aiohttp's private protocol factory (see _ReadTimer).
            connector._factory = cast(
                "functools.partial[ResponseHandler]",
                functools.partial(_ReadTimer, loop=asyncio.get_running_loop()),
            )
        return connector

    def _phase_timeout(self, timeout: Timeout) -> aiohttp.ClientTimeout:
        key = (timeout.connect, timeout.read)
        found = self._phase_timeouts.get(key)
        if found is None:
            if len(self._phase_timeouts) > 64:  # many distinct with_options timeouts
                self._phase_timeouts.clear()
            found = self._phase_timeouts[key] = aiohttp.ClientTimeout(
                total=None, sock_connect=timeout.connect, sock_read=timeout.read
            )
        return found

    def _new_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=self._new_connector(),
            headers=self._session_headers,
            timeout=self._timeout,
            auto_decompress=True,
            trust_env=False,
            raise_for_status=False,
        )

    def _session_for_loop(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientMisuseError("the client is closed; create a new one")
        session = self._session
        if session is None:
            self._loop = loop = asyncio.get_running_loop()
            self._watchdog = Watchdog(loop)
            session = self._session = self._new_session()
            # aiohttp silently resends a GET, PUT or DELETE once when the connection drops:
            # an attempt our call path would not count, budget, trace or know had reached
            # the server (a DELETE resent after a commit then reads 404). Resends are ours.
            # A private attribute, set only on sessions we make. Should aiohttp
            # rename it, test_every_request_the_server_sees_is_an_attempt_the_client_counts
            # (tests/resilience/test_overload.py) fails rather than this going silent.
            session._retry_connection = False
        elif self._loop is not asyncio.get_running_loop():
            raise ClientMisuseError(
                "this client was first used on another event loop (one client per loop: create"
                " it inside the coroutine asyncio.run() runs; pulse_sync does this for you)"
            )
        return session

    async def send(
        self,
        request: Request,
        *,
        timeout: Timeout | None = None,  # noqa: ASYNC109 - per-phase HTTP timeouts (connect, read), not a cancel scope
    ) -> RawResponse:
        """Send ``request`` once under ``timeout``: its ``connect`` and ``read``, and a
        ``total`` that bounds the whole exchange (the client passes what is left of the
        call's deadline). ``None``: the client's connect and read, no total."""
        session = self._session_for_loop()
        # The signed headers are the session's, or (with a proxy) in _request_headers.
        headers = self._request_headers
        data: bytes | None = None
        if request.body is not None or request.idempotency_key is not None:
            headers = {**headers, "Content-Type": "application/json"}
            if request.idempotency_key is not None:
                headers["Idempotency-Key"] = request.idempotency_key
            if request.body is not None:
                data = encode_json(request.body)
        if request.headers:  # a trace's traceparent; the signed headers win
            extra = {k: v for k, v in request.headers.items() if k.lower() not in self._signed}
            headers = {**extra, **headers}
        if timeout is None or timeout is self._options.timeout:
            client_timeout = self._timeout
        else:
            client_timeout = self._phase_timeout(timeout)
        watchdog = self._watchdog
        assert watchdog is not None  # made with the session
        # The error is built inside ``except`` but raised outside it, so it carries no
        # ``__context__``: the aiohttp exception (whose repr shows the request headers,
        # the key among them) must not travel with it.
        error: APIConnectionError
        try:
            # The total bounds the whole exchange (a wait for a pooled connection included)
            # on the watchdog's one timer, not on a timer of aiohttp's per request.
            with watchdog.watch(None if timeout is None else timeout.total):
                # Awaited, not ``async with``: the context manager's __aenter__/__aexit__ are
                # two coroutines per call more; ``finally`` does what its __aexit__ does.
                response = await session.request(
                    request.method,
                    self._base_url + request.path,
                    params=request.query,
                    data=data,
                    headers=headers,
                    allow_redirects=False,
                    timeout=client_timeout,
                    **self._proxy_args,
                )
                try:
                    length = response.content_length
                    if (
                        length is not None
                        and length <= self._max_body
                        and "Content-Encoding" not in response.headers
                    ):
                        # The common case, inline: one read of a known, small, plain body.
                        body = await response.content.read()
                        if len(body) > self._max_body:  # pragma: no cover - a server lying
                            response.close()
                            raise APIConnectionError(
                                f"response body over the {self._max_body}-byte limit",
                                retryable=False,
                            )
                    else:
                        body = await self._read(response)
                finally:
                    response.release()
                    await response.wait_for_close()
            return RawResponse(response.status, response.headers, body)
        except (TimeoutError, aiohttp.ServerTimeoutError, aiohttp.ConnectionTimeoutError):
            error = APITimeoutError(f"{request.method} {request.path} timed out")
        except aiohttp.ClientError as exc:
            error = APIConnectionError(
                f"{request.method} {request.path} failed: {_safe_description(exc)}"
            )
        except OSError as exc:
            error = APIConnectionError(
                f"{request.method} {request.path} failed: {type(exc).__name__}"
            )
        error.idempotency_key = request.idempotency_key
        raise error

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self._max_body
        length = response.content_length
        if length is not None and length > limit:
            response.close()
            raise APIConnectionError(
                f"response body of {length} bytes is over the {limit}-byte limit",
                retryable=False,
            )
        if length is not None and "Content-Encoding" not in response.headers:
            # The common case: one read of a known, small, uncompressed body.
            body = await response.content.read()
            if len(body) > limit:  # pragma: no cover - a server lying about its length
                response.close()
                raise APIConnectionError(
                    f"response body over the {limit}-byte limit", retryable=False
                )
            return body
        chunks = bytearray()
        async for chunk in response.content.iter_any():
            chunks += chunk
            if len(chunks) > limit:
                # close(), not release(): drop the connection rather than drain the rest.
                response.close()
                raise APIConnectionError(
                    f"response body over the {limit}-byte limit", retryable=False
                )
        return bytes(chunks)

    async def aclose(self) -> None:
        """Close the session and its connections; safe to call twice."""
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.close()
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()


def _safe_description(exc: BaseException) -> str:
    """Describe an aiohttp exception without its request info (which holds headers)."""
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"{type(exc).__name__} (status {exc.status})"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
