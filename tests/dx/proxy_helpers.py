"""A real HTTP forward proxy and a TLS front for the local server, both on loopback.

``ForwardProxy`` speaks the two ways a client uses a proxy (RFC 9110 §7.3.2, §9.3.6):

- an absolute-URI request (``GET http://host:port/path HTTP/1.1``) for a plain-HTTP origin:
  the proxy opens its own connection to the origin, sends the request in origin form without
  the ``Proxy-*`` headers, relays the answer, then closes;
- ``CONNECT host:port`` for an HTTPS origin: ``200``, then bytes both ways, unread.

With ``credentials`` it demands ``Proxy-Authorization: Basic …`` and answers ``407`` with
``Proxy-Authenticate`` otherwise. It records what each request showed it (``seen``). It never
leaves loopback: names in ``hosts`` map to 127.0.0.1, loopback addresses go to themselves,
anything else gets ``502``.

``TLSFront`` terminates TLS with a throw-away certificate (made by the ``openssl`` command)
and relays the plaintext to the local server: an HTTPS origin for the CONNECT tests.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import ssl
import subprocess
import urllib.parse
from pathlib import Path
from types import TracebackType
from typing import Self

import attrs


@attrs.frozen
class Seen:
    """One request as the proxy saw it."""

    method: str
    target: str
    headers: dict[str, str]  # lower-cased names

    @property
    def proxy_authorization(self) -> str | None:
        return self.headers.get("proxy-authorization")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()


class _Relay:
    """What both servers share: a loopback listener, its open connections, closing it all."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def _start(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, ssl=ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._handle(reader, writer)
        finally:
            await self._close(writer)
            self._tasks.discard(task)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def _open(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(host, port)
        self._writers.add(writer)
        return reader, writer

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        self._writers.discard(writer)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            await self._close(writer)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()


class ForwardProxy(_Relay):
    """A forward proxy on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self, *, credentials: tuple[str, str] | None = None, hosts: tuple[str, ...] = ()
    ) -> None:
        super().__init__()
        self.expected = basic(*credentials) if credentials else None
        self.hosts = set(hosts)
        self.seen: list[Seen] = []

    async def __aenter__(self) -> Self:
        await self._start()
        return self

    def url(self, credentials: str = "") -> str:
        return f"http://{credentials + '@' if credentials else ''}127.0.0.1:{self.port}"

    def _route(self, host: str) -> str | None:
        host = host.strip("[]")
        if host in self.hosts or host == "localhost":
            return "127.0.0.1"
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(host).is_loopback:
                return host
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, _version = request_line.split(" ", 2)
        fields = [line.split(":", 1) for line in header_lines if ":" in line]
        headers = {name.strip().lower(): value.strip() for name, value in fields}
        self.seen.append(Seen(method, target, headers))
        if self.expected is not None and headers.get("proxy-authorization") != self.expected:
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n'
                b"Connection: close\r\n\r\n"
            )
            await writer.drain()
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = self._route(host)
            if upstream is None:
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            up_reader, up_writer = await self._open(upstream, int(port))
            writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            await self._close(up_writer)
            return
        url = urllib.parse.urlsplit(target)
        upstream = self._route(url.hostname or "") if url.scheme == "http" else None
        if upstream is None or url.port is None:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
        origin_form = url.path + (f"?{url.query}" if url.query else "")
        kept = [
            f"{name}:{value}"
            for name, value in fields
            if name.strip().lower() not in ("proxy-authorization", "proxy-connection", "connection")
        ]
        forwarded = "\r\n".join([f"{method} {origin_form} HTTP/1.1", *kept, "Connection: close"])
        up_reader, up_writer = await self._open(upstream, url.port)
        up_writer.write(forwarded.encode("latin-1") + b"\r\n\r\n" + body)
        await up_writer.drain()
        await _pipe(up_reader, writer)
        await self._close(up_writer)


class TLSFront(_Relay):
    """HTTPS on 127.0.0.1 in front of a plain-HTTP local server."""

    def __init__(self, context: ssl.SSLContext, backend_port: int) -> None:
        super().__init__()
        self._context = context
        self._backend_port = backend_port

    async def __aenter__(self) -> Self:
        await self._start(self._context)
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await self._open("127.0.0.1", self._backend_port)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        await self._close(up_writer)


def make_certificate(directory: Path, hostname: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``hostname`` (and its key), made by ``openssl``."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={hostname}",
            "-addext", f"subjectAltName=DNS:{hostname}",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key
