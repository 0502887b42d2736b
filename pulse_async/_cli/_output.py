"""What the ``pulse`` command writes: tables, JSON, error lines, progress, redacted logs.

Pure formatting: no client, no network, nothing written but to the stream it
is handed, so it is tested in process without a server.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TextIO

from pulse_async._core._converter import format_datetime

__all__ = [
    "MESSAGE_FIELDS",
    "RECEIPT_FIELDS",
    "THREAD_FIELDS",
    "USER_FIELDS",
    "WAVE_MESSAGE_FIELDS",
    "Progress",
    "RedactingFilter",
    "format_error",
    "make_progress",
    "print_json",
    "print_record",
    "print_table",
    "redact",
    "to_json",
]

#: (JSON name, attribute) of each model the CLI prints, in the API's own order.
USER_FIELDS: tuple[tuple[str, str], ...] = (
    ("id", "id"),
    ("email", "email"),
    ("name", "name"),
    ("role", "role"),
    ("status", "status"),
    ("metadata", "metadata"),
    ("created_at", "created_at"),
    ("invited_at", "invited_at"),
    ("updated_at", "updated_at"),
)
MESSAGE_FIELDS: tuple[tuple[str, str], ...] = (
    ("id", "id"),
    ("status", "status"),
    ("thread_id", "thread_id"),
    ("subject", "subject"),
    ("recipient_count", "recipient_count"),
    ("send_at", "send_at"),
    ("created_at", "created_at"),
)
WAVE_MESSAGE_FIELDS: tuple[tuple[str, str], ...] = (
    ("id", "id"),
    ("object", "object"),
    ("channel", "channel"),
    ("status", "status"),
    ("to", "to"),
    ("from", "from_"),
    ("subject", "subject"),
    ("template_id", "template_id"),
    ("metadata", "metadata"),
    ("created_at", "created_at"),
)
THREAD_FIELDS: tuple[tuple[str, str], ...] = (
    ("id", "id"),
    ("subject", "subject"),
    ("unread_count", "unread_count"),
    ("last_message_at", "last_message_at"),
)
RECEIPT_FIELDS: tuple[tuple[str, str], ...] = (
    ("message_id", "message_id"),
    ("status", "status"),
    ("recipient_count", "recipient_count"),
)

# Keys of the documented shape (SPEC §1), whatever process they came from.
_KEY_RE = re.compile(r"pw_(?:live|test)_[A-Za-z0-9_\-]+")
_REDACTED = "pw_***redacted***"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def to_json(obj: Any, fields: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A model as the API's JSON object (plus ``idempotency_key`` when the call sent one)."""
    data = {name: _jsonable(getattr(obj, attr, None)) for name, attr in fields}
    key = getattr(obj, "idempotency_key", None)
    if key is not None:
        data["idempotency_key"] = key
    return data


def print_json(data: Any, out: TextIO) -> None:
    """One JSON document on ``out``."""
    out.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _cell(value: Any, width: int | None = None) -> str:
    if value is None:
        text = "-"
    elif isinstance(value, datetime):
        text = format_datetime(value)
    elif isinstance(value, Mapping):
        text = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    else:
        text = str(value)
    text = " ".join(text.split())  # one line per row, whatever the value holds
    if width is not None and len(text) > width:
        text = text[: width - 1] + "…"
    return text


def print_table(
    rows: Iterable[Any],
    columns: Sequence[tuple[str, str]],
    out: TextIO,
    *,
    empty: str,
    max_width: int = 48,
) -> None:
    """Rows of models as an aligned table with a header (``empty`` when there are none)."""
    cells = [[_cell(getattr(row, attr, None), max_width) for _, attr in columns] for row in rows]
    if not cells:
        out.write(empty + "\n")
        return
    header = [name.upper().replace("_", " ") for name, _ in columns]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    for line in (header, *cells):
        out.write("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() + "\n")


def print_record(obj: Any, fields: Sequence[tuple[str, str]], out: TextIO) -> None:
    """One model as ``name  value`` lines (fields without a value are left out)."""
    pairs = [(name, getattr(obj, attr, None)) for name, attr in fields]
    key = getattr(obj, "idempotency_key", None)
    if key is not None:
        pairs.append(("idempotency_key", key))
    pairs = [(n, v) for n, v in pairs if v is not None and v != {}]
    width = max(len(n) for n, _ in pairs)
    for name, value in pairs:
        out.write(f"{name.ljust(width)}  {_cell(value)}\n")


# --- errors -----------------------------------------------------------------------------------


def format_error(exc: BaseException) -> str:
    """The one-line ``error: …`` for an error of the SDK, naming its code, field and request id.

    ``error: validation_failed (field: email): email is already in use [request_id req_…]``
    """
    message = str(getattr(exc, "message", None) or exc)
    code = getattr(exc, "code", None)
    status = getattr(exc, "status", None)
    field = getattr(exc, "field", None)
    request_id = getattr(exc, "request_id", None)
    name = type(exc).__name__
    if name == "ValidationError" and status is None:
        head = "validation_failed"
        tail = " (checked before sending: nothing was sent)"
    elif code or status is not None:
        head = code or f"HTTP {status}"
        tail = ""
    elif name == "APITimeoutError":
        head, tail = "timeout", ""
    elif name == "APIConnectionError":
        head, tail = "connection_error", ""
    else:
        head, tail = name, ""
    text = f"error: {head}"
    if field:
        text += f" (field: {field})"
    text += f": {message}{tail}"
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        text += f" (retry after {retry_after:g}s)"
    if request_id:
        text += f" [request_id {request_id}]"
    return redact(" ".join(text.split()))


# --- secrets ----------------------------------------------------------------------------------


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known secret, and anything shaped like an API key, blotted out."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    return _KEY_RE.sub(_REDACTED, text)


class RedactingFilter(logging.Filter):
    """Rewrites log records so no API key reaches a handler, even if some code logged one.

    The SDK never logs its key; this is defence in depth for ``--verbose``,
    which turns on DEBUG logging of every request.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self._secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self._secrets)
        return True


# --- progress ---------------------------------------------------------------------------------


class Progress(Protocol):
    """A progress display: ``update`` with the count so far, then ``close``."""

    def update(self, done: int, failed: int = 0) -> None: ...

    def close(self) -> None: ...


class _NoProgress:
    def update(self, done: int, failed: int = 0) -> None:
        pass

    def close(self) -> None:
        pass


class _TqdmProgress:
    def __init__(self, bar: Any) -> None:
        self._bar = bar
        self._done = 0

    def update(self, done: int, failed: int = 0) -> None:
        if done > self._done:
            self._bar.update(done - self._done)
            self._done = done
            if failed:
                self._bar.set_postfix(failed=failed, refresh=False)

    def close(self) -> None:
        self._bar.close()


class _CounterProgress:
    """``sending 412/1000 (failed 3)`` rewritten in place, at most ten times a second."""

    def __init__(self, total: int, description: str, stream: TextIO) -> None:
        self._total = total
        self._description = description
        self._stream = stream
        self._shown = 0.0
        self._last = (0, 0)

    def update(self, done: int, failed: int = 0) -> None:
        self._last = (done, failed)
        now = time.monotonic()
        if done < self._total and now - self._shown < 0.1:
            return
        self._shown = now
        line = f"\r{self._description} {done}/{self._total}"
        if failed:
            line += f" (failed {failed})"
        self._stream.write(line)
        self._stream.flush()

    def close(self) -> None:
        self._stream.write("\n")
        self._stream.flush()


def make_progress(total: int, description: str, stream: TextIO | None = None) -> Progress:
    """A tqdm bar if tqdm is installed, else a counter line; nothing unless on a terminal."""
    stream = sys.stderr if stream is None else stream
    if not stream.isatty():
        return _NoProgress()
    try:
        from tqdm import tqdm
    except ImportError:
        return _CounterProgress(total, description, stream)
    return _TqdmProgress(
        tqdm(total=total, desc=description, unit="msg", file=stream, leave=True, dynamic_ncols=True)
    )
