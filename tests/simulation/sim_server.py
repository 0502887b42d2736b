"""A simulated Pulse server in the client's own process: no sockets, a ledger, and faults.

:class:`SimServer` keeps just enough of Pulse to judge a client: ``POST /messages``
(with Idempotency-Key replay), ``DELETE /users/{id}`` and ``GET /messages/{id}``.
:meth:`SimServer.transport` gives the object a client takes as ``_transport=``: the
same one-method ``send(request, *, timeout)`` as the real transport, which it imitates
(connect, read and total timeouts become ``APITimeoutError``, a dropped connection
``APIConnectionError``), with latencies slept on the loop's clock. Under a
:class:`~sim_loop.VirtualTimeLoop` the whole exchange runs in virtual time.

Every request is an :class:`Attempt` in :attr:`SimServer.attempts`; the ledger
(:attr:`SimServer.commits`) counts what the server *did* per call tag (the message
subject, or ``delete:<user id>``), and :attr:`SimServer.pauses` the pauses it asked for.

Faults, drawn per request from a weighted mix (or taken from :attr:`SimServer.script`
first): ``ok``; ``429`` (``Retry-After`` in delta-seconds) and ``429-date`` (an
HTTP-date); ``500``, ``502``, ``503``; ``reset-before`` (the connection drops before
the server acts) and ``reset-after`` (it acts, then the answer is lost); ``hang`` (the
server never answers: only the client's timeouts end the attempt).
"""

from __future__ import annotations

import asyncio
import collections
import email.utils
import json
import math
import random
from collections.abc import Iterable, Mapping

import attrs

from pulse_async._core._http import Request
from pulse_async._core._options import Timeout
from pulse_async._transport import RawResponse
from pulse_async.errors import APIConnectionError, APITimeoutError

__all__ = ["FAULTS", "Attempt", "Pause", "SimServer", "SimTransport"]

FAULTS = ("ok", "429", "429-date", "500", "502", "503", "reset-before", "reset-after", "hang")

#: The Unix time at virtual time 0: the client's ``_wall`` and the server's dates agree.
WALL0 = 1_700_000_000.0


@attrs.define
class Attempt:
    """One request as the server saw it."""

    tag: str
    key: str | None
    method: str
    sent_at: float
    fault: str
    committed: bool = False
    answered_at: float | None = None
    status: int | None = None


@attrs.frozen
class Pause:
    """The server asked for no request between ``start`` (the client had the 429) and ``end``."""

    start: float
    end: float


class SimServer:
    """Pulse in a few dicts; see the module docstring."""

    def __init__(
        self,
        *,
        seed: int = 0,
        faults: Mapping[str, float] | None = None,
        latency: tuple[float, float] = (0.0, 0.0),
        retry_after: Iterable[float] = (0.5, 1.0, 2.0, 5.0),
        users: Iterable[str] = (),
    ) -> None:
        self.rng = random.Random(seed)
        self.faults: dict[str, float] = dict(faults or {"ok": 1.0})
        self.latency = latency
        self.retry_after = tuple(retry_after)
        self.users = set(users)
        self.script: collections.deque[str] = collections.deque()
        self.attempts: list[Attempt] = []
        self.pauses: list[Pause] = []
        #: What the server did, per call tag: each count should be 0 or 1.
        self.commits: collections.Counter[str] = collections.Counter()
        self.statuses: dict[str, str] = {}
        self._stored: dict[str, tuple[str, bytes]] = {}
        self._serial = 0

    def transport(self) -> SimTransport:
        """A transport for one client (``_transport=``)."""
        return SimTransport(self)

    def wall(self) -> float:
        """The Unix time now: the client's ``_wall``."""
        return WALL0 + asyncio.get_running_loop().time()

    # --- one exchange ---------------------------------------------------------------------

    def _fault(self) -> str:
        if self.script:
            return self.script.popleft()
        names = list(self.faults)
        return self.rng.choices(names, weights=[self.faults[n] for n in names])[0]

    def _latency(self) -> float:
        low, high = self.latency
        return self.rng.uniform(low, high)

    async def exchange(
        self, request: Request, limits: Timeout | None, total: float | None
    ) -> RawResponse:
        loop = asyncio.get_running_loop()
        connect = limits.connect if limits is not None else 5.0
        read = limits.read if limits is not None else 30.0
        attempt = Attempt(
            tag=_tag(request),
            key=request.idempotency_key,
            method=request.method,
            sent_at=loop.time(),
            fault=self._fault(),
        )
        self.attempts.append(attempt)
        try:
            async with asyncio.timeout(total):
                return await self._exchange(loop, attempt, request, connect, read)
        except TimeoutError:
            raise APITimeoutError(f"{request.method} {request.path} timed out") from None

    async def _exchange(
        self,
        loop: asyncio.AbstractEventLoop,
        attempt: Attempt,
        request: Request,
        connect: float,
        read: float,
    ) -> RawResponse:
        up, down = self._latency(), self._latency()
        if up > connect:
            await asyncio.sleep(connect)
            raise APITimeoutError(f"{request.method} {request.path}: connect timed out")
        await asyncio.sleep(up)
        fault = attempt.fault
        if fault == "hang":
            await asyncio.sleep(read)
            raise APITimeoutError(f"{request.method} {request.path}: read timed out")
        if fault == "reset-before":
            raise APIConnectionError(f"{request.method} {request.path}: connection reset")
        retry_until: float | None = None
        if fault in ("ok", "reset-after"):
            status, headers, body = self._handle(attempt, request)
        elif fault in ("429", "429-date"):
            status, headers, body = 429, {}, _error("rate_limited")
            wait = self.rng.choice(self.retry_after)
            if fault == "429":
                headers["Retry-After"] = f"{wait:g}"
            else:
                # An HTTP-date has whole seconds: round up, so the client waits at least ``wait``.
                when = math.ceil(WALL0 + loop.time() + wait)
                headers["Retry-After"] = email.utils.formatdate(when, usegmt=True)
                retry_until = when - WALL0
        else:
            status, headers, body = int(fault), {}, _error("server_error")
        if down > read:
            await asyncio.sleep(read)
            raise APITimeoutError(f"{request.method} {request.path}: read timed out")
        await asyncio.sleep(down)
        if fault == "reset-after":
            raise APIConnectionError(f"{request.method} {request.path}: connection reset")
        attempt.answered_at = now = loop.time()
        attempt.status = status
        if status == 429:
            end = retry_until if retry_until is not None else now + float(headers["Retry-After"])
            self.pauses.append(Pause(now, end))
        headers.setdefault("Content-Type", "application/json")
        return RawResponse(status, headers, body)

    def _handle(self, attempt: Attempt, request: Request) -> tuple[int, dict[str, str], bytes]:
        """The server acting on a request that reached it."""
        method, path = request.method, request.path
        if method == "POST" and path == "/messages":
            key = request.idempotency_key
            if key is not None and key in self._stored:
                _, body = self._stored[key]
                return 202, {"Idempotent-Replayed": "true"}, body
            self._serial += 1
            message_id = f"msg_{self._serial}"
            self.statuses[message_id] = "queued"
            body = json.dumps(
                {"message_id": message_id, "status": "queued", "recipient_count": 1}
            ).encode()
            self.commits[attempt.tag] += 1
            attempt.committed = True
            if key is not None:
                self._stored[key] = (attempt.tag, body)
            return 202, {}, body
        if method == "DELETE" and path.startswith("/users/"):
            user_id = path.rsplit("/", 1)[1]
            if user_id not in self.users:
                return 404, {}, _error("not_found")
            self.users.discard(user_id)
            self.commits[attempt.tag] += 1
            attempt.committed = True
            return 204, {}, b""
        if method == "GET" and path.startswith("/messages/"):
            message_id = path.rsplit("/", 1)[1]
            status = self.statuses.get(message_id)
            if status is None:
                return 404, {}, _error("not_found")
            return 200, {}, json.dumps({"id": message_id, "status": status}).encode()
        return 404, {}, _error("not_found")


class SimTransport:
    """The client's side of a :class:`SimServer`: ``send(request, *, timeout)`` and ``aclose``."""

    def __init__(self, server: SimServer) -> None:
        self.server = server
        self.closed = False

    async def send(
        self,
        request: Request,
        *,
        timeout: Timeout | None = None,  # noqa: ASYNC109 - the transport interface's name
        total_timeout: float | None = None,
    ) -> RawResponse:
        """One exchange. ``total_timeout`` is the previous call path's way of passing
        ``timeout.total``: accepting it lets the same simulation run against that code."""
        if self.closed:
            raise APIConnectionError("the client is closed", retryable=False)
        total = timeout.total if timeout is not None else total_timeout
        return await self.server.exchange(request, timeout, total)

    async def aclose(self) -> None:
        self.closed = True


def _tag(request: Request) -> str:
    if request.method == "POST" and request.body is not None:
        return str(request.body.get("subject"))
    if request.method == "DELETE":
        return "delete:" + request.path.rsplit("/", 1)[1]
    return f"{request.method} {request.path}"


def _error(code: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": f"simulated {code}"}}).encode()
