"""A local, stateful Pulse server for tests: both APIs on one port, with fault injection.

::

    from pulse_async.testing import PulseServer

    async with PulseServer() as server:       # http://127.0.0.1:<free port>
        server.v2_url, server.v1_url, server.admin_key
        server.faults.add("reset_after_commit", route="POST /v2/messages", count=1)
        ...
        assert len(server.ledger.of_kind("message.created")) == 1

From synchronous code, ``PulseServer().start_in_thread()``; from a shell,
``python -m pulse_async.testing --port 8080``; in pytest, the fixtures
``pulse_server``, ``pulse_server_thread``, ``pulse_client`` and
``pulsewave_client`` (loaded automatically).

This package is imported by the pytest plugin in every test run, so it
loads its modules (and aiohttp) only when a name is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pulse_async.testing._clock import Clock
    from pulse_async.testing._delivery import Delivery, WebhookFaults, WebhookSender
    from pulse_async.testing._faults import FAULT_KINDS, FaultRule, Faults
    from pulse_async.testing._ledger import Ledger, LedgerEntry, Stats
    from pulse_async.testing._records import Template
    from pulse_async.testing._server import PulseServer, ServerThread
    from pulse_async.testing._webhooks import EventRecord

__all__ = [
    "FAULT_KINDS",
    "Clock",
    "Delivery",
    "EventRecord",
    "FaultRule",
    "Faults",
    "Ledger",
    "LedgerEntry",
    "PulseServer",
    "ServerThread",
    "Stats",
    "Template",
    "WebhookFaults",
    "WebhookSender",
]

_HOMES = {
    "Clock": "_clock",
    "FAULT_KINDS": "_faults",
    "FaultRule": "_faults",
    "Faults": "_faults",
    "Delivery": "_delivery",
    "EventRecord": "_webhooks",
    "Ledger": "_ledger",
    "LedgerEntry": "_ledger",
    "PulseServer": "_server",
    "ServerThread": "_server",
    "Stats": "_ledger",
    "Template": "_records",
    "WebhookFaults": "_delivery",
    "WebhookSender": "_delivery",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
