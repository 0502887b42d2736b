"""The pure parts of ``pulse``, in process: error lines, redaction, tables, progress, parsing.

The subprocess tests show these at work end to end; these pin down the details
(and cost milliseconds).
"""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime

import attrs
import pytest

from pulse_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    NotFoundError,
    RateLimitError,
    ValidationError,
)
from pulse_async._cli._output import (
    USER_FIELDS,
    RedactingFilter,
    _CounterProgress,
    format_error,
    make_progress,
    print_record,
    print_table,
    redact,
    to_json,
)
from pulse_async._cli._parser import parse

KEY = "pw_live_0123456789abcdefCANARY"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_error_lines_name_code_field_and_request_id() -> None:
    server_side = ValidationError(
        "email is already in use", field="email", status=400, request_id="req_01HX9"
    )
    assert format_error(server_side) == (
        "error: validation_failed (field: email): email is already in use [request_id req_01HX9]"
    )
    client_side = ValidationError("must be a valid email address", field="email")
    assert format_error(client_side) == (
        "error: validation_failed (field: email): must be a valid email address"
        " (checked before sending: nothing was sent)"
    )
    not_found = NotFoundError("no user", status=404, code="not_found", request_id="req_2")
    assert format_error(not_found) == "error: not_found: no user [request_id req_2]"
    gateway = APIError("Bad Gateway", status=502)
    assert format_error(gateway) == "error: HTTP 502: Bad Gateway"
    limited = RateLimitError("slow down", code="rate_limited", retry_after=7.0)
    assert format_error(limited) == "error: rate_limited: slow down (retry after 7s)"
    assert format_error(APITimeoutError("took too long")) == "error: timeout: took too long"
    assert format_error(APIConnectionError("refused")) == "error: connection_error: refused"
    multi_line = APIError(f"bad\nkey {KEY}", status=500, code="server_error")
    assert format_error(multi_line) == "error: server_error: bad key pw_***redacted***"


def test_redaction_of_text_and_log_records() -> None:
    assert redact(f"Bearer {KEY}") == "Bearer pw_***redacted***"
    assert redact("token s3cret-value", ["s3cret-value"]) == "token pw_***redacted***"

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(["other-secret"]))
    logger = logging.getLogger("pulse_async.tests.cli")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("key=%s and %s", KEY, "other-secret")
        try:
            raise RuntimeError(f"failed with {KEY}")
        except RuntimeError:
            logger.exception("boom")
        logger.warning("nothing to hide")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    text = stream.getvalue()
    assert KEY not in text
    assert "other-secret" not in text
    assert "key=pw_***redacted*** and pw_***redacted***" in text
    assert "RuntimeError: failed with pw_***redacted***" in text
    assert "nothing to hide" in text


@attrs.frozen
class _Row:
    id: str
    name: str | None
    when: datetime | None = None
    tags: dict[str, str] = attrs.field(factory=dict)
    idempotency_key: str | None = None


def test_tables_and_records() -> None:
    out = io.StringIO()
    rows = [
        _Row(id="usr_1", name="Ada", when=datetime(2024, 11, 14, 9, tzinfo=UTC)),
        _Row(id="usr_22", name="x" * 80 + "\nsecond line", tags={"a": "1"}),
    ]
    columns = (("id", "id"), ("name", "name"), ("when", "when"))
    print_table(rows, columns, out, empty="No rows.", max_width=20)
    assert out.getvalue().splitlines() == [
        "ID      NAME                  WHEN",
        "usr_1   Ada                   2024-11-14T09:00:00Z",
        "usr_22  " + "x" * 19 + "…  -",
    ]
    out = io.StringIO()
    print_table([], columns, out, empty="No rows.")
    assert out.getvalue() == "No rows.\n"

    out = io.StringIO()
    row = _Row(id="usr_1", name=None, tags={"team": "ops"}, idempotency_key="k1")
    print_record(row, (("id", "id"), ("name", "name"), ("tags", "tags")), out)
    assert out.getvalue().splitlines() == [
        "id               usr_1",
        "tags             team=ops",
        "idempotency_key  k1",
    ]


def test_json_uses_the_api_names_and_times() -> None:
    @attrs.frozen
    class User:
        id: str = "usr_1"
        email: str = "a@example.com"
        name: str | None = None
        role: str = "admin"
        status: str = "active"
        metadata: dict[str, str] = attrs.field(factory=dict)
        created_at: datetime = datetime(2024, 11, 14, 9, 0, 0, 5, tzinfo=UTC)
        invited_at: datetime | None = None
        updated_at: datetime | None = None

    assert to_json(User(), USER_FIELDS) == {
        "id": "usr_1",
        "email": "a@example.com",
        "name": None,
        "role": "admin",
        "status": "active",
        "metadata": {},
        "created_at": "2024-11-14T09:00:00.000005Z",
        "invited_at": None,
        "updated_at": None,
    }


def test_progress_only_on_a_terminal() -> None:
    quiet = io.StringIO()
    bar = make_progress(3, "sending", quiet)
    bar.update(3, 1)
    bar.close()
    assert quiet.getvalue() == ""

    tty = _Tty()
    bar = make_progress(3, "sending", tty)  # tqdm is installed with the dev tools
    for done in (1, 2, 3):
        bar.update(done, failed=1)
    bar.close()
    assert "3/3" in tty.getvalue()
    assert "failed=1" in tty.getvalue()

    tty = _Tty()
    counter = _CounterProgress(3, "sending", tty)
    counter.update(1)
    counter.update(2)  # within a tenth of a second of the last: not redrawn
    counter.update(3, failed=1)  # the last one always is
    counter.close()
    assert tty.getvalue() == "\rsending 1/3\rsending 3/3 (failed 1)\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["--json", "-v", "--base-url", "http://127.0.0.1:1", "users", "list"],
        ["users", "list", "--json", "-v", "--base-url", "http://127.0.0.1:1"],
        ["--json", "users", "list", "--verbose", "--base-url=http://127.0.0.1:1"],
    ],
)
def test_common_options_go_before_or_after_the_command(argv: list[str]) -> None:
    args, extra = parse(argv)
    assert extra == []
    assert (args.handler, args.json, args.verbose) == ("users_list", True, True)
    assert args.base_url == "http://127.0.0.1:1"
    assert (args.limit, args.all, args.page_max) == (20, False, 100)


def test_parsing_details(capsys: pytest.CaptureFixture[str]) -> None:
    args, extra = parse(["serve", "--port", "0", "--fault", "bad_gateway:count=1"])
    assert (args.handler, extra) == ("serve", ["--port", "0", "--fault", "bad_gateway:count=1"])
    args, _ = parse(["demo", "--count", "1,000", "--rate-limit", "pro"])
    assert (args.count, args.rate_limit, args.faults) == (1000, 1000.0, False)
    assert parse(["demo", "--rate-limit", "off"])[0].rate_limit is None
    args, _ = parse(["users", "update", "usr_1", "--metadata", "a=1=2", "--remove-metadata", "b"])
    assert (args.metadata, args.remove_metadata) == ([("a", "1=2")], ["b"])
    args, _ = parse(["threads", "list", "--read", "--all"])
    assert (args.unread, args.all, args.page_max) == (False, True, 50)

    for bad in (["users", "create", "--email", "a@b.c", "--role", "x", "--metadata", "novalue"],
                ["users", "list", "--limit", "0"], ["messages", "wait", "m", "--timeout", "-1"],
                ["demo", "--rate-limit", "0.0.0"]):  # fmt: skip
        with pytest.raises(SystemExit) as exited:
            parse(bad)
        assert exited.value.code == 2
    with pytest.raises(SystemExit):
        parse(["users", "list", KEY])
    assert KEY not in capsys.readouterr().err


def test_cli_wait_and_fan_out_defaults_and_limits_are_the_librarys() -> None:
    from pulse_async import constants

    args, _ = parse(["messages", "wait", "msg_1"])
    assert (args.timeout, args.poll_interval) == (
        constants.DEFAULT_WAIT_TIMEOUT,
        constants.DEFAULT_POLL_INTERVAL,
    )
    assert parse(["demo", "--concurrency", str(constants.MAX_CONCURRENCY)])[0].concurrency == (
        constants.MAX_CONCURRENCY
    )
    # An infinite wait passed the CLI's check, then failed as the library refused it.
    for bad in (["messages", "wait", "m", "--timeout", "inf"],
                ["messages", "wait", "m", "--poll-interval", "nan"],
                ["demo", "--concurrency", str(constants.MAX_CONCURRENCY + 1)]):  # fmt: skip
        with pytest.raises(SystemExit) as exited:
            parse(bad)
        assert exited.value.code == 2
