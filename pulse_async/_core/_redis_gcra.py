"""The GCRA bucket as Lua that Redis runs atomically, and the helpers around it.

One Redis key per limiter ``name`` holds the bucket's state, its theoretical
arrival time (TAT), in integer microseconds on **Redis's** clock (``TIME``
inside the script), so every process on every host books against one clock
and one number. Each script runs atomically on the server: two processes can
never book the same slot, and callers are served in the order their scripts
reach Redis (first come, first served).

The three scripts are :class:`~pulse_async._core._ratelimit.GCRABucket`'s
``reserve_us``, ``pause_us`` and ``release_us``, line for line: same state,
same arithmetic, same refusal rule (a slot more than ``max_wait`` away books
nothing), same pause. ``tests/redis/test_gcra_contract.py`` runs one suite
against both. Each script is a clock prelude (where ``now`` comes from) and a
body: production reads Redis's ``TIME``; the contract tests give ``now`` as
the last argument (:func:`on_given_clock`), so the very same body runs in
virtual time.

Everything here is pure (no I/O): the script texts, the key naming, the
conversions to the integers the scripts take, and redacting a Redis URL for
logs and reprs.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from pulse_async._core._ratelimit import MAX_WAIT_MICROS, interval_micros, micros

__all__ = [
    "KEY_PREFIX",
    "MAX_WAIT_MICROS",
    "PAUSE_SCRIPT",
    "RELEASE_SCRIPT",
    "RESERVE_SCRIPT",
    "bucket_key",
    "interval_micros",
    "micros",
    "on_given_clock",
    "redact_url",
]

#: Where the buckets live: ``pulse:ratelimit:<name>``.
KEY_PREFIX = "pulse:ratelimit:"

# ``linger``: how long (ms) a key outlives its TAT. A key that has expired and a TAT in the
# past mean the same; on a given (virtual) clock, keys must not expire on the real one.
_REDIS_NOW = """\
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local linger = 1000
"""
_GIVEN_NOW = """\
local now = tonumber(ARGV[#ARGV])
local linger = 3600000
"""

# Every write sets the key to expire a second after its TAT has passed, and a TAT that is
# not in the future is not stored at all: an idle bucket needs no state (a missing key and
# a TAT in the past mean the same). ``GCRABucket._store`` does the same.
_STORE = """\
local function store(tat)
  if tat > now then
    redis.call('SET', KEYS[1], string.format('%d', tat),
               'PX', math.floor((tat - now) / 1000) + linger)
  else
    redis.call('DEL', KEYS[1])
  end
end
local tat = tonumber(redis.call('GET', KEYS[1]))
"""

#: ``GCRABucket.reserve_us``. KEYS[1]: the bucket. ARGV: interval (µs), burst, max_wait (µs).
#: Returns ``{booked, wait_µs, tat}``: ``booked`` is 1 when the slot is the caller's (wait
#: ``wait_µs``, then go; ``tat`` is what :data:`RELEASE_SCRIPT` needs to give it back), 0
#: when it is more than ``max_wait`` away (nothing booked).
_RESERVE = """\
local interval = tonumber(ARGV[1])
local tolerance = (tonumber(ARGV[2]) - 1) * interval
local max_wait = tonumber(ARGV[3])
if tat == nil or tat < now then
  tat = now
end
local wait = tat - now - tolerance
if wait < 0 then
  wait = 0
end
if wait > max_wait then
  return {0, wait, 0}
end
store(tat + interval)
return {1, wait, tat + interval}
"""

#: ``GCRABucket.pause_us``: book nothing before ``seconds`` from now (a server's Retry-After),
#: for every process. ARGV: seconds (µs), interval (µs), burst. An earlier pause never pulls
#: slots forward. Returns ``{1, 0}`` if the bucket was pushed back, ``{0, 0}`` if it already was.
_PAUSE = """\
local floor = now + tonumber(ARGV[1]) + (tonumber(ARGV[3]) - 1) * tonumber(ARGV[2])
if tat == nil or tat < floor then
  store(floor)
  return {1, 0}
end
return {0, 0}
"""

#: ``GCRABucket.release_us``: give back a booked slot its caller did not use, if nobody has
#: booked after it (and it is still ahead). ARGV: interval (µs), the ``tat`` its reserve
#: returned. Returns ``{1, 0}`` if it was given back, ``{0, 0}`` if not.
_RELEASE = """\
local booked = tonumber(ARGV[2])
if tat ~= nil and tat == booked and booked > now then
  store(tat - tonumber(ARGV[1]))
  return {1, 0}
end
return {0, 0}
"""

RESERVE_SCRIPT = _REDIS_NOW + _STORE + _RESERVE
PAUSE_SCRIPT = _REDIS_NOW + _STORE + _PAUSE
RELEASE_SCRIPT = _REDIS_NOW + _STORE + _RELEASE


def on_given_clock(script: str) -> str:
    """``script`` with ``now`` read from its last argument instead of Redis's ``TIME``.

    For the contract tests, which drive the bucket in virtual time.
    """
    if not script.startswith(_REDIS_NOW):
        raise ValueError("not one of the bucket's scripts")
    return _GIVEN_NOW + script[len(_REDIS_NOW) :]


def bucket_key(name: str, prefix: str = KEY_PREFIX) -> str:
    """The Redis key of the bucket called ``name``."""
    return prefix + name


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
