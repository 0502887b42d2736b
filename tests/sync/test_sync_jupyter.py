"""A real Jupyter kernel: cells call the facade while the kernel's own event loop runs."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from sync_helpers import HANG_GUARD, ROOT

from pulse_async.testing import ServerThread

CELLS = [
    # The kernel runs cells from inside its running event loop: asyncio.run() would fail here.
    """
    import asyncio, os, sys, threading
    loop = asyncio.get_running_loop()
    print("kernel loop running:", loop.is_running())
    print("same interpreter:", sys.executable == os.environ["NB_PYTHON"])
    """,
    """
    import pulse_sync
    pulse = pulse_sync.Pulse(os.environ["NB_PULSE_KEY"], base_url=os.environ["NB_PULSE_URL"])
    user = pulse.users.create(email="jupyter@example.com", role="viewer")
    print("created:", user.email)
    """,
    """
    emails = [u.email for u in pulse.users.list(limit=2)]
    print("listed:", "jupyter@example.com" in emails)
    """,
    # Top-level await: the facade called from inside a coroutine the kernel awaits.
    """
    async def from_a_coroutine():
        return pulse.messages.send(to=[user.id], subject="hi", body="from a notebook")
    receipt = await from_a_coroutine()
    print("sent:", receipt.message_id.startswith("msg_"))
    """,
    """
    try:
        pulse.users.delete("usr_missing")
    except pulse_sync.NotFoundError as exc:
        print("error class:", type(exc).__name__)
    """,
    """
    print("loop thread:", [t.name for t in threading.enumerate() if t.name == "pulse-sync-loop"])
    pulse.close()
    """,
]
EXPECTED = [
    "kernel loop running: True\nsame interpreter: True\n",
    "created: jupyter@example.com\n",
    "listed: True\n",
    "sent: True\n",
    "error class: NotFoundError\n",
    "loop thread: ['pulse-sync-loop']\n",
]


@pytest.mark.slow
def test_notebook_uses_the_facade(
    server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Everything Jupyter writes (connection files, IPython profile) stays under tmp_path.
    for name in ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("NB_PULSE_KEY", server.admin_key)
    monkeypatch.setenv("NB_PULSE_URL", server.url)
    monkeypatch.setenv("NB_PYTHON", sys.executable)

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(c).strip()) for c in CELLS]
    # "python3" is ipykernel's own kernel: this interpreter, so the venv's packages.
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=HANG_GUARD,
        startup_timeout=HANG_GUARD,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()

    outputs = ["".join(o.get("text", "") for o in cell.outputs) for cell in nb.cells]
    errors = [o for cell in nb.cells for o in cell.outputs if o.output_type == "error"]
    assert errors == []
    assert outputs == EXPECTED
