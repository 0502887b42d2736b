"""Structuring a page of users: the SDK's converter against cattrs' own fastest set-ups.

Each structurer turns one parsed page (``{"data": [100 user objects], ...}``,
as the reference server sends it) into a ``Page[User]``. The worker times
them in-process (``mode: "structure"``); the suite pairs them like any run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from benchmarks._refserver import _user

PAGE_SIZE = 100

Structurer = Callable[[dict[str, Any]], Any]


def pages(users: int) -> list[dict[str, Any]]:
    """The listing as parsed JSON pages of 100, exactly as a client would read them."""
    out = []
    for start in range(0, users, PAGE_SIZE):
        end = min(start + PAGE_SIZE, users)
        page = {
            "data": [_user(i) for i in range(start, end)],
            "next_cursor": f"c{end}" if end < users else None,
            "has_more": end < users,
        }
        out.append(json.loads(json.dumps(page)))
    return out


def _sdk() -> Structurer:
    """The SDK's converter (hand-written hooks), as the pager calls it."""
    from pulse_async._core._converter import converter
    from pulse_async.models import Page, User

    hook = converter.get_structure_hook(Page[User])
    return lambda page: hook(page, Page[User])


def _parse_datetime(value: Any, _type: Any) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _cattrs_gen() -> Structurer:
    """cattrs' generated hooks with detailed validation off (its fastest plain set-up)."""
    import cattrs
    from cattrs.gen import make_dict_structure_fn

    from pulse_async.models import Page, User

    conv = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)
    conv.register_structure_hook(datetime, _parse_datetime)
    conv.register_structure_hook(
        User, make_dict_structure_fn(User, conv, _cattrs_detailed_validation=False)
    )
    hook = conv.get_structure_hook(Page[User])
    return lambda page: hook(page, Page[User])


def _cattrs_preconf() -> Structurer:
    """cattrs' preconfigured JSON converter (``cattrs.preconf.json``), no detailed validation."""
    from cattrs.preconf.json import make_converter

    from pulse_async.models import Page, User

    conv = make_converter(detailed_validation=False)
    conv.register_structure_hook(datetime, _parse_datetime)
    hook = conv.get_structure_hook(Page[User])
    return lambda page: hook(page, Page[User])


STRUCTURERS: dict[str, Callable[[], Structurer]] = {
    "sdk": _sdk,
    "cattrs-gen": _cattrs_gen,
    "cattrs-preconf": _cattrs_preconf,
}
