"""The benchmark harness's own parts: the reference server speaks HTTP/1.1 properly, and
other modules of ``benchmarks/`` are found as sections of ``make bench``."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks._suite import contributed, script_args

ROOT = Path(__file__).resolve().parents[2]


def _start(*extra: str) -> Iterator[int]:
    """A reference server with 250 users (and ``extra`` arguments): its port, then stopped."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._refserver", "--port", "0", "--users", "250", *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = 0
    for line in proc.stdout:
        if match := re.search(r"listening on http://127\.0\.0\.1:(\d+)", line):
            port = int(match[1])
        if line.startswith("Press Ctrl-C"):
            break
    try:
        assert port
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


@pytest.fixture(scope="module")
def refserver() -> Iterator[int]:
    yield from _start()


@pytest.fixture(scope="module")
def late_refserver() -> Iterator[int]:
    """A reference server that answers each page of users 0.5 s late (``--page-latency``)."""
    yield from _start("--page-latency", "0.5")


def exchange(port: int, data: bytes, answers: int) -> list[tuple[int, dict[str, str], bytes]]:
    """Send ``data`` on one connection; read ``answers`` responses (Content-Length framed)."""
    out = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        buffer = b""
        while len(out) < answers:
            while b"\r\n\r\n" not in buffer:
                buffer += sock.recv(65536)
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines[1:])
            length = int(headers["Content-Length"])
            while len(buffer) < length:
                buffer += sock.recv(65536)
            out.append((int(lines[0].split()[1]), headers, buffer[:length]))
            buffer = buffer[length:]
    return out


def request(method: str, target: str, body: bytes = b"", auth: bool = True) -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
    if auth:
        head += "Authorization: Bearer k\r\n"
    return head.encode() + b"\r\n" + body


def test_pipelined_requests_on_one_keep_alive_connection(refserver: int) -> None:
    body = json.dumps({"to": ["a@example.com"], "subject": "s", "body": "b"}).encode()
    answers = exchange(
        refserver,
        request("POST", "/v2/messages", body)
        + request("GET", "/v2/users?limit=100")
        + request("GET", "/v2/nowhere")
        + request("GET", "/v2/users?limit=100", auth=False),
        4,
    )
    assert [status for status, _, _ in answers] == [202, 200, 404, 401]
    assert json.loads(answers[0][2])["status"] == "queued"
    page = json.loads(answers[1][2])
    assert (len(page["data"]), page["has_more"], page["next_cursor"]) == (100, True, "c100")


def test_a_late_page_comes_late_and_answers_keep_their_order(
    refserver: int, late_refserver: int
) -> None:
    body = json.dumps({"to": ["a@example.com"], "subject": "s", "body": "b"}).encode()
    # A page asked for first, a receipt on another connection after it: the receipt comes
    # back while the page is still held (nothing to read on its connection yet).
    with socket.create_connection(("127.0.0.1", late_refserver), timeout=10) as paged:
        paged.sendall(request("GET", "/v2/users?limit=100"))
        [(status, _, _)] = exchange(late_refserver, request("POST", "/v2/messages", body), 1)
        assert status == 202
        paged.setblocking(False)
        with pytest.raises(BlockingIOError):
            paged.recv(1)
    # Pipelined on one connection, answers keep the order of their requests, and they are
    # the same answers as a server without latency gives.
    pipelined = (
        request("GET", "/v2/users?limit=100")
        + request("POST", "/v2/messages", body)
        + request("GET", "/v2/users?limit=100&cursor=c100")
    )
    late = exchange(late_refserver, pipelined, 3)
    assert [status for status, _, _ in late] == [200, 202, 200]
    assert [b for _, _, b in late] == [b for _, _, b in exchange(refserver, pipelined, 3)]


def test_the_listing_ends_after_every_user_once(refserver: int) -> None:
    seen, cursor = [], ""
    while True:
        target = "/v2/users?limit=100" + (f"&cursor={cursor}" if cursor else "")
        [(status, _, body)] = exchange(refserver, request("GET", target), 1)
        assert status == 200
        page = json.loads(body)
        seen += [user["id"] for user in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 250


def test_other_modules_join_make_bench_as_sections_or_scripts(tmp_path: Path) -> None:
    (tmp_path / "overload.py").write_text("def bench_rows(ctx):\n    return []\n")
    (tmp_path / "webhooks.py").write_text('BENCH_ARGS = ("--quick", "--n", "5")\n')
    (tmp_path / "_private.py").write_text("def bench_rows(ctx):\n    return []\n")
    (tmp_path / "sync_overhead.py").write_text("")  # one of the suite's own scripts
    found = contributed(tmp_path)
    assert sorted(found) == ["overload", "webhooks"]
    assert script_args((tmp_path / "webhooks.py").read_text()) == ("--quick", "--n", "5")
    assert script_args("") == ()


async def test_httpx_keeps_one_connection_alive_and_gets_every_answer(refserver: int) -> None:
    # The peers row's httpx figure (0.02× raw aiohttp at concurrency 64) is httpcore's own
    # connection pool (its per-request assignment pass walks every connection, once per
    # connection: see RESULTS.md), not this server mishandling httpx. Here httpx's
    # requests, as the benchmark sends them, are each answered on one kept-alive
    # connection, framed so that httpx never waits for a close.
    pytest.importorskip("httpx")  # the bench extra
    from benchmarks import _clients

    client = _clients.Httpx(f"http://127.0.0.1:{refserver}", "k")
    await client.open()
    try:
        streams = set()
        for _ in range(20):
            response = await client.client.post(
                "/v2/messages",
                content=b'{"to":["a@example.com"],"subject":"s","body":"b"}',
                headers={**client.headers, "Idempotency-Key": "k1"},
            )
            assert response.status_code == 202
            assert response.headers["content-length"] == str(len(response.content))
            assert response.json()["status"] == "queued"
            streams.add(id(response.extensions["network_stream"]))
        assert len(streams) == 1  # keep-alive honoured: no reconnect per request

        async def chunks() -> Any:  # no Content-Length: a chunked request body
            yield b'{"to":["a@example.com"],'
            yield b'"subject":"s","body":"b"}'

        response = await client.client.post(
            "/v2/messages", content=chunks(), headers=client.headers
        )
        assert response.request.headers["transfer-encoding"] == "chunked"
        assert response.status_code == 202
        await client.send()  # the benchmark's own call, status and JSON checked
    finally:
        await client.close()


def test_lowercase_header_names_are_read_as_headers(refserver: int) -> None:
    body = b"{}"
    lower = (
        f"POST /v2/messages HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n"
        "authorization: Bearer k\r\nconnection: keep-alive\r\n\r\n"
    ).encode() + body
    answers = exchange(refserver, lower + lower, 2)
    assert [status for status, _, _ in answers] == [202, 202]
