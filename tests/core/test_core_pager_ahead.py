"""The pager sends the request for page k+1 before it parses page k.

Resources hand the pager the page's raw body (``Unparsed``); when the body ends
with the members ``"next_cursor"`` and ``"has_more": true`` the next request
leaves at once, and the parsed page confirms it (or, if it does not, the request
is cancelled and the pager follows what the page says).
"""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse_async import APIConnectionError, AsyncPager, AsyncPulse, Page
from pulse_async._core._http import UNPARSED, Unparsed, decipher
from pulse_async._pager import MAX_EMPTY_PAGES, next_cursor_hint
from pulse_async.testing import PulseServer

# --- reading the cursor off the tail -------------------------------------------------------------


def test_the_cursor_is_read_off_the_closing_members_in_either_order() -> None:
    assert next_cursor_hint(b'{"data":[],"next_cursor":"c2","has_more":true}') == "c2"
    assert next_cursor_hint(b'{"data": [], "has_more": true, "next_cursor": "c_2-x="}') == "c_2-x="
    assert next_cursor_hint(b'{\n  "next_cursor" : "c2" ,\n  "has_more" : true\n}\n') == "c2"


@pytest.mark.parametrize(
    "body",
    [
        b'{"data":[],"next_cursor":"c2","has_more":false}',
        b'{"data":[],"next_cursor":null,"has_more":true}',
        b'{"data":[],"next_cursor":"","has_more":true}',
        b'{"data":[],"next_cursor":"c\\u0032","has_more":true}',  # an escape: not guessed
        b'{"data":[],"next_cursor":"a b","has_more":true}',
        b'{"next_cursor":"c2","has_more":true,"data":[]}',  # not the closing members
        # a nested object that closes like a page, inside one that says no more
        b'{"data":[{"metadata":{"next_cursor":"x","has_more":true}}],"has_more":false}',
        b'{"data":[],"note":"\\"next_cursor\\":\\"c2\\",\\"has_more\\":true}"}',
        b"",
        b"not json at all",
    ],
)
def test_no_cursor_is_guessed_unless_the_closing_members_name_one(body: bytes) -> None:
    assert next_cursor_hint(body) is None


_text = st.text(st.sampled_from('ab"\\:,{}[] \n_-=nextcursorhasmoretrue'), max_size=12)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_cursor = st.none() | st.text(st.sampled_from("abcXYZ019._~+/=- "), max_size=8)


@settings(max_examples=400, deadline=None)
@given(
    extra=st.dictionaries(_text, _json, max_size=3),
    cursor=_cursor,
    has_more=st.booleans() | st.none(),
    order=st.permutations(["data", "next_cursor", "has_more", "extra"]),
    compact=st.booleans(),
    data=st.lists(_json, max_size=3),
)
def test_a_guessed_cursor_is_always_the_one_the_parsed_page_names(
    extra: dict[str, Any],
    cursor: str | None,
    has_more: bool | None,
    order: list[str],
    compact: bool,
    data: list[Any],
) -> None:
    page: dict[str, Any] = {}
    for key in order:
        if key == "extra":
            page.update(extra)
        else:
            page[key] = {"data": data, "next_cursor": cursor, "has_more": has_more}[key]
    separators = (",", ":") if compact else (", ", ": ")
    body = json.dumps(page, separators=separators).encode()
    parsed = json.loads(body)
    hint = next_cursor_hint(body)
    if hint is not None:
        assert parsed.get("has_more") is True
        assert parsed.get("next_cursor") == hint
    tail = list(parsed)[-2:]
    if (
        sorted(tail) == ["has_more", "next_cursor"]
        and parsed["has_more"] is True
        and isinstance(cursor, str)
        and cursor
        and " " not in cursor
    ):
        assert hint == cursor  # a plain page's closing members are always read


def test_decipher_hands_back_the_body_unparsed_and_parse_fails_as_decipher_would() -> None:
    got = decipher(200, {"X-Request-Id": "req_1"}, b'{"data":[]}', UNPARSED)
    assert isinstance(got, Unparsed)
    assert got.parse() == {"data": []}
    broken = decipher(200, {"X-Request-Id": "req_2"}, b'{"data":[', UNPARSED)
    assert isinstance(broken, Unparsed)
    with pytest.raises(APIConnectionError, match="200 response body could not be read") as caught:
        broken.parse()
    assert caught.value.request_id == "req_2"
    assert caught.value.retryable is False
    with pytest.raises(TypeError, match="marker"):
        UNPARSED({})


async def collect(pager: AsyncPager[Any], into: list[Any]) -> None:
    async for item in pager:
        into.append(item)


# --- the pager, on raw bodies ------------------------------------------------------------------


class RawServer:
    """Pages of raw JSON bodies: page *n* names ``c<n>`` and comes after ``turns`` turns of
    the loop; every request after the first ``answer`` ones waits until cancelled."""

    def __init__(
        self,
        *,
        per_page: int = 2,
        answer: int | None = None,
        bodies: dict[int, bytes] | None = None,
        turns: int = 1,
    ) -> None:
        self.per_page = per_page
        self.turns = turns
        self.answer = answer
        self.bodies = bodies or {}
        self.started: list[str | None] = []
        self.cancelled: list[str | None] = []
        self.events: list[str] = []

    async def fetch(self, cursor: str | None) -> Unparsed:
        self.started.append(cursor)
        self.events.append(f"fetch {cursor}")
        n = len(self.started)
        if self.answer is not None and n > self.answer:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.append(cursor)
                raise
        for _ in range(self.turns):
            await asyncio.sleep(0)
        body = self.bodies.get(n)
        if body is None:
            data = [n * 1000 + i for i in range(self.per_page)]
            body = json.dumps({"data": data, "next_cursor": f"c{n}", "has_more": True}).encode()
        return Unparsed(200, {}, body, None)

    def structure(self, payload: dict[str, Any]) -> Page[int]:
        self.events.append(f"structure {payload['next_cursor']}")
        return Page(data=payload["data"], next_cursor=payload["next_cursor"], has_more=True)


async def test_the_next_request_leaves_before_this_page_is_parsed() -> None:
    # Page 2's body does not parse; the request for the page it names left anyway
    # (it could only have before the parse), and the parse's error cancels it.
    server = RawServer(answer=1, bodies={1: b'{"data":[1,,2],"next_cursor":"c1","has_more":true}'})
    pages = AsyncPager(server.fetch, server.structure).pages()
    with pytest.raises(APIConnectionError, match="could not be read: JSONDecodeError"):
        await anext(pages)
    for _ in range(3):
        await asyncio.sleep(0)
    assert server.started == [None, "c1"]
    assert server.cancelled == ["c1"]
    with pytest.raises(StopAsyncIteration):
        await anext(pages)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_pages_are_handed_over_in_order_one_request_ahead() -> None:
    server = RawServer()
    pages = AsyncPager(server.fetch, server.structure).pages()
    got = [await anext(pages) for _ in range(3)]
    assert [p.data for p in got] == [[1000, 1001], [2000, 2001], [3000, 3001]]
    assert server.events[:5] == [
        "fetch None",
        "fetch c1",
        "structure c1",
        "fetch c2",
        "structure c2",
    ]
    assert server.started == [None, "c1", "c2", "c3"]  # never more than one page ahead
    await pages.aclose()


async def test_a_guess_the_parsed_page_contradicts_is_cancelled_and_the_page_followed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A well-formed answer never contradicts its tail; a wrong guess must still not
    # lead the listing astray: its request is cancelled and the real cursor followed.
    import pulse_async._pager as pager_module

    guesses = ["wrong"]
    monkeypatch.setattr(
        pager_module, "next_cursor_hint", lambda body: guesses.pop(0) if guesses else None
    )
    bodies = {
        None: b'{"data":[1],"next_cursor":"c1","has_more":true}',
        "c1": b'{"data":[2],"has_more":false}',
    }
    started: list[str | None] = []
    cancelled: list[str | None] = []

    async def fetch(cursor: str | None) -> Unparsed:
        started.append(cursor)
        if cursor not in bodies:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(cursor)
                raise
        await asyncio.sleep(0)
        return Unparsed(200, {}, bodies[cursor], None)

    def structure(payload: dict[str, Any]) -> Page[int]:
        return Page(data=payload["data"], next_cursor=payload.get("next_cursor"))

    assert [i async for i in AsyncPager(fetch, structure)] == [1, 2]
    await asyncio.sleep(0)
    assert started == [None, "wrong", "c1"]
    assert cancelled == ["wrong"]
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_no_request_is_guessed_past_the_empty_page_limit() -> None:
    server = RawServer(per_page=0)
    with pytest.raises(APIConnectionError, match="empty pages in a row"):
        [i async for i in AsyncPager(server.fetch, server.structure)]
    assert len(server.started) == MAX_EMPTY_PAGES  # not one request past the limit
    await asyncio.sleep(0)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_no_request_is_guessed_for_a_cursor_already_followed() -> None:
    loop = b'{"data":[1],"next_cursor":"c1","has_more":true}'
    server = RawServer(bodies={1: loop, 2: loop, 3: loop})
    seen: list[int] = []
    with pytest.raises(APIConnectionError, match="already sent"):
        await collect(AsyncPager(server.fetch, server.structure), seen)
    assert seen == [1, 1]
    assert server.started == [None, "c1"]


async def test_to_list_with_max_items_guesses_nothing_ahead() -> None:
    server = RawServer(per_page=3)
    got = await AsyncPager(server.fetch, server.structure).to_list(max_items=5)
    assert got == [1000, 1001, 1002, 2000, 2001]
    assert server.started == [None, "c1"]
    page = await AsyncPager(server.fetch, server.structure).fetch_page("c9")
    assert page.data == [3000, 3001, 3002]


# --- through the client, against the local server ------------------------------------------------


async def test_listing_the_local_server_and_stopping_early_releases_everything() -> None:
    # Past saturation: 12 listings at once over one client with 4 connections, each
    # stopped early in its own way while its next page is in flight.
    async with PulseServer() as server:
        async with AsyncPulse(server.admin_key, base_url=server.v2_url) as admin:
            await asyncio.gather(
                *(
                    admin.users.create(email=f"u{i:02d}@example.com", role="viewer")
                    for i in range(30)
                )
            )
            everyone = [u.id async for u in admin.users.list(limit=100)]
            assert [u.id async for u in admin.users.list(limit=7)] == everyone
            assert len(everyone) >= 30

        route = "GET /v2/users"
        before = server.stats.requests[route]
        async with AsyncPulse(server.admin_key, base_url=server.v2_url, max_connections=4) as pulse:

            async def stop_early(i: int) -> list[str]:
                pager = pulse.users.list(limit=3)
                seen: list[str] = []
                if i % 3 == 0:
                    async for user in pager:
                        seen.append(user.id)
                        if len(seen) == 4:
                            break
                elif i % 3 == 1:
                    pages = pager.pages()
                    seen += [u.id for u in (await anext(pages)).data]
                    await pages.aclose()
                else:
                    items = aiter(pager)
                    seen.append((await anext(items)).id)
                    await items.aclose()  # type: ignore[attr-defined]
                return seen

            got = await asyncio.gather(*(stop_early(i) for i in range(12)))
            gc.collect()
            for _ in range(5):
                await asyncio.sleep(0)
            assert [len(s) for s in got] == [4, 3, 1] * 4
            assert all(s == everyone[: len(s)] for s in got)
            # each listing asked for at most one page beyond the ones it used
            assert server.stats.requests[route] - before <= 4 * 3 + 4 * 2 + 4 * 2
            # every connection is back: a full listing still runs on the 4 of them
            assert [u.id async for u in pulse.users.list(limit=5)] == everyone
    # (the server's own handlers end when it stops)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_cancelled_while_the_request_ahead_is_written_the_iteration_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The page being handed over is lost to a caller cancelled at that moment: going on
    # would silently skip it, so the iteration stops and the request ahead is cancelled.
    import pulse_async._pager as pager_module

    real = pager_module.next_cursor_hint

    def cancel_the_caller(body: bytes) -> str | None:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()  # lands on the pager's next await: the turn that lets the request out
        return real(body)

    monkeypatch.setattr(pager_module, "next_cursor_hint", cancel_the_caller)
    server = RawServer(answer=1)
    pages = AsyncPager(server.fetch, server.structure).pages()
    with pytest.raises(asyncio.CancelledError):
        await anext(pages)
    for _ in range(3):
        await asyncio.sleep(0)
    assert server.started == [None, "c1"]
    assert server.cancelled == ["c1"]
    with pytest.raises(StopAsyncIteration):
        await anext(pages)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_while_the_caller_waits_the_next_request_leaves_as_the_answer_arrives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The caller is already waiting for page k+1: the fetch of page k+1 starts page k+2's
    # request itself, as its answer comes in, with no turn of the loop in between; the
    # caller's own turn reads the guess it made (and starts nothing more).
    import pulse_async._pager as pager_module

    real = pager_module.next_cursor_hint
    guessed_in: list[bool] = []
    consumer = asyncio.current_task()

    def spy(body: bytes) -> str | None:
        guessed_in.append(asyncio.current_task() is consumer)
        return real(body)

    monkeypatch.setattr(pager_module, "next_cursor_hint", spy)
    server = RawServer()
    pages = AsyncPager(server.fetch, server.structure).pages()
    got = [(await anext(pages)).data for _ in range(4)]
    assert got == [[1000, 1001], [2000, 2001], [3000, 3001], [4000, 4001]]
    # page 1 is fetched by the caller itself; every later guess is made by the fetch
    assert guessed_in == [True, False, False, False]
    assert server.started == [None, "c1", "c2", "c3", "c4"]  # one ahead, never more
    await pages.aclose()
    assert server.cancelled == []  # c4 had been answered
    await asyncio.sleep(0)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_a_caller_cancelled_while_waiting_cancels_the_request_started_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Page 2's fetch answers and starts page 3's request (the caller waits), and the
    # caller is cancelled right then, before it takes page 2: both stop, nothing is left.
    import pulse_async._pager as pager_module

    real = pager_module.next_cursor_hint
    waiting: list[asyncio.Task[Any]] = []

    def cancel_the_caller(body: bytes) -> str | None:
        if waiting and asyncio.current_task() is not waiting[0]:
            waiting[0].cancel()  # we are in the fetch of page 2, the caller waits for it
        return real(body)

    monkeypatch.setattr(pager_module, "next_cursor_hint", cancel_the_caller)
    server = RawServer(answer=2, turns=5)  # the caller is waiting before page 2 comes
    pages = AsyncPager(server.fetch, server.structure).pages()
    await anext(pages)
    waiting.append(asyncio.ensure_future(anext(pages)))
    with pytest.raises(asyncio.CancelledError):
        await waiting[0]
    for _ in range(3):
        await asyncio.sleep(0)
    assert server.started == [None, "c1", "c2"]
    assert server.cancelled == ["c2"]
    with pytest.raises(StopAsyncIteration):
        await anext(pages)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
