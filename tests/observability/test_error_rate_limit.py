"""``.rate_limit`` on errors: parsed by the one ``X-RateLimit-*`` parser, pure."""

from __future__ import annotations

import pickle

import pytest

from pulse_async import APIError, RateLimitInfo, ServerError, ValidationError
from pulse_async._core._http import error_from_response

HEADERS = {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "7"}


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 429, 418, 500, 503])
def test_every_answered_error_carries_the_parsed_headers(status: int) -> None:
    error = error_from_response(status, HEADERS, b"")
    assert isinstance(error, APIError | ValidationError)
    assert error.rate_limit == RateLimitInfo(60, 0, 7.0)
    assert pickle.loads(pickle.dumps(error)).rate_limit == RateLimitInfo(60, 0, 7.0)


def test_without_the_headers_it_is_none() -> None:
    error = error_from_response(500, {"X-Request-Id": "req_1"}, b"")
    assert isinstance(error, ServerError)
    assert error.rate_limit is None


def test_an_error_made_by_hand_or_before_sending_has_none() -> None:
    assert APIError("x", status=500).rate_limit is None
    assert ValidationError("bad", field="to").rate_limit is None
