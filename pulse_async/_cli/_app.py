"""``main``: parse, run, and turn every expected failure into one line and an exit status.

Exit statuses: 0 success; 1 the API or the network said no (any
:class:`~pulse_async.PulseError` from the server or the connection); 2 a
usage error — argparse's, a missing ``PULSE_API_KEY``, or a
:class:`~pulse_async.ValidationError` the SDK raised *before sending* (the
command line asked for something the API would refuse: nothing left the
process); 130 interrupted. Expected errors never print a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from pulse_async._cli._output import RedactingFilter, format_error, redact
from pulse_async._cli._parser import UsageError, parse

__all__ = ["main"]

EXIT_OK = 0
EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: Every variable a key may come from: its value is redacted from whatever the CLI prints.
_KEY_VARIABLES = ("PULSE_API_KEY", "PULSEWAVE_API_KEY")


def _configure_logging(verbose: bool) -> None:
    """Warnings (and with ``--verbose``, the SDK's DEBUG log) on stderr, keys redacted."""
    secrets = [os.environ.get(name, "") for name in _KEY_VARIABLES]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    if verbose:
        handler.setLevel(logging.DEBUG)
        logging.getLogger("pulse_async").setLevel(logging.DEBUG)


def _fail(text: str) -> None:
    secrets = [os.environ.get(name, "") for name in _KEY_VARIABLES]
    sys.stderr.write(redact(text, secrets) + "\n")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pulse`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    try:
        args, extra = parse(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help, --version, or argparse's usage error
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.handler == "serve":
        # The local server's own command line, options and all.
        from pulse_async.testing.__main__ import main as serve_main

        return serve_main(extra, prog="pulse serve")
    _configure_logging(bool(getattr(args, "verbose", False)))
    try:
        return _run(args)
    except KeyboardInterrupt:
        _fail("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``pulse users list | head``): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_API_ERROR


def _run(args: argparse.Namespace) -> int:
    from pulse_async import PulseError, ValidationError

    try:
        if args.handler == "webhooks":
            from pulse_async._cli._webhooks import run_webhooks

            return run_webhooks(args)
        if args.handler == "demo":
            from pulse_async._cli._demo import run_demo
            from pulse_async.testing._server import new_event_loop

            with asyncio.Runner(loop_factory=new_event_loop) as runner:
                return runner.run(run_demo(args))
        from pulse_async._cli._commands import run_command

        return asyncio.run(run_command(args))
    except UsageError as exc:
        _fail(f"error: {exc}")
        return EXIT_USAGE
    except ValidationError as exc:
        _fail(format_error(exc))
        return EXIT_USAGE if exc.status is None else EXIT_API_ERROR
    except PulseError as exc:
        _fail(format_error(exc))
        return EXIT_API_ERROR
