"""Where the client's CPU per call goes: cProfile over one fan-out run, grouped by library.

The suite runs raw aiohttp, the lean prototype and ``AsyncPulse`` once each under
cProfile (same server, same load) and prints each one's own time per call,
grouped by where the code lives. cProfile slows everything down alike, so read
the groups against each other, not as absolute costs.
"""

from __future__ import annotations

import pstats
from collections import defaultdict

#: (group, substring of the code's file name), first match wins.
GROUPS = (
    ("pulse_async (ours)", "/pulse_async/"),
    ("benchmark driver", "/benchmarks/"),
    ("aiohttp", "/aiohttp/"),
    ("yarl, multidict, propcache", "/yarl/"),
    ("yarl, multidict, propcache", "/multidict/"),
    ("yarl, multidict, propcache", "/propcache/"),
    ("attrs, cattrs", "/attr/"),
    ("attrs, cattrs", "/cattrs/"),
    ("json", "/json/"),
    ("json", "_json"),
    ("json", "orjson"),
    ("uuid", "/uuid.py"),
    ("asyncio event loop", "/asyncio/"),
    ("asyncio event loop", "_asyncio"),
    ("asyncio event loop", "uvloop"),
    ("asyncio event loop", "select.epoll"),
    ("asyncio event loop", "/selectors.py"),
)
OTHER = "other (builtins, sockets, stdlib)"


def _group(filename: str, name: str) -> str:
    where = f"{filename}:{name}"
    for group, needle in GROUPS:
        if needle in where:
            return group
    return OTHER


def per_call(path: str, calls: int) -> dict[str, float]:
    """Own time (µs) per call of the profiled run, by group."""
    stats = pstats.Stats(path)
    totals: dict[str, float] = defaultdict(float)
    raw = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        totals[_group(filename, name)] += tottime
    return {group: seconds * 1e6 / calls for group, seconds in totals.items()}


def top_functions(path: str, calls: int, count: int = 12) -> list[tuple[str, float]]:
    """The functions with the most own time (µs per call)."""
    stats = pstats.Stats(path)
    raw = stats.stats  # type: ignore[attr-defined]
    ranked = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)[:count]
    out = []
    for (filename, line, name), (_cc, _nc, tottime, _ct, _callers) in ranked:
        short = "/".join(filename.split("/")[-2:])
        out.append((f"{short}:{line} {name}", tottime * 1e6 / calls))
    return out


#: AsyncPulse at the start of issue 16's second pass (commit ebc102a: aiohttp's own total and
#: sock_read timeouts, the signed headers passed per request, ``str(uuid.uuid4())``, two
#: coroutine layers for the call path), profiled the same way, alternating with the changed
#: code on the same server: µs of own time per call, cProfile-inflated (medians of 3).
BEFORE = {
    "aiohttp": 160,
    "asyncio event loop": 60,
    OTHER: 59,
    "pulse_async (ours)": 50,
    "json": 11,
    "uuid": 7,
    "benchmark driver": 3,
    "yarl, multidict, propcache": 1,
}
BEFORE_NOTES = (
    'The "AsyncPulse (before)" column is the same profile of the code at the start of'
    " this pass (commit ebc102a; measured 2026-12-06, alternating with the changed code;"
    " unprofiled CPU per call,"
    " median of 5 alternating runs on a shared machine: 135 µs before, 122 µs after,"
    " −10 %). Where it went: the asyncio event loop from 60 to 33 µs and aiohttp from 160"
    " to 147: aiohttp's `ClientTimeout(total=..., sock_read=...)` makes and cancels three"
    " loop timers per request (the total; `sock_read` when the request is sent and again"
    " on every chunk), each a `TimerHandle` pushed on the loop's heap, cancelled and later"
    " popped. The SDK now holds every attempt's total on one watchdog timer per client"
    " and moves a per-connection read due time instead of remaking its timer"
    " (`pulse_async/_watchdog.py`, `_ReadTimer` in `_transport.py`: the same meanings,"
    " tested on both loops). The signed headers are the session's (merged by aiohttp in C,"
    " not looped over in Python twice per request); the Idempotency-Key is written from"
    " `os.urandom` directly (the uuid row moves into ours); the call path is one coroutine"
    " layer shorter. Our own code grew from 50 to 54 µs with the watchdog and the read"
    " timer's Python, which replace far more in the loop and aiohttp. Earlier (first pass):"
    " JSON went from 20 to 11 µs (encoder and decoder built once) and models are built by"
    " setting slots directly."
)
