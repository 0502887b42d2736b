"""Webhook verifications per second for a 1 KiB event: ours against the reference library.

Each round times ``--count`` verifications of the same signed 1 KiB delivery
with each implementation, back to back in this process (the order alternates
between rounds); the table shows the median rate over ``--rounds`` rounds.

- ``pulse_async Webhook.verify``: headers, timestamp window, constant-time
  signature check, JSON parse and the event and ``Message`` models.
- ``pulse_async verify_signature``: the same checks without parsing the body.
- ``standardwebhooks Webhook.verify``: the reference library (``json_parse=True``,
  its default: a dict, no models), and with ``json_parse=False``.

    python -m benchmarks.webhooks                  # 7 rounds of 20,000
    python -m benchmarks.webhooks --smoke          # 2 short rounds: checks it runs
    python -m benchmarks.webhooks --json           # the rows as JSON
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def event_of_1kib() -> bytes:
    """A §5 ``message.delivered`` event padded (in ``metadata``) to exactly 1,024 bytes."""
    event: dict[str, Any] = {
        "id": "evt_01HX9BENCH",
        "object": "event",
        "type": "message.delivered",
        "created_at": "2024-11-14T10:00:05Z",
        "data": {
            "id": "msg_01HX9BENCH",
            "object": "message",
            "channel": "email",
            "status": "delivered",
            "to": "ada@example.com",
            "from": "news@example.com",
            "subject": "Your order has shipped",
            "template_id": None,
            "metadata": {"order": "42", "pad": ""},
            "created_at": "2024-11-14T10:00:00Z",
        },
    }
    size = len(json.dumps(event, separators=(",", ":")))
    event["data"]["metadata"]["pad"] = "x" * (1024 - size)
    body = json.dumps(event, separators=(",", ":")).encode()
    assert len(body) == 1024
    return body


def candidates() -> dict[str, Callable[[], object]]:
    """One zero-argument verification per implementation, each checked to succeed."""
    import standardwebhooks

    from pulse_async.webhooks import Webhook

    body = event_of_1kib()
    ours = Webhook(SECRET)
    headers = ours.sign(body, webhook_id="evt_01HX9BENCH")
    reference = standardwebhooks.Webhook(SECRET)
    runs: dict[str, Callable[[], object]] = {
        "pulse_async Webhook.verify": lambda: ours.verify(body, headers),
        "pulse_async verify_signature": lambda: ours.verify_signature(body, headers),
        "standardwebhooks Webhook.verify": lambda: reference.verify(body, headers),
        "standardwebhooks verify(json_parse=False)": lambda: reference.verify(
            body, headers, json_parse=False
        ),
    }
    for run in runs.values():
        run()  # fails loudly if an implementation refuses the delivery
    return runs


def measure(rounds: int, count: int) -> list[dict[str, Any]]:
    """The median verifications per second of each implementation, with its spread."""
    runs = candidates()
    rates: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for number in range(rounds):
        order = names if number % 2 == 0 else names[::-1]
        for name in order:
            run = runs[name]
            start = time.perf_counter()
            for _ in range(count):
                run()
            rates[name].append(count / (time.perf_counter() - start))
    reference = statistics.median(rates["standardwebhooks Webhook.verify"])
    return [
        {
            "implementation": name,
            "per_second": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "vs_reference": statistics.median(values) / reference,
            "rounds": rounds,
            "count": count,
        }
        for name, values in rates.items()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.webhooks", description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--smoke", action="store_true", help="2 rounds of 200: checks it runs")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    rounds, count = (2, 200) if args.smoke else (args.rounds, args.count)
    rows = measure(rounds, count)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"Webhook verification, 1 KiB event: median of {rounds} rounds of {count:,}")
    print("| implementation | verifications/s | range | vs standardwebhooks |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['implementation']} | {row['per_second']:,.0f} | "
            f"{row['min']:,.0f}–{row['max']:,.0f} | {row['vs_reference']:.2f}× |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
