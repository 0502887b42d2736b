"""``Retry-After`` and ``X-RateLimit-*`` parsing: lenient, never raises.

``Retry-After`` is delta-seconds (``"7"``, decimals tolerated) or an HTTP-date
(RFC 9110 §10.2.3). Anything unusable — garbage, a negative number, NaN or
infinity, or a wait longer than :data:`MAX_RETRY_AFTER` (one day; no rate
limit of this API asks for more, so a bigger value is a broken header) — is
``None``: the caller then falls back to its own backoff. A date in the past
is ``0.0``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime

import attrs

__all__ = [
    "MAX_RETRY_AFTER",
    "RateLimitHeaders",
    "RateLimitInfo",
    "parse_rate_limit_headers",
    "parse_retry_after",
]

MAX_RETRY_AFTER = 86_400.0


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from ``now`` (a Unix time), or ``None`` if unusable."""
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > 64:
        return None
    if text[0] in "0123456789+-.":
        seconds = _number(text)
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            # asctime dates and "-0000" carry no zone; HTTP-dates are always UTC, while a
            # naive datetime's timestamp() would read them in the machine's local zone.
            when = when.replace(tzinfo=UTC)
        try:
            seconds = max(0.0, when.timestamp() - now)
        except (OverflowError, OSError, ValueError):
            return None
    if seconds is None or seconds < 0 or seconds > MAX_RETRY_AFTER:
        return None
    return seconds


@attrs.frozen
class RateLimitInfo:
    """What the server's ``X-RateLimit-*`` headers said; each part ``None`` when absent or unusable.

    ``limit`` and ``remaining`` are request counts; ``reset`` is the seconds
    until the quota is full again. Public as ``pulse_async.RateLimitInfo``:
    ``APIResponse.rate_limit`` and ``APIError.rate_limit`` are one.
    """

    limit: int | None
    remaining: int | None
    reset: float | None


#: The name the limiter code knew it by.
RateLimitHeaders = RateLimitInfo


def _int_header(value: str | None) -> int | None:
    if value is None:
        return None
    number = _number(value.strip()) if len(value) < 32 else None
    if number is None or number < 0 or number != int(number):
        return None
    return int(number)


def parse_rate_limit_headers(headers: Mapping[str, str]) -> RateLimitInfo | None:
    """Read ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (seconds until reset).

    ``None`` when neither the limit nor the remaining count was sent. The one
    parser of these headers: the limiter, raw responses and errors all use it.
    """
    limit = headers.get("X-RateLimit-Limit")
    remaining = headers.get("X-RateLimit-Remaining")
    if limit is None and remaining is None:
        return None
    reset_text = headers.get("X-RateLimit-Reset")
    reset = _number(reset_text.strip()) if reset_text and len(reset_text) < 32 else None
    if reset is not None and not 0 <= reset <= MAX_RETRY_AFTER:
        reset = None
    return RateLimitInfo(_int_header(limit), _int_header(remaining), reset)
