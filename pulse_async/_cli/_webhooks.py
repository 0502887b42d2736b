"""``pulse webhooks listen | verify | sign``: receive, check and make signed deliveries.

The secret is read only from an environment variable (``--secret-env``,
default ``PULSE_WEBHOOK_SECRET``), never from an option, and is never printed.

- ``listen`` serves a receiver (verify, deduplicate, print each event as a table
  row or a JSON line), and with ``--forward-to URL`` passes each verified
  delivery on, unchanged, answering the sender with that URL's status so its
  retries reach your application too (``stripe listen`` style).
- ``verify`` checks one saved delivery read from stdin: an HTTP request dump
  (optional request line, headers, blank line, body), or the bare body with
  ``--header`` options.
- ``sign`` prints a signed delivery in that same dump format (one newline after
  the body, not part of it) (a body from stdin,
  or a sample ``--event TYPE``), so ``pulse webhooks sign --event
  message.delivered | pulse webhooks verify`` round-trips.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from pulse_async._cli._parser import UsageError
from pulse_async.webhooks import (
    Outcome,
    Webhook,
    WebhookEvent,
    WebhookVerificationError,
)

__all__ = ["add_webhook_commands", "run_webhooks"]

DEFAULT_SECRET_ENV = "PULSE_WEBHOOK_SECRET"
EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def add_webhook_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add ``pulse webhooks …`` to the command tree."""
    group = commands.add_parser("webhooks", help="receive, verify and sign webhook deliveries")
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--secret-env",
            default=DEFAULT_SECRET_ENV,
            metavar="NAME",
            help="environment variable holding the whsec_ secret (several: space-separated) "
            f"(default {DEFAULT_SECRET_ENV})",
        )
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.set_defaults(handler="webhooks")

    listen = actions.add_parser(
        "listen", help="run a receiver that verifies and prints each event",
        description="Run a receiver that verifies, deduplicates and prints each event; "
        "point the local server at it: pulse serve --webhook http://127.0.0.1:9000/",
    )  # fmt: skip
    common(listen)
    listen.add_argument("--host", default="127.0.0.1", help="address to bind (loopback)")
    listen.add_argument("--port", type=int, default=9000, help="port (default 9000; 0 = free)")
    listen.add_argument("--path", default="/", help="URL path to receive on (default /)")
    listen.add_argument(
        "--forward-to", metavar="URL", help="pass each verified delivery on to URL, unchanged"
    )

    verify = actions.add_parser(
        "verify", help="check one saved delivery read from stdin",
        description="Check one saved delivery from stdin: an HTTP request dump (headers, "
        "blank line, body), or the bare body with --header options. Exit 0 if it verifies, "
        "1 if it must not be trusted.",
    )  # fmt: skip
    common(verify)
    verify.add_argument(
        "-H", "--header", action="append", default=[], metavar="'NAME: VALUE'",
        help="a header of the delivery (then stdin is the bare body); may be repeated",
    )  # fmt: skip
    verify.add_argument(
        "--tolerance", type=float, default=300.0, metavar="SECONDS",
        help="how old (or new) the timestamp may be (default 300)",
    )  # fmt: skip

    sign = actions.add_parser(
        "sign", help="sign a test payload (stdin, or a sample --event TYPE)",
        description="Print a signed delivery: headers, a blank line, the body.",
    )  # fmt: skip
    common(sign)
    sign.add_argument(
        "--event", metavar="TYPE", help="sign a sample event of TYPE instead of stdin"
    )
    sign.add_argument("--id", dest="webhook_id", help="webhook-id (default a new evt_…)")
    sign.add_argument("--timestamp", type=int, help="Unix seconds (default now)")


def _webhook(args: argparse.Namespace, **kwargs: Any) -> Webhook:
    value = os.environ.get(args.secret_env, "").split()
    if not value:
        raise UsageError(f"set ${args.secret_env} to the endpoint's whsec_ secret")
    return Webhook(value, **kwargs)


def run_webhooks(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``pulse webhooks <action>``; the exit status."""
    out = out or sys.stdout
    if args.action == "sign":
        return _sign(args, out)
    if args.action == "verify":
        return _verify(args, out)
    return asyncio.run(_listen(args, out))


# --- sign and verify ----------------------------------------------------------------------------


def _sample(event_type: str, event_id: str) -> bytes:
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    status = event_type.partition(".")[2] or "queued"
    event = {
        "id": event_id, "object": "event", "type": event_type, "created_at": now,
        "data": {
            "id": "msg_" + secrets.token_hex(6), "object": "message", "channel": "email",
            "status": status, "to": "ada@example.com", "from": "news@example.com",
            "subject": "Hello", "template_id": None, "metadata": {}, "created_at": now,
        },
    }  # fmt: skip
    return json.dumps(event, separators=(",", ":")).encode()


def _sign(args: argparse.Namespace, out: TextIO) -> int:
    webhook = _webhook(args)
    event_id = args.webhook_id or "evt_" + secrets.token_hex(8)
    body = _sample(args.event, event_id) if args.event else sys.stdin.buffer.read()
    headers = webhook.sign(body, webhook_id=event_id, timestamp=args.timestamp)
    if args.json:
        out.write(json.dumps({"headers": headers, "body": body.decode("utf-8", "replace")}) + "\n")
        return EXIT_OK
    for name, value in headers.items():
        out.write(f"{name}: {value}\n")
    out.write("content-type: application/json\n\n")
    out.flush()
    out.write(body.decode("utf-8", "surrogateescape") + "\n")
    return EXIT_OK


def _parse_dump(data: bytes) -> tuple[dict[str, str], bytes]:
    """Headers and body of an HTTP request dump (CRLF or LF line ends)."""
    normal = data.replace(b"\r\n", b"\n")
    head, sep, body = normal.partition(b"\n\n")
    if not sep:
        raise UsageError("stdin is not a delivery dump (headers, a blank line, the body)")
    headers: dict[str, str] = {}
    for number, line in enumerate(head.decode("latin-1").split("\n")):
        if number == 0 and " HTTP/" in line:
            continue  # the request line
        name, colon, value = line.partition(":")
        if not colon:
            raise UsageError(f"not a header line: {line[:60]!r}")
        headers[name.strip().lower()] = value.strip()
    # A dump ends with one newline after the body; it is not part of the body.
    return headers, body[:-1] if body.endswith(b"\n") else body


def _verify(args: argparse.Namespace, out: TextIO) -> int:
    webhook = _webhook(args, tolerance=args.tolerance)
    data = sys.stdin.buffer.read()
    if args.header:
        headers = {}
        for item in args.header:
            name, colon, value = item.partition(":")
            if not colon:
                raise UsageError(f"--header takes 'NAME: VALUE', got {item[:60]!r}")
            headers[name.strip().lower()] = value.strip()
        body = data
    else:
        headers, body = _parse_dump(data)
    try:
        event = webhook.verify(body, headers)
    except WebhookVerificationError as exc:
        if args.json:
            out.write(json.dumps({"verified": False, "reason": exc.reason}) + "\n")
        else:
            out.write(f"refused: {exc}\n")
        return EXIT_REFUSED
    if args.json:
        out.write(json.dumps({"verified": True, "event": event.raw}) + "\n")
    else:
        out.write(f"verified: {_describe(event)}\n")
    return EXIT_OK


def _describe(event: WebhookEvent) -> str:
    data = event.data
    what = f"{data.id} {data.status}" if data is not None else "-"
    return f"{event.type:<18} {what:<28} {event.id}"


# --- listen -------------------------------------------------------------------------------------


async def _listen(args: argparse.Namespace, out: TextIO) -> int:
    from pulse_async.webhooks._aiohttp import aiohttp_handler, forward, serve_receiver

    webhook = _webhook(args)
    forward_to: str | None = args.forward_to
    if forward_to is not None and not forward_to.startswith(("http://", "https://")):
        raise UsageError("--forward-to must be an http:// or https:// URL")
    forwarded: dict[str, int] = {}

    async def on_event(event: WebhookEvent) -> None:
        if forward_to is None:
            return
        headers = webhook.sign(event.body, webhook_id=event.id, timestamp=event.timestamp)
        status = await forward(forward_to, event.body, headers)
        forwarded[event.id] = status
        if not 200 <= status < 300:
            raise RuntimeError(f"{forward_to} answered {status}")

    def on_outcome(outcome: Outcome) -> None:
        event = outcome.event
        if args.json:
            line: dict[str, Any] = {"status": outcome.status, "result": outcome.reason}
            if event is not None:
                line["event"] = event.raw
                if event.id in forwarded:
                    line["forwarded"] = forwarded[event.id]
            out.write(json.dumps(line) + "\n")
        else:
            stamp = time.strftime("%H:%M:%S")
            described = _describe(event) if event is not None else "-"
            extra = (
                f"  → {forwarded[event.id]}" if event is not None and event.id in forwarded else ""
            )
            out.write(f"{stamp}  {outcome.status}  {outcome.reason:<17} {described}{extra}\n")
        out.flush()

    handler = aiohttp_handler(webhook, on_event, on_outcome=on_outcome)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        async with serve_receiver(handler, host=args.host, port=args.port, path=args.path) as url:
            target = f", forwarding to {forward_to}" if forward_to else ""
            sys.stderr.write(
                f"Ready! Listening for Pulse webhooks on {url}{target} (Ctrl-C to stop)\n"
            )
            sys.stderr.flush()
            await stop.wait()
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    return EXIT_OK
