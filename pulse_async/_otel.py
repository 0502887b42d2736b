"""OpenTelemetry: a span per call, a CLIENT span per HTTP attempt, metrics, ``traceparent``.

Imported only when ``opentelemetry`` is importable (see
:mod:`pulse_async._instrument`), and it uses the API alone (the ``otel``
extra): the application chooses the SDK, exporters and propagators.

What a call produces, with a tracer provider set:

- a span ``pulse.<resource>.<method>`` (``pulse.messages.send``; INTERNAL)
  carrying ``pulse.idempotency_key`` (for POSTs), ``pulse.retries`` and
  ``pulse.throttled_seconds``; on failure ``error.type`` (the error class)
  and an ERROR status;
- under it, one CLIENT span per HTTP attempt, following the HTTP client
  semantic conventions: named ``{http.request.method} {url.template}``,
  with ``http.request.method``, ``server.address``, ``server.port``,
  ``url.full`` (the ``q`` search term redacted), ``url.template``,
  ``http.response.status_code``, ``error.type`` (the status code as text for
  4xx/5xx, else the error class) and ``http.request.resend_count`` from the
  second attempt on;
- the attempt's context injected into its request headers through the
  global propagator (W3C ``traceparent`` by default). Without a provider,
  a valid span context already current (an incoming request's) is still
  propagated, as the API specifies.

With a meter provider set: ``http.client.request.duration`` (histogram, s,
per attempt), ``pulse.client.retries``, ``pulse.client.rate_limited`` (429
answers) and ``pulse.client.throttle.duration`` (s held back by the limiter
or a server-requested pause).

While an attempt is in flight, HTTP instrumentation is suppressed in its
context (the context key the OpenTelemetry API defines for this), so
``opentelemetry-instrumentation-aiohttp-client``, if also enabled, adds no
second span nor a second ``traceparent`` for the same request.

The API key is never an attribute: it travels only in the ``Authorization``
header, which nothing here reads.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from pulse_async._version import __version__

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import Counter, Histogram, Meter, MeterProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider

__all__ = ["SCHEMA_URL", "CallTrace", "Endpoint", "Telemetry"]

#: The semantic conventions release these attribute names follow.
SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.37.0"
_SCOPE: Final = "pulse_async"
#: The boundaries the HTTP metrics conventions advise for ``http.client.request.duration``.
_DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
#: Query parameters whose values never reach ``url.full``: a search term may be an address.
_REDACTED_QUERY: Final = frozenset({"q"})

# The context keys the API defines (private names, but the documented cross-library
# protocol: every HTTP instrumentation checks them). Missing in very old APIs: then no-ops.
_SUPPRESS_HTTP = getattr(otel_context, "_SUPPRESS_HTTP_INSTRUMENTATION_KEY", None)
_SUPPRESS_ALL = getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", None)

try:  # the proxy handed out before a meter provider is set
    from opentelemetry.metrics import _internal as _metrics_internal
    from opentelemetry.metrics._internal import _ProxyMeterProvider
except ImportError:  # pragma: no cover - a future API that moved it
    _metrics_internal = None  # type: ignore[assignment]
    _ProxyMeterProvider = ()  # type: ignore[assignment,misc]

# Whether a provider is set is asked on every call. The public getters look in os.environ
# each time no provider is set (a microsecond or two); the API's own globals say the same
# in one attribute read. They are used when present and no provider comes from the
# environment (then the getters must run once to load it); otherwise the getters.
_FAST_TRACE = hasattr(trace, "_TRACER_PROVIDER") and "OTEL_PYTHON_TRACER_PROVIDER" not in os.environ
_FAST_METRICS = (
    _metrics_internal is not None
    and hasattr(_metrics_internal, "_METER_PROVIDER")
    and "OTEL_PYTHON_METER_PROVIDER" not in os.environ
)


def _tracer_provider() -> TracerProvider | None:
    """The provider set, or ``None`` (the API's proxy, which makes no spans)."""
    if _FAST_TRACE:
        fast: TracerProvider | None = trace._TRACER_PROVIDER
        return fast
    provider = trace.get_tracer_provider()
    return None if isinstance(provider, trace.ProxyTracerProvider) else provider


def _meter_provider() -> MeterProvider | None:
    """The meter provider set, or ``None``."""
    if _FAST_METRICS:
        fast: MeterProvider | None = _metrics_internal._METER_PROVIDER
        return fast
    provider = metrics.get_meter_provider()
    return None if isinstance(provider, _ProxyMeterProvider) else provider


class Endpoint:
    """Where a client sends its requests, split once per base URL for the attributes."""

    __slots__ = ("address", "base_path", "base_url", "port")

    def __init__(self, base_url: str) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.base_url = base_url
        self.address = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base_path = parts.path.rstrip("/")


@lru_cache(maxsize=64)
def _endpoint(base_url: str) -> Endpoint:
    return Endpoint(base_url)


class _Instruments:
    """The metric instruments of one meter provider."""

    __slots__ = ("duration", "provider", "rate_limited", "retries", "throttled")

    def __init__(self, provider: MeterProvider) -> None:
        meter: Meter = provider.get_meter(_SCOPE, __version__, schema_url=SCHEMA_URL)
        self.provider = provider
        self.duration: Histogram = meter.create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of HTTP client requests.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.retries: Counter = meter.create_counter(
            "pulse.client.retries", unit="{retry}", description="Retries after a failed attempt."
        )
        self.rate_limited: Counter = meter.create_counter(
            "pulse.client.rate_limited", unit="{response}", description="429 answers received."
        )
        self.throttled: Counter = meter.create_counter(
            "pulse.client.throttle.duration",
            unit="s",
            description="Time calls were held back by the rate limiter or a server's pause.",
        )


class Telemetry:
    """The process-wide view of OpenTelemetry's globals, read per call.

    A provider may be set after clients were made, and tests swap them: so the
    globals are looked at on every call (a couple of attribute reads) and the
    tracer and instruments are cached per provider.
    """

    def __init__(self) -> None:
        self._tracer_provider: TracerProvider | None = None
        self._tracer: Tracer | None = None
        self._instruments: _Instruments | None = None

    def begin(self, base_url: str, operation: str, method: str) -> CallTrace | None:
        """What watches this call, or ``None`` when nothing would see it."""
        provider = _tracer_provider()
        tracer: Tracer | None = None
        if provider is not None:
            if _SUPPRESS_ALL is not None and otel_context.get_value(_SUPPRESS_ALL):
                return None
            if provider is not self._tracer_provider:
                self._tracer = provider.get_tracer(_SCOPE, __version__, schema_url=SCHEMA_URL)
                self._tracer_provider = provider
            tracer = self._tracer
        meter_provider = _meter_provider()
        instruments: _Instruments | None = None
        if meter_provider is not None:
            instruments = self._instruments
            if instruments is None or instruments.provider is not meter_provider:
                instruments = self._instruments = _Instruments(meter_provider)
        # No SDK: still hand on a trace the caller is part of (an incoming request's).
        if tracer is None and instruments is None:
            current = otel_context.get_current()
            # An empty context (the usual case) holds no span: skip the span look-up.
            if not current or not trace.get_current_span(current).get_span_context().is_valid:
                return None
        return CallTrace(tracer, instruments, _endpoint(base_url), operation, method)


class CallTrace:
    """The spans and measurements of one call (made by :meth:`Telemetry.begin`)."""

    __slots__ = (
        "_attrs",
        "_endpoint",
        "_instruments",
        "_method",
        "_operation",
        "_span",
        "_token",
        "_tracer",
    )

    def __init__(
        self,
        tracer: Tracer | None,
        instruments: _Instruments | None,
        endpoint: Endpoint,
        operation: str,
        method: str,
    ) -> None:
        self._tracer = tracer
        self._instruments = instruments
        self._endpoint = endpoint
        self._operation = operation
        self._method = method
        self._span: Span | None = None
        self._token: object = None
        self._attrs: dict[str, Any] = {"pulse.operation": operation}

    # -- the call ----------------------------------------------------------------------------

    def start(self, idempotency_key: str | None) -> None:
        """Open the call span and make it current (for the attempts and the limiter)."""
        if self._tracer is None:
            return
        attributes: dict[str, Any] = {}
        if idempotency_key is not None:
            attributes["pulse.idempotency_key"] = idempotency_key
        span = self._span = self._tracer.start_span(
            "pulse." + (self._operation or "request"),
            kind=SpanKind.INTERNAL,
            attributes=attributes,
        )
        self._token = otel_context.attach(trace.set_span_in_context(span))

    def end(self, retries: int, throttled: float, error: BaseException | None) -> None:
        """Close the call span; count its retries and waits."""
        instruments = self._instruments
        if instruments is not None:
            if retries:
                instruments.retries.add(retries, self._attrs)
            if throttled > 0:
                instruments.throttled.add(throttled, self._attrs)
        span = self._span
        if span is None:
            return
        span.set_attribute("pulse.retries", retries)
        span.set_attribute("pulse.throttled_seconds", float(throttled))
        if error is not None:
            span.set_attribute("error.type", _error_type(error))
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()
        otel_context.detach(self._token)  # type: ignore[arg-type]

    # -- one attempt -------------------------------------------------------------------------

    def start_attempt(
        self, attempt: int, path: str, template: str | None, query: Mapping[str, str] | None
    ) -> _Attempt:
        """Open the attempt's CLIENT span; the headers that carry its context."""
        endpoint = self._endpoint
        url_template = endpoint.base_path + (template or path)
        attributes: dict[str, Any] = {
            "http.request.method": self._method,
            "server.address": endpoint.address,
            "server.port": endpoint.port,
            "url.template": url_template,
        }
        parent: Context = otel_context.get_current()
        span: Span | None = None
        if self._tracer is not None:
            span_attributes = dict(attributes)
            span_attributes["url.full"] = _url_full(endpoint.base_url + path, query)
            if attempt > 1:
                span_attributes["http.request.resend_count"] = attempt - 1
            span = self._tracer.start_span(
                f"{self._method} {url_template}",
                context=parent,
                kind=SpanKind.CLIENT,
                attributes=span_attributes,
            )
            ctx = trace.set_span_in_context(span, parent)
        else:
            ctx = parent
        if _SUPPRESS_HTTP is not None:
            ctx = otel_context.set_value(_SUPPRESS_HTTP, True, ctx)
        headers: dict[str, str] = {}
        propagate.inject(headers, context=ctx)
        return _Attempt(span, attributes, headers, otel_context.attach(ctx))

    def end_attempt(
        self, attempt: _Attempt, status: int | None, error: BaseException | None, elapsed: float
    ) -> None:
        """Close the attempt's span and record its duration."""
        otel_context.detach(attempt.token)  # type: ignore[arg-type]
        attributes = attempt.attributes
        if status is not None:
            attributes["http.response.status_code"] = status
            if status >= 400:
                attributes["error.type"] = str(status)
        elif error is not None:
            attributes["error.type"] = _error_type(error)
        instruments = self._instruments
        if instruments is not None:
            instruments.duration.record(elapsed, attributes)
            if status == 429:
                instruments.rate_limited.add(1, self._attrs)
        span = attempt.span
        if span is None:
            return
        if status is not None:
            span.set_attribute("http.response.status_code", status)
        if "error.type" in attributes:
            span.set_attribute("error.type", attributes["error.type"])
            span.set_status(Status(StatusCode.ERROR))
        span.end()


class _Attempt:
    __slots__ = ("attributes", "headers", "span", "token")

    def __init__(
        self, span: Span | None, attributes: dict[str, Any], headers: dict[str, str], token: object
    ) -> None:
        self.span = span
        self.attributes = attributes
        self.headers = headers
        self.token = token


def _error_type(error: BaseException) -> str:
    cls = type(error)
    return f"{cls.__module__}.{cls.__qualname__}"


def _url_full(url: str, query: Mapping[str, str] | None) -> str:
    if not query:
        return url
    items = [(k, "REDACTED" if k in _REDACTED_QUERY else v) for k, v in query.items()]
    return url + "?" + urllib.parse.urlencode(items)
