"""Issue 18, item 2: proxies — ``proxy=``, the environment, credentials kept secret, no ``.netrc``.

Every test that sends goes through a real forward proxy on loopback (``proxy_helpers``): plain
HTTP as absolute-URI requests, HTTPS as a CONNECT tunnel to a TLS front of the local server,
with and without ``Proxy-Authorization``. The HTTPS origin is named ``api.pulse.test`` (so that
environment proxies apply to it: loopback hosts bypass them); the proxy maps that name to
127.0.0.1, and the client trusts the test's certificate through ``connector_factory``.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp.abc
import pytest
from proxy_helpers import ForwardProxy, TLSFront, basic, make_certificate

from pulse_async import APIConnectionError, APIError, AsyncPulse, ValidationError
from pulse_async._core._options import resolve_options
from pulse_async._core._proxy import bypasses
from pulse_async.testing import PulseServer

HOST = "api.pulse.test"
USER, PASSWORD = "proxy-user", "pr0xy p@ss:w/rd"  # needs percent-encoding in a URL
QUOTED = "proxy-user:pr0xy%20p%40ss%3Aw%2Frd"
PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY")


@pytest.fixture(autouse=True)
def clean_proxy_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    # A .netrc that aiohttp's trust_env would read: its secrets must never reach a request.
    netrc = tmp_path / "netrc"
    netrc.write_text(
        f"machine 127.0.0.1 login netrc-user password netrc-secret\n"
        f"machine {HOST} login netrc-user password netrc-secret\n"
    )
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".netrc").write_text(netrc.read_text())
    (tmp_path / ".netrc").chmod(0o600)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"), HOST)


class _Resolver(aiohttp.abc.AbstractResolver):
    """Resolves ``api.pulse.test`` to 127.0.0.1 (for the direct, NO_PROXY case)."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        assert host == HOST, host
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
        ]

    async def close(self) -> None:
        pass


def trusting(cert: Path) -> Any:
    """A ``connector_factory`` whose connector trusts the test certificate."""

    def factory() -> aiohttp.BaseConnector:
        context = ssl.create_default_context(cafile=str(cert))
        return aiohttp.TCPConnector(ssl=context, resolver=_Resolver())

    return factory


@pytest.fixture
async def server() -> AsyncIterator[PulseServer]:
    async with PulseServer() as s:
        yield s


@pytest.fixture
async def https_origin(server: PulseServer, certificate: tuple[Path, Path]) -> AsyncIterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    async with TLSFront(context, server.port) as front:
        yield f"https://{HOST}:{front.port}/v2"


def leaks(text: str) -> bool:
    return any(s in text for s in (PASSWORD, QUOTED, "pr0xy", basic(USER, PASSWORD).split()[1]))


# --- plain HTTP (absolute-URI requests) ---------------------------------------------------------


async def test_proxy_argument_sends_absolute_uri_requests_through_the_proxy(
    server: PulseServer,
) -> None:
    async with ForwardProxy() as proxy:
        async with AsyncPulse(server.admin_key, base_url=server.v2_url, proxy=proxy.url()) as c:
            user = await c.users.create(email="ada@example.com", role="editor")
            listed = await c.users.list(limit=5).to_list()
        assert user.id in {u.id for u in listed}
    assert [s.method for s in proxy.seen] == ["POST", "GET"]
    assert proxy.seen[0].target == f"{server.v2_url}/users"  # absolute form
    assert proxy.seen[1].target.startswith(f"{server.v2_url}/users?")
    assert all(s.proxy_authorization is None for s in proxy.seen)
    assert all("netrc" not in str(s.headers) for s in proxy.seen)


async def test_proxy_credentials_authenticate_and_stay_secret(server: PulseServer) -> None:
    async with ForwardProxy(credentials=(USER, PASSWORD)) as proxy:
        url = proxy.url(QUOTED)
        async with AsyncPulse(server.admin_key, base_url=server.v2_url, proxy=url) as client:
            await client.users.list().to_list()
            shown = f"{client!r} {client.options!r} {client.options.proxy!r}"
    assert [s.proxy_authorization for s in proxy.seen] == [basic(USER, PASSWORD)]
    assert not leaks(shown)
    assert "credentials hidden" in shown


async def test_wrong_proxy_credentials_fail_without_echoing_them(server: PulseServer) -> None:
    async with ForwardProxy(credentials=(USER, "the-right-one")) as proxy:
        url = proxy.url(QUOTED)
        async with AsyncPulse(
            server.admin_key, base_url=server.v2_url, proxy=url, max_retries=0
        ) as client:
            with pytest.raises(APIError) as caught:
                await client.users.list().to_list()
    assert caught.value.status == 407
    assert not leaks(f"{caught.value} {caught.value!r} {caught.value.headers}")


async def test_environment_proxies_skip_loopback_hosts(
    server: PulseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        async with AsyncPulse(server.admin_key, base_url=server.v2_url) as client:
            assert client.options.proxy is None
            await client.users.list().to_list()
    assert proxy.seen == []


# --- HTTPS (CONNECT tunnels), from the environment ----------------------------------------------


async def test_https_proxy_from_the_environment_tunnels_with_credentials(
    server: PulseServer,
    https_origin: str,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with ForwardProxy(credentials=(USER, PASSWORD), hosts=(HOST,)) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url(QUOTED))
        async with AsyncPulse(
            server.admin_key, base_url=https_origin, connector_factory=trusting(certificate[0])
        ) as client:
            user = await client.users.create(email="grace@example.com", role="viewer")
            again = await client.users.list(limit=5).to_list()
            assert "HTTPS_PROXY" in repr(client.options.proxy)
            assert not leaks(repr(client.options))
        assert user.id in {u.id for u in again}
    port = https_origin.split(":")[2].split("/")[0]
    assert {(s.method, s.target) for s in proxy.seen} == {("CONNECT", f"{HOST}:{port}")}
    assert all(s.proxy_authorization == basic(USER, PASSWORD) for s in proxy.seen)
    # The tunnel hides the request: the proxy never saw the API key, nor any .netrc secret.
    for seen in proxy.seen:
        assert "authorization" not in seen.headers
        assert server.admin_key not in str(seen.headers)
        assert "netrc" not in str(seen.headers)


async def test_a_refused_tunnel_is_a_connection_error_without_the_credentials(
    server: PulseServer,
    https_origin: str,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with ForwardProxy(credentials=(USER, "the-right-one"), hosts=(HOST,)) as proxy:
        monkeypatch.setenv("https_proxy", proxy.url(QUOTED))
        async with AsyncPulse(
            server.admin_key,
            base_url=https_origin,
            connector_factory=trusting(certificate[0]),
            max_retries=0,
        ) as client:
            with pytest.raises(APIConnectionError) as caught:
                await client.users.list().to_list()
    assert "407" in str(caught.value)
    assert not leaks(f"{caught.value} {caught.value!r}")
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


async def test_no_proxy_connects_directly(
    server: PulseServer,
    https_origin: str,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with ForwardProxy(hosts=(HOST,)) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url())
        monkeypatch.setenv("NO_PROXY", "localhost, .pulse.test")
        async with AsyncPulse(
            server.admin_key, base_url=https_origin, connector_factory=trusting(certificate[0])
        ) as client:
            assert client.options.proxy is None
            await client.users.list().to_list()
        async with AsyncPulse(
            server.admin_key,
            base_url=https_origin,
            connector_factory=trusting(certificate[0]),
            proxy=False,
        ) as client:
            await client.users.list().to_list()
    assert proxy.seen == []


# --- resolving the setting (pure) ----------------------------------------------------------------


def options(environ: dict[str, str], **kwargs: Any) -> Any:
    return resolve_options(
        api_key="pw_test_k",
        base_url=kwargs.pop("base_url", "https://api.pulse.io/v2"),
        default_base_url="https://api.pulse.io/v2",
        environ=environ,
        **kwargs,
    )


def test_lower_case_variables_win_and_a_bare_host_means_http() -> None:
    env = {"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:2"}
    assert options(env).proxy.url == "http://lower:1"
    assert options({"HTTPS_PROXY": "upper:3128"}).proxy.url == "http://upper:3128"
    # A plain http:// API is loopback-only, and loopback skips environment proxies.
    env = {"HTTP_PROXY": "http://corp:3128", "HTTPS_PROXY": "http://corp:3128"}
    assert options(env, base_url="http://localhost:8080").proxy is None


def test_explicit_false_and_url_beat_the_environment() -> None:
    env = {"HTTPS_PROXY": "http://env-proxy:3128"}
    assert options(env, proxy=False).proxy is None
    assert options(env, proxy="https://mine:8443").proxy.url == "https://mine:8443"
    # An explicit proxy applies to loopback too.
    local = options({}, base_url="http://127.0.0.1:8080", proxy="http://127.0.0.1:3128")
    assert local.proxy.url == "http://127.0.0.1:3128"


@pytest.mark.parametrize(
    "bad",
    [
        f"socks5://{QUOTED}@proxy:1080",
        f"http://{QUOTED}@proxy:notaport",
        f"http://{QUOTED}@proxy:3128/path",
        f"http://{QUOTED}@proxy:3128\r\nX: y",
        "",
    ],
)
def test_a_bad_proxy_is_refused_without_echoing_it(bad: str) -> None:
    with pytest.raises(ValidationError) as caught:
        options({}, proxy=bad)
    assert caught.value.field == "proxy"
    assert not leaks(f"{caught.value} {caught.value!r}")
    with pytest.raises(ValidationError) as from_env:
        options({"HTTPS_PROXY": bad or " x://"})
    assert from_env.value.field == "proxy (from $HTTPS_PROXY)"
    assert not leaks(str(from_env.value))


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "expected"),
    [
        ("*", "api.pulse.io", 443, True),
        ("pulse.io", "api.pulse.io", 443, True),
        (".pulse.io", "api.pulse.io", 443, True),
        ("pulse.io", "notpulse.io", 443, False),
        ("api.pulse.io:443", "api.pulse.io", 443, True),
        ("api.pulse.io:8443", "api.pulse.io", 443, False),
        (" other.com , API.PULSE.IO ", "api.pulse.io", 443, True),
        ("[::1]:443", "::1", 443, True),
        ("", "api.pulse.io", 443, False),
    ],
)
def test_no_proxy_matching(no_proxy: str, host: str, port: int, expected: bool) -> None:
    assert bypasses(no_proxy, host, port) is expected


# --- the escape hatch ----------------------------------------------------------------------------


async def test_connector_factory_is_called_in_the_loop_and_checked(server: PulseServer) -> None:
    made: list[aiohttp.TCPConnector] = []

    def factory() -> aiohttp.BaseConnector:
        connector = aiohttp.TCPConnector(limit=3)
        made.append(connector)
        return connector

    async with AsyncPulse(
        server.admin_key, base_url=server.v2_url, connector_factory=factory
    ) as client:
        assert made == []  # nothing before the first request
        await client.users.list().to_list()
        await client.users.list().to_list()
    assert len(made) == 1
    assert made[0].closed

    def not_a_connector() -> Any:
        return object()

    async with AsyncPulse(
        server.admin_key, base_url=server.v2_url, connector_factory=not_a_connector
    ) as client:
        with pytest.raises(ValidationError) as caught:
            await client.users.list().to_list()
    assert caught.value.field == "connector_factory"


def test_the_sync_client_takes_the_same_options() -> None:
    from pulse_sync import Pulse

    with Pulse(
        "pw_test_k", base_url="http://127.0.0.1:9", proxy=f"http://{QUOTED}@127.0.0.1:3128"
    ) as client:
        assert client.options.proxy is not None
        assert client.options.proxy.url == "http://127.0.0.1:3128"
        assert not leaks(repr(client.options))


def test_an_ipv6_proxy_keeps_its_brackets_and_a_non_callable_factory_is_refused() -> None:
    assert options({}, proxy="http://[::1]:3128").proxy.url == "http://[::1]:3128"
    with pytest.raises(ValidationError) as caught:
        options({}, connector_factory="not callable")
    assert caught.value.field == "connector_factory"
