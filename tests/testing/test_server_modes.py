"""The server outside ``async with``: in a thread, from the command line, as pytest fixtures."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from pulse_async.testing import PulseServer, ServerThread


def _get(url: str, key: str, *, timeout: float = 5.0) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_thread_fixture(pulse_server_thread: ServerThread) -> None:
    server = pulse_server_thread
    status, page = _get(server.v2_url + "/users", server.viewer_key)
    assert status == 200
    assert len(page["data"]) == 3
    assert server.url.startswith("http://127.0.0.1:")
    assert server.v1_url == server.url + "/v1"
    assert server.editor_key != server.admin_key
    # Configuration from this thread runs on the server's loop.
    key = server.create_key(role="viewer", rate_limit=5)
    status, _ = _get(server.v2_url + "/users", key)
    assert status == 200
    before = server.clock.time()
    server.advance(60)
    assert server.clock.time() >= before + 60
    assert server.stats.requests["GET /v2/users"] == 2
    assert len(server.ledger) == 0
    assert "ServerThread" in repr(server)


def test_thread_sees_abandoned_requests() -> None:
    """A sync client that gives up mid-request: the server counts the handler cancelled."""
    with PulseServer().start_in_thread() as server:
        server.faults.add("latency", route="GET /v2/threads", delay=30)
        with pytest.raises(TimeoutError):
            _get(server.v2_url + "/threads", server.admin_key, timeout=0.2)
        for _ in range(500):
            if server.stats.cancelled:
                break
            time.sleep(0.01)
        assert server.stats.cancelled == 1
        assert server.stats.cancelled_by_route == {"GET /v2/threads": 1}
        server.server.set_outcome("t@example.com", "bounced")
        assert server.server.state.outcome_for("t@example.com") == "bounced"
    server.stop()  # idempotent


def test_thread_start_error_is_raised() -> None:
    with PulseServer().start_in_thread() as first:
        port = first.server.port
        with pytest.raises(OSError, match=r"."):
            PulseServer(port=port).start_in_thread()


async def test_async_fixture(pulse_server: PulseServer) -> None:
    assert pulse_server.url.startswith("http://127.0.0.1:")
    assert repr(pulse_server).startswith("<PulseServer http://")


async def test_not_running_has_no_url() -> None:
    server = PulseServer()
    assert server.admin_key.startswith("pw_test_")
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url
    assert "not running" in repr(server)
    async with server:
        await server.start()  # idempotent
        assert server.port > 0
    await server.stop()


async def test_sdk_fixtures(
    pulse_server: PulseServer, pulse_client: Any, pulsewave_client: Any
) -> None:
    receipt = await pulse_client.messages.send(to=["a@example.com"], subject="s", body="b")
    assert receipt.status == "queued"
    message = await pulsewave_client.messages.create(
        channel="sms", to="+14155550123", from_="Acme", text="hello"
    )
    assert message.channel == "sms"
    assert [e.kind for e in pulse_server.ledger] == ["message.created", "message.created"]


def _start_cli(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pulse_async.testing", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    found: dict[str, str] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        if match := re.search(r"listening on (http://\S+)", line):
            found["url"] = match.group(1)
        if match := re.search(r"(admin|editor|viewer) key:\s+(pw_test_\w+)", line):
            found[match.group(1)] = match.group(2)
        if "Pulse v2:" in line:
            found["v2"] = line.split()[-1]
        if "Press Ctrl-C" in line:
            break
    return proc, found


def _stop_cli(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)
    return proc.returncode, stderr


def test_cli_serves_and_exits_cleanly_on_sigint() -> None:
    proc, found = _start_cli()
    try:
        assert set(found) >= {"url", "v2", "admin", "editor", "viewer"}
        assert found["v2"] == found["url"] + "/v2"
        status, page = _get(found["v2"] + "/users", found["viewer"])
        assert status == 200
        assert {u["email"] for u in page["data"]} >= {"admin@example.com"}
    finally:
        code, stderr = _stop_cli(proc)
    assert code == 0
    assert "Traceback" not in stderr


def test_cli_faults_and_options() -> None:
    proc, found = _start_cli(
        "--fault",
        "GET /v2/users=bad_gateway:count=1",
        "--seed",
        "3",
        "--rate-limit",
        "free",
        "--frozen-clock",
    )
    try:
        request = urllib.request.Request(
            found["v2"] + "/users", headers={"Authorization": f"Bearer {found['admin']}"}
        )
        with pytest.raises(urllib.error.HTTPError) as first:
            urllib.request.urlopen(request, timeout=5)
        with first.value as error:
            assert error.code == 502
        status, _ = _get(found["v2"] + "/users", found["admin"])
        assert status == 200
        req = urllib.request.Request(
            found["url"] + "/_admin/advance",
            data=b'{"seconds": 5}',
            method="POST",
            headers={"Authorization": f"Bearer {found['admin']}"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert json.loads(resp.read())["frozen"] is True
    finally:
        code, stderr = _stop_cli(proc)
    assert code == 0
    assert "Traceback" not in stderr


def test_cli_rejects_bad_arguments() -> None:
    for args in (
        ["--fault", "GET /v2/users=meltdown"],
        ["--rate-limit", "gold"],
        ["--rate-limit", "0"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "pulse_async.testing", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 2
        assert "Traceback" not in result.stderr


def test_server_thread_forwards_the_configuration_methods() -> None:
    from pulse_async.testing import PulseServer

    with PulseServer(frozen_clock=True).start_in_thread() as handle:
        handle.verify_domain("example.net")
        handle.set_outcome("bob@example.net", "bounced")
        template = handle.register_template("tmpl_thread", subject="S", text="T")
        assert template.id == "tmpl_thread"
        assert "example.net" in handle.server.state.verified_domains
        import json
        import urllib.request

        body = json.dumps({"to": ["bob@example.net"], "subject": "s", "body": "b"}).encode()
        request = urllib.request.Request(
            handle.v2_url + "/messages",
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {handle.admin_key}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            message_id = json.loads(response.read())["message_id"]
        assert handle.message_status(message_id) == "queued"
        handle.advance(10)
        assert handle.message_status(message_id) == "bounced"
