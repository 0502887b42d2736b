"""``PULSE_LOG`` and the one structured DEBUG line per attempt."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from pulse_async import AsyncPulse
from pulse_async._instrument import configure_logging
from pulse_async.testing import PulseServer

SCRIPT = textwrap.dedent(
    """
    import asyncio
    from pulse_async import AsyncPulse
    from pulse_async.testing import PulseServer

    async def nap(seconds: float) -> None:
        return None

    async def main() -> None:
        async with PulseServer() as server:
            server.faults.add("server_error", route="GET /v2/messages/{id}", count=1)
            key = server.create_key(role="admin")
            print("KEY", key, flush=True)
            async with AsyncPulse(key, base_url=server.v2_url, _sleep=nap) as pulse:
                receipt = await pulse.messages.send(to=["ada@example.com"], subject="Hi", body="x")
                await pulse.messages.retrieve(receipt.message_id)

    asyncio.run(main())
    """
)


def run_with(pulse_log: str | None) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE", "OTEL"))}
    if pulse_log is not None:
        env["PULSE_LOG"] = pulse_log
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    key = result.stdout.split("KEY ", 1)[1].split()[0]
    return key, result.stderr


def test_pulse_log_debug_logs_each_attempt_without_code() -> None:
    key, stderr = run_with("debug")
    lines = [line for line in stderr.splitlines() if "pulse_async.http" in line]
    assert len(lines) == 3, stderr  # the send, then the retrieve's 500 and its retry
    assert "POST /v2/messages status=202 attempt=1 " in lines[0]
    assert "GET /v2/messages/{id} status=500 attempt=1 " in lines[1]
    assert "GET /v2/messages/{id} status=200 attempt=2 " in lines[2]
    assert all("DEBUG" in line and "request_id=req_" in line for line in lines)
    assert all(" elapsed=" in line for line in lines)
    assert "retrying GET /messages/" in stderr  # the INFO line of the retry
    assert key not in stderr


def test_pulse_log_info_shows_retries_only() -> None:
    key, stderr = run_with("INFO")
    assert "pulse_async.http" not in stderr
    assert "retrying GET /messages/" in stderr
    assert key not in stderr


def test_without_pulse_log_nothing_is_printed() -> None:
    _, stderr = run_with(None)
    assert stderr == ""


@pytest.fixture
def restore_loggers() -> Iterator[None]:
    saved = {}
    for name in ("pulse_async", "pulse_sync"):
        logger = logging.getLogger(name)
        saved[name] = (logger.level, list(logger.handlers))
    yield
    for name, (level, handlers) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = handlers


@pytest.mark.usefixtures("restore_loggers")
def test_configure_logging_values() -> None:
    assert configure_logging("") is False
    assert configure_logging("verbose") is False
    assert configure_logging(" Debug ") is True
    assert logging.getLogger("pulse_async").level == logging.DEBUG
    assert logging.getLogger("pulse_sync").level == logging.DEBUG
    handlers = list(logging.getLogger("pulse_async").handlers)
    assert configure_logging("info") is True  # a second call adds no second handler
    assert logging.getLogger("pulse_async").handlers == handlers
    assert logging.getLogger("pulse_async").level == logging.INFO


async def test_the_attempt_line_is_structured(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="pulse_async.http")
    async with (
        PulseServer() as server,
        AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse,
    ):
        user = await pulse.users.create(email="ada@example.com", role="viewer")
        await pulse.users.delete(user.id)
    records = [r for r in caplog.records if r.name == "pulse_async.http"]
    assert [r.levelno for r in records] == [logging.DEBUG, logging.DEBUG]
    fields = [
        (r.http_method, r.path_template, r.status, r.attempt)  # type: ignore[attr-defined]
        for r in records
    ]
    assert fields == [("POST", "/v2/users", 201, 1), ("DELETE", "/v2/users/{id}", 204, 1)]
    for record in records:
        assert record.request_id.startswith("req_")  # type: ignore[attr-defined]
        assert record.elapsed >= 0  # type: ignore[attr-defined]
        assert user.id not in record.getMessage()  # ids stay out: the template is logged
