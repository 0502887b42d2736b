"""Sans-I/O HTTP: building requests and deciphering responses.

:class:`Request` is what a resource method wants sent; :func:`sign` is the one
place credentials and identifying headers are made; :func:`decipher` is the one
function that turns (status, headers, body) into data or an exception of the
error tree. None of it does I/O, so the transport around it is small.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs

from pulse_async._core._options import ClientOptions
from pulse_async._core._retry_after import parse_rate_limit_headers, parse_retry_after
from pulse_async._version import DISTRIBUTION, __version__
from pulse_async.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    PulseError,
    RateLimitError,
    ServerError,
    ValidationError,
)

__all__ = [
    "UNPARSED",
    "Request",
    "Unparsed",
    "decipher",
    "encode_json",
    "error_from_response",
    "header",
    "path",
    "redacted",
    "sign",
    "user_agent",
]

T = TypeVar("T")


@attrs.frozen(kw_only=True, slots=True)
class Request:
    """An API call to make, relative to the client's base URL.

    ``path`` is already quoted. ``body`` is the JSON body holding only the
    fields the caller set. ``idempotency_key`` is set for every POST.
    ``operation`` (``"messages.send"``) and ``template`` (``"/messages/{id}"``;
    ``None`` when the path has no ids) name the call in traces and logs
    without its ids. ``headers`` are added to this one request (a trace's
    ``traceparent``); the signed headers always win.
    """

    method: str
    path: str
    query: Mapping[str, str] | None = None
    body: Mapping[str, Any] | None = None
    idempotency_key: str | None = None
    # Descriptions of the call, not part of what is asked: left out of equality.
    operation: str = attrs.field(default="", eq=False)
    template: str | None = attrs.field(default=None, eq=False)
    headers: Mapping[str, str] | None = attrs.field(default=None, eq=False)


def path(template: str, *ids: str) -> str:
    """Fill ``template`` (``"/users/{}"``) with URL-quoted, already validated ids."""
    return template.format(*(urllib.parse.quote(i, safe="") for i in ids))


def user_agent(aiohttp_version: str) -> str:
    """``pulse-messaging/<version> python/<x.y> aiohttp/<x.y.z>`` (the distribution's name)."""
    py = ".".join(platform.python_version_tuple()[:2])
    return f"{DISTRIBUTION}/{__version__} python/{py} aiohttp/{aiohttp_version}"


class _Credential(str):
    """A header value that is the key on the wire but not in a ``repr``.

    Tracebacks printed with their locals (error trackers, ``pytest --showlocals``)
    and debuggers show the transport's headers dict through ``repr``.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'<redacted>'"


def redacted(value: str) -> str:
    """``value`` as a header value whose ``repr`` hides it (credentials: key, proxy)."""
    return _Credential(value)


def sign(options: ClientOptions, aiohttp_version: str) -> dict[str, str]:
    """The headers every request carries: credentials and identification, made once.

    The key goes in an ``Authorization`` header we build — never through an
    HTTP library's ``auth=`` — so there is exactly one place it is written.
    """
    headers = dict(options.default_headers)
    headers["Authorization"] = _Credential(f"Bearer {options.api_key}")
    headers["User-Agent"] = user_agent(aiohttp_version)
    headers["Accept"] = "application/json"
    return headers


# Built once: json.dumps/json.loads with any non-default option build a new encoder or
# decoder (and its scanner) on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _stdlib_dumps(body: Mapping[str, Any]) -> bytes:
    return _ENCODER.encode(body).encode()


def _orjson() -> Any:
    """orjson when installed (``pulse-sdk[speedups]``), unless ``PULSE_JSON=stdlib``."""
    if os.environ.get("PULSE_JSON", "").strip().lower() == "stdlib":
        return None
    try:
        import orjson
    except ImportError:
        return None
    return orjson


#: The JSON library in use: ``"orjson"`` (``pulse-sdk[speedups]``) or ``"stdlib"``.
_ORJSON = _orjson()
JSON_LIBRARY = "stdlib" if _ORJSON is None else "orjson"


def encode_json(body: Mapping[str, Any]) -> bytes:
    """The compact UTF-8 JSON of a request body."""
    return _dumps(body)


_dumps: Callable[[Mapping[str, Any]], bytes] = _stdlib_dumps if _ORJSON is None else _ORJSON.dumps


def header(headers: Mapping[str, str], name: str) -> str | None:
    """``headers[name]``, case-insensitively, for any mapping."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, item in headers.items():
        if key.lower() == lowered:
            return item
    return None


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259); Python reads them, and the converter
    # would make {"id": NaN} a User with id "nan": a silently wrong model.
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 overflows to inf
        raise ValueError(f"number out of range: {text[:40]}")
    return value


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def _load_json(body: bytes) -> Any:
    """Parse a body; ``ValueError`` for anything that is not sane JSON.

    With orjson, what it refuses is read again by the standard library (which decides:
    orjson also refuses an integer too large for a double, which is valid JSON); what
    it accepts reads the same, except that an integer beyond 64 bits becomes a float.
    """
    if _ORJSON is not None:
        try:
            return _ORJSON.loads(body)
        except ValueError:  # orjson.JSONDecodeError: the rare bad answer takes the slow path
            pass
    try:
        # What json.loads does with bytes, on a decoder built once.
        return _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except RecursionError:
        # The C scanner guards its recursion and raises this (not a ValueError) for
        # absurdly nested documents; it is the same failure to us.
        raise ValueError("JSON nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"body is not UTF-8: {exc.reason}") from None


def _error_fields(body: bytes) -> tuple[str | None, str | None, str | None, str | None]:
    """``(code, message, field, request_id)`` from an error envelope, leniently."""
    try:
        payload = _load_json(body) if body else None
    except ValueError:
        return None, None, None, None
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return None, None, None, None

    def text(key: str) -> str | None:
        value = error.get(key)
        return value[:2000] if isinstance(value, str) and value else None

    return text("code"), text("message"), text("field"), text("request_id")


_STATUS_ERRORS: dict[int, type[APIError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


#: Response headers an error never keeps: a proxy that echoes credentials must not put them
#: into ``exc.headers`` (and from there into logs and error trackers).
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})


def _safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _SECRET_HEADERS}


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    idempotency_key: str | None = None,
    now: Callable[[], float] = time.time,
) -> PulseError:
    """The error of the tree that an error response means.

    Copes with what is not in the SPEC: an HTML or empty body (a load
    balancer's 502), a missing envelope, unknown codes and unknown statuses.
    """
    code, message, field, request_id = _error_fields(body)
    request_id = request_id or header(headers, "X-Request-Id") or None
    if message is None:
        message = f"HTTP {status}" + (
            " (redirects are not followed)" if 300 <= status < 400 else ""
        )
    common: dict[str, Any] = {
        "status": status,
        "code": code,
        "field": field,
        "request_id": request_id,
        "headers": _safe_headers(headers),
        "idempotency_key": idempotency_key,
        "rate_limit": parse_rate_limit_headers(headers),
    }
    if status == 400:
        return ValidationError(message, **common)
    if status == 429:
        retry_after = parse_retry_after(header(headers, "Retry-After"), now())
        return RateLimitError(message, retry_after=retry_after, **common)
    cls = _STATUS_ERRORS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else APIError
    return cls(message, **common)


def decipher(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    structure: Callable[[Any], T] | None,
    *,
    idempotency_key: str | None = None,
    now: Callable[[], float] = time.time,
) -> T | None:
    """Turn a response into a model (or ``None`` when no body is expected) or raise.

    ``structure`` builds the model from parsed JSON (``None``: no body
    expected, the body is ignored); ``now`` gives the Unix time an HTTP-date
    ``Retry-After`` is read against. A 2xx whose body is not the JSON object we expect is an
    :class:`APIConnectionError`: nothing usable came back.
    """
    if not 200 <= status < 300:
        raise error_from_response(status, headers, body, idempotency_key=idempotency_key, now=now)
    if structure is None:
        return None
    if structure is UNPARSED:
        return Unparsed(status, headers, body, idempotency_key)  # type: ignore[return-value]
    return _read_body(status, headers, body, structure, idempotency_key)


class Unparsed:
    """A 2xx answer whose body is not parsed yet: ``decipher``'s result for
    ``structure=UNPARSED``. The pager reads where the next page is off its tail and
    sends that request before it parses the page; :meth:`parse` fails as ``decipher``
    would have."""

    __slots__ = ("body", "headers", "idempotency_key", "status")

    def __init__(
        self, status: int, headers: Mapping[str, str], body: bytes, idempotency_key: str | None
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.idempotency_key = idempotency_key

    def parse(self) -> dict[str, Any]:
        """The body's JSON object, or the ``APIConnectionError`` decipher raises."""
        return _read_body(self.status, self.headers, self.body, _payload, self.idempotency_key)


def UNPARSED(payload: Any) -> Unparsed:
    """The ``structure`` that asks ``decipher`` for an :class:`Unparsed` answer (never called)."""
    raise TypeError("UNPARSED is a marker for decipher, not a structure function")


def _payload(payload: dict[str, Any]) -> dict[str, Any]:
    return payload


def _read_body(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    structure: Callable[[Any], T],
    idempotency_key: str | None,
) -> T:
    # A 204 where a model was expected falls through: its empty body is unreadable, which
    # is an APIConnectionError, never a ``None`` the caller did not ask for.
    try:
        payload = _load_json(body)
        if not isinstance(payload, dict):
            raise ValueError("expected a JSON object")
        if idempotency_key is not None:
            payload["idempotency_key"] = idempotency_key
        return structure(payload)
    except Exception as exc:  # any failure to read the body means the same thing
        raise APIConnectionError(
            f"the {status} response body could not be read: {_describe(exc)}",
            retryable=False,
            idempotency_key=idempotency_key,
            request_id=header(headers, "X-Request-Id") or None,
        ) from None


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
