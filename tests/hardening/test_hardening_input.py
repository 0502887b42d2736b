"""Bad input from the caller: every SPEC rule broken, and nothing leaves the process.

For each endpoint, one property draws a rule, a value that breaks it, and
otherwise valid arguments; the call must raise ``ValidationError`` naming the
field (``status is None``: raised before sending), and the loopback server the
clients point at must have received no request at all — the clients never
even open a session. 2,000 generated cases per property.

The values that break a rule are built from what the rule *means* (an
address without ``@``, a domain label ending in ``-``, a 16-digit E.164
number…), not by filtering random text through the SDK's own regexes.
"""

from __future__ import annotations

import asyncio
import math
import string
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hardening_helpers import CANARY, FUZZ, CountingServer, assert_error_has_no_canary
from hypothesis import given
from hypothesis import strategies as st

from pulse_async import AsyncPulse, AsyncPulsewave
from pulse_async.errors import ValidationError

# --- the clients, and the server that must never hear from them ---------------------------------


class Harness:
    """One loop, one counting server, one client of each API, for every generated case."""

    def __init__(self) -> None:
        self.runner = asyncio.Runner()
        self.server = CountingServer()
        self.runner.run(self.server.start())
        self.pulse = AsyncPulse(CANARY, base_url=self.server.url, max_retries=0)
        self.pulsewave = AsyncPulsewave(CANARY, base_url=self.server.url, max_retries=0)

    def expect_refused(self, call: Callable[[], Any], field: str) -> ValidationError:
        """Run ``call`` (sync or async); it must raise ``ValidationError`` on ``field``."""

        async def run() -> None:
            result = call()
            if asyncio.iscoroutine(result):
                await result

        with pytest.raises(ValidationError) as info:
            self.runner.run(run())
        error = info.value
        assert error.field == field or error.field.startswith(f"{field}."), (field, error)
        assert error.status is None  # raised before sending
        assert isinstance(error, ValueError)
        assert str(error)
        # The key is not an argument here; the traceback is checked where it is (below).
        assert_error_has_no_canary(error, with_traceback=False)
        self.assert_nothing_sent()
        return error

    def assert_nothing_sent(self) -> None:
        assert self.server.count == 0, self.server.requests
        for client in (self.pulse, self.pulsewave):
            assert client._rt.transport._session is None, "a session was opened"

    def close(self) -> None:
        self.runner.run(self.pulse.aclose())
        self.runner.run(self.pulsewave.aclose())
        self.runner.run(self.server.stop())
        self.runner.close()


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    h = Harness()
    try:
        yield h
    finally:
        h.close()


@pytest.fixture(autouse=True)
def _fresh_count(request: pytest.FixtureRequest) -> None:
    # One test's leak must not be blamed on the next: each test starts from zero requests.
    if "harness" in request.fixturenames:
        request.getfixturevalue("harness").server.requests.clear()


# --- values that break a rule -------------------------------------------------------------------

BLANKS = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u2003\u3000"
CONTROL = "\r\n\x00"
PRINTABLE = string.ascii_letters + string.digits + "-_.~+"
words = st.text(alphabet=PRINTABLE, min_size=1, max_size=12)

non_strings = st.one_of(
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.binary(max_size=5),
    st.lists(words, max_size=2),
    st.dictionaries(words, words, max_size=2),
    st.just(object()),
)
blank = st.text(alphabet=BLANKS, max_size=5)


def too_long(limit: int) -> st.SearchStrategy[str]:
    """A non-blank string of more than ``limit`` characters (built, not generated: fast)."""
    return st.builds(
        lambda char, extra, text: (text + char * (limit + 1 + extra))[: limit + 1 + extra],
        st.sampled_from("ax€😀"),
        st.integers(0, 40),
        words,
    )


def with_control(base: st.SearchStrategy[str] = words) -> st.SearchStrategy[str]:
    """``base`` with CR, LF or NUL put somewhere in it."""
    return st.builds(
        lambda text, char, at: text[:at] + char + text[at:],
        base,
        st.sampled_from(["\r", "\n", "\x00", "\r\n", "\n\r"]),
        st.integers(0, 12),
    )


def _email(local: str, domain: str) -> str:
    return f"{local}@{domain}"


labels = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=10)
bad_emails = st.one_of(
    words.filter(lambda w: "@" not in w and not w.startswith("usr_")),  # no @ at all
    st.builds(lambda a, b: f"{a}@{b}@example.com", words, words),  # two @
    st.builds(lambda d: _email("", f"{d}.com"), labels),  # empty local part
    st.builds(lambda a: _email(a, ""), words),  # empty domain
    st.builds(_email, words, labels),  # a domain without a dot
    st.builds(lambda a, d: _email(a, f"{d}-.com"), words, labels),  # label ends with -
    st.builds(lambda a, d: _email(a, f"-{d}.com"), words, labels),  # label starts with -
    st.builds(lambda a, d: _email(a, f"{d}..com"), words, labels),  # empty label
    st.builds(lambda a, d: _email(a, f".{d}.com"), words, labels),
    st.builds(lambda a, d: _email(a, f"{d}.com."), words, labels),
    st.builds(
        lambda a, d, c: _email(a, f"{d}{c}x.com"),
        words,
        labels,
        st.sampled_from("_!#$%&*/=?^`{|}~ "),
    ),  # a character no domain may hold
    st.builds(lambda a, d: _email(a, f"{d}ä.com"), words, labels),  # non-ASCII domain
    st.builds(
        lambda a, d, c: _email(a + c, f"{d}.com"),
        words,
        labels,
        st.sampled_from(list(' "<>(),;:\\[]\t\n\r')),
    ),  # forbidden in the local part
    st.builds(lambda n: _email("a" * n, "example.com"), st.integers(243, 400)),  # > 254
    with_control(st.just("ada@example.com")),
    blank,
    non_strings,
)
bad_path_ids = st.one_of(
    st.just(""),
    blank,
    st.sampled_from([".", ".."]),
    st.builds(lambda a, b: f"{a}/{b}", words, words),
    st.builds(lambda a, c: a + c, words, st.characters(max_codepoint=0x1F) | st.just("\x7f")),
    st.builds(lambda a, s: s + a, words, st.sampled_from([" ", "\t", "\xa0"])),
    st.builds(lambda a, s: a + s, words, st.sampled_from([" ", "\t", "\u3000"])),
    with_control(),
    non_strings,
)
bad_idempotency_keys = st.one_of(
    st.just(""),
    st.builds(lambda n: "k" * n, st.integers(256, 600)),
    st.builds(
        lambda a, c: a + c,
        words,
        st.characters(codec="utf-8").filter(lambda c: not " " <= c <= "~"),
    ),
    with_control(),
    non_strings.filter(lambda v: not isinstance(v, str)),
)


def not_one_of(choices: set[str]) -> st.SearchStrategy[Any]:
    near_misses = [m for c in choices for m in (c.upper(), f" {c}", f"{c} ")]
    return st.one_of(
        st.sampled_from([*sorted(near_misses), ""]),
        st.text(max_size=12).filter(lambda t: t not in choices),
        non_strings,
    )


def bad_ints(low: int, high: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(max_value=low - 1),
        st.integers(min_value=high + 1),
        st.booleans(),
        st.floats(min_value=low, max_value=high),
        st.builds(str, st.integers(low, high)),
    )


bad_bools = st.one_of(
    st.sampled_from(["true", "false", "", "1", "0"]),
    st.integers(),
    st.floats(),
    st.lists(st.booleans(), max_size=1),
)

metadata_keys = st.text(alphabet=PRINTABLE, min_size=1, max_size=40)
metadata_values = st.text(max_size=20)


def bad_metadata(*, allow_null: bool) -> st.SearchStrategy[Any]:
    base = st.dictionaries(metadata_keys, metadata_values, max_size=3)
    bad_values = st.one_of(
        st.integers(),
        st.floats(),
        st.booleans(),
        st.lists(words, max_size=2),
        st.dictionaries(words, words, min_size=1, max_size=1),
        too_long(500),
    )
    if not allow_null:
        bad_values = bad_values | st.none()
    return st.one_of(
        st.lists(st.tuples(words, words), max_size=3),  # pairs, not a mapping
        words,
        st.integers(),
        st.builds(lambda m, k, v: {**m, k: v}, base, metadata_keys, bad_values),
        st.builds(
            lambda m, k: {**m, k: "v"},
            base,
            st.one_of(st.just(""), too_long(40), st.integers(), st.none(), st.tuples(words)),
        ),
        st.builds(lambda n: {f"k{i}": "v" for i in range(n)}, st.integers(51, 120)),
    )


def bad_json_objects() -> st.SearchStrategy[Any]:
    unserialisable = st.one_of(
        st.just(math.nan),
        st.just(math.inf),
        st.just(-math.inf),
        st.builds(set),
        st.just(object()),
        st.binary(max_size=3),
        st.builds(date.today),
    )
    return st.one_of(
        st.lists(words, max_size=2),
        words,
        st.integers(),
        st.builds(lambda k, v: {k: v}, words, unserialisable),
        st.builds(lambda k, v: {"outer": {k: [v]}}, words, unserialisable),
        st.builds(lambda k: {k: "v"}, st.one_of(st.tuples(words), st.builds(object))),
    )


def aware_datetimes() -> st.SearchStrategy[datetime]:
    return st.datetimes(
        min_value=datetime(2001, 1, 1),
        max_value=datetime(9000, 1, 1),
        timezones=st.sampled_from([UTC]),
    )


def bad_send_at() -> st.SearchStrategy[Any]:
    now = datetime.now(UTC)
    return st.one_of(
        st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(9000, 1, 1)),  # naive
        st.builds(lambda s: now - timedelta(seconds=s), st.floats(0, 1e9)),  # in the past
        st.builds(lambda s: now + timedelta(days=31, seconds=s), st.floats(0, 1e9)),  # > 30 d
        st.builds(
            lambda d: d.isoformat(),  # a naive ISO string
            st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(9000, 1, 1)),
        ),
        st.builds(lambda s: (now - timedelta(seconds=s)).isoformat(), st.floats(1, 1e9)),
        st.sampled_from(
            [
                "tomorrow",
                "",
                "2024-13-01T00:00:00Z",
                "2024-02-30T10:00:00Z",
                "now",
                "1731574800",
                "T10:00:00Z",
            ]
        ),
        st.builds(date.today),
        st.integers(),
        st.floats(),
    )


def violations(rules: dict[str, tuple[str, st.SearchStrategy[Any]]]) -> st.SearchStrategy[Any]:
    """``(argument, bad value, field the error must name)`` for one of ``rules``."""
    return st.one_of(
        *[
            st.tuples(st.just(arg), strategy, st.just(field))
            for arg, (field, strategy) in rules.items()
        ]
    )


def rules_of(**rules: tuple[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    return violations(rules)


# --- Pulse v2 -----------------------------------------------------------------------------------


@FUZZ
@given(
    case=rules_of(
        limit=("limit", bad_ints(1, 100)),
        status=("status", not_one_of({"active", "inactive", "pending"})),
        q=("q", st.one_of(st.just(""), blank, non_strings)),
    )
)
def test_users_list_refuses_bad_arguments(harness: Harness, case: tuple[str, Any, str]) -> None:
    arg, value, field = case
    harness.expect_refused(lambda: harness.pulse.users.list(**{arg: value}), field)


@FUZZ
@given(
    case=rules_of(
        email=("email", bad_emails),
        role=("role", not_one_of({"admin", "editor", "viewer"})),
        name=("name", st.one_of(st.just(""), blank, too_long(120), non_strings)),
        metadata=("metadata", bad_metadata(allow_null=False)),
        idempotency_key=("idempotency_key", bad_idempotency_keys),
    )
)
def test_users_create_refuses_bad_arguments(harness: Harness, case: tuple[str, Any, str]) -> None:
    arg, value, field = case
    kwargs: dict[str, Any] = {"email": "ada@example.com", "role": "editor", arg: value}
    harness.expect_refused(lambda: harness.pulse.users.create(**kwargs), field)


@FUZZ
@given(
    case=rules_of(
        user_id=("user_id", bad_path_ids),
        role=("role", not_one_of({"admin", "editor", "viewer"})),
        name=("name", st.one_of(st.just(""), blank, too_long(120), non_strings)),
        metadata=("metadata", bad_metadata(allow_null=True)),
    )
)
def test_users_update_and_delete_refuse_bad_arguments(
    harness: Harness, case: tuple[str, Any, str]
) -> None:
    arg, value, field = case
    kwargs: dict[str, Any] = {"user_id": "usr_1", "role": "viewer", arg: value}
    user_id = kwargs.pop("user_id")
    harness.expect_refused(lambda: harness.pulse.users.update(user_id, **kwargs), field)
    if arg == "user_id":
        harness.expect_refused(lambda: harness.pulse.users.delete(value), field)


bad_recipients = st.one_of(
    words,  # a bare string, not a list
    st.none(),
    st.integers(),
    st.dictionaries(words, words, max_size=2),
    st.just([]),
    st.just(()),
    st.builds(lambda n: [f"usr_{i}" for i in range(n)], st.integers(51, 120)),
    st.builds(
        lambda good, bad, at: [*good[:at], bad, *good[at:]],
        st.lists(st.sampled_from(["usr_1", "ada@example.com"]), max_size=5),
        st.one_of(
            bad_emails,
            st.builds(lambda a, b: f"usr_{a}/{b}", words, words),
            st.builds(lambda a: f"usr_{a}", with_control()),
            st.builds(lambda a: f"usr_{a} ", words),
        ),
        st.integers(0, 5),
    ),
)


@FUZZ
@given(
    case=rules_of(
        to=("to", bad_recipients),
        subject=("subject", st.one_of(st.just(""), blank, too_long(255), non_strings, st.none())),
        body=("body", st.one_of(st.just(""), blank, too_long(10_000), non_strings, st.none())),
        thread_id=("thread_id", bad_path_ids),
        send_at=("send_at", bad_send_at()),
        idempotency_key=("idempotency_key", bad_idempotency_keys),
    )
)
def test_messages_send_refuses_bad_arguments(harness: Harness, case: tuple[str, Any, str]) -> None:
    arg, value, field = case
    kwargs: dict[str, Any] = {"to": ["usr_1"], "subject": "Hi", "body": "Hello", arg: value}
    harness.expect_refused(lambda: harness.pulse.messages.send(**kwargs), field)


@FUZZ
@given(
    case=rules_of(
        message_id=("message_id", bad_path_ids),
        limit=("limit", bad_ints(1, 50)),
        unread=("unread", bad_bools),
    )
)
def test_messages_retrieve_and_threads_list_refuse_bad_arguments(
    harness: Harness, case: tuple[str, Any, str]
) -> None:
    arg, value, field = case
    if arg == "message_id":
        harness.expect_refused(lambda: harness.pulse.messages.retrieve(value), field)
        harness.expect_refused(lambda: harness.pulsewave.messages.retrieve(value), field)
        harness.expect_refused(lambda: harness.pulsewave.messages.cancel(value), field)
    else:
        harness.expect_refused(lambda: harness.pulse.threads.list(**{arg: value}), field)


# --- Pulsewave v1 -------------------------------------------------------------------------------

VALID_BY_CHANNEL: dict[str, dict[str, Any]] = {
    "email": {
        "channel": "email",
        "to": "ada@example.com",
        "from_": "news@example.com",
        "subject": "Hi",
    },
    "sms": {"channel": "sms", "to": "+14155550123", "from_": "Pulse", "text": "Code 1"},
    "push": {"channel": "push", "to": "device-token-1", "from_": "app.pulse", "text": "Hi"},
}
bad_e164 = st.one_of(
    st.builds(lambda n: f"+{n}", st.integers(10**15, 10**20)),  # 16+ digits
    st.builds(lambda n: f"+0{n}", st.integers(0, 10**10)),  # leading 0
    st.builds(str, st.integers(10**5, 10**14)),  # no +
    st.just("+1"),  # one digit
    st.builds(lambda n, c: f"+{n}{c}", st.integers(1, 10**8), st.sampled_from("- ()ax")),
    st.just(""),
    blank,
    non_strings,
)
bad_sender = st.one_of(
    st.builds(lambda w: w + "abcdefghijkl", st.text(alphabet=string.ascii_letters, max_size=3)),
    st.builds(str, st.integers(1, 10**10)),  # digits only, no +: neither E.164 nor a sender id
    st.builds(
        lambda w, c: "Pulse" + c + w,
        st.text(alphabet="ab", max_size=3),
        st.sampled_from("!@#-_.+ä"),
    ),
    st.just(""),
    blank,
    non_strings,
)
channels = st.sampled_from(sorted(VALID_BY_CHANNEL))


@st.composite
def pulsewave_violation(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    channel = draw(channels)
    kwargs = dict(VALID_BY_CHANNEL[channel])
    rules: list[tuple[str, str, st.SearchStrategy[Any]]] = [
        ("channel", "channel", not_one_of({"email", "sms", "push"})),
        ("subject", "subject", st.one_of(st.just(""), blank, too_long(255), non_strings)),
        ("text", "text", st.one_of(st.just(""), blank, non_strings)),
        ("template_id", "template_id", bad_path_ids),
        ("template_data", "template_data", bad_json_objects()),
        ("metadata", "metadata", bad_json_objects()),
        ("idempotency_key", "idempotency_key", bad_idempotency_keys),
    ]
    if channel == "email":
        rules += [
            ("to", "to", bad_emails),
            ("from_", "from", bad_emails),
            ("html", "html", st.one_of(st.just(""), blank, non_strings)),
        ]
    elif channel == "sms":
        rules += [("to", "to", bad_e164), ("from_", "from", bad_sender)]
    else:
        rules += [
            ("to", "to", st.one_of(st.just(""), blank, non_strings, with_control())),
            ("from_", "from", st.one_of(st.just(""), blank, non_strings)),
        ]
    index = draw(st.integers(0, len(rules) + 1))
    if index == len(rules):  # a required part missing
        if channel == "email":
            del kwargs["subject"]
            return kwargs, "subject"
        del kwargs["text"]
        return kwargs, "text"
    if index == len(rules) + 1:  # html is for email only
        if channel == "email":
            kwargs["html"] = 42
        else:
            kwargs["html"] = draw(words)
        return kwargs, "html"
    arg, field, strategy = rules[index]
    kwargs[arg] = draw(strategy)
    return kwargs, field


@FUZZ
@given(case=pulsewave_violation())
def test_pulsewave_create_refuses_bad_arguments(
    harness: Harness, case: tuple[dict[str, Any], str]
) -> None:
    kwargs, field = case
    harness.expect_refused(lambda: harness.pulsewave.messages.create(**kwargs), field)


@FUZZ
@given(key=bad_idempotency_keys)
def test_pulsewave_cancel_refuses_a_bad_idempotency_key(harness: Harness, key: Any) -> None:
    harness.expect_refused(
        lambda: harness.pulsewave.messages.cancel("msg_1", idempotency_key=key), "idempotency_key"
    )


# --- the client's own options: CR, LF and NUL never reach a header --------------------------------


@FUZZ
@given(
    case=st.one_of(
        st.tuples(
            st.just("api_key"),
            st.one_of(
                with_control(st.just(CANARY)),
                blank,
                st.just(""),
                non_strings.filter(lambda v: not isinstance(v, str) and v is not None),
                st.builds(lambda c: CANARY[:8] + c + CANARY[8:], st.sampled_from(BLANKS)),
            ),
            st.just("api_key"),
        ),
        st.tuples(
            st.just("base_url"),
            st.one_of(
                with_control(st.just("http://127.0.0.1:8080")),
                st.builds(lambda h: f"http://{h}.example.com", labels),  # plain http, not loopback
                st.builds(
                    lambda h: f"http://{h}",
                    st.sampled_from(
                        [
                            "10.0.0.1",
                            "192.168.1.1",
                            "8.8.8.8",
                            "[2001:db8::1]",
                            "localhost.evil.com",
                            "127.0.0.1.nip.io",
                            "0.0.0.0",
                            "api.pulse.io",
                        ]
                    ),
                ),
                st.sampled_from(
                    [
                        "ftp://127.0.0.1",
                        "file:///etc/passwd",
                        "127.0.0.1:8080",
                        "//x",
                        "https://user:pw@api.pulse.io",
                        "https://api.pulse.io/v2?x=1",
                        "https://api.pulse.io/v2#f",
                        "https://",
                        "https://api.pulse.io:99999",
                        "https://api.pulse.io:-1",
                        "javascript:alert(1)",
                    ]
                ),
            ),
            st.just("base_url"),
        ),
        st.tuples(
            st.just("default_headers"),
            st.one_of(
                st.builds(lambda v: {"X-Tag": v}, with_control()),
                st.builds(lambda n: {n: "v"}, with_control(st.just("X-Tag"))),
                st.builds(
                    lambda n: {n: "v"}, st.sampled_from(["", "X Tag", "X:Tag", "Ä", "X\tTag"])
                ),
                st.builds(lambda v: {"X-Tag": v}, non_strings),
            ),
            st.just("default_headers"),
        ),
        st.tuples(
            st.just("timeout"),
            st.one_of(
                st.floats(max_value=0),
                st.just(math.nan),
                st.just(math.inf),
                st.booleans(),
                words,
            ),
            st.just("timeout"),
        ),
        st.tuples(
            st.just("max_retries"),
            st.one_of(st.integers(max_value=-1), st.booleans(), st.floats(), words),
            st.just("max_retries"),
        ),
        st.tuples(
            st.just("max_response_bytes"),
            st.one_of(st.integers(max_value=0), st.booleans(), st.floats(), words),
            st.just("max_response_bytes"),
        ),
        st.tuples(
            st.just("max_connections"),
            st.one_of(st.integers(max_value=0), st.booleans(), st.floats(), words),
            st.just("max_connections"),
        ),
    )
)
def test_client_options_refuse_bad_values_and_never_echo_the_key(
    harness: Harness, case: tuple[str, Any, str]
) -> None:
    arg, value, field = case
    kwargs: dict[str, Any] = {"api_key": CANARY, "base_url": harness.server.url, arg: value}
    for cls in (AsyncPulse, AsyncPulsewave):
        with pytest.raises(ValidationError) as info:
            cls(**kwargs)
        error = info.value
        assert error.field is not None
        assert error.field.startswith(field), (field, error)
        assert_error_has_no_canary(error)
    harness.assert_nothing_sent()


@pytest.mark.parametrize("factory", [AsyncPulse, AsyncPulsewave])
def test_a_key_from_the_environment_is_checked_the_same_way(
    factory: type[AsyncPulse], monkeypatch: pytest.MonkeyPatch
) -> None:
    for bad in (CANARY + "\r\nX-Evil: 1", CANARY + "\n", CANARY + "\r", " ", ""):
        monkeypatch.setenv("PULSE_API_KEY", bad)
        with pytest.raises(ValidationError) as info:
            factory(base_url="http://127.0.0.1:9")
        assert info.value.field == "api_key"
        assert_error_has_no_canary(info.value)
