"""Type-checked, never run: ``with_raw_response`` is typed precisely, async and sync.

Checked by ``mypy`` (``make typecheck``: it is in ``[tool.mypy] files``). Each
``assert_type`` fails the check if the inferred type drifts, and each
``type: ignore[...]`` fails it (``warn_unused_ignores``, part of ``--strict``)
if a mistake stops being one.
"""

from __future__ import annotations

from typing import assert_type

from pulse_async import (
    APIResponse,
    AsyncPulse,
    AsyncPulsewave,
    AsyncRawPager,
    Message,
    MessageReceipt,
    Page,
    RateLimitInfo,
    Thread,
    User,
)
from pulse_sync import Pulse, Pulsewave, RawPager


async def async_client(pulse: AsyncPulse, pw: AsyncPulsewave) -> None:
    raw = pulse.with_raw_response
    receipt = await raw.messages.send(to=["usr_1"], subject="Hi", body="Hello")
    assert_type(receipt, APIResponse[MessageReceipt])
    assert_type(receipt.parse(), MessageReceipt)
    assert_type(receipt.status, int)
    assert_type(receipt.request_id, str | None)
    assert_type(receipt.rate_limit, RateLimitInfo)
    assert_type(receipt.rate_limit.remaining, int | None)
    assert_type(receipt.rate_limit.reset, float | None)
    assert_type(receipt.idempotency_key, str | None)
    assert_type(receipt.replayed, bool)
    assert_type(receipt.attempts, int)
    assert_type(receipt.elapsed, float)
    assert_type(await raw.messages.retrieve("msg_1"), APIResponse[Message])
    assert_type(await raw.users.create(email="a@example.com", role="viewer"), APIResponse[User])
    assert_type(await raw.users.update("usr_1", name="Ada"), APIResponse[User])
    assert_type(await raw.users.delete("usr_1"), APIResponse[None])

    users = raw.users.list(limit=10)
    assert_type(users, AsyncRawPager[User])
    async for page in users.pages():
        assert_type(page, APIResponse[Page[User]])
    async for user in users:
        assert_type(user, User)
    assert_type(await raw.threads.list().fetch_page(), APIResponse[Page[Thread]])

    wave = pw.with_raw_response.messages
    created = await wave.create(channel="sms", to="+14155550123", from_="Pulse", text="1234")
    assert_type(created, APIResponse[Message])
    assert_type(await wave.cancel("msg_1"), APIResponse[Message])

    # The parameters are the plain method's own.
    await raw.messages.send(to=["usr_1"], subject="Hi")  # type: ignore[call-arg]
    await raw.users.delete(user_id=1)  # type: ignore[arg-type]


def sync_client(pulse: Pulse, pw: Pulsewave) -> None:
    raw = pulse.with_raw_response
    assert_type(
        raw.messages.send(to=["usr_1"], subject="Hi", body="Hello"), APIResponse[MessageReceipt]
    )
    assert_type(raw.users.delete("usr_1"), APIResponse[None])
    users = raw.users.list(status="active")
    assert_type(users, RawPager[User])
    for page in users.pages():
        assert_type(page, APIResponse[Page[User]])
    for user in users:
        assert_type(user, User)
    assert_type(pw.with_raw_response.messages.retrieve("msg_1"), APIResponse[Message])
    raw.messages.send(to=["usr_1"], body="Hello")  # type: ignore[call-arg]
