"""Hostile responses through the real transport, from a raw loopback socket server.

What no well-behaved HTTP server sends — a garbage status line, a lying
``Content-Length`` (shorter and longer), a connection closed or reset
mid-body, broken chunked encoding, a gzip bomb with and without a length —
must still end in a model or a ``PulseError``, with bounded memory, and with
the connection given back to the pool (or dropped), never leaked.

The cases are explicit: each costs a real exchange over a socket. The one
hypothesis property here runs 200 generated replies rather than 2,000: every
case is a round trip through aiohttp (a few ms), and the pure deciphering of
whatever arrives is already fuzzed 2,000 times per property in
``test_hardening_decipher.py``.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import tracemalloc
import zlib
from typing import Any

import pytest
from hardening_helpers import (
    CANARY,
    CLOSE,
    RESET,
    RawServer,
    Script,
    Sleep,
    acquired_connections,
    assert_error_has_no_canary,
    check_value,
    http_response,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse_async import AsyncPulse, Timeout
from pulse_async.errors import APIConnectionError, APIError, APITimeoutError, PulseError
from pulse_async.models import Message

MESSAGE = {
    "id": "msg_1",
    "status": "queued",
    "thread_id": "thr_1",
    "subject": "Hi",
    "recipient_count": 1,
    "created_at": "2024-11-14T09:00:00Z",
}
BODY = json.dumps(MESSAGE).encode()
LIMIT = 1024 * 1024  # the clients here cap bodies at 1 MiB
BOMB_SIZE = 50_000_000  # inflates to 50 MB of zeros


@functools.cache
def gzip_bomb() -> bytes:
    """~50 KB of gzip that inflates to 50 MB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    return compressor.compress(b"\0" * BOMB_SIZE) + compressor.flush()


def chunked(body: bytes, size: int = 8192) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


def ok(body: bytes = BODY, **kw: Any) -> bytes:
    return http_response(200, body, headers={"Content-Type": "application/json"}, **kw)


def client_for(server: RawServer, **kw: Any) -> AsyncPulse:
    options: dict[str, Any] = {
        "base_url": server.url,
        "max_retries": 0,
        "timeout": Timeout(connect=2, read=1, total=5),
        "max_response_bytes": LIMIT,
    }
    options.update(kw)
    return AsyncPulse(CANARY, **options)


async def call(client: AsyncPulse) -> Message | PulseError:
    """One call; its result, or the ``PulseError`` it raised (anything else fails the test)."""
    try:
        return await client.messages.retrieve("msg_1")
    except PulseError as exc:
        assert_error_has_no_canary(exc)
        return exc


def check_outcome(outcome: Message | PulseError) -> None:
    if isinstance(outcome, PulseError):
        assert isinstance(outcome, APIConnectionError | APIError), type(outcome)
        assert str(outcome)
    else:
        check_value(outcome, Message, "Message")


# --- explicit cases -----------------------------------------------------------------------------

BOMB_HEADERS = {"Content-Type": "application/json", "Content-Encoding": "gzip"}

#: name → (the server's script for the first request, the outcome it must give)
CASES: dict[str, tuple[Script, type[Any]]] = {
    "well-formed": ([ok()], Message),
    "garbage status line": ([b"garbage\r\n\r\n", CLOSE], APIConnectionError),
    "binary status line": ([b"\x00\xff\x13\x37\r\n\r\n", CLOSE], APIConnectionError),
    "non-numeric status": (
        [b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n", CLOSE],
        APIConnectionError,
    ),
    "status out of range": (
        [b"HTTP/1.1 99999 Huge\r\nContent-Length: 0\r\n\r\n", CLOSE],
        APIConnectionError,
    ),
    "unknown status": ([http_response(999, b"", reason="Weird")], APIError),
    "unknown HTTP version": (
        [b"HTTP/9.9 200 OK\r\nContent-Length: 2\r\n\r\n{}", CLOSE],
        APIConnectionError,
    ),
    "header without colon": (
        [b"HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 2\r\n\r\n{}", CLOSE],
        APIConnectionError,
    ),
    "header line of 64 KiB": (
        [b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n", CLOSE],
        APIConnectionError,
    ),
    "100,000 headers": (
        [b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 100_000 + b"\r\n", CLOSE],
        APIConnectionError,
    ),
    "nothing at all": ([CLOSE], APIConnectionError),
    "reset before answering": ([RESET], APIConnectionError),
    "Content-Length longer than the body": (
        [ok(content_length=len(BODY) + 100), CLOSE],
        APIConnectionError,
    ),
    "closed mid-body": ([ok()[: -len(BODY) // 2], CLOSE], APIConnectionError),
    "reset mid-body": ([ok()[: -len(BODY) // 2], Sleep(0.05), RESET], APIConnectionError),
    "negative Content-Length": ([ok(content_length=-5), CLOSE], APIConnectionError),
    "non-numeric Content-Length": (
        [http_response(200, BODY, content_length=None, headers={"Content-Length": "ten"}), CLOSE],
        APIConnectionError,
    ),
    "two different Content-Lengths": (
        [http_response(200, BODY, headers={"Content-Length": "3"}), CLOSE],
        APIConnectionError,
    ),
    "close-delimited body (HTTP/1.0)": (
        [b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + BODY, CLOSE],
        Message,
    ),
    "invalid chunk size": (
        [
            http_response(
                200,
                b"zz\r\nabc\r\n0\r\n\r\n",
                content_length=None,
                headers={"Transfer-Encoding": "chunked"},
            ),
            CLOSE,
        ],
        APIConnectionError,
    ),
    "chunk size of 2**64": (
        [
            http_response(
                200,
                b"FFFFFFFFFFFFFFFFF\r\nabc\r\n",
                content_length=None,
                headers={"Transfer-Encoding": "chunked"},
            ),
            CLOSE,
        ],
        APIConnectionError,
    ),
    "chunk longer than announced": (
        [
            http_response(
                200,
                b"2\r\nabcdef\r\n0\r\n\r\n",
                content_length=None,
                headers={"Transfer-Encoding": "chunked"},
            ),
            CLOSE,
        ],
        APIConnectionError,
    ),
    "chunked without the last chunk": (
        [
            http_response(
                200,
                chunked(BODY)[:-5],
                content_length=None,
                headers={"Transfer-Encoding": "chunked"},
            ),
            CLOSE,
        ],
        APIConnectionError,
    ),
    "Content-Length and chunked together": (
        [http_response(200, chunked(BODY), headers={"Transfer-Encoding": "chunked"}), CLOSE],
        APIConnectionError,
    ),
    # RFC 9112 §6.3: a response with an unknown transfer coding is read until the close.
    "unknown transfer coding": (
        [
            http_response(200, BODY, content_length=None, headers={"Transfer-Encoding": "bogus"}),
            CLOSE,
        ],
        Message,
    ),
    "gzip that is not gzip": (
        [http_response(200, b"this is not gzip at all", headers=BOMB_HEADERS), CLOSE],
        APIConnectionError,
    ),
    "truncated gzip": (
        [
            http_response(200, zlib.compress(BODY)[:10], headers={"Content-Encoding": "deflate"}),
            CLOSE,
        ],
        APIConnectionError,
    ),
    "unknown content coding": (
        [http_response(200, BODY, headers={"Content-Encoding": "x-unknown"})],
        Message,
    ),
    "HTML where JSON belongs": (
        [
            http_response(
                200, b"<html><body>hello</body></html>", headers={"Content-Type": "text/html"}
            )
        ],
        APIConnectionError,
    ),
    "502 from a load balancer": (
        [
            http_response(
                502,
                b"<html>Bad Gateway</html>",
                reason="Bad Gateway",
                headers={"Content-Type": "text/html"},
            )
        ],
        APIError,
    ),
    "interim 100 Continue, then the answer": ([b"HTTP/1.1 100 Continue\r\n\r\n", ok()], Message),
    "body dripped slower than the read timeout": (
        [ok()[: -len(BODY) + 5], Sleep(1.6), ok()[-len(BODY) + 5 :]],
        APITimeoutError,
    ),
    "headers slower than the read timeout": ([Sleep(1.6), ok()], APITimeoutError),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_a_hostile_answer_is_a_model_or_a_typed_error(name: str) -> None:
    script, expected = CASES[name]
    async with RawServer(lambda _n: script) as server, client_for(server) as client:
        outcome = await call(client)
        check_outcome(outcome)
        assert isinstance(outcome, expected), (name, outcome)
        assert acquired_connections(client) == 0
        # The client is still usable: a well-formed answer next time is a model.
        server.script = lambda _n: [ok()]
        follow_up = await call(client)
        assert isinstance(follow_up, Message), follow_up
        assert acquired_connections(client) == 0


async def test_a_short_content_length_cannot_smuggle_an_answer_to_the_next_call() -> None:
    """Bytes after the announced length are not taken for the answer to the next request."""
    smuggled = ok(json.dumps({**MESSAGE, "id": "msg_SMUGGLED"}).encode())
    replies = {
        0: [ok(BODY + smuggled, content_length=len(BODY))],
        1: [ok(json.dumps({**MESSAGE, "id": "msg_2"}).encode())],
    }
    async with RawServer(lambda n: replies.get(n, [CLOSE])) as server, client_for(server) as client:
        first = await call(client)
        assert isinstance(first, Message)
        assert first.id == "msg_1"
        second = await call(client)
        if isinstance(second, Message):
            assert second.id == "msg_2"
        else:
            assert isinstance(second, APIConnectionError)
        assert acquired_connections(client) == 0


# --- bounded memory -----------------------------------------------------------------------------

OVERSIZE: dict[str, Script] = {
    "gzip bomb with Content-Length": [http_response(200, gzip_bomb(), headers=BOMB_HEADERS)],
    "gzip bomb, close-delimited": [
        http_response(200, gzip_bomb(), headers=BOMB_HEADERS, content_length=None),
        CLOSE,
    ],
    "gzip bomb, chunked": [
        http_response(
            200,
            chunked(gzip_bomb()),
            content_length=None,
            headers={**BOMB_HEADERS, "Transfer-Encoding": "chunked"},
        )
    ],
    "deflate bomb": [
        http_response(
            200, zlib.compress(b"\0" * 20_000_000, 9), headers={"Content-Encoding": "deflate"}
        )
    ],
    "Content-Length over the limit": [
        http_response(200, b"", content_length=LIMIT + 1),
        b"x" * 4096,
        Sleep(0.5),
    ],
    "a huge Content-Length": [http_response(200, b"", content_length=2**62), Sleep(0.5)],
    "chunked body over the limit": [
        http_response(
            200,
            chunked(b"[" + b"0," * (LIMIT // 2) + b"0]"),
            content_length=None,
            headers={"Transfer-Encoding": "chunked"},
        )
    ],
    "close-delimited body over the limit": [
        http_response(200, b"x" * (LIMIT + 10), content_length=None),
        CLOSE,
    ],
}


@pytest.mark.parametrize("name", list(OVERSIZE))
async def test_an_oversize_body_is_a_non_retryable_error_and_frees_the_connection(
    name: str,
) -> None:
    script = OVERSIZE[name]
    async with RawServer(lambda _n: script) as server, client_for(server, max_retries=2) as client:
        outcome = await call(client)
        assert isinstance(outcome, APIConnectionError), outcome
        assert not isinstance(outcome, APITimeoutError)
        assert outcome.retryable is False
        assert "limit" in str(outcome)
        assert client.stats.attempts == 1  # never retried
        assert acquired_connections(client) == 0
        server.script = lambda _n: [ok()]
        assert isinstance(await call(client), Message)


async def test_a_gzip_bomb_is_stopped_without_inflating_it_in_memory() -> None:
    script = [http_response(200, gzip_bomb(), headers=BOMB_HEADERS, content_length=None), CLOSE]
    async with RawServer(lambda _n: script) as server, client_for(server) as client:
        await call(client.with_options(max_retries=0))  # warm up: imports, session
        gc.collect()
        tracemalloc.start()
        try:
            outcome = await call(client)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert isinstance(outcome, APIConnectionError)
    assert outcome.retryable is False
    # The bomb inflates to 50 MB; reading it must never hold more than a few times the cap.
    assert peak < 8 * LIMIT, f"peak {peak / 1e6:.1f} MB while reading a gzip bomb"


# --- generated replies through the socket -------------------------------------------------------

status_lines = st.one_of(
    st.builds(lambda s: f"HTTP/1.1 {s} X\r\n".encode(), st.integers(0, 1200)),
    st.sampled_from(
        [
            b"HTTP/1.1 200 OK\r\n",
            b"HTTP/1.0 200 OK\r\n",
            b"HTTP/1.1 200\r\n",
            b"HTTP/1.1 429 Too Many\r\n",
            b"HTTP/1.1 503 Down\r\n",
            b"\r\n",
            b"",
        ]
    ),
    st.binary(max_size=30).map(lambda b: b + b"\r\n"),
)
header_lines = st.lists(
    st.one_of(
        st.sampled_from(
            [
                b"Content-Type: application/json",
                b"Content-Encoding: gzip",
                b"Content-Encoding: deflate",
                b"Transfer-Encoding: chunked",
                b"Content-Length: 0",
                b"Content-Length: 5",
                b"Content-Length: 99999",
                b"Retry-After: 1e999",
                b"Retry-After: Wed, 21 Oct 2015 07:28:00 GMT",
                b"Connection: close",
                b"X-Request-Id: req_1",
            ]
        ),
        st.binary(max_size=40),
    ),
    max_size=5,
)
reply_bodies = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([BODY, BODY[:20], chunked(BODY), zlib.compress(BODY), b"{}", b"[]"]),
)


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(status=status_lines, headers=header_lines, body=reply_bodies)
def test_any_bytes_from_the_server_give_a_model_or_a_typed_error(
    hostile_loop: tuple[asyncio.Runner, RawServer, AsyncPulse],
    status: bytes,
    headers: list[bytes],
    body: bytes,
) -> None:
    runner, server, client = hostile_loop
    reply = (
        status
        + b"".join(h.replace(b"\r", b"").replace(b"\n", b"") + b"\r\n" for h in headers)
        + b"\r\n"
        + body
    )
    server.script = lambda _n: [reply, CLOSE]
    outcome = runner.run(call(client))
    check_outcome(outcome)
    assert acquired_connections(client) == 0


@pytest.fixture(scope="module")
def hostile_loop() -> Any:
    """One loop, server and client for all generated cases (created once: they are costly)."""
    with asyncio.Runner() as runner:
        server = RawServer(lambda _n: [CLOSE])
        runner.run(server.__aenter__())
        client = client_for(server, timeout=Timeout(connect=1, read=0.5, total=2))
        try:
            yield runner, server, client
        finally:
            runner.run(client.aclose())
            runner.run(server.__aexit__())
