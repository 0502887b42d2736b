"""The call path past saturation: a stateful simulation over random workloads and faults.

A hypothesis state machine drives a real ``AsyncPulse`` (limiter, pauses, retry budget,
backoff, deadlines) against a :class:`SimServer` in virtual time. Rules start calls
(sends and deletes, each with its own random per-call ``Timeout``), cancel them, change
the fault mix and let time pass; after every step the invariants below must hold.
"""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from sim_helpers import (
    EPSILON,
    SIM_SETTINGS,
    check_keys,
    check_no_request_within_a_pause,
    check_window,
    sim_client,
)
from sim_loop import VirtualTimeLoop
from sim_server import FAULTS, SimServer

from pulse_async import AsyncPulse, PulseError, Timeout

fault_mixes = st.dictionaries(
    st.sampled_from(FAULTS), st.floats(0.05, 1.0), min_size=1, max_size=len(FAULTS)
).map(lambda mix: {"ok": 1.0, **mix})

timeouts = st.builds(
    Timeout,
    connect=st.sampled_from([0.05, 1.0, 5.0]),
    read=st.sampled_from([0.05, 0.5, 3.0, 30.0]),
    total=st.sampled_from([0.2, 1.0, 4.0, 20.0, 60.0]),
)


@attrs.define
class Call:
    tag: str
    kind: str
    started: float
    deadline: float
    task: asyncio.Task[Any]
    finished: float | None = None
    outcome: object = None
    cancelled: bool = False


class CallPath(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = VirtualTimeLoop()
        self.calls: list[Call] = []
        self.serial = 0
        self.server: SimServer
        self.pulse: AsyncPulse
        self.per_minute: int | None = None

    @initialize(
        seed=st.integers(0, 2**16),
        faults=fault_mixes,
        latency=st.sampled_from([(0.0, 0.0), (0.001, 0.05), (0.01, 2.0)]),
        rate_limit=st.sampled_from([None, None, 120, 1200]),
        max_retries=st.integers(0, 4),
    )
    def start(
        self,
        seed: int,
        faults: dict[str, float],
        latency: tuple[float, float],
        rate_limit: int | None,
        max_retries: int,
    ) -> None:
        self.server = SimServer(
            seed=seed,
            faults=faults,
            latency=latency,
            users=[f"usr_{n}" for n in range(10_000)],
        )
        self.per_minute = rate_limit

        async def make() -> AsyncPulse:
            return sim_client(
                self.server, seed=seed, rate_limit=rate_limit, max_retries=max_retries
            )

        self.pulse = self.loop.run_until_complete(make())

    # --- rules ----------------------------------------------------------------------------

    @rule(count=st.integers(1, 12), kind=st.sampled_from(["send", "delete"]), timeout=timeouts)
    def start_calls(self, count: int, kind: str, timeout: Timeout) -> None:
        client = self.pulse.with_options(timeout=timeout)
        for _ in range(count):
            self.serial += 1
            tag = f"call-{self.serial}"
            if kind == "send":
                coro = client.messages.send(to=["a@example.com"], subject=tag, body="b")
            else:
                tag = f"delete:usr_{self.serial}"
                coro = client.users.delete(f"usr_{self.serial}")
            now = self.loop.time()
            call = Call(tag, kind, now, now + timeout.total, self.loop.create_task(coro))
            call.task.add_done_callback(lambda task, call=call: self._finished(call, task))
            self.calls.append(call)

    def _finished(self, call: Call, task: asyncio.Task[Any]) -> None:
        call.finished = self.loop.time()
        if task.cancelled():
            call.cancelled = True
        else:
            call.outcome = task.exception() or task.result()

    @precondition(lambda self: any(c.finished is None for c in self.calls))
    @rule(data=st.data())
    def cancel_one(self, data: st.DataObject) -> None:
        running = [c for c in self.calls if c.finished is None]
        data.draw(st.sampled_from(running)).task.cancel()

    @rule(faults=fault_mixes)
    def change_faults(self, faults: dict[str, float]) -> None:
        self.server.faults = faults

    @rule(seconds=st.sampled_from([0.0, 0.01, 0.3, 1.0, 5.0, 30.0]))
    def wait(self, seconds: float) -> None:
        self.loop.run_until_complete(asyncio.sleep(seconds))

    # --- invariants -----------------------------------------------------------------------

    @invariant()
    def no_call_outlives_its_deadline(self) -> None:
        for call in self.calls:
            if call.finished is not None and not call.cancelled:
                assert call.finished <= call.deadline + EPSILON, (
                    f"{call.tag} ended {call.finished - call.deadline:.6f}s past its deadline"
                    f" with {call.outcome!r}"
                )
            elif call.finished is None:
                assert self.loop.time() <= call.deadline + EPSILON, f"{call.tag} is overdue"

    @invariant()
    def no_request_leaves_within_a_pause(self) -> None:
        check_no_request_within_a_pause(self.server.attempts, self.server.pauses)

    @invariant()
    def one_key_per_call(self) -> None:
        check_keys(self.server.attempts)

    @invariant()
    def the_ledger_holds_each_call_at_most_once(self) -> None:
        commits = self.server.commits
        for call in self.calls:
            assert commits[call.tag] <= 1, f"{call.tag} was done {commits[call.tag]} times"
            succeeded = call.finished is not None and not call.cancelled
            if succeeded and not isinstance(call.outcome, PulseError):
                assert commits[call.tag] == 1, f"{call.tag} succeeded; the server never did it"
            if not any(a.tag == call.tag for a in self.server.attempts):
                assert commits[call.tag] == 0, f"{call.tag} never reached the server"

    @invariant()
    def the_limiter_holds_its_rate(self) -> None:
        if self.per_minute is not None:
            check_window([a.sent_at for a in self.server.attempts], self.per_minute, 1)

    def teardown(self) -> None:
        try:
            if self.calls:
                # Every call ends by itself, by its deadline at the latest.
                longest = max(c.deadline for c in self.calls) - self.loop.time()
                self.loop.run_until_complete(asyncio.sleep(max(0.0, longest) + 1.0))
                assert all(c.finished is not None for c in self.calls)
                self.no_call_outlives_its_deadline()
            self.loop.run_until_complete(self.pulse.aclose())
        finally:
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.close()


CallPath.TestCase.settings = settings(SIM_SETTINGS, max_examples=50)
TestCallPath = CallPath.TestCase
