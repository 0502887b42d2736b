"""A worker that sends a scheduled batch — and can be killed and re-run safely.

It sends one message per recipient, scheduled for ``--send-at``, as a batch
with a ``batch_id``. Item *i* carries the
Idempotency-Key ``"<batch_id>:<i>"``, so if the worker dies halfway (a
deploy, an OOM kill, ``kill -9``) and runs again with the same ``batch_id``,
the server replays the messages it already has and sends only the rest. A
re-run must ask for exactly the same thing — the server refuses a known key
with other parameters — which is why ``--send-at`` is a fixed time of the
batch, not "an hour from now"::

    PULSE_API_KEY=pw_test_… PULSE_BASE_URL=http://127.0.0.1:8080 \\
        python examples/scheduled_worker.py --batch-id digest-2024-W46 \\
            --send-at 2024-11-18T09:00:00Z --count 500

Each outcome is printed as one line (``sent <index> <message_id>`` or
``failed <index> <error>``) so a supervisor can follow progress.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime

from pulse_async import AsyncPulse, MessageReceipt


async def run(batch_id: str, count: int, send_at: datetime, concurrency: int) -> int:
    items = (
        {
            "to": [f"member{n}@example.com"],
            "subject": "Your weekly digest",
            "body": f"Hello member {n}, here is what happened this week.",
            "send_at": send_at,
        }
        for n in range(count)
    )
    failed = 0
    async with AsyncPulse() as pulse:
        batch = pulse.messages.send_many(items, concurrency=concurrency, batch_id=batch_id)
        index = 0
        async for outcome in batch.stream():
            if isinstance(outcome, MessageReceipt):
                print(f"sent {index} {outcome.message_id}", flush=True)
            else:
                failed += 1
                print(f"failed {index} {outcome}", flush=True)
            index += 1
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-id", required=True)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--send-at",
        type=datetime.fromisoformat,
        required=True,
        help="ISO 8601 time with an offset, the same on every re-run",
    )
    args = parser.parse_args()
    return asyncio.run(run(args.batch_id, args.count, args.send_at, args.concurrency))


if __name__ == "__main__":
    sys.exit(main())
