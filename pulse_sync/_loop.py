"""The one event-loop thread that runs every ``pulse_sync`` call of a process.

Why a thread of our own: the caller's thread may already run an event loop (a
Jupyter cell, an async web handler), where asyncio refuses to start a second
loop and patching the running one breaks other libraries. So a blocking call hands its
coroutine to a private loop running in a daemon thread named
``pulse-sync-loop`` and waits on a lock for the answer. The caller's thread
never runs, enters or patches an event loop.

Mechanics, all here and stdlib only:

- **Lazy start.** No thread at import; the first call starts it, under a lock.
- **The caller's context.** Each call's task runs in a copy of the calling
  thread's ``contextvars`` context, so what the caller set (an OpenTelemetry
  span, a request id in a logging context) is seen by the call.
- **One crossing per call.** :func:`run` queues one callback with
  ``call_soon_threadsafe`` and blocks on a plain lock that the coroutine's
  wrapper releases when it ends: no thread or executor per call, no lock taken
  on the way in beyond the start-up check.
- **No deadlock.** Called on the loop thread itself (from a callback such as
  ``on_retry``), :func:`run` raises :class:`LoopThreadError` at once instead of
  waiting for a loop that is busy waiting for it.
- **Ctrl-C.** Waiting on a lock is interruptible on the main thread. On
  ``KeyboardInterrupt`` the task is cancelled on the loop (aiohttp drops the
  connection of a request it did not finish), we wait a moment for the
  cancellation to land, then re-raise in the caller.
- **BaseExceptions stay in their call.** ``SystemExit`` or ``KeyboardInterrupt``
  raised inside a coroutine is handed to the caller, never raised into the loop
  (asyncio would let it stop ``run_forever`` and with it the thread).
- **Fork.** ``os.register_at_fork`` forgets the parent's loop in the child: the
  first call there starts a fresh thread and loop. What the parent's loop and
  clients hold (an epoll instance and sockets now shared with the parent) is
  kept alive, untouched, for the life of the child: closing or even freeing
  them would unregister the parent's sockets from the epoll instance both
  processes share.
- **Exit.** An ``atexit`` hook closes every client still open, cancels what is
  left, stops the loop and closes it, each step bounded by a timeout, so
  neither a hang nor an "Unclosed client session" / "Task was destroyed"
  warning comes out of interpreter shutdown.
- **uvloop** runs the loop when installed, unless ``PULSE_SYNC_UVLOOP=0``
  (read when the thread starts, so set it before the first call).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import logging
import os
import threading
import warnings
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Generic, Protocol, TypeVar

__all__ = [
    "THREAD_NAME",
    "Binding",
    "LoopThreadError",
    "loop_thread",
    "run",
    "uses_uvloop",
]

T = TypeVar("T")
log = logging.getLogger("pulse_sync")

#: The name of the loop thread, as shown by ``threading.enumerate()`` and debuggers.
THREAD_NAME = "pulse-sync-loop"
#: How long a Ctrl-C waits for the cancelled call to unwind on the loop.
_CANCEL_GRACE = 2.0
#: Hang guards for interpreter exit: closing clients, then stopping the thread.
_EXIT_CLOSE_TIMEOUT = 5.0
_EXIT_JOIN_TIMEOUT = 2.0
_FALSE = frozenset({"0", "false", "no", "off"})


class LoopThreadError(RuntimeError):
    """A blocking ``pulse_sync`` call was made on ``pulse_sync``'s own loop thread.

    That thread is the one that would have to run the call, so waiting for it
    would deadlock. It happens when a callback that ``pulse_async`` runs on the
    loop (``on_retry``, a custom rate limiter) calls the sync client: use the
    information the callback receives instead, or ``pulse_async`` in async code.
    """


class _AsyncClosable(Protocol):
    def aclose(self) -> Coroutine[Any, Any, None]: ...


C = TypeVar("C", bound=_AsyncClosable)


class _Call(Generic[T]):
    """One coroutine on its way through the loop, and the lock its caller waits on."""

    __slots__ = ("_context", "_coro", "done", "error", "result", "task")

    def __init__(self, coro: Coroutine[Any, Any, T]) -> None:
        self._coro: Coroutine[Any, Any, T] | None = coro
        # The caller's context variables travel with the call (its current trace span,
        # so the call's span is the caller's child): a copy, so nothing set there leaks back.
        self._context = contextvars.copy_context()
        self.done = threading.Lock()
        self.done.acquire()
        self.result: T | None = None
        self.error: BaseException | None = None
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """On the loop: wrap the coroutine in a task."""
        self.task = asyncio.get_running_loop().create_task(self._drive(), context=self._context)

    async def _drive(self) -> None:
        coro, self._coro = self._coro, None
        assert coro is not None
        try:
            self.result = await coro
        except BaseException as exc:
            # Everything goes to the caller, CancelledError, SystemExit and
            # KeyboardInterrupt included: nothing may escape into the loop.
            self.error = exc
        finally:
            self.done.release()

    def cancel(self) -> None:
        """On the loop: cancel the task (a no-op once it has finished)."""
        if self.task is not None:
            self.task.cancel()


class _LoopThread:
    """The loop, its thread, and the clients to close at exit, for one process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.ident: int | None = None
        self.closed = False
        #: The open async clients of this process, held here (not only by their sync
        #: client) so that the garbage collector never finalizes an aiohttp session
        #: that is still open: we close it first, on the loop.
        self.slots: set[_Slot[Any]] = set()
        #: Close tasks started by garbage-collected clients (a strong reference keeps them).
        self.closing: set[asyncio.Task[None]] = set()

    def start(self) -> asyncio.AbstractEventLoop:
        with self.lock:
            if self.loop is not None:
                return self.loop
            if self.closed:
                raise RuntimeError("pulse_sync's loop thread has shut down (interpreter exit)")
            loop = _new_loop()
            ready = threading.Event()
            thread = threading.Thread(
                target=self._serve, args=(loop, ready), name=THREAD_NAME, daemon=True
            )
            thread.start()
            ready.wait()
            self.thread = thread
            self.ident = thread.ident
            self.loop = loop
            _register_exit_hook()
            return loop

    def _serve(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        while True:
            try:
                loop.run_forever()
            except BaseException:
                # A callback outside our calls raised SystemExit or KeyboardInterrupt
                # (asyncio re-raises those out of run_forever). The loop must go on.
                log.exception("pulse_sync loop thread: unexpected exception; continuing")
                continue
            return


def _new_loop() -> asyncio.AbstractEventLoop:
    if os.environ.get("PULSE_SYNC_UVLOOP", "1").strip().lower() not in _FALSE:
        try:
            import uvloop  # optional: the ``speedups`` extra
        except ImportError:
            pass
        else:
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
    return asyncio.new_event_loop()


_state = _LoopThread()
#: What a forked child inherited and must neither close nor free (see the module docstring).
_inherited: list[object] = []

#: Rate limiters given to pulse_sync clients. Their connections live on the loop thread,
#: where a blocking caller cannot ``await limiter.aclose()``, and a limiter is shared, so
#: closing a client leaves it open: the exit hook closes them, after the clients. Weak: a
#: limiter nobody holds any more is not kept alive for the exit hook.
_limiters: weakref.WeakSet[Any] = weakref.WeakSet()
_strong_limiters: list[_AsyncClosable] = []


def close_at_exit(limiter: _AsyncClosable) -> None:
    """Have the exit hook close ``limiter`` on the loop (its ``aclose`` must be idempotent)."""
    try:
        _limiters.add(limiter)
    except TypeError:  # not weak-referenceable (``__slots__``): held to the end
        if limiter not in _strong_limiters:
            _strong_limiters.append(limiter)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the loop thread and block until it ends; its result or its exception.

    The exception is the coroutine's own (same class, same object), so its
    traceback shows the caller's line and, below it, where it happened.
    """
    state = _state
    loop = state.loop
    if loop is None:
        try:
            loop = state.start()
        except BaseException:
            coro.close()
            raise
    if threading.get_ident() == state.ident:
        coro.close()
        raise LoopThreadError(
            "a pulse_sync call was made on pulse_sync's own event-loop thread (from a"
            " callback such as on_retry); it would deadlock. Use pulse_async in async code."
        )
    call = _Call(coro)
    try:
        loop.call_soon_threadsafe(call.start)
    except RuntimeError:  # the loop was closed at interpreter exit
        coro.close()
        raise RuntimeError("pulse_sync's loop thread has shut down (interpreter exit)") from None
    try:
        call.done.acquire()
    except BaseException:
        # Ctrl-C (or another asynchronous exception) while waiting: abandon the call
        # for real, on the loop, then let the exception through.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(call.cancel)
        call.done.acquire(timeout=_CANCEL_GRACE)
        raise
    error = call.error
    if error is not None:
        call.error = None  # break the cycle call → error → traceback → frame → call
        raise error
    return call.result  # type: ignore[return-value]  # set whenever error is None


def loop_thread() -> threading.Thread | None:
    """The loop thread of this process, or ``None`` before the first call."""
    return _state.thread


def uses_uvloop() -> bool:
    """Whether this process's loop thread runs uvloop (``False`` before the first call)."""
    loop = _state.loop
    return loop is not None and type(loop).__module__.startswith("uvloop")


class _Slot(Generic[C]):
    """An async client and the process it belongs to; what the loop state holds."""

    __slots__ = ("client", "closed", "pid")

    def __init__(self, client: C) -> None:
        self.client = client
        self.pid = os.getpid()
        self.closed = False


class Binding(Generic[C]):
    """One async client, created for and used on the loop thread of the current process.

    A sync client and its ``with_options`` copies share one binding. The async
    client is built in the caller's thread (so bad options raise there); its
    aiohttp session is created lazily by its first request, which runs on the
    loop thread. After a fork the child builds a new async client from the same
    ``factory`` on first use, and the parent's stays untouched.

    A binding that is garbage-collected without :meth:`close` has its client
    closed in the background on the loop; one still open at exit is closed by
    the exit hook.
    """

    __slots__ = ("__weakref__", "_factory", "_slot")

    def __init__(self, factory: Callable[[], C]) -> None:
        self._factory = factory
        self._slot = _Slot(factory())
        _state.slots.add(self._slot)
        finalizer = weakref.finalize(self, _release, self._slot)
        finalizer.atexit = False  # at exit, _shutdown closes what is open, on the loop

    def client(self) -> C:
        """The async client for this process."""
        slot = self._slot
        if slot.pid != os.getpid():
            self._rebind(slot)
        return slot.client

    def _rebind(self, slot: _Slot[C]) -> None:
        with _state.lock:
            if slot.pid == os.getpid():
                return
            # The parent's client stays in _inherited (see _after_fork_in_child). A closed
            # client stays closed: its transport refuses calls without touching a socket.
            if not slot.closed:
                slot.client = self._factory()
                _state.slots.add(slot)
            slot.pid = os.getpid()

    def close(self) -> None:
        """Close the async client on the loop (once; later calls do nothing)."""
        slot = self._slot
        if slot.closed:
            return
        slot.closed = True
        _state.slots.discard(slot)
        if slot.pid == os.getpid():
            run(slot.client.aclose())


def _release(slot: _Slot[Any]) -> None:
    """A binding was garbage-collected: close its client in the background.

    Never blocks (the collector may run on any thread, the loop thread
    included). Late in interpreter shutdown module globals may already be
    ``None``; by then the exit hook has closed every open client anyway.
    """
    try:
        if slot.closed or slot.pid != os.getpid():
            return
        slot.closed = True
        loop = _state.loop
        if loop is None:  # never used: no session was ever created
            _state.slots.discard(slot)
        elif not _state.closed:
            loop.call_soon_threadsafe(_close_in_background, slot)
    except Exception:  # a finalizer must not raise
        pass


def _close_in_background(slot: _Slot[Any]) -> None:
    task = asyncio.get_running_loop().create_task(_aclose_quietly(slot.client))
    _state.closing.add(task)

    def done(task: asyncio.Task[None]) -> None:
        _state.closing.discard(task)
        _state.slots.discard(slot)  # only now may the session be freed

    task.add_done_callback(done)


async def _aclose_quietly(client: _AsyncClosable) -> None:
    try:
        await client.aclose()
    except Exception:
        log.debug("pulse_sync: closing %s failed", type(client).__name__, exc_info=True)


# --- interpreter exit -------------------------------------------------------------------------

_exit_hook_registered = False


def _register_exit_hook() -> None:
    # Registered on first start rather than at import, so that an atexit hook the
    # user registered after importing pulse_sync (and which may use a client) still
    # runs before ours: atexit runs hooks last in, first out.
    global _exit_hook_registered
    if not _exit_hook_registered:
        _exit_hook_registered = True
        atexit.register(_shutdown)


def _shutdown() -> None:
    """At exit: close open clients, cancel leftovers, stop and close the loop, all bounded."""
    state = _state
    with state.lock:
        loop, thread = state.loop, state.thread
        state.closed = True
        state.loop = None
    if loop is None or thread is None or not thread.is_alive():
        return
    clients: list[_AsyncClosable] = []
    for slot in list(state.slots):
        if not slot.closed and slot.pid == os.getpid():
            slot.closed = True
            clients.append(slot.client)
    limiters = [*_limiters, *_strong_limiters]
    finish = asyncio.run_coroutine_threadsafe(_finish(clients, limiters), loop)
    try:
        finish.result(timeout=_EXIT_CLOSE_TIMEOUT)
    except BaseException:  # a hang guard: never block the interpreter's exit
        finish.cancel()
        log.debug("pulse_sync: closing clients at exit did not finish", exc_info=True)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(_EXIT_JOIN_TIMEOUT)
    if not thread.is_alive():
        with warnings.catch_warnings():
            # uvloop warns of each transport still open (one the user left on our loop) while
            # it closes its handles; under ``-W error`` the warning became an exception inside
            # that walk, the handle stayed open, and close() waited on it forever. Shown, the
            # warning still reports the leak, and the interpreter exits.
            warnings.simplefilter("default", ResourceWarning)
            loop.close()


async def _finish(clients: list[_AsyncClosable], limiters: list[_AsyncClosable]) -> None:
    if clients:
        await asyncio.gather(*(_aclose_quietly(c) for c in clients))
    if limiters:  # after the clients, whose last calls may still have used them
        await asyncio.gather(*(_aclose_quietly(limiter) for limiter in limiters))
    current = asyncio.current_task()
    rest = [t for t in asyncio.all_tasks() if t is not current]
    for task in rest:
        if task not in _state.closing:
            task.cancel()
    if rest:
        await asyncio.gather(*rest, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


# --- fork ---------------------------------------------------------------------------------------


def _after_fork_in_child() -> None:
    """In a forked child: forget the parent's loop thread (it does not exist here)."""
    global _state
    old = _state
    inherited: list[object] = [old.loop, *old.closing]
    inherited.extend(slot.client for slot in old.slots)
    new = _LoopThread()  # Binding._rebind gives each binding a fresh client on first use
    # The parent's atexit hook, if any, was inherited with _exit_hook_registered and
    # reads _state when it runs, so it shuts down the child's loop, not the parent's.
    _state = new
    if old.loop is not None:
        _inherited.append(inherited)
        _keep_forever(inherited)


def _keep_forever(obj: object) -> None:
    # Interpreter shutdown frees module globals; freeing the parent's loop or
    # aiohttp connector would close "their" sockets, which unregisters them from
    # the epoll instance the child shares with the parent, and the parent would
    # wait forever on those connections. One extra reference that nothing
    # releases keeps them alive to the end (CPython; elsewhere, best effort).
    with contextlib.suppress(Exception):
        import ctypes  # only needed in a forked child

        ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


os.register_at_fork(after_in_child=_after_fork_in_child)
