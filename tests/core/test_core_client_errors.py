"""Errors through the clients: status mapping, aiohttp exceptions translated, retries."""

from __future__ import annotations

import json
import random
import traceback
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from pulse_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AsyncPulse,
    AsyncPulsewave,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    PulseError,
    RateLimitError,
    ServerError,
    ValidationError,
)

PULSE = "https://api.pulse.io/v2"
PULSEWAVE = "https://api.pulsewave.dev/v1"
USER = {"id": "usr_1", "email": "a@b.co", "role": "admin", "status": "pending", "metadata": {}}


def envelope(code: str, message: str, **extra: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


@pytest.fixture
async def pulse(api_key: str) -> AsyncIterator[AsyncPulse]:
    async with AsyncPulse(api_key, base_url=PULSE, max_retries=0) as client:
        yield client


def keys_sent(m: Any, method: str, url: str) -> list[str]:
    return [call.kwargs["headers"]["Idempotency-Key"] for call in m.requests[(method, URL(url))]]


def assert_no_secret(error: BaseException, api_key: str) -> None:
    text = "".join(traceback.format_exception(error))
    for rendering in (str(error), repr(error), text, str(error.args)):
        assert api_key not in rendering
        assert "Bearer" not in rendering


# --- status → error class, through a real call ------------------------------------------------


@pytest.mark.parametrize(
    ("status", "payload", "body", "cls", "code"),
    [
        (
            400,
            envelope("validation_failed", "email is already in use", field="email"),
            None,
            ValidationError,
            "validation_failed",
        ),
        (
            401,
            envelope("unauthorized", "invalid API key"),
            None,
            AuthenticationError,
            "unauthorized",
        ),
        (
            403,
            envelope("forbidden", "cannot demote the last admin"),
            None,
            PermissionDeniedError,
            "forbidden",
        ),
        (404, envelope("not_found", "no such user"), None, NotFoundError, "not_found"),
        (409, envelope("conflict", "same key in flight"), None, ConflictError, "conflict"),
        (409, envelope("invalid_state", "not queued"), None, ConflictError, "invalid_state"),
        (422, envelope("unprocessable", "?"), None, APIError, "unprocessable"),
        (500, envelope("server_error", "boom"), None, ServerError, "server_error"),
        (502, None, "<html><h1>502 Bad Gateway</h1></html>", ServerError, None),
        (503, None, "", ServerError, None),
        (504, None, "upstream timed out", ServerError, None),
    ],
)
async def test_error_statuses_map_to_classes(
    mocked: Any,
    pulse: AsyncPulse,
    api_key: str,
    status: int,
    payload: dict[str, Any] | None,
    body: str | None,
    cls: type[PulseError],
    code: str | None,
) -> None:
    mocked.post(
        f"{PULSE}/users",
        status=status,
        payload=payload,
        body=body or "",
        content_type="text/html" if body else "application/json",
        headers={"X-Request-Id": "req_hdr"},
    )
    with pytest.raises(PulseError) as info:
        await pulse.users.create(email="a@b.co", role="admin", idempotency_key="idem-err")
    error = info.value
    assert type(error) is cls
    assert error.status == status  # type: ignore[attr-defined]
    assert error.code == code  # type: ignore[attr-defined]
    assert error.request_id == "req_hdr"  # type: ignore[attr-defined]
    assert error.idempotency_key == "idem-err"
    if payload is not None:
        assert error.message == payload["error"]["message"]
    else:
        assert error.message == f"HTTP {status}"
    assert_no_secret(error, api_key)
    assert len(mocked.requests[("POST", URL(f"{PULSE}/users"))]) == 1


async def test_validation_error_from_server_names_the_field(mocked: Any, pulse: AsyncPulse) -> None:
    mocked.post(
        f"{PULSE}/messages",
        status=400,
        payload=envelope("validation_failed", "unknown user", field="to", request_id="req_b"),
    )
    with pytest.raises(ValidationError) as info:
        await pulse.messages.send(to=["usr_404"], subject="s", body="b")
    assert (info.value.status, info.value.field, info.value.request_id) == (400, "to", "req_b")
    assert info.value.idempotency_key is not None


async def test_rate_limited_with_retry_after(mocked: Any, pulse: AsyncPulse) -> None:
    mocked.get(
        f"{PULSE}/messages/msg_1",
        status=429,
        payload=envelope("rate_limited", "slow down"),
        headers={"Retry-After": "7"},
    )
    with pytest.raises(RateLimitError) as info:
        await pulse.messages.retrieve("msg_1")
    assert info.value.retry_after == 7.0
    assert info.value.headers["Retry-After"] == "7"
    assert info.value.idempotency_key is None
    assert pulse.stats.rate_limited == 1


async def test_not_found_on_pulsewave_cancel(mocked: Any, api_key: str) -> None:
    async with AsyncPulsewave(api_key, base_url=PULSEWAVE, max_retries=0) as pw:
        mocked.post(
            f"{PULSEWAVE}/messages/msg_1/cancel",
            status=409,
            payload=envelope("invalid_state", "message was already sent"),
        )
        with pytest.raises(ConflictError) as info:
            await pw.messages.cancel("msg_1", idempotency_key="c-1")
    assert info.value.code == "invalid_state"
    assert info.value.idempotency_key == "c-1"


async def test_redirect_is_an_api_error(mocked: Any, pulse: AsyncPulse) -> None:
    mocked.get(f"{PULSE}/users", status=302, headers={"Location": "https://evil.example/"})
    mocked.get("https://evil.example/", payload={"data": [], "has_more": False})
    with pytest.raises(APIError) as info:
        await pulse.users.list().to_list()
    assert type(info.value) is APIError
    assert info.value.status == 302
    assert ("GET", URL("https://evil.example/")) not in mocked.requests


@pytest.mark.parametrize(
    "body",
    ["", "<html>ok</html>", "[]", "null", "{" * 100_000, '{"data": "not a list"}'],
)
async def test_unusable_success_body(mocked: Any, pulse: AsyncPulse, body: str) -> None:
    mocked.get(f"{PULSE}/users", status=200, body=body)
    with pytest.raises(APIConnectionError) as info:
        await pulse.users.list().to_list()
    assert info.value.retryable is False
    assert info.value.__cause__ is None


async def test_204_for_a_call_that_expects_a_model(mocked: Any, api_key: str) -> None:
    async with AsyncPulsewave(api_key, base_url=PULSEWAVE) as pw:  # default retries
        mocked.post(f"{PULSEWAVE}/messages", status=204)
        with pytest.raises(APIConnectionError) as info:
            await pw.messages.create(
                channel="push", to="tok", from_="app", text="t", idempotency_key="k-204"
            )
    assert info.value.retryable is False
    assert info.value.idempotency_key == "k-204"
    assert len(mocked.requests[("POST", URL(f"{PULSEWAVE}/messages"))]) == 1


# --- aiohttp exceptions become ours, with nothing attached ------------------------------------


def response_error(api_key: str) -> aiohttp.ClientResponseError:
    headers = CIMultiDictProxy(CIMultiDict({"Authorization": f"Bearer {api_key}"}))
    info = aiohttp.RequestInfo(URL(f"{PULSE}/users"), "POST", headers, URL(f"{PULSE}/users"))
    return aiohttp.ClientResponseError(info, (), status=500, message="bad", headers=headers)


@pytest.mark.parametrize(
    ("make", "cls"),
    [
        (lambda key: aiohttp.ClientConnectionError("Connection refused"), APIConnectionError),
        (lambda key: aiohttp.ServerDisconnectedError(), APIConnectionError),
        (lambda key: aiohttp.ClientOSError(104, "Connection reset by peer"), APIConnectionError),
        (
            lambda key: aiohttp.ClientPayloadError("Response payload is not completed"),
            APIConnectionError,
        ),
        (lambda key: ConnectionResetError(104, "reset"), APIConnectionError),
        (lambda key: OSError("network unreachable"), APIConnectionError),
        (response_error, APIConnectionError),
        (lambda key: aiohttp.InvalidURL("https://x"), APIConnectionError),
        (lambda key: TimeoutError(), APITimeoutError),
        (lambda key: aiohttp.ServerTimeoutError("read timeout"), APITimeoutError),
        (lambda key: aiohttp.ConnectionTimeoutError("connect timeout"), APITimeoutError),
    ],
)
async def test_aiohttp_exceptions_are_translated_without_a_chain(
    mocked: Any, pulse: AsyncPulse, api_key: str, make: Any, cls: type[PulseError]
) -> None:
    mocked.post(f"{PULSE}/users", exception=make(api_key))
    with pytest.raises(APIConnectionError) as info:
        await pulse.users.create(email="a@b.co", role="admin", idempotency_key="idem-net")
    error = info.value
    assert type(error) is cls
    assert error.__cause__ is None
    assert error.__context__ is None
    assert error.retryable is True
    assert error.idempotency_key == "idem-net"
    assert "POST /users" in str(error)
    assert_no_secret(error, api_key)


async def test_connection_errors_after_retries_carry_no_chain(
    mocked: Any, api_key: str, fake_sleep: Any
) -> None:
    url = f"{PULSE}/messages"
    async with AsyncPulse(
        api_key, base_url=PULSE, max_retries=2, _sleep=fake_sleep, _rng=random.Random(0)
    ) as pulse:
        for _ in range(3):
            mocked.post(url, exception=aiohttp.ClientConnectionError("refused"))
        with pytest.raises(APIConnectionError) as info:
            await pulse.messages.send(to=["usr_1"], subject="s", body="b")
        assert pulse.stats.attempts == 3
        assert pulse.stats.retries == 2
    error = info.value
    assert error.__cause__ is None
    assert error.__context__ is None
    assert_no_secret(error, api_key)
    keys = keys_sent(mocked, "POST", url)
    assert len(keys) == 3
    assert len(set(keys)) == 1  # the same key on every attempt
    assert error.idempotency_key == keys[0]
    assert len(fake_sleep.calls) == 2
    assert 0.25 <= fake_sleep.calls[0] <= 0.5
    assert 0.5 <= fake_sleep.calls[1] <= 1.0


# --- retries through the client (fake sleep) --------------------------------------------------


async def test_retry_after_503_reuses_the_idempotency_key(
    mocked: Any, api_key: str, fake_sleep: Any
) -> None:
    url = f"{PULSE}/users"
    mocked.post(url, status=503, body="<html>busy</html>", content_type="text/html")
    mocked.post(url, status=201, payload=USER)
    async with AsyncPulse(api_key, base_url=PULSE, _sleep=fake_sleep) as pulse:
        user = await pulse.users.create(email="a@b.co", role="admin")
        assert pulse.stats.retries == 1
    keys = keys_sent(mocked, "POST", url)
    assert len(keys) == 2
    assert keys[0] == keys[1] == user.idempotency_key
    assert len(fake_sleep.calls) == 1


async def test_retry_honours_retry_after(mocked: Any, api_key: str, fake_sleep: Any) -> None:
    url = f"{PULSE}/messages/msg_1"
    mocked.get(
        url, status=429, payload=envelope("rate_limited", "wait"), headers={"Retry-After": "2"}
    )
    mocked.get(url, payload={"id": "msg_1", "status": "sent"})
    async with AsyncPulse(api_key, base_url=PULSE, _sleep=fake_sleep) as pulse:
        message = await pulse.messages.retrieve("msg_1")
    assert message.status == "sent"
    assert fake_sleep.calls
    assert all(delay <= 2 * 1.1 for delay in fake_sleep.calls)
    assert max(fake_sleep.calls) >= 2.0


async def test_retry_after_over_the_cap_is_raised_at_once(
    mocked: Any, api_key: str, fake_sleep: Any
) -> None:
    url = f"{PULSE}/messages/msg_1"
    mocked.get(url, status=429, headers={"Retry-After": "3600"})
    async with AsyncPulse(api_key, base_url=PULSE, _sleep=fake_sleep) as pulse:
        with pytest.raises(RateLimitError) as info:
            await pulse.messages.retrieve("msg_1")
    assert info.value.retry_after == 3600.0
    assert fake_sleep.calls == []
    assert len(mocked.requests[("GET", URL(url))]) == 1


@pytest.mark.parametrize(("code", "attempts"), [("conflict", 2), ("invalid_state", 1)])
async def test_409_conflict_retried_invalid_state_not(
    mocked: Any, api_key: str, fake_sleep: Any, code: str, attempts: int
) -> None:
    url = f"{PULSEWAVE}/messages"
    mocked.post(url, status=409, payload=envelope(code, "no"))
    mocked.post(url, status=202, payload={"id": "msg_1", "status": "queued"})
    async with AsyncPulsewave(api_key, base_url=PULSEWAVE, _sleep=fake_sleep) as pw:
        call = pw.messages.create(channel="push", to="tok", from_="app", text="t")
        if attempts == 2:
            assert (await call).id == "msg_1"
        else:
            with pytest.raises(ConflictError):
                await call
    assert len(mocked.requests[("POST", URL(url))]) == attempts


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_never_retried(
    mocked: Any, api_key: str, fake_sleep: Any, status: int
) -> None:
    url = f"{PULSE}/users/usr_1"
    mocked.patch(url, status=status, payload=envelope("x", "no"), repeat=True)
    async with AsyncPulse(api_key, base_url=PULSE, max_retries=5, _sleep=fake_sleep) as pulse:
        with pytest.raises(PulseError):
            await pulse.users.update("usr_1", role="viewer")
    assert len(mocked.requests[("PATCH", URL(url))]) == 1
    assert fake_sleep.calls == []


async def test_pulsewave_error_body_fields(mocked: Any, api_key: str) -> None:
    async with AsyncPulsewave(api_key, base_url=PULSEWAVE, max_retries=0) as pw:
        mocked.post(
            f"{PULSEWAVE}/messages",
            status=400,
            body=json.dumps(
                envelope("validation_failed", "same key, other body", field="Idempotency-Key")
            ),
        )
        with pytest.raises(ValidationError) as info:
            await pw.messages.create(
                channel="push", to="tok", from_="app", text="t", idempotency_key="dup"
            )
    assert info.value.field == "Idempotency-Key"
    assert info.value.idempotency_key == "dup"
