"""Many threads share one sync client."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sync_helpers import HANG_GUARD

from pulse_async.testing import ServerThread
from pulse_sync import Pulse, Pulsewave
from pulse_sync import _loop as loop_mod

THREADS = 16
CALLS = 200


def test_sixteen_threads_share_one_client(pulse: Pulse, pulsewave: Pulsewave) -> None:
    receipt = pulse.messages.send(to=["admin@example.com"], subject="shared", body="hi")
    before = pulse.stats.attempts
    start = threading.Barrier(THREADS)

    def work(n: int) -> int:
        start.wait(HANG_GUARD)
        ok = 0
        for i in range(CALLS):
            if (n + i) % 2:
                ok += pulse.messages.retrieve(receipt.message_id).id == receipt.message_id
            else:
                ok += len(pulse.users.list(limit=1).fetch_page().data) == 1
        return ok

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(work, range(THREADS), timeout=HANG_GUARD))
    assert results == [CALLS] * THREADS
    assert pulse.stats.attempts - before == THREADS * CALLS
    assert pulse.stats.retries == 0
    assert [t for t in threading.enumerate() if t.name == loop_mod.THREAD_NAME] == [
        loop_mod.loop_thread()
    ]


def test_threads_creating_clients_and_iterating_pages(server: ServerThread) -> None:
    def work(_: int) -> int:
        with Pulse(server.admin_key, base_url=server.url) as pulse:
            return sum(1 for _ in pulse.users.list(limit=1))

    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(work, range(8), timeout=HANG_GUARD))
    assert len(set(counts)) == 1
    assert counts[0] >= 3
