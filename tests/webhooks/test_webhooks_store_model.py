"""``MemoryStore`` against a model, step by step (hypothesis state machine, virtual time).

Invariants after every step: a handled id is never claimable again before its
ttl; an id is never claimed twice at once; the store never holds more than
``max_entries`` ids beyond the claims in progress.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pulse_async.webhooks import MemoryStore

IDS = st.sampled_from([f"evt_{i}" for i in range(8)])
TTL = 100.0
MAX = 5


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.store = MemoryStore(ttl=TTL, max_entries=MAX, clock=lambda: self.now)
        self.claims: dict[str, str] = {}  # id → token of the claim in progress
        self.handled: dict[str, float] = {}  # id → when it was completed

    @rule(webhook_id=IDS)
    def claim(self, webhook_id: str) -> None:
        claim = self.store.claim_now(webhook_id)
        if webhook_id in self.claims:
            assert claim.state == "in_progress"
        elif claim.state == "handled":
            assert webhook_id in self.handled
            assert self.now - self.handled[webhook_id] < TTL
        else:
            assert claim.state == "claimed"
            assert claim.token is not None
            # Claimable again only once forgotten: expired, or evicted by a full store.
            if webhook_id in self.handled and self.now - self.handled[webhook_id] < TTL:
                assert self.store.evicted_early > 0
            self.claims[webhook_id] = claim.token

    @precondition(lambda self: bool(self.claims))
    @rule(data=st.data(), succeed=st.booleans())
    def finish(self, data: st.DataObject, succeed: bool) -> None:
        webhook_id = data.draw(st.sampled_from(sorted(self.claims)))
        token = self.claims.pop(webhook_id)
        if succeed:
            self.store.complete_now(webhook_id, token)
            self.handled[webhook_id] = self.now
        else:
            self.store.release_now(webhook_id, token)

    @rule(seconds=st.floats(0, 150))
    def advance(self, seconds: float) -> None:
        self.now += seconds

    @invariant()
    def bounded(self) -> None:
        assert len(self.store) <= MAX + len(self.claims)

    @invariant()
    def claims_in_progress_are_never_lost(self) -> None:
        for webhook_id in self.claims:
            assert self.store.claim_now(webhook_id).state == "in_progress"


StoreMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestStoreMachine = StoreMachine.TestCase
