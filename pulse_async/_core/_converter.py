"""The one cattrs converter pulse-sdk owns (never the global one).

Times become aware ``datetime`` objects (UTC when the server omits the
offset). Strings, integers and booleans are checked, not coerced: a response
of the wrong shape is an error, never a silently wrong model.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import cattrs
from cattrs.gen import make_dict_structure_fn, override

from pulse_async.models import Message

__all__ = ["converter", "format_datetime", "parse_datetime"]


def parse_datetime(value: Any, _type: Any = None) -> datetime:
    """Parse an ISO 8601 / RFC 3339 time into an aware ``datetime``."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value)
    else:
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def format_datetime(value: datetime) -> str:
    """Format an aware ``datetime`` the way the API writes times: UTC with ``Z``."""
    utc = value.astimezone(UTC)
    text = utc.isoformat(timespec="microseconds" if utc.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def _structure_str(value: Any, _type: Any) -> str:
    # cattrs would call str() on anything; an object where a string belongs is
    # a malformed response, not something to paper over.
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_int(value: Any, _type: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _structure_bool(value: Any, _type: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected a boolean, got {type(value).__name__}")
    return value


def _make_converter() -> cattrs.Converter:
    # detailed_validation=False: a malformed response becomes one APIConnectionError either
    # way, and cattrs' per-field error groups cost a third of the time of a 100-user page.
    conv = cattrs.Converter(
        forbid_extra_keys=False, prefer_attrib_converters=False, detailed_validation=False
    )
    conv.register_structure_hook(datetime, parse_datetime)
    conv.register_unstructure_hook(datetime, format_datetime)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(bool, _structure_bool)
    # "from" is a keyword in Python; the model calls it ``from_``.
    conv.register_structure_hook(
        Message, make_dict_structure_fn(Message, conv, from_=override(rename="from"))
    )
    return conv


converter = _make_converter()
