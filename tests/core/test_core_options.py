"""Client options: the key and base URL from arguments or environment, Timeout, secrets."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from pulse_async import AsyncPulse, AsyncPulsewave
from pulse_async._core._options import (
    PULSE_BASE_URL,
    PULSEWAVE_BASE_URL,
    ClientOptions,
    Timeout,
    is_loopback_host,
    resolve_options,
)
from pulse_async.errors import ValidationError

KEY = "pw_test_abc123"


def resolve(
    *,
    api_key: str | None = KEY,
    base_url: str | None = None,
    environ: dict[str, str] | None = None,
    default: str = PULSE_BASE_URL,
    env_base_url: tuple[str, ...] = ("PULSE_BASE_URL",),
    **kwargs: Any,
) -> ClientOptions:
    return resolve_options(
        api_key=api_key,
        base_url=base_url,
        default_base_url=default,
        env_base_url=env_base_url,
        environ=environ if environ is not None else {},
        **kwargs,
    )


def field_of(**kwargs: Any) -> str | None:
    with pytest.raises(ValidationError) as info:
        resolve(**kwargs)
    return info.value.field


# --- api key ----------------------------------------------------------------------------------


def test_api_key_from_argument_wins_over_environment() -> None:
    options = resolve(api_key=KEY, environ={"PULSE_API_KEY": "pw_live_other"})
    assert options.api_key == KEY


def test_api_key_from_environment() -> None:
    assert resolve(api_key=None, environ={"PULSE_API_KEY": "pw_live_env"}).api_key == "pw_live_env"


def test_missing_api_key_is_a_clear_error() -> None:
    with pytest.raises(ValidationError) as info:
        resolve(api_key=None, environ={})
    assert info.value.field == "api_key"
    assert "PULSE_API_KEY" in str(info.value)


@pytest.mark.parametrize(
    "key", ["", "   ", "pw_test_a b", "pw\ttest", "pw_test\r\n", "key\x00", "pw_test_\x01", "k\x7f"]
)
def test_malformed_api_key(key: str) -> None:
    assert field_of(api_key=key) == "api_key"


def test_bad_api_key_error_does_not_echo_the_key() -> None:
    secret = "pw_live_very secret"
    with pytest.raises(ValidationError) as info:
        resolve(api_key=secret)
    assert "very secret" not in str(info.value)
    assert "very secret" not in repr(info.value)


def test_api_key_is_not_in_repr_of_options_or_clients() -> None:
    options = resolve()
    assert KEY not in repr(options)
    assert KEY not in str(options)
    client = AsyncPulse(KEY, base_url="http://127.0.0.1:1")
    assert KEY not in repr(client)
    assert KEY not in repr(client.options)
    assert KEY not in repr(client._rt.transport)


def test_client_reads_the_key_from_the_process_environment(
    no_pulse_env: pytest.MonkeyPatch,
) -> None:
    no_pulse_env.setenv("PULSE_API_KEY", "pw_test_from_env")
    assert AsyncPulse().options.api_key == "pw_test_from_env"
    no_pulse_env.delenv("PULSE_API_KEY")
    with pytest.raises(ValidationError) as info:
        AsyncPulsewave()
    assert info.value.field == "api_key"


# --- base url ---------------------------------------------------------------------------------


def test_base_url_defaults_to_production() -> None:
    assert resolve().base_url == "https://api.pulse.io/v2"
    assert resolve(default=PULSEWAVE_BASE_URL).base_url == "https://api.pulsewave.dev/v1"


def test_base_url_argument_wins_over_environment() -> None:
    options = resolve(
        base_url="https://eu.pulse.io/v2", environ={"PULSE_BASE_URL": "https://us.pulse.io/v2"}
    )
    assert options.base_url == "https://eu.pulse.io/v2"


def test_base_url_from_environment() -> None:
    options = resolve(environ={"PULSE_BASE_URL": "https://staging.pulse.io/v2/"})
    assert options.base_url == "https://staging.pulse.io/v2"


def test_pulsewave_prefers_its_own_variable(no_pulse_env: pytest.MonkeyPatch) -> None:
    no_pulse_env.setenv("PULSE_BASE_URL", "http://127.0.0.1:9000")
    assert AsyncPulsewave(KEY).options.base_url == "http://127.0.0.1:9000/v1"
    assert AsyncPulse(KEY).options.base_url == "http://127.0.0.1:9000/v2"
    no_pulse_env.setenv("PULSEWAVE_BASE_URL", "https://pw.example.com/v1")
    assert AsyncPulsewave(KEY).options.base_url == "https://pw.example.com/v1"
    assert AsyncPulse(KEY).options.base_url == "http://127.0.0.1:9000/v2"


def test_pulsewave_ignores_a_pulse_url_with_the_other_apis_path(
    no_pulse_env: pytest.MonkeyPatch,
) -> None:
    no_pulse_env.setenv("PULSE_BASE_URL", "https://eu.pulse.io/v2")
    assert AsyncPulse(KEY).options.base_url == "https://eu.pulse.io/v2"
    assert AsyncPulsewave(KEY).options.base_url == PULSEWAVE_BASE_URL


def test_empty_environment_variable_is_ignored() -> None:
    options = resolve(environ={"PULSE_BASE_URL": ""})
    assert options.base_url == PULSE_BASE_URL


@pytest.mark.parametrize(
    ("given", "default", "expected"),
    [
        ("http://127.0.0.1:8080", PULSE_BASE_URL, "http://127.0.0.1:8080/v2"),
        ("http://127.0.0.1:8080/", PULSEWAVE_BASE_URL, "http://127.0.0.1:8080/v1"),
        ("https://api.example.com", PULSE_BASE_URL, "https://api.example.com/v2"),
        ("https://api.example.com/custom", PULSE_BASE_URL, "https://api.example.com/custom"),
        ("https://api.example.com/v2///", PULSE_BASE_URL, "https://api.example.com/v2"),
    ],
)
def test_bare_root_gets_the_version_path(given: str, default: str, expected: str) -> None:
    assert resolve(base_url=given, default=default).base_url == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.9.9.9",
        "http://[::1]:8080/v2",
        "http://localhost:8080/v2",
        "http://LOCALHOST",
        "http://api.localhost/v2",
    ],
)
def test_plain_http_accepted_for_loopback(url: str) -> None:
    assert resolve(base_url=url).base_url.startswith("http://")


@pytest.mark.parametrize(
    "url",
    [
        "http://api.pulse.io/v2",
        "http://10.0.0.1/v2",
        "http://192.168.1.1",
        "http://localhost.evil.com/v2",
        "http://[::2]/v2",
        "http://0.0.0.0:8080",
    ],
)
def test_plain_http_refused_elsewhere(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        resolve(base_url=url)
    assert info.value.field == "base_url"
    assert "https" in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://api.pulse.io/v2",
        "api.pulse.io/v2",
        "https://",
        "https:///v2",
        "https://user:pw@api.pulse.io/v2",
        "https://api.pulse.io/v2?x=1",
        "https://api.pulse.io/v2#frag",
        "https://api.pulse.io/v2\r\nX: y",
        "https://api.pulse.io:99999/v2",
        "https://api.pulse.io:port/v2",
    ],
)
def test_malformed_base_urls(url: str) -> None:
    assert field_of(base_url=url) == "base_url"


def test_base_url_must_be_a_string() -> None:
    assert field_of(base_url=b"https://api.pulse.io/v2") == "base_url"


def test_environment_base_url_is_validated_too() -> None:
    assert field_of(environ={"PULSE_BASE_URL": "http://api.pulse.io"}) == "base_url"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("[::1]", True),
        ("::1", True),
        ("a.localhost", True),
        ("example.com", False),
        ("10.1.1.1", False),
        ("", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


# --- timeout and other numbers ----------------------------------------------------------------


def test_timeout_defaults() -> None:
    assert Timeout.coerce(None) == Timeout(connect=5.0, read=30.0, total=60.0)
    assert resolve().timeout == Timeout()


def test_timeout_number_is_the_total_deadline() -> None:
    assert Timeout.coerce(10) == Timeout(connect=5.0, read=10.0, total=10.0)
    assert Timeout.coerce(2.5) == Timeout(connect=2.5, read=2.5, total=2.5)
    assert Timeout.coerce(120) == Timeout(connect=5.0, read=30.0, total=120.0)


def test_timeout_instance_passes_through() -> None:
    timeout = Timeout(connect=1, read=2, total=3)
    assert Timeout.coerce(timeout) is timeout
    assert resolve(timeout=timeout).timeout is timeout


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), float("-inf")])
def test_timeout_must_be_positive_and_finite(value: float) -> None:
    with pytest.raises(ValidationError) as info:
        Timeout.coerce(value)
    assert (info.value.field or "").startswith("timeout")


@pytest.mark.parametrize("value", [True, "10", [1]])
def test_timeout_of_the_wrong_type(value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        Timeout.coerce(value)
    assert info.value.field == "timeout"


def test_timeout_fields_validated_one_by_one() -> None:
    with pytest.raises(ValidationError) as info:
        Timeout(read=0)
    assert info.value.field == "timeout.read"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_retries", -1),
        ("max_retries", True),
        ("max_retries", 1.0),
        ("max_response_bytes", 0),
        ("max_response_bytes", True),
        ("max_connections", 0),
        ("max_connections", "10"),
    ],
)
def test_integer_options_checked(name: str, value: Any) -> None:
    assert field_of(**{name: value}) == name


def test_integer_options_accepted() -> None:
    options = resolve(max_retries=0, max_response_bytes=1, max_connections=1, verify_ssl=0)
    assert (options.max_retries, options.max_response_bytes, options.max_connections) == (0, 1, 1)
    assert options.verify_ssl is False


def test_default_headers_checked() -> None:
    options = resolve(default_headers={"X-Team": "ops"})
    assert options.default_headers == {"X-Team": "ops"}
    assert field_of(default_headers={"X-Team": "a\r\nInjected: 1"}) == "default_headers['X-Team']"
    assert field_of(default_headers={"X-Team": 5}) == "default_headers['X-Team']"
    assert field_of(default_headers={"X-Team": "\x01"}) == "default_headers['X-Team']"
    for name in ["X Team", "", "X:Team", "X\nTeam", "Ünïcode"]:
        assert field_of(default_headers={name: "v"}) == "default_headers"


def test_options_are_frozen() -> None:
    options = resolve()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        options.api_key = "other"  # type: ignore[misc]
    assert attrs.evolve(options, max_retries=5).max_retries == 5
