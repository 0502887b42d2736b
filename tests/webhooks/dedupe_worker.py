"""One receiving process of the multi-process dedupe test (run by the test, not by pytest).

Usage: ``python dedupe_worker.py REDIS_URL PREFIX EVENTS SEED OUT GO``. Connects,
writes ``OUT.ready``, waits for the file GO to appear (every worker starts at
once, however slowly each one started up), then delivers every event (in its own shuffled
order, three at once each) to ``handle`` with a :class:`RedisStore`, retrying
any non-2xx answer like a sender; its handler fails one time in four. Writes
one line per *successful* handler run to OUT.
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

from webhook_helpers import SECRET, event_body

from pulse_async.webhooks import RedisStore, Webhook, WebhookEvent, handle


async def main(url: str, prefix: str, events: int, seed: int, out: Path, go: Path) -> list[str]:
    rng = random.Random(seed)
    store = RedisStore(url, key_prefix=prefix)
    webhook = Webhook(SECRET)
    ran: list[str] = []

    async def on_event(event: WebhookEvent) -> None:
        await asyncio.sleep(rng.random() / 500)
        if rng.random() < 0.25:
            raise RuntimeError("flaky handler")
        ran.append(event.id)

    connections = asyncio.Semaphore(24)  # a sender keeps a bounded number of requests open

    async def deliver(event_id: str) -> None:
        body = event_body(event_id)
        while True:
            headers = webhook.sign(body, webhook_id=event_id)
            async with connections:
                outcome = await handle(webhook, body, headers, on_event, store=store)
            if outcome.status == 200:
                return
            await asyncio.sleep(0.005)

    ids = [f"evt_{i}" for i in range(events)] * 3
    rng.shuffle(ids)
    await store.release("warm-up", "none")  # connect before saying ready
    out.with_suffix(".ready").touch()
    while not go.exists():  # noqa: ASYNC240
        await asyncio.sleep(0.01)
    await asyncio.gather(*(deliver(event_id) for event_id in ids))
    await store.aclose()
    return ran


if __name__ == "__main__":
    __import__("logging").disable(50)  # the flaky handler's tracebacks are expected
    url, prefix, events, seed, out, go = sys.argv[1:]
    ran = asyncio.run(main(url, prefix, int(events), int(seed), Path(out), Path(go)))
    Path(out).write_text("".join(f"{event_id}\n" for event_id in ran))
