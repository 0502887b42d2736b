"""Forward proxies: which one a client uses, resolved once from ``proxy=`` or the environment.

Pure: no I/O, no aiohttp. The transport gets a :class:`Proxy` (or ``None``) and passes it to
aiohttp per request; the session itself keeps ``trust_env=False``, so aiohttp never reads the
environment or ``~/.netrc`` on its own — ``.netrc`` credentials never reach our requests.

Readings where the SPEC and the conventions leave room (each is the careful choice most
HTTP clients make):

- ``proxy=None`` (the default) reads ``https_proxy`` / ``HTTPS_PROXY`` for an ``https://``
  base URL and ``http_proxy`` / ``HTTP_PROXY`` for an ``http://`` one, lower case first (as
  curl and urllib do). Since a plain ``http://`` API must be a loopback host, and loopback
  hosts skip environment proxies (below), it is ``HTTPS_PROXY`` that matters in practice.
- ``no_proxy`` / ``NO_PROXY`` reads as urllib and curl read it: comma-separated host names,
  each matching itself and its subdomains (``example.com`` and ``.example.com`` alike), with an
  optional ``:port`` that must then match too, or ``*`` for every host. Case-insensitive.
- Loopback hosts (``localhost``, ``*.localhost``, 127.0.0.0/8, ``::1``) never go through a
  proxy taken from the environment, as in Go's ``ProxyFromEnvironment``: the local test
  server must not be sent to a corporate proxy. An explicit ``proxy=`` applies to them too.
- ``proxy=False`` turns proxies off, whatever the environment says.
- A proxy URL is ``http://`` or ``https://`` (the scheme of the connection to the proxy), with
  optional ``user:password@`` (percent-encoded). The credentials become a
  ``Proxy-Authorization: Basic`` header and are as secret as the API key: no repr, log line or
  error shows them, and an invalid proxy URL is refused without echoing it.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Mapping
from typing import Literal

import attrs

from pulse_async._core._validation import check_header_value
from pulse_async.errors import ValidationError

__all__ = ["Proxy", "ProxySetting", "resolve_proxy"]

#: What ``proxy=`` takes: a URL, ``None`` (from the environment) or ``False`` (never).
ProxySetting = str | Literal[False] | None


@attrs.frozen(repr=False)
class Proxy:
    """A forward proxy: its URL without credentials, and the ``Proxy-Authorization`` they make."""

    url: str
    authorization: str | None = None
    #: Where it came from: ``"proxy"`` (the argument) or the environment variable's name.
    source: str = "proxy"

    def __repr__(self) -> str:
        hidden = ", credentials hidden" if self.authorization is not None else ""
        return f"Proxy({self.url!r}, from {self.source}{hidden})"


def _is_loopback(host: str) -> bool:
    # Imported here: _options imports this module.
    from pulse_async._core._options import is_loopback_host

    return is_loopback_host(host)


def parse_proxy(url: object, source: str = "proxy") -> Proxy:
    """Check a proxy URL and split its credentials off; errors never echo the URL."""
    field = "proxy" if source == "proxy" else f"proxy (from ${source})"
    if not isinstance(url, str) or not url.strip():
        raise ValidationError("must be a non-empty URL string", field=field)
    check_header_value(url, field)
    if "://" not in url:
        url = "http://" + url  # "proxy.corp:3128", as curl and urllib accept it
    parts = urllib.parse.urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        raise ValidationError("has an invalid port", field=field) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(
            "must be an http:// or https:// URL with a host (socks proxies are not supported)",
            field=field,
        )
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ValidationError("must not carry a path, a query or a fragment", field=field)
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    clean = f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
    authorization = None
    if parts.username is not None or parts.password is not None:
        user = urllib.parse.unquote(parts.username or "")
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        authorization = f"Basic {token}"
    return Proxy(url=clean, authorization=authorization, source=source)


def _from_environment(scheme: str, env: Mapping[str, str]) -> tuple[str, str] | None:
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY"):
        value = env.get(name)
        if value and value.strip():
            return name, value
    return None


def resolve_proxy(setting: ProxySetting, base_url: str, env: Mapping[str, str]) -> Proxy | None:
    """The proxy a client whose API lives at ``base_url`` uses, or ``None`` to connect directly."""
    if setting is False:
        return None
    if setting is not None:
        return parse_proxy(setting)
    parts = urllib.parse.urlsplit(base_url)
    host = parts.hostname or ""
    if _is_loopback(host):
        return None
    found = _from_environment(parts.scheme, env)
    if found is None:
        return None
    name, value = found
    no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if bypasses(no_proxy, host, port):
        return None
    return parse_proxy(value, source=name)


def bypasses(no_proxy: str, host: str, port: int) -> bool:
    """Whether a ``NO_PROXY`` value exempts ``host:port`` from the proxy."""
    host = host.strip("[]").lower().rstrip(".")
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry_port = None
        if entry.startswith("["):  # [::1]:8080
            bracket = entry.find("]")
            rest = entry[bracket + 1 :]
            entry, entry_port = entry[1:bracket], rest[1:] if rest.startswith(":") else None
        elif entry.count(":") == 1:
            entry, entry_port = entry.split(":")
        entry = entry.lstrip(".").rstrip(".")
        if entry_port is not None and entry_port != str(port):
            continue
        if entry and (host == entry or host.endswith("." + entry)):
            return True
    return False
