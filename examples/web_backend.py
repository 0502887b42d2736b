"""An async web backend that fans out an announcement to many users.

``POST /announce`` with ``{"to": ["usr_…" or email, …], "subject": …, "body": …}``
sends one message per recipient through one shared ``AsyncPulse`` client (one
connection pool, one rate limiter, one retry budget for the whole process) and
answers with what happened to each::

    PULSE_API_KEY=pw_test_… PULSE_BASE_URL=http://127.0.0.1:8080 \\
        python examples/web_backend.py --port 8000

The client is created when the app starts and closed when it stops
(``cleanup_ctx``), never per request.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from pulse_async import AsyncPulse, MessageReceipt, PulseError

PULSE: web.AppKey[AsyncPulse] = web.AppKey("pulse", AsyncPulse)


async def announce(request: web.Request) -> web.Response:
    payload = await request.json()
    pulse = request.app[PULSE]
    recipients = payload.get("to") or []
    batch = pulse.messages.send_many(
        (
            {"to": [r], "subject": payload.get("subject"), "body": payload.get("body")}
            for r in recipients
        ),
        concurrency=32,
        batch_id=payload.get("batch_id"),
    )
    results: list[dict[str, Any]] = []
    async for recipient, outcome in _zip(recipients, batch):
        if isinstance(outcome, MessageReceipt):
            results.append({"to": recipient, "message_id": outcome.message_id})
        else:
            code = getattr(outcome, "code", None) or type(outcome).__name__
            results.append(
                {"to": recipient, "error": code, "field": getattr(outcome, "field", None)}
            )
    sent = sum(1 for r in results if "message_id" in r)
    return web.json_response({"sent": sent, "failed": len(results) - sent, "results": results})


async def _zip(
    recipients: list[str], batch: Any
) -> AsyncIterator[tuple[str, MessageReceipt | PulseError]]:
    index = 0
    async for outcome in batch.stream():
        yield recipients[index], outcome
        index += 1


def make_app(**client_options: Any) -> web.Application:
    """The app; ``client_options`` go to ``AsyncPulse`` (default: key and URL from the env)."""
    app = web.Application()

    async def pulse_client(app: web.Application) -> AsyncIterator[None]:
        async with AsyncPulse(**client_options) as pulse:
            app[PULSE] = pulse
            yield

    app.cleanup_ctx.append(pulse_client)
    app.router.add_post("/announce", announce)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port)
