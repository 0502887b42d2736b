"""Secrets never leave: the API key in no repr, error, log line, traceback or CLI output.

A canary key (``pw_test_CANARY1234567890``) is installed in the local Pulse
server as a real admin key, so successful calls run with it too. Then every
place a key could escape through is searched for it (or a recognisable piece
of it): reprs and strs of clients, ``with_options`` copies, options,
transport and limiter; every error of a failing call with its whole chain,
``__dict__`` and formatted traceback; every log record of every logger at
DEBUG; the CLI's stdout and stderr. Redirects are never followed (the key is
not sent to where a 3xx points), plain ``http://`` is refused off loopback,
and TLS verification is on unless turned off explicitly, with a warning.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import sys
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from hardening_helpers import (
    CANARY,
    CountingServer,
    assert_error_has_no_canary,
    assert_no_canary,
    exception_chain,
)

from pulse_async import AsyncPulse, AsyncPulsewave, RetryEvent, Timeout
from pulse_async.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ClientMisuseError,
    NotFoundError,
    PulseError,
    ServerError,
    ValidationError,
)
from pulse_async.testing import PulseServer

# A self-signed certificate for 127.0.0.1 (EC P-256, valid until 2126), made with
# ``openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500
# -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1``. Test material, not a secret.
CERT = """-----BEGIN CERTIFICATE-----
MIIBjzCCATWgAwIBAgITTj19s7UCI1sfJU87Y0w0lIPgoTAKBggqhkjOPQQDAjAU
MRIwEAYDVQQDDAkxMjcuMC4wLjEwIBcNMjYxMTIzMTMyNzQwWhgPMjEyNjEwMzAx
MzI3NDBaMBQxEjAQBgNVBAMMCTEyNy4wLjAuMTBZMBMGByqGSM49AgEGCCqGSM49
AwEHA0IABKgirUUrbEcyQDhbkvpbxATb34IJ9vPvsxZdbSM7r0qWXa4rBJWA3hjy
yXTs7XLcQ0sQDjP9vwOU5vVP765V6cujZDBiMB0GA1UdDgQWBBROPEIoY1HLYBHx
HaK/ifMxOLmhczAfBgNVHSMEGDAWgBROPEIoY1HLYBHxHaK/ifMxOLmhczAPBgNV
HRMBAf8EBTADAQH/MA8GA1UdEQQIMAaHBH8AAAEwCgYIKoZIzj0EAwIDSAAwRQIh
AMT8+LrpXnsphsVz1upwyzQj7+A7vibSWKkduS8pptAgAiAzJqs3D2AEn8WoqS9M
q+tdnX4prFsbeCgRHH/tLU3tRQ==
-----END CERTIFICATE-----
"""
CERT_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgtP2kGJdWmtXSf5jj
eA4zxII+cvKcDngmppm5QSDKq3+hRANCAASoIq1FK2xHMkA4W5L6W8QE29+CCfbz
77MWXW0jO69Kll2uKwSVgN4Y8sl07O1y3ENLEA4z/b8DlOb1T++uVenL
-----END PRIVATE KEY-----
"""


def install_canary(server: PulseServer) -> None:
    """Make the canary a real admin key of ``server`` (re-keying a freshly issued one)."""
    issued = server.create_key(role="admin")
    record = server.state.keys.pop(issued)
    record.secret = CANARY
    server.state.keys[CANARY] = record


@pytest.fixture
async def server() -> AsyncIterator[PulseServer]:
    async with PulseServer(seed=7) as pulse_server:
        install_canary(pulse_server)
        yield pulse_server


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record of every logger, DEBUG and up."""
    caplog.set_level(logging.DEBUG)
    for name in ("pulse_async", "pulse_async.transport", "aiohttp", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def assert_logs_clean(caplog: pytest.LogCaptureFixture) -> None:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in caplog.records:
        assert_no_canary(formatter.format(record), f"a log record of {record.name}")
        assert_no_canary(repr(record.args), f"the args of a log record of {record.name}")
        assert_no_canary(repr(record.__dict__), f"a log record of {record.name}")
    assert_no_canary(caplog.text, "the captured log")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def no_sleep(_seconds: float) -> None:
    return None


# --- reprs --------------------------------------------------------------------------------------


async def test_no_repr_or_str_shows_the_key(server: PulseServer) -> None:
    async with (
        AsyncPulse(CANARY, base_url=server.url, rate_limit="pro") as pulse,
        AsyncPulsewave(CANARY, base_url=server.url) as wave,
    ):
        await pulse.users.create(email="ada@example.com", role="editor")  # a live session
        await wave.messages.create(channel="sms", to="+14155550123", from_="Pulse", text="x")
        objects: list[Any] = [
            pulse,
            wave,
            pulse.with_options(timeout=5),
            wave.with_options(max_retries=0),
            pulse.options,
            wave.options,
            pulse.options.timeout,
            pulse.stats,
            pulse.rate_limiter,
            pulse._rt.transport,
            wave._rt.transport,
            pulse.users,
            pulse.messages,
            pulse.threads,
            wave.messages,
            pulse.users.list(),
            vars(pulse),
            vars(wave),
        ]
        for obj in objects:
            assert_no_canary(repr(obj), f"repr of {type(obj).__name__}")
            assert_no_canary(str(obj), f"str of {type(obj).__name__}")
            assert_no_canary(f"{obj!a}", f"ascii of {type(obj).__name__}")


# --- errors of failing calls, and the logs around them ------------------------------------------


def _scenarios() -> dict[str, tuple[Callable[[PulseServer], Awaitable[Any]], type[PulseError]]]:
    def client(url: str, **kw: Any) -> AsyncPulse:
        options: dict[str, Any] = {
            "base_url": url,
            "max_retries": 2,
            "_sleep": no_sleep,
            "timeout": Timeout(connect=1, read=0.5, total=3),
        }
        options.update(kw)
        return AsyncPulse(CANARY, **options)

    async def unknown_key(server: PulseServer) -> Any:
        server.state.keys.pop(CANARY)
        async with client(server.url) as pulse:
            return await pulse.users.create(email="ada@example.com", role="editor")

    async def duplicate_email(server: PulseServer) -> Any:
        async with client(server.url) as pulse:
            await pulse.users.create(email="dup@example.com", role="editor")
            return await pulse.users.create(email="dup@example.com", role="editor")

    async def not_found(server: PulseServer) -> Any:
        async with client(server.url) as pulse:
            return await pulse.messages.retrieve("msg_missing")

    def fault(kind: str, **fault_kw: Any) -> Callable[[PulseServer], Awaitable[Any]]:
        async def run(server: PulseServer) -> Any:
            server.faults.add(kind, **fault_kw)
            async with client(server.url) as pulse:
                return await pulse.messages.send(to=["ada@example.com"], subject="s", body="b")

        return run

    async def refused(_server: PulseServer) -> Any:
        async with client(f"http://127.0.0.1:{closed_port()}") as pulse:
            return await pulse.users.create(email="ada@example.com", role="editor")

    async def oversize(server: PulseServer) -> Any:
        async with client(server.url, max_response_bytes=10) as pulse:
            return await pulse.users.create(email="ada@example.com", role="editor")

    async def closed_client(server: PulseServer) -> Any:
        pulse = client(server.url)
        await pulse.aclose()
        return await pulse.users.create(email="ada@example.com", role="editor")

    async def before_sending(server: PulseServer) -> Any:
        async with client(server.url) as pulse:
            return await pulse.users.create(email="not an email", role="editor")

    return {
        "401 unknown key": (unknown_key, AuthenticationError),
        "400 from the server": (duplicate_email, ValidationError),
        "404": (not_found, NotFoundError),
        "500, retried": (fault("server_error"), ServerError),
        "502 HTML, retried": (fault("bad_gateway"), ServerError),
        "reset before": (fault("reset_before"), APIConnectionError),
        "reset after commit": (fault("reset_after_commit"), APIConnectionError),
        "truncated body": (fault("truncated"), APIConnectionError),
        "timeout": (fault("latency", delay=5.0), APITimeoutError),
        "connection refused": (refused, APIConnectionError),
        "oversize body": (oversize, APIConnectionError),
        "closed client": (closed_client, ClientMisuseError),
        "refused before sending": (before_sending, ValidationError),
    }


SCENARIOS = _scenarios()


@pytest.mark.parametrize("name", ["connection refused", "500, retried", "timeout", "404"])
async def test_a_traceback_with_its_locals_shows_the_key_nowhere(
    name: str, server: PulseServer
) -> None:
    """Error trackers and ``pytest --showlocals`` print every frame's locals with ``repr``.

    The transport's frame holds the request headers; the Authorization value
    must not show its key in a repr (it is still the key when written out).
    """
    scenario, _expected = SCENARIOS[name]
    with pytest.raises(PulseError) as info:
        await scenario(server)
    for linked in exception_chain(info.value):
        text = "".join(
            traceback.TracebackException.from_exception(linked, capture_locals=True).format()
        )
        assert_no_canary(text, "a traceback with locals")


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_a_failed_call_shows_the_key_nowhere(
    name: str, server: PulseServer, logs: pytest.LogCaptureFixture
) -> None:
    scenario, expected = SCENARIOS[name]
    with pytest.raises(PulseError) as info:
        await scenario(server)
    assert isinstance(info.value, expected), info.value
    assert_error_has_no_canary(info.value)
    assert_logs_clean(logs)


async def test_retry_events_show_the_key_nowhere(
    server: PulseServer, logs: pytest.LogCaptureFixture
) -> None:
    events: list[RetryEvent] = []
    server.faults.add("bad_gateway", count=2)
    async with AsyncPulse(
        CANARY, base_url=server.url, _sleep=no_sleep, on_retry=events.append
    ) as pulse:
        receipt = await pulse.messages.send(to=["ada@example.com"], subject="s", body="b")
    assert receipt.message_id
    assert len(events) == 2
    for event in events:
        assert_no_canary(repr(event), "a RetryEvent")
        assert_error_has_no_canary(event.cause)
    assert any(r.levelno == logging.INFO for r in logs.records)  # the retries were logged
    assert_logs_clean(logs)


async def test_successful_calls_log_at_debug_without_the_key(
    server: PulseServer, logs: pytest.LogCaptureFixture
) -> None:
    async with (
        AsyncPulse(CANARY, base_url=server.url) as pulse,
        AsyncPulsewave(CANARY, base_url=server.url) as wave,
    ):
        user = await pulse.users.create(email="ada@example.com", role="editor", name="Ada")
        await pulse.users.update(user.id, metadata={"team": "ops"})
        assert [u async for u in pulse.users.list(limit=1)]
        receipt = await pulse.messages.send(to=[user.id], subject="Hi", body="Hello")
        await pulse.messages.retrieve(receipt.message_id)
        assert isinstance([t async for t in pulse.threads.list()], list)
        message = await wave.messages.create(
            channel="email", to="ada@example.com", from_="news@example.com", subject="Hi", text="x"
        )
        await wave.messages.retrieve(message.id)
        await wave.messages.cancel(message.id)
        await pulse.users.delete(user.id)
    debug = [
        r for r in logs.records if r.name.startswith("pulse_async") and r.levelno == logging.DEBUG
    ]
    assert debug, "requests are logged at DEBUG"
    assert_logs_clean(logs)


# --- redirects ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_redirect_is_an_error_and_the_key_goes_nowhere_else(
    status: int, method: str, logs: pytest.LogCaptureFixture
) -> None:
    async with CountingServer() as target:

        async def redirect(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, headers={"Location": f"{target.url}{request.path}"})

        async with CountingServer(redirect) as origin:
            async with AsyncPulse(
                CANARY, base_url=origin.url, max_retries=2, _sleep=no_sleep
            ) as pulse:
                call = (
                    pulse.messages.retrieve("msg_1")
                    if method == "GET"
                    else pulse.messages.send(to=["usr_1"], subject="s", body="b")
                )
                with pytest.raises(APIError) as info:
                    await call
            assert origin.count == 1  # asked once, never retried
            assert origin.requests[0][2]["Authorization"] == f"Bearer {CANARY}"
        assert target.count == 0, "the redirect was followed"
    error = info.value
    assert error.status == status
    assert "redirect" in str(error)
    assert_error_has_no_canary(error)
    assert_logs_clean(logs)


# --- plain http and TLS -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://api.pulse.io",
        "http://10.0.0.1:8080",
        "http://example.com/v2",
        "http://[2001:db8::1]",
        "http://localhost.example.com",
    ],
)
def test_plain_http_is_refused_off_loopback(url: str) -> None:
    for cls in (AsyncPulse, AsyncPulsewave):
        with pytest.raises(ValidationError) as info:
            cls(CANARY, base_url=url)
        assert info.value.field == "base_url"
        assert "https" in str(info.value)
        assert_error_has_no_canary(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://localhost:1",
        "http://[::1]:8080",
        "http://127.1.2.3",
        "https://api.pulse.io",
    ],
)
def test_plain_http_is_allowed_on_loopback_and_https_anywhere(url: str) -> None:
    assert AsyncPulse(CANARY, base_url=url).options.base_url.startswith(url)


@pytest.fixture
async def tls_server(tmp_path: Any) -> AsyncIterator[str]:
    """An HTTPS loopback server with a self-signed certificate, answering one message."""
    (tmp_path / "cert.pem").write_text(CERT)
    (tmp_path / "key.pem").write_text(CERT_KEY)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")

    async def answer(_request: web.Request) -> web.StreamResponse:
        return web.json_response({"id": "msg_1", "status": "queued"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        yield f"https://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_tls_is_verified_by_default(tls_server: str, logs: pytest.LogCaptureFixture) -> None:
    async with AsyncPulse(CANARY, base_url=tls_server, max_retries=0) as pulse:
        assert pulse.options.verify_ssl is True
        with pytest.raises(APIConnectionError) as info:
            await pulse.messages.retrieve("msg_1")
    assert "certificate" in str(info.value).lower() or "ssl" in str(info.value).lower()
    assert_error_has_no_canary(info.value)
    assert not [
        r for r in logs.records if r.levelno >= logging.WARNING and r.name.startswith("pulse_async")
    ]
    assert_logs_clean(logs)


async def test_turning_tls_verification_off_is_explicit_and_logged(
    tls_server: str, logs: pytest.LogCaptureFixture
) -> None:
    async with AsyncPulse(CANARY, base_url=tls_server, verify_ssl=False) as pulse:
        message = await pulse.messages.retrieve("msg_1")
    assert message.id == "msg_1"
    warnings = [
        r for r in logs.records if r.levelno == logging.WARNING and r.name.startswith("pulse_async")
    ]
    assert len(warnings) == 1
    assert "TLS" in warnings[0].getMessage()
    assert "127.0.0.1" in warnings[0].getMessage()
    assert_logs_clean(logs)


# --- the CLI ------------------------------------------------------------------------------------


async def run_cli(*args: str, base_url: str, key: str | None = CANARY) -> tuple[int, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PULSE", "PULSEWAVE", "COV_", "COVERAGE"))
    }
    env["PULSE_BASE_URL"] = base_url
    if key is not None:
        env["PULSE_API_KEY"] = key
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pulse_async._cli",
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(errors="replace") + stderr.decode(errors="replace")


@pytest.mark.slow
async def test_the_cli_shows_the_key_nowhere(server: PulseServer) -> None:
    async with AsyncPulse(CANARY, base_url=server.url) as pulse:
        await pulse.users.create(email="ada@example.com", role="editor", name="Ada")
    cases: list[tuple[tuple[str, ...], str, int]] = [
        (("users", "list"), server.url, 0),
        (("users", "list", "--verbose"), server.url, 0),
        (("users", "list", "--json", "--verbose"), server.url, 0),
        (
            (
                "messages",
                "send",
                "--to",
                "ada@example.com",
                "--subject",
                "Hi",
                "--body",
                "x",
                "--verbose",
            ),
            server.url,
            0,
        ),
        (("messages", "get", "msg_missing", "--verbose"), server.url, 1),
        (("users", "create", "--email", "not-an-email", "--role", "editor"), server.url, 2),
        (("users", "list", "--verbose"), f"http://127.0.0.1:{closed_port()}", 1),
        (("users", "list", "--api-key", CANARY), server.url, 2),
    ]
    for args, url, status in cases:
        code, output = await run_cli(*args, base_url=url)
        assert code == status, (args, code, output)
        assert_no_canary(output, f"the output of `pulse {' '.join(args)}`")
    # A key the server does not know: a 401, reported without the key.
    unknown = "pw_test_UNKNOWN0987654321"
    code, output = await run_cli("users", "list", "--verbose", base_url=server.url, key=unknown)
    assert code == 1, output
    assert "unauthorized" in output.lower() or "401" in output
    assert unknown not in output
    assert "UNKNOWN0987" not in output


def test_an_error_never_keeps_credentials_a_proxy_echoed() -> None:
    from pulse_async._core._http import error_from_response

    error = error_from_response(
        502,
        {
            "Authorization": "Bearer pw_test_CANARY1234567890",
            "Set-Cookie": "s=1",
            "X-Request-Id": "req_1",
            "proxy-authorization": "Basic x",
        },
        b"<html>bad gateway</html>",
    )
    assert dict(error.headers) == {"X-Request-Id": "req_1"}  # type: ignore[attr-defined]
