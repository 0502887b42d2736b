"""What the simulation tests share: hypothesis settings, clients wired to a SimServer,
and the invariants, each a function of what the server saw.

The settings are deterministic (``derandomize=True``, no example database), so CI
runs the same examples every time; the example counts keep the whole simulation
suite well under a minute of wall time.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, settings
from sim_server import WALL0, Attempt, Pause, SimServer

from pulse_async import AsyncPulse

__all__ = [
    "EPSILON",
    "SIM_SETTINGS",
    "check_keys",
    "check_no_request_within_a_pause",
    "check_window",
    "sim_client",
]

#: Virtual seconds of slack in time comparisons (float rounding, nothing more).
EPSILON = 1e-6

SIM_SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=20,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def sim_client(server: SimServer, *, seed: int = 0, **options: Any) -> AsyncPulse:
    """A real ``AsyncPulse`` whose transport is ``server``, on the running loop's clock."""
    loop = asyncio.get_running_loop()
    hooks: dict[str, Any] = {
        "_transport": server.transport(),
        "_clock": loop.time,
        "_sleep": asyncio.sleep,
        "_rng": random.Random(seed),
        "_wall": lambda: WALL0 + loop.time(),
    }
    return AsyncPulse("pw_test_simulation", base_url="http://127.0.0.1:9", **{**hooks, **options})


def check_no_request_within_a_pause(attempts: Sequence[Attempt], pauses: Sequence[Pause]) -> None:
    """No request left after the client had a 429 in hand and before the pause it asked for.

    A request that left at the very instant the 429 arrived may have been sent before the
    client read it; the check is strict there.
    """
    for pause in pauses:
        for attempt in attempts:
            assert not (pause.start < attempt.sent_at < pause.end - EPSILON), (
                f"a request left at {attempt.sent_at:.6f}, inside the pause "
                f"[{pause.start:.6f}, {pause.end:.6f}] the server asked for"
            )


def check_window(times: Sequence[float], per_minute: float, burst: int) -> None:
    """At most ``rate × t + burst`` requests in any window of ``t`` seconds.

    For sorted times ``t_0 ≤ t_1 ≤ …``, the window from ``t_i`` to ``t_j`` holds
    ``j - i + 1`` requests, so the bound is ``r·t_i - i ≤ r·t_j - j + burst - 1`` for
    every ``i < j``: one pass with the running maximum of ``r·t_i - i`` checks all pairs.
    """
    rate = per_minute / 60.0
    highest = -float("inf")
    for j, t in enumerate(sorted(times)):
        assert highest <= rate * t - j + burst - 1 + EPSILON, (
            f"request {j} at {t:.6f}s breaks {per_minute}/min with burst {burst}"
        )
        highest = max(highest, rate * t - j)


def check_keys(attempts: Sequence[Attempt]) -> None:
    """Every attempt of a call has the same Idempotency-Key; different calls, different keys."""
    by_tag: dict[str, set[str | None]] = defaultdict(set)
    for attempt in attempts:
        if attempt.method == "POST":
            by_tag[attempt.tag].add(attempt.key)
    owners: dict[str | None, str] = {}
    for tag, keys in by_tag.items():
        assert len(keys) == 1, f"call {tag} sent {len(keys)} different keys"
        (key,) = keys
        assert key is not None, f"call {tag} sent a POST without a key"
        assert owners.setdefault(key, tag) == tag, f"calls {owners[key]} and {tag} share a key"
