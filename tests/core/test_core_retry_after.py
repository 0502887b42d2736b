"""``Retry-After`` and ``X-RateLimit-*``: lenient parsing that never raises."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse_async._core._retry_after import (
    MAX_RETRY_AFTER,
    RateLimitHeaders,
    parse_rate_limit_headers,
    parse_retry_after,
)

#: Sun, 06 Nov 1994 08:49:37 GMT — RFC 9110's example date.
EPOCH_1994 = datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("+3", 3.0),
        ("86400", MAX_RETRY_AFTER),
    ],
)
def test_delta_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value, now=0.0) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "-1",
        "-0.5",
        "86401",
        "1e400",
        "99999999999999999999",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "Infinity",
        "soon",
        "7 seconds",
        "0x10",
        "1" * 65,
        "Sun, 32 Nov 1994 08:49:37 GMT",
        "Mon, 06 Nov 1994 25:00:00 GMT",
    ],
)
def test_unusable_values_are_none(value: str | None) -> None:
    assert parse_retry_after(value, now=EPOCH_1994) is None


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:50:07 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:50:07 GMT",  # obsolete RFC 850
        "Sun Nov  6 08:50:07 1994",  # obsolete asctime: no zone, but always UTC
        "Sun, 06 Nov 1994 08:50:07 -0000",
    ],
)
def test_http_date_in_the_future(value: str) -> None:
    assert parse_retry_after(value, now=EPOCH_1994) == pytest.approx(30.0)


def test_asctime_date_is_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert parse_retry_after("Sun Nov  6 08:50:07 1994", now=EPOCH_1994) == pytest.approx(30)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_http_date_in_the_past_is_zero() -> None:
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now=EPOCH_1994) == 0.0


def test_http_date_too_far_ahead_is_none() -> None:
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now=EPOCH_1994) is None


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.none(),
        st.text(max_size=80),
        st.floats().map(repr),
        st.integers().map(str),
        st.datetimes(timezones=st.just(UTC)).map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT")),
    ),
    st.floats(min_value=-1e10, max_value=1e10),
)
def test_retry_after_never_raises(value: str | None, now: float) -> None:
    result = parse_retry_after(value, now)
    assert result is None or (0.0 <= result <= MAX_RETRY_AFTER and math.isfinite(result))


# --- X-RateLimit-* ----------------------------------------------------------------------------


def test_rate_limit_headers_parsed() -> None:
    headers = {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "12.5"}
    assert parse_rate_limit_headers(headers) == RateLimitHeaders(60, 0, 12.5)


def test_rate_limit_headers_absent() -> None:
    assert parse_rate_limit_headers({}) is None
    assert parse_rate_limit_headers({"X-RateLimit-Reset": "3"}) is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-RateLimit-Remaining": "5"}, RateLimitHeaders(None, 5, None)),
        (
            {"X-RateLimit-Limit": "-1", "X-RateLimit-Remaining": "1.5"},
            RateLimitHeaders(None, None, None),
        ),
        (
            {"X-RateLimit-Limit": "abc", "X-RateLimit-Reset": "nan"},
            RateLimitHeaders(None, None, None),
        ),
        (
            {"X-RateLimit-Limit": "1" * 40, "X-RateLimit-Reset": "-3"},
            RateLimitHeaders(None, None, None),
        ),
        (
            {"X-RateLimit-Limit": "10", "X-RateLimit-Reset": "86401"},
            RateLimitHeaders(10, None, None),
        ),
        (
            {"X-RateLimit-Limit": "10.0", "X-RateLimit-Reset": "1" * 40},
            RateLimitHeaders(10, None, None),
        ),
    ],
)
def test_rate_limit_headers_lenient(headers: dict[str, str], expected: RateLimitHeaders) -> None:
    assert parse_rate_limit_headers(headers) == expected


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"]),
        st.text(max_size=40),
    )
)
def test_rate_limit_headers_never_raise(headers: dict[str, str]) -> None:
    parse_rate_limit_headers(headers)
