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


#: Measured before the hot-path changes of issue 16 (cProfile, 3,000 POSTs at concurrency
#: 64 on the reference server, asyncio loop, a busy machine; µs of own time per call,
#: cProfile-inflated): kept so the section below shows before and after.
BEFORE = {
    "raw aiohttp": {
        "aiohttp": 903,
        "asyncio event loop": 208,
        "json": 87,
        "pulse_async (ours)": 0,
        "uuid": 35,
        OTHER: 247,
    },
    "AsyncPulse": {
        "aiohttp": 684,
        "asyncio event loop": 202,
        "json": 64,
        "pulse_async (ours)": 174,
        "uuid": 34,
        OTHER: 286,
    },
}
BEFORE_NOTES = (
    "Before (same method, one run each on a busy machine): our own code was 174 µs of"
    " ~1,470 profiled µs per call (12 %). Of it, `_load_json` was 58 µs and the JSON"
    " encoding 32 µs, mostly json.loads/json.dumps building a new decoder/encoder on every"
    " call (they do whenever an option is passed); `Transport.send` 39 µs of own time;"
    " validation and the Idempotency-Key ~40 µs (uuid4 itself is the same cost as in the raw"
    " client); structuring the receipt 22 µs. aiohttp schedules two timers per SDK call"
    " (the call's total and the per-read timeout, which the raw client does not set) and"
    " their cancellations cost heap re-ordering in the loop (`heapify`, ~28 µs)."
)
