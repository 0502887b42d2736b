"""``pulse`` failures: one line on stderr, the right exit status, and never the API key."""

from __future__ import annotations

import re
import signal
import subprocess
import time

from cli_helpers import HANG_GUARD, Cli, cli_command

REQUEST_ID = re.compile(r"\[request_id req_[0-9a-f]+\]$")
_SEND = ("--to", "admin@example.com", "--subject", "s", "--body", "b")


def test_api_errors_exit_1_with_code_field_and_request_id(cli: Cli) -> None:
    cli.run("users", "create", "--email", "taken@example.com", "--role", "viewer")
    duplicate = cli.run(
        "users", "create", "--email", "taken@example.com", "--role", "viewer", expect=1
    )
    line = duplicate.stderr.strip()
    assert "\n" not in line
    assert line.startswith("error: validation_failed (field: email): email is already in use ")
    assert REQUEST_ID.search(line)
    assert duplicate.stdout == ""

    # A well-formed key the server does not know: 401.
    unknown_key = "pw_test_" + "0" * 32
    denied = cli.run("users", "list", key=unknown_key, expect=1)
    assert denied.stderr.startswith("error: unauthorized: ")
    assert REQUEST_ID.search(denied.stderr.strip())

    viewer = cli.run(
        "users", "create", "--email", "x@example.com", "--role", "viewer",
        key=cli.server.viewer_key, expect=1,
    )  # fmt: skip
    assert viewer.stderr.startswith("error: forbidden: ")


def test_usage_errors_exit_2_and_send_nothing(cli: Cli) -> None:
    before = cli.server.stats.total
    runs = {
        # Rejected by the SDK before sending: a usage error, naming the field.
        "email": cli.start("users", "create", "--email", "not-an-email", "--role", "editor"),
        "channel": cli.start("pulsewave", "send", "--channel", "fax", "--to", "x", "--from", "y"),
        # argparse's own errors, and the CLI's.
        "missing": cli.start("messages", "send", "--to", "a@example.com"),
        "unknown": cli.start("users", "list", "--colour"),
        "count": cli.start("demo", "--count", "0"),
        "nothing": cli.start("users", "update", "usr_1"),
        "no_key": cli.start("users", "list", key=None),
    }
    err = {name: run.result(expect=2).stderr for name, run in runs.items()}

    assert err["email"].startswith("error: validation_failed (field: email): ")
    assert "nothing was sent" in err["email"]
    assert err["channel"].startswith("error: validation_failed (field: channel): ")
    assert "the following arguments are required: --subject, --body" in err["missing"]
    assert "unrecognized arguments: --colour" in err["unknown"]
    assert "usage: pulse demo" in err["count"]
    assert err["nothing"] == (
        "error: nothing to change: give --role, --name, --metadata or --remove-metadata\n"
    )
    assert err["no_key"].startswith("error: no API key: set PULSE_API_KEY")
    assert cli.server.stats.total == before


def test_help_says_where_the_key_comes_from(cli: Cli) -> None:
    text = cli.run("--help").stdout
    assert "PULSE_API_KEY" in text
    assert "never from an option" in text
    assert "shell history" in text
    for command in ("demo", "serve", "users", "messages", "threads", "pulsewave"):
        assert re.search(rf"^\s+{command}\s", text, re.MULTILINE), command
    assert cli.run("--version").stdout.startswith("pulse-messaging ")


def test_the_api_key_never_reaches_stdout_or_stderr(cli: Cli) -> None:
    canary = cli.server.create_key(role="admin")
    pending = [
        cli.start("--verbose", "users", "list", "--json", key=canary),
        cli.start("messages", "send", *_SEND, "--verbose", key=canary),
        cli.start("-v", "messages", "get", "msg_missing", key=canary),
        cli.start("-v", "users", "create", "--email", "bad", "--role", "x", key=canary),
        # Refused without echoing the value, wherever it was put.
        cli.start("users", "list", "--api-key", canary, key=None),
        cli.start("users", "list", canary),
    ]
    expected = [0, 0, 1, 2, 2, 2]
    runs = [run.result(expect=code) for run, code in zip(pending, expected, strict=True)]
    for result in runs:
        assert canary not in result.stdout, result
        assert canary not in result.stderr, result
    assert "DEBUG" in runs[0].stderr
    assert "GET /v2/users status=200" in runs[0].stderr  # --verbose logged the request, not the key
    assert "--api-key is not accepted" in runs[4].stderr
    assert "PULSE_API_KEY" in runs[4].stderr


def test_ctrl_c_exits_130_without_a_traceback(cli: Cli) -> None:
    receipt = cli.run(
        "messages", "send", "--to", "admin@example.com", "--subject", "s", "--body", "b", "--json"
    ).json()
    polls = "GET /v2/messages/{id}"
    # The server's clock is frozen: the message stays queued and the wait polls on.
    proc = subprocess.Popen(
        cli_command("messages", "wait", receipt["message_id"], "--timeout", "600"),
        env=cli.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + HANG_GUARD
        while cli.server.stats.requests[polls] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert cli.server.stats.requests[polls] > 0
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=HANG_GUARD)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130
    assert stdout == ""
    assert stderr == "interrupted\n"


def test_a_reader_that_goes_away_stops_the_output_quietly(cli: Cli) -> None:
    # ``pulse users list | head -1``: the pipe closes before pulse writes.
    proc = subprocess.Popen(
        cli_command("users", "list", "--all"),
        env=cli.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.close()
    try:
        _, stderr = proc.communicate(timeout=HANG_GUARD)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 1
    assert stderr == ""
