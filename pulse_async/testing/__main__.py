"""``python -m pulse_async.testing``: run the local Pulse server from a shell.

Prints the base URLs and the admin, editor and viewer keys, then serves until
Ctrl-C (or SIGTERM), and exits 0 without a traceback::

    python -m pulse_async.testing --port 8080
    python -m pulse_async.testing --rate-limit pro --seed 7 \\
        --fault "POST /v2/messages=reset_after_commit:probability=0.2"
    python -m pulse_async.testing --webhook http://127.0.0.1:9000/webhooks

Each ``--webhook URL`` registers an endpoint and prints its ``whsec_`` secret (a
local test secret: give it to your receiver).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import signal
import sys
from collections.abc import Sequence

from pulse_async._core._ratelimit import PLANS
from pulse_async.testing._faults import FAULT_KINDS, parse_fault_spec
from pulse_async.testing._server import PulseServer, new_event_loop
from pulse_async.testing._state import RateLimit


def _rate_limit(text: str) -> RateLimit:
    if text == "unlimited":
        return None
    if text in PLANS:
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"use {', '.join(PLANS)}, unlimited or a number of requests per minute"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1 request per minute")
    return value


def _fault(text: str) -> str:
    try:
        parse_fault_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _webhook_url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError("must be an http:// or https:// URL")
    return text


def build_parser(prog: str = "python -m pulse_async.testing") -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a local Pulse server: Pulse v2 on /v2, Pulsewave v1 on /v1.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback)")
    parser.add_argument("--port", type=int, default=8080, help="port (0 = a free one)")
    parser.add_argument(
        "--rate-limit",
        type=_rate_limit,
        default=None,
        metavar="PLAN",
        help=f"plan of the printed keys: {', '.join(PLANS)}, unlimited (default) or requests "
        "per minute",
    )
    parser.add_argument("--seed", default=None, help="seed for reproducible fault injection")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        type=_fault,
        metavar="SPEC",
        help="inject a fault: [ROUTE=]KIND[:name=value,...], e.g. "
        "'POST /v2/messages=reset_after_commit:probability=0.2'. Kinds: "
        + ", ".join(sorted(FAULT_KINDS))
        + ". May be repeated.",
    )
    parser.add_argument(
        "--step-delay",
        type=float,
        default=0.25,
        metavar="SECONDS",
        help="time a message spends in each lifecycle step (default 0.25)",
    )
    parser.add_argument(
        "--frozen-clock",
        action="store_true",
        help="freeze the server clock; move it with POST /_admin/advance",
    )
    parser.add_argument(
        "--verify-domain",
        action="append",
        default=[],
        metavar="DOMAIN",
        help="verify an email sending domain (example.com and pulse.test are)",
    )
    parser.add_argument(
        "--webhook",
        action="append",
        default=[],
        type=_webhook_url,
        metavar="URL",
        help="send signed webhook events of every message status change to URL "
        "(prints its secret). May be repeated.",
    )
    return parser


async def serve(args: argparse.Namespace) -> None:
    """Start the server, print where it is, wait for SIGINT/SIGTERM, stop."""
    server = PulseServer(
        host=args.host,
        port=args.port,
        rate_limit=args.rate_limit,
        seed=args.seed,
        frozen_clock=args.frozen_clock,
        step_delay=args.step_delay,
        verified_domains=("example.com", "pulse.test", *args.verify_domain),
    )
    for spec in args.fault:
        server.faults.add(**parse_fault_spec(spec))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows: no handlers
            loop.add_signal_handler(sig, stop.set)
    async with server:
        print(f"Pulse test server listening on {server.url}", flush=False)
        print(f"  Pulse v2:    {server.v2_url}")
        print(f"  Pulsewave:   {server.v1_url}")
        print(f"  admin key:   {server.admin_key}")
        print(f"  editor key:  {server.editor_key}")
        print(f"  viewer key:  {server.viewer_key}")
        print(f"  inbox:       {server.url}/  (the web inbox: every message, live)")
        print("Point the SDK and the pulse CLI at it (admin key) by pasting into a shell:")
        print(
            f"  export PULSE_BASE_URL={shlex.quote(server.url)}"
            f" PULSE_API_KEY={shlex.quote(server.admin_key)}"
        )
        if server.faults:
            print(f"  faults:      {len(server.faults.rules)} rule(s), seed {server.faults.seed}")
        for url in args.webhook:
            secret = server.add_webhook(url)
            print(f"  webhook:     {url}  secret {secret}")
        print("Press Ctrl-C to stop.", flush=True)
        await stop.wait()
    print("Stopped.", flush=True)


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Entry point; returns the exit status."""
    args = (build_parser(prog) if prog else build_parser()).parse_args(argv)
    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(serve(args))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 0
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
