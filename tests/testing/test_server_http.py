"""The local server over raw HTTP: every SPEC rule and error shape, without the SDK."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest
from server_helpers import Api

from pulse_async.testing import PulseServer

pytestmark = pytest.mark.asyncio

# --- Authentication, permissions, envelope, request ids -----------------------------------------


async def test_root_urls_and_seed_keys(server: PulseServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    assert server.v2_url == server.url + "/v2"
    assert server.v1_url == server.url + "/v1"
    for key in (server.admin_key, server.editor_key, server.viewer_key):
        assert key.startswith("pw_test_")
    assert len({server.admin_key, server.editor_key, server.viewer_key}) == 3


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic abc",
        "Bearer not-a-key",
        "Bearer pw_prod_abcdefgh12",
        "Bearer pw_test_unknownunknown",
    ],
)
async def test_bad_keys_are_401(api: Api, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    for path in ("/v2/users", "/v1/messages/msg_x"):
        reply = await api("GET", path, key=None, headers=headers)
        assert reply.status == 401
        assert reply.error["code"] == "unauthorized"


async def test_bearer_scheme_is_case_insensitive(api: Api) -> None:
    reply = await api(
        "GET", "/v2/users", key=None, headers={"Authorization": f"bearer {api.server.admin_key}"}
    )
    assert reply.status == 200


async def test_request_ids_are_unique_and_on_every_response(api: Api) -> None:
    ids = set()
    for path in ("/v2/users", "/v2/threads", "/nowhere", "/v2/users"):
        reply = await api("GET", path)
        ids.add(reply.headers["X-Request-Id"])
    assert len(ids) == 4


async def test_permissions(api: Api, server: PulseServer) -> None:
    viewer, editor = server.viewer_key, server.editor_key
    # Any role may read.
    for key in (viewer, editor, server.admin_key):
        assert (await api("GET", "/v2/users", key=key)).status == 200
        assert (await api("GET", "/v2/threads", key=key)).status == 200
    # Sending needs editor or admin.
    reply = await api.send(key=viewer)
    assert reply.status == 403
    assert reply.error["code"] == "forbidden"
    assert (await api.send(key=editor)).status == 202
    wave = {"channel": "sms", "to": "+14155550123", "from": "+14155550100", "text": "hi"}
    assert (await api("POST", "/v1/messages", json=wave, key=viewer)).status == 403
    assert (await api("POST", "/v1/messages", json=wave, key=editor)).status == 202
    # User management needs admin.
    new_user = {"email": "x@example.com", "role": "viewer"}
    for key in (viewer, editor):
        reply = await api("POST", "/v2/users", json=new_user, key=key)
        assert reply.status == 403
        assert reply.error["code"] == "forbidden"
        assert (await api("DELETE", "/v2/users/usr_nope", key=key)).status == 403
        assert (await api("PATCH", "/v2/users/usr_nope", json={}, key=key)).status == 403


async def test_role_follows_the_user_and_deleting_revokes_keys(
    api: Api, server: PulseServer
) -> None:
    editor_id = next(u.id for u in server.state.users.values() if u.role == "editor")
    assert (await api("PATCH", f"/v2/users/{editor_id}", json={"role": "viewer"})).status == 200
    assert (await api.send(key=server.editor_key)).status == 403
    assert (await api("DELETE", f"/v2/users/{editor_id}")).status == 204
    reply = await api("GET", "/v2/users", key=server.editor_key)
    assert reply.status == 401


async def test_unknown_route_and_wrong_method(api: Api) -> None:
    reply = await api("GET", "/v3/anything")
    assert reply.status == 404
    assert reply.error["code"] == "not_found"
    reply = await api("PUT", "/v2/users")
    assert reply.status == 405
    assert set(reply.headers["Allow"].split(", ")) == {"GET", "POST"}
    assert reply.error["code"] == "method_not_allowed"


# --- Users ---------------------------------------------------------------------------------------


async def test_create_user(api: Api, server: PulseServer) -> None:
    body = {
        "email": "ada@example.com",
        "role": "editor",
        "name": "Ada",
        "metadata": {"team": "core"},
    }
    reply = await api("POST", "/v2/users", json=body)
    assert reply.status == 201
    user = reply.json
    assert user["id"].startswith("usr_")
    assert user["status"] == "pending"
    assert user["email"] == "ada@example.com"
    assert user["role"] == "editor"
    assert user["name"] == "Ada"
    assert user["metadata"] == {"team": "core"}
    assert user["invited_at"] == user["created_at"]
    assert datetime.fromisoformat(user["created_at"]) == server.clock.now()
    assert "updated_at" not in user
    entry = server.ledger[-1]
    assert (entry.kind, entry.resource_id, entry.api) == ("user.created", user["id"], "pulse")


async def test_duplicate_email_is_case_insensitive(api: Api) -> None:
    reply = await api("POST", "/v2/users", json={"email": "ADMIN@example.com", "role": "viewer"})
    assert reply.status == 400
    error = reply.error
    assert error == {
        **error,
        "code": "validation_failed",
        "field": "email",
        "message": "email is already in use",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "viewer"}, "email"),
        ({"email": "a@example.com"}, "role"),
        ({"email": "not-an-email", "role": "viewer"}, "email"),
        ({"email": 7, "role": "viewer"}, "email"),
        ({"email": "a@example.com", "role": "owner"}, "role"),
        ({"email": "a@example.com", "role": "viewer", "name": ""}, "name"),
        ({"email": "a@example.com", "role": "viewer", "name": "n" * 121}, "name"),
        ({"email": "a@example.com", "role": "viewer", "name": 5}, "name"),
        ({"email": "a@example.com", "role": "viewer", "name": None}, "name"),
        ({"email": "a@example.com", "role": "viewer", "metadata": []}, "metadata"),
        ({"email": "a@example.com", "role": "viewer", "metadata": {"k": 1}}, "metadata"),
        (
            {"email": "a@example.com", "role": "viewer", "metadata": {"k": {"nested": "x"}}},
            "metadata",
        ),
        (
            {
                "email": "a@example.com",
                "role": "viewer",
                "metadata": {f"k{i}": "v" for i in range(51)},
            },
            "metadata",
        ),
        ({"email": "a@example.com", "role": "viewer", "nickname": "x"}, "nickname"),
    ],
)
async def test_create_user_validation(api: Api, body: dict[str, object], field: str) -> None:
    reply = await api("POST", "/v2/users", json=body)
    assert reply.status == 400
    assert reply.error["code"] == "validation_failed"
    assert reply.error["field"] == field


@pytest.mark.parametrize("raw", [b"[]", b'"x"', b"12", b"null", b"", b"{", b"\xff\xfe"])
async def test_body_must_be_a_json_object(api: Api, raw: bytes) -> None:
    reply = await api("POST", "/v2/users", data=raw, headers={"Content-Type": "application/json"})
    assert reply.status == 400
    assert reply.error["code"] == "validation_failed"
    assert "field" not in reply.error


async def test_update_user_merges_metadata(api: Api, server: PulseServer) -> None:
    created = (
        await api(
            "POST",
            "/v2/users",
            json={"email": "m@example.com", "role": "viewer", "metadata": {"a": "1", "b": "2"}},
        )
    ).json
    server.advance(10)
    reply = await api(
        "PATCH",
        f"/v2/users/{created['id']}",
        json={"metadata": {"a": None, "c": "3", "zz": None}, "name": "Em"},
    )
    assert reply.status == 200
    user = reply.json
    assert user["metadata"] == {"b": "2", "c": "3"}
    assert user["name"] == "Em"
    assert user["role"] == "viewer"
    assert datetime.fromisoformat(user["updated_at"]) == server.clock.now()
    # Only present fields change.
    reply = await api("PATCH", f"/v2/users/{created['id']}", json={"role": "editor"})
    assert reply.json["name"] == "Em"
    assert reply.json["metadata"] == {"b": "2", "c": "3"}
    assert reply.json["role"] == "editor"


async def test_update_user_metadata_limit_after_merge(api: Api) -> None:
    full = {f"k{i}": "v" for i in range(50)}
    created = (
        await api(
            "POST",
            "/v2/users",
            json={"email": "full@example.com", "role": "viewer", "metadata": full},
        )
    ).json
    reply = await api("PATCH", f"/v2/users/{created['id']}", json={"metadata": {"one": "more"}})
    assert reply.status == 400
    assert reply.error["field"] == "metadata"
    # Removing one and adding one stays at 50: fine.
    reply = await api(
        "PATCH", f"/v2/users/{created['id']}", json={"metadata": {"k0": None, "one": "more"}}
    )
    assert reply.status == 200
    assert len(reply.json["metadata"]) == 50


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "root"}, "role"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"metadata": "x"}, "metadata"),
        ({"metadata": {"a": 3}}, "metadata"),
        ({"email": "new@example.com"}, "email"),
    ],
)
async def test_update_user_validation(
    api: Api, server: PulseServer, body: dict[str, object], field: str
) -> None:
    admin_id = next(u.id for u in server.state.users.values() if u.role == "admin")
    reply = await api("PATCH", f"/v2/users/{admin_id}", json=body)
    assert reply.status == 400
    assert reply.error["field"] == field


async def test_unknown_user_is_404(api: Api) -> None:
    for method, body in (("PATCH", {"name": "x"}), ("DELETE", None)):
        reply = await api(method, "/v2/users/usr_missing", json=body)
        assert reply.status == 404
        assert reply.error["code"] == "not_found"


async def test_last_admin_rules(api: Api, server: PulseServer) -> None:
    admin_id = next(u.id for u in server.state.users.values() if u.role == "admin")
    reply = await api("PATCH", f"/v2/users/{admin_id}", json={"role": "editor"})
    assert reply.status == 403
    assert reply.error["code"] == "forbidden"
    assert reply.error["message"] == "cannot demote the last admin"
    reply = await api("DELETE", f"/v2/users/{admin_id}")
    assert reply.status == 403
    assert reply.error["message"] == "cannot delete the last admin"
    # Renaming the last admin, keeping the role, is fine.
    assert (await api("PATCH", f"/v2/users/{admin_id}", json={"role": "admin"})).status == 200
    # With a second admin, the first may go.
    second = (await api("POST", "/v2/users", json={"email": "b@example.com", "role": "admin"})).json
    assert (await api("PATCH", f"/v2/users/{admin_id}", json={"role": "viewer"})).status == 200
    # The old admin's key is a viewer's now; the new admin cannot delete themself.
    assert (await api("DELETE", f"/v2/users/{second['id']}")).status == 403
    second_key = server.create_key(user_id=second["id"])
    reply = await api("DELETE", f"/v2/users/{second['id']}", key=second_key)
    assert reply.status == 403
    assert reply.error["message"] == "cannot delete the last admin"


async def test_delete_user(api: Api, server: PulseServer) -> None:
    created = (
        await api("POST", "/v2/users", json={"email": "d@example.com", "role": "viewer"})
    ).json
    reply = await api("DELETE", f"/v2/users/{created['id']}")
    assert reply.status == 204
    assert reply.text == ""
    assert (await api("DELETE", f"/v2/users/{created['id']}")).status == 404
    # The email is free again.
    assert (
        await api("POST", "/v2/users", json={"email": "d@example.com", "role": "viewer"})
    ).status == 201
    kinds = [e.kind for e in server.ledger]
    assert kinds == ["user.created", "user.deleted", "user.created"]


async def test_invitation_expires_after_72_hours(api: Api, server: PulseServer) -> None:
    user = (await api("POST", "/v2/users", json={"email": "p@example.com", "role": "viewer"})).json
    server.advance(72 * 3600 - 1)
    listed = (await api("GET", "/v2/users", params={"status": "pending"})).json["data"]
    assert [u["id"] for u in listed] == [user["id"]]
    server.advance(1)
    assert (await api("GET", "/v2/users", params={"status": "pending"})).json["data"] == []
    listed = (await api("GET", "/v2/users", params={"status": "inactive"})).json["data"]
    assert [u["id"] for u in listed] == [user["id"]]


# --- Listing users -------------------------------------------------------------------------------


async def _make_users(api: Api, server: PulseServer, n: int) -> list[str]:
    ids = []
    for i in range(n):
        server.advance(1)
        reply = await api(
            "POST",
            "/v2/users",
            json={"email": f"u{i}@example.com", "role": "viewer", "name": f"User {i}"},
        )
        ids.append(reply.json["id"])
    return ids


async def test_list_users_newest_first_and_pages(api: Api, server: PulseServer) -> None:
    ids = await _make_users(api, server, 7)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = (await api("GET", "/v2/users", params=params)).json
        assert set(page) == {"data", "next_cursor", "has_more"}
        seen += [u["id"] for u in page["data"]]
        pages += 1
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
        base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))  # opaque, but base64
    assert pages == 4
    assert seen[:7] == ids[::-1]
    assert len(seen) == 10  # 7 + the three seeded users, each once
    assert len(set(seen)) == 10


async def test_list_users_default_limit_is_20(api: Api, server: PulseServer) -> None:
    await _make_users(api, server, 22)
    page = (await api("GET", "/v2/users")).json
    assert len(page["data"]) == 20
    assert page["has_more"] is True


async def test_list_users_filters(api: Api, server: PulseServer) -> None:
    await _make_users(api, server, 3)
    data = (await api("GET", "/v2/users", params={"status": "active"})).json["data"]
    assert {u["email"] for u in data} == {
        "admin@example.com",
        "editor@example.com",
        "viewer@example.com",
    }
    data = (await api("GET", "/v2/users", params={"q": "user 1"})).json["data"]
    assert [u["email"] for u in data] == ["u1@example.com"]
    data = (await api("GET", "/v2/users", params={"q": "EXAMPLE.COM u2"})).json["data"]
    assert [u["email"] for u in data] == ["u2@example.com"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "2.5"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"status": "gone"}, "status"),
        ({"q": ""}, "q"),
        ({"cursor": "!!!"}, "cursor"),
        ({"cursor": "djE6eA"}, "cursor"),
    ],
)
async def test_list_users_validation(api: Api, params: dict[str, str], field: str) -> None:
    reply = await api("GET", "/v2/users", params=params)
    assert reply.status == 400
    assert reply.error["code"] == "validation_failed"
    assert reply.error["field"] == field


async def test_list_users_limit_bounds_accepted(api: Api) -> None:
    for limit in ("1", "100"):
        assert (await api("GET", "/v2/users", params={"limit": limit})).status == 200


async def test_cursor_is_stable_under_concurrent_creates_and_deletes(
    api: Api, server: PulseServer
) -> None:
    ids = await _make_users(api, server, 30)
    expected_order = ids[::-1] + [
        u.id for u in reversed(list(server.state.users.values())) if u.id not in ids
    ]
    seen: list[str] = []
    deleted: set[str] = set()
    cursor = None
    step = 0
    while True:
        params = {"limit": "4", **({"cursor": cursor} if cursor else {})}
        page = (await api("GET", "/v2/users", params=params)).json
        seen += [u["id"] for u in page["data"]]
        # Between pages: create two users (newer than everything) and delete one already
        # seen, one not yet seen, concurrently.
        step += 1
        unseen = [
            i
            for i in expected_order
            if i not in seen and i not in deleted and server.state.users[i].role != "admin"
        ]
        gone = [seen[0], *unseen[:1]]
        replies = await asyncio.gather(
            api("POST", "/v2/users", json={"email": f"late{step}a@example.com", "role": "viewer"}),
            api("POST", "/v2/users", json={"email": f"late{step}b@example.com", "role": "viewer"}),
            *(api("DELETE", f"/v2/users/{g}") for g in gone if g not in deleted),
        )
        assert all(r.status in (201, 204) for r in replies)
        deleted.update(gone)
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)), "a user was repeated"
    survivors = [i for i in expected_order if i not in deleted]
    assert [i for i in seen if i in survivors] == survivors, "a user was skipped"


# --- Pulse v2 messages and threads ---------------------------------------------------------------


async def test_send_message_receipt(api: Api, server: PulseServer) -> None:
    reply = await api.send(to=["a@example.com", "A@example.com", "b@example.com"])
    assert reply.status == 202
    receipt = reply.json
    assert receipt["status"] == "queued"
    assert receipt["recipient_count"] == 2
    assert receipt["message_id"].startswith("msg_")
    assert server.ledger.of_kind("message.created")[0].resource_id == receipt["message_id"]


async def test_lifecycle_with_the_controlled_clock(api: Api, server: PulseServer) -> None:
    server.set_outcome("bounce@example.com", "bounced")
    ids = {}
    for to in (
        "ok@example.com",
        "bounce@example.com",
        "x+fail@example.com",
        "y+bounce@example.com",
    ):
        ids[to] = (await api.send(to=[to])).json["message_id"]

    async def statuses() -> dict[str, str]:
        out = {}
        for to, mid in ids.items():
            reply = await api("GET", f"/v2/messages/{mid}")
            assert reply.status == 200
            out[to] = reply.json["status"]
        return out

    assert set((await statuses()).values()) == {"queued"}
    server.advance(0.25)
    assert set((await statuses()).values()) == {"sending"}
    server.advance(0.25)
    assert await statuses() == {
        "ok@example.com": "sent",
        "bounce@example.com": "sent",
        "x+fail@example.com": "failed",
        "y+bounce@example.com": "sent",
    }
    server.advance(0.25)
    assert await statuses() == {
        "ok@example.com": "delivered",
        "bounce@example.com": "bounced",
        "x+fail@example.com": "failed",
        "y+bounce@example.com": "bounced",
    }
    server.advance(3600)
    assert (await statuses())["ok@example.com"] == "delivered"


async def test_worst_outcome_wins_for_several_recipients(api: Api, server: PulseServer) -> None:
    mid = (await api.send(to=["ok@example.com", "z+bounce@example.com"])).json["message_id"]
    server.advance(1)
    assert server.message_status(mid) == "bounced"


async def test_get_message_shape(api: Api, server: PulseServer) -> None:
    send_at = server.clock.now() + timedelta(hours=1)
    mid = (await api.send(send_at=send_at.isoformat())).json["message_id"]
    message = (await api("GET", f"/v2/messages/{mid}", key=server.viewer_key)).json
    assert set(message) == {
        "id",
        "status",
        "thread_id",
        "subject",
        "recipient_count",
        "send_at",
        "created_at",
    }
    assert message["id"] == mid
    assert message["thread_id"].startswith("thr_")
    assert message["subject"] == "Hello"
    assert message["recipient_count"] == 1
    assert datetime.fromisoformat(message["send_at"]) == send_at
    assert message["send_at"].endswith("Z")
    assert (await api("GET", "/v2/messages/msg_nope")).status == 404


async def test_send_at_keeps_the_message_queued(api: Api, server: PulseServer) -> None:
    mid = (await api.send(send_at=(server.clock.now() + timedelta(minutes=5)).isoformat())).json[
        "message_id"
    ]
    server.advance(299)
    assert server.message_status(mid) == "queued"
    server.advance(1.25)
    assert server.message_status(mid) == "sending"
    server.advance(1)
    assert server.message_status(mid) == "delivered"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": []}, "to"),
        ({"to": "a@example.com"}, "to"),
        ({"to": [f"u{i}@example.com" for i in range(51)]}, "to"),
        ({"to": ["not an email"]}, "to"),
        ({"to": [3]}, "to"),
        ({"to": ["usr_doesnotexist"]}, "to"),
        ({"subject": ""}, "subject"),
        ({"subject": "s" * 256}, "subject"),
        ({"subject": 1}, "subject"),
        ({"body": ""}, "body"),
        ({"body": "b" * 10_001}, "body"),
        ({"body": ["x"]}, "body"),
        ({"thread_id": ""}, "thread_id"),
        ({"thread_id": 4}, "thread_id"),
        ({"send_at": "tomorrow"}, "send_at"),
        ({"send_at": "2020-01-01T00:00:00Z"}, "send_at"),
        ({"send_at": "2099-01-01T00:00:00"}, "send_at"),
        ({"send_at": 1700000000}, "send_at"),
        ({"send_at": None}, "send_at"),
        ({"cc": ["a@example.com"]}, "cc"),
    ],
)
async def test_send_message_validation(api: Api, body: dict[str, Any], field: str) -> None:
    reply = await api.send(**body)
    assert reply.status == 400
    assert reply.error["code"] == "validation_failed"
    assert reply.error["field"] == field


async def test_send_message_required_fields(api: Api) -> None:
    for missing in ("to", "subject", "body"):
        body = {"to": ["a@example.com"], "subject": "s", "body": "b"}
        del body[missing]
        reply = await api("POST", "/v2/messages", json=body)
        assert reply.status == 400
        assert reply.error["field"] == missing


async def test_send_at_limits_follow_the_server_clock(api: Api, server: PulseServer) -> None:
    now = server.clock.now()
    assert (await api.send(send_at=(now + timedelta(days=30)).isoformat())).status == 202
    reply = await api.send(send_at=(now + timedelta(days=30, seconds=1)).isoformat())
    assert reply.error["field"] == "send_at"
    reply = await api.send(send_at=now.isoformat())
    assert reply.error["field"] == "send_at"


async def test_unknown_thread_is_404(api: Api) -> None:
    reply = await api.send(thread_id="thr_missing")
    assert reply.status == 404
    assert reply.error["code"] == "not_found"


async def test_threads_and_unread_counts(api: Api, server: PulseServer) -> None:
    editor = next(u for u in server.state.users.values() if u.role == "editor")
    viewer = next(u for u in server.state.users.values() if u.role == "viewer")
    # The admin writes to the editor (by id) and to the viewer (by email): a new thread.
    first = (await api.send(to=[editor.id, "viewer@example.com"], subject="Plans")).json
    assert first["recipient_count"] == 2
    thread_id = server.state.messages[first["message_id"]].thread_id
    # The editor answers in the same thread.
    server.advance(1)
    reply = await api.send(key=server.editor_key, to=["admin@example.com"], thread_id=thread_id)
    assert reply.status == 202
    # A separate thread the viewer does not take part in.
    server.advance(1)
    await api.send(to=["outsider@example.net"], subject="Other")

    async def threads(key: str, **params: str) -> list[dict[str, object]]:
        reply = await api("GET", "/v2/threads", key=key, params=params)
        assert reply.status == 200
        assert set(reply.json) == {"data", "has_more", "next_cursor"}
        data: list[dict[str, object]] = reply.json["data"]
        return data

    admin_threads = await threads(server.admin_key)
    assert [t["subject"] for t in admin_threads] == ["Other", "Plans"]
    assert [t["unread_count"] for t in admin_threads] == [0, 1]
    assert set(admin_threads[0]) == {"id", "subject", "unread_count", "last_message_at"}
    editor_threads = await threads(server.editor_key)
    assert [(t["id"], t["unread_count"]) for t in editor_threads] == [(thread_id, 1)]
    viewer_threads = await threads(server.viewer_key)
    assert [(t["id"], t["unread_count"]) for t in viewer_threads] == [(thread_id, 2)]
    assert viewer_threads[0]["last_message_at"] == admin_threads[1]["last_message_at"]
    # Filters.
    assert [t["subject"] for t in await threads(server.admin_key, unread="true")] == ["Plans"]
    assert [t["subject"] for t in await threads(server.admin_key, unread="false")] == ["Other"]
    assert thread_id is not None
    server.mark_thread_read(thread_id, viewer.id)
    assert await threads(server.viewer_key, unread="true") == []


async def test_threads_pagination_and_validation(api: Api, server: PulseServer) -> None:
    for i in range(30):
        server.advance(1)
        await api.send(subject=f"T{i}")
    page = (await api("GET", "/v2/threads")).json
    assert len(page["data"]) == 25
    assert page["has_more"] is True
    rest = (await api("GET", "/v2/threads", params={"cursor": page["next_cursor"]})).json
    assert rest["has_more"] is False
    assert rest["next_cursor"] is None
    subjects = [t["subject"] for t in page["data"] + rest["data"]]
    assert subjects == [f"T{i}" for i in reversed(range(30))]
    for params, field in (
        ({"limit": "51"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"unread": "yes"}, "unread"),
        ({"unread": "True"}, "unread"),
        ({"cursor": "zz"}, "cursor"),
    ):
        reply = await api("GET", "/v2/threads", params=params)
        assert reply.status == 400
        assert reply.error["field"] == field


# --- Pulsewave v1 --------------------------------------------------------------------------------

EMAIL = {
    "channel": "email",
    "to": "rcpt@example.org",
    "from": "news@example.com",
    "subject": "Hi",
    "text": "Hello",
}


async def test_pulsewave_email_object(api: Api, server: PulseServer) -> None:
    reply = await api("POST", "/v1/messages", json={**EMAIL, "metadata": {"order": 7}})
    assert reply.status == 202
    message = reply.json
    assert set(message) == {
        "id",
        "object",
        "channel",
        "status",
        "to",
        "from",
        "subject",
        "template_id",
        "metadata",
        "created_at",
    }
    assert message["object"] == "message"
    assert message["status"] == "queued"
    assert message["from"] == "news@example.com"
    assert message["subject"] == "Hi"
    assert message["template_id"] is None
    assert message["metadata"] == {"order": 7}
    got = await api("GET", f"/v1/messages/{message['id']}", key=server.viewer_key)
    assert got.json == message
    server.advance(1)
    assert (await api("GET", f"/v1/messages/{message['id']}")).json["status"] == "delivered"
    # v1 and v2 ids are separate resources.
    assert (await api("GET", f"/v2/messages/{message['id']}")).status == 404
    assert server.ledger[-1].api == "pulsewave"


async def test_pulsewave_sms_and_push(api: Api) -> None:
    sms = {"channel": "sms", "to": "+14155550123", "from": "Acme", "text": "code 1"}
    reply = await api("POST", "/v1/messages", json=sms)
    assert reply.status == 202
    assert reply.json["subject"] is None
    push = {"channel": "push", "to": "device-token-1", "from": "com.example.app", "text": "hey"}
    assert (await api("POST", "/v1/messages", json=push)).status == 202


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "fax"}, "channel"),
        ({"channel": None}, "channel"),
        ({"to": "nope"}, "to"),
        ({"from": "news@unverified.test"}, "from"),
        ({"from": "bad"}, "from"),
        ({"subject": None}, "subject"),
        ({"subject": ""}, "subject"),
        ({"html": 5}, "html"),
        ({"template_data": "x"}, "template_data"),
        ({"metadata": [1]}, "metadata"),
        ({"from_": "x@example.com"}, "from_"),
        ({"channel": "sms", "to": "4155550123", "text": "x"}, "to"),
        ({"channel": "sms", "to": "+14155550123", "from": "Way Too Long Sender"}, "from"),
        (
            {"channel": "sms", "to": "+14155550123", "from": "Acme", "subject": "s", "text": None},
            "text",
        ),
        ({"channel": "sms", "to": "+14155550123", "from": "Acme", "html": "<b>x</b>"}, "html"),
        ({"channel": "push", "to": "tok", "from": "app", "subject": "s", "text": ""}, "text"),
    ],
)
async def test_pulsewave_validation(api: Api, body: dict[str, object], field: str) -> None:
    payload = {**EMAIL, **body}
    for name, value in body.items():
        if value is None:
            del payload[name]
    reply = await api("POST", "/v1/messages", json=payload)
    assert reply.status == 400, reply.text
    assert reply.error["code"] == "validation_failed"
    assert reply.error["field"] == field


async def test_pulsewave_sms_without_text_names_text(api: Api) -> None:
    reply = await api(
        "POST", "/v1/messages", json={"channel": "sms", "to": "+14155550123", "from": "Acme"}
    )
    assert reply.error["field"] == "text"


async def test_templates(api: Api, server: PulseServer) -> None:
    body = {
        "channel": "email",
        "to": "r@example.org",
        "from": "hi@example.com",
        "template_id": "tmpl_welcome",
        "template_data": {"name": "Ada", "product": "Pulse"},
    }
    reply = await api("POST", "/v1/messages", json=body)
    assert reply.status == 202
    assert reply.json["subject"] == "Welcome to Pulse, Ada!"
    assert reply.json["template_id"] == "tmpl_welcome"
    stored = server.state.messages[reply.json["id"]]
    assert stored.text == "Hi Ada, thanks for joining Pulse."
    # An explicit subject wins.
    reply = await api("POST", "/v1/messages", json={**body, "subject": "Mine"})
    assert reply.json["subject"] == "Mine"
    # OTP by SMS needs no text.
    reply = await api(
        "POST",
        "/v1/messages",
        json={
            "channel": "sms",
            "to": "+14155550123",
            "from": "Acme",
            "template_id": "tmpl_otp",
            "template_data": {"code": "123456"},
        },
    )
    assert reply.status == 202
    assert (server.state.messages[reply.json["id"]].text or "").startswith("Your code is 123456.")
    # Unknown template: 404.
    reply = await api("POST", "/v1/messages", json={**body, "template_id": "tmpl_nope"})
    assert reply.status == 404
    assert reply.error["code"] == "not_found"
    # A registered template without a subject needs one for email.
    server.register_template("tmpl_bare", text="Just {{word}}")
    reply = await api("POST", "/v1/messages", json={**body, "template_id": "tmpl_bare"})
    assert reply.error["field"] == "subject"
    reply = await api(
        "POST",
        "/v1/messages",
        json={
            "channel": "push",
            "to": "tok",
            "from": "app",
            "template_id": "tmpl_bare",
            "template_data": {"word": "this"},
        },
    )
    assert server.state.messages[reply.json["id"]].text == "Just this"


async def test_verify_domain(api: Api, server: PulseServer) -> None:
    body = {**EMAIL, "from": "a@brand.example"}
    assert (await api("POST", "/v1/messages", json=body)).error["field"] == "from"
    server.verify_domain("Brand.Example")
    assert (await api("POST", "/v1/messages", json=body)).status == 202


async def test_cancel(api: Api, server: PulseServer) -> None:
    message = (await api("POST", "/v1/messages", json=EMAIL)).json
    reply = await api("POST", f"/v1/messages/{message['id']}/cancel")
    assert reply.status == 200
    assert reply.json["status"] == "cancelled"
    server.advance(10)
    assert (await api("GET", f"/v1/messages/{message['id']}")).json["status"] == "cancelled"
    again = await api("POST", f"/v1/messages/{message['id']}/cancel")
    assert again.status == 409
    assert again.error["code"] == "invalid_state"
    # Once sending, it is too late.
    other = (await api("POST", "/v1/messages", json=EMAIL)).json
    server.advance(0.3)
    late = await api("POST", f"/v1/messages/{other['id']}/cancel")
    assert late.status == 409
    assert late.error["code"] == "invalid_state"
    assert (await api("POST", "/v1/messages/msg_nope/cancel")).status == 404
    assert (
        await api("POST", f"/v1/messages/{message['id']}/cancel", key=server.viewer_key)
    ).status == 403
    assert [e.kind for e in server.ledger] == [
        "message.created",
        "message.cancelled",
        "message.created",
    ]


# --- Idempotency ---------------------------------------------------------------------------------


async def test_idempotent_replay(api: Api, server: PulseServer) -> None:
    headers = {"Idempotency-Key": "order-42"}
    payload = {"to": ["a@example.com"], "subject": "s", "body": "b"}
    first = await api("POST", "/v2/messages", json=payload, headers=headers)
    assert first.status == 202
    assert "Idempotent-Replayed" not in first.headers
    again = await api("POST", "/v2/messages", json=dict(reversed(payload.items())), headers=headers)
    assert again.status == 202
    assert again.text == first.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    assert len(server.ledger.of_kind("message.created")) == 1
    assert server.ledger[0].idempotency_key == "order-42"
    assert server.stats.replayed == 1


async def test_idempotency_mismatch_and_scope(api: Api, server: PulseServer) -> None:
    headers = {"Idempotency-Key": "k1"}
    await api(
        "POST",
        "/v2/messages",
        json={"to": ["a@example.com"], "subject": "s", "body": "b"},
        headers=headers,
    )
    reply = await api(
        "POST",
        "/v2/messages",
        json={"to": ["a@example.com"], "subject": "s", "body": "other"},
        headers=headers,
    )
    assert reply.status == 400
    assert reply.error["field"] == "Idempotency-Key"
    # Same key, other endpoint: different parameters too.
    reply = await api("POST", "/v1/messages", json=EMAIL, headers=headers)
    assert reply.error["field"] == "Idempotency-Key"
    # Keys are scoped per API key: the editor's k1 is a new request.
    reply = await api(
        "POST",
        "/v2/messages",
        key=server.editor_key,
        json={"to": ["a@example.com"], "subject": "s", "body": "other"},
        headers=headers,
    )
    assert reply.status == 202
    assert len(server.ledger.of_kind("message.created")) == 2


async def test_idempotency_replays_errors_and_expires(api: Api, server: PulseServer) -> None:
    headers = {"Idempotency-Key": "bad-1"}
    body = {"email": "admin@example.com", "role": "viewer"}
    first = await api("POST", "/v2/users", json=body, headers=headers)
    assert first.status == 400
    again = await api("POST", "/v2/users", json=body, headers=headers)
    assert again.text == first.text
    assert again.headers["Idempotent-Replayed"] == "true"
    # After 24 hours the key is forgotten: the request runs again.
    ok = {"email": "ttl@example.com", "role": "viewer"}
    headers = {"Idempotency-Key": "ttl"}
    assert (await api("POST", "/v2/users", json=ok, headers=headers)).status == 201
    server.advance(24 * 3600 - 1)
    assert (await api("POST", "/v2/users", json=ok, headers=headers)).headers.get(
        "Idempotent-Replayed"
    ) == "true"
    server.advance(1)
    reply = await api("POST", "/v2/users", json=ok, headers=headers)
    assert "Idempotent-Replayed" not in reply.headers
    assert reply.error["field"] == "email"  # ran again: the email is taken now


async def test_idempotency_in_flight_is_409(api: Api, server: PulseServer) -> None:
    server.faults.add("latency", route="POST /v2/messages", delay=0.3, count=1)
    headers = {"Idempotency-Key": "slow"}
    slow = asyncio.create_task(
        api(
            "POST",
            "/v2/messages",
            json={"to": ["a@example.com"], "subject": "s", "body": "b"},
            headers=headers,
        )
    )
    await asyncio.sleep(0.1)
    reply = await api(
        "POST",
        "/v2/messages",
        json={"to": ["a@example.com"], "subject": "s", "body": "b"},
        headers=headers,
    )
    assert reply.status == 409
    assert reply.error["code"] == "conflict"
    first = await slow
    assert first.status == 202
    replay = await api(
        "POST",
        "/v2/messages",
        json={"to": ["a@example.com"], "subject": "s", "body": "b"},
        headers=headers,
    )
    assert replay.text == first.text
    assert len(server.ledger) == 1


@pytest.mark.parametrize("value", ["", "x" * 256, "caf\u00e9", "tab\there"])
async def test_idempotency_key_format(api: Api, value: str) -> None:
    raw = value.encode("utf-8")
    reply = await api(
        "POST",
        "/v2/messages",
        json={"to": ["a@example.com"], "subject": "s", "body": "b"},
        headers={"Idempotency-Key": raw.decode("latin-1")},
    )
    assert reply.status == 400
    assert reply.error["field"] == "Idempotency-Key"


async def test_every_post_is_idempotent(api: Api, server: PulseServer) -> None:
    message = (
        await api("POST", "/v1/messages", json=EMAIL, headers={"Idempotency-Key": "w1"})
    ).json
    again = await api("POST", "/v1/messages", json=EMAIL, headers={"Idempotency-Key": "w1"})
    assert again.json == message
    cancel = f"/v1/messages/{message['id']}/cancel"
    first = await api("POST", cancel, headers={"Idempotency-Key": "c1"})
    second = await api("POST", cancel, headers={"Idempotency-Key": "c1"})
    assert (first.status, second.status) == (200, 200)
    assert second.headers["Idempotent-Replayed"] == "true"
    user_body = {"email": "idem@example.com", "role": "viewer"}
    created = await api("POST", "/v2/users", json=user_body, headers={"Idempotency-Key": "u1"})
    replayed = await api("POST", "/v2/users", json=user_body, headers={"Idempotency-Key": "u1"})
    assert (created.status, replayed.status) == (201, 201)
    assert replayed.json == created.json
    assert [e.kind for e in server.ledger] == [
        "message.created",
        "message.cancelled",
        "user.created",
    ]


# --- Rate limits ---------------------------------------------------------------------------------


async def test_default_keys_are_unlimited(api: Api) -> None:
    reply = await api("GET", "/v2/users")
    assert "X-RateLimit-Limit" not in reply.headers


async def test_rate_limit_headers_and_429(api: Api, server: PulseServer) -> None:
    key = server.create_key(role="editor", rate_limit=6000)
    replies = [await api("GET", "/v2/threads", key=key) for _ in range(3)]
    assert [r.headers["X-RateLimit-Remaining"] for r in replies] == ["5999", "5998", "5997"]
    assert all(r.headers["X-RateLimit-Limit"] == "6000" for r in replies)
    assert replies[-1].headers["X-RateLimit-Reset"] == "1"
    # Errors of a limited key carry the headers too.
    forbidden = await api("POST", "/v2/users", key=key, json={})
    assert forbidden.status == 403
    assert forbidden.headers["X-RateLimit-Remaining"] == "5996"
    small = server.create_key(role="viewer", rate_limit="free")
    for i in range(60):
        reply = await api("GET", "/v2/users", key=small, params={"limit": "1"})
        assert reply.status == 200, i
    reply = await api("GET", "/v2/users", key=small)
    assert reply.status == 429
    assert reply.error["code"] == "rate_limited"
    assert reply.headers["Retry-After"] == "1"
    assert reply.headers["X-RateLimit-Remaining"] == "0"
    assert reply.headers["X-RateLimit-Reset"] == "60"
    assert server.stats.rate_limited == 1
    # Limits are per key.
    assert (await api("GET", "/v2/users")).status == 200
    # The frozen clock refills only when advanced.
    server.advance(1)
    assert (await api("GET", "/v2/users", key=small)).status == 200
    assert (await api("GET", "/v2/users", key=small)).status == 429


async def test_server_wide_rate_limit(session: aiohttp.ClientSession) -> None:
    async with PulseServer(rate_limit="pro") as server:
        api = Api(session, server)
        reply = await api("GET", "/v2/users")
        assert reply.headers["X-RateLimit-Limit"] == "1000"
        unlimited = server.create_key(rate_limit=None)
        assert "X-RateLimit-Limit" not in (await api("GET", "/v2/users", key=unlimited)).headers


async def test_high_custom_rate_real_clock(session: aiohttp.ClientSession) -> None:
    """600/min on the real clock: a burst past the bucket is refused, then it recovers."""
    async with PulseServer(rate_limit=600) as server:
        api = Api(session, server)
        statuses = [
            r.status for r in await asyncio.gather(*(api("GET", "/v2/threads") for _ in range(700)))
        ]
        assert statuses.count(200) >= 600
        assert statuses.count(429) >= 1
        await asyncio.sleep(0.25)  # 600/min refills one request every 0.1 s
        assert (await api("GET", "/v2/threads")).status == 200


# --- Admin endpoints -----------------------------------------------------------------------------


async def test_admin_endpoints(api: Api, server: PulseServer) -> None:
    before = server.clock.time()
    reply = await api("POST", "/_admin/advance", json={"seconds": 30})
    assert reply.status == 200
    assert reply.json["frozen"] is True
    assert server.clock.time() == before + 30
    assert (await api("POST", "/_admin/advance", json={"seconds": -1})).status == 400
    assert (await api("POST", "/_admin/advance", json={})).error["field"] == "seconds"
    reply = await api(
        "POST", "/_admin/faults", json={"spec": "GET /v2/users=service_unavailable:count=1"}
    )
    assert reply.json["kind"] == "service_unavailable"
    assert (await api("GET", "/v2/users")).status == 503
    await api("POST", "/_admin/faults", json={"kind": "server_error", "route": "GET /v2/threads"})
    assert len((await api("GET", "/_admin/faults")).json["rules"]) == 1
    assert (await api("DELETE", "/_admin/faults")).json == {"rules": []}
    assert (await api("GET", "/v2/threads")).status == 200
    key = (await api("POST", "/_admin/keys", json={"role": "viewer", "rate_limit": 5})).json["key"]
    assert (await api("GET", "/v2/users", key=key)).headers["X-RateLimit-Limit"] == "5"
    await api("POST", "/_admin/outcomes", json={"address": "o@example.com", "outcome": "failed"})
    await api("POST", "/_admin/domains", json={"domain": "new.example"})
    await api("POST", "/_admin/templates", json={"id": "tmpl_hi", "subject": "Hi"})
    reply = await api(
        "POST",
        "/v1/messages",
        json={
            "channel": "email",
            "to": "o@example.com",
            "from": "x@new.example",
            "template_id": "tmpl_hi",
        },
    )
    assert reply.status == 202
    await api("POST", "/_admin/advance", json={"seconds": 1})
    assert server.message_status(reply.json["id"]) == "failed"
    stats = (await api("GET", "/_admin/stats")).json
    assert stats["requests"]["GET /v2/users"] == 2
    assert stats["faults"] == {"service_unavailable": 1}
    ledger = (await api("GET", "/_admin/ledger")).json["data"]
    assert [e["kind"] for e in ledger] == ["message.created"]
    await api("POST", "/_admin/clock", json={"frozen": False})
    assert not server.clock.frozen
    # Admin only.
    assert (await api("GET", "/_admin/stats", key=server.editor_key)).status == 403
    assert (await api("GET", "/_admin/stats", key=None)).status == 401
