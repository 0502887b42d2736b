"""Helpers of the local-server tests: a raw aiohttp caller (not the SDK) and its replies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp
import attrs

from pulse_async.testing import PulseServer

_UNSET: Any = object()


@attrs.frozen
class Reply:
    """One raw answer."""

    status: int
    headers: Mapping[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def error(self) -> dict[str, Any]:
        """The error object of an error envelope (asserting its shape)."""
        body = self.json
        assert set(body) == {"error"}
        error: dict[str, Any] = body["error"]
        assert isinstance(error["code"], str)
        assert isinstance(error["message"], str)
        assert error["message"]
        assert error["request_id"].startswith("req_")
        assert error["request_id"] == self.headers["X-Request-Id"]
        return error


class Api:
    """Raw HTTP against a :class:`PulseServer`, authenticated with ``key`` by default."""

    def __init__(self, session: aiohttp.ClientSession, server: PulseServer) -> None:
        self.session = session
        self.server = server
        self.key = server.admin_key

    async def __call__(
        self,
        method: str,
        path: str,
        *,
        json: Any = _UNSET,
        data: bytes | None = None,
        key: str | None = _UNSET,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Reply:
        hdrs = dict(headers or {})
        use_key = self.key if key is _UNSET else key
        if use_key is not None:
            hdrs["Authorization"] = f"Bearer {use_key}"
        kwargs: dict[str, Any] = {"headers": hdrs, "params": params}
        if json is not _UNSET:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
        async with self.session.request(method, self.server.url + path, **kwargs) as resp:
            text = await resp.text()
            reply = Reply(resp.status, resp.headers, text)
        assert reply.headers["X-Request-Id"].startswith("req_")
        return reply

    async def send(self, key: str | None = _UNSET, **body: Any) -> Reply:
        """POST /v2/messages with a valid default body, overridden by ``body``."""
        payload = {"to": ["someone@example.com"], "subject": "Hello", "body": "Hi there"}
        payload.update(body)
        return await self("POST", "/v2/messages", json=payload, key=key)
