"""The ``pulse`` command line (argparse, stdlib only, so ``pulse --help`` stays fast)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn, get_args

from pulse_async._core._ratelimit import PLANS
from pulse_async._version import DISTRIBUTION, __version__
from pulse_async.models._enums import ChannelName, MessageStatusName, RoleName, UserStatusName

__all__ = ["UsageError", "build_parser", "key_value", "parse"]

_DESCRIPTION = """\
The Pulse messaging APIs from the command line, built on the pulse_async SDK.

Try it with no account and no key:
  pulse demo                 fan out 1,000 messages to a local Pulse server in this process
  pulse serve --port 8080    run the local server, then point other commands at it
"""

_EPILOG = """\
environment:
  PULSE_API_KEY       the API key (pw_live_... or pw_test_...). Keys are read ONLY from
                      this variable, never from an option: a key on the command line
                      ends up in your shell history and in `ps` for every user to see.
  PULSE_BASE_URL      the API root (default https://api.pulse.io/v2); a bare root such as
                      http://127.0.0.1:8080 serves both APIs (/v2 and /v1 are added).
  PULSEWAVE_BASE_URL  the Pulsewave root, if it differs (pulse pulsewave ...).
  PULSEWAVE_API_KEY   the Pulsewave key, if it differs (read before PULSE_API_KEY).

exit status:
  0 success · 1 the API (or the network) refused or failed · 2 usage error, including
  an argument the SDK rejected before sending anything · 130 interrupted (Ctrl-C)

example:
  pulse serve --port 8080 &            # prints its keys and this export line
  export PULSE_BASE_URL=http://127.0.0.1:8080 PULSE_API_KEY=pw_test_...
  pulse users create --email ada@example.com --role editor --name "Ada Lovelace"
  pulse messages send --to ada@example.com --subject Hi --body "**Hello**" --wait
  pulse users list --json | jq '.[].email'
"""


class UsageError(Exception):
    """A command line that cannot run (exit status 2)."""


class _RefuseApiKey(argparse.Action):
    """``--api-key`` exists only to refuse, without echoing the key it was given."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> NoReturn:
        parser.error(
            "--api-key is not accepted: a key on the command line leaks into shell history "
            "and `ps`. Set PULSE_API_KEY in the environment instead"
        )


def key_value(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` → ``(KEY, VALUE)`` (for ``--metadata`` and ``--data``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _concurrency(text: str) -> int:
    value = _positive_int(text)
    if value > 1024:
        raise argparse.ArgumentTypeError(f"must be at most 1024, got {value}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def _rate(text: str) -> float | None:
    if text in ("off", "none", "0"):
        return None
    if text in PLANS:
        return float(PLANS[text])
    try:
        value = float(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {', '.join(PLANS)}, off or requests per minute, got {text!r}"
        ) from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0 requests per minute")
    return value


def _common(*, base_url: bool = True) -> argparse.ArgumentParser:
    """Options every command takes, before or after its name (``pulse --json users list``
    and ``pulse users list --json`` mean the same)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    # SUPPRESS: a leaf's default must not overwrite what was given before the command name.
    group.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one JSON document on stdout (a JSON array for lists)",
    )
    if base_url:
        group.add_argument(
            "--base-url",
            metavar="URL",
            default=argparse.SUPPRESS,
            help="API root (default: $PULSE_BASE_URL, else production)",
        )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log every request on stderr (DEBUG; API keys are redacted)",
    )
    group.add_argument("--api-key", nargs="?", action=_RefuseApiKey, help=argparse.SUPPRESS)
    return common


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    common = _common()
    parser = argparse.ArgumentParser(
        prog="pulse",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{DISTRIBUTION} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def leaf(
        group: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        text: str,
        parent: argparse.ArgumentParser = common,
    ) -> argparse.ArgumentParser:
        return group.add_parser(name, help=text, description=text, parents=[parent])

    # demo (its own server: no --base-url) --------------------------------------------------
    demo = leaf(
        commands,
        "demo",
        "start a local Pulse server in this process and fan out messages to it",
        _common(base_url=False),
    )
    demo.add_argument(
        "--count", type=_positive_int, default=1000, help="messages to send (default 1000)"
    )
    demo.add_argument(
        "--faults",
        action="store_true",
        help="inject faults (resets after commit, 500s, a 429 burst) to show retries and "
        "idempotency at work",
    )
    demo.add_argument(
        "--concurrency",
        type=_concurrency,
        default=64,
        help="sends in flight at once, 1-1024 (default 64)",
    )
    demo.add_argument(
        "--rate-limit",
        type=_rate,
        default=60_000.0,
        metavar="PER_MINUTE",
        help="the demo key's quota and the client's limiter: requests per minute, "
        f"{', '.join(PLANS)} or off (default 60000)",
    )
    demo.add_argument("--seed", default=None, help="seed for reproducible fault injection")
    demo.add_argument(
        "--serve",
        action="store_true",
        help="keep the server running afterwards, with its web inbox at its root URL, until Ctrl-C",
    )
    demo.add_argument(
        "--port", type=_port, default=0, help="the server's port (default: a free one)"
    )
    demo.set_defaults(handler="demo")

    # serve ---------------------------------------------------------------------------------
    serve = commands.add_parser(
        "serve",
        help="run the local Pulse server (same as python -m pulse_async.testing; "
        "pulse serve --help for its options)",
        add_help=False,
    )
    serve.set_defaults(handler="serve")

    # webhooks (listen, verify, sign) ------------------------------------------------------
    from pulse_async._cli._webhooks import add_webhook_commands

    add_webhook_commands(commands)

    # users ---------------------------------------------------------------------------------
    users = commands.add_parser("users", help="workspace users (Pulse v2)")
    users_cmd = users.add_subparsers(dest="action", metavar="ACTION", required=True)

    u_list = leaf(users_cmd, "list", "list users, newest first")
    u_list.add_argument("--status", choices=get_args(UserStatusName))
    u_list.add_argument("-q", "--query", dest="q", metavar="TEXT", help="search name and email")
    _add_limit(u_list, "users", page_max=100)
    u_list.set_defaults(handler="users_list")

    u_create = leaf(users_cmd, "create", "invite a user (needs an admin key)")
    u_create.add_argument("--email", required=True)
    u_create.add_argument("--role", required=True, help=_one_of(RoleName))
    u_create.add_argument("--name")
    u_create.add_argument(
        "--metadata", type=key_value, action="append", metavar="KEY=VALUE", help="repeatable"
    )
    u_create.add_argument("--idempotency-key", metavar="KEY")
    u_create.set_defaults(handler="users_create")

    u_update = leaf(users_cmd, "update", "change a user's role, name or metadata")
    u_update.add_argument("user_id", metavar="USER_ID")
    u_update.add_argument("--role", help=_one_of(RoleName))
    u_update.add_argument("--name")
    u_update.add_argument(
        "--metadata",
        type=key_value,
        action="append",
        metavar="KEY=VALUE",
        help="set a metadata key (repeatable; merged into the existing map)",
    )
    u_update.add_argument(
        "--remove-metadata", action="append", metavar="KEY", help="remove a key (repeatable)"
    )
    u_update.set_defaults(handler="users_update")

    u_delete = leaf(users_cmd, "delete", "delete a user and revoke their keys")
    u_delete.add_argument("user_id", metavar="USER_ID")
    u_delete.set_defaults(handler="users_delete")

    # messages ------------------------------------------------------------------------------
    messages = commands.add_parser("messages", help="messages to workspace members (Pulse v2)")
    messages_cmd = messages.add_subparsers(dest="action", metavar="ACTION", required=True)

    m_send = leaf(messages_cmd, "send", "send a message to 1-50 users or email addresses")
    m_send.add_argument(
        "--to",
        action="append",
        required=True,
        metavar="RECIPIENT",
        help="a user id or an email address (repeatable, or comma-separated)",
    )
    m_send.add_argument("--subject", required=True)
    m_send.add_argument("--body", required=True, help="Markdown; - reads it from stdin")
    m_send.add_argument("--thread-id", metavar="THREAD_ID", help="add to this thread")
    m_send.add_argument(
        "--send-at",
        metavar="TIME",
        help="schedule it: ISO 8601 with a zone, e.g. 2030-01-01T09:00:00Z",
    )
    m_send.add_argument("--idempotency-key", metavar="KEY", help="re-send safely with this key")
    m_send.add_argument("--wait", action="store_true", help="wait for a final status")
    m_send.add_argument("--timeout", type=_seconds, default=60.0, help="for --wait (default 60)")
    m_send.set_defaults(handler="messages_send")

    m_get = leaf(messages_cmd, "get", "a message and its delivery status")
    m_get.add_argument("message_id", metavar="MESSAGE_ID")
    m_get.set_defaults(handler="messages_get")

    m_wait = leaf(messages_cmd, "wait", "poll a message until it reaches a final status")
    _add_wait(m_wait)
    m_wait.set_defaults(handler="messages_wait")

    # threads -------------------------------------------------------------------------------
    threads = commands.add_parser("threads", help="conversations of the key's user (Pulse v2)")
    threads_cmd = threads.add_subparsers(dest="action", metavar="ACTION", required=True)
    t_list = leaf(threads_cmd, "list", "list threads, most recent activity first")
    unread = t_list.add_mutually_exclusive_group()
    unread.add_argument("--unread", dest="unread", action="store_const", const=True)
    unread.add_argument("--read", dest="unread", action="store_const", const=False)
    _add_limit(t_list, "threads", page_max=50)
    t_list.set_defaults(handler="threads_list")

    # pulsewave -----------------------------------------------------------------------------
    wave = commands.add_parser("pulsewave", help="one message on one channel (Pulsewave v1)")
    wave_cmd = wave.add_subparsers(dest="action", metavar="ACTION", required=True)

    w_send = leaf(wave_cmd, "send", "send an email, SMS or push message")
    w_send.add_argument("--channel", required=True, help=_one_of(ChannelName))
    w_send.add_argument("--to", required=True, help="email address, E.164 number or device token")
    w_send.add_argument("--from", dest="from_", required=True, metavar="FROM")
    w_send.add_argument("--subject")
    w_send.add_argument("--text")
    w_send.add_argument("--html")
    w_send.add_argument("--template-id", metavar="TEMPLATE_ID")
    w_send.add_argument(
        "--data", type=key_value, action="append", metavar="KEY=VALUE", help="template variable"
    )
    w_send.add_argument("--metadata", type=key_value, action="append", metavar="KEY=VALUE")
    w_send.add_argument("--idempotency-key", metavar="KEY")
    w_send.set_defaults(handler="pulsewave_send")

    w_get = leaf(wave_cmd, "get", "a message and its status")
    w_get.add_argument("message_id", metavar="MESSAGE_ID")
    w_get.set_defaults(handler="pulsewave_get")

    w_cancel = leaf(wave_cmd, "cancel", "cancel a message that is still queued")
    w_cancel.add_argument("message_id", metavar="MESSAGE_ID")
    w_cancel.set_defaults(handler="pulsewave_cancel")

    w_wait = leaf(wave_cmd, "wait", "poll a message until it reaches a final status")
    _add_wait(w_wait)
    w_wait.set_defaults(handler="pulsewave_wait")
    return parser


def _add_limit(parser: argparse.ArgumentParser, what: str, *, page_max: int) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--limit", type=_positive_int, default=20, help=f"show at most this many {what} (20)"
    )
    group.add_argument("--all", action="store_true", help=f"every {what[:-1]}, page by page")
    parser.set_defaults(page_max=page_max)


def _one_of(values: Any) -> str:
    """``"admin, editor or viewer"`` from a ``Literal`` type (the values' one home)."""
    names: tuple[str, ...] = get_args(values)
    return ", ".join(names[:-1]) + " or " + names[-1]


def _add_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("message_id", metavar="MESSAGE_ID")
    parser.add_argument(
        "--until",
        action="append",
        metavar="STATUS",
        help=f"stop at this status too (repeatable; default: any final status): "
        f"{_one_of(MessageStatusName)}",
    )
    parser.add_argument("--timeout", type=_seconds, default=60.0, help="seconds (default 60)")
    parser.add_argument(
        "--poll-interval", type=_seconds, default=0.5, help="first poll interval (0.5)"
    )


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Parse ``argv``; what follows ``serve`` is returned untouched for the server's parser."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.handler != "serve":
        parser.error("unrecognized arguments: " + " ".join(_safe(a) for a in extra))
    return args, extra


def _safe(arg: str) -> str:
    # An unrecognized argument might be a key pasted in the wrong place: never echo one.
    from pulse_async._cli._output import redact

    return redact(arg)
