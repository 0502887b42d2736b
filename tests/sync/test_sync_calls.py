"""The facade against the local server: every resource, pagination, options, lifecycle."""

from __future__ import annotations

import traceback

import pytest

import pulse_sync
from pulse_async import AsyncPageIterator
from pulse_async.testing import ServerThread
from pulse_sync import (
    ClientMisuseError,
    ConflictError,
    NotFoundError,
    Pulse,
    Pulsewave,
    ValidationError,
)


def test_users_round_trip(pulse: Pulse) -> None:
    user = pulse.users.create(email="round@example.com", role="viewer", metadata={"team": "a"})
    assert isinstance(user, pulse_sync.User)
    assert user.status == "pending"
    user = pulse.users.update(user.id, role="editor", metadata={"team": None, "x": "1"})
    assert (user.role, user.metadata) == ("editor", {"x": "1"})
    assert user.id in {u.id for u in pulse.users.list(q="round@")}
    assert pulse.users.delete(user.id) is None
    with pytest.raises(NotFoundError):
        pulse.users.delete(user.id)


def test_messages_send_retrieve_wait(pulse: Pulse, server: ServerThread) -> None:
    receipt = pulse.messages.send(to=["admin@example.com"], subject="Hi", body="**Hello**")
    assert isinstance(receipt, pulse_sync.MessageReceipt)
    message = pulse.messages.retrieve(receipt.message_id)
    assert message.id == receipt.message_id
    final = pulse.messages.wait(receipt.message_id, timeout=30, poll_interval=0.05)
    assert final.status in pulse_sync.FINAL_STATUSES
    assert any(t.subject == "Hi" for t in pulse.threads.list())


def test_pulsewave_create_retrieve_cancel(pulsewave: Pulsewave) -> None:
    msg = pulsewave.messages.create(
        channel="email", to="ada@example.com", from_="news@example.com", subject="S", text="T"
    )
    assert pulsewave.messages.retrieve(msg.id).id == msg.id
    final = pulsewave.messages.wait(msg.id, timeout=30, poll_interval=0.05)
    assert final.status in pulse_sync.FINAL_STATUSES
    with pytest.raises(ConflictError):  # no longer queued: invalid_state
        pulsewave.messages.cancel(final.id)


def test_errors_are_the_async_classes_with_the_callers_line(pulse: Pulse) -> None:
    with pytest.raises(NotFoundError) as info:
        pulse.messages.retrieve("msg_missing")  # the caller's line
    assert type(info.value) is pulse_sync.NotFoundError
    frames = traceback.extract_tb(info.value.__traceback__)
    assert any(f.filename == __file__ and "the caller's line" in (f.line or "") for f in frames)
    # Validation that pulse_async does before sending surfaces the same way.
    with pytest.raises(ValidationError):
        pulse.messages.send(to=[], subject="x", body="y")
    with pytest.raises(ValidationError):
        pulse.users.list(limit=0)  # checked when list() is called, before any request


def test_pagination_crosses_once_per_page(pulse: Pulse, server: ServerThread) -> None:
    for i in range(7):
        pulse.users.create(email=f"page{i}@example.com", role="viewer", name="pager")
    before = server.stats.requests["GET /v2/users"]
    users = list(pulse.users.list(limit=2, q="pager"))
    assert len(users) == 7
    assert server.stats.requests["GET /v2/users"] - before == 4  # 2+2+2+1: one request a page

    pages = list(pulse.users.list(limit=3, q="pager").pages())
    assert [len(p.data) for p in pages] == [3, 3, 1]
    assert pages[-1].has_more is False
    first = pulse.users.list(limit=3, q="pager").fetch_page()
    second = pulse.users.list(limit=3, q="pager").fetch_page(first.next_cursor)
    assert [u.id for u in second.data] == [u.id for u in pages[1].data]
    assert len(pulse.users.list(limit=2, q="pager").to_list(max_items=3)) == 3


def test_breaking_out_early_closes_the_async_pager(
    pulse: Pulse, server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(4):
        pulse.users.create(email=f"early{i}@example.com", role="viewer", name="early")
    closed: list[AsyncPageIterator[object]] = []
    original = AsyncPageIterator.aclose

    async def spy(self: AsyncPageIterator[object]) -> None:
        closed.append(self)
        await original(self)

    monkeypatch.setattr(AsyncPageIterator, "aclose", spy)
    before = server.stats.requests["GET /v2/users"]
    for _user in pulse.users.list(limit=1, q="early"):
        break
    assert len(closed) == 1
    for _page in pulse.users.list(limit=1, q="early").pages():
        break
    assert len(closed) == 2
    # each listing fetched at most one page ahead of the one it stopped in
    assert 2 <= server.stats.requests["GET /v2/users"] - before <= 4
    assert list(pulse.users.list(limit=10, q="early"))  # a run to the end closes nothing
    assert len(closed) == 2


def test_with_options_options_and_stats(pulse: Pulse) -> None:
    fast = pulse.with_options(timeout=7, max_retries=0)
    assert type(fast) is Pulse
    assert (fast.options.timeout.total, fast.options.max_retries) == (7.0, 0)
    assert pulse.options.max_retries == 2
    before = pulse.stats.attempts
    fast.users.list(limit=1).fetch_page()
    assert pulse.stats.attempts == before + 1  # copies share the stats (and connections)
    assert fast.stats is pulse.stats
    assert pulse.rate_limiter is None
    assert repr(pulse) == f"Pulse(base_url={pulse.options.base_url!r})"
    fast.close()  # a copy closes nothing
    pulse.users.list(limit=1).fetch_page()
    with pytest.raises(ValidationError):
        pulse.with_options(max_retries=-1)


def test_close_is_idempotent_and_final(server: ServerThread) -> None:
    pulse = Pulse(server.admin_key, base_url=server.url)
    copy = pulse.with_options(max_retries=0)
    with pulse:
        pulse.users.list(limit=1).fetch_page()
    pulse.close()
    pulse.close()
    for client in (pulse, copy):
        with pytest.raises(ClientMisuseError, match="closed"):
            client.users.list(limit=1).fetch_page()


def test_bad_options_raise_in_the_constructor(no_pulse_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError):
        Pulse("pw_test_k", base_url="http://example.com")  # plain http only for loopback
    with pytest.raises(pulse_sync.PulseError):
        Pulsewave()  # no key anywhere
