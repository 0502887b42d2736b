"""Client options: one immutable value, resolved once from arguments and environment.

``api_key`` comes from the argument or ``$PULSE_API_KEY`` (Pulsewave: ``$PULSEWAVE_API_KEY``
first, like its base URL); ``base_url`` from
the argument, the environment or the API's production URL. Plain ``http://``
is accepted only for loopback hosts. The key never appears in a repr.

Readings where the SPEC is silent: ``AsyncPulsewave`` looks at
``$PULSEWAVE_BASE_URL``, then at ``$PULSE_BASE_URL`` only if that is a bare
root (a URL ending in ``/v2`` is the other API's); and a base URL that is a
bare root (``http://127.0.0.1:8080``) gets the API's version path (``/v2`` or
``/v1``) appended, so one ``PULSE_BASE_URL`` can point both clients at a
server that serves both APIs, like the local test server.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from pulse_async._core._proxy import Proxy, ProxySetting, resolve_proxy
from pulse_async._core._validation import check_header_value
from pulse_async.errors import ValidationError

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_RETRIES",
    "PULSEWAVE_BASE_URL",
    "PULSEWAVE_KEY_VARIABLES",
    "PULSE_BASE_URL",
    "PULSE_KEY_VARIABLES",
    "ClientOptions",
    "Timeout",
    "is_loopback_host",
    "resolve_options",
]

PULSE_BASE_URL = "https://api.pulse.io/v2"
PULSEWAVE_BASE_URL = "https://api.pulsewave.dev/v1"
#: Where each client looks for its key, in order (Pulsewave's own variable first, as for its
#: base URL). The clients and the ``pulse`` CLI read these.
PULSE_KEY_VARIABLES = ("PULSE_API_KEY",)
PULSEWAVE_KEY_VARIABLES = ("PULSEWAVE_API_KEY", "PULSE_API_KEY")
DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_CONNECTIONS = 100
#: An HTTP header name (RFC 9110 §5.1 token).
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _positive(_inst: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    # Infinity is refused too: aiohttp's timers overflow on it (an OverflowError mid-call).
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise ValidationError(
            f"must be a positive, finite number of seconds, got {value!r}",
            field=f"timeout.{attribute.name}",
        )


@attrs.frozen(kw_only=True)
class Timeout:
    """Timeouts in seconds.

    ``connect``: to open a connection (not counting a wait for a free pooled
    connection, which a large fan-out makes normal; ``total`` bounds that); ``read``: between
    two reads of a response; ``total``: the whole call, every retry and every
    wait included — no call outlives it.
    """

    connect: float = attrs.field(default=5.0, validator=_positive)
    read: float = attrs.field(default=30.0, validator=_positive)
    total: float = attrs.field(default=60.0, validator=_positive)

    @classmethod
    def coerce(cls, value: Timeout | float | int | None) -> Timeout:
        """A ``Timeout`` from a number (the total deadline) or ``None`` (defaults)."""
        if value is None:
            return cls()
        if isinstance(value, Timeout):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("must be a number of seconds or a Timeout", field="timeout")
        total = float(value)
        return cls(connect=min(5.0, total), read=min(30.0, total), total=total)


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_base_url(url: str, version_path: str) -> str:
    if not isinstance(url, str):
        raise ValidationError("must be a string", field="base_url")
    check_header_value(url, "base_url")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"must be an absolute http(s) URL, got {url!r}", field="base_url")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValidationError(
            "plain http:// is only allowed for loopback hosts; use https://", field="base_url"
        )
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when it is read
    except ValueError:
        raise ValidationError(f"has an invalid port: {url!r}", field="base_url") from None
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValidationError("must not carry credentials, a query or a fragment", field="base_url")
    url = url.rstrip("/")
    if not parts.path.strip("/"):
        # A bare root (the local server serves both APIs on one port): add the API's path.
        url += version_path
    return url


def _check_api_key(key: str | None, env_names: tuple[str, ...] = ("PULSE_API_KEY",)) -> str:
    if key is None:
        where = " or ".join(env_names)
        raise ValidationError(f"no API key: pass api_key= or set {where}", field="api_key")
    if not isinstance(key, str) or not key.strip():
        raise ValidationError("must be a non-empty string", field="api_key")
    check_header_value(key, "api_key")
    if any(c.isspace() for c in key):
        raise ValidationError("must not contain whitespace", field="api_key")
    return key


@attrs.frozen(kw_only=True)
class ClientOptions:
    """Everything a client was configured with. Replace fields with ``attrs.evolve``."""

    api_key: str = attrs.field(repr=False)
    base_url: str
    timeout: Timeout = attrs.field(factory=Timeout)
    max_retries: int = DEFAULT_MAX_RETRIES
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    verify_ssl: bool = True
    default_headers: Mapping[str, str] = attrs.field(factory=dict)
    #: The forward proxy requests go through (``None``: direct); its repr hides credentials.
    proxy: Proxy | None = None
    #: Called in the running loop to make the session's connector (the escape hatch).
    connector_factory: Callable[[], object] | None = None


def check_max_retries(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError("must be an integer >= 0", field="max_retries")
    return value


def resolve_options(
    *,
    api_key: str | None,
    base_url: str | None,
    default_base_url: str,
    env_base_url: tuple[str, ...] = ("PULSE_BASE_URL",),
    env_api_key: tuple[str, ...] = PULSE_KEY_VARIABLES,
    timeout: Timeout | float | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    verify_ssl: bool = True,
    default_headers: Mapping[str, str] | None = None,
    proxy: ProxySetting = None,
    connector_factory: Callable[[], object] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ClientOptions:
    """Resolve arguments and environment into :class:`ClientOptions`, validating each."""
    env = os.environ if environ is None else environ
    if api_key is None:
        api_key = next((env[name] for name in env_api_key if env.get(name)), None)
    key = _check_api_key(api_key, env_api_key)
    from_env = None
    for position, name in enumerate(env_base_url):
        value = env.get(name)
        # A shared fallback (PULSE_BASE_URL, for Pulsewave) counts only as a bare root: a URL
        # with a path (``…/v2``) names the other API, and Pulsewave keeps its own default.
        if value and (position == 0 or not urllib.parse.urlsplit(value).path.strip("/")):
            from_env = value
            break
    version_path = "/" + default_base_url.rstrip("/").rsplit("/", 1)[-1]
    url = _check_base_url(base_url or from_env or default_base_url, version_path)
    if (
        isinstance(max_response_bytes, bool)
        or not isinstance(max_response_bytes, int)
        or max_response_bytes < 1
    ):
        raise ValidationError("must be a positive integer", field="max_response_bytes")
    if (
        isinstance(max_connections, bool)
        or not isinstance(max_connections, int)
        or max_connections < 1
    ):
        raise ValidationError("must be a positive integer", field="max_connections")
    headers = dict(default_headers or {})
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN_RE.fullmatch(name):
            raise ValidationError(f"invalid header name {name!r}", field="default_headers")
        if not isinstance(value, str):
            raise ValidationError("must be a string", field=f"default_headers[{name!r}]")
        check_header_value(value, f"default_headers[{name!r}]")
    if connector_factory is not None and not callable(connector_factory):
        raise ValidationError("must be a callable returning a connector", field="connector_factory")
    return ClientOptions(
        api_key=key,
        base_url=url,
        timeout=Timeout.coerce(timeout),
        max_retries=check_max_retries(max_retries),
        max_response_bytes=max_response_bytes,
        max_connections=max_connections,
        verify_ssl=bool(verify_ssl),
        default_headers=headers,
        proxy=resolve_proxy(proxy, url, env),
        connector_factory=connector_factory,
    )
