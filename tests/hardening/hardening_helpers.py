"""Helpers of the hardening tests: the canary key, scripted loopback servers, checks.

Two servers stand in for a hostile network:

- :class:`RawServer`, a raw asyncio socket server that answers each request
  with scripted bytes (so it can send what no HTTP library would: a garbage
  status line, a wrong ``Content-Length``, broken chunked encoding, a gzip
  bomb, a connection closed mid-body);
- :class:`CountingServer`, an aiohttp server that only counts (and records)
  what reaches it, for "nothing was sent" and "the key went nowhere else".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import traceback
import types
import typing
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import attrs
from aiohttp import web
from hypothesis import settings

#: A key of the documented shape, unique enough to grep for in any text.
CANARY = "pw_test_CANARY1234567890"
#: Parts of it that must not show up either (a truncated or split key is still a leak).
CANARY_PARTS = (CANARY, "CANARY1234567890", "CANARY12345")

#: The hypothesis profile registered in ``conftest.py``: 2,000 cases per pure property.
FUZZ = settings.get_profile("pulse-hardening")


def assert_no_canary(text: str, where: str = "") -> None:
    """Fail if ``text`` holds the canary key or a recognisable piece of it."""
    for part in CANARY_PARTS:
        assert part not in text, f"the API key leaked in {where or 'text'}: {text[:2000]!r}"


# --- walking errors -----------------------------------------------------------------------------


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception reachable through ``__cause__``/``__context__``/groups."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)


def assert_error_has_no_canary(exc: BaseException, *, with_traceback: bool = True) -> None:
    """The key is in no part of ``exc``: str, repr, args, ``__dict__``, chain, traceback.

    Formatting a traceback costs about a millisecond; properties that check
    thousands of errors raised by the same few lines may skip it.
    """
    for linked in exception_chain(exc):
        assert_no_canary(str(linked), f"str({type(linked).__name__})")
        assert_no_canary(repr(linked), f"repr({type(linked).__name__})")
        assert_no_canary(repr(linked.args), f"{type(linked).__name__}.args")
        assert_no_canary(repr(getattr(linked, "__dict__", {})), f"{type(linked).__name__}.__dict__")
        for note in getattr(linked, "__notes__", ()):
            assert_no_canary(str(note), "__notes__")
    if with_traceback:
        assert_no_canary("".join(traceback.format_exception(exc)), "the formatted traceback")


# --- checking models ----------------------------------------------------------------------------


def check_value(value: Any, annotation: Any, where: str) -> None:
    """Assert ``value`` really is of ``annotation`` (attrs classes checked field by field).

    Used on whatever ``decipher`` returns: a wrong-shaped response must be an
    error, never a model holding a dict where a string belongs.
    """
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(annotation):
            try:
                check_value(value, option, where)
            except AssertionError as exc:
                errors.append(str(exc))
            else:
                return
        raise AssertionError(f"{where}: {value!r} matches none of {annotation}: {errors}")
    if annotation is type(None):
        assert value is None, f"{where}: expected None, got {value!r}"
        return
    if origin is list:
        assert isinstance(value, list), f"{where}: expected a list, got {type(value)}"
        (item,) = typing.get_args(annotation)
        for i, element in enumerate(value):
            check_value(element, item, f"{where}[{i}]")
        return
    if origin is dict:
        assert isinstance(value, dict), f"{where}: expected a dict, got {type(value)}"
        key_type, value_type = typing.get_args(annotation)
        for key, element in value.items():
            check_value(key, key_type, f"{where} key")
            check_value(element, value_type, f"{where}[{key!r}]")
        return
    if annotation is dt.datetime:
        assert isinstance(value, dt.datetime), f"{where}: expected a datetime, got {value!r}"
        assert value.tzinfo is not None, f"{where}: a naive datetime"
        return
    if annotation is bool:
        assert isinstance(value, bool), f"{where}: expected a bool, got {value!r}"
        return
    if annotation is int:
        assert isinstance(value, int), f"{where}: {value!r}"
        assert not isinstance(value, bool), f"{where}: {value!r}"
        return
    if annotation is str:
        assert isinstance(value, str), f"{where}: expected a str, got {value!r}"
        return
    cls = origin or annotation
    assert attrs.has(cls), f"{where}: unexpected annotation {annotation!r}"
    assert isinstance(value, cls), f"{where}: expected {cls.__name__}, got {type(value)}"
    hints = typing.get_type_hints(cls)
    params = typing.get_args(annotation)
    type_vars = getattr(cls, "__parameters__", ())
    bindings = dict(zip(type_vars, params, strict=False))
    for field in attrs.fields(cls):
        hint = hints[field.name]
        hint = _substitute(hint, bindings)
        check_value(getattr(value, field.name), hint, f"{where}.{field.name}")


def _substitute(hint: Any, bindings: dict[Any, Any]) -> Any:
    if hint in bindings:
        return bindings[hint]
    origin = typing.get_origin(hint)
    if origin is list:
        return list[_substitute(typing.get_args(hint)[0], bindings)]  # type: ignore[misc]
    return hint


# --- loopback servers ---------------------------------------------------------------------------

#: Script actions besides bytes: close the socket cleanly, or reset it (RST).
CLOSE = "close"
RESET = "reset"


@attrs.define
class Sleep:
    """A script action: wait before the next one."""

    seconds: float


Script = list[bytes | str | Sleep]


class RawServer:
    """A loopback socket server answering request *n* with ``script(n)``'s actions.

    It reads each request (headers and any ``Content-Length`` body) before
    answering, keeps the connection for the next request unless the script
    closes it, and records every raw request it read.
    """

    def __init__(self, script: Callable[[int], Script]) -> None:
        self.script = script
        self.requests: list[bytes] = []
        self.connections = 0
        self.open_connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_connections += 1
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length) if length else b""
                index = len(self.requests)
                self.requests.append(head + body)
                for action in self.script(index):
                    if isinstance(action, Sleep):
                        await asyncio.sleep(action.seconds)
                    elif action == CLOSE:
                        await writer.drain()
                        return
                    elif action == RESET:
                        transport = writer.transport
                        sock = transport.get_extra_info("socket")
                        if sock is not None:
                            import socket
                            import struct

                            sock.setsockopt(
                                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                            )
                        transport.abort()
                        return
                    else:
                        assert isinstance(action, bytes)
                        writer.write(action)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            return
        finally:
            self.open_connections -= 1
            self._writers.discard(writer)
            writer.close()


def http_response(
    status: int = 200,
    body: bytes = b"",
    *,
    headers: dict[str, str] | None = None,
    reason: str = "OK",
    content_length: int | bool | None = True,
) -> bytes:
    """Raw HTTP/1.1 response bytes; ``content_length``: True (right), an int (a lie), None."""
    lines = [f"HTTP/1.1 {status} {reason}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if content_length is True:
        lines.append(f"Content-Length: {len(body)}")
    elif isinstance(content_length, int) and content_length is not False:
        lines.append(f"Content-Length: {content_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class CountingServer:
    """An aiohttp loopback server that answers every request with ``answer`` and counts it."""

    def __init__(
        self, answer: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None
    ) -> None:
        self.answer = answer
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def count(self) -> int:
        return len(self.requests)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append((request.method, request.path_qs, dict(request.headers), body))
        if self.answer is not None:
            return await self.answer(request)
        return web.json_response(
            {"error": {"code": "not_found", "message": "counting server"}}, status=404
        )

    async def start(self) -> CountingServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> CountingServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


# --- the client's innards, read-only ------------------------------------------------------------


def connector_of(client: Any) -> Any:
    """The aiohttp connector of a client's transport (``None`` before the first request)."""
    session = client._rt.transport._session
    return None if session is None else session.connector


def acquired_connections(client: Any) -> int:
    """Connections of ``client``'s pool currently handed out to a request."""
    connector = connector_of(client)
    return 0 if connector is None else len(connector._acquired)


def open_fds() -> int:
    """File descriptors this process has open."""
    return len(os.listdir("/proc/self/fd"))


def established_sockets(port: int) -> set[str]:
    """Inodes of this process's ESTABLISHED TCP sockets whose remote end is ``port``."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                rows = fh.readlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            remote, state, inode = cols[2], cols[3], cols[9]
            if state == "01" and inode in inodes and int(remote.rsplit(":", 1)[1], 16) == port:
                found.add(inode)
    return found


class LogCapture(logging.Handler):
    """Collects every formatted record, at every level, of every logger."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
