"""The aiohttp side of the local server: routing, the request pipeline, faults, threads.

The handlers are thin: each request goes through one pipeline (count it,
maybe inject a fault, authenticate, rate-limit, authorize, check the
Idempotency-Key, decode, call :class:`~pulse_async.testing._state.State`,
encode), and everything that decides something lives in the state module.

aiohttp cancels a handler when its client disconnects only with
``handler_cancellation=True`` (an opt-in of ``AppRunner``/``Server`` since
aiohttp 3.9; off by default); the server turns it on, so a client that gives up mid-request is seen:
``stats.cancelled`` counts those handlers, and an in-flight idempotency
record is released so the retry runs afresh.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import json
import re
import secrets
import socket
import struct
import threading
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import Any, Final, TypeVar

from aiohttp import web

from pulse_async.errors import ValidationError
from pulse_async.testing._clock import Clock
from pulse_async.testing._delivery import WebhookSender
from pulse_async.testing._faults import POST_KINDS, PRE_KINDS, FaultRule, Faults
from pulse_async.testing._inbox_model import Envelopes
from pulse_async.testing._state import (
    ApiFailure,
    Call,
    Ledger,
    RateLimit,
    State,
    Stats,
    Template,
    check_idempotency_header,
)

__all__ = ["PulseServer", "ServerThread", "new_event_loop"]

T = TypeVar("T")
_Endpoint = Callable[..., tuple[int, Any]]

_ABORTED: Final = web.RequestKey("pulse_async.testing.aborted", bool)
_ABORT_WAIT: Final = 5.0
_SENDS: Final = frozenset({"POST /v2/messages", "POST /v1/messages"})
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_HTML: Final = (
    "<html><head><title>{status} {reason}</title></head><body><center><h1>{status} "
    "{reason}</h1></center><hr><center>nginx</center></body></html>\n"
)
_REASONS: Final = {
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop loop when uvloop is installed (faster), else the default asyncio loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


class _Route:
    """One API route: its name (``"POST /v2/messages"``), the role it needs and its endpoint."""

    __slots__ = ("endpoint", "has_body", "has_id", "method", "name", "need", "path")

    def __init__(
        self,
        method: str,
        path: str,
        need: str,
        endpoint: _Endpoint,
        *,
        has_id: bool,
        has_body: bool,
    ) -> None:
        self.method, self.path, self.need, self.endpoint = method, path, need, endpoint
        self.has_id, self.has_body = has_id, has_body
        self.name = f"{method} {path}"


class PulseServer:
    """A local, stateful Pulse server: Pulse v2 on ``/v2``, Pulsewave v1 on ``/v1``.

    Faithful to SPEC.md, in memory, with a controllable clock and fault
    injection. Use it as an async context manager, or from synchronous code
    with :meth:`start_in_thread`::

        async with PulseServer() as server:
            async with AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse:
                receipt = await pulse.messages.send(to=["a@example.com"], subject="Hi", body="…")
            server.advance(1)                       # with the default clock, or just wait
            assert server.message_status(receipt.message_id) == "delivered"

    Arguments (all keyword-only):

    - ``host``/``port``: where to listen (loopback, a free port by default).
    - ``rate_limit``: the plan of the keys the server creates: ``None``
      (unlimited, the default, so tests are never throttled by accident),
      ``"free"`` (60/min), ``"pro"`` (1,000/min) or requests per minute.
    - ``seed``: makes fault injection reproducible.
    - ``clock``: a :class:`~pulse_async.testing.Clock`; ``frozen_clock=True``
      is a shortcut for ``Clock(frozen=True)``.
    - ``step_delay``: seconds (server clock) a message spends in each lifecycle
      step: with the default 0.25 a message is final 0.75 s after it is due.
    - ``verified_domains``: email sending domains verified from the start.

    Its root URL (and ``/_inbox``) serves a web inbox: every message, live,
    with controls for faults, the clock and keys (see
    :mod:`pulse_async.testing._inbox`).

    Attributes: ``url``, ``v2_url``, ``v1_url`` (after start), ``admin_key``,
    ``editor_key``, ``viewer_key`` (from construction), ``clock``, ``faults``
    (:class:`~pulse_async.testing.Faults`), ``ledger``
    (:class:`~pulse_async.testing.Ledger`), ``stats``
    (:class:`~pulse_async.testing.Stats`) and ``state`` (the workspace itself).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: RateLimit = None,
        seed: int | str | None = None,
        clock: Clock | None = None,
        frozen_clock: bool = False,
        step_delay: float = 0.25,
        verified_domains: Iterable[str] = ("example.com", "pulse.test"),
    ) -> None:
        if clock is None:
            clock = Clock(frozen=frozen_clock)
        elif frozen_clock:
            clock.freeze()
        self.host = host
        self._requested_port = port
        self.state = State(
            clock=clock,
            rate_limit=rate_limit,
            step_delay=step_delay,
            verified_domains=verified_domains,
        )
        self.faults = Faults(seed)
        self.stats = Stats()
        self._envelopes = Envelopes()  # what each accepted send's request said, for the inbox
        #: Webhook endpoints, events, the delivery log and its fault knobs.
        self.webhooks = WebhookSender(self.state, seed=seed)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._stopping = False
        self._rid_prefix = "req_" + secrets.token_hex(4)
        self._rids = itertools.count(1)

    # -- identity ------------------------------------------------------------------------------

    @property
    def clock(self) -> Clock:
        """The server clock (freeze it, step it with :meth:`advance`)."""
        return self.state.clock

    @property
    def ledger(self) -> Ledger:
        """Every committed side effect, in order."""
        return self.state.ledger

    @property
    def admin_key(self) -> str:
        """A ``pw_test_…`` key of ``admin@example.com`` (role admin)."""
        return self.state.seed_keys["admin"]

    @property
    def editor_key(self) -> str:
        """A key of ``editor@example.com`` (role editor)."""
        return self.state.seed_keys["editor"]

    @property
    def viewer_key(self) -> str:
        """A key of ``viewer@example.com`` (role viewer)."""
        return self.state.seed_keys["viewer"]

    @property
    def port(self) -> int:
        """The port listened on (after start)."""
        if self._port is None:
            raise RuntimeError("the server is not running: use `async with PulseServer()`")
        return self._port

    @property
    def url(self) -> str:
        """The root URL, e.g. ``http://127.0.0.1:54321``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def v2_url(self) -> str:
        """The Pulse API v2 base URL (``…/v2``)."""
        return self.url + "/v2"

    @property
    def v1_url(self) -> str:
        """The Pulsewave API v1 base URL (``…/v1``)."""
        return self.url + "/v1"

    def __repr__(self) -> str:
        where = self.url if self._port is not None else "not running"
        return f"<PulseServer {where}>"

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen (idempotent: a running server is left alone)."""
        if self._runner is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._stopping = False
        runner = web.AppRunner(
            self._make_app(), access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._requested_port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        await self.webhooks.start()

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        runner, self._runner = self._runner, None
        await self.webhooks.stop()
        if runner is not None:
            self._stopping = True
            await runner.cleanup()
        self._port = None

    async def __aenter__(self) -> PulseServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def start_in_thread(self) -> ServerThread:
        """Run in a daemon thread with its own event loop (uvloop if installed).

        For synchronous tests and scripts::

            with PulseServer().start_in_thread() as server:
                client = Pulse(server.admin_key, base_url=server.v2_url)
        """
        handle = ServerThread(self)
        handle.start()
        return handle

    # -- configuration, callable from any thread -----------------------------------------------

    def _on_loop(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the server's loop thread (directly when already there)."""
        loop = self._loop
        if (
            loop is None
            or self._loop_thread == threading.get_ident()
            or loop.is_closed()
            or not loop.is_running()
        ):
            return fn(*args, **kwargs)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=30)

    def advance(self, seconds: float) -> datetime:
        """Move the server clock forward; returns the new time."""
        self._on_loop(self.state.clock.advance, seconds)
        self._on_loop(self.webhooks.wake)
        return self.state.clock.now()

    def add_webhook(self, url: str, *, events: Iterable[str] | None = None) -> str:
        """Send signed webhook deliveries (SPEC §5) to ``url``; its ``whsec_…`` secret.

        Every status change of either API's messages from now on becomes a
        ``message.<status>`` event (``events``: only these types), delivered and
        retried on the §5 schedule of the server clock. See ``server.webhooks``
        for the delivery log (``.deliveries``), the events and the fault knobs.
        """
        return self._on_loop(self.webhooks.add, url, events=events)

    def rotate_webhook_secret(self, url: str, *, overlap: float = 24 * 3600) -> str:
        """A new secret for ``url``; the old one keeps signing for ``overlap`` server seconds."""
        return self._on_loop(self.webhooks.rotate, url, overlap=overlap)

    def create_key(
        self,
        *,
        role: str = "admin",
        rate_limit: RateLimit = "default",
        user_id: str | None = None,
    ) -> str:
        """A new ``pw_test_…`` key for ``user_id`` or for a new active user with ``role``.

        ``rate_limit``: ``"default"`` (the server's), ``"free"``, ``"pro"``,
        requests per minute, or ``None`` (unlimited).
        """
        return self._on_loop(
            self.state.create_key, role=role, rate_limit=rate_limit, user_id=user_id
        )

    def register_template(
        self,
        template_id: str,
        *,
        subject: str | None = None,
        text: str | None = None,
        html: str | None = None,
    ) -> Template:
        """Add a Pulsewave template; ``{{ name }}`` placeholders come from ``template_data``."""
        return self._on_loop(
            self.state.register_template, template_id, subject=subject, text=text, html=html
        )

    def verify_domain(self, domain: str) -> None:
        """Allow email ``from`` addresses on ``domain``."""
        self._on_loop(self.state.verify_domain, domain)

    def set_outcome(self, address: str, outcome: str) -> None:
        """Messages to ``address`` end ``delivered``, ``bounced`` or ``failed``."""
        self._on_loop(self.state.set_outcome, address, outcome)

    def set_user_status(self, user_id: str, status: str) -> None:
        """Set a user's status (``"active"`` accepts an invitation)."""
        self._on_loop(self.state.set_user_status, user_id, status)

    def mark_thread_read(self, thread_id: str, user_id: str) -> None:
        """Clear a user's unread count in a thread."""
        self._on_loop(self.state.mark_thread_read, thread_id, user_id)

    def message_status(self, message_id: str) -> str:
        """The current status of a message of either API (KeyError if unknown)."""
        return self._on_loop(lambda: self.state.status_of(self.state.messages[message_id]))

    # -- the app -------------------------------------------------------------------------------

    def _routes(self) -> list[_Route]:
        s = self.state
        return [
            _Route("GET", "/v2/users", "read", s.list_users, has_id=False, has_body=False),
            _Route("POST", "/v2/users", "admin", s.create_user, has_id=False, has_body=True),
            _Route("PATCH", "/v2/users/{id}", "admin", s.update_user, has_id=True, has_body=True),
            _Route("DELETE", "/v2/users/{id}", "admin", s.delete_user, has_id=True, has_body=False),
            _Route("POST", "/v2/messages", "edit", s.send_message, has_id=False, has_body=True),
            _Route("GET", "/v2/messages/{id}", "read", s.get_message, has_id=True, has_body=False),
            _Route("GET", "/v2/threads", "read", s.list_threads, has_id=False, has_body=False),
            _Route(
                "POST", "/v1/messages", "edit", s.create_wave_message, has_id=False, has_body=True
            ),
            _Route(
                "GET", "/v1/messages/{id}", "read", s.get_wave_message, has_id=True, has_body=False
            ),
            _Route(
                "POST",
                "/v1/messages/{id}/cancel",
                "edit",
                s.cancel_wave_message,
                has_id=True,
                has_body=False,
            ),
        ]

    def _make_app(self) -> web.Application:
        app = web.Application()
        paths: dict[str, list[str]] = {}
        for route in self._routes():
            app.router.add_route(route.method, route.path, self._make_handler(route))
            paths.setdefault(route.path, []).append(route.method)
        from pulse_async.testing._admin import add_admin_routes

        add_admin_routes(app, self)
        from pulse_async.testing._inbox import add_inbox_routes

        add_inbox_routes(app, self, self._envelopes)
        app.router.add_route("*", "/{tail:.*}", self._make_fallback(paths))
        return app

    def next_request_id(self) -> str:
        """A fresh ``req_…`` id."""
        return f"{self._rid_prefix}{next(self._rids):08x}"

    def _make_fallback(
        self, paths: dict[str, list[str]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        resources = [
            (re.compile(re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(p)) + r"\Z"), methods)
            for p, methods in paths.items()
        ]

        async def fallback(request: web.Request) -> web.StreamResponse:
            self.stats.requests["* <unmatched>"] += 1
            rid = self.next_request_id()
            for resource, methods in resources:
                if resource.match(request.path) is not None:
                    failure = ApiFailure(
                        405,
                        "method_not_allowed",
                        f"{request.method} is not allowed on this path",
                        headers={"Allow": ", ".join(methods)},
                    )
                    break
            else:
                failure = ApiFailure(404, "not_found", f"no route {request.path!r}")
            headers = {"X-Request-Id": rid, "Content-Type": "application/json", **failure.headers}
            return web.Response(
                status=failure.status, headers=headers, body=_encode(failure.envelope(rid)).encode()
            )

        return fallback

    def _make_handler(
        self, route: _Route
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        state, stats, faults = self.state, self.stats, self.faults
        name, need, endpoint = route.name, route.need, route.endpoint
        is_post, has_id, has_body = route.method == "POST", route.has_id, route.has_body
        idempotency = state.idempotency
        clock = state.clock
        capture = self._envelopes.record if name in _SENDS else None

        def process(
            request: web.Request,
            call: Call,
            body: Any,
            bad_json: bool,
        ) -> tuple[int, bytes]:
            """Run the endpoint: (status, encoded body); API errors become their envelope."""
            try:
                if bad_json:
                    raise ApiFailure(400, "validation_failed", "the request body is not valid JSON")
                if has_id:
                    ident = request.match_info["id"]
                    status, data = (
                        endpoint(call, ident, body) if has_body else endpoint(call, ident)
                    )
                else:
                    status, data = endpoint(call, body if has_body else request.query)
                if capture is not None and status == 202:
                    capture(call, body, data)
                return status, (b"" if status == 204 else _encode(data).encode())
            except ValidationError as exc:
                failure = ApiFailure(400, "validation_failed", exc.message, exc.field)
                return 400, _encode(failure.envelope(call.request_id or "")).encode()
            except ApiFailure as exc:
                return exc.status, _encode(exc.envelope(call.request_id or "")).encode()

        async def handle(request: web.Request) -> web.StreamResponse:
            stats.requests[name] += 1
            rid = f"{self._rid_prefix}{next(self._rids):08x}"
            headers = {"X-Request-Id": rid, "Content-Type": "application/json"}
            fault: FaultRule | None = faults.pick(request.method, request.path) if faults else None
            idem_key: str | None = None
            scope = ""
            finished = False
            try:
                if fault is not None:
                    stats.faults[fault.kind] += 1
                    if fault.kind in PRE_KINDS:
                        return await self._pre_fault(request, fault, rid)
                try:
                    key = state.authenticate(request.headers.get("Authorization"))
                    limit_headers = state.take_rate(key)
                    if limit_headers is not None:
                        headers.update(limit_headers)
                    user = state.authorize(key, need)
                    body: Any = None
                    raw = b""
                    bad_json = False
                    if has_body:
                        raw = await request.read()
                        try:
                            body = json.loads(raw) if raw else None
                        except (ValueError, RecursionError):
                            bad_json = True
                    replay: tuple[int, bytes] | None = None
                    if is_post:
                        idem_key = check_idempotency_header(request.headers.get("Idempotency-Key"))
                        if idem_key is not None:
                            scope = key.key_id
                            fingerprint = (
                                request.method,
                                request.path,
                                raw if bad_json or not has_body else body,
                            )
                            replay = idempotency.begin(scope, idem_key, fingerprint, clock.time())
                except ApiFailure as exc:
                    finished = True
                    if exc.status == 429 and exc.code == "rate_limited":
                        stats.rate_limited += 1
                    headers.update(exc.headers)
                    return self._respond(exc.status, _encode(exc.envelope(rid)).encode(), headers)
                if replay is not None:
                    stats.replayed += 1
                    headers["Idempotent-Replayed"] = "true"
                    status, payload = replay
                else:
                    if fault is not None and fault.kind == "latency":
                        await asyncio.sleep(fault.delay)
                    status, payload = process(
                        request, Call(key, user, rid, idem_key), body, bad_json
                    )
                    if idem_key is not None:
                        idempotency.complete(scope, idem_key, status, payload)
                finished = True
                if fault is not None and fault.kind in POST_KINDS:
                    return await self._post_fault(request, fault, status, payload, headers)
                return self._respond(status, payload, headers)
            except asyncio.CancelledError:
                if not self._stopping and _ABORTED not in request:
                    stats.cancelled += 1
                    stats.cancelled_by_route[name] += 1
                if idem_key is not None and not finished:
                    idempotency.abandon(scope, idem_key)
                raise

        return handle

    @staticmethod
    def _respond(status: int, payload: bytes, headers: dict[str, str]) -> web.Response:
        if status == 204:
            headers.pop("Content-Type", None)
            return web.Response(status=204, headers=headers)
        return web.Response(status=status, body=payload, headers=headers)

    # -- faults --------------------------------------------------------------------------------

    async def _pre_fault(
        self, request: web.Request, fault: FaultRule, rid: str
    ) -> web.StreamResponse:
        kind = fault.kind
        headers = {"X-Request-Id": rid}
        if kind == "reset_before":
            return await self._abort(request, reset=True)
        if kind in ("server_error", "rate_limited"):
            if kind == "server_error":
                failure = ApiFailure(500, "server_error", "injected fault: internal server error")
            else:
                failure = ApiFailure(429, "rate_limited", "injected fault: too many requests")
                headers["Retry-After"] = str(fault.retry_after)
            headers["Content-Type"] = "application/json"
            return web.Response(
                status=failure.status, headers=headers, body=_encode(failure.envelope(rid)).encode()
            )
        status = {"bad_gateway": 502, "service_unavailable": 503}.get(kind, fault.status)
        reason = _REASONS.get(status, "Error")
        headers["Content-Type"] = "text/html"
        return web.Response(
            status=status, headers=headers, text=_HTML.format(status=status, reason=reason)
        )

    async def _post_fault(
        self,
        request: web.Request,
        fault: FaultRule,
        status: int,
        payload: bytes,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        if fault.kind == "reset_after_commit":
            return await self._abort(request, reset=True)
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = len(payload)
        await response.prepare(request)
        if fault.kind == "truncated":
            await response.write(payload[: len(payload) // 2])
            return await self._abort(request, reset=False)
        step = fault.chunk_size
        for start in range(0, len(payload), step):
            await response.write(payload[start : start + step])
            if start + step < len(payload):
                await asyncio.sleep(fault.chunk_delay)
        await response.write_eof()
        return response

    @staticmethod
    async def _abort(request: web.Request, *, reset: bool) -> web.StreamResponse:
        """Drop the connection (TCP RST when ``reset``, else FIN after what was written).

        aiohttp then cancels this handler (handler_cancellation); the request
        is marked so the cancellation is not counted as a client abandoning it.
        """
        request[_ABORTED] = True
        transport = request.transport
        if transport is not None:
            if reset:
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    # Linger 0: close with RST, not FIN. Best effort, platform dependent.
                    with contextlib.suppress(OSError, AttributeError):
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                transport.abort()
            else:
                transport.close()
        await asyncio.sleep(_ABORT_WAIT)
        raise ConnectionResetError("connection dropped by an injected fault")  # pragma: no cover


class ServerThread:
    """A :class:`PulseServer` running in a daemon thread; stop it with :meth:`stop`.

    Has the server's ``url``, ``v2_url``, ``v1_url``, ``admin_key``,
    ``editor_key``, ``viewer_key``, ``faults``, ``ledger``, ``stats`` and
    ``clock``; configuration methods (``advance``, ``create_key``, …) are
    those of :attr:`server`, which runs them on the server's loop.
    Usable as a context manager.
    """

    def __init__(self, server: PulseServer) -> None:
        self.server = server
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        """Start the thread and wait until the server listens (re-raises a startup error)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="pulse-test-server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error

    def _run(self) -> None:
        loop = new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            try:
                loop.run_until_complete(self.server.start())
            except BaseException as exc:
                self._error = exc
                return
            finally:
                self._ready.set()
            loop.run_forever()
            loop.run_until_complete(self.server.stop())
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and join its thread (idempotent)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The root URL."""
        return self.server.url

    @property
    def v2_url(self) -> str:
        """The Pulse API v2 base URL."""
        return self.server.v2_url

    @property
    def v1_url(self) -> str:
        """The Pulsewave API v1 base URL."""
        return self.server.v1_url

    @property
    def admin_key(self) -> str:
        """The admin key."""
        return self.server.admin_key

    @property
    def editor_key(self) -> str:
        """The editor key."""
        return self.server.editor_key

    @property
    def viewer_key(self) -> str:
        """The viewer key."""
        return self.server.viewer_key

    @property
    def faults(self) -> Faults:
        """The server's fault rules (thread-safe)."""
        return self.server.faults

    @property
    def ledger(self) -> Ledger:
        """The server's ledger."""
        return self.server.ledger

    @property
    def stats(self) -> Stats:
        """The server's counters."""
        return self.server.stats

    @property
    def clock(self) -> Clock:
        """The server clock."""
        return self.server.clock

    def advance(self, seconds: float) -> datetime:
        """Move the server clock forward."""
        return self.server.advance(seconds)

    @property
    def webhooks(self) -> WebhookSender:
        """The server's webhook sender (endpoints, events, delivery log, fault knobs)."""
        return self.server.webhooks

    def add_webhook(self, url: str, *, events: Iterable[str] | None = None) -> str:
        """Send signed deliveries to ``url``; its secret (see :meth:`PulseServer.add_webhook`)."""
        return self.server.add_webhook(url, events=events)

    def rotate_webhook_secret(self, url: str, *, overlap: float = 24 * 3600) -> str:
        """A new secret for ``url`` (see :meth:`PulseServer.rotate_webhook_secret`)."""
        return self.server.rotate_webhook_secret(url, overlap=overlap)

    def drain_webhooks(self, timeout: float = 10.0) -> None:
        """Block until no delivery is due or in flight (``server.webhooks.drain``, blocking)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise RuntimeError("the server thread is not running")
        asyncio.run_coroutine_threadsafe(self.server.webhooks.drain(timeout), loop).result()

    def create_key(
        self, *, role: str = "admin", rate_limit: RateLimit = "default", user_id: str | None = None
    ) -> str:
        """A new key (see :meth:`PulseServer.create_key`)."""
        return self.server.create_key(role=role, rate_limit=rate_limit, user_id=user_id)

    def register_template(
        self,
        template_id: str,
        *,
        subject: str | None = None,
        text: str | None = None,
        html: str | None = None,
    ) -> Template:
        """Add a Pulsewave template (see :meth:`PulseServer.register_template`)."""
        return self.server.register_template(template_id, subject=subject, text=text, html=html)

    def verify_domain(self, domain: str) -> None:
        """Verify an email sending domain."""
        self.server.verify_domain(domain)

    def set_outcome(self, address: str, outcome: str) -> None:
        """How messages to ``address`` end (``delivered``, ``bounced`` or ``failed``)."""
        self.server.set_outcome(address, outcome)

    def message_status(self, message_id: str) -> str:
        """A message's status now, on the server clock."""
        return self.server.message_status(message_id)

    def __repr__(self) -> str:
        return f"<ServerThread {self.server!r}>"
