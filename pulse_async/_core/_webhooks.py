"""Webhook signatures (SPEC §5, Standard Webhooks v1): sign and verify, pure.

No I/O, no event loop: bytes and headers in, a :class:`WebhookEvent` or a
:class:`~pulse_async.errors.WebhookVerificationError` out. The receivers
(:mod:`pulse_async.webhooks`), the local server's deliveries and the CLI all
sign and verify here, so the rules live once:

- The signed content is ``<webhook-id>.<webhook-timestamp>.<body>``, the body
  being the exact bytes received; nothing is parsed before the signature holds.
- ``webhook-signature`` holds space-separated ``<version>,<base64>`` entries;
  any ``v1`` entry matching any of the receiver's secrets is enough (rotation on
  either side). Other versions are ignored. Every comparison is
  :func:`hmac.compare_digest`.
- ``webhook-timestamp`` more than ``tolerance`` seconds away from the
  receiver's clock, in either direction, is refused.
- Secrets are ``whsec_`` + base64 of 24–64 bytes. A secret never appears in a
  repr, an error message or a log line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets as _secrets
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from pulse_async._core._converter import converter, parse_datetime
from pulse_async.errors import ValidationError, WebhookVerificationError
from pulse_async.models import Message

__all__ = [
    "DEFAULT_TOLERANCE",
    "HEADER_ID",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "REFUSAL_REASONS",
    "RETRY_HORIZON",
    "RETRY_SCHEDULE",
    "SECRET_PREFIX",
    "Webhook",
    "WebhookEvent",
    "generate_secret",
]

#: Seconds a ``webhook-timestamp`` may be away from the receiver's clock (SPEC §5: 5 minutes).
DEFAULT_TOLERANCE: Final = 300
#: Waits between a failed attempt and the next one, in seconds (SPEC §5): 8 attempts in all.
RETRY_SCHEDULE: Final = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
#: Seconds from an event's first attempt to its last (~27.6 h): how long a receiver must
#: remember a ``webhook-id`` to deduplicate every retry.
RETRY_HORIZON: Final = sum(RETRY_SCHEDULE)

SECRET_PREFIX: Final = "whsec_"
HEADER_ID: Final = "webhook-id"
HEADER_TIMESTAMP: Final = "webhook-timestamp"
HEADER_SIGNATURE: Final = "webhook-signature"

#: Every ``WebhookVerificationError.reason``, with what it means.
REFUSAL_REASONS: Final = {
    "missing_id": "no webhook-id header, or an empty one",
    "missing_timestamp": "no webhook-timestamp header",
    "missing_signature": "no webhook-signature header",
    "malformed_timestamp": "webhook-timestamp is not an integer number of Unix seconds",
    "timestamp_too_old": "webhook-timestamp is more than the tolerance in the past",
    "timestamp_too_new": "webhook-timestamp is more than the tolerance in the future",
    "no_v1_signature": "webhook-signature holds no v1 entry with valid base64",
    "signature_mismatch": "no v1 signature matches any of the secrets",
    "malformed_body": "signed, but not a JSON event object (UTF-8, with type and created_at)",
}

_MIN_KEY_BYTES = 24
_MAX_KEY_BYTES = 64
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def generate_secret(nbytes: int = 32) -> str:
    """A new endpoint secret: ``whsec_`` + base64 of ``nbytes`` (24–64) random bytes."""
    if not _MIN_KEY_BYTES <= nbytes <= _MAX_KEY_BYTES:
        raise ValidationError(f"must be {_MIN_KEY_BYTES} to {_MAX_KEY_BYTES}", field="nbytes")
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(nbytes)).decode("ascii")


def _key_of(secret: object, field: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret; a ValidationError that never quotes it."""
    if not isinstance(secret, str):
        raise ValidationError(
            f"a webhook secret must be a string, got {type(secret).__name__}", field=field
        )
    if not secret.startswith(SECRET_PREFIX):
        raise ValidationError(
            "a webhook secret starts with 'whsec_' (copy it whole from where it was created)",
            field=field,
        )
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(
            "a webhook secret is 'whsec_' followed by base64; this one is not valid base64",
            field=field,
        ) from None
    if not _MIN_KEY_BYTES <= len(key) <= _MAX_KEY_BYTES:
        raise ValidationError(
            f"a webhook secret encodes {_MIN_KEY_BYTES} to {_MAX_KEY_BYTES} bytes; "
            f"this one encodes {len(key)}",
            field=field,
        )
    return key


def _header(headers: Mapping[str, str] | Iterable[tuple[str, str]], name: str) -> str | None:
    """The value of header ``name`` (lower case), whatever the case of the keys.

    Takes any mapping (aiohttp's, Starlette's, Django's and ``email.message``'s
    headers look names up case-insensitively themselves), anything with
    ``items()`` (werkzeug's), or an iterable of ``(name, value)`` pairs (ASGI's bytes).
    """
    getter = getattr(headers, "get", None)
    if callable(getter):
        value = getter(name)
        if value is not None:
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    items_of = getattr(headers, "items", None)
    items: Iterable[tuple[Any, Any]] = (
        items_of() if callable(items_of) else headers  # type: ignore[assignment]
    )
    for key, value in items:
        key_text = key.decode("latin-1") if isinstance(key, bytes) else str(key)
        if key_text.lower() == name:
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return None


@attrs.frozen(kw_only=True)
class WebhookEvent:
    """A verified event (SPEC §5).

    - ``id``: the ``webhook-id``, the same on every attempt: the key to deduplicate on.
    - ``type``: ``message.<status>``, or a type this SDK does not know yet.
    - ``created_at``: when the event happened (aware); order by it (or by the lifecycle),
      never by arrival.
    - ``data``: the message as its API returned it at that moment, structured leniently
      (unknown fields ignored); ``None`` only for an event type other than ``message.*``
      whose data is not a message.
    - ``raw``: the whole event as parsed JSON; ``timestamp``: this attempt's time (Unix
      seconds); ``body``: the exact bytes that were signed (to store or pass on).
    """

    id: str
    type: str
    created_at: datetime
    data: Message | None
    raw: dict[str, Any] = attrs.field(repr=False)
    timestamp: int
    body: bytes = attrs.field(repr=False, default=b"")


class Webhook:
    """Verify (and, for tests and local tools, sign) webhook deliveries.

    Example::

        from pulse_async.webhooks import Webhook, WebhookVerificationError

        webhook = Webhook(os.environ["PULSE_WEBHOOK_SECRET"])
        try:
            event = webhook.verify(request_body_bytes, request_headers)
        except WebhookVerificationError:
            return 400
        print(event.type, event.data.status)

    ``secret`` is one ``whsec_…`` secret, or several while a secret is being
    rotated (a delivery signed with any of them passes). ``tolerance`` is how
    many seconds a delivery's timestamp may be away from this machine's clock,
    either way. ``_clock`` (Unix seconds) is for tests.
    """

    __slots__ = ("_clock", "_keys", "_tolerance")

    def __init__(
        self,
        secret: str | Iterable[str],
        *,
        tolerance: float = DEFAULT_TOLERANCE,
        _clock: Callable[[], float] = time.time,
    ) -> None:
        given = [secret] if isinstance(secret, str) else list(secret)
        if not given:
            raise ValidationError("give at least one webhook secret", field="secret")
        self._keys = tuple(_key_of(item, "secret") for item in given)
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float):
            raise ValidationError("must be a number of seconds", field="tolerance")
        if not 0 <= tolerance < float("inf"):
            raise ValidationError("must be a non-negative number of seconds", field="tolerance")
        self._tolerance = tolerance
        self._clock = _clock

    def __repr__(self) -> str:
        return f"Webhook(secrets={len(self._keys)}, tolerance={self._tolerance:g})"

    @property
    def tolerance(self) -> float:
        """Seconds a timestamp may be away from this machine's clock."""
        return self._tolerance

    # --- signing -------------------------------------------------------------------------

    def sign(
        self,
        body: bytes | str,
        *,
        webhook_id: str,
        timestamp: int | datetime | None = None,
    ) -> dict[str, str]:
        """The three headers of a delivery of ``body``: one ``v1`` entry per secret.

        ``timestamp`` defaults to now (an ``int`` of Unix seconds, or an aware
        ``datetime``). For tests and local tools: only the sender holds the
        secret in production.
        """
        if not isinstance(webhook_id, str) or not webhook_id:
            raise ValidationError("must be a non-empty string", field="webhook_id")
        if any(ch.isspace() or ch == "." for ch in webhook_id):
            raise ValidationError("must not contain spaces or dots", field="webhook_id")
        payload = body.encode("utf-8") if isinstance(body, str) else body
        if not isinstance(payload, bytes | bytearray):
            raise ValidationError("must be bytes or str", field="body")
        if timestamp is None:
            seconds = int(self._clock())
        elif isinstance(timestamp, datetime):
            if timestamp.tzinfo is None:
                raise ValidationError("must be an aware datetime", field="timestamp")
            seconds = int(timestamp.timestamp())
        elif isinstance(timestamp, int) and not isinstance(timestamp, bool) and timestamp >= 0:
            seconds = timestamp
        else:
            raise ValidationError(
                "must be Unix seconds (int), an aware datetime or None", field="timestamp"
            )
        signatures = " ".join(
            "v1," + base64.b64encode(_digest(key, webhook_id, seconds, payload)).decode("ascii")
            for key in self._keys
        )
        return {
            HEADER_ID: webhook_id,
            HEADER_TIMESTAMP: str(seconds),
            HEADER_SIGNATURE: signatures,
        }

    # --- verifying -----------------------------------------------------------------------

    def verify(
        self, body: bytes, headers: Mapping[str, str] | Iterable[tuple[str, str]]
    ) -> WebhookEvent:
        """Check a delivery and return its event; raise if it must not be trusted.

        ``body`` is the raw request body, exactly as received (bytes: not
        re-serialized JSON). ``headers`` is any mapping of header names to values
        (names in any case), or a list of ``(name, value)`` pairs as ASGI gives
        them. Raises :class:`~pulse_async.errors.WebhookVerificationError` with a
        ``reason`` from :data:`REFUSAL_REASONS`.
        """
        event_id, timestamp = self._check(body, headers)
        return _parse_event(bytes(body), event_id, timestamp)

    def verify_signature(
        self, body: bytes, headers: Mapping[str, str] | Iterable[tuple[str, str]]
    ) -> int:
        """Check only the headers and signature (any body); the delivery's timestamp."""
        return self._check(body, headers)[1]

    def _check(
        self, body: bytes, headers: Mapping[str, str] | Iterable[tuple[str, str]]
    ) -> tuple[str, int]:
        if not isinstance(body, bytes | bytearray | memoryview):
            raise TypeError(
                "verify() needs the raw request body as bytes, exactly as received "
                f"(got {type(body).__name__}); parsed and re-serialized JSON never matches"
            )
        event_id = (_header(headers, HEADER_ID) or "").strip()
        if not event_id:
            raise WebhookVerificationError("the webhook-id header is missing", reason="missing_id")
        raw_timestamp = _header(headers, HEADER_TIMESTAMP)
        if raw_timestamp is None:
            raise WebhookVerificationError(
                "the webhook-timestamp header is missing", reason="missing_timestamp"
            )
        raw_signatures = _header(headers, HEADER_SIGNATURE)
        if raw_signatures is None:
            raise WebhookVerificationError(
                "the webhook-signature header is missing", reason="missing_signature"
            )
        timestamp = self._check_timestamp(raw_timestamp.strip())
        candidates = _v1_signatures(raw_signatures)
        if not candidates:
            raise WebhookVerificationError(
                "the webhook-signature header holds no v1 signature", reason="no_v1_signature"
            )
        payload = bytes(body)
        matched = False
        for key in self._keys:
            expected = _digest(key, event_id, timestamp, payload)
            for candidate in candidates:
                # No early exit: the time taken does not depend on which entry matched.
                matched |= hmac.compare_digest(expected, candidate)
        if not matched:
            raise WebhookVerificationError(
                "no signature matches this endpoint's secret(s)", reason="signature_mismatch"
            )
        return event_id, timestamp

    def _check_timestamp(self, text: str) -> int:
        if not _TIMESTAMP.fullmatch(text):
            raise WebhookVerificationError(
                "webhook-timestamp is not Unix seconds", reason="malformed_timestamp"
            )
        timestamp = int(text)
        now = self._clock()
        if now - timestamp > self._tolerance:
            raise WebhookVerificationError(
                f"webhook-timestamp is {now - timestamp:.0f}s old, more than the "
                f"{self._tolerance:g}s tolerance",
                reason="timestamp_too_old",
            )
        if timestamp - now > self._tolerance:
            raise WebhookVerificationError(
                f"webhook-timestamp is {timestamp - now:.0f}s in the future, more than the "
                f"{self._tolerance:g}s tolerance",
                reason="timestamp_too_new",
            )
        return timestamp


def _digest(key: bytes, event_id: str, timestamp: int, body: bytes) -> bytes:
    # hmac.digest: OpenSSL's one-shot HMAC, without building an HMAC object per call.
    return hmac.digest(key, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256)


def _v1_signatures(header: str) -> list[bytes]:
    """The decoded ``v1`` entries of a ``webhook-signature`` header (the rest ignored)."""
    found = []
    for entry in header.split():
        version, _, encoded = entry.partition(",")
        if version != "v1" or not encoded:
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


_structure_message = converter.get_structure_hook(Message)


def _malformed(what: str) -> WebhookVerificationError:
    return WebhookVerificationError(
        f"the signed body is not an event: {what}", reason="malformed_body"
    )


def _parse_event(body: bytes, event_id: str, timestamp: int) -> WebhookEvent:
    try:
        raw = json.loads(body.decode("utf-8"))  # UTF-8 only (SPEC §5), no encoding sniffing
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _malformed("not UTF-8 JSON") from None
    if not isinstance(raw, dict):
        raise _malformed("not a JSON object")
    event_type = raw.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise _malformed("no 'type' string")
    try:
        created_at = parse_datetime(raw.get("created_at"))
    except (TypeError, ValueError):
        raise _malformed("'created_at' is not an ISO 8601 time") from None
    data = raw.get("data")
    message: Message | None = None
    if isinstance(data, dict):
        try:
            message = _structure_message(data, Message)
        except Exception:  # cattrs raises several types; any of them means "not a message"
            message = None
    if message is None and event_type.startswith("message."):
        raise _malformed(f"a {event_type} event whose 'data' is not a message")
    return WebhookEvent(
        id=event_id,
        type=event_type,
        created_at=created_at,
        data=message,
        raw=raw,
        timestamp=timestamp,
        body=body,
    )
