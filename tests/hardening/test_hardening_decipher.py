"""Any response → a model or a ``PulseError``: ``decipher`` and ``error_from_response`` fuzzed.

Pure properties (no I/O), 2,000 generated cases each (the ``pulse-hardening``
profile): arbitrary status codes, headers and bodies — bytes of any kind,
HTML, invalid UTF-8, truncated JSON, JSON of the wrong shape or types,
100,000-deep nesting, huge integers and floats, NaN/Infinity literals, nulls
where objects belong — through every structure function the resources use.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hardening_helpers import FUZZ, check_value
from hypothesis import example, given
from hypothesis import strategies as st

from pulse_async._core._http import decipher, error_from_response
from pulse_async._core._retry_after import MAX_RETRY_AFTER
from pulse_async.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    PulseError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from pulse_async.models import Message, MessageReceipt, Page, Thread, User
from pulse_async.resources._structures import (
    STRUCTURE_MESSAGE,
    STRUCTURE_RECEIPT,
    STRUCTURE_THREAD_PAGE,
    STRUCTURE_USER,
    STRUCTURE_USER_PAGE,
)

# --- what a valid answer looks like, per structure ----------------------------------------------

USER = {
    "id": "usr_1",
    "email": "ada@example.com",
    "name": "Ada",
    "role": "admin",
    "status": "active",
    "metadata": {"team": "ops"},
    "created_at": "2024-11-14T09:00:00Z",
    "invited_at": "2024-11-14T09:00:00Z",
    "updated_at": "2024-11-14T09:00:00+02:00",
}
THREAD = {
    "id": "thr_1",
    "subject": "Hi",
    "unread_count": 2,
    "last_message_at": "2024-11-14T09:00:00Z",
}
RECEIPT = {"message_id": "msg_1", "status": "queued", "recipient_count": 3}
MESSAGE = {
    "id": "msg_1",
    "object": "message",
    "status": "queued",
    "channel": "email",
    "to": "ada@example.com",
    "from": "news@example.com",
    "subject": None,
    "template_id": None,
    "thread_id": "thr_1",
    "recipient_count": 1,
    "send_at": "2024-11-15T09:00:00Z",
    "metadata": {"k": [1, {"x": None}]},
    "created_at": "2024-11-14T09:00:00Z",
}
USER_PAGE = {"data": [USER, USER], "next_cursor": "c_1", "has_more": True}
THREAD_PAGE = {"data": [THREAD], "next_cursor": None, "has_more": False}

#: (structure function, the model type it must return, a valid document of it)
STRUCTURES: dict[str, tuple[Callable[[Any], Any], Any, dict[str, Any]]] = {
    "user": (STRUCTURE_USER, User, USER),
    "user_page": (STRUCTURE_USER_PAGE, Page[User], USER_PAGE),
    "receipt": (STRUCTURE_RECEIPT, MessageReceipt, RECEIPT),
    "message": (STRUCTURE_MESSAGE, Message, MESSAGE),
    "thread_page": (STRUCTURE_THREAD_PAGE, Page[Thread], THREAD_PAGE),
}

# --- hostile material ---------------------------------------------------------------------------

DEEP = 100_000
HOSTILE_BODIES = [
    b"",
    b" ",
    b"\x00",
    b"\xff\xfe\xfd",
    b'{"id": "\xff"}',
    b"\xef\xbb\xbf{}",  # a UTF-8 BOM
    b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    b"<?xml version='1.0'?><error/>",
    b"null",
    b"true",
    b"0",
    b'"a string"',
    b"[]",
    b"{}",
    b"{",
    b"}",
    b'{"id": "usr_1", "email":',
    b'{"id": "usr_1"}garbage',
    b'{"a": 1}{"b": 2}',
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b'{"id": NaN}',
    b'{"id": 1e999}',
    b'{"id": -1e999}',
    b'{"message_id": "m", "status": "queued", "recipient_count": 1e999}',
    b'{"message_id": "m", "status": "queued", "recipient_count": ' + b"9" * 5000 + b"}",
    b'{"message_id": "m", "status": "queued", "recipient_count": ' + b"9" * 4000 + b"}",
    b'{"error": ' * 1000 + b"1" + b"}" * 1000,
    b"[" * DEEP,
    b"[" * DEEP + b"]" * DEEP,
    b"{" * DEEP,
    b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    b'{"data": ' + b"[" * DEEP + b"]" * DEEP + b"}",
    b'"' + b"\\" * 10_001 + b'"',
    json.dumps({"error": None}).encode(),
    json.dumps({"error": []}).encode(),
    json.dumps({"error": {"code": None, "message": {"nested": 1}, "field": 12}}).encode(),
    json.dumps({"error": {"code": "x" * 100_000, "message": "m" * 100_000}}).encode(),
    json.dumps({"data": None, "has_more": None}).encode(),
    json.dumps({"data": {"0": USER}, "has_more": False}).encode(),
    json.dumps({"data": "usr_1", "has_more": False}).encode(),
    json.dumps({"data": [None], "has_more": False}).encode(),
    json.dumps({"data": [USER], "has_more": "yes"}).encode(),
    json.dumps({**USER, "metadata": {"k": {"nested": "x"}}}).encode(),
    json.dumps({**USER, "metadata": {"k": None}}).encode(),
    json.dumps({**USER, "created_at": "not a time"}).encode(),
    json.dumps({**USER, "created_at": "9999-12-31T23:59:59-23:59"}).encode(),
    json.dumps({**USER, "created_at": 1731574800}).encode(),
    json.dumps({**USER, "id": None}).encode(),
    json.dumps({**USER, "id": True}).encode(),
    json.dumps({**USER, "id": [1]}).encode(),
    json.dumps({**RECEIPT, "recipient_count": True}).encode(),
    json.dumps({**RECEIPT, "recipient_count": 2.5}).encode(),
    json.dumps({**RECEIPT, "recipient_count": "3"}).encode(),
    json.dumps({**THREAD_PAGE, "data": [{**THREAD, "unread_count": None}]}).encode(),
]
NON_FINITE_LITERALS = [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e400"]

#: Scalars that break naive code, picked rather than generated (generation is the slow part
#: of a property, and 2,000 cases each must stay quick).
HOSTILE_SCALARS = [
    None,
    True,
    False,
    0,
    -1,
    2**63,
    -(2**63) - 1,
    10**400,
    0.5,
    -0.0,
    1e308,
    math.nan,
    math.inf,
    -math.inf,
    "",
    " ",
    "\x00",
    "\ud800",
    "2024-11-14T09:00:00Z",
    "2024-02-30T00:00:00Z",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "usr_1",
    "queued",
    "nan",
    "x" * 5000,
    [],
    {},
    [None],
    {"": None},
]
KEYS = ["id", "data", "status", "error", "message", "metadata", "has_more", "created_at", ""]


def _random_scalar(rng: random.Random) -> Any:
    kind = rng.randrange(5)
    if kind == 0:
        return rng.randrange(-(2**70), 2**70)
    if kind == 1:
        return rng.choice([rng.random(), rng.uniform(-1e308, 1e308), math.nan, math.inf])
    if kind == 2:
        return "".join(
            chr(rng.choice([rng.randrange(128), rng.randrange(0x110000)]))
            for _ in range(rng.randrange(8))
        )
    return rng.choice(HOSTILE_SCALARS)


def random_json(rng: random.Random, depth: int = 0) -> Any:
    """A JSON value: scalars that break naive code, lists and objects, up to 4 deep."""
    kind = rng.randrange(10 if depth < 4 else 6)
    if kind < 6:
        return _random_scalar(rng)
    if kind < 8:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = [*KEYS, "".join(chr(rng.randrange(32, 0x3000)) for _ in range(rng.randrange(5)))]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randrange(4))}


def mutate(valid: dict[str, Any], rng: random.Random) -> bytes:
    """A valid document with some fields replaced, removed or added; maybe truncated."""
    doc = dict(valid)
    for key in rng.sample(sorted(doc), rng.randrange(1, 4)):
        if rng.random() < 0.7:
            doc[key] = random_json(rng)
        else:
            del doc[key]
    data = doc.get("data")
    if (
        isinstance(data, list)
        and data
        and isinstance(data[0], dict)
        and data[0]
        and rng.random() < 0.5
    ):
        item = dict(doc["data"][0])
        item[rng.choice(sorted(item))] = random_json(rng)
        doc["data"] = [item, *doc["data"][1:]]
    if rng.random() < 0.3:
        doc[rng.choice(KEYS)] = random_json(rng)
    body = _dumps(doc)
    if rng.random() < 0.2:
        body = body[: rng.randrange(len(body))]
    return body


def _dumps(doc: Any) -> bytes:
    # allow_nan=True (the default) writes NaN/Infinity literals: hostile on purpose.
    return json.dumps(doc).encode()


#: Hypothesis draws a seed and a seeded builder makes the document: drawing nested JSON
#: through ``st.recursive`` costs ~10 ms a case, which 2,000 cases per property cannot
#: afford; a seed costs one draw, and a failure still prints the body it made.
seeds = st.integers(min_value=0, max_value=2**64)


def bodies(valid: dict[str, Any]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.sampled_from(range(len(HOSTILE_BODIES))).map(HOSTILE_BODIES.__getitem__),
        st.binary(max_size=300),
        seeds.map(lambda seed: _dumps(random_json(random.Random(seed)))),
        seeds.map(lambda seed: mutate(valid, random.Random(seed))),
        st.just(valid).map(_dumps),
        seeds.map(
            lambda seed: _dumps(
                {
                    "error": {
                        k: random_json(random.Random(f"{seed}:{k}"))
                        for k in ("code", "message", "field", "request_id")
                        if random.Random(f"{seed}{k}").random() < 0.7
                    }
                }
            )
        ),
    )


statuses = st.one_of(
    st.sampled_from([200, 201, 202, 204, 301, 302, 307, 400, 401, 403, 404, 409, 429, 500, 502]),
    st.integers(min_value=100, max_value=599),
    st.integers(min_value=-(2**31), max_value=2**31),
)
header_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "0",
            "-1",
            "1e999",
            "NaN",
            "inf",
            "99999999999999999999",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Mon, 01 Jan 0001 00:00:00 GMT",
            "  7  ",
            "7.5",
        ]
    ),
)
headers = st.dictionaries(
    st.sampled_from(["Retry-After", "retry-after", "X-Request-Id", "Content-Type", "X-Other"]),
    header_values,
    max_size=4,
)
idempotency_keys = st.none() | st.sampled_from(["idem-1", "batch:7"])


def _check_no_non_finite(value: Any, where: str) -> None:
    if isinstance(value, float):
        assert math.isfinite(value), f"{where}: non-finite float {value!r} in a model"
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_no_non_finite(item, f"{where}[{key!r}]")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_no_non_finite(item, f"{where}[{i}]")


def _check_error(exc: PulseError, status: int, idempotency_key: str | None) -> None:
    """What every error out of ``decipher``/``error_from_response`` must be."""
    assert isinstance(exc, PulseError)
    text = str(exc)
    assert isinstance(text, str)
    assert text
    assert len(text) < 12_000  # the server's texts are truncated, never echoed in full
    assert isinstance(repr(exc), str)
    assert exc.idempotency_key == idempotency_key
    assert exc.__cause__ is None
    if isinstance(exc, APIConnectionError):
        assert 200 <= status < 300
        assert exc.retryable is False
        return
    assert isinstance(exc, APIError | ValidationError)
    assert not 200 <= status < 300
    assert exc.status == status
    for attr in ("code", "field", "request_id"):
        value = getattr(exc, attr)
        assert value is None or (isinstance(value, str) and value), (attr, value)
    expected: type[PulseError] = {
        400: ValidationError,
        401: AuthenticationError,
        403: PermissionDeniedError,
        404: NotFoundError,
        409: ConflictError,
        429: RateLimitError,
    }.get(status, ServerError if status >= 500 else APIError)
    assert type(exc) is expected, (status, type(exc))
    if isinstance(exc, RateLimitError):
        retry_after = exc.retry_after
        assert retry_after is None or (
            isinstance(retry_after, float) and 0.0 <= retry_after <= MAX_RETRY_AFTER
        ), retry_after


# --- the properties -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(STRUCTURES))
@FUZZ
@given(data=st.data(), status=statuses, headers=headers, idempotency_key=idempotency_keys)
def test_decipher_gives_a_well_typed_model_or_a_pulse_error(
    name: str,
    data: st.DataObject,
    status: int,
    headers: dict[str, str],
    idempotency_key: str | None,
) -> None:
    structure, model, valid = STRUCTURES[name]
    body = data.draw(bodies(valid), label="body")
    try:
        result = decipher(status, headers, body, structure, idempotency_key=idempotency_key)
    except PulseError as exc:
        _check_error(exc, status, idempotency_key)
    else:
        assert 200 <= status < 300
        check_value(result, model, model.__name__ if hasattr(model, "__name__") else "model")
        _check_no_non_finite(result.__dict__ if hasattr(result, "__dict__") else {}, "model")
        if isinstance(result, Message):
            _check_no_non_finite(result.metadata, "metadata")
        if isinstance(result, User | Message | MessageReceipt):
            assert result.idempotency_key == idempotency_key


@FUZZ
@given(
    status=statuses,
    headers=headers,
    body=bodies(USER),
    idempotency_key=idempotency_keys,
)
def test_decipher_without_a_structure_is_none_or_a_pulse_error(
    status: int, headers: dict[str, str], body: bytes, idempotency_key: str | None
) -> None:
    try:
        result = decipher(status, headers, body, None, idempotency_key=idempotency_key)
    except PulseError as exc:
        _check_error(exc, status, idempotency_key)
    else:
        assert 200 <= status < 300
        assert result is None


@FUZZ
@given(
    status=statuses,
    headers=headers,
    body=bodies(USER),
    idempotency_key=idempotency_keys,
    now=st.floats(min_value=0, max_value=4e9),
)
def test_error_from_response_always_returns_a_typed_error(
    status: int, headers: dict[str, str], body: bytes, idempotency_key: str | None, now: float
) -> None:
    if 200 <= status < 300:
        status += 200  # error_from_response is only called for non-2xx answers
    exc = error_from_response(
        status, headers, body, idempotency_key=idempotency_key, now=lambda: now
    )
    _check_error(exc, status, idempotency_key)


@FUZZ
@given(name=st.sampled_from(sorted(STRUCTURES)), status=st.integers(200, 299), data=st.data())
def test_valid_documents_with_unknown_fields_and_values_become_models(
    name: str, status: int, data: st.DataObject
) -> None:
    """The positive side: tolerance of unknown fields and enum values is not lost."""
    structure, model, valid = STRUCTURES[name]
    seed = data.draw(seeds, label="seed")
    rng = random.Random(seed)
    extra = {
        "".join(chr(rng.randrange(32, 0x3000)) for _ in range(rng.randrange(1, 8))): random_json(
            rng
        )
        for _ in range(rng.randrange(4))
    }
    doc = {**{k: v for k, v in extra.items() if k not in valid}, **valid}
    if "status" in valid:
        doc["status"] = data.draw(st.text(min_size=1, max_size=20), label="status")
    try:
        result = decipher(status, {}, _dumps(doc), structure)
    except APIConnectionError:
        # Only a non-finite number among the unknown fields makes the body non-JSON.
        assert any(isinstance(v, float) and not math.isfinite(v) for v in _leaves(extra)), doc
        return
    check_value(result, model, "model")
    if "status" in valid:
        assert result.status == doc["status"]


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


@pytest.mark.parametrize("literal", NON_FINITE_LITERALS)
@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_non_finite_numbers_are_not_json(name: str, literal: bytes) -> None:
    """NaN, Infinity and out-of-range floats are not RFC 8259 JSON: never a model of them.

    Python's ``json`` reads them, and the converter would turn ``{"id": NaN}``
    into ``User(id="nan")`` — a silently wrong model.
    """
    structure, _model, valid = STRUCTURES[name]
    for key in valid:
        body = _dumps({**valid, key: "__HOSTILE__"}).replace(b'"__HOSTILE__"', literal)
        with pytest.raises(APIConnectionError) as info:
            decipher(200, {}, body, structure)
        assert info.value.retryable is False, key
    body = _dumps({**valid, "unknown": "__HOSTILE__"}).replace(b'"__HOSTILE__"', literal)
    with pytest.raises(APIConnectionError) as info:
        decipher(200, {}, body, structure)
    assert info.value.retryable is False


@example(body=b"[" * DEEP)
@example(body=b'{"a":' * DEEP)
@FUZZ
@given(
    body=st.builds(
        lambda opener, n: opener * n,
        st.sampled_from([b"[", b"{", b'{"a":', b'[{"a":']),
        st.integers(1, 50_000),
    )
)
def test_deep_nesting_is_refused_not_a_recursion_error(body: bytes) -> None:
    for status in (200, 500):
        try:
            decipher(status, {}, body, STRUCTURE_USER_PAGE)
        except PulseError as exc:
            _check_error(exc, status, None)


def test_a_time_at_the_edge_of_the_calendar_is_kept_aware() -> None:
    body = _dumps({**USER, "created_at": "9999-12-31T23:59:59-23:59"})
    user = decipher(200, {}, body, STRUCTURE_USER)
    assert user is not None
    assert user.created_at is not None
    assert user.created_at.tzinfo is not None
    assert user.created_at.year == 9999
    naive = decipher(200, {}, _dumps({**USER, "created_at": "2024-11-14T09:00:00"}), STRUCTURE_USER)
    assert naive is not None
    assert naive.created_at == datetime(2024, 11, 14, 9, tzinfo=UTC)
