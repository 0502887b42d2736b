"""The workspace behind the local server: its data, keys, configuration, auth and limits.

The endpoints live in :mod:`~pulse_async.testing._users` and
:mod:`~pulse_async.testing._messages`; :mod:`~pulse_async.testing._state` joins them
(and holds the readings of SPEC where it is silent).
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Iterable
from typing import Final

from pulse_async.models._enums import USER_STATUSES
from pulse_async.testing._clock import Clock
from pulse_async.testing._idempotency import IdempotencyStore
from pulse_async.testing._ledger import Ledger, LedgerEntry
from pulse_async.testing._rate import RateBucket, RateLimit, resolve_rate_limit
from pulse_async.testing._records import (
    BUILTIN_TEMPLATES,
    OUTCOMES,
    ROLES,
    ApiFailure,
    Call,
    KeyRecord,
    MessageRecord,
    Template,
    ThreadRecord,
    UserRecord,
    lifecycle_status,
)

__all__ = ["Workspace"]

_READ, _EDIT, _ADMIN = "read", "edit", "admin"
_ALLOWED: Final = {
    _READ: frozenset(ROLES),
    _EDIT: frozenset({"admin", "editor"}),
    _ADMIN: frozenset({"admin"}),
}
_KEY_RE: Final = re.compile(r"pw_(?:live|test)_[A-Za-z0-9_]{8,200}")


class Workspace:
    """The workspace's data, helpers, configuration, authentication and rate limits.

    The endpoints are :class:`~pulse_async.testing._users.UserEndpoints` and
    :class:`~pulse_async.testing._messages.MessageEndpoints`; :class:`State` joins them.

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
