"""The retries run on tenacity's engine, loaded only when a call first needs a retry: a
process whose calls all succeed never imports it (DESIGN: the success path is the hot path)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from pulse_async import AsyncPulse
    from pulse_async.testing import PulseServer

    async def main() -> None:
        async with PulseServer() as server:
            async with AsyncPulse(
                server.admin_key, base_url=server.url, _sleep=lambda s: asyncio.sleep(0)
            ) as pulse:
                await pulse.users.create(email="ada@example.com", role="viewer")
                print("after success:", "tenacity" in sys.modules)
                server.faults.add("server_error", route="POST /v2/users", count=2)
                await pulse.users.create(email="grace@example.com", role="viewer")
                print("after retries:", "tenacity" in sys.modules, pulse.stats.retries)

    asyncio.run(main())
    """
)


def test_tenacity_is_loaded_by_the_first_retry_and_not_before() -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == ["after success: False", "after retries: True 2"]
