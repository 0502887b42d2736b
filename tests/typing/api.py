"""What the public API's types accept and reject: checked by mypy (``make typecheck``), never run.

Every ``# type: ignore[code]`` below marks a call mypy must reject; with ``warn_unused_ignores``
(part of ``strict``) an ignore that is no longer needed — a mistake the types let through
again — fails the type check. Everything without an ignore must be accepted.
"""

from __future__ import annotations

from typing import Any, assert_type

import pulse_sync
from pulse_async import (
    APIConnectionError,
    AsyncClient,
    AsyncPulse,
    AsyncPulsewave,
    Channel,
    Message,
    MessageStatus,
    PulseError,
    Role,
    SendParams,
    User,
    UserStatus,
)
from pulse_async.constants import ROLES, MessageStatusName, RoleName


async def roles_statuses_and_channels(pulse: AsyncPulse, pw: AsyncPulsewave) -> None:
    await pulse.users.create(email="ada@example.com", role="editor")
    await pulse.users.create(email="ada@example.com", role=Role.ADMIN)
    await pulse.users.create(email="ada@example.com", role="superuser")  # type: ignore[arg-type]
    await pulse.users.update("usr_1", role="viewer")
    await pulse.users.update("usr_1", role="owner")  # type: ignore[arg-type]
    pulse.users.list(status="active")
    pulse.users.list(status=UserStatus.PENDING)
    pulse.users.list(status="actve")  # type: ignore[arg-type]
    pulse.users.list(cursor="cur_1")
    await pw.messages.create(channel="sms", to="+14155550123", from_="Pulse", text="hi")
    await pw.messages.create(channel=Channel.PUSH, to="tok", from_="app", text="hi")
    await pw.messages.create(channel="fax", to="x", from_="y", text="hi")  # type: ignore[arg-type]
    role: RoleName = "admin"
    await pulse.users.create(email="ada@example.com", role=role)
    some_string: str = "admin"
    await pulse.users.create(email="ada@example.com", role=some_string)  # type: ignore[arg-type]
    if some_string in ROLES:  # a runtime check narrows nothing: the set is for run time
        pass


async def wait_until(pulse: AsyncPulse, pw: AsyncPulsewave) -> None:
    await pulse.messages.wait("msg_1", until={"delivered", "bounced"})
    await pulse.messages.wait("msg_1", until=[MessageStatus.SENT])
    await pulse.messages.wait("msg_1", until={"delivred"})  # type: ignore[arg-type]
    await pulse.messages.wait("msg_1", until="delivered")  # type: ignore[arg-type]
    await pw.messages.wait("msg_1", until=("cancelled",))
    await pw.messages.wait("msg_1", until=("canceled",))  # type: ignore[arg-type]
    statuses: frozenset[MessageStatusName] = frozenset({"sent"})
    await pw.messages.wait("msg_1", until=statuses)


async def recipients(pulse: AsyncPulse) -> None:
    await pulse.messages.send(to=["ada@example.com", "usr_1"], subject="s", body="b")
    await pulse.messages.send(to=("ada@example.com",), subject="s", body="b")
    await pulse.messages.send(to="ada@example.com", subject="s", body="b")  # type: ignore[arg-type]
    SendParams(to=["usr_1"], subject="s", body="b")
    SendParams(to="usr_1", subject="s", body="b")  # type: ignore[arg-type]


def responses_stay_open(user: User, message: Message) -> None:
    # Responses are plain str: a role or status the SDK does not know yet never fails a call.
    assert_type(user.role, str)
    assert_type(user.status, str)
    assert_type(message.status, str)
    assert_type(message.channel, str | None)


async def clients_and_errors(pulse: AsyncPulse, pw: AsyncPulsewave, error: PulseError) -> None:
    either: list[AsyncClient] = [pulse, pw]
    assert either
    assert_type(pulse.with_options(max_retries=0), AsyncPulse)
    pulse.with_options(max_retries="3")  # type: ignore[arg-type]
    AsyncPulse(proxy="http://proxy:3128")
    AsyncPulse(proxy=False)
    AsyncPulse(proxy=True)  # type: ignore[arg-type]
    assert_type(error.request_id, str | None)  # on every error, not only APIError
    if isinstance(error, APIConnectionError):
        assert_type(error.retryable, bool)


def sync_twins(pulse: pulse_sync.Pulse, pw: pulse_sync.Pulsewave) -> None:
    pulse.users.create(email="ada@example.com", role="editor")
    pulse.users.create(email="ada@example.com", role="root")  # type: ignore[arg-type]
    pulse.users.list(status="inactive", cursor="cur_1")
    pulse.messages.send(to=["usr_1"], subject="s", body="b")
    pulse.messages.send(to="usr_1", subject="s", body="b")  # type: ignore[arg-type]
    pulse.messages.wait("msg_1", until={"delivered"})
    pulse.messages.wait("msg_1", until={"deliverd"})  # type: ignore[arg-type]
    pw.messages.create(channel="email", to="a@b.co", from_="c@d.co", subject="s")
    pw.messages.create(channel="mail", to="a@b.co", from_="c@d.co", subject="s")  # type: ignore[arg-type]
    either: list[pulse_sync.Client[AsyncPulse] | pulse_sync.Client[AsyncPulsewave]] = [pulse, pw]
    assert either
    pulse.with_options(timeout="slow")  # type: ignore[arg-type]


def models_serialise(user: User, message: Message) -> None:
    assert_type(user.to_dict(), dict[str, Any])
    assert_type(message.to_json(indent=2), str)
    message.to_json(2)  # type: ignore[call-arg]
