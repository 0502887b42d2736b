"""The reference server for throughput rows: precomputed answers, as little work as HTTP allows.

``python -m benchmarks._refserver --port 0 [--users 10000]``

The local stateful server (``python -m pulse_async.testing``) validates, stores
and answers like the real API, and saturates its core at about 3,600 requests a
second: a fan-out against it measures the server. This one answers from a table
of bytes built before it listens, on uvloop, parsing with httptools (the parser
uvicorn uses), one ``asyncio.Protocol`` per connection with keep-alive and
pipelining. On one core it serves well over three times what raw aiohttp can
send from one core; every row says how busy its core was.

It answers, in the shapes the stateful server uses:

- ``POST /v2/messages`` → ``202`` with a message receipt;
- ``GET /v2/users?limit=N[&cursor=C]`` → a page of ``--users`` users (cursors
  are offsets; every page is built once, on first use, then served as bytes);
- a request without ``Authorization`` → ``401``; anything else → ``404``.

It prints the same start-up lines as the stateful server (URL, keys, "Press
Ctrl-C"), so the harness starts either the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import signal
import sys
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import httptools

KEY = "pw_test_reference_server_key"
RECEIPT = {"message_id": "msg_0000000000000001", "status": "queued", "recipient_count": 1}


def _response(status: int, reason: str, payload: Any) -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "X-Request-Id: req_reference\r\n"
        "\r\n"
    )
    return head.encode() + body


def _user(i: int) -> dict[str, Any]:
    """A user as the stateful server lists one (some optional fields set, some not)."""
    user: dict[str, Any] = {
        "id": f"usr_{i:014x}",
        "email": f"user{i:06d}@example.com",
        "name": f"User {i}" if i % 2 else None,
        "role": "viewer",
        "status": "active" if i % 3 else "pending",
        "metadata": {},
        "created_at": f"2026-11-23T15:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000000:06d}Z",
    }
    if i % 3 == 0:
        user["invited_at"] = user["created_at"]
    return user


class Answers:
    """Every answer as bytes, looked up by (method, raw target)."""

    def __init__(self, users: int) -> None:
        self.users = [_user(i) for i in range(users)]
        self.cache: dict[tuple[bytes, bytes], bytes] = {}
        self.unauthorized = _response(
            401, "Unauthorized", {"error": {"code": "unauthorized", "message": "no key"}}
        )
        self.not_found = _response(
            404, "Not Found", {"error": {"code": "not_found", "message": "no such route"}}
        )
        self.receipt = _response(202, "Accepted", RECEIPT)

    def answer(self, method: bytes, target: bytes) -> bytes:
        key = (method, target)
        got = self.cache.get(key)
        if got is None:
            got = self.cache[key] = self._build(method, target)
        return got

    def _build(self, method: bytes, target: bytes) -> bytes:
        parts = urlsplit(target.decode())
        if method == b"POST" and parts.path == "/v2/messages":
            return self.receipt
        if method == b"GET" and parts.path == "/v2/users":
            query = parse_qs(parts.query)
            limit = int(query.get("limit", ["20"])[0])
            cursor = query.get("cursor", ["c0"])[0]
            offset = int(cursor[1:]) if cursor.startswith("c") and cursor[1:].isdigit() else 0
            end = offset + limit
            more = end < len(self.users)
            page = {
                "data": self.users[offset:end],
                "next_cursor": f"c{end}" if more else None,
                "has_more": more,
            }
            return _response(200, "OK", page)
        return self.not_found


class Connection(asyncio.Protocol):
    """One keep-alive connection: parse, look the answer up, write it.

    With ``page_latency``, a page of users is written that many seconds after its
    request is read: the time a real API's page takes to come back (network and its
    own servers), spent on a loop timer, not on this machine's CPU. Answers keep the
    order of their requests (pipelined ones wait behind a late page).
    """

    __slots__ = (
        "answers",
        "authorized",
        "late",
        "page_latency",
        "parser",
        "target",
        "transport",
    )

    def __init__(self, answers: Answers, page_latency: float = 0.0) -> None:
        self.answers = answers
        self.page_latency = page_latency
        #: Answers waiting for their time, in request order: (loop time, bytes, keep-alive).
        self.late: collections.deque[tuple[float, bytes, bool]] = collections.deque()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.target = b""
        self.authorized = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; they have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.target = b""
        self.authorized = False

    def on_url(self, url: bytes) -> None:
        self.target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) == 13 and name.lower() == b"authorization":
            self.authorized = True

    def on_message_complete(self) -> None:
        keep_alive = self.parser.should_keep_alive()
        delay = 0.0
        if not self.authorized:
            answer = self.answers.unauthorized
        else:
            method = self.parser.get_method()
            answer = self.answers.answer(method, self.target)
            if method == b"GET":
                delay = self.page_latency
        if not delay and not self.late:
            self._write(answer, keep_alive)
            return
        loop = asyncio.get_running_loop()
        self.late.append((loop.time() + delay, answer, keep_alive))
        if len(self.late) == 1:
            loop.call_at(self.late[0][0], self._write_late)

    def _write_late(self) -> None:
        _, answer, keep_alive = self.late.popleft()
        self._write(answer, keep_alive)
        if self.late:
            asyncio.get_running_loop().call_at(self.late[0][0], self._write_late)

    def _write(self, answer: bytes, keep_alive: bool) -> None:
        transport = self.transport
        assert transport is not None
        if transport.is_closing():
            return
        transport.write(answer)
        if not keep_alive:
            transport.close()


async def serve(host: str, port: int, users: int, page_latency: float = 0.0) -> None:
    answers = Answers(users)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Connection(answers, page_latency), host, port, backlog=1024
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"Reference server listening on http://{host}:{bound}")
    print(f"  Pulse v2:    http://{host}:{bound}/v2")
    print(f"  admin key:   {KEY}")
    print(f"  editor key:  {KEY}")
    print("Press Ctrl-C to stop.", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument(
        "--page-latency",
        type=float,
        default=0.0,
        help="seconds before a page of users is written (a timer, not CPU)",
    )
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - the bench extra installs it
        runner = asyncio.Runner()
    else:
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    with runner:
        runner.run(serve(args.host, args.port, args.users, args.page_latency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
