"""Sans-I/O HTTP: signing requests, and ``decipher`` / ``error_from_response``."""

from __future__ import annotations

import json
import platform
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse_async._core._http import (
    decipher,
    encode_json,
    error_from_response,
    header,
    path,
    sign,
    user_agent,
)
from pulse_async._core._options import resolve_options
from pulse_async._version import __version__
from pulse_async.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    PulseError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from pulse_async.resources._structures import (
    STRUCTURE_MESSAGE,
    STRUCTURE_RECEIPT,
    STRUCTURE_USER,
    STRUCTURE_USER_PAGE,
)

USER = {
    "id": "usr_1",
    "email": "ada@example.com",
    "name": None,
    "role": "admin",
    "status": "active",
    "metadata": {},
    "created_at": "2024-11-14T09:00:00Z",
}


def envelope(code: str, message: str, **extra: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, **extra}}).encode()


def err(status: int, body: bytes = b"", headers: dict[str, str] | None = None, **kw: Any) -> Any:
    return error_from_response(status, headers or {}, body, **kw)


# --- signing ----------------------------------------------------------------------------------


def test_user_agent_format() -> None:
    py = ".".join(platform.python_version_tuple()[:2])
    assert user_agent("3.14.5") == f"pulse-messaging/{__version__} python/{py} aiohttp/3.14.5"


def test_sign_sets_credentials_and_identity_and_keeps_default_headers() -> None:
    options = resolve_options(
        api_key="pw_test_k",
        base_url=None,
        default_base_url="https://api.pulse.io/v2",
        default_headers={"X-Team": "ops", "Authorization": "Bearer stolen"},
        environ={},
    )
    headers = sign(options, "3.14.5")
    assert headers["Authorization"] == "Bearer pw_test_k"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("pulse-messaging/")
    assert headers["X-Team"] == "ops"


def test_path_quotes_ids() -> None:
    assert path("/users/{}", "usr_1") == "/users/usr_1"
    assert path("/users/{}", "a b?c#d%") == "/users/a%20b%3Fc%23d%25"
    assert path("/messages/{}/cancel", "msg/x") == "/messages/msg%2Fx/cancel"
    assert path("/users/{}", "é") == "/users/%C3%A9"


def test_encode_json_is_compact_utf8() -> None:
    assert encode_json({"a": "é", "b": [1, None]}) == '{"a":"é","b":[1,null]}'.encode()


def test_header_lookup_is_case_insensitive() -> None:
    headers = {"retry-after": "7", "X-Request-Id": "req_1"}
    assert header(headers, "Retry-After") == "7"
    assert header(headers, "x-request-id") == "req_1"
    assert header(headers, "Missing") is None


# --- error mapping ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "validation_failed", ValidationError),
        (401, "unauthorized", AuthenticationError),
        (403, "forbidden", PermissionDeniedError),
        (404, "not_found", NotFoundError),
        (409, "conflict", ConflictError),
        (409, "invalid_state", ConflictError),
        (429, "rate_limited", RateLimitError),
        (500, "server_error", ServerError),
        (502, "bad_gateway", ServerError),
        (503, "unavailable", ServerError),
        (504, "gateway_timeout", ServerError),
        (599, "weird", ServerError),
        (402, "payment_required", APIError),
        (405, "method_not_allowed", APIError),
        (408, "request_timeout", APIError),
        (410, "gone", APIError),
        (418, "teapot", APIError),
        (422, "unprocessable", APIError),
    ],
)
def test_every_status_maps_to_its_class(status: int, code: str, cls: type[PulseError]) -> None:
    body = envelope(code, "it went wrong", field="email", request_id="req_body")
    error = err(status, body, {"X-Request-Id": "req_header"}, idempotency_key="idem-1")
    assert type(error) is cls
    assert error.status == status
    assert error.code == code
    assert error.message == "it went wrong"
    assert error.field == "email"
    assert error.request_id == "req_body"  # the body's id wins over the header's
    assert error.idempotency_key == "idem-1"
    assert error.headers == {"X-Request-Id": "req_header"}
    assert f"status={status}" in str(error)
    assert "it went wrong" in str(error)


def test_the_400_is_a_validation_error_with_http_details() -> None:
    error = err(400, envelope("validation_failed", "email is already in use", field="email"))
    assert isinstance(error, ValidationError)
    assert isinstance(error, ValueError)
    assert not isinstance(error, APIError)
    assert (error.status, error.field) == (400, "email")
    assert str(error) == "email is already in use (status=400, code=validation_failed, field=email)"


def test_request_id_falls_back_to_the_header() -> None:
    error = err(404, envelope("not_found", "no such user"), {"x-request-id": "req_hdr"})
    assert error.request_id == "req_hdr"
    assert "request_id=req_hdr" in str(error)


def test_no_request_id_anywhere() -> None:
    assert err(404, envelope("not_found", "gone")).request_id is None
    assert err(404, b"", {"X-Request-Id": ""}).request_id is None


def test_rate_limit_error_reads_retry_after() -> None:
    error = err(429, envelope("rate_limited", "slow down"), {"Retry-After": "7"})
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 7.0


def test_rate_limit_http_date_uses_the_injected_clock() -> None:
    headers = {"retry-after": "Thu, 01 Jan 1970 00:00:30 GMT"}
    error = error_from_response(429, headers, b"", now=lambda: 10.0)
    assert error.retry_after == 20.0  # type: ignore[attr-defined]


def test_rate_limit_without_retry_after() -> None:
    error = err(429)
    assert isinstance(error, RateLimitError)
    assert error.retry_after is None
    assert error.message == "HTTP 429"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        b"\xff\xfe\xfa not utf-8",
        b"[1, 2, 3]",
        b'"just a string"',
        b"null",
        b'{"message": "no envelope"}',
        b'{"error": "a string, not an object"}',
        b'{"error": {"code": 5, "message": ["x"], "field": {}, "request_id": 1}}',
        b'{"error": {"code": "", "message": ""}}',
        b"{" * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
        b"1" * 5000,
    ],
)
def test_unusable_error_bodies_still_map_by_status(body: bytes) -> None:
    error = err(502, body, {"X-Request-Id": "req_lb"})
    assert type(error) is ServerError
    assert error.status == 502
    assert error.code is None
    assert error.field is None
    assert error.message == "HTTP 502"
    assert error.request_id == "req_lb"


def test_unknown_code_is_kept() -> None:
    error = err(400, envelope("brand_new_code", "new rule"))
    assert isinstance(error, ValidationError)
    assert error.code == "brand_new_code"


def test_overlong_server_texts_are_truncated() -> None:
    error = err(500, envelope("server_error", "x" * 50_000))
    assert len(error.message) == 2000


@pytest.mark.parametrize("status", [300, 301, 302, 303, 307, 308])
def test_redirects_are_api_errors(status: int) -> None:
    error = err(status, b"", {"Location": "https://elsewhere.example/"})
    assert type(error) is APIError
    assert error.status == status
    assert "redirects are not followed" in str(error)


def test_api_error_str_and_repr() -> None:
    error = err(404, envelope("not_found", "no such user", request_id="req_9"))
    assert str(error) == "no such user (status=404, code=not_found, request_id=req_9)"
    assert repr(error) == "NotFoundError('no such user')"


def test_error_str_lists_only_the_details_present() -> None:
    assert (
        str(err(503, b"", {"X-Request-Id": "req_1"})) == "HTTP 503 (status=503, request_id=req_1)"
    )
    server_side = ValidationError("bad", status=400, code=None, request_id="req_2")
    assert str(server_side) == "bad (status=400, request_id=req_2)"
    assert str(PulseError("plain")) == "plain"


def test_client_side_validation_error_str() -> None:
    assert str(ValidationError("must not be empty", field="subject")) == (
        "subject: must not be empty"
    )
    assert str(ValidationError("bad")) == "bad"


# --- decipher ---------------------------------------------------------------------------------


def test_decipher_builds_the_model() -> None:
    user = decipher(200, {}, json.dumps(USER).encode(), STRUCTURE_USER)
    assert user is not None
    assert user.id == "usr_1"
    assert user.idempotency_key is None


def test_decipher_attaches_the_idempotency_key_to_the_result() -> None:
    body = json.dumps({"message_id": "msg_1", "status": "queued", "recipient_count": 2}).encode()
    receipt = decipher(202, {}, body, STRUCTURE_RECEIPT, idempotency_key="idem-42")
    assert receipt is not None
    assert receipt.idempotency_key == "idem-42"
    assert receipt.recipient_count == 2


def test_decipher_any_2xx_is_success() -> None:
    body = json.dumps({"id": "msg_1", "status": "queued", "from": "a@b.co"}).encode()
    for status in (200, 201, 202, 203, 299):
        message = decipher(status, {}, body, STRUCTURE_MESSAGE)
        assert message is not None
        assert message.from_ == "a@b.co"


def test_decipher_bodiless_success() -> None:
    assert decipher(204, {}, b"", None) is None
    # A body where none is expected is ignored.
    assert decipher(200, {}, b"<html>", None) is None


def test_decipher_204_where_a_model_is_expected_is_a_connection_error() -> None:
    with pytest.raises(APIConnectionError) as info:
        decipher(204, {}, b"", STRUCTURE_USER, idempotency_key="idem-1")
    assert info.value.retryable is False
    assert info.value.idempotency_key == "idem-1"


@pytest.mark.parametrize("status", [302, 400, 401, 404, 409, 429, 500, 503])
def test_decipher_raises_the_error_of_the_status(status: int) -> None:
    with pytest.raises(PulseError) as info:
        decipher(status, {}, envelope("x", "no"), STRUCTURE_USER, idempotency_key="idem-7")
    assert type(info.value) is type(err(status))
    assert info.value.idempotency_key == "idem-7"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>oops</html>",
        b"\xff\xfe\x00garbage",
        b"[]",
        b"null",
        b"42",
        b'"str"',
        b"{" * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 65 + b"1" + b"}" * 65,  # valid JSON, the wrong shape
        b'{"id": "usr_1"}',  # required fields missing
        json.dumps({**USER, "created_at": 12}).encode(),  # a number where a time belongs
        json.dumps({**USER, "id": {"nested": True}}).encode(),  # an object where a string does
        json.dumps({**USER, "metadata": None}).encode(),
    ],
)
def test_decipher_unusable_2xx_body_is_a_connection_error(body: bytes) -> None:
    with pytest.raises(APIConnectionError) as info:
        decipher(200, {}, body, STRUCTURE_USER, idempotency_key="idem-3")
    error = info.value
    assert error.retryable is False
    assert error.idempotency_key == "idem-3"
    assert error.__cause__ is None
    assert error.__suppress_context__ is True
    assert "200 response body could not be read" in str(error)


def test_deep_but_acceptable_nesting_is_parsed() -> None:
    # Strings holding brackets are not nesting.
    user = {**USER, "name": "[[[[" * 100, "metadata": {"k": "{" * 200}}
    result = decipher(200, {}, json.dumps(user).encode(), STRUCTURE_USER)
    assert result is not None
    assert result.name == "[[[[" * 100
    # Escaped quotes inside strings do not end them.
    tricky = {**USER, "name": '\\"[{' * 70}
    result = decipher(200, {}, json.dumps(tricky).encode(), STRUCTURE_USER)
    assert result is not None
    assert result.name == tricky["name"]


def test_decipher_tolerates_unknown_fields_in_a_page() -> None:
    body = json.dumps(
        {"data": [USER, {**USER, "id": "usr_2", "extra": [1]}], "has_more": True, "x": 1}
    ).encode()
    page = decipher(200, {}, body, STRUCTURE_USER_PAGE)
    assert page is not None
    assert [u.id for u in page.data] == ["usr_1", "usr_2"]
    assert page.has_more is True
    assert page.next_cursor is None


@settings(max_examples=150, deadline=None)
@given(
    status=st.integers(min_value=100, max_value=599),
    body=st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
            lambda children: (
                st.lists(children, max_size=4)
                | st.dictionaries(st.text(max_size=8), children, max_size=4)
            ),
            max_leaves=20,
        ).map(lambda doc: json.dumps(doc).encode()),
        st.fixed_dictionaries(
            {"data": st.lists(st.just(USER), max_size=2)},
            optional={"has_more": st.booleans(), "next_cursor": st.none() | st.text(max_size=5)},
        ).map(lambda doc: json.dumps(doc).encode()),
    ),
    retry_after=st.none() | st.text(max_size=30),
)
def test_decipher_returns_a_model_or_raises_a_pulse_error_only(
    status: int, body: bytes, retry_after: str | None
) -> None:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    try:
        result = decipher(status, headers, body, STRUCTURE_USER_PAGE)
    except PulseError as exc:
        error = exc
    else:
        assert 200 <= status < 300
        assert result is not None
        return
    assert str(error)
    if isinstance(error, APIError | ValidationError):
        assert error.status == status
    else:
        assert isinstance(error, APIConnectionError)
        assert 200 <= status < 300
