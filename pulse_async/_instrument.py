"""What watches a call: the DEBUG line per attempt, OpenTelemetry, and ``PULSE_LOG``.

The client asks :func:`watch` once per call. Nothing watching (the usual
case: no OpenTelemetry provider and DEBUG off) costs that one question and
an answer of ``None``; the call then goes straight to the transport. When
something does, a :class:`CallWatch` stands in front of the transport for
that call: it opens the spans, injects ``traceparent`` and writes one
structured DEBUG line per attempt::

    pulse_async.http: POST /v2/messages status=201 attempt=1 elapsed=0.004s request_id=req_…

(the same fields are on the record as ``http_method``, ``path_template``,
``status``, ``attempt``, ``elapsed`` and ``request_id`` for structured
handlers). The path is its template (ids are ``{id}``) and the key is never
logged.

OpenTelemetry is looked for once, on the first call: when ``opentelemetry``
is not importable nothing of it is imported (:mod:`pulse_async._otel` is
never loaded).

``PULSE_LOG=debug`` or ``info`` (read when this module loads, that is when a
client is first named) sets the ``pulse_async`` and ``pulse_sync`` loggers to
that level and, unless they already have a handler of their own, sends them to
stderr, like ``OPENAI_LOG``. Unset (or any other value), nothing is configured.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import time
import urllib.parse
from collections.abc import Coroutine
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs

from pulse_async._core._http import Request, header
from pulse_async._core._options import Timeout

if TYPE_CHECKING:
    from pulse_async._otel import CallTrace, Telemetry
    from pulse_async._transport import RawResponse

__all__ = ["CallWatch", "configure_logging", "watch"]

T = TypeVar("T")
log = logging.getLogger("pulse_async.http")

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Sender(Protocol):
    async def send(
        self,
        request: Request,
        *,
        timeout: Timeout,  # noqa: ASYNC109 - per-phase HTTP timeouts, not a cancel scope
    ) -> RawResponse: ...


class _CallState(Protocol):
    """What the client's per-call state tells a watcher."""

    attempts: int
    retries: int
    throttled: float


def configure_logging(value: str | None = None) -> bool:
    """Honour ``PULSE_LOG`` (or ``value``): ``debug`` or ``info`` logs to stderr.

    Returns whether it configured anything. A logger that already has a
    handler keeps it (no second one is added): only its level is set.
    """
    text = os.environ.get("PULSE_LOG") if value is None else value
    level = _LEVELS.get((text or "").strip().lower())
    if level is None:
        return False
    for name in ("pulse_async", "pulse_sync"):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if not logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter(_FORMAT))
            logger.addHandler(handler)
    return True


# --- OpenTelemetry, found once -----------------------------------------------------------------

_UNSET: Any = object()
_telemetry: Telemetry | None = _UNSET


def _load_telemetry() -> Telemetry | None:
    global _telemetry
    telemetry: Telemetry | None = None
    if importlib.util.find_spec("opentelemetry") is not None:
        try:
            from pulse_async._otel import Telemetry
        except ImportError:  # a namespace without the API (another vendor's package)
            pass
        else:
            telemetry = Telemetry()
    _telemetry = telemetry
    return telemetry


@lru_cache(maxsize=64)
def _base_path(base_url: str) -> str:
    return urllib.parse.urlsplit(base_url).path.rstrip("/")


def watch(
    base_url: str, request: Request, call: _CallState, transport: _Sender
) -> CallWatch | None:
    """A watcher for this call, or ``None`` when nothing would see it (the fast path)."""
    telemetry = _telemetry
    if telemetry is _UNSET:
        telemetry = _load_telemetry()
    trace: CallTrace | None = None
    if telemetry is not None:
        trace = telemetry.begin(base_url, request.operation, request.method)
    if trace is None and not log.isEnabledFor(logging.DEBUG):
        return None
    return CallWatch(base_url, request, call, transport, trace)


class CallWatch:
    """Stands in front of the transport for one call; see the module docstring."""

    __slots__ = ("_base_path", "_call", "_request", "_trace", "_transport")

    def __init__(
        self,
        base_url: str,
        request: Request,
        call: _CallState,
        transport: _Sender,
        trace: CallTrace | None,
    ) -> None:
        self._request = request
        self._call = call
        self._transport = transport
        self._trace = trace
        self._base_path = _base_path(base_url)

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run the call (``coro``) inside its span."""
        trace = self._trace
        if trace is None:
            return await coro
        trace.start(self._request.idempotency_key)
        error: BaseException | None = None
        try:
            return await coro
        except BaseException as exc:
            error = exc
            raise
        finally:
            call = self._call
            trace.end(call.retries, call.throttled, error)

    async def send(
        self,
        request: Request,
        *,
        timeout: Timeout,  # noqa: ASYNC109 - per-phase HTTP timeouts, not a cancel scope
    ) -> RawResponse:
        """One attempt: its span, its ``traceparent``, its log line."""
        trace = self._trace
        attempt_number = self._call.attempts
        attempt = None
        if trace is not None:
            attempt = trace.start_attempt(
                attempt_number, request.path, request.template, request.query
            )
            if attempt.headers:
                request = attrs.evolve(request, headers=attempt.headers)
        started = time.perf_counter()
        try:
            raw = await self._transport.send(request, timeout=timeout)
        except BaseException as exc:
            elapsed = time.perf_counter() - started
            if attempt is not None and trace is not None:
                trace.end_attempt(attempt, None, exc, elapsed)
            self._log(attempt_number, None, elapsed, None, exc)
            raise
        elapsed = time.perf_counter() - started
        if attempt is not None and trace is not None:
            trace.end_attempt(attempt, raw.status, None, elapsed)
        self._log(attempt_number, raw.status, elapsed, header(raw.headers, "X-Request-Id"), None)
        return raw

    def _log(
        self,
        attempt: int,
        status: int | None,
        elapsed: float,
        request_id: str | None,
        error: BaseException | None,
    ) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        request = self._request
        template = self._base_path + (request.template or request.path)
        shown = status if status is not None else type(error).__name__
        log.debug(
            "%s %s status=%s attempt=%d elapsed=%.3fs request_id=%s",
            request.method,
            template,
            shown,
            attempt,
            elapsed,
            request_id or "-",
            extra={
                "http_method": request.method,
                "path_template": template,
                "status": status,
                "attempt": attempt,
                "elapsed": elapsed,
                "request_id": request_id,
            },
        )


configure_logging()
