"""Verification (pure core): every acceptance rule and every refusal reason of SPEC §5."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from webhook_helpers import NOW, OTHER_SECRET, SECRET, event_body

import pulse_async
import pulse_sync.webhooks
from pulse_async.errors import PulseError, ValidationError
from pulse_async.webhooks import (
    REFUSAL_REASONS,
    RETRY_HORIZON,
    Webhook,
    WebhookEvent,
    WebhookVerificationError,
    generate_secret,
)


def webhook(
    secret: str | list[str] = SECRET, *, now: float = NOW, tolerance: float = 300
) -> Webhook:
    return Webhook(secret, tolerance=tolerance, _clock=lambda: now)


def signed(body: bytes = b"", *, secret: str | list[str] = SECRET, event_id: str = "evt_01HX9",
           timestamp: int = NOW) -> tuple[bytes, dict[str, str]]:  # fmt: skip
    body = body or event_body(event_id)
    return body, webhook(secret).sign(body, webhook_id=event_id, timestamp=timestamp)


def refused(body: bytes, headers: object, wh: Webhook | None = None) -> str:
    with pytest.raises(WebhookVerificationError) as info:
        (wh or webhook()).verify(body, headers)  # type: ignore[arg-type]
    return info.value.reason


def test_a_signed_event_verifies_into_a_structured_event() -> None:
    body, headers = signed()
    event = webhook().verify(body, headers)
    assert isinstance(event, WebhookEvent)
    assert event.id == "evt_01HX9"
    assert event.type == "message.delivered"
    assert event.created_at == datetime(2024, 11, 14, 10, 0, 5, tzinfo=UTC)
    assert event.data is not None
    assert (event.data.id, event.data.status, event.data.from_) == (
        "msg_1", "delivered", "news@example.com",
    )  # fmt: skip
    assert event.data.metadata == {"order": "42"}
    assert event.raw["object"] == "event"
    assert event.timestamp == NOW


def test_the_signature_header_has_the_spec_shape() -> None:
    _, headers = signed()
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-timestamp"] == str(NOW)
    version, encoded = headers["webhook-signature"].split(",")
    assert version == "v1"
    assert len(base64.b64decode(encoded, validate=True)) == 32


@pytest.mark.parametrize(
    "transform",
    [
        lambda h: {k.upper(): v for k, v in h.items()},
        lambda h: {k.title(): v for k, v in h.items()},
        lambda h: list(h.items()),
        lambda h: [(k.encode(), v.encode()) for k, v in h.items()],
    ],
    ids=["upper", "title", "pairs", "asgi-bytes"],
)
def test_header_names_are_case_insensitive_in_any_container(transform: object) -> None:
    body, headers = signed()
    assert webhook().verify(body, transform(headers)).id == "evt_01HX9"  # type: ignore[operator]


def test_stdlib_and_multidict_header_objects_work_as_they_come() -> None:
    import email.message

    from multidict import CIMultiDict

    body, headers = signed()
    message = email.message.Message()
    for name, value in headers.items():
        message[name.upper()] = value
    assert webhook().verify(body, message).id == "evt_01HX9"  # type: ignore[arg-type]
    assert webhook().verify(body, CIMultiDict(headers)).id == "evt_01HX9"


def test_unknown_types_and_fields_are_accepted() -> None:
    body = event_body(type="message.opened", extra={"new_field": [1, 2]})
    body, headers = signed(body)
    event = webhook().verify(body, headers)
    assert event.type == "message.opened"
    assert event.raw["new_field"] == [1, 2]
    body, headers = signed(event_body(type="domain.verified", data={"domain": "example.com"}))
    event = webhook().verify(body, headers)
    assert event.data is None
    assert event.raw["data"] == {"domain": "example.com"}


def test_a_pulse_v2_status_object_is_a_message_too() -> None:
    data = {
        "id": "msg_2",
        "status": "sent",
        "thread_id": "thr_1",
        "subject": "S",
        "recipient_count": 3,
        "send_at": None,
        "created_at": "2024-11-14T10:00:00Z",
    }
    body, headers = signed(event_body(type="message.sent", data=data))
    event = webhook().verify(body, headers)
    assert event.data is not None
    assert (event.data.thread_id, event.data.recipient_count) == ("thr_1", 3)


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("drop", "reason"),
    [
        ("webhook-id", "missing_id"),
        ("webhook-timestamp", "missing_timestamp"),
        ("webhook-signature", "missing_signature"),
    ],
)
def test_a_missing_header_is_refused(drop: str, reason: str) -> None:
    body, headers = signed()
    del headers[drop]
    assert refused(body, headers) == reason


def test_an_empty_id_is_refused() -> None:
    body, headers = signed()
    headers["webhook-id"] = "  "
    assert refused(body, headers) == "missing_id"


@pytest.mark.parametrize("value", ["", "abc", "-5", "1.5", "1e9", "0x10", "١٢٣", "99999999999999"])
def test_an_unparsable_timestamp_is_refused(value: str) -> None:
    body, headers = signed()
    headers["webhook-timestamp"] = value
    assert refused(body, headers) == "malformed_timestamp"


def test_the_timestamp_window_holds_both_ways() -> None:
    body = event_body()
    for offset, reason in ((-301, "timestamp_too_old"), (301, "timestamp_too_new")):
        _, headers = signed(body, timestamp=NOW + offset)
        assert refused(body, headers) == reason
    for offset in (-300, 0, 300):
        _, headers = signed(body, timestamp=NOW + offset)
        assert webhook().verify(body, headers).timestamp == NOW + offset
    _, headers = signed(body, timestamp=NOW - 3600)
    assert webhook(tolerance=7200).verify(body, headers).id == "evt_01HX9"


@pytest.mark.parametrize(
    "value", ["", "v1", "v1,", "v2,abcd", "v1a,abcd", "v1,not base64!", "v1,@@@@"]
)
def test_a_signature_header_without_a_usable_v1_entry_is_refused(value: str) -> None:
    body, headers = signed()
    headers["webhook-signature"] = value
    assert refused(body, headers) == "no_v1_signature"


def test_anything_changed_after_signing_is_refused() -> None:
    body, headers = signed()
    cases = [
        (body + b" ", headers),
        (body.replace(b"delivered", b"bounced!!"), headers),
        (body, {**headers, "webhook-id": "evt_other"}),
        (body, {**headers, "webhook-timestamp": str(NOW + 1)}),
        (body, {**headers, "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()}),
    ]
    for tampered_body, tampered_headers in cases:
        assert refused(tampered_body, tampered_headers) == "signature_mismatch"
    assert refused(body, headers, webhook(OTHER_SECRET)) == "signature_mismatch"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"created_at": "2024-11-14T10:00:05Z"}',
        b'{"type": "", "created_at": "2024-11-14T10:00:05Z"}',
        b'{"type": "message.sent"}',
        b'{"type": "message.sent", "created_at": "yesterday"}',
        b'{"type": "message.sent", "created_at": "2024-11-14T10:00:05Z", "data": {"id": 5}}',
        b'{"type": "message.sent", "created_at": "2024-11-14T10:00:05Z", "data": "msg_1"}',
        b"[" * 100_000,
    ],
)
def test_a_signed_body_that_is_not_an_event_is_refused(body: bytes) -> None:
    _, headers = signed(body)
    assert refused(body, headers) == "malformed_body"


def test_verify_insists_on_the_raw_bytes() -> None:
    body, headers = signed()
    with pytest.raises(TypeError, match="raw request body as bytes"):
        webhook().verify(body.decode(), headers)  # type: ignore[arg-type]


def test_every_reason_is_documented_and_the_error_is_a_pulse_error() -> None:
    assert set(REFUSAL_REASONS) == {
        "missing_id", "missing_timestamp", "missing_signature", "malformed_timestamp",
        "timestamp_too_old", "timestamp_too_new", "no_v1_signature", "signature_mismatch",
        "malformed_body",
    }  # fmt: skip
    assert issubclass(WebhookVerificationError, PulseError)
    assert pulse_async.WebhookVerificationError is WebhookVerificationError
    error = WebhookVerificationError("bad", reason="signature_mismatch")
    assert "signature_mismatch" in str(error)
    assert pulse_sync.webhooks.Webhook is Webhook
    assert pulse_sync.webhooks.WebhookVerificationError is WebhookVerificationError


# --- several signatures and secrets (rotation) -----------------------------------------------


def test_any_matching_v1_entry_among_several_is_enough() -> None:
    body, headers = signed()
    good = headers["webhook-signature"]
    bad = "v1," + base64.b64encode(b"y" * 32).decode()
    for value in (f"{bad} {good}", f"{good} {bad}", f"v2,zzz {bad}  {good}"):
        assert webhook().verify(body, {**headers, "webhook-signature": value}).id == "evt_01HX9"


def test_rotation_on_the_sender_side() -> None:
    """The sender signs with the old and the new secret: a receiver with either one passes."""
    body, headers = signed(secret=[SECRET, OTHER_SECRET])
    assert len(headers["webhook-signature"].split()) == 2
    assert webhook(SECRET).verify(body, headers).id == "evt_01HX9"
    assert webhook(OTHER_SECRET).verify(body, headers).id == "evt_01HX9"


def test_rotation_on_the_receiver_side() -> None:
    """The receiver knows both secrets: a delivery signed with either one passes."""
    receiver = webhook([SECRET, OTHER_SECRET])
    for secret in (SECRET, OTHER_SECRET):
        body, headers = signed(secret=secret)
        assert receiver.verify(body, headers).id == "evt_01HX9"
    body, headers = signed(secret=generate_secret())
    assert refused(body, headers, receiver) == "signature_mismatch"


# --- secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "match"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "starts with 'whsec_'"),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La*aSw", "not valid base64"),
        ("whsec_" + base64.b64encode(b"k" * 23).decode(), "encodes 23"),
        ("whsec_" + base64.b64encode(b"k" * 65).decode(), "encodes 65"),
        ("whsec_", "encodes 0"),
        (b"whsec_abc", "must be a string"),
    ],
)
def test_a_malformed_secret_is_a_clear_error_that_does_not_quote_it(
    secret: object, match: str
) -> None:
    with pytest.raises(ValidationError, match=match) as info:
        Webhook(secret)  # type: ignore[arg-type]
    assert info.value.field == "secret"
    text = str(secret)
    assert text[6:] not in str(info.value) or not text[6:]
    assert text[6:] not in repr(info.value) or not text[6:]


def test_no_secret_at_all_and_bad_tolerances_are_refused() -> None:
    with pytest.raises(ValidationError, match="at least one"):
        Webhook([])
    for tolerance in (-1, float("nan"), float("inf"), True, "300"):
        with pytest.raises(ValidationError) as info:
            Webhook(SECRET, tolerance=tolerance)  # type: ignore[arg-type]
        assert info.value.field == "tolerance"


def test_generated_secrets_are_valid_and_distinct() -> None:
    secrets = {generate_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret[6:])) == 32
        Webhook(secret)
    assert len(base64.b64decode(generate_secret(64)[6:])) == 64
    with pytest.raises(ValidationError):
        generate_secret(16)


def test_no_secret_in_any_repr_message_or_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wh = webhook([SECRET, OTHER_SECRET])
    key_texts = [SECRET, SECRET[6:], OTHER_SECRET[6:]]
    seen = [repr(wh), str(wh)]
    body, headers = signed()
    seen.append(repr(wh.verify(body, headers)))
    for bad in ({**headers, "webhook-signature": "v1,AAAA"}, {**headers, "webhook-timestamp": "1"}):
        with pytest.raises(WebhookVerificationError) as info:
            wh.verify(body, bad)
        seen += [str(info.value), repr(info.value)]
    seen += [record.getMessage() for record in caplog.records]
    for text in seen:
        for key in key_texts:
            assert key not in text
    assert repr(wh) == "Webhook(secrets=2, tolerance=300)"


def test_sign_checks_its_arguments() -> None:
    wh = webhook()
    for bad_id in ("", "a b", "a.b", None):
        with pytest.raises(ValidationError) as info:
            wh.sign(b"{}", webhook_id=bad_id)  # type: ignore[arg-type]
        assert info.value.field == "webhook_id"
    for bad_ts in (-1, 1.5, True, datetime(2024, 1, 1)):
        with pytest.raises(ValidationError) as info:
            wh.sign(b"{}", webhook_id="evt_1", timestamp=bad_ts)  # type: ignore[arg-type]
        assert info.value.field == "timestamp"
    aware = datetime.fromtimestamp(NOW, tz=UTC)
    assert wh.sign("{}", webhook_id="evt_1", timestamp=aware) == wh.sign(b"{}", webhook_id="evt_1")


def test_the_retry_horizon_is_the_spec_schedule() -> None:
    assert RETRY_HORIZON == 5 + 300 + 1800 + 7200 + 18000 + 36000 + 36000


# --- properties ------------------------------------------------------------------------------


@given(
    message_id=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=30),
    metadata=st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5),
    offset=st.integers(-300, 300),
)
def test_whatever_is_signed_verifies(
    message_id: str, metadata: dict[str, str], offset: int
) -> None:
    data = {"id": message_id, "status": "queued", "metadata": metadata}
    body, headers = signed(event_body("evt_" + message_id, data=data), event_id="evt_" + message_id,
                           timestamp=NOW + offset)  # fmt: skip
    event = webhook().verify(body, headers)
    assert event.data is not None
    assert event.data.metadata == metadata


@given(position=st.integers(0, 10_000), flip=st.integers(1, 255))
def test_any_changed_byte_is_refused(position: int, flip: int) -> None:
    body, headers = signed()
    index = position % len(body)
    tampered = body[:index] + bytes([body[index] ^ flip]) + body[index + 1 :]
    assert refused(tampered, headers) == "signature_mismatch"
