"""Client-side validation of every rule in SPEC.md.

Each check raises :class:`~pulse_async.errors.ValidationError` naming the
field, before anything is sent. The local test server runs the same checks on
the JSON it receives, so the client and the server can never disagree on a
rule. Readings of the SPEC where it is silent:

- a user id in ``to`` is anything starting with ``usr_``; every other entry
  must be an email address (``local@domain.tld``, at most 254 characters);
- an optional string the caller *does* pass (``name``, ``q``, ``thread_id``)
  must still be non-empty, like a required one;
- an SMS ``from`` is an E.164 number or an alphanumeric sender id of 1–11
  characters (letters, digits, spaces; at least one letter), the common
  carrier rule;
- ``send_at`` must be after "now" (the client's clock) and at most 30 days
  ahead; a naive ``datetime`` is refused, since its zone would be a guess;
- metadata keys are non-empty strings of at most 40 characters and values at
  most 500 characters (the SPEC is silent; these are the limits Stripe uses).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pulse_async.errors import ValidationError
from pulse_async.models._enums import CHANNELS, ROLES, USER_STATUSES

__all__ = [
    "E164_RE",
    "EMAIL_RE",
    "check_bool",
    "check_channel",
    "check_email",
    "check_header_value",
    "check_idempotency_key",
    "check_limit",
    "check_metadata",
    "check_path_id",
    "check_send_at",
    "check_string",
    "check_until",
    "validate_create_message",
    "validate_create_user",
    "validate_list_threads",
    "validate_list_users",
    "validate_send_message",
    "validate_update_user",
]

EMAIL_RE = re.compile(
    # The local part: no space, no specials, and no control character (RFC 5322 atext).
    r"^[^@\s\"<>(),;:\\\[\]\x00-\x1f\x7f]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
E164_RE = re.compile(r"^\+[1-9][0-9]{1,14}$")
SENDER_ID_RE = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
IDEMPOTENCY_KEY_RE = re.compile(r"^[\x20-\x7e]{1,255}$")
_FORBIDDEN_HEADER_CHARS_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


MAX_NAME = 120
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LEN = 40
MAX_METADATA_VALUE_LEN = 500
MAX_RECIPIENTS = 50
MAX_SUBJECT = 255
MAX_BODY = 10_000
MAX_SEND_AHEAD = timedelta(days=30)
MAX_EMAIL = 254


def _fail(field: str, message: str) -> ValidationError:
    return ValidationError(message, field=field)


def check_header_value(value: str, field: str) -> str:
    """Refuse control characters (CR, LF, NUL…; HTAB is allowed) in what becomes a header.

    RFC 9110 §5.5 allows none of them, and aiohttp raises a bare ``ValueError``
    mid-request on any of them: they must be caught here, before sending.
    """
    if _FORBIDDEN_HEADER_CHARS_RE.search(value):
        raise _fail(field, "must not contain control characters such as CR, LF or NUL")
    return value


def check_string(value: Any, field: str, *, max_len: int | None = None) -> str:
    """A non-empty string of at most ``max_len`` characters."""
    if not isinstance(value, str):
        raise _fail(field, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise _fail(field, "must not be empty")
    if max_len is not None and len(value) > max_len:
        raise _fail(field, f"must be at most {max_len} characters, got {len(value)}")
    return value


def check_email(value: Any, field: str) -> str:
    """An email address."""
    check_string(value, field, max_len=MAX_EMAIL)
    if not EMAIL_RE.fullmatch(value):
        raise _fail(field, f"must be a valid email address, got {value!r}")
    return str(value)


def check_choice(value: Any, field: str, choices: frozenset[str]) -> str:
    """One of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise _fail(field, f"must be one of {', '.join(sorted(choices))}; got {value!r}")
    return value


def check_role(value: Any, field: str = "role") -> str:
    """``admin``, ``editor`` or ``viewer``."""
    return check_choice(value, field, ROLES)


def check_channel(value: Any, field: str = "channel") -> str:
    """``email``, ``sms`` or ``push``."""
    return check_choice(value, field, CHANNELS)


def check_int_range(value: Any, field: str, low: int, high: int) -> int:
    """An integer in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(field, f"must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise _fail(field, f"must be between {low} and {high}, got {value}")
    return value


def check_limit(value: Any, high: int, field: str = "limit") -> int:
    """A page size between 1 and ``high``."""
    return check_int_range(value, field, 1, high)


def check_bool(value: Any, field: str) -> bool:
    """A real boolean (not a truthy string)."""
    if not isinstance(value, bool):
        raise _fail(field, f"must be true or false, got {value!r}")
    return value


def check_idempotency_key(value: Any, field: str = "idempotency_key") -> str:
    """1–255 printable ASCII characters (SPEC §1 Strings)."""
    if not isinstance(value, str):
        raise _fail(field, f"must be a string, got {type(value).__name__}")
    check_header_value(value, field)
    if not IDEMPOTENCY_KEY_RE.fullmatch(value):
        raise _fail(field, "must be 1 to 255 printable ASCII characters")
    return value


def check_path_id(value: Any, field: str) -> str:
    """A resource id that goes into a URL path: non-empty, no ``/``, not ``.`` or ``..``,
    no control characters."""
    check_string(value, field)
    if (
        "/" in value
        or value in (".", "..")  # a dot segment: the URL would resolve to another resource
        or any(ord(c) < 0x20 or c == "\x7f" for c in value)
        or value != value.strip()
    ):
        raise _fail(field, f"is not a valid id: {value!r}")
    return str(value)


def check_metadata(
    value: Any, field: str = "metadata", *, allow_null: bool = False
) -> dict[str, str | None]:
    """A flat object of string → string, at most 50 keys; ``None`` values only in a PATCH."""
    if not isinstance(value, Mapping):
        raise _fail(field, f"must be an object of string to string, got {type(value).__name__}")
    live = 0
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > MAX_METADATA_KEY_LEN:
            raise _fail(
                field,
                f"keys must be strings of 1 to {MAX_METADATA_KEY_LEN} characters; got {key!r}",
            )
        if item is None and allow_null:
            continue
        if not isinstance(item, str):
            what = "a string or null" if allow_null else "a string"
            raise _fail(field, f"value of {key!r} must be {what}, got {type(item).__name__}")
        if len(item) > MAX_METADATA_VALUE_LEN:
            raise _fail(
                field, f"value of {key!r} must be at most {MAX_METADATA_VALUE_LEN} characters"
            )
        live += 1
    if live > MAX_METADATA_KEYS:
        raise _fail(field, f"must have at most {MAX_METADATA_KEYS} keys, got {live}")
    return dict(value)


def check_recipients(value: Any, field: str = "to") -> list[str]:
    """1–50 entries, each a user id (``usr_…``) or an email address."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise _fail(field, "must be a list of user ids or email addresses")
    if not 1 <= len(value) <= MAX_RECIPIENTS:
        raise _fail(field, f"must have 1 to {MAX_RECIPIENTS} entries, got {len(value)}")
    for entry in value:
        if isinstance(entry, str) and entry.startswith("usr_"):
            check_path_id(entry, field)
        else:
            check_email(entry, field)
    return list(value)


def check_until(value: Any, field: str = "until") -> frozenset[str] | None:
    """The statuses to wait for, as a set: a collection of strings, never one string.

    One string would otherwise be read letter by letter. Unknown statuses are allowed at run
    time: a newer server may add one (SPEC §1) and waiting for it must work; the ``Literal``
    type tells a typo from it for type checkers. ``value`` is read once (it may be a
    generator).
    """
    if value is None:
        return None
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise _fail(field, f"must be a collection of statuses such as {{'delivered'}}: {value!r}")
    statuses = frozenset(value)
    for status in statuses:
        if not isinstance(status, str):
            raise _fail(field, f"must hold status strings, got {type(status).__name__}")
    return statuses


def check_send_at(value: Any, now: datetime, field: str = "send_at") -> datetime:
    """An aware time (``datetime`` or ISO 8601 string) in the future, at most 30 days ahead."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise _fail(field, f"must be an ISO 8601 time, got {value!r}") from None
    elif isinstance(value, datetime):
        parsed = value
    else:
        raise _fail(field, f"must be a datetime or an ISO 8601 string, got {type(value).__name__}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _fail(field, "must carry a time zone (an aware datetime, or an offset such as Z)")
    if parsed <= now:
        raise _fail(field, "must be in the future")
    if parsed - now > MAX_SEND_AHEAD:
        raise _fail(field, "must be at most 30 days ahead")
    return parsed.astimezone(UTC)


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- One validator per endpoint -------------------------------------------------------------
# Each takes exactly what the caller gave (``None`` = not given), and returns nothing: it
# raises on the first rule broken.


def validate_list_users(
    *, limit: Any = None, cursor: Any = None, status: Any = None, q: Any = None
) -> None:
    """``GET /v2/users`` query rules."""
    if limit is not None:
        check_limit(limit, 100)
    if cursor is not None:
        check_string(cursor, "cursor")
    if status is not None:
        check_choice(status, "status", USER_STATUSES)
    if q is not None:
        check_string(q, "q")


def validate_create_user(*, email: Any, role: Any, name: Any = None, metadata: Any = None) -> None:
    """``POST /v2/users`` body rules."""
    check_email(email, "email")
    check_role(role)
    if name is not None:
        check_string(name, "name", max_len=MAX_NAME)
    if metadata is not None:
        check_metadata(metadata)


def validate_update_user(*, role: Any = None, name: Any = None, metadata: Any = None) -> None:
    """``PATCH /v2/users/{id}`` body rules (every field optional)."""
    if role is not None:
        check_role(role)
    if name is not None:
        check_string(name, "name", max_len=MAX_NAME)
    if metadata is not None:
        check_metadata(metadata, allow_null=True)


def validate_send_message(
    *,
    to: Any,
    subject: Any,
    body: Any,
    thread_id: Any = None,
    send_at: Any = None,
    now: datetime | None = None,
) -> datetime | None:
    """``POST /v2/messages`` body rules; returns ``send_at`` normalised to UTC."""
    check_recipients(to)
    check_string(subject, "subject", max_len=MAX_SUBJECT)
    check_string(body, "body", max_len=MAX_BODY)
    if thread_id is not None:
        check_path_id(thread_id, "thread_id")
    if send_at is None:
        return None
    return check_send_at(send_at, now or _utcnow())


def validate_list_threads(*, limit: Any = None, cursor: Any = None, unread: Any = None) -> None:
    """``GET /v2/threads`` query rules."""
    if limit is not None:
        check_limit(limit, 50)
    if cursor is not None:
        check_string(cursor, "cursor")
    if unread is not None:
        check_bool(unread, "unread")


def validate_create_message(
    *,
    channel: Any,
    to: Any,
    from_: Any,
    subject: Any = None,
    text: Any = None,
    html: Any = None,
    template_id: Any = None,
    template_data: Any = None,
    metadata: Any = None,
) -> None:
    """``POST /v1/messages`` (Pulsewave) body rules, per channel."""
    check_channel(channel)
    if channel == "email":
        check_email(to, "to")
        check_email(from_, "from")
    elif channel == "sms":
        check_string(to, "to")
        if not E164_RE.fullmatch(to):
            raise _fail("to", f"must be an E.164 number such as +14155550123, got {to!r}")
        check_string(from_, "from")
        if not (E164_RE.fullmatch(from_) or SENDER_ID_RE.fullmatch(from_)):
            raise _fail(
                "from", "must be an E.164 number or a sender id of 1 to 11 letters and digits"
            )
    else:
        check_string(to, "to")
        check_header_value(to, "to")
        check_string(from_, "from")
    if template_id is not None:
        check_path_id(template_id, "template_id")
    if subject is not None:
        check_string(subject, "subject", max_len=MAX_SUBJECT)
    if text is not None:
        check_string(text, "text")
    if html is not None:
        check_string(html, "html")
    if template_id is None:
        if channel == "email" and subject is None:
            raise _fail("subject", "is required for email unless template_id is given")
        if channel in ("sms", "push") and text is None:
            raise _fail("text", f"is required for {channel} unless template_id is given")
    if html is not None and channel != "email":
        raise _fail("html", "is only allowed on the email channel")
    for name, value in (("template_data", template_data), ("metadata", metadata)):
        if value is not None:
            check_json_object(value, name)


def check_json_object(value: Any, field: str) -> Mapping[str, Any]:
    """An object that JSON can carry (string keys; strings, numbers, lists, objects, null)."""
    if not isinstance(value, Mapping):
        raise _fail(field, f"must be an object, got {type(value).__name__}")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise _fail(field, f"must be JSON-serialisable: {exc}") from None
    return value
