"""The in-memory workspace behind the local server: pure logic, no aiohttp, no asyncio.

Split by concern: rate limits (``_rate``), idempotency (``_idempotency``), the
ledger and stats (``_ledger``), records, lifecycle and request decoding
(``_records``), the workspace's data, keys and auth (``_workspace``), users
(``_users``), messages and threads (``_messages``), webhooks (``_webhooks``;
sending them is ``_delivery``). This module joins the endpoints into
:class:`State` and re-exports the names other modules import from here.

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

from pulse_async._core._ratelimit import PLANS
from pulse_async.testing._idempotency import (
    IDEMPOTENCY_WINDOW,
    IdempotencyStore,
    check_idempotency_header,
)
from pulse_async.testing._ledger import Ledger, LedgerEntry, Stats
from pulse_async.testing._messages import MessageEndpoints
from pulse_async.testing._rate import RateBucket, RateLimit, resolve_rate_limit
from pulse_async.testing._records import (
    BUILTIN_TEMPLATES,
    INVITATION_TTL,
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
    object_body,
    query_bool,
    query_int,
)
from pulse_async.testing._users import UserEndpoints

__all__ = [
    "BUILTIN_TEMPLATES",
    "IDEMPOTENCY_WINDOW",
    "INVITATION_TTL",
    "OUTCOMES",
    "PLANS",
    "ROLES",
    "ApiFailure",
    "Call",
    "IdempotencyStore",
    "KeyRecord",
    "Ledger",
    "LedgerEntry",
    "MessageRecord",
    "RateBucket",
    "RateLimit",
    "State",
    "Stats",
    "Template",
    "ThreadRecord",
    "UserRecord",
    "check_idempotency_header",
    "lifecycle_status",
    "object_body",
    "query_bool",
    "query_int",
    "resolve_rate_limit",
]


class State(UserEndpoints, MessageEndpoints):
    """The workspace: users, keys, threads, messages, templates, domains, outcomes.

    Each endpoint is a method that takes the caller and the decoded request and
    returns ``(status, json_body)`` or raises :class:`ApiFailure` (see the module
    docstring). Not thread-safe: the server touches it from its event loop only
    (and marshals calls from other threads onto that loop).
    """
