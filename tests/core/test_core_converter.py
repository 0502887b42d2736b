"""The cattrs converter and the models: aware times, tolerance, strictness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from pulse_async._core._converter import converter, format_datetime, parse_datetime
from pulse_async.models import (
    FINAL_STATUSES,
    Message,
    MessageReceipt,
    MessageStatus,
    Page,
    Role,
    Thread,
    User,
)

USER: dict[str, Any] = {
    "id": "usr_1",
    "email": "ada@example.com",
    "name": "Ada",
    "role": "editor",
    "status": "pending",
    "metadata": {"team": "ops"},
    "created_at": "2024-11-14T09:00:00Z",
    "invited_at": "2024-11-14T09:00:00.123456+00:00",
}

PW_MESSAGE: dict[str, Any] = {
    "id": "msg_1",
    "object": "message",
    "channel": "sms",
    "status": "queued",
    "to": "+14155550123",
    "from": "Pulse",
    "subject": None,
    "template_id": None,
    "metadata": {"order": 12, "tags": ["a"]},
    "created_at": "2024-11-14T09:00:00Z",
}

#: What the converter raises for a malformed document (without cattrs' detailed validation,
#: the plain exception of the first field that failed); decipher turns each into an
#: APIConnectionError.
STRUCTURE_ERRORS = (TypeError, ValueError, KeyError, AttributeError)


def test_user_structured_with_aware_times() -> None:
    user = converter.structure(USER, User)
    assert user.created_at == datetime(2024, 11, 14, 9, tzinfo=UTC)
    assert user.invited_at == datetime(2024, 11, 14, 9, 0, 0, 123456, tzinfo=UTC)
    assert user.updated_at is None
    assert user.role == Role.EDITOR
    assert user.metadata == {"team": "ops"}


def test_offsets_are_kept_and_naive_times_become_utc() -> None:
    user = converter.structure(
        {**USER, "created_at": "2024-11-14T10:00:00+01:00", "updated_at": "2024-11-14T09:00:00"},
        User,
    )
    assert user.created_at == datetime(2024, 11, 14, 9, tzinfo=UTC)
    assert user.created_at is not None
    assert user.created_at.utcoffset() == timedelta(hours=1)
    assert user.updated_at == datetime(2024, 11, 14, 9, tzinfo=UTC)
    assert user.updated_at is not None
    assert user.updated_at.tzinfo is UTC


def test_unknown_fields_are_ignored() -> None:
    user = converter.structure({**USER, "avatar_url": "https://x", "flags": {"beta": True}}, User)
    assert user.id == "usr_1"


def test_unknown_enum_values_are_kept() -> None:
    user = converter.structure({**USER, "role": "owner", "status": "suspended"}, User)
    assert (user.role, user.status) == ("owner", "suspended")
    message = converter.structure({**PW_MESSAGE, "channel": "whatsapp", "status": "read"}, Message)
    assert (message.channel, message.status) == ("whatsapp", "read")
    assert message.is_final is False


def test_from_becomes_from_() -> None:
    message = converter.structure(PW_MESSAGE, Message)
    assert message.from_ == "Pulse"
    assert message.metadata == {"order": 12, "tags": ["a"]}
    assert message.subject is None


def test_pulse_v2_message() -> None:
    message = converter.structure(
        {
            "id": "msg_2",
            "status": "delivered",
            "thread_id": "thr_1",
            "subject": "Hi",
            "recipient_count": 3,
            "send_at": None,
            "created_at": "2024-11-14T09:00:00Z",
        },
        Message,
    )
    assert message.thread_id == "thr_1"
    assert message.recipient_count == 3
    assert message.is_final is True
    assert message.from_ is None


@pytest.mark.parametrize("status", sorted(FINAL_STATUSES))
def test_final_statuses(status: str) -> None:
    assert Message(id="msg_1", status=status).is_final
    assert MessageStatus(status) in FINAL_STATUSES


def test_numbers_where_strings_belong_are_accepted_as_text() -> None:
    user = converter.structure({**USER, "name": 42, "metadata": {"n": 7}}, User)
    assert user.name == "42"
    assert user.metadata == {"n": "7"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", None),
        ("id", True),
        ("id", {"x": 1}),
        ("id", ["usr_1"]),
        ("email", 1.5j),
        ("created_at", 1731574800),
        ("created_at", "yesterday"),
        ("created_at", True),
        ("metadata", ["a", "b"]),
        ("metadata", "k=v"),
    ],
)
def test_wrong_types_are_rejected(field: str, value: Any) -> None:
    with pytest.raises(STRUCTURE_ERRORS):
        converter.structure({**USER, field: value}, User)


@pytest.mark.parametrize(
    ("data", "cls"),
    [
        ({"id": "thr_1", "unread_count": "3"}, Thread),
        ({"id": "thr_1", "unread_count": True}, Thread),
        ({"id": "thr_1", "unread_count": 1.0}, Thread),
        ({"message_id": "msg_1", "status": "queued", "recipient_count": "2"}, MessageReceipt),
        ({"data": [], "has_more": "false"}, Page[Thread]),
        ({"data": [], "has_more": 0}, Page[Thread]),
        ({"data": {"id": "thr_1"}, "has_more": False}, Page[Thread]),
    ],
)
def test_integers_and_booleans_are_not_coerced(data: dict[str, Any], cls: Any) -> None:
    with pytest.raises(STRUCTURE_ERRORS):
        converter.structure(data, cls)


def test_missing_required_field_is_rejected() -> None:
    data = dict(USER)
    del data["email"]
    with pytest.raises(STRUCTURE_ERRORS):
        converter.structure(data, User)


def test_thread_page() -> None:
    page = converter.structure(
        {
            "data": [
                {"id": "thr_1", "subject": "Hi", "unread_count": 2, "last_message_at": None},
                {"id": "thr_2", "unread_count": 0, "last_message_at": "2024-11-14T09:00:00Z"},
            ],
            "has_more": True,
            "next_cursor": "c2",
        },
        Page[Thread],
    )
    assert [t.id for t in page.data] == ["thr_1", "thr_2"]
    assert page.data[1].last_message_at == datetime(2024, 11, 14, 9, tzinfo=UTC)
    assert page.data[1].subject is None
    assert (page.has_more, page.next_cursor) == (True, "c2")


def test_parse_datetime_accepts_datetimes_and_refuses_others() -> None:
    aware = datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=-5)))
    assert parse_datetime(aware) is aware
    assert parse_datetime(datetime(2024, 1, 1)).tzinfo is UTC
    with pytest.raises(TypeError):
        parse_datetime(12)
    with pytest.raises(ValueError, match="Invalid isoformat"):
        parse_datetime("nope")


def test_format_datetime_is_utc_with_z() -> None:
    paris = timezone(timedelta(hours=1))
    assert format_datetime(datetime(2024, 11, 14, 10, tzinfo=paris)) == "2024-11-14T09:00:00Z"
    assert format_datetime(datetime(2024, 11, 14, 9, 0, 0, 5, tzinfo=UTC)) == (
        "2024-11-14T09:00:00.000005Z"
    )


def test_models_are_frozen_and_keyword_only() -> None:
    user = converter.structure(USER, User)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        user.email = "other@example.com"  # type: ignore[misc]
    with pytest.raises(TypeError):
        User("usr_1", "a@b.co", "admin", "active")  # type: ignore[misc]
