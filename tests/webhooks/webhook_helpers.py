"""Helpers of the webhook tests: secrets, events and signed deliveries."""

from __future__ import annotations

import json
from typing import Any

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # 24 bytes: the smallest allowed
OTHER_SECRET = "whsec_" + "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI="  # 32 bytes of "B"
NOW = 1_731_578_405  # 2024-11-14T10:00:05Z


def event_body(
    event_id: str = "evt_01HX9",
    *,
    type: str = "message.delivered",
    status: str = "delivered",
    message_id: str = "msg_1",
    extra: dict[str, Any] | None = None,
    data: Any = None,
) -> bytes:
    """A §5 event as the UTF-8 JSON a sender posts."""
    event: dict[str, Any] = {
        "id": event_id,
        "object": "event",
        "type": type,
        "created_at": "2024-11-14T10:00:05Z",
        "data": data
        if data is not None
        else {
            "id": message_id,
            "object": "message",
            "channel": "email",
            "status": status,
            "to": "ada@example.com",
            "from": "news@example.com",
            "subject": "Hi",
            "template_id": None,
            "metadata": {"order": "42"},
            "created_at": "2024-11-14T10:00:00Z",
        },
    }
    event.update(extra or {})
    return json.dumps(event, separators=(",", ":")).encode()
