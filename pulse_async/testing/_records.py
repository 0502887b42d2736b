"""The local server's records and request decoding.

Error answers, keys, users, threads, messages and their lifecycle, templates,
the caller, and the decoding of bodies, queries and cursors.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, get_args

import attrs

from pulse_async._core._converter import format_datetime
from pulse_async.models._enums import RoleName
from pulse_async.testing._rate import RateBucket

__all__ = [
    "BUILTIN_TEMPLATES",
    "ApiFailure",
    "Call",
    "KeyRecord",
    "MessageRecord",
    "Template",
    "ThreadRecord",
    "UserRecord",
    "lifecycle_status",
    "object_body",
    "query_bool",
    "query_int",
]

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
