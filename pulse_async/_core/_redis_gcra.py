"""The shared GCRA bucket's arithmetic, as Lua that Redis runs atomically, and its helpers.

One Redis key per limiter ``name`` holds the bucket's theoretical arrival
time (TAT), in integer microseconds on **Redis's** clock (``TIME`` inside the
script), so every process on every host books against one clock and one
number. Each script runs atomically on the server: two processes can never
book the same slot, and callers are served in the order their scripts reach
Redis (first come, first served).

The arithmetic is :meth:`pulse_async._core._ratelimit.GCRABucket.reserve`
and ``pause``, with one refinement: a caller whose slot would be later than
it can wait (``max_wait``) books nothing, so a caller that gives up never
wastes a slot the others could have used.

Everything here is pure (no I/O): the script texts, the key naming, the
conversions to the integers the scripts take, and redacting a Redis URL for
logs and reprs.
"""

from __future__ import annotations

import math
from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = [
    "KEY_PREFIX",
    "MAX_WAIT_MICROS",
    "PAUSE_SCRIPT",
    "RESERVE_SCRIPT",
    "bucket_key",
    "interval_micros",
    "micros",
    "redact_url",
]

#: Where the buckets live: ``pulse:ratelimit:<name>``.
KEY_PREFIX = "pulse:ratelimit:"

#: A bound on ``max_wait`` (about 11.6 days): keeps every number an exact integer in a double.
MAX_WAIT_MICROS = 10**12

#: Book the next slot. KEYS[1]: the bucket. ARGV: interval (µs), burst, max_wait (µs).
#: Returns ``{booked, wait_µs}``: ``booked`` is 1 when the slot is the caller's (wait for
#: ``wait_µs``, then go), 0 when it is more than ``max_wait`` away (nothing booked).
#: The key expires a second after its TAT has passed: an idle bucket needs no state.
RESERVE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then
  tat = now
end
local wait = tat - now - (burst - 1) * interval
if wait < 0 then
  wait = 0
end
if wait > max_wait then
  return {0, wait}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new_tat),
           'PX', math.floor((new_tat - now) / 1000) + 1000)
return {1, wait}
"""

#: Book nothing before ``seconds`` from now (a server's Retry-After), for every process.
#: KEYS[1]: the bucket. ARGV: seconds (µs), interval (µs), burst. An earlier pause never
#: pulls slots forward. Returns 1 if the bucket was pushed back, 0 if it already was.
PAUSE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local floor = now + tonumber(ARGV[1]) + (tonumber(ARGV[3]) - 1) * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < floor then
  redis.call('SET', KEYS[1], string.format('%d', floor),
             'PX', math.floor((floor - now) / 1000) + 1000)
  return 1
end
return 0
"""


def bucket_key(name: str, prefix: str = KEY_PREFIX) -> str:
    """The Redis key of the bucket called ``name``."""
    return prefix + name


def micros(seconds: float) -> int:
    """Seconds as whole microseconds, clamped to ``[0, MAX_WAIT_MICROS]`` (``inf`` included)."""
    if not seconds > 0:  # also NaN
        return 0
    if math.isinf(seconds):
        return MAX_WAIT_MICROS
    return min(MAX_WAIT_MICROS, round(seconds * 1_000_000))


def interval_micros(interval: float) -> int:
    """A slot's length (``GCRABucket.interval``, seconds) in whole microseconds, at least 1."""
    return max(1, round(interval * 1_000_000))


def redact_url(url: str) -> str:
    """``url`` with its password (userinfo or ``?password=``) replaced by ``***``.

    For reprs and log lines: the Redis password never leaves the process::

        >>> redact_url("redis://app:s3cret@cache:6379/0")
        'redis://app:***@cache:6379/0'
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user, sep, _password = userinfo.partition(":")
            netloc = f"{user}:***@{hostport}" if sep else f"{userinfo}@{hostport}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode(
                [(k, "***" if k.lower() == "password" else v) for k, v in pairs], safe="*"
            )
    except ValueError:
        return "<unparsable Redis URL>"
    # Assembled by hand: urlunsplit would turn ``unix:///path`` into ``unix:/path``.
    text = f"{parts.scheme}://{netloc}{parts.path}"
    if query:
        text += f"?{query}"
    if parts.fragment:
        text += f"#{parts.fragment}"
    return text
