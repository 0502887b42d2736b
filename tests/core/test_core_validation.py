"""Client-side validation: every rule of SPEC §1–3, and the field each error names."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse_async._core import _validation as v
from pulse_async.errors import PulseError, ValidationError

NOW = datetime(2025, 1, 15, 12, 0, 0, tzinfo=UTC)


def field_of(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> str | None:
    """Call ``fn``, expect a client-side ValidationError, return the field it names."""
    with pytest.raises(ValidationError) as info:
        fn(*args, **kwargs)
    error = info.value
    assert error.status is None  # raised before sending: nothing came from a server
    assert isinstance(error, ValueError)
    assert isinstance(error, PulseError)
    return error.field


# --- §1 strings, headers, idempotency keys ----------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["a\rb", "a\nb", "a\x00b", "\r\n", "x\n", "\x01", "esc\x1b[0m", "del\x7f", "\x0b"]
)
def test_header_values_refuse_cr_lf_nul_and_other_controls(bad: str) -> None:
    assert field_of(v.check_header_value, bad, "thing") == "thing"


def test_header_values_accept_ordinary_text() -> None:
    assert v.check_header_value("Bearer pw_live_abc", "x") == "Bearer pw_live_abc"
    assert v.check_header_value("tab\tis allowed, and so is é", "x")


@pytest.mark.parametrize("key", ["k", "a" * 255, "order-1234:retry", " ~!", "x" * 100])
def test_idempotency_key_accepts_1_to_255_printable_ascii(key: str) -> None:
    assert v.check_idempotency_key(key) == key


@pytest.mark.parametrize(
    "key",
    ["", "a" * 256, "tab\there", "del\x7f", "é", "emoji🙂", "a\rb", "a\nb", "nul\x00", "key\n"],
)
def test_idempotency_key_refuses_empty_long_and_non_printable(key: str) -> None:
    assert field_of(v.check_idempotency_key, key) == "idempotency_key"


def test_idempotency_key_must_be_a_string() -> None:
    assert field_of(v.check_idempotency_key, 123) == "idempotency_key"


@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
def test_required_strings_are_non_empty(value: str) -> None:
    assert field_of(v.check_string, value, "subject") == "subject"


def test_strings_must_be_strings() -> None:
    assert field_of(v.check_string, 5, "subject") == "subject"
    assert field_of(v.check_string, None, "subject") == "subject"


@pytest.mark.parametrize("value", ["usr_1", "usr 1", "msg_01HX9", "é"])
def test_path_ids_accept_plain_ids(value: str) -> None:
    assert v.check_path_id(value, "user_id") == value


@pytest.mark.parametrize(
    "value", ["", " ", "a/b", "/", ".", "..", "usr_1\n", "usr\x00", "usr\x7f", " usr_1", "usr_1 "]
)
def test_path_ids_refuse_what_would_change_the_url(value: str) -> None:
    assert field_of(v.check_path_id, value, "user_id") == "user_id"


# --- §2 users ---------------------------------------------------------------------------------


def test_create_user_minimal_is_valid() -> None:
    v.validate_create_user(email="ada@example.com", role="admin")


@pytest.mark.parametrize("role", ["admin", "editor", "viewer"])
def test_create_user_roles(role: str) -> None:
    v.validate_create_user(email="ada@example.com", role=role)


@pytest.mark.parametrize("role", ["owner", "", "ADMIN", None, 1])
def test_create_user_unknown_role(role: Any) -> None:
    assert field_of(v.validate_create_user, email="ada@example.com", role=role) == "role"


@pytest.mark.parametrize(
    "email",
    [
        "",
        "ada",
        "ada@",
        "@example.com",
        "ada@example",
        "ada@@example.com",
        "ada example@x.com",
        "ada@example.com\n",
        "ada@-example.com",
        "a" * 250 + "@x.com",
        None,
        42,
    ],
)
def test_create_user_invalid_email(email: Any) -> None:
    assert field_of(v.validate_create_user, email=email, role="viewer") == "email"


def test_email_of_254_characters_is_the_longest_accepted() -> None:
    local = "a" * (254 - len("@example.com"))
    v.check_email(local + "@example.com", "email")
    assert field_of(v.check_email, "a" + local + "@example.com", "email") == "email"


def test_name_of_120_characters_is_accepted_121_refused() -> None:
    v.validate_create_user(email="ada@example.com", role="viewer", name="n" * 120)
    v.validate_update_user(name="n" * 120)
    assert (
        field_of(v.validate_create_user, email="ada@example.com", role="viewer", name="n" * 121)
        == "name"
    )
    assert field_of(v.validate_update_user, name="n" * 121) == "name"


def test_name_given_must_not_be_empty() -> None:
    assert field_of(v.validate_create_user, email="a@b.co", role="viewer", name="") == "name"


def test_metadata_of_50_keys_is_accepted_51_refused() -> None:
    fifty = {f"k{i}": "v" for i in range(50)}
    v.validate_create_user(email="ada@example.com", role="viewer", metadata=fifty)
    fifty_one = {**fifty, "k50": "v"}
    assert (
        field_of(v.validate_create_user, email="ada@example.com", role="viewer", metadata=fifty_one)
        == "metadata"
    )
    assert field_of(v.validate_update_user, metadata=fifty_one) == "metadata"


@pytest.mark.parametrize(
    "metadata",
    [
        {"k": 1},
        {"k": None},
        {"k": {"nested": "no"}},
        {"k": ["a"]},
        {1: "v"},
        {"": "v"},
        {"k" * 41: "v"},
        {"k": "v" * 501},
        ["k", "v"],
        "k=v",
    ],
)
def test_create_user_metadata_is_flat_string_to_string(metadata: Any) -> None:
    assert (
        field_of(v.validate_create_user, email="a@b.co", role="viewer", metadata=metadata)
        == "metadata"
    )


def test_metadata_key_and_value_limits_at_the_boundary() -> None:
    v.check_metadata({"k" * 40: "v" * 500})


def test_update_metadata_may_remove_keys_with_null() -> None:
    v.validate_update_user(metadata={"team": "ops", "old": None})
    # Nulls remove keys, so they do not count towards the 50.
    v.validate_update_user(metadata={**{f"k{i}": "v" for i in range(50)}, "gone": None})


def test_update_user_every_field_optional() -> None:
    v.validate_update_user()
    assert field_of(v.validate_update_user, role="root") == "role"


@pytest.mark.parametrize("limit", [1, 20, 100])
def test_list_users_limit_in_range(limit: int) -> None:
    v.validate_list_users(limit=limit)


@pytest.mark.parametrize("limit", [0, 101, -1, True, 1.5, "10"])
def test_list_users_limit_out_of_range(limit: Any) -> None:
    assert field_of(v.validate_list_users, limit=limit) == "limit"


@pytest.mark.parametrize("limit", [1, 50])
def test_list_threads_limit_in_range(limit: int) -> None:
    v.validate_list_threads(limit=limit)


@pytest.mark.parametrize("limit", [0, 51])
def test_list_threads_limit_out_of_range(limit: int) -> None:
    assert field_of(v.validate_list_threads, limit=limit) == "limit"


def test_list_users_status_and_q() -> None:
    v.validate_list_users(status="pending", q="ada", cursor="c1")
    assert field_of(v.validate_list_users, status="gone") == "status"
    assert field_of(v.validate_list_users, q="") == "q"
    assert field_of(v.validate_list_users, cursor="") == "cursor"


def test_list_threads_unread_is_a_real_boolean() -> None:
    v.validate_list_threads(unread=True, cursor="c")
    v.validate_list_threads(unread=False)
    assert field_of(v.validate_list_threads, unread="true") == "unread"
    assert field_of(v.validate_list_threads, unread=1) == "unread"
    assert field_of(v.validate_list_threads, cursor="") == "cursor"


# --- §2 POST /messages ------------------------------------------------------------------------


def send(**overrides: Any) -> datetime | None:
    args: dict[str, Any] = {"to": ["usr_1"], "subject": "Hi", "body": "Hello", "now": NOW}
    args.update(overrides)
    return v.validate_send_message(**args)


def send_field(**overrides: Any) -> str | None:
    return field_of(send, **overrides)


def test_send_message_minimal_is_valid() -> None:
    assert send() is None


def test_to_has_1_to_50_entries() -> None:
    send(to=["usr_1"])
    send(to=[f"usr_{i}" for i in range(50)])
    send(to=("usr_1", "ada@example.com"))
    assert send_field(to=[]) == "to"
    assert send_field(to=[f"usr_{i}" for i in range(51)]) == "to"


@pytest.mark.parametrize(
    "to", ["usr_1", None, [""], ["not-an-email"], ["usr_a/b"], [5], ["ada@example.com\n"]]
)
def test_to_entries_are_user_ids_or_emails(to: Any) -> None:
    assert send_field(to=to) == "to"


def test_to_mixes_user_ids_and_emails() -> None:
    send(to=["usr_1", "ada@example.com", "usr_2"])


def test_subject_255_accepted_256_refused() -> None:
    send(subject="s" * 255)
    assert send_field(subject="s" * 256) == "subject"
    assert send_field(subject="") == "subject"
    assert send_field(subject=None) == "subject"


def test_body_10000_accepted_10001_refused() -> None:
    send(body="b" * 10_000)
    assert send_field(body="b" * 10_001) == "body"
    assert send_field(body="") == "body"


def test_thread_id_when_given_is_a_path_id() -> None:
    send(thread_id="thr_1")
    assert send_field(thread_id="") == "thread_id"
    assert send_field(thread_id="thr/1") == "thread_id"


def test_send_at_aware_datetime_in_range_is_normalised_to_utc() -> None:
    paris = timezone(timedelta(hours=1))
    when = datetime(2025, 1, 16, 13, 0, tzinfo=paris)
    result = send(send_at=when)
    assert result == datetime(2025, 1, 16, 12, 0, tzinfo=UTC)
    assert result is not None
    assert result.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-16T09:00:00Z", datetime(2025, 1, 16, 9, tzinfo=UTC)),
        ("2025-01-16T09:00:00+02:00", datetime(2025, 1, 16, 7, tzinfo=UTC)),
        ("2025-01-16T09:00:00.250-05:00", datetime(2025, 1, 16, 14, 0, 0, 250_000, tzinfo=UTC)),
    ],
)
def test_send_at_iso_strings_with_z_or_offset(text: str, expected: datetime) -> None:
    assert send(send_at=text) == expected


def test_send_at_exactly_30_days_ahead_is_accepted() -> None:
    send(send_at=NOW + timedelta(days=30))
    assert send_field(send_at=NOW + timedelta(days=30, seconds=1)) == "send_at"
    assert send_field(send_at=NOW + timedelta(days=31)) == "send_at"


@pytest.mark.parametrize(
    "send_at",
    [
        datetime(2025, 1, 16, 9, 0),  # naive
        "2025-01-16T09:00:00",  # naive string
        "2025-01-16",  # a date: midnight of which zone?
        NOW,  # not in the future
        NOW - timedelta(seconds=1),
        "2020-01-01T00:00:00Z",
        "tomorrow",
        "",
        1736942400,
        datetime(2025, 1, 16).date(),
    ],
)
def test_send_at_refused(send_at: Any) -> None:
    assert send_field(send_at=send_at) == "send_at"


def test_send_at_defaults_to_the_real_clock() -> None:
    # Without ``now`` the current time is used: a date in 2000 is always past.
    with pytest.raises(ValidationError) as info:
        v.validate_send_message(to=["usr_1"], subject="s", body="b", send_at="2000-01-01T00:00:00Z")
    assert info.value.field == "send_at"
    soon = datetime.now(UTC) + timedelta(hours=1)
    assert v.validate_send_message(to=["usr_1"], subject="s", body="b", send_at=soon) == soon


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.text(max_size=40), st.datetimes(timezones=st.timezones())))
def test_send_at_never_raises_anything_but_validation_error(value: Any) -> None:
    try:
        result = v.check_send_at(value, NOW)
    except ValidationError as exc:
        field = exc.field
    else:
        assert NOW < result <= NOW + timedelta(days=30)
        assert result.tzinfo is UTC
        return
    assert field == "send_at"


# --- §3 Pulsewave POST /messages --------------------------------------------------------------

EMAIL = {"channel": "email", "to": "ada@example.com", "from_": "news@pulse.io", "subject": "Hi"}
SMS = {"channel": "sms", "to": "+14155550123", "from_": "+14155550100", "text": "code 1234"}
PUSH = {"channel": "push", "to": "device-token-abc", "from_": "app_123", "text": "ping"}


def create(base: dict[str, Any], **overrides: Any) -> None:
    v.validate_create_message(**{**base, **overrides})


def create_field(base: dict[str, Any], **overrides: Any) -> str | None:
    return field_of(create, base, **overrides)


@pytest.mark.parametrize("base", [EMAIL, SMS, PUSH])
def test_create_message_valid_per_channel(base: dict[str, Any]) -> None:
    create(base)


@pytest.mark.parametrize("channel", ["fax", "", None, "EMAIL"])
def test_create_message_unknown_channel(channel: Any) -> None:
    assert create_field(EMAIL, channel=channel) == "channel"


def test_email_channel_addresses() -> None:
    assert create_field(EMAIL, to="+14155550123") == "to"
    assert create_field(EMAIL, to="usr_1") == "to"
    assert create_field(EMAIL, from_="Pulse") == "from"
    assert create_field(EMAIL, from_=None) == "from"


@pytest.mark.parametrize("to", ["+14155550123", "+1234", "+123456789012345"])
def test_sms_to_e164(to: str) -> None:
    create(SMS, to=to)


@pytest.mark.parametrize(
    "to", ["14155550123", "+0123", "+1", "+1234567890123456", "+1 415 555", "+14155550123\n", ""]
)
def test_sms_to_not_e164(to: str) -> None:
    assert create_field(SMS, to=to) == "to"


@pytest.mark.parametrize("sender", ["+14155550100", "Pulse", "PULSE 2FA", "A", "Abcdefghijk"])
def test_sms_from_e164_or_sender_id(sender: str) -> None:
    create(SMS, from_=sender)


@pytest.mark.parametrize(
    "sender", ["Abcdefghijkl", "12345", "Pulse!", "Pulse\n", "", "ada@example.com", None]
)
def test_sms_from_refused(sender: Any) -> None:
    assert create_field(SMS, from_=sender) == "from"


def test_push_to_and_from_required() -> None:
    assert create_field(PUSH, to="") == "to"
    assert create_field(PUSH, to="tok\r\nX-Evil: 1") == "to"
    assert create_field(PUSH, from_="") == "from"


def test_subject_required_for_email_unless_template() -> None:
    assert create_field(EMAIL, subject=None) == "subject"
    create(EMAIL, subject=None, template_id="tmpl_1")
    create(EMAIL, subject="s" * 255)
    assert create_field(EMAIL, subject="s" * 256) == "subject"


@pytest.mark.parametrize("base", [SMS, PUSH])
def test_text_required_for_sms_and_push_unless_template(base: dict[str, Any]) -> None:
    assert create_field(base, text=None) == "text"
    assert create_field(base, text="") == "text"
    create(base, text=None, template_id="tmpl_1", template_data={"code": 1234})


def test_text_optional_on_email() -> None:
    create(EMAIL, text="plain fallback")


def test_html_only_on_email() -> None:
    create(EMAIL, html="<p>Hi</p>")
    assert create_field(SMS, html="<p>Hi</p>") == "html"
    assert create_field(PUSH, html="<p>Hi</p>") == "html"
    assert create_field(EMAIL, html="") == "html"


def test_template_id_is_a_path_id() -> None:
    assert create_field(EMAIL, template_id="") == "template_id"
    assert create_field(EMAIL, template_id="tmpl/../x") == "template_id"


@pytest.mark.parametrize("name", ["template_data", "metadata"])
def test_template_data_and_metadata_are_json_objects(name: str) -> None:
    create(EMAIL, **{name: {"a": [1, 2.5, None, True], "b": {"c": "d"}}})
    assert create_field(EMAIL, **{name: ["not", "an", "object"]}) == name
    assert create_field(EMAIL, **{name: {"when": NOW}}) == name
    assert create_field(EMAIL, **{name: {"x": float("nan")}}) == name


def test_json_object_refuses_cycles() -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    assert create_field(EMAIL, metadata=cyclic) == "metadata"


@settings(max_examples=80, deadline=None)
@given(
    channel=st.sampled_from(["email", "sms", "push", "fax"]),
    to=st.text(max_size=20),
    from_=st.text(max_size=20),
    subject=st.none() | st.text(max_size=10),
    text=st.none() | st.text(max_size=10),
    html=st.none() | st.text(max_size=10),
    template_id=st.none() | st.text(max_size=10),
)
def test_create_message_raises_only_validation_errors(**kwargs: Any) -> None:
    try:
        v.validate_create_message(**kwargs)
    except ValidationError as exc:
        field = exc.field
    else:
        return
    assert field in {"channel", "to", "from", "subject", "text", "html", "template_id"}


@pytest.mark.parametrize("bad", ["soon", "5", None, True, 0, -1, float("nan"), float("inf")])
def test_check_seconds_refuses_what_is_not_a_positive_finite_number(bad: object) -> None:
    """One rule for every "number of seconds" argument (wait, Timeout, webhook stores)."""
    with pytest.raises(ValidationError) as info:
        v.check_seconds(bad, "timeout")
    assert info.value.field == "timeout"


@pytest.mark.parametrize("good", [1, 0.05, 2.5e6])
def test_check_seconds_accepts_ints_and_floats(good: float) -> None:
    assert v.check_seconds(good, "timeout") == good


def test_a_timeout_that_is_not_a_number_is_a_validation_error() -> None:
    from pulse_async import Timeout

    with pytest.raises(ValidationError) as info:
        Timeout(total="soon")  # type: ignore[arg-type]
    assert info.value.field == "timeout.total"
