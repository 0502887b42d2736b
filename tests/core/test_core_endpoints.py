"""Request builders: only set fields in the body, idempotency keys, query and path encoding."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from pulse_async._core import _endpoints as ep
from pulse_async._core._http import Request
from pulse_async.errors import ValidationError
from pulse_async.models import Channel, Role

NOW = datetime(2025, 1, 15, 12, tzinfo=UTC)


def is_uuid4(text: str | None) -> bool:
    assert text is not None
    return uuid.UUID(text).version == 4 and str(uuid.UUID(text)) == text


def no_nulls(body: Any) -> bool:
    if isinstance(body, dict):
        return all(v is not None and no_nulls(v) for v in body.values())
    return True


def test_list_users_query() -> None:
    assert ep.list_users(limit=None, cursor=None, status=None, q=None) == Request(
        method="GET", path="/users"
    )
    request = ep.list_users(limit=100, cursor="c 1&x=y", status="active", q="ada lovelace")
    assert request.query == {
        "limit": "100",
        "cursor": "c 1&x=y",
        "status": "active",
        "q": "ada lovelace",
    }
    assert request.body is None
    assert request.idempotency_key is None


def test_list_threads_encodes_booleans_as_true_false() -> None:
    assert ep.list_threads(limit=None, cursor=None, unread=True).query == {"unread": "true"}
    assert ep.list_threads(limit=5, cursor=None, unread=False).query == {
        "limit": "5",
        "unread": "false",
    }
    assert ep.list_threads(limit=None, cursor=None, unread=None).query is None


def test_create_user_minimal_body_and_fresh_key() -> None:
    request = ep.create_user(
        email="ada@example.com", role=Role.ADMIN, name=None, metadata=None, idempotency_key=None
    )
    assert (request.method, request.path) == ("POST", "/users")
    assert request.body == {"email": "ada@example.com", "role": "admin"}
    assert type(request.body["role"]) is str
    assert is_uuid4(request.idempotency_key)


def test_create_user_full_body_and_callers_key() -> None:
    request = ep.create_user(
        email="ada@example.com",
        role="viewer",
        name="Ada",
        metadata={"team": "ops"},
        idempotency_key="invite-ada-1",
    )
    assert request.body == {
        "email": "ada@example.com",
        "role": "viewer",
        "name": "Ada",
        "metadata": {"team": "ops"},
    }
    assert request.idempotency_key == "invite-ada-1"


def test_each_call_gets_its_own_key() -> None:
    keys = {
        ep.send_message(
            to=["usr_1"], subject="s", body="b", thread_id=None, send_at=None, idempotency_key=None
        ).idempotency_key
        for _ in range(20)
    }
    assert len(keys) == 20


def test_callers_idempotency_key_is_validated() -> None:
    for bad in ["", "k" * 256, "naïve", "a\nb"]:
        with pytest.raises(ValidationError) as info:
            ep.create_user(
                email="a@b.co", role="admin", name=None, metadata=None, idempotency_key=bad
            )
        assert info.value.field == "idempotency_key"


def test_update_user_sends_only_given_fields() -> None:
    assert ep.update_user("usr_1", role=None, name=None, metadata=None).body == {}
    request = ep.update_user("usr_1", role="editor", name=None, metadata=None)
    assert (request.method, request.path, request.body) == (
        "PATCH",
        "/users/usr_1",
        {"role": "editor"},
    )
    request = ep.update_user("usr_1", role=None, name="Ada", metadata={"old": None, "new": "x"})
    # A null inside metadata is meaningful in a PATCH (remove the key) and is kept.
    assert request.body == {"name": "Ada", "metadata": {"old": None, "new": "x"}}
    assert request.idempotency_key is None


def test_delete_user_and_path_quoting() -> None:
    assert ep.delete_user("usr_1") == Request(method="DELETE", path="/users/usr_1")
    assert ep.delete_user("usr a?b#c").path == "/users/usr%20a%3Fb%23c"
    assert ep.retrieve_message("msg%2F1").path == "/messages/msg%252F1"


@pytest.mark.parametrize("bad", ["", "a/b", ".", "..", " x", None, 5])
def test_path_ids_checked_before_building(bad: Any) -> None:
    builders = [
        lambda: ep.delete_user(bad),
        lambda: ep.update_user(bad, role="admin", name=None, metadata=None),
        lambda: ep.retrieve_message(bad),
        lambda: ep.retrieve_pulsewave_message(bad),
        lambda: ep.cancel_pulsewave_message(bad, idempotency_key=None),
    ]
    for build in builders:
        with pytest.raises(ValidationError) as info:
            build()
        assert info.value.field in {"user_id", "message_id"}


def test_send_message_body() -> None:
    request = ep.send_message(
        to=("usr_1", "ada@example.com"),
        subject="Hi",
        body="**Hello**",
        thread_id=None,
        send_at=None,
        idempotency_key=None,
        now=NOW,
    )
    assert (request.method, request.path) == ("POST", "/messages")
    assert request.body == {
        "to": ["usr_1", "ada@example.com"],
        "subject": "Hi",
        "body": "**Hello**",
    }
    assert is_uuid4(request.idempotency_key)


def test_send_message_send_at_is_sent_as_utc_z() -> None:
    tokyo = timezone(timedelta(hours=9))
    request = ep.send_message(
        to=["usr_1"],
        subject="Hi",
        body="b",
        thread_id="thr_1",
        send_at=datetime(2025, 1, 16, 18, 0, tzinfo=tokyo),
        idempotency_key="k-1",
        now=NOW,
    )
    assert request.body is not None
    assert request.body["send_at"] == "2025-01-16T09:00:00Z"
    assert request.body["thread_id"] == "thr_1"
    assert request.idempotency_key == "k-1"
    string = ep.send_message(
        to=["usr_1"],
        subject="Hi",
        body="b",
        thread_id=None,
        send_at="2025-01-16T09:00:00.5+00:00",
        idempotency_key=None,
        now=NOW,
    )
    assert string.body is not None
    assert string.body["send_at"] == "2025-01-16T09:00:00.500000Z"


def test_pulsewave_create_minimal_body() -> None:
    request = ep.create_pulsewave_message(
        channel=Channel.SMS,
        to="+14155550123",
        from_="Pulse",
        subject=None,
        text="code 1234",
        html=None,
        template_id=None,
        template_data=None,
        metadata=None,
        idempotency_key=None,
    )
    assert request.body == {
        "channel": "sms",
        "to": "+14155550123",
        "from": "Pulse",
        "text": "code 1234",
    }
    assert type(request.body["channel"]) is str
    assert no_nulls(request.body)
    assert is_uuid4(request.idempotency_key)


def test_pulsewave_create_full_body() -> None:
    request = ep.create_pulsewave_message(
        channel="email",
        to="ada@example.com",
        from_="news@pulse.io",
        subject="Hi",
        text="Hi",
        html="<p>Hi</p>",
        template_id="tmpl_1",
        template_data={"name": "Ada", "n": None},
        metadata={"campaign": "x"},
        idempotency_key="pw-1",
    )
    assert request.body == {
        "channel": "email",
        "to": "ada@example.com",
        "from": "news@pulse.io",
        "subject": "Hi",
        "text": "Hi",
        "html": "<p>Hi</p>",
        "template_id": "tmpl_1",
        "template_data": {"name": "Ada", "n": None},
        "metadata": {"campaign": "x"},
    }
    assert request.idempotency_key == "pw-1"


def test_pulsewave_retrieve_and_cancel() -> None:
    assert ep.retrieve_pulsewave_message("msg_1") == Request(method="GET", path="/messages/msg_1")
    cancel = ep.cancel_pulsewave_message("msg_1", idempotency_key=None)
    assert (cancel.method, cancel.path, cancel.body) == ("POST", "/messages/msg_1/cancel", None)
    assert is_uuid4(cancel.idempotency_key)
    assert ep.cancel_pulsewave_message("msg_1", idempotency_key="c-1").idempotency_key == "c-1"


def test_builders_validate_before_building() -> None:
    with pytest.raises(ValidationError) as info:
        ep.list_users(limit=101, cursor=None, status=None, q=None)
    assert info.value.field == "limit"
    with pytest.raises(ValidationError) as info:
        ep.send_message(
            to=[], subject="s", body="b", thread_id=None, send_at=None, idempotency_key=None
        )
    assert info.value.field == "to"


def test_new_idempotency_keys_are_canonical_random_uuid4s() -> None:
    keys = [ep.new_idempotency_key() for _ in range(2_000)]
    assert len(set(keys)) == len(keys)
    for key in keys:
        parsed = uuid.UUID(key)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == key  # lower-case, hyphenated: what uuid4() prints
    # Every random bit varies: across the keys, each of the 122 random bits is seen both ways.
    ones = [0] * 128
    for key in keys:
        n = uuid.UUID(key).int
        for bit in range(128):
            ones[bit] += (n >> bit) & 1
    fixed = {bit for bit in range(128) if ones[bit] in (0, len(keys))}
    assert fixed == {76, 77, 78, 79, 62, 63}  # the version (0100) and variant (10) bits


FORKED_KEYS = """
import os, sys
from pulse_async._core._endpoints import new_idempotency_key
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(read)
    os.write(write, "\\n".join(new_idempotency_key() for _ in range(100)).encode())
    os._exit(0)
os.close(write)
mine = {new_idempotency_key() for _ in range(100)}
with os.fdopen(read) as pipe:
    theirs = set(pipe.read().split("\\n"))
os.waitpid(pid, 0)
print(len(mine), len(theirs), len(mine & theirs))
"""


def test_a_forked_child_makes_different_keys() -> None:
    # Straight from the OS on every call: no pool of random bytes a child would inherit.
    # (In a fresh interpreter: forking the test process itself would copy its threads.)
    done = subprocess.run(
        [sys.executable, "-c", FORKED_KEYS], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["100", "100", "0"]
