"""Every endpoint of both clients, through aioresponses: the exact request and the model back."""

from __future__ import annotations

import json
import platform
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from yarl import URL

from pulse_async import (
    AsyncPulse,
    AsyncPulsewave,
    Message,
    MessageReceipt,
    Page,
    Thread,
    User,
    ValidationError,
)
from pulse_async._version import __version__

PULSE = "https://api.pulse.io/v2"
PULSEWAVE = "https://api.pulsewave.dev/v1"

USER: dict[str, Any] = {
    "id": "usr_1",
    "email": "ada@example.com",
    "name": "Ada",
    "role": "admin",
    "status": "active",
    "metadata": {"team": "ops"},
    "created_at": "2024-11-14T09:00:00Z",
}
PW_MESSAGE: dict[str, Any] = {
    "id": "msg_9",
    "object": "message",
    "channel": "email",
    "status": "queued",
    "to": "ada@example.com",
    "from": "news@pulse.io",
    "subject": "Hi",
    "template_id": None,
    "metadata": {},
    "created_at": "2024-11-14T09:00:00Z",
}
USER_AGENT_RE = re.compile(
    rf"pulse-messaging/{re.escape(__version__)} python/\d+\.\d+ aiohttp/\d+\.\d+\.\d+\S*"
)


@pytest.fixture
async def pulse(api_key: str) -> AsyncIterator[AsyncPulse]:
    async with AsyncPulse(api_key, base_url=PULSE, max_retries=0) as client:
        yield client


@pytest.fixture
async def pulsewave(api_key: str) -> AsyncIterator[AsyncPulsewave]:
    async with AsyncPulsewave(api_key, base_url=PULSEWAVE, max_retries=0) as client:
        yield client


def sent(m: Any) -> list[tuple[str, URL, dict[str, Any]]]:
    """Every request aioresponses saw, in order of first appearance: (method, url, kwargs)."""
    return [
        (method, url, call.kwargs) for (method, url), calls in m.requests.items() for call in calls
    ]


def only_request(m: Any) -> tuple[str, URL, dict[str, Any]]:
    requests = sent(m)
    assert len(requests) == 1, requests
    return requests[0]


def check_headers(kwargs: dict[str, Any], api_key: str, *, json_body: bool, post: bool) -> None:
    headers = kwargs["headers"]
    assert headers["Authorization"] == f"Bearer {api_key}"
    assert USER_AGENT_RE.fullmatch(headers["User-Agent"]), headers["User-Agent"]
    py = ".".join(platform.python_version_tuple()[:2])
    assert f" python/{py} aiohttp/{aiohttp.__version__}" in headers["User-Agent"]
    assert headers["Accept"] == "application/json"
    if json_body:
        assert headers["Content-Type"] == "application/json"
    else:
        assert "Content-Type" not in headers
    if post:
        assert headers["Idempotency-Key"]
    else:
        assert "Idempotency-Key" not in headers
    assert kwargs["allow_redirects"] is False


def body_of(kwargs: dict[str, Any]) -> Any:
    return json.loads(kwargs["data"])


# --- AsyncPulse -------------------------------------------------------------------------------


async def test_users_list(mocked: Any, pulse: AsyncPulse, api_key: str) -> None:
    mocked.get(
        f"{PULSE}/users?limit=10&status=active&q=ada+l",
        payload={"data": [USER], "has_more": False, "next_cursor": None},
    )
    users = await pulse.users.list(limit=10, status="active", q="ada l").to_list()
    assert users == [
        User(
            id="usr_1",
            email="ada@example.com",
            name="Ada",
            role="admin",
            status="active",
            metadata={"team": "ops"},
            created_at=datetime(2024, 11, 14, 9, tzinfo=UTC),
        )
    ]
    method, url, kwargs = only_request(mocked)
    assert (method, url.path) == ("GET", "/v2/users")
    assert dict(url.query) == {"limit": "10", "status": "active", "q": "ada l"}
    assert kwargs["data"] is None
    check_headers(kwargs, api_key, json_body=False, post=False)


async def test_users_list_without_arguments_sends_no_query(mocked: Any, pulse: AsyncPulse) -> None:
    mocked.get(f"{PULSE}/users", payload={"data": [], "has_more": False})
    assert await pulse.users.list().to_list() == []
    _, url, _ = only_request(mocked)
    assert url.query_string == ""


async def test_users_create(mocked: Any, pulse: AsyncPulse, api_key: str) -> None:
    created = {**USER, "status": "pending", "invited_at": "2024-11-14T09:00:00Z"}
    mocked.post(f"{PULSE}/users", status=201, payload=created)
    user = await pulse.users.create(email="ada@example.com", role="admin", name="Ada")
    method, url, kwargs = only_request(mocked)
    assert (method, str(url)) == ("POST", f"{PULSE}/users")
    assert body_of(kwargs) == {"email": "ada@example.com", "role": "admin", "name": "Ada"}
    check_headers(kwargs, api_key, json_body=True, post=True)
    key = kwargs["headers"]["Idempotency-Key"]
    assert uuid.UUID(key).version == 4
    assert user.status == "pending"
    assert user.invited_at == datetime(2024, 11, 14, 9, tzinfo=UTC)
    assert user.idempotency_key == key


async def test_users_create_with_callers_key_and_metadata(mocked: Any, pulse: AsyncPulse) -> None:
    mocked.post(f"{PULSE}/users", status=201, payload=USER)
    user = await pulse.users.create(
        email="ada@example.com", role="viewer", metadata={"a": "b"}, idempotency_key="invite-1"
    )
    _, _, kwargs = only_request(mocked)
    assert kwargs["headers"]["Idempotency-Key"] == "invite-1"
    assert body_of(kwargs) == {"email": "ada@example.com", "role": "viewer", "metadata": {"a": "b"}}
    assert user.idempotency_key == "invite-1"


async def test_users_update(mocked: Any, pulse: AsyncPulse, api_key: str) -> None:
    updated = {**USER, "role": "editor", "updated_at": "2024-11-15T10:00:00+00:00"}
    mocked.patch(f"{PULSE}/users/usr_1", payload=updated)
    user = await pulse.users.update("usr_1", role="editor", metadata={"team": None})
    method, url, kwargs = only_request(mocked)
    assert (method, str(url)) == ("PATCH", f"{PULSE}/users/usr_1")
    assert body_of(kwargs) == {"role": "editor", "metadata": {"team": None}}
    check_headers(kwargs, api_key, json_body=True, post=False)
    assert user.role == "editor"
    assert user.updated_at == datetime(2024, 11, 15, 10, tzinfo=UTC)


async def test_users_delete(mocked: Any, pulse: AsyncPulse, api_key: str) -> None:
    mocked.delete(f"{PULSE}/users/usr%201", status=204)
    assert await pulse.users.delete("usr 1") is None
    method, url, kwargs = only_request(mocked)
    assert method == "DELETE"
    assert url.raw_path == "/v2/users/usr%201"
    assert kwargs["data"] is None
    check_headers(kwargs, api_key, json_body=False, post=False)


async def test_messages_send(mocked: Any, pulse: AsyncPulse, api_key: str) -> None:
    mocked.post(
        f"{PULSE}/messages",
        status=202,
        payload={"message_id": "msg_1", "status": "queued", "recipient_count": 2},
    )
    send_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    receipt = await pulse.messages.send(
        to=["usr_1", "ada@example.com"],
        subject="Hi",
        body="**Hello**",
        thread_id="thr_1",
        send_at=send_at,
        idempotency_key="send-1",
    )
    method, url, kwargs = only_request(mocked)
    assert (method, str(url)) == ("POST", f"{PULSE}/messages")
    assert body_of(kwargs) == {
        "to": ["usr_1", "ada@example.com"],
        "subject": "Hi",
        "body": "**Hello**",
        "thread_id": "thr_1",
        "send_at": send_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    check_headers(kwargs, api_key, json_body=True, post=True)
    assert kwargs["headers"]["Idempotency-Key"] == "send-1"
    assert receipt == MessageReceipt(
        message_id="msg_1", status="queued", recipient_count=2, idempotency_key="send-1"
    )


async def test_messages_retrieve(mocked: Any, pulse: AsyncPulse, api_key: str) -> None:
    mocked.get(
        f"{PULSE}/messages/msg_1",
        payload={
            "id": "msg_1",
            "status": "delivered",
            "thread_id": "thr_1",
            "subject": "Hi",
            "recipient_count": 2,
            "send_at": None,
            "created_at": "2024-11-14T09:00:00Z",
        },
    )
    message = await pulse.messages.retrieve("msg_1")
    method, url, kwargs = only_request(mocked)
    assert (method, str(url)) == ("GET", f"{PULSE}/messages/msg_1")
    check_headers(kwargs, api_key, json_body=False, post=False)
    assert message == Message(
        id="msg_1",
        status="delivered",
        thread_id="thr_1",
        subject="Hi",
        recipient_count=2,
        created_at=datetime(2024, 11, 14, 9, tzinfo=UTC),
    )
    assert message.is_final


async def test_threads_list(mocked: Any, pulse: AsyncPulse, api_key: str) -> None:
    mocked.get(
        f"{PULSE}/threads?limit=50&unread=true",
        payload={
            "data": [{"id": "thr_1", "subject": "Hi", "unread_count": 3, "last_message_at": None}],
            "has_more": False,
            "next_cursor": None,
        },
    )
    threads = [t async for t in pulse.threads.list(limit=50, unread=True)]
    assert threads == [Thread(id="thr_1", subject="Hi", unread_count=3)]
    method, url, kwargs = only_request(mocked)
    assert (method, url.path, dict(url.query)) == (
        "GET",
        "/v2/threads",
        {"limit": "50", "unread": "true"},
    )
    check_headers(kwargs, api_key, json_body=False, post=False)


async def test_threads_list_unread_false(mocked: Any, pulse: AsyncPulse) -> None:
    mocked.get(f"{PULSE}/threads?unread=false", payload={"data": [], "has_more": False})
    page = await pulse.threads.list(unread=False).fetch_page()
    assert page == Page(data=[], next_cursor=None, has_more=False)


# --- AsyncPulsewave ---------------------------------------------------------------------------


async def test_pulsewave_create(mocked: Any, pulsewave: AsyncPulsewave, api_key: str) -> None:
    mocked.post(f"{PULSEWAVE}/messages", status=202, payload=PW_MESSAGE)
    message = await pulsewave.messages.create(
        channel="email",
        to="ada@example.com",
        from_="news@pulse.io",
        subject="Hi",
        html="<p>Hi</p>",
        template_data={"name": "Ada"},
    )
    method, url, kwargs = only_request(mocked)
    assert (method, str(url)) == ("POST", f"{PULSEWAVE}/messages")
    assert body_of(kwargs) == {
        "channel": "email",
        "to": "ada@example.com",
        "from": "news@pulse.io",
        "subject": "Hi",
        "html": "<p>Hi</p>",
        "template_data": {"name": "Ada"},
    }
    check_headers(kwargs, api_key, json_body=True, post=True)
    assert message.id == "msg_9"
    assert message.from_ == "news@pulse.io"
    assert message.channel == "email"
    assert message.idempotency_key == kwargs["headers"]["Idempotency-Key"]


@pytest.mark.parametrize("status", [200, 201, 202])
async def test_pulsewave_create_accepts_any_2xx(
    mocked: Any, pulsewave: AsyncPulsewave, status: int
) -> None:
    sms = {**PW_MESSAGE, "channel": "sms", "to": "+14155550123", "from": "Pulse", "subject": None}
    mocked.post(f"{PULSEWAVE}/messages", status=status, payload=sms)
    message = await pulsewave.messages.create(
        channel="sms", to="+14155550123", from_="Pulse", text="code 1234", idempotency_key="pw-1"
    )
    assert (message.channel, message.to, message.subject) == ("sms", "+14155550123", None)
    assert message.idempotency_key == "pw-1"
    _, _, kwargs = only_request(mocked)
    assert body_of(kwargs) == {
        "channel": "sms",
        "to": "+14155550123",
        "from": "Pulse",
        "text": "code 1234",
    }


async def test_pulsewave_retrieve(mocked: Any, pulsewave: AsyncPulsewave, api_key: str) -> None:
    mocked.get(f"{PULSEWAVE}/messages/msg_9", payload={**PW_MESSAGE, "status": "delivered"})
    message = await pulsewave.messages.retrieve("msg_9")
    method, url, kwargs = only_request(mocked)
    assert (method, str(url)) == ("GET", f"{PULSEWAVE}/messages/msg_9")
    check_headers(kwargs, api_key, json_body=False, post=False)
    assert message.status == "delivered"
    assert message.idempotency_key is None


async def test_pulsewave_cancel(mocked: Any, pulsewave: AsyncPulsewave, api_key: str) -> None:
    mocked.post(f"{PULSEWAVE}/messages/msg_9/cancel", payload={**PW_MESSAGE, "status": "cancelled"})
    message = await pulsewave.messages.cancel("msg_9", idempotency_key="cancel-9")
    method, url, kwargs = only_request(mocked)
    assert (method, str(url)) == ("POST", f"{PULSEWAVE}/messages/msg_9/cancel")
    assert kwargs["data"] is None
    assert kwargs["headers"]["Idempotency-Key"] == "cancel-9"
    check_headers(kwargs, api_key, json_body=True, post=True)
    assert message.status == "cancelled"
    assert message.is_final


# --- validation happens before any request ----------------------------------------------------


async def test_validation_errors_send_nothing(
    mocked: Any, pulse: AsyncPulse, pulsewave: AsyncPulsewave
) -> None:
    soon = datetime.now(UTC) + timedelta(days=31)
    calls: list[Any] = [
        lambda: pulse.users.create(email="nope", role="admin"),
        lambda: pulse.users.create(email="a@b.co", role="owner"),
        lambda: pulse.users.create(email="a@b.co", role="admin", idempotency_key="x" * 256),
        lambda: pulse.users.update("usr_1", name="n" * 121),
        lambda: pulse.users.update("..", role="admin"),
        lambda: pulse.users.delete(""),
        lambda: pulse.users.delete("a/b"),
        lambda: pulse.messages.send(to=[], subject="s", body="b"),
        lambda: pulse.messages.send(to=["usr_1"], subject="s", body="b", send_at=soon),
        lambda: pulse.messages.send(to=["usr_1"], subject="s", body="b" * 10_001),
        lambda: pulse.messages.retrieve("msg\n1"),
        lambda: pulsewave.messages.create(channel="sms", to="555", from_="Pulse", text="t"),
        lambda: pulsewave.messages.create(
            channel="push", to="tok", from_="app", text="t", html="<p>"
        ),
        lambda: pulsewave.messages.retrieve(" "),
        lambda: pulsewave.messages.cancel("msg_1", idempotency_key="é"),
    ]
    for call in calls:
        with pytest.raises(ValidationError) as info:
            await call()
        assert info.value.status is None
        assert info.value.field
    for make_pager in (
        lambda: pulse.users.list(limit=0),
        lambda: pulse.users.list(limit=101),
        lambda: pulse.users.list(status="deleted"),
        lambda: pulse.threads.list(limit=51),
        lambda: pulse.threads.list(unread="yes"),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValidationError):
            make_pager()  # raised when list() is called, before iterating
    assert mocked.requests == {}
    assert pulse.stats.attempts == 0


async def test_limits_at_the_boundary_are_sent(mocked: Any, pulse: AsyncPulse) -> None:
    mocked.get(f"{PULSE}/users?limit=1", payload={"data": [], "has_more": False})
    mocked.get(f"{PULSE}/users?limit=100", payload={"data": [], "has_more": False})
    mocked.get(f"{PULSE}/threads?limit=1", payload={"data": [], "has_more": False})
    await pulse.users.list(limit=1).to_list()
    await pulse.users.list(limit=100).to_list()
    await pulse.threads.list(limit=1).to_list()
    assert len(sent(mocked)) == 3
