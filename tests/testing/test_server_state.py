"""The pure parts of the local server: clock, state, rate bucket, idempotency, faults."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pulse_async.testing import FAULT_KINDS, Clock, Faults, Ledger
from pulse_async.testing._faults import parse_fault_spec
from pulse_async.testing._state import (
    ApiFailure,
    Call,
    IdempotencyStore,
    LedgerEntry,
    RateBucket,
    State,
    lifecycle_status,
    resolve_rate_limit,
)


def test_clock_frozen_and_running() -> None:
    start = datetime(2024, 11, 14, 9, tzinfo=UTC)
    clock = Clock(frozen=True, start=start)
    assert clock.now() == start
    assert clock.advance(90) == start.timestamp() + 90
    assert clock.now() == datetime(2024, 11, 14, 9, 1, 30, tzinfo=UTC)
    clock.resume()
    assert not clock.frozen
    assert clock.time() >= start.timestamp() + 90
    clock.freeze()
    frozen_at = clock.time()
    assert clock.time() == frozen_at
    with pytest.raises(ValueError, match="seconds"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="aware"):
        Clock(start=datetime(2024, 1, 1))
    assert "frozen" in repr(clock)


def test_running_clock_advances_by_offset() -> None:
    clock = Clock()
    before = clock.time()
    clock.advance(3600)
    assert clock.time() - before >= 3600


@pytest.mark.parametrize(
    ("elapsed", "outcome", "status"),
    [
        (-5, "delivered", "queued"),
        (0, "delivered", "queued"),
        (1, "delivered", "sending"),
        (2, "failed", "failed"),
        (2, "bounced", "sent"),
        (3, "bounced", "bounced"),
        (10, "delivered", "delivered"),
    ],
)
def test_lifecycle_status(elapsed: float, outcome: str, status: str) -> None:
    assert lifecycle_status(100 + elapsed, 100, 1.0, outcome, cancelled=False) == status
    assert lifecycle_status(100 + elapsed, 100, 1.0, outcome, cancelled=True) == "cancelled"


def test_zero_step_delay_is_final_at_once() -> None:
    assert lifecycle_status(100, 100, 0.0, "delivered", cancelled=False) == "delivered"


def test_rate_bucket() -> None:
    bucket = RateBucket(60, now=0.0)
    for remaining in range(59, -1, -1):
        allowed, headers = bucket.take(0.0)
        assert allowed
        assert headers["X-RateLimit-Remaining"] == str(remaining)
        assert "Retry-After" not in headers
    allowed, headers = bucket.take(0.0)
    assert not allowed
    assert headers == {
        "X-RateLimit-Limit": "60",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "60",
        "Retry-After": "1",
    }
    allowed, headers = bucket.take(0.5)
    assert not allowed
    assert headers["Retry-After"] == "1"
    assert bucket.take(1.0)[0]
    # Refills never exceed the limit.
    allowed, headers = bucket.take(10_000.0)
    assert headers["X-RateLimit-Remaining"] == "59"


def test_resolve_rate_limit() -> None:
    assert resolve_rate_limit(None) is None
    assert resolve_rate_limit("unlimited") is None
    assert resolve_rate_limit("free") == 60
    assert resolve_rate_limit("pro") == 1000
    assert resolve_rate_limit(6000) == 6000
    for bad in ("gold", 0, -1, True, 1.5):
        with pytest.raises(ValueError, match=r"plan|rate_limit"):
            resolve_rate_limit(bad)  # type: ignore[arg-type]


def test_an_unknown_plan_names_every_plan_from_the_one_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server's message reads ``PLANS`` (its single home), not a copy of the names."""
    from pulse_async._core import _ratelimit

    monkeypatch.setitem(_ratelimit._PLAN_RATES, "team", 5000)  # PLANS is a view of it
    assert resolve_rate_limit("team") == 5000
    assert resolve_rate_limit("PRO") == 1000  # as the client reads it (per_minute_from)
    with pytest.raises(ValueError, match="unknown plan") as caught:
        resolve_rate_limit("gold")
    for name in ("free", "pro", "team", "unlimited"):
        assert name in str(caught.value)


def test_idempotency_store() -> None:
    store = IdempotencyStore(window=100)
    assert store.begin("k1", "a", ("POST", "/x", {"n": 1}), now=0) is None
    with pytest.raises(ApiFailure) as conflict:
        store.begin("k1", "a", ("POST", "/x", {"n": 1}), now=1)
    assert (conflict.value.status, conflict.value.code) == (409, "conflict")
    with pytest.raises(ApiFailure) as mismatch:
        store.begin("k1", "a", ("POST", "/x", {"n": 2}), now=1)
    assert (mismatch.value.status, mismatch.value.field) == (400, "Idempotency-Key")
    store.complete("k1", "a", 202, b"{}")
    assert store.begin("k1", "a", ("POST", "/x", {"n": 1}), now=99) == (202, b"{}")
    assert store.begin("k2", "a", ("POST", "/x", {"n": 2}), now=99) is None  # other scope
    store.abandon("k2", "a")
    assert store.begin("k2", "a", ("POST", "/x", {"n": 3}), now=99) is None
    assert store.begin("k1", "a", ("POST", "/x", {"n": 9}), now=100) is None  # expired
    store.complete("k1", "a", 201, b"")
    store.complete("k2", "a", 201, b"")
    assert store.purge(now=1000) == 2
    assert len(store) == 0


def test_ledger() -> None:
    ledger = Ledger()
    for key in ("a", "b", "a", None):
        ledger.append(
            LedgerEntry(
                kind="message.created",
                resource_id="msg_1",
                api="pulse",
                idempotency_key=key,
                request_id=None,
                timestamp=0.0,
            )
        )
    ledger.append(
        LedgerEntry(
            kind="user.created",
            resource_id="usr_1",
            api="pulse",
            idempotency_key="a",
            request_id="req_1",
            timestamp=0.0,
        )
    )
    assert len(ledger) == 5
    assert ledger.duplicate_idempotency_keys() == {"a": 2}
    assert len(ledger.of_kind("message.created", api="pulsewave")) == 0
    assert ledger[-1].at == datetime(1970, 1, 1, tzinfo=UTC)
    assert ledger[-1].as_dict()["at"] == "1970-01-01T00:00:00Z"
    assert len(ledger[1:3]) == 2
    ledger.clear()
    assert list(ledger) == []


def test_state_create_key_and_configuration() -> None:
    state = State(clock=Clock(frozen=True), rate_limit=100)
    assert set(state.seed_keys) == {"admin", "editor", "viewer"}
    key = state.keys[state.seed_keys["admin"]]
    assert key.limit == 100
    assert repr(key).count("pw_test_") == 0  # the secret stays out of reprs
    unlimited = state.keys[state.create_key(role="viewer", rate_limit=None)]
    assert unlimited.limit is None
    assert state.users[unlimited.user_id].role == "viewer"
    with pytest.raises(ValueError, match="role"):
        state.create_key(role="owner")
    with pytest.raises(ValueError, match="no user"):
        state.create_key(user_id="usr_missing")
    with pytest.raises(ValueError, match="tmpl_"):
        state.register_template("welcome")
    with pytest.raises(ValueError, match="outcome"):
        state.set_outcome("a@example.com", "lost")
    with pytest.raises(ValueError, match="step_delay"):
        State(step_delay=-1)
    state.set_outcome("A@Example.com", "failed")
    assert state.outcome_for("a@example.com") == "failed"
    assert state.outcome_for("x+bounce@example.com") == "bounced"
    assert state.outcome_for("x+fail@example.com") == "failed"
    assert state.outcome_for("+14155550123") == "delivered"


def test_state_endpoints_directly() -> None:
    state = State(clock=Clock(frozen=True))
    admin_key = state.keys[state.seed_keys["admin"]]
    call = Call(admin_key, state.users[admin_key.user_id], "req_1", "idem-1")
    status, user = state.create_user(call, {"email": "new@example.com", "role": "viewer"})
    assert status == 201
    status, receipt = state.send_message(call, {"to": [user["id"]], "subject": "s", "body": "b"})
    assert (status, receipt["recipient_count"]) == (202, 1)
    assert [e.idempotency_key for e in state.ledger] == ["idem-1", "idem-1"]
    state.set_user_status(user["id"], "active")
    assert state.users[user["id"]].status == "active"
    with pytest.raises(ApiFailure) as missing:
        state.get_message(call, "msg_missing")
    assert missing.value.envelope("req_9") == {
        "error": {
            "code": "not_found",
            "message": "no message with id 'msg_missing'",
            "request_id": "req_9",
        }
    }


def test_authenticate() -> None:
    state = State()
    for header in (None, "", "Token x", "Bearer", "Bearer short", "Bearer pw_live_ab/cdefgh"):
        with pytest.raises(ApiFailure) as failure:
            state.authenticate(header)
        assert failure.value.status == 401
    assert state.authenticate("Bearer " + state.seed_keys["viewer"]).key_id


def test_faults_pick_count_and_probability() -> None:
    faults = Faults(seed=5)
    assert not faults
    assert faults.pick("GET", "/v2/users") is None
    once = faults.add("server_error", route="GET /v2/users", count=2)
    always = faults.add("latency", route="/v2/*")
    assert faults.pick("POST", "/v2/users") is always
    assert faults.pick("GET", "/v2/users") is once
    assert faults.pick("GET", "/v2/users") is once
    assert faults.pick("GET", "/v2/users") is always
    assert once.fired == 2
    assert faults.rules == [always]
    faults.remove(always)
    faults.remove(always)
    assert faults.pick("GET", "/v2/users") is None
    # Same seed, same dice.
    runs = []
    for _ in range(2):
        f = Faults(seed="x")
        f.add("bad_gateway", probability=0.3)
        runs.append([f.pick("GET", "/") is not None for _ in range(200)])
    assert runs[0] == runs[1]
    assert 20 < sum(runs[0]) < 100


@pytest.mark.parametrize(
    ("route", "method", "path", "hit"),
    [
        ("*", "GET", "/anything", True),
        ("POST /v2/messages", "POST", "/v2/messages", True),
        ("POST /v2/messages", "GET", "/v2/messages", False),
        ("POST /v2/messages", "POST", "/v2/messages/msg_1", False),
        ("GET /v2/users/{id}", "GET", "/v2/users/usr_1", True),
        ("GET /v2/users/{id}", "GET", "/v2/users/usr_1/x", False),
        ("* /v1/*", "DELETE", "/v1/messages/a/b", True),
        ("get /v2/*", "GET", "/v2/x", True),
        ("/v2/threads", "POST", "/v2/threads", True),
        ("POST *", "POST", "/v1/x", True),
    ],
)
def test_fault_routes(route: str, method: str, path: str, hit: bool) -> None:
    faults = Faults()
    faults.add("server_error", route=route)
    assert (faults.pick(method, path) is not None) is hit


def test_fault_arguments_are_checked() -> None:
    faults = Faults()
    for kwargs in (
        {"kind": "meltdown"},
        {"kind": "latency", "probability": 2},
        {"kind": "latency", "count": 0},
        {"kind": "latency", "delay": -1},
        {"kind": "http_error", "status": 99},
    ):
        with pytest.raises(ValueError, match=r"."):
            faults.add(**kwargs)


def test_parse_fault_spec() -> None:
    assert parse_fault_spec("POST /v2/messages=reset_after_commit:probability=0.2,count=3") == {
        "kind": "reset_after_commit",
        "route": "POST /v2/messages",
        "probability": 0.2,
        "count": 3,
    }
    assert parse_fault_spec("bad_gateway") == {"kind": "bad_gateway", "route": "*"}
    assert parse_fault_spec("GET /v2/users=latency:delay=2") == {
        "kind": "latency",
        "route": "GET /v2/users",
        "delay": 2.0,
    }
    assert parse_fault_spec("drip:chunk_size=4,chunk_delay=0.1")["chunk_size"] == 4
    for bad in ("nope", "latency:delay", "latency:speed=3", "latency:delay=abc"):
        with pytest.raises(ValueError, match=r"."):
            parse_fault_spec(bad)
    assert {parse_fault_spec(k)["kind"] for k in FAULT_KINDS} == FAULT_KINDS
