"""Issue 18, item 5: every model serialises (``to_dict``, ``to_json``) and reads back the same.

Properties over generated models: ``to_dict()`` is JSON-ready (``json.dumps`` takes it,
times are ISO 8601 strings in UTC, ``from`` is spelt as on the wire), ``to_json()`` is that
document, and the one converter structures either back into an equal model.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pulse_async._core._converter import converter
from pulse_async.models import Message, MessageReceipt, Page, Thread, User

text = st.text(max_size=20)
maybe_text = st.none() | text
zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
)
times = st.none() | st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=zones
)
counts = st.none() | st.integers(min_value=0, max_value=10**9)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)

users = st.builds(
    User,
    id=text,
    email=text,
    role=text,
    status=text,
    name=maybe_text,
    metadata=st.dictionaries(text, text, max_size=4),
    created_at=times,
    invited_at=times,
    updated_at=times,
    idempotency_key=maybe_text,
)
receipts = st.builds(
    MessageReceipt, message_id=text, status=text, recipient_count=counts, idempotency_key=maybe_text
)
messages = st.builds(
    Message,
    id=text,
    status=text,
    subject=maybe_text,
    created_at=times,
    thread_id=maybe_text,
    recipient_count=counts,
    send_at=times,
    object=maybe_text,
    channel=maybe_text,
    to=maybe_text,
    from_=maybe_text,
    template_id=maybe_text,
    metadata=st.dictionaries(text, json_values, max_size=4),
    idempotency_key=maybe_text,
)
threads = st.builds(
    Thread,
    id=text,
    subject=maybe_text,
    unread_count=st.integers(min_value=0, max_value=10**6),
    last_message_at=times,
)
MODELS = st.one_of(users, receipts, messages, threads)


def _times_are_iso_strings(data: dict[str, Any], model: Any) -> None:
    for name, value in data.items():
        original = getattr(model, "from_" if name == "from" else name)
        if isinstance(original, datetime):
            assert isinstance(value, str)
            assert value.endswith("Z")
            assert datetime.fromisoformat(value) == original


@given(MODELS)
def test_every_model_round_trips_through_dict_and_json(model: Any) -> None:
    data = model.to_dict()
    document = model.to_json()
    assert json.loads(document) == data
    assert json.loads(json.dumps(data)) == data  # JSON-ready: nothing but JSON types
    _times_are_iso_strings(data, model)
    assert converter.structure(data, type(model)) == model
    assert converter.structure(json.loads(document), type(model)) == model


@given(messages)
def test_from_is_spelt_as_on_the_wire(message: Message) -> None:
    data = message.to_dict()
    assert "from" in data
    assert "from_" not in data
    assert data["from"] == message.from_


@given(st.lists(users, max_size=3), maybe_text, st.booleans())
def test_pages_round_trip(items: list[User], cursor: str | None, has_more: bool) -> None:
    page = Page(data=items, next_cursor=cursor, has_more=has_more)
    assert converter.structure(json.loads(page.to_json()), Page[User]) == page


@given(st.lists(messages, max_size=3))
def test_pages_of_messages_spell_from_on_the_wire(items: list[Message]) -> None:
    page = Page(data=items)
    data = page.to_dict()
    assert all("from" in item and "from_" not in item for item in data["data"])
    assert converter.structure(data, Page[Message]) == page


def test_to_json_indents_and_keeps_unicode() -> None:
    user = User(id="usr_1", email="zoë@example.com", role="admin", status="active")
    assert "zoë" in user.to_json()
    assert user.to_json(indent=2).startswith('{\n  "id": "usr_1"')
