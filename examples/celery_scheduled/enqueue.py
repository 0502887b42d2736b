"""Enqueue a scheduled batch for the Celery workers of ``tasks.py``.

::

    python enqueue.py --batch-id digest-2024-W46 --count 200 \\
        --send-at 2024-11-18T09:00:00Z --countdown 60 --wait

``--countdown`` delays the task itself (Celery ETA); ``--send-at`` schedules
the messages on the Pulse side. ``--times 2`` enqueues the same batch twice
(what a double click, a retried cron job or a re-delivered message does): the
workers still send every message once. With ``--wait`` it prints each task's
result as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys

from tasks import send_batch


def items_of(count: int, send_at: str | None) -> list[dict[str, object]]:
    """The batch: one digest per member, always the same for a given count and send_at."""
    items: list[dict[str, object]] = []
    for n in range(count):
        item: dict[str, object] = {
            "to": [f"member{n}@example.com"],
            "subject": "Your weekly digest",
            "body": f"Hello member {n}, here is what happened this week.",
        }
        if send_at is not None:
            item["send_at"] = send_at
        items.append(item)
    return items


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-id", required=True, help="the same id on every re-run")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--send-at", default=None, help="ISO 8601, at most 30 days ahead")
    parser.add_argument("--countdown", type=float, default=0, help="run the task this much later")
    parser.add_argument("--times", type=int, default=1, help="enqueue the same batch N times")
    parser.add_argument("--wait", action="store_true", help="wait for and print the results")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()

    items = items_of(args.count, args.send_at)
    results = [
        send_batch.apply_async(args=(args.batch_id, items), countdown=args.countdown or None)
        for _ in range(args.times)
    ]
    for result in results:
        if args.wait:
            print(json.dumps(result.get(timeout=args.timeout)), flush=True)
        else:
            print(json.dumps({"task_id": result.id}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
