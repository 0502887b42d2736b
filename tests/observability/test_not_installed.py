"""Without OpenTelemetry installed, nothing of it is imported and every feature still works.

The child process runs on a copy of this environment's ``site-packages`` that
lacks every ``opentelemetry*`` entry (symlinks to the rest), with ``-S`` so
no ``.pth`` file adds the real one back: OpenTelemetry is genuinely absent.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pulse_async

REPO = Path(pulse_async.__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import asyncio, importlib.util, sys
    assert importlib.util.find_spec("opentelemetry") is None, "opentelemetry is importable"

    from pulse_async import AsyncPulse
    from pulse_async import _instrument
    from pulse_async.testing import PulseServer

    async def main() -> None:
        async with PulseServer() as server:
            async with AsyncPulse(server.admin_key, base_url=server.v2_url) as pulse:
                await pulse.messages.send(to=["ada@example.com"], subject="Hi", body="x")
                raw = await pulse.with_raw_response.threads.list().fetch_page()
                assert raw.status == 200 and raw.attempts == 1

    asyncio.run(main())
    loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
    assert loaded == [], loaded
    assert "pulse_async._otel" not in sys.modules
    assert _instrument._telemetry is None  # looked for once, found absent
    print("ok")
    """
)


def _site_without_opentelemetry(tmp_path: Path) -> Path:
    (packages,) = [p for p in site.getsitepackages() if Path(p, "aiohttp").exists()]
    farm = tmp_path / "site-packages"
    farm.mkdir()
    for entry in Path(packages).iterdir():
        if not entry.name.startswith("opentelemetry"):
            (farm / entry.name).symlink_to(entry)
    return farm


def test_nothing_is_imported_without_opentelemetry(tmp_path: Path) -> None:
    farm = _site_without_opentelemetry(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE", "OTEL"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(farm)])
    result = subprocess.run(
        [sys.executable, "-S", "-W", "error", "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
