"""A scripted loopback server and a fake clock, shared by the resilience tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Any]


class ScriptedServer:
    """Answers each request with the next scripted response (the last one repeats)."""

    def __init__(self) -> None:
        self.script: list[Handler] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.url = ""

    def then(self, *handlers: Handler) -> None:
        self.script.extend(handlers)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.requests.append((request.method, request.path, dict(request.headers)))
        handler = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        result = handler(request)
        if asyncio.iscoroutine(result):
            result = await result
        assert isinstance(result, web.StreamResponse)
        return result

    @property
    def keys(self) -> list[str | None]:
        return [headers.get("Idempotency-Key") for _, _, headers in self.requests]


def error(status: int, code: str = "server_error", **headers: str) -> Handler:
    def respond(_request: web.Request) -> web.Response:
        return web.json_response(
            {"error": {"code": code, "message": f"scripted {status}"}},
            status=status,
            headers=headers,
        )

    return respond


def html(status: int) -> Handler:
    return lambda _r: web.Response(
        status=status, text="<html>bad gateway</html>", content_type="text/html"
    )


def receipt(_request: web.Request) -> web.Response:
    return web.json_response(
        {"message_id": "msg_1", "status": "queued", "recipient_count": 1}, status=202
    )


class FakeTime:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)
