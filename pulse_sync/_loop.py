"""The one event-loop thread that runs every ``pulse_sync`` call of a process.

Why a thread of our own: the caller's thread may already run an event loop (a
Jupyter cell, an async web handler), where asyncio refuses to start a second
loop and patching the running one breaks other libraries. So a blocking call hands its
coroutine to a private loop running in a daemon thread named
``pulse-sync-loop`` and waits on a lock for the answer. The caller's thread
never runs, enters or patches an event loop.

Mechanics, all here and stdlib only (but for ``APITimeoutError``, loaded when raised):

- **Lazy start.** No thread at import; the first call starts it, under a lock.
- **The caller's context.** Each call's task runs in a copy of the calling
  thread's ``contextvars`` context, so what the caller set (an OpenTelemetry
  span, a request id in a logging context) is seen by the call.
- **One crossing per call.** :func:`run` queues one callback with
  ``call_soon_threadsafe`` (in the call's context, so nothing is copied twice)
  and blocks on a plain lock that the call's task releases as it ends: no
  thread or executor per call, no lock taken on the way in beyond the start-up
  check, no done callback (nor the loop iteration it would cost). A call given
  up before its task's first step is closed by that step, never cancelled
  there (a task cancelled before its first step runs no line of its coroutine,
  not even a ``finally``).
- **Bounded by the call's deadline.** The caller waits at most the call's own
  deadline plus :data:`HANDOFF_GRACE`, whatever the loop is doing; then the call
  is cancelled on the loop (never started, if the loop had not picked it up)
  and the caller gets ``APITimeoutError``.
- **No deadlock.** Called on the loop thread itself (from a callback such as
  ``on_retry``), :func:`run` raises :class:`LoopThreadError` at once instead of
  waiting for a loop that is busy waiting for it.
- **Ctrl-C.** Waiting on a lock is interruptible on the main thread. On
  ``KeyboardInterrupt`` the task is cancelled on the loop (aiohttp drops the
  connection of a request it did not finish), we wait for the cancellation to
  land (at most a grace period, if the loop is stuck), then re-raise in the caller.
- **BaseExceptions stay in their call.** ``SystemExit`` or ``KeyboardInterrupt``
  raised inside a coroutine is handed to the caller, never raised into the loop
  (asyncio would let it stop ``run_forever`` and with it the thread).
- **One owner per process.** :class:`_Owner` holds the loop, its thread, the
  open clients and the rate limiters to close at exit.
- **Fork.** ``os.register_at_fork``: just before a fork the loop thread (and
  the loop's executor threads) stop, so the process forks with one thread;
  calls in flight pause with the loop. After it, in the parent, a new thread
  runs the same loop. In the child a new, empty owner takes over: the first
  call there starts a fresh thread and loop. What the parent's owner holds (an
  epoll instance and sockets now shared with the parent) is kept alive,
  untouched, for the life of the child: closing or even freeing them would
  unregister the parent's sockets from the epoll instance both processes
  share.
- **Exit.** An ``atexit`` hook closes every client and rate limiter of this
  process's owner still open, cancels what is left, stops the loop and closes
  it, each step bounded by a timeout, so neither a hang nor an "Unclosed
  client session" / "Task was destroyed" warning comes out of interpreter
  shutdown.
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
import time
import warnings
import weakref
from _thread import allocate_lock as _allocate_lock
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
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
_EXECUTOR_PREFIX = "pulse-sync-executor"
#: How long a Ctrl-C waits for the cancelled call to unwind on the loop.
_CANCEL_GRACE = 2.0
#: How far past its own deadline a caller waits for the loop thread to answer.
HANDOFF_GRACE = 1.0
#: Longer waits are no bound at all (``Lock.acquire`` refuses timeouts past ``TIMEOUT_MAX``).
_MAX_WAIT = min(threading.TIMEOUT_MAX, 10 * 365 * 86400.0)
#: Hang guards for interpreter exit: closing clients, then stopping the thread.
_EXIT_CLOSE_TIMEOUT = 5.0
_EXIT_JOIN_TIMEOUT = 2.0
#: How long a fork waits for the loop thread to stop (a callback may be blocking it).
_FORK_PAUSE_TIMEOUT = 2.0
#: Millisecond polls for a stopped thread to leave the kernel's thread list.
_GONE_POLLS = 200
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


class _Call(Generic[T]):
    """One coroutine on its way through the loop, and the lock its caller waits on.

    The whole handoff is one ``call_soon_threadsafe`` (of :meth:`start`, run in
    the caller's context), one task and one lock, released by the task itself as
    it ends: no done callback, so no loop iteration after the answer.

    A task cancelled before its first step never runs a line of its coroutine
    (not even a ``finally``), so nothing may cancel one of ours that early: the
    caller gives up through :attr:`abandoned`, which the first step reads, and
    :meth:`cancel` cancels only a task already running. The only other
    canceller, the exit hook, runs after every task it finds has started (see
    :meth:`start`).
    """

    __slots__ = ("abandoned", "context", "coro", "done", "error", "result", "started", "task")

    def __init__(self, coro: Coroutine[Any, Any, T]) -> None:
        self.coro: Coroutine[Any, Any, T] | None = coro
        # The caller's context variables travel with the call (its current trace span,
        # so the call's span is the caller's child): a copy, so nothing set there leaks back.
        self.context = contextvars.copy_context()
        self.done = _allocate_lock()
        self.done.acquire()
        self.result: T | None = None
        self.error: BaseException | None = None
        self.task: asyncio.Task[None] | None = None
        #: Set by the caller's thread when it stops waiting (Ctrl-C, the deadline).
        self.abandoned = False
        #: Set by the task's first step: from then on cancelling the task is safe.
        self.started = False

    def start(self, owner: _Owner, loop: asyncio.AbstractEventLoop) -> None:
        """On the loop: wrap the coroutine in a task, unless the call is over already.

        Refused once the exit hook has begun (:attr:`_Owner.closed` is set before
        it queues its work, so every task it will cancel was created, and its
        first step queued, before its own).
        """
        if self.abandoned or owner.closed:
            self._close_unstarted()
            self.done.release()
            return
        self.task = loop.create_task(self._drive(), context=self.context)

    async def _drive(self) -> None:
        self.started = True
        coro, self.coro = self.coro, None
        assert coro is not None
        if self.abandoned:  # given up between start and this first step
            coro.close()
            self.error = asyncio.CancelledError()
            self.done.release()
            return
        try:
            self.result = await coro
        except BaseException as exc:
            # Everything goes to the caller, CancelledError, SystemExit and
            # KeyboardInterrupt included: nothing may escape into the loop.
            self.error = exc
        finally:
            self.done.release()

    def _close_unstarted(self) -> None:
        coro, self.coro = self.coro, None
        if coro is not None:
            coro.close()  # never started: closing it is all it needs (and no warning)
            self.error = asyncio.CancelledError()

    def cancel(self) -> None:
        """On the loop: cancel a running task (before its first step, ``abandoned`` does)."""
        if self.started and self.task is not None:
            self.task.cancel()

    def abandon(self, loop: asyncio.AbstractEventLoop) -> bool:
        """In the caller's thread: stop waiting; ``True`` if the call had finished anyway."""
        self.abandoned = True
        if self.done.acquire(blocking=False):
            return True
        with contextlib.suppress(RuntimeError):  # the loop was closed at interpreter exit
            loop.call_soon_threadsafe(self.cancel)
        return False


class _Owner:
    """Everything ``pulse_sync`` holds in one process: the loop, its thread, what to close.

    One owner per process (:data:`_owner`). A forked child gets a new, empty
    owner; the parent's owner is kept in the child's :attr:`inherited`, where
    nothing uses, closes or frees it (see the module docstring).
    """

    def __init__(self, inherited: list[_Owner] | None = None) -> None:
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
        #: Rate limiters of this process's clients. Their connections live on the loop
        #: thread, where a blocking caller cannot ``await limiter.aclose()``, and a limiter
        #: may be shared, so closing a client leaves it open: the exit hook closes them,
        #: after the clients. Weak: a limiter nobody holds is not kept alive for the hook.
        self.limiters: weakref.WeakSet[Any] = weakref.WeakSet()
        self.strong_limiters: list[_AsyncClosable] = []
        #: The owners of the processes this one was forked from, and all they hold.
        self.inherited: list[_Owner] = inherited or []
        #: A fork is under way: the thread stops at its next turn and a new one resumes.
        self.pausing = False
        self.paused = False
        self.executor: ThreadPoolExecutor | None = None
        #: In a forked child, the parent's async clients as they were at the fork (a
        #: binding's slot gets the child's own client on first use).
        self.clients_at_fork: list[_AsyncClosable] = []

    def start(self) -> asyncio.AbstractEventLoop:
        with self.lock:
            if self.loop is not None:
                return self.loop
            if self.closed:
                raise RuntimeError("pulse_sync's loop thread has shut down (interpreter exit)")
            loop = _new_loop()
            loop.set_default_executor(self._new_executor())
            ready = threading.Event()
            loop.call_soon(ready.set)
            self._spawn(loop)
            ready.wait()
            self.loop = loop
            _register_exit_hook()
            return loop

    def _new_executor(self) -> ThreadPoolExecutor:
        # The loop's default executor, ours and named, so that a fork can stop its threads
        # (asyncio resolves host names on it; uvloop on libuv's own threads instead).
        self.executor = ThreadPoolExecutor(thread_name_prefix=_EXECUTOR_PREFIX)
        return self.executor

    def _spawn(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start a thread that runs ``loop`` (under :attr:`lock`)."""
        thread = threading.Thread(target=self._serve, args=(loop,), name=THREAD_NAME, daemon=True)
        thread.start()
        self.thread = thread
        self.ident = thread.ident

    def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        while True:
            try:
                loop.run_forever()
            except BaseException:
                # A callback outside our calls raised SystemExit or KeyboardInterrupt
                # (asyncio re-raises those out of run_forever). The loop must go on.
                log.exception("pulse_sync loop thread: unexpected exception; continuing")
                continue
            with self.lock:
                if self.closed:  # interpreter exit: _shutdown closes the loop
                    return
                if self.pausing:  # a fork: after it, a new thread runs the same loop
                    self.paused = True
                    return
            # A stop meant for a fork that was over before it landed: go on.

    def close_at_exit(self, limiter: _AsyncClosable) -> None:
        try:
            self.limiters.add(limiter)
        except TypeError:  # not weak-referenceable (``__slots__``): held to the end
            if limiter not in self.strong_limiters:
                self.strong_limiters.append(limiter)

    # --- fork -----------------------------------------------------------------------------

    def pause_for_fork(self) -> None:
        """Before ``fork``: stop the loop thread, so the process forks with one thread.

        Calls in flight are neither waited for nor refused: their tasks stay on
        the loop, frozen for the instant of the fork, and go on when the loop
        thread resumes in the parent. Called on the loop thread itself (a
        callback that forks), or if the thread does not stop within
        :data:`_FORK_PAUSE_TIMEOUT` (a callback blocking the loop), the fork
        goes ahead with the thread running, as it did before.
        """
        with self.lock:
            loop, thread = self.loop, self.thread
            if loop is None or thread is None or self.closed or self.pausing:
                return
            if threading.get_ident() == self.ident:
                return
            self.pausing = True
        try:
            loop.call_soon_threadsafe(self._stop_for_fork, loop)
        except RuntimeError:  # closed under our feet at exit
            return
        give_up = time.monotonic() + _FORK_PAUSE_TIMEOUT
        thread.join(_FORK_PAUSE_TIMEOUT)
        if thread.is_alive():
            return
        # The loop's executor threads (DNS lookups in asyncio's getaddrinfo) go too: the
        # lookups in flight finish first (within the same bound), and a new executor takes
        # over after the fork.
        workers = [t for t in threading.enumerate() if t.name.startswith(_EXECUTOR_PREFIX)]
        if self.executor is not None:
            self.executor.shutdown(wait=False)
        for worker in workers:
            worker.join(max(0.0, give_up - time.monotonic()))
        for stopped in [thread, *workers]:
            if not stopped.is_alive():
                _wait_until_gone(stopped)

    def _stop_for_fork(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.pausing:
            loop.stop()

    def resume_after_fork(self) -> None:
        """After ``fork``, in the parent: run the same loop (and its calls) in a new thread."""
        with self.lock:
            if not self.pausing:
                return
            self.pausing = False
            if self.paused and self.loop is not None and not self.closed:
                self.paused = False
                self.loop.set_default_executor(self._new_executor())
                self._spawn(self.loop)


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


_owner = _Owner()
#: This process's id, kept by the fork hook: the sync clients' hot path compares with it
#: instead of asking the kernel (``os.getpid`` is a system call) on every call.
pid = os.getpid()


def run(coro: Coroutine[Any, Any, T], *, within: float | None = None) -> T:
    """Run ``coro`` on the loop thread and block until it ends; its result or its exception.

    The exception is the coroutine's own (same class, same object), so its
    traceback shows the caller's line and, below it, where it happened.

    ``within`` is the call's own deadline in seconds (its total timeout): the
    caller waits at most that plus :data:`HANDOFF_GRACE`, whatever the loop
    thread is doing, then cancels the coroutine on the loop and raises
    ``APITimeoutError``. ``None`` (a batch or a listing: many calls, each
    bounded by its own deadline) waits for the end.
    """
    state = _owner
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
    bound = _bound(within)
    call = _Call(coro)
    try:
        # In the call's own context: the handle does not copy the caller's once more.
        loop.call_soon_threadsafe(call.start, state, loop, context=call.context)
    except RuntimeError:  # the loop was closed at interpreter exit
        coro.close()
        raise RuntimeError("pulse_sync's loop thread has shut down (interpreter exit)") from None
    try:
        finished = call.done.acquire(timeout=bound)
    except BaseException:
        # Ctrl-C (or another asynchronous exception) while waiting: abandon the call
        # for real, on the loop, wait a moment for the cancellation to land (the lock is
        # released however early the call is given up: before its start, before its first
        # step, or while it runs), then let the exception through.
        if not call.abandon(loop):
            call.done.acquire(timeout=_CANCEL_GRACE)
        raise
    if not finished and not call.abandon(loop):
        from pulse_async.errors import APITimeoutError  # loaded with every client anyway

        raise APITimeoutError(
            f"the call did not finish within its deadline ({within:g}s) and a grace of"
            f" {HANDOFF_GRACE:g}s; it was cancelled on pulse_sync's loop thread"
        )
    error = call.error
    if error is not None:
        call.error = None  # break the cycle call → error → traceback → frame → call
        raise error
    return call.result  # type: ignore[return-value]  # set whenever error is None


def _bound(within: float | None) -> float:
    """How long the caller waits: ``-1`` (no bound) unless ``within`` is a usable number.

    A value the coroutine will refuse (a bad ``timeout=``) is no bound here: the
    coroutine raises its own typed error at once.
    """
    try:
        seconds = float(within) + HANDOFF_GRACE  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return -1
    return seconds if 0 < seconds < _MAX_WAIT else -1


def loop_thread() -> threading.Thread | None:
    """The loop thread of this process, or ``None`` before the first call."""
    return _owner.thread


def uses_uvloop() -> bool:
    """Whether this process's loop thread runs uvloop (``False`` before the first call)."""
    loop = _owner.loop
    return loop is not None and type(loop).__module__.startswith("uvloop")


class _AsyncClient(_AsyncClosable, Protocol):
    @property
    def rate_limiter(self) -> Any: ...


C = TypeVar("C", bound=_AsyncClient)


class _Slot(Generic[C]):
    """An async client and the process it belongs to; what the owner holds."""

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

    Each async client's rate limiter is handed to the owner of the process that
    built the client, whose exit hook closes it: a child never closes a limiter
    it has not used.

    A binding that is garbage-collected without :meth:`close` has its client
    closed in the background on the loop; one still open at exit is closed by
    the exit hook.
    """

    __slots__ = ("__weakref__", "_factory", "_slot")

    def __init__(self, factory: Callable[[], C]) -> None:
        self._factory = factory
        self._slot = _Slot(self._build())
        _owner.slots.add(self._slot)
        finalizer = weakref.finalize(self, _release, self._slot)
        finalizer.atexit = False  # at exit, _shutdown closes what is open, on the loop

    def _build(self) -> C:
        client = self._factory()
        if (limiter := client.rate_limiter) is not None:
            _owner.close_at_exit(limiter)
        return client

    def client(self) -> C:
        """The async client for this process."""
        slot = self._slot
        if slot.pid != os.getpid():
            self._rebind(slot)
        return slot.client

    def _rebind(self, slot: _Slot[C]) -> None:
        owner = _owner
        with owner.lock:
            if slot.pid == os.getpid():
                return
            # The parent's client stays with the parent's owner, inherited. A closed
            # client stays closed: its transport refuses calls without touching a socket.
            if not slot.closed:
                slot.client = self._build()
                owner.slots.add(slot)
            slot.pid = os.getpid()

    def close(self) -> None:
        """Close the async client on the loop (once; later calls do nothing)."""
        slot = self._slot
        if slot.closed:
            return
        slot.closed = True
        _owner.slots.discard(slot)
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
        owner = _owner
        loop = owner.loop
        if loop is None:  # never used: no session was ever created
            owner.slots.discard(slot)
        elif not owner.closed:
            loop.call_soon_threadsafe(_close_in_background, owner, slot)
    except Exception:  # a finalizer must not raise
        pass


def _close_in_background(owner: _Owner, slot: _Slot[Any]) -> None:
    task = asyncio.get_running_loop().create_task(_aclose_quietly(slot.client))
    owner.closing.add(task)

    def done(task: asyncio.Task[None]) -> None:
        owner.closing.discard(task)
        owner.slots.discard(slot)  # only now may the session be freed

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
    # runs before ours: atexit runs hooks last in, first out. A forked child inherits
    # the registration; the hook reads _owner when it runs, so it shuts down the
    # child's own loop, and closes only what the child's owner holds.
    global _exit_hook_registered
    if not _exit_hook_registered:
        _exit_hook_registered = True
        atexit.register(_shutdown)


def _shutdown() -> None:
    """At exit: close open clients and limiters, cancel leftovers, stop and close the loop."""
    owner = _owner
    with owner.lock:
        loop, thread = owner.loop, owner.thread
        owner.closed = True
        owner.loop = None
    if loop is None or thread is None or not thread.is_alive():
        return
    clients: list[_AsyncClosable] = []
    for slot in list(owner.slots):
        if not slot.closed and slot.pid == os.getpid():
            slot.closed = True
            clients.append(slot.client)
    limiters = [*owner.limiters, *owner.strong_limiters]
    finish = asyncio.run_coroutine_threadsafe(_finish(owner, clients, limiters), loop)
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


async def _finish(
    owner: _Owner, clients: list[_AsyncClosable], limiters: list[_AsyncClosable]
) -> None:
    if clients:
        await asyncio.gather(*(_aclose_quietly(c) for c in clients))
    if limiters:  # after the clients, whose last calls may still have used them
        await asyncio.gather(*(_aclose_quietly(limiter) for limiter in limiters))
    current = asyncio.current_task()
    rest = [t for t in asyncio.all_tasks() if t is not current]
    for task in rest:
        if task not in owner.closing:
            task.cancel()
    if rest:
        await asyncio.gather(*rest, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


# --- fork ---------------------------------------------------------------------------------------


def _wait_until_gone(thread: threading.Thread) -> None:
    """Wait, briefly, for a joined thread to leave the kernel's thread list (Linux).

    ``join`` returns when the thread's Python state is gone, a moment before
    the OS thread itself exits, and ``fork`` counts OS threads for its warning.
    """
    path = f"/proc/self/task/{thread.native_id}"
    for _ in range(_GONE_POLLS):
        if not os.path.exists(path):
            return
        time.sleep(0.001)


def _before_fork() -> None:
    _owner.pause_for_fork()


def _after_fork_in_parent() -> None:
    _owner.resume_after_fork()


def _after_fork_in_child() -> None:
    """In a forked child: a new owner; the parent's is kept, inherited, and never touched."""
    global _owner, pid
    pid = os.getpid()
    old = _owner
    old.clients_at_fork = [slot.client for slot in old.slots]
    # Binding._rebind gives each binding a fresh client on first use. The parent's owner
    # (its loop, clients and limiters) stays referenced from the child's for the child's
    # whole life: closing or freeing them while the child runs would close "their" sockets,
    # which unregisters them from the epoll instance the child shares with the parent, and
    # the parent would wait forever on those connections. At interpreter exit, module
    # teardown frees them late enough that nothing is closed on the way: a child's full
    # shutdown leaves the parent's connections working (test_sync_fork, both loops).
    _owner = _Owner(inherited=[*old.inherited, old] if old.loop is not None else old.inherited)


os.register_at_fork(
    before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
)
