"""``RedisStore``: one memory of handled ``webhook-id`` values for every process and host.

Three short Lua scripts keep each step atomic: *claim* sets
``<prefix><webhook-id>`` to a pending token with a lease (only one caller
wins); *complete* turns the caller's own pending token into ``done`` for
``ttl``; *release* deletes the caller's own pending token. A process that dies
mid-handler leaves a pending token that expires after ``lease`` seconds, and
the sender's next retry is handled.

Connections follow :class:`~pulse_async.RedisRateLimiter` (its URL parsing,
password redaction, timeouts and fork rules are imported from there). During an
outage the two differ on purpose: a rate limiter may fall back to a local
limit, but a local memory of handled ids would break at-most-once across
processes. So an unreachable Redis makes :func:`~pulse_async.webhooks.handle`
answer ``503``: nothing runs, and the sender retries on its schedule (§5: for
about 28 hours). It is logged once at WARNING, and at INFO when Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from typing import TYPE_CHECKING, Any, Final

from pulse_async._core._redis_gcra import redact_url
from pulse_async._core._validation import check_seconds
from pulse_async._redis_limiter import (
    _INHERITED,
    DEFAULT_SOCKET_TIMEOUT,
    _connect,
    _describe,
    _import_redis,
    _password_of,
)
from pulse_async.errors import ClientMisuseError, ValidationError
from pulse_async.webhooks._store import DEFAULT_TTL, Claim, StoreUnavailableError

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

__all__ = ["DEFAULT_LEASE", "KEY_PREFIX", "RedisStore"]

log = logging.getLogger("pulse_async.webhooks")

KEY_PREFIX: Final = "pulse:webhook:"
#: Seconds a claim lasts if its process dies before completing or releasing it. Longer than
#: your slowest handler: a claim that expires while its handler runs lets a retry in.
DEFAULT_LEASE: Final = 120.0

_CLAIM = """
local state = redis.call('GET', KEYS[1])
if not state then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 0
end
if state == 'done' then return 1 end
return 2
"""
_COMPLETE = """
local state = redis.call('GET', KEYS[1])
if (not state) or state == ARGV[1] then
  redis.call('SET', KEYS[1], 'done', 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""
_STATES: Final = {0: "claimed", 1: "handled", 2: "in_progress"}
#: Redis calls one process has in flight at once (the rest queue, in order), as the limiter.
_MAX_IN_FLIGHT: Final = 16


class RedisStore:
    """Handled ``webhook-id`` values kept in Redis, shared by every process that names it.

    Example::

        from pulse_async.webhooks import RedisStore, Webhook, aiohttp_handler

        store = RedisStore("redis://:password@redis.internal:6379/0")
        app.router.add_post("/webhooks/pulse", aiohttp_handler(webhook, on_event, store=store))
        # on shutdown: await store.aclose()

    - ``ttl``: seconds a handled id is remembered (default 30 h, past the §5 retry horizon).
    - ``lease``: seconds a claim survives a process that died while handling it.
    - ``key_prefix``: ids live at ``<key_prefix><webhook-id>``.
    - ``socket_timeout``: connect and read timeout of each Redis call.

    Needs ``pip install 'pulse-messaging[redis]'``. Usable from any number of
    processes (forked ones open their own connections); one event loop at a
    time per store object. The password never appears in a repr or a log line.
    """

    def __init__(
        self,
        redis_url: str,
        *,
        ttl: float = DEFAULT_TTL,
        lease: float = DEFAULT_LEASE,
        key_prefix: str = KEY_PREFIX,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
    ) -> None:
        try:
            self._redis_module = _import_redis()
        except ImportError:
            raise ImportError(
                "RedisStore needs redis-py: pip install 'pulse-messaging[redis]'"
            ) from None
        for field, value in (("ttl", ttl), ("lease", lease), ("socket_timeout", socket_timeout)):
            check_seconds(value, field)
        if not isinstance(key_prefix, str):
            raise ValidationError("must be a string", field="key_prefix")
        try:
            self._redis_module.asyncio.connection.parse_url(redis_url)
        except (ValueError, TypeError) as exc:
            raise ValidationError(
                f"not a Redis URL ({type(exc).__name__}); use redis://, rediss:// or unix://",
                field="redis_url",
            ) from None
        self._url = redis_url
        self._safe_url = redact_url(redis_url)
        self._password = _password_of(redis_url)
        self._ttl_ms = int(ttl * 1000)
        self._lease_ms = int(lease * 1000)
        self._prefix = key_prefix
        self._socket_timeout = socket_timeout
        self._errors: tuple[type[BaseException], ...] = (
            self._redis_module.exceptions.RedisError,
            OSError,
            TimeoutError,
        )
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._redis: Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}
        self._gate: asyncio.Semaphore | None = None
        self._down = False

    def __repr__(self) -> str:
        return f"RedisStore({self._safe_url!r}, key_prefix={self._prefix!r})"

    def key(self, webhook_id: str) -> str:
        """The Redis key that remembers ``webhook_id``."""
        return self._prefix + webhook_id

    async def claim(self, webhook_id: str) -> Claim:
        """Claim ``webhook_id`` for handling, atomically across processes."""
        token = f"{os.getpid()}:{secrets.token_hex(8)}"
        reply = await self._run(_CLAIM, webhook_id, [token, self._lease_ms])
        state = _STATES[reply]
        return Claim("claimed", token) if state == "claimed" else Claim(state)  # type: ignore[arg-type]

    async def complete(self, webhook_id: str, token: str) -> None:
        """Mark ``webhook_id`` handled for ``ttl`` (unless another claim took it over)."""
        if not await self._run(_COMPLETE, webhook_id, [token, self._ttl_ms]):
            log.warning(
                "webhook %s: handled after its claim's lease expired and another delivery "
                "claimed it; raise RedisStore(lease=...) above your slowest handler",
                webhook_id,
            )

    async def release(self, webhook_id: str, token: str) -> None:
        """Drop this caller's claim: the sender's retry will be handled."""
        await self._run(_RELEASE, webhook_id, [token])

    async def aclose(self) -> None:
        """Close this process's connections. Safe to call twice; the store stays usable."""
        client = self._redis
        if client is None or self._pid != os.getpid():
            return
        if self._loop is not None and self._loop.is_closed():
            # Its connections belong to a loop that is gone: they can no longer be closed.
            _INHERITED.append(client)
            self._redis, self._scripts, self._loop = None, {}, None
            return
        self._redis = None
        self._scripts = {}
        self._loop = None
        await client.aclose(close_connection_pool=True)

    async def _run(self, source: str, webhook_id: str, args: list[Any]) -> int:
        script = self._script(source)
        gate = self._gate
        assert gate is not None
        try:
            async with gate:
                # Bounded even if a socket timeout is not (DNS, a TLS handshake): never hang.
                async with asyncio.timeout(self._socket_timeout * 4):
                    reply = await script(keys=[self.key(webhook_id)], args=args)
        except self._errors as exc:
            if not self._down:
                self._down = True
                log.warning(
                    "%r: Redis is unreachable (%s); webhook deliveries are answered 503 "
                    "until it is back (the sender retries them)",
                    self,
                    self._describe(exc),
                )
            raise StoreUnavailableError(f"{self!r}: Redis is unreachable") from None
        if self._down:
            self._down = False
            log.info("%r: Redis is back", self)
        return int(reply)

    def _script(self, source: str) -> AsyncScript:
        if self._pid != os.getpid():
            # A forked child: the parent's connections are not ours to use or to close.
            if self._redis is not None:
                _INHERITED.append(self._redis)
            self._reset()
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None and not self._loop.is_closed():
                # A misuse, as for RedisRateLimiter: in the error tree, never retried.
                raise ClientMisuseError(
                    "this RedisStore is in use on another event loop; "
                    "create one store per event loop"
                )
            if self._redis is not None:
                _INHERITED.append(self._redis)
                self._redis = None
                self._scripts = {}
            self._loop = loop
            self._gate = asyncio.Semaphore(_MAX_IN_FLIGHT)
        script = self._scripts.get(source)
        if script is None:
            if self._redis is None:
                self._redis = _connect(self._redis_module, self._url, self._socket_timeout)
            script = self._scripts[source] = self._redis.register_script(source)
        return script

    def _describe(self, exc: BaseException) -> str:
        return _describe(exc, self._password)
