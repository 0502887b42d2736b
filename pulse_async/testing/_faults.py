"""Fault injection rules: which request gets which fault (pure, no I/O).

A rule names a route pattern, a fault kind, a probability and an optional
count. For each request the server asks :meth:`Faults.pick` once; the first
rule (in the order they were added) that matches the route, has firings left
and wins its dice roll fires, and at most one fault applies to a request.
Each rule rolls its own :class:`random.Random` seeded from ``(seed, rule
number)``, so a run is reproducible for a given seed and request order.

Route patterns: ``"*"`` (every API route), ``"POST /v2/messages"``,
``"GET /v2/users/{id}"`` (a ``{name}`` matches one path segment),
``"* /v1/*"`` (``*`` matches anything, ``/`` included), or a path alone
(any method). The ``/_admin`` routes never get faults.

When each kind strikes (the server applies them at these points):

=====================  ====================================================
kind                   effect
=====================  ====================================================
``server_error``       500 with the JSON error envelope, before processing
``bad_gateway``        502 with an HTML body, before processing
``service_unavailable``503 with an HTML body, before processing
``http_error``         ``status`` (default 504) with an HTML body, before
``rate_limited``       429 ``rate_limited`` with ``Retry-After: retry_after``
``reset_before``       TCP reset before processing: nothing happened
``latency``            sleep ``delay`` seconds after auth and the idempotency
                       check, before processing (the request is "in flight")
``reset_after_commit`` processed and committed (ledger, idempotency record),
                       then the connection is reset instead of answering
``truncated``          processed, then the answer's headers promise the whole
                       body but only half is sent before the connection closes
``drip``               processed, then the body is sent ``chunk_size`` bytes
                       at a time, ``chunk_delay`` seconds apart
=====================  ====================================================
"""

from __future__ import annotations

import random
import re
import threading
from typing import Any, Final

import attrs

__all__ = ["FAULT_KINDS", "POST_KINDS", "PRE_KINDS", "FaultRule", "Faults", "parse_fault_spec"]

#: Faults answered before the request is processed (nothing is committed).
PRE_KINDS: Final = frozenset(
    {
        "server_error",
        "bad_gateway",
        "service_unavailable",
        "http_error",
        "rate_limited",
        "reset_before",
    }
)
#: Faults applied to the answer after the request was processed and committed.
POST_KINDS: Final = frozenset({"reset_after_commit", "truncated", "drip"})
#: Every kind of fault.
FAULT_KINDS: Final = PRE_KINDS | POST_KINDS | {"latency"}

_PARAMS: Final[dict[str, type]] = {
    "delay": float,
    "retry_after": int,
    "status": int,
    "chunk_size": int,
    "chunk_delay": float,
}


def _compile_route(route: str) -> tuple[str | None, re.Pattern[str] | None]:
    """``"POST /v2/users/{id}"`` → (method or None for any, path regex or None for any)."""
    route = route.strip()
    if route in ("", "*"):
        return None, None
    method: str | None
    if " " in route:
        method_part, path = route.split(None, 1)
        method = None if method_part == "*" else method_part.upper()
    else:
        method, path = None, route
    path = path.strip()
    if path == "*":
        return method, None
    pattern = re.escape(path).replace(r"\*", ".*")
    pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", pattern)
    return method, re.compile(pattern + r"\Z")


@attrs.define(eq=False)
class FaultRule:
    """One fault rule; ``remaining`` counts down when ``count`` was given.

    ``fired`` counts how often it struck. Parameters not used by ``kind`` are
    ignored.
    """

    kind: str
    route: str = "*"
    probability: float = 1.0
    remaining: int | None = None
    delay: float = 1.0
    retry_after: int = 1
    status: int = 504
    chunk_size: int = 16
    chunk_delay: float = 0.05
    fired: int = 0
    _method: str | None = attrs.field(default=None, repr=False)
    _path: re.Pattern[str] | None = attrs.field(default=None, repr=False)
    _rng: random.Random = attrs.field(factory=random.Random, repr=False)

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule's route covers ``method path``."""
        if self._method is not None and self._method != method:
            return False
        return self._path is None or self._path.match(path) is not None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able description (for the admin endpoint)."""
        return {
            "kind": self.kind,
            "route": self.route,
            "probability": self.probability,
            "remaining": self.remaining,
            "delay": self.delay,
            "retry_after": self.retry_after,
            "status": self.status,
            "chunk_size": self.chunk_size,
            "chunk_delay": self.chunk_delay,
            "fired": self.fired,
        }


class Faults:
    """The fault rules of one server. Thread-safe: a test thread may add rules.

    ::

        server.faults.add("reset_after_commit", route="POST /v2/messages", probability=0.2)
        server.faults.add("bad_gateway", count=2)          # the next 2 requests, any route
        server.faults.add("latency", route="GET /v2/users", delay=2.0)
        server.faults.clear()
    """

    def __init__(self, seed: int | str | None = None) -> None:
        self._seed = seed if seed is not None else random.randrange(2**32)
        self._rules: list[FaultRule] = []
        self._added = 0
        self._lock = threading.Lock()

    @property
    def seed(self) -> int | str:
        """The seed every rule's dice derive from."""
        return self._seed

    @property
    def rules(self) -> list[FaultRule]:
        """A snapshot of the live rules (exhausted ones are dropped)."""
        with self._lock:
            return list(self._rules)

    def __bool__(self) -> bool:
        return bool(self._rules)

    def add(
        self,
        kind: str,
        *,
        route: str = "*",
        probability: float = 1.0,
        count: int | None = None,
        delay: float = 1.0,
        retry_after: int = 1,
        status: int = 504,
        chunk_size: int = 16,
        chunk_delay: float = 0.05,
    ) -> FaultRule:
        """Add a rule; see the module docstring for kinds and their parameters.

        ``count=N`` limits the rule to N firings (then it is removed);
        ``probability`` is the chance it fires on each matching request.
        """
        if kind not in FAULT_KINDS:
            known = ", ".join(sorted(FAULT_KINDS))
            raise ValueError(f"unknown fault kind {kind!r}; one of {known}")
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be between 0 and 1, got {probability!r}")
        if count is not None and count < 1:
            raise ValueError(f"count must be >= 1, got {count!r}")
        if delay < 0 or chunk_delay < 0 or chunk_size < 1 or retry_after < 0:
            raise ValueError("delay, chunk_delay and retry_after must be >= 0, chunk_size >= 1")
        if not 100 <= status <= 599:
            raise ValueError(f"status must be an HTTP status, got {status!r}")
        method, path = _compile_route(route)
        with self._lock:
            rule = FaultRule(
                kind=kind,
                route=route,
                probability=float(probability),
                remaining=count,
                delay=float(delay),
                retry_after=int(retry_after),
                status=int(status),
                chunk_size=int(chunk_size),
                chunk_delay=float(chunk_delay),
                method=method,
                path=path,
                rng=random.Random(f"{self._seed}:{self._added}"),
            )
            self._added += 1
            self._rules.append(rule)
        return rule

    def remove(self, rule: FaultRule) -> None:
        """Remove one rule (no error if it is already gone)."""
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def pick(self, method: str, path: str) -> FaultRule | None:
        """The rule that strikes this request, if any (counts it as fired)."""
        if not self._rules:
            return None
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path):
                    continue
                if rule.probability < 1.0 and rule._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                return rule
        return None


def parse_fault_spec(spec: str) -> dict[str, Any]:
    """Parse a ``--fault`` argument into keyword arguments for :meth:`Faults.add`.

    Format: ``[ROUTE=]KIND[:name=value,...]``, for example
    ``"POST /v2/messages=reset_after_commit:probability=0.2"``,
    ``"bad_gateway:count=3"`` or ``"GET /v2/users=latency:delay=2"``.
    """
    route = "*"
    rest = spec.strip()
    if "=" in rest.split(":", 1)[0]:
        route, rest = rest.split("=", 1)
    kind, _, params = rest.partition(":")
    kwargs: dict[str, Any] = {"kind": kind.strip(), "route": route.strip() or "*"}
    for item in filter(None, (p.strip() for p in params.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"fault parameter {item!r} must be name=value")
        if name == "probability":
            kwargs[name] = float(value)
        elif name == "count":
            kwargs[name] = int(value)
        elif name in _PARAMS:
            kwargs[name] = _PARAMS[name](value)
        else:
            raise ValueError(f"unknown fault parameter {name!r}")
    if kwargs["kind"] not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kwargs['kind']!r}")
    return kwargs
