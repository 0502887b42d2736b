"""The README's sync quickstart runs as written, and its listing shows the user it created."""

from __future__ import annotations

import re
from pathlib import Path

from sync_helpers import ROOT, child_env, run_script

from pulse_async.testing import ServerThread


def _quickstart() -> str:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    (block,) = [b for b in blocks if b.startswith("from pulse_sync import Pulse, Pulsewave")]
    return block


def test_the_sync_quickstart_shows_the_user_it_created(
    server: ServerThread, tmp_path: Path
) -> None:
    """Issue 18: the quickstart listed ``active`` users; the one it created is ``pending``."""
    result = run_script(_quickstart(), child_env(server), tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    status, *listed = result.stdout.splitlines()
    assert status == "delivered"
    assert listed[0] == "ada@example.com pending"
    assert len(listed) == 3
