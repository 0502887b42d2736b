"""The in-memory workspace behind the local server: pure logic, no aiohttp, no asyncio.

Each endpoint is a method of :class:`State` that takes the caller and the
decoded request, and returns ``(status, json_body)`` or raises
:class:`ApiFailure` (or the client's own
:class:`~pulse_async.errors.ValidationError`, which the server renders as
``400 validation_failed``). Validation reuses :mod:`pulse_async._core._validation`,
so the SDK and this server never disagree on a rule.

Readings of SPEC.md where it is silent (all deliberate, all tested):

- **Workspace.** One workspace serves both APIs. It starts with three active
  users, ``admin@example.com``, ``editor@example.com`` and
  ``viewer@example.com``, one key each; every key belongs to a user and
  carries that user's *current* role. Deleting a user revokes its keys.
- **Request bodies** must be JSON objects; unknown fields and top-level
  ``null`` values are refused with ``400 validation_failed`` naming the field
  (SPEC §1: an omitted optional field is left out, never sent as ``null``),
  so a client bug shows up here instead of in production.
- **Last admin.** "Admin" counts every user with role ``admin``, whatever
  its status.
- **Invitations.** A ``pending`` user whose invitation is older than 72 hours
  on the server clock reads as ``inactive``.
- **Users list.** ``q`` matches when every whitespace-separated term is a
  case-insensitive substring of the name or the email. The cursor encodes the
  ``(created_at, sequence)`` of the last user returned; the next page starts
  strictly after it, so creations and deletions between pages neither skip
  nor repeat anyone.
- **Threads.** A message without ``thread_id`` starts a thread (subject = the
  message's subject); with one, it joins it and its sender and recipients
  become participants. Recipients given by email that match a workspace user
  are that user. A message counts as unread for every participant but its
  sender from the moment it is accepted; :meth:`State.mark_thread_read` clears
  a user's count. ``unread=true`` lists threads with unread messages,
  ``unread=false`` those without. Threads sort by last activity; their cursor
  is stable only while those threads see no new messages (the SPEC promises
  stability for users only).
- **Lifecycle.** A message's status is a function of the server clock:
  ``queued`` until ``send_at`` (or creation), then one ``step_delay`` each in
  ``queued`` and ``sending``, then ``failed``, or ``sent`` for one more step and
  then ``delivered`` or ``bounced``. The outcome is fixed when the message is
  accepted: :meth:`State.set_outcome` addresses first, then any address
  containing ``+fail`` fails and ``+bounce`` bounces; for several recipients
  the worst outcome wins (failed > bounced > delivered).
- **Idempotency** records every answer to a POST that got past
  authentication and rate limiting (2xx and 4xx alike), keyed by (API key,
  Idempotency-Key), compared on method, path and the decoded JSON body.
- **Templates** render ``{{ name }}`` placeholders from ``template_data``; a
  missing variable renders as an empty string. An explicit ``subject`` /
  ``text`` / ``html`` wins over the template's.
- **Sending domains.** An email ``from`` must be on a verified domain (exact
  match, case-insensitive).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import math
import re
import secrets
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, get_args, overload

import attrs

from pulse_async._core._converter import format_datetime
from pulse_async._core._ratelimit import PLANS
from pulse_async._core._validation import (
    check_idempotency_key,
    validate_create_message,
    validate_create_user,
    validate_list_threads,
    validate_list_users,
    validate_send_message,
    validate_update_user,
)
from pulse_async.errors import ValidationError
from pulse_async.models._enums import USER_STATUSES, RoleName
from pulse_async.testing._clock import Clock

__all__ = [
    "PLANS",
    "ApiFailure",
    "Call",
    "IdempotencyStore",
    "KeyRecord",
    "Ledger",
    "LedgerEntry",
    "RateBucket",
    "RateLimit",
    "State",
    "Stats",
    "resolve_rate_limit",
]

#: ``None`` is unlimited; a plan name or a positive number of requests per minute.
RateLimit = str | int | None

IDEMPOTENCY_WINDOW: Final = 24 * 3600.0
INVITATION_TTL: Final = 72 * 3600.0
ROLES: Final = get_args(RoleName)  # admin, editor, viewer: the order keys are made in
OUTCOMES: Final = ("delivered", "bounced", "failed")
_OUTCOME_RANK: Final = {"delivered": 0, "bounced": 1, "failed": 2}
_PLACEHOLDER: Final = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class ApiFailure(Exception):
    """An error answer: status, envelope ``code``, ``message``, optional ``field`` and headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})

    def envelope(self, request_id: str) -> dict[str, Any]:
        """The SPEC §1 error body."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        error["request_id"] = request_id
        return {"error": error}


def _invalid(field: str | None, message: str) -> ApiFailure:
    return ApiFailure(400, "validation_failed", message, field)


def _not_found(what: str, ident: str, field: str | None = None) -> ApiFailure:
    return ApiFailure(404, "not_found", f"no {what} with id {ident!r}", field)


def _iso(timestamp: float) -> str:
    return format_datetime(datetime.fromtimestamp(timestamp, UTC))


def resolve_rate_limit(value: RateLimit) -> int | None:
    """A plan name, requests per minute or ``None``/``"unlimited"`` → per-minute limit or None."""
    if value is None or value == "unlimited":
        return None
    if isinstance(value, str):
        if value in PLANS:
            return PLANS[value]
        raise ValueError(f"unknown plan {value!r}; use free, pro, unlimited or a number")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"rate_limit must be a plan name, a positive integer or None: {value!r}")
    return value


# --- Rate limiting ----------------------------------------------------------------------------


class RateBucket:
    """A token bucket per key: holds ``limit`` tokens, refills ``limit`` per minute.

    Chosen over a fixed window because it never lets a burst of twice the limit
    through at a window edge, and because ``Retry-After`` is then the time until
    *one* request fits (one second at 6,000/min) rather than the rest of a
    minute. A client that spaces requests at the plan's rate, or bursts at most
    ``limit`` at once, is never refused. ``X-RateLimit-Reset`` is the seconds
    until the bucket is full again. With a frozen clock the bucket only refills
    when the clock is advanced.
    """

    __slots__ = ("limit", "rate", "tokens", "updated")

    def __init__(self, limit: int, now: float) -> None:
        self.limit = limit
        self.rate = limit / 60.0
        self.tokens = float(limit)
        self.updated = now

    def take(self, now: float) -> tuple[bool, dict[str, str]]:
        """Spend one token if there is one; returns (allowed, headers to send)."""
        elapsed = now - self.updated
        if elapsed > 0:
            self.tokens = min(float(self.limit), self.tokens + elapsed * self.rate)
            self.updated = now
        allowed = self.tokens >= 1.0
        if allowed:
            self.tokens -= 1.0
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(int(self.tokens)),
            "X-RateLimit-Reset": str(math.ceil((self.limit - self.tokens) / self.rate - 1e-9)),
        }
        if not allowed:
            headers["Retry-After"] = str(max(1, math.ceil((1.0 - self.tokens) / self.rate - 1e-9)))
        return allowed, headers


# --- Idempotency ------------------------------------------------------------------------------


@attrs.define
class _IdempotencyRecord:
    fingerprint: Any
    started: float
    done: bool = False
    status: int = 0
    body: bytes = b""


class IdempotencyStore:
    """SPEC §1 Idempotency: replay, mismatch (400) and in-flight (409), per API key, 24 h.

    The server calls :meth:`begin` before processing a POST that carries an
    Idempotency-Key, then :meth:`complete` with the answer it sent, or
    :meth:`abandon` if processing never finished (the client went away), so a
    retry runs afresh.
    """

    def __init__(self, window: float = IDEMPOTENCY_WINDOW) -> None:
        self.window = window
        self._records: dict[tuple[str, str], _IdempotencyRecord] = {}
        self._added = 0

    def __len__(self) -> int:
        return len(self._records)

    def begin(self, scope: str, key: str, fingerprint: Any, now: float) -> tuple[int, bytes] | None:
        """``None``: go ahead (now in flight). ``(status, body)``: replay that answer."""
        record = self._records.get((scope, key))
        if record is not None and now - record.started < self.window:
            if record.fingerprint != fingerprint:
                raise _invalid(
                    "Idempotency-Key",
                    "this Idempotency-Key was already used with different parameters",
                )
            if not record.done:
                raise ApiFailure(
                    409,
                    "conflict",
                    "a request with this Idempotency-Key is still being processed; retry later",
                )
            return record.status, record.body
        self._records[(scope, key)] = _IdempotencyRecord(fingerprint, now)
        self._added += 1
        if self._added % 10_000 == 0:  # keep a long-running server's memory bounded
            self.purge(now)
        return None

    def complete(self, scope: str, key: str, status: int, body: bytes) -> None:
        """Remember the answer for replays."""
        record = self._records.get((scope, key))
        if record is not None:
            record.done, record.status, record.body = True, status, body

    def abandon(self, scope: str, key: str) -> None:
        """Forget an in-flight attempt that never finished."""
        record = self._records.get((scope, key))
        if record is not None and not record.done:
            del self._records[(scope, key)]

    def purge(self, now: float) -> int:
        """Drop finished records older than the window; returns how many."""
        old = [k for k, r in self._records.items() if r.done and now - r.started >= self.window]
        for k in old:
            del self._records[k]
        return len(old)


# --- Ledger and stats -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class LedgerEntry:
    """One committed side effect.

    ``kind`` is ``user.created``, ``user.updated``, ``user.deleted``,
    ``message.created`` or ``message.cancelled``; ``api`` is ``"pulse"`` (v2)
    or ``"pulsewave"`` (v1); ``timestamp`` is the server clock (epoch seconds).
    """

    kind: str
    resource_id: str
    api: str
    idempotency_key: str | None
    request_id: str | None
    timestamp: float

    @property
    def at(self) -> datetime:
        """When it was committed, as an aware UTC ``datetime``."""
        return datetime.fromtimestamp(self.timestamp, UTC)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form."""
        return {
            "kind": self.kind,
            "resource_id": self.resource_id,
            "api": self.api,
            "idempotency_key": self.idempotency_key,
            "request_id": self.request_id,
            "at": _iso(self.timestamp),
        }


class Ledger(Sequence[LedgerEntry]):
    """Every side effect the server committed, in order.

    The exactly-once tests compare it with what the client believes::

        assert len(server.ledger.of_kind("message.created")) == 100
        assert not server.ledger.duplicate_idempotency_keys()
    """

    def __init__(self) -> None:
        self._entries: list[LedgerEntry] = []

    def append(self, entry: LedgerEntry) -> None:
        """Record one side effect (the server does this)."""
        self._entries.append(entry)

    @overload
    def __getitem__(self, index: int) -> LedgerEntry: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[LedgerEntry]: ...
    def __getitem__(self, index: int | slice) -> LedgerEntry | Sequence[LedgerEntry]:
        return self._entries[index]

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[LedgerEntry]:
        return iter(list(self._entries))

    def of_kind(self, kind: str, *, api: str | None = None) -> list[LedgerEntry]:
        """Entries of one kind (and API, if given)."""
        return [e for e in self._entries if e.kind == kind and (api is None or e.api == api)]

    def duplicate_idempotency_keys(self, kind: str = "message.created") -> dict[str, int]:
        """Idempotency keys that committed ``kind`` more than once (should be empty)."""
        counts = Counter(
            e.idempotency_key
            for e in self._entries
            if e.kind == kind and e.idempotency_key is not None
        )
        return {k: n for k, n in counts.items() if n > 1}

    def clear(self) -> None:
        """Forget every entry (the workspace itself is unchanged)."""
        self._entries.clear()

    def __repr__(self) -> str:
        return f"<Ledger {len(self._entries)} entries>"


class Stats:
    """Counters of what the server saw.

    ``requests``: per route (``"POST /v2/messages"``; unknown paths count
    under ``"* <unmatched>"``); ``cancelled``: handlers cancelled because the
    client went away mid-request (``cancelled_by_route`` per route);
    ``faults``: injected faults per kind; ``replayed``: idempotent replays;
    ``rate_limited``: 429s from the rate limiter (not injected ones).
    """

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.cancelled = 0
        self.cancelled_by_route: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.replayed = 0
        self.rate_limited = 0

    @property
    def total(self) -> int:
        """Requests received, all routes."""
        return sum(self.requests.values())

    def reset(self) -> None:
        """Zero every counter."""
        self.__init__()  # type: ignore[misc]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form."""
        return {
            "total": self.total,
            "requests": dict(self.requests),
            "cancelled": self.cancelled,
            "cancelled_by_route": dict(self.cancelled_by_route),
            "faults": dict(self.faults),
            "replayed": self.replayed,
            "rate_limited": self.rate_limited,
        }

    def __repr__(self) -> str:
        return f"<Stats {self.as_dict()}>"


# --- Records ----------------------------------------------------------------------------------


@attrs.define(eq=False)
class KeyRecord:
    """An API key; its role is its user's current role."""

    key_id: str
    secret: str = attrs.field(repr=False)
    user_id: str
    limit: int | None
    bucket: RateBucket | None = None


@attrs.define(eq=False)
class UserRecord:
    id: str
    seq: int
    email: str
    role: str
    status: str
    name: str | None
    metadata: dict[str, str]
    created_at: float
    invited_at: float | None = None
    updated_at: float | None = None

    def status_at(self, now: float) -> str:
        if (
            self.status == "pending"
            and self.invited_at is not None
            and now - self.invited_at >= INVITATION_TTL
        ):
            return "inactive"
        return self.status

    def to_json(self, now: float) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "role": self.role,
            "status": self.status_at(now),
            "metadata": dict(self.metadata),
            "created_at": _iso(self.created_at),
        }
        if self.invited_at is not None:
            data["invited_at"] = _iso(self.invited_at)
        if self.updated_at is not None:
            data["updated_at"] = _iso(self.updated_at)
        return data


@attrs.define(eq=False)
class ThreadRecord:
    id: str
    seq: int
    subject: str
    last_message_at: float
    activity: int
    unread: dict[str, int] = attrs.field(factory=dict)
    message_ids: list[str] = attrs.field(factory=list)


def lifecycle_status(now: float, start: float, step: float, outcome: str, cancelled: bool) -> str:
    """The SPEC §4 status at ``now`` of a message due at ``start`` (see the module docstring)."""
    if cancelled:
        return "cancelled"
    # Times travel as ISO strings with microsecond resolution; the half-microsecond
    # slack keeps a message due "exactly now" from reading as still a step behind.
    elapsed = now - start + 5e-7
    if elapsed < step or elapsed < 0:
        return "queued"
    if elapsed < 2 * step:
        return "sending"
    if outcome == "failed":
        return "failed"
    if elapsed < 3 * step:
        return "sent"
    return outcome


@attrs.define(eq=False)
class MessageRecord:
    """A message of either API (``api`` tells which); status comes from :func:`lifecycle_status`."""

    id: str
    api: str
    created_at: float
    due: float
    outcome: str
    subject: str | None
    thread_id: str | None = None
    recipient_count: int = 1
    send_at: float | None = None
    channel: str | None = None
    to: str | None = None
    from_: str | None = None
    text: str | None = None
    html: str | None = None
    template_id: str | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict)
    cancelled_at: float | None = None


@attrs.frozen(kw_only=True)
class Template:
    """A Pulsewave template; ``{{ name }}`` placeholders are filled from ``template_data``."""

    id: str
    subject: str | None = None
    text: str | None = None
    html: str | None = None


BUILTIN_TEMPLATES: Final = (
    Template(
        id="tmpl_welcome",
        subject="Welcome to {{product}}, {{name}}!",
        text="Hi {{name}}, thanks for joining {{product}}.",
        html="<p>Hi {{name}}, thanks for joining {{product}}.</p>",
    ),
    Template(
        id="tmpl_otp",
        subject="Your verification code",
        text="Your code is {{code}}. It expires in 10 minutes.",
    ),
    Template(
        id="tmpl_password_reset",
        subject="Reset your password",
        text="Reset your password here: {{link}}",
        html='<p><a href="{{link}}">Reset your password</a></p>',
    ),
)


def _render(template: str | None, data: Mapping[str, Any]) -> str | None:
    if template is None:
        return None
    return _PLACEHOLDER.sub(lambda m: str(data.get(m.group(1), "")), template)


@attrs.frozen
class Call:
    """Who is calling: their key and user, the request id and the Idempotency-Key sent."""

    key: KeyRecord
    user: UserRecord
    request_id: str | None = None
    idempotency_key: str | None = None


# --- Request decoding -------------------------------------------------------------------------


def object_body(body: Any, allowed: frozenset[str], required: Iterable[str] = ()) -> dict[str, Any]:
    """The body as a dict: an object, only ``allowed`` keys, no top-level nulls, ``required``
    keys present."""
    if not isinstance(body, dict):
        raise _invalid(None, f"the request body must be a JSON object, got {_json_type(body)}")
    for name, value in body.items():
        if name not in allowed:
            raise _invalid(name, f"unknown field {name!r}")
        if value is None:
            raise _invalid(name, "must be omitted rather than null")
    for name in required:
        if name not in body:
            raise _invalid(name, "is required")
    return body


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def query_int(query: Mapping[str, str], name: str) -> int | None:
    """An integer query parameter, or ``None`` when absent."""
    raw = query.get(name)
    if raw is None:
        return None
    text = raw.strip()
    if not re.fullmatch(r"[+-]?[0-9]{1,9}", text):
        raise _invalid(name, f"must be an integer, got {raw!r}")
    return int(text)


def query_bool(query: Mapping[str, str], name: str) -> bool | None:
    """A boolean query parameter (``true`` / ``false``), or ``None`` when absent."""
    raw = query.get(name)
    if raw is None:
        return None
    if raw == "true":
        return True
    if raw == "false":
        return False
    raise _invalid(name, f"must be true or false, got {raw!r}")


def _encode_cursor(*parts: int) -> str:
    text = "v1:" + ":".join(str(p) for p in parts)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, parts: int) -> tuple[int, ...]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        head, *values = text.split(":")
        if head != "v1" or len(values) != parts:
            raise ValueError(text)
        return tuple(int(v) for v in values)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _invalid("cursor", "is not a valid cursor") from None


# --- The workspace ----------------------------------------------------------------------------

_USER_FIELDS: Final = frozenset({"email", "role", "name", "metadata"})
_PATCH_FIELDS: Final = frozenset({"role", "name", "metadata"})
_SEND_FIELDS: Final = frozenset({"to", "subject", "body", "thread_id", "send_at"})
_WAVE_FIELDS: Final = frozenset(
    {"channel", "to", "from", "subject", "text", "html", "template_id", "template_data", "metadata"}
)
_READ, _EDIT, _ADMIN = "read", "edit", "admin"
_ALLOWED: Final = {
    _READ: frozenset(ROLES),
    _EDIT: frozenset({"admin", "editor"}),
    _ADMIN: frozenset({"admin"}),
}
_KEY_RE: Final = re.compile(r"pw_(?:live|test)_[A-Za-z0-9_]{8,200}")


class State:
    """The workspace: users, keys, threads, messages, templates, domains, outcomes.

    Not thread-safe: the server touches it from its event loop only (and
    marshals calls from other threads onto that loop).
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        rate_limit: RateLimit = None,
        step_delay: float = 0.25,
        verified_domains: Iterable[str] = ("example.com", "pulse.test"),
    ) -> None:
        if step_delay < 0:
            raise ValueError("step_delay must be >= 0")
        self.clock = clock or Clock()
        self.default_limit = resolve_rate_limit(rate_limit)
        self.step_delay = float(step_delay)
        self.ledger = Ledger()
        self.idempotency = IdempotencyStore()
        self.verified_domains = {d.lower() for d in verified_domains}
        self.outcomes: dict[str, str] = {}
        self.templates: dict[str, Template] = {t.id: t for t in BUILTIN_TEMPLATES}
        self.users: dict[str, UserRecord] = {}
        self._user_order: list[UserRecord] = []
        self._emails: dict[str, UserRecord] = {}
        self.keys: dict[str, KeyRecord] = {}
        self.threads: dict[str, ThreadRecord] = {}
        self._user_threads: dict[str, set[str]] = {}
        self.messages: dict[str, MessageRecord] = {}
        self._seq = itertools.count(1)
        self._activity = itertools.count(1)
        self._id_prefix = secrets.token_hex(3)
        now = self.clock.time()
        self.seed_keys: dict[str, str] = {}
        for role in ROLES:
            user = self._add_user(
                f"{role}@example.com", role, f"Test {role.title()}", {}, now, status="active"
            )
            self.seed_keys[role] = self.create_key(user_id=user.id)

    # -- helpers ------------------------------------------------------------------------------

    def _new_id(self, prefix: str) -> tuple[str, int]:
        seq = next(self._seq)
        return f"{prefix}_{self._id_prefix}{seq:08x}", seq

    def _record(self, kind: str, resource_id: str, api: str, call: Call | None) -> None:
        self.ledger.append(
            LedgerEntry(
                kind=kind,
                resource_id=resource_id,
                api=api,
                idempotency_key=call.idempotency_key if call else None,
                request_id=call.request_id if call else None,
                timestamp=self.clock.time(),
            )
        )

    def _add_user(
        self,
        email: str,
        role: str,
        name: str | None,
        metadata: dict[str, str],
        now: float,
        *,
        status: str,
    ) -> UserRecord:
        user_id, seq = self._new_id("usr")
        user = UserRecord(
            id=user_id,
            seq=seq,
            email=email,
            role=role,
            status=status,
            name=name,
            metadata=metadata,
            created_at=now,
            invited_at=now if status == "pending" else None,
        )
        self.users[user_id] = user
        self._user_order.append(user)
        self._emails[email.casefold()] = user
        return user

    def status_of(self, message: MessageRecord) -> str:
        """A message's current status on the server clock."""
        return lifecycle_status(
            self.clock.time(),
            message.due,
            self.step_delay,
            message.outcome,
            message.cancelled_at is not None,
        )

    def outcome_for(self, address: str) -> str:
        """The final status a message to ``address`` will reach."""
        configured = self.outcomes.get(address.casefold())
        if configured is not None:
            return configured
        if "+fail" in address:
            return "failed"
        if "+bounce" in address:
            return "bounced"
        return "delivered"

    # -- configuration (Python API) ------------------------------------------------------------

    def create_key(
        self,
        *,
        role: str = "admin",
        rate_limit: RateLimit = "default",
        user_id: str | None = None,
    ) -> str:
        """Issue a key: for ``user_id``, or for a new active user ``{role}-N@pulse.test``.

        ``rate_limit``: ``"default"`` (the server's), ``"free"``, ``"pro"``, a
        number of requests per minute, or ``None`` / ``"unlimited"``.
        """
        if user_id is None:
            if role not in ROLES:
                raise ValueError(f"role must be one of {', '.join(ROLES)}")
            n = len(self.keys) + 1
            user = self._add_user(
                f"{role}-{n}@pulse.test", role, None, {}, self.clock.time(), status="active"
            )
            user_id = user.id
        elif user_id not in self.users:
            raise ValueError(f"no user {user_id!r}")
        limit = self.default_limit if rate_limit == "default" else resolve_rate_limit(rate_limit)
        secret = "pw_test_" + secrets.token_hex(16)
        key_id = f"key_{len(self.keys) + 1}"
        self.keys[secret] = KeyRecord(
            key_id=key_id,
            secret=secret,
            user_id=user_id,
            limit=limit,
            bucket=RateBucket(limit, self.clock.time()) if limit is not None else None,
        )
        return secret

    def register_template(
        self,
        template_id: str,
        *,
        subject: str | None = None,
        text: str | None = None,
        html: str | None = None,
    ) -> Template:
        """Add or replace a Pulsewave template (id ``tmpl_…``)."""
        if not template_id.startswith("tmpl_") or "/" in template_id:
            raise ValueError(f"template ids look like tmpl_…, got {template_id!r}")
        template = Template(id=template_id, subject=subject, text=text, html=html)
        self.templates[template_id] = template
        return template

    def verify_domain(self, domain: str) -> None:
        """Mark a sending domain as verified."""
        self.verified_domains.add(domain.strip().lower())

    def set_outcome(self, address: str, outcome: str) -> None:
        """Make messages to ``address`` end as ``delivered``, ``bounced`` or ``failed``."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        self.outcomes[address.casefold()] = outcome

    def set_user_status(self, user_id: str, status: str) -> None:
        """Set a user's status, e.g. accept an invitation (``"active"``)."""
        if status not in USER_STATUSES:
            raise ValueError(f"status must be one of {', '.join(sorted(USER_STATUSES))}")
        self.users[user_id].status = status

    def mark_thread_read(self, thread_id: str, user_id: str) -> None:
        """Clear ``user_id``'s unread count in a thread (the API has no endpoint for it)."""
        thread = self.threads[thread_id]
        if user_id in thread.unread:
            thread.unread[user_id] = 0

    # -- auth and limits -----------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> KeyRecord:
        """The key of an ``Authorization: Bearer …`` header; 401 if missing, malformed, unknown."""
        if not authorization:
            raise ApiFailure(401, "unauthorized", "missing API key: send Authorization: Bearer …")
        scheme, _, secret = authorization.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not _KEY_RE.fullmatch(secret):
            raise ApiFailure(401, "unauthorized", "malformed API key")
        key = self.keys.get(secret)
        if key is None:
            raise ApiFailure(401, "unauthorized", "unknown or revoked API key")
        return key

    def authorize(self, key: KeyRecord, need: str) -> UserRecord:
        """The key's user, if its role may do ``need`` (``read``, ``edit``, ``admin``); else 403."""
        user = self.users[key.user_id]
        if user.role not in _ALLOWED[need]:
            wanted = {"edit": "an editor or admin", "admin": "an admin"}.get(need, "a")
            raise ApiFailure(
                403, "forbidden", f"this needs {wanted} key; this key's role is {user.role}"
            )
        return user

    def take_rate(self, key: KeyRecord) -> dict[str, str] | None:
        """Spend one request of the key's quota: its headers, or raise 429."""
        bucket = key.bucket
        if bucket is None:
            return None
        allowed, headers = bucket.take(self.clock.time())
        if not allowed:
            raise ApiFailure(
                429,
                "rate_limited",
                f"rate limit of {bucket.limit} requests per minute exceeded",
                headers=headers,
            )
        return headers

    # -- Pulse v2: users -----------------------------------------------------------------------

    def list_users(self, call: Call, query: Mapping[str, str]) -> tuple[int, Any]:
        limit = query_int(query, "limit")
        cursor, status, q = query.get("cursor"), query.get("status"), query.get("q")
        validate_list_users(limit=limit, cursor=cursor, status=status, q=q)
        after = _decode_cursor(cursor, 2) if cursor is not None else None
        size = limit or 20
        now = self.clock.time()
        terms = q.casefold().split() if q else []
        page: list[UserRecord] = []
        for user in reversed(self._user_order):
            if after is not None and (int(user.created_at * 1e6), user.seq) >= after:
                continue
            if status is not None and user.status_at(now) != status:
                continue
            if terms:
                haystack = f"{(user.name or '').casefold()} {user.email.casefold()}"
                if not all(t in haystack for t in terms):
                    continue
            page.append(user)
            if len(page) > size:
                break
        has_more = len(page) > size
        page = page[:size]
        last = page[-1] if has_more else None
        next_cursor = (
            _encode_cursor(int(last.created_at * 1e6), last.seq) if last is not None else None
        )
        return 200, {
            "data": [u.to_json(now) for u in page],
            "next_cursor": next_cursor,
            "has_more": has_more,
        }

    def create_user(self, call: Call, body: Any) -> tuple[int, Any]:
        b = object_body(body, _USER_FIELDS, ("email", "role"))
        validate_create_user(
            email=b["email"], role=b["role"], name=b.get("name"), metadata=b.get("metadata")
        )
        email: str = b["email"]
        if email.casefold() in self._emails:
            raise _invalid("email", "email is already in use")
        now = self.clock.time()
        user = self._add_user(
            email, b["role"], b.get("name"), dict(b.get("metadata") or {}), now, status="pending"
        )
        self._record("user.created", user.id, "pulse", call)
        return 201, user.to_json(now)

    def _admin_count(self) -> int:
        return sum(1 for u in self._user_order if u.role == "admin")

    def update_user(self, call: Call, user_id: str, body: Any) -> tuple[int, Any]:
        b = object_body(body, _PATCH_FIELDS)
        validate_update_user(role=b.get("role"), name=b.get("name"), metadata=b.get("metadata"))
        user = self.users.get(user_id)
        if user is None:
            raise _not_found("user", user_id)
        role = b.get("role")
        if (
            role is not None
            and user.role == "admin"
            and role != "admin"
            and self._admin_count() <= 1
        ):
            raise ApiFailure(403, "forbidden", "cannot demote the last admin")
        metadata = dict(user.metadata)
        for k, v in (b.get("metadata") or {}).items():
            if v is None:
                metadata.pop(k, None)
            else:
                metadata[k] = v
        if len(metadata) > 50:
            raise _invalid(
                "metadata", f"must have at most 50 keys after merging, would have {len(metadata)}"
            )
        if role is not None:
            user.role = role
        if "name" in b:
            user.name = b["name"]
        user.metadata = metadata
        now = self.clock.time()
        user.updated_at = now
        self._record("user.updated", user.id, "pulse", call)
        return 200, user.to_json(now)

    def delete_user(self, call: Call, user_id: str) -> tuple[int, Any]:
        user = self.users.get(user_id)
        if user is None:
            raise _not_found("user", user_id)
        if user.role == "admin" and self._admin_count() <= 1:
            raise ApiFailure(403, "forbidden", "cannot delete the last admin")
        del self.users[user_id]
        self._user_order.remove(user)
        self._emails.pop(user.email.casefold(), None)
        for secret in [s for s, k in self.keys.items() if k.user_id == user_id]:
            del self.keys[secret]
        self._record("user.deleted", user.id, "pulse", call)
        return 204, None

    # -- Pulse v2: messages and threads -------------------------------------------------------

    def send_message(self, call: Call, body: Any) -> tuple[int, Any]:
        b = object_body(body, _SEND_FIELDS, ("to", "subject", "body"))
        raw_send_at = b.get("send_at")
        send_at = validate_send_message(
            to=b["to"],
            subject=b["subject"],
            body=b["body"],
            thread_id=b.get("thread_id"),
            send_at=raw_send_at,
            now=self.clock.now() if raw_send_at is not None else None,
        )
        recipients: dict[str, str] = {}
        members: list[str] = []
        for entry in b["to"]:
            if entry.startswith("usr_"):
                user = self.users.get(entry)
                if user is None:
                    raise _invalid("to", f"unknown user id {entry!r}")
            else:
                user = self._emails.get(entry.casefold())
            if user is not None:
                if user.id not in recipients:
                    recipients[user.id] = user.email
                    members.append(user.id)
            else:
                recipients.setdefault(entry.casefold(), entry)
        thread_id = b.get("thread_id")
        now = self.clock.time()
        if thread_id is not None:
            thread = self.threads.get(thread_id)
            if thread is None:
                raise _not_found("thread", thread_id, "thread_id")
        else:
            new_id, seq = self._new_id("thr")
            thread = ThreadRecord(
                id=new_id, seq=seq, subject=b["subject"], last_message_at=now, activity=0
            )
            self.threads[new_id] = thread
        outcome = "delivered"
        for address in recipients.values():
            o = self.outcome_for(address)
            if _OUTCOME_RANK[o] > _OUTCOME_RANK[outcome]:
                outcome = o
        message_id, _ = self._new_id("msg")
        due = send_at.timestamp() if send_at is not None else now
        self.messages[message_id] = MessageRecord(
            id=message_id,
            api="pulse",
            created_at=now,
            due=due,
            outcome=outcome,
            subject=b["subject"],
            thread_id=thread.id,
            recipient_count=len(recipients),
            send_at=due if send_at is not None else None,
            text=b["body"],
        )
        sender = call.user.id
        unread = thread.unread
        for uid in (sender, *members):
            if uid not in unread:
                unread[uid] = 0
                self._user_threads.setdefault(uid, set()).add(thread.id)
        for uid in unread:
            if uid != sender:
                unread[uid] += 1
        thread.message_ids.append(message_id)
        thread.last_message_at = now
        thread.activity = next(self._activity)
        self._record("message.created", message_id, "pulse", call)
        return 202, {
            "message_id": message_id,
            "status": "queued",
            "recipient_count": len(recipients),
        }

    def _message(self, message_id: str, api: str) -> MessageRecord:
        message = self.messages.get(message_id)
        if message is None or message.api != api:
            raise _not_found("message", message_id)
        return message

    def get_message(self, call: Call, message_id: str) -> tuple[int, Any]:
        m = self._message(message_id, "pulse")
        return 200, {
            "id": m.id,
            "status": self.status_of(m),
            "thread_id": m.thread_id,
            "subject": m.subject,
            "recipient_count": m.recipient_count,
            "send_at": _iso(m.send_at) if m.send_at is not None else None,
            "created_at": _iso(m.created_at),
        }

    def list_threads(self, call: Call, query: Mapping[str, str]) -> tuple[int, Any]:
        limit = query_int(query, "limit")
        unread = query_bool(query, "unread")
        cursor = query.get("cursor")
        validate_list_threads(limit=limit, cursor=cursor, unread=unread)
        after = _decode_cursor(cursor, 1)[0] if cursor is not None else None
        size = limit or 25
        uid = call.user.id
        threads = sorted(
            (self.threads[t] for t in self._user_threads.get(uid, ())),
            key=lambda t: t.activity,
            reverse=True,
        )
        page: list[ThreadRecord] = []
        for thread in threads:
            if after is not None and thread.activity >= after:
                continue
            if unread is not None and (thread.unread.get(uid, 0) > 0) != unread:
                continue
            page.append(thread)
            if len(page) > size:
                break
        has_more = len(page) > size
        page = page[:size]
        return 200, {
            "data": [
                {
                    "id": t.id,
                    "subject": t.subject,
                    "unread_count": t.unread.get(uid, 0),
                    "last_message_at": _iso(t.last_message_at),
                }
                for t in page
            ],
            "has_more": has_more,
            "next_cursor": _encode_cursor(page[-1].activity) if has_more else None,
        }

    # -- Pulsewave v1 --------------------------------------------------------------------------

    def _wave_json(self, m: MessageRecord) -> dict[str, Any]:
        return {
            "id": m.id,
            "object": "message",
            "channel": m.channel,
            "status": self.status_of(m),
            "to": m.to,
            "from": m.from_,
            "subject": m.subject,
            "template_id": m.template_id,
            "metadata": m.metadata,
            "created_at": _iso(m.created_at),
        }

    def create_wave_message(self, call: Call, body: Any) -> tuple[int, Any]:
        b = object_body(body, _WAVE_FIELDS, ("channel", "to", "from"))
        channel = b["channel"]
        validate_create_message(
            channel=channel,
            to=b["to"],
            from_=b["from"],
            subject=b.get("subject"),
            text=b.get("text"),
            html=b.get("html"),
            template_id=b.get("template_id"),
            template_data=b.get("template_data"),
            metadata=b.get("metadata"),
        )
        subject, text, html = b.get("subject"), b.get("text"), b.get("html")
        template_id = b.get("template_id")
        if template_id is not None:
            template = self.templates.get(template_id)
            if template is None:
                raise _not_found("template", template_id, "template_id")
            data = b.get("template_data") or {}
            subject = subject if subject is not None else _render(template.subject, data)
            text = text if text is not None else _render(template.text, data)
            if channel == "email":
                html = html if html is not None else _render(template.html, data)
        if channel == "email":
            domain = b["from"].rpartition("@")[2].lower()
            if domain not in self.verified_domains:
                raise _invalid("from", f"{domain!r} is not a verified sending domain")
            if not subject:
                raise _invalid("subject", "is required for email; the template has no subject")
        elif not text:
            raise _invalid("text", f"is required for {channel}; the template has no text")
        message_id, _ = self._new_id("msg")
        now = self.clock.time()
        message = MessageRecord(
            id=message_id,
            api="pulsewave",
            created_at=now,
            due=now,
            outcome=self.outcome_for(b["to"]),
            subject=subject if channel == "email" else None,
            channel=channel,
            to=b["to"],
            from_=b["from"],
            text=text,
            html=html,
            template_id=template_id,
            metadata=dict(b.get("metadata") or {}),
        )
        self.messages[message_id] = message
        self._record("message.created", message_id, "pulsewave", call)
        return 202, self._wave_json(message)

    def get_wave_message(self, call: Call, message_id: str) -> tuple[int, Any]:
        return 200, self._wave_json(self._message(message_id, "pulsewave"))

    def cancel_wave_message(self, call: Call, message_id: str) -> tuple[int, Any]:
        message = self._message(message_id, "pulsewave")
        status = self.status_of(message)
        if status != "queued":
            raise ApiFailure(
                409, "invalid_state", f"message is {status}; only a queued message can be cancelled"
            )
        message.cancelled_at = self.clock.time()
        self._record("message.cancelled", message_id, "pulsewave", call)
        return 200, self._wave_json(message)


def check_idempotency_header(value: str | None) -> str | None:
    """The ``Idempotency-Key`` header, validated (400 naming ``Idempotency-Key``)."""
    if value is None:
        return None
    try:
        return check_idempotency_key(value, "Idempotency-Key")
    except ValidationError as exc:
        raise _invalid("Idempotency-Key", exc.message) from None
