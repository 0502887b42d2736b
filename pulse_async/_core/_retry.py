"""Retry decisions, backoff and the retry budget: pure arithmetic, no sleeping.

What is retried (everything else fails at once):

- no usable answer: connection errors and timeouts (:class:`APIConnectionError`),
  except a body we could not read or that was too large — asking again would
  get the same answer;
- 408, 409 ``conflict`` (the same Idempotency-Key is still in flight), 429,
  500, 502, 503 and 504.

Never: other 4xx, 409 ``invalid_state``, validation errors.

Waits: exponential backoff with "equal jitter" (half fixed, half random) from
:data:`BACKOFF_BASE` up to :data:`BACKOFF_CAP`; a server's ``Retry-After`` is
honoured instead, plus up to 10 % upward jitter so that many clients told the
same time do not wake together. A ``Retry-After`` longer than the client's
cap is not waited for: the error is raised at once with ``.retry_after``.

The retry budget, in the spirit of the AWS SDKs' retry quota: a client holds
:data:`BUDGET_CAPACITY` tokens; a retry spends :data:`RETRY_COST`, a success
on the first attempt earns one back and a success after retries refunds what
the retry cost. When a retry cannot be paid for, the call fails fast with its
own error — so a server that fails everything sees at most
``1 + capacity / cost`` attempts per fresh client beyond one per call
(1,000 calls → at most 1,100 attempts), not a retry storm.
"""

from __future__ import annotations

import random

from pulse_async._core._http import header
from pulse_async._core._retry_after import parse_retry_after
from pulse_async.errors import (
    APIConnectionError,
    APIError,
    ConflictError,
    PulseError,
    RateLimitError,
)

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "BUDGET_CAPACITY",
    "DEFAULT_MAX_RETRY_AFTER",
    "RETRY_AFTER_JITTER",
    "RETRY_AFTER_SPREAD",
    "RETRY_COST",
    "RETRY_STATUSES",
    "RetryBudget",
    "backoff_delay",
    "is_retryable",
    "retry_delay",
    "server_retry_after",
]

BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
DEFAULT_MAX_RETRY_AFTER = 60.0
RETRY_AFTER_JITTER = 0.1
#: Seconds of jitter added to any server-requested wait, however short.
RETRY_AFTER_SPREAD = 0.05
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
BUDGET_CAPACITY = 500
RETRY_COST = 5


def is_retryable(error: PulseError) -> bool:
    """Whether asking again could give another answer."""
    if isinstance(error, APIConnectionError):
        return error.retryable
    if isinstance(error, ConflictError):
        return error.code == "conflict"
    if isinstance(error, APIError):
        return error.status in RETRY_STATUSES
    return False


def server_retry_after(error: PulseError, now: float) -> float | None:
    """The wait the server asked for (429, or 503 with ``Retry-After``), if any."""
    if isinstance(error, RateLimitError):
        return error.retry_after
    if isinstance(error, APIError) and error.status == 503:
        return parse_retry_after(header(error.headers, "Retry-After"), now)
    return None


def backoff_delay(attempt: int, rng: random.Random) -> float:
    """The wait before retry number ``attempt`` (1-based): equal-jitter exponential."""
    # The exponent is capped: 2.0 ** 1100 overflows, and the cap is reached long before.
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** min(attempt - 1, 32))
    return ceiling / 2 + rng.random() * ceiling / 2


def retry_delay(
    error: PulseError,
    attempt: int,
    rng: random.Random,
    *,
    now: float,
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
) -> float | None:
    """How long to wait before retry ``attempt``; ``None``: the server asks for too long."""
    asked = server_retry_after(error, now)
    if asked is None:
        return backoff_delay(attempt, rng)
    if asked > max_retry_after:
        return None
    return float(
        asked * (1 + rng.random() * RETRY_AFTER_JITTER) + rng.random() * RETRY_AFTER_SPREAD
    )


class RetryBudget:
    """Tokens shared by every call of one client; see the module docstring."""

    __slots__ = ("_tokens", "capacity", "cost")

    def __init__(self, capacity: int = BUDGET_CAPACITY, cost: int = RETRY_COST) -> None:
        self.capacity = capacity
        self.cost = cost
        self._tokens = capacity

    @property
    def tokens(self) -> int:
        """Tokens left."""
        return self._tokens

    def try_spend(self) -> bool:
        """Pay for one retry; ``False`` when the budget cannot."""
        if self._tokens < self.cost:
            return False
        self._tokens -= self.cost
        return True

    def on_success(self, retries: int) -> None:
        """A call succeeded after ``retries`` retries: earn one token, or refund the retries."""
        earned = 1 if retries == 0 else retries * self.cost
        self._tokens = min(self.capacity, self._tokens + earned)
