"""``client.with_raw_response``: every resource method, returning an ``APIResponse``.

No method is written twice. A raw method runs the plain one on a resource bound
to a :class:`_Recorder`: a requester that makes the call through the client's
``_call_raw`` (the same call path, which then also hands back the call's
metadata), keeps the :class:`~pulse_async.APIResponse` and gives the resource
its model as usual. The wrappers are typed with ``ParamSpec``, so
``with_raw_response.messages.send`` has ``send``'s exact parameters and returns
``APIResponse[MessageReceipt]``.

List methods return an :class:`AsyncRawPager`: items as usual, and
``.pages()`` yields each page as an ``APIResponse[Page[T]]``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, cast

from pulse_async._core._http import Request, Unparsed
from pulse_async._pager import AsyncPager
from pulse_async._response import APIResponse
from pulse_async.models import Page
from pulse_async.resources._base import Requester
from pulse_async.resources.messages import AsyncMessages
from pulse_async.resources.pulsewave import AsyncPulsewaveMessages
from pulse_async.resources.threads import AsyncThreads
from pulse_async.resources.users import AsyncUsers

__all__ = [
    "AsyncMessagesWithRawResponse",
    "AsyncPulseWithRawResponse",
    "AsyncPulsewaveMessagesWithRawResponse",
    "AsyncPulsewaveWithRawResponse",
    "AsyncRawPageIterator",
    "AsyncRawPager",
    "AsyncThreadsWithRawResponse",
    "AsyncUsersWithRawResponse",
    "RawRequester",
]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
Res = TypeVar("Res")


class RawRequester(Protocol):
    """The client, as seen by a raw resource: the call path that returns its metadata too."""

    _clock: Callable[[], float]
    _sleep: Callable[[float], Awaitable[None]]

    async def _call_raw(
        self,
        request: Request,
        structure: Callable[[Any], Any] | None,
        *,
        deadline: float | None = None,
    ) -> APIResponse[Any]:
        """Send ``request`` like ``_call``; the model and the call's metadata."""


class _Recorder:
    """A :class:`Requester` that keeps the ``APIResponse`` of each call it makes.

    Responses are kept by the identity of their model until taken, so a page
    fetched ahead of its turn is matched to its own answer.
    """

    __slots__ = ("_client", "_clock", "_responses", "_sleep")

    def __init__(self, client: RawRequester) -> None:
        self._client = client
        self._clock = client._clock
        self._sleep = client._sleep
        self._responses: dict[int, APIResponse[Any]] = {}

    async def _call(
        self, request: Request, structure: Callable[[Any], T], *, deadline: float | None = None
    ) -> T:
        response = await self._client._call_raw(request, structure, deadline=deadline)
        model: T = response.parse()
        self._responses[id(model)] = response
        return model

    async def _call_empty(self, request: Request) -> None:
        self._responses[id(None)] = await self._client._call_raw(request, None)

    def take(self, model: object) -> APIResponse[Any]:
        """The answer that carried ``model`` (once)."""
        return self._responses.pop(id(model))

    def keep(self, model: object, response: APIResponse[Any]) -> None:
        """Hold ``response`` as the answer that carried ``model``, until taken."""
        self._responses[id(model)] = response


def _raw(
    client: RawRequester,
    make: Callable[[Requester], Res],
    method: Callable[Concatenate[Res, P], Awaitable[R]],
) -> Callable[P, Coroutine[Any, Any, APIResponse[R]]]:
    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> APIResponse[R]:
        recorder = _Recorder(client)
        model = await method(make(recorder), *args, **kwargs)
        return recorder.take(model)

    return call


def _raw_list(
    client: RawRequester,
    make: Callable[[Requester], Res],
    method: Callable[Concatenate[Res, P], AsyncPager[T]],
) -> Callable[P, AsyncRawPager[T]]:
    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> AsyncRawPager[T]:
        recorder = _Recorder(client)
        return AsyncRawPager(method(make(recorder), *args, **kwargs), recorder)

    return call


class AsyncRawPageIterator(Generic[T]):
    """Iterates pages as ``APIResponse[Page[T]]``; each step makes at most one request."""

    __slots__ = ("_pages", "_recorder")

    def __init__(self, pager: AsyncPager[T], recorder: _Recorder) -> None:
        self._pages = pager.pages()
        self._recorder = recorder

    def __aiter__(self) -> AsyncRawPageIterator[T]:
        return self

    async def __anext__(self) -> APIResponse[Page[T]]:
        page = await self._pages.__anext__()
        return self._recorder.take(page)

    async def aclose(self) -> None:
        """Stop: no further page is fetched."""
        await self._pages.aclose()


class AsyncRawPager(Generic[T]):
    """A ``list()`` made through ``with_raw_response``: pages come with their metadata.

    Example::

        async for response in pulse.with_raw_response.users.list(limit=100).pages():
            page = response.parse()                # Page[User]
            print(response.request_id, response.rate_limit.remaining, len(page.data))

    ``async for item in pager`` still yields the items themselves.
    """

    __slots__ = ("_pager", "_recorder")

    def __init__(self, pager: AsyncPager[T], recorder: _Recorder) -> None:
        fetch, structure = pager._fetch, pager._structure

        async def fetch_structured(cursor: str | None) -> Page[T]:
            # The plain pager may hand back the parsed JSON and structure it later (to send
            # the next request first); here each page is structured as it arrives, so its
            # answer is matched to the Page object the caller gets.
            got = await fetch(cursor)
            response = recorder.take(got)
            if structure is None:
                page = cast(Page[T], got)
            else:
                page = structure(got.parse() if isinstance(got, Unparsed) else got)
            recorder.keep(page, response.with_parsed(page))
            return page

        self._pager: AsyncPager[T] = AsyncPager(fetch_structured)
        self._recorder = recorder

    def __aiter__(self) -> _AsyncRawItemIterator[T]:
        return _AsyncRawItemIterator(self.pages())

    def pages(self) -> AsyncRawPageIterator[T]:
        """Iterate whole pages, each as an ``APIResponse[Page[T]]``, fetched one at a time."""
        return AsyncRawPageIterator(self._pager, self._recorder)

    async def fetch_page(self, cursor: str | None = None) -> APIResponse[Page[T]]:
        """Fetch one page (the first, or the one ``cursor`` points at) with its metadata."""
        return self._recorder.take(await self._pager.fetch_page(cursor))


class _AsyncRawItemIterator(Generic[T]):
    __slots__ = ("_items", "_pages")

    def __init__(self, pages: AsyncRawPageIterator[T]) -> None:
        self._pages = pages
        self._items: list[T] = []

    def __aiter__(self) -> _AsyncRawItemIterator[T]:
        return self

    async def __anext__(self) -> T:
        while not self._items:
            response = await self._pages.__anext__()
            self._items = list(reversed(response.parse().data))
        return self._items.pop()

    async def aclose(self) -> None:
        self._items.clear()
        await self._pages.aclose()


class AsyncUsersWithRawResponse:
    """``pulse.with_raw_response.users``: :class:`AsyncUsers`, returning ``APIResponse``."""

    def __init__(self, client: RawRequester) -> None:
        self.list = _raw_list(client, AsyncUsers, AsyncUsers.list)
        self.create = _raw(client, AsyncUsers, AsyncUsers.create)
        self.update = _raw(client, AsyncUsers, AsyncUsers.update)
        self.delete = _raw(client, AsyncUsers, AsyncUsers.delete)


class AsyncMessagesWithRawResponse:
    """``pulse.with_raw_response.messages``: :class:`AsyncMessages`, returning ``APIResponse``."""

    def __init__(self, client: RawRequester) -> None:
        self.send = _raw(client, AsyncMessages, AsyncMessages.send)
        self.retrieve = _raw(client, AsyncMessages, AsyncMessages.retrieve)


class AsyncThreadsWithRawResponse:
    """``pulse.with_raw_response.threads``: :class:`AsyncThreads`, pages with metadata."""

    def __init__(self, client: RawRequester) -> None:
        self.list = _raw_list(client, AsyncThreads, AsyncThreads.list)


class AsyncPulsewaveMessagesWithRawResponse:
    """``pulsewave.with_raw_response.messages``, returning ``APIResponse``."""

    def __init__(self, client: RawRequester) -> None:
        self.create = _raw(client, AsyncPulsewaveMessages, AsyncPulsewaveMessages.create)
        self.retrieve = _raw(client, AsyncPulsewaveMessages, AsyncPulsewaveMessages.retrieve)
        self.cancel = _raw(client, AsyncPulsewaveMessages, AsyncPulsewaveMessages.cancel)


class AsyncPulseWithRawResponse:
    """``AsyncPulse.with_raw_response``: the resources, each method returning ``APIResponse``."""

    def __init__(self, client: RawRequester) -> None:
        self.users = AsyncUsersWithRawResponse(client)
        self.messages = AsyncMessagesWithRawResponse(client)
        self.threads = AsyncThreadsWithRawResponse(client)


class AsyncPulsewaveWithRawResponse:
    """``AsyncPulsewave.with_raw_response``: ``messages``, each method returning ``APIResponse``."""

    def __init__(self, client: RawRequester) -> None:
        self.messages = AsyncPulsewaveMessagesWithRawResponse(client)
