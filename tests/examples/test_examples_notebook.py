"""The example notebook, executed cell by cell in a real Jupyter kernel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from pulse_async.testing import PulseServer, ServerThread

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with PulseServer().start_in_thread() as handle:
        yield handle


def test_example_notebook_runs_against_the_local_server(
    server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("PULSE_API_KEY", server.admin_key)
    monkeypatch.setenv("PULSE_BASE_URL", server.url)
    # Run it twice, each time in a fresh kernel, as "Restart & Run All" does: the second run
    # finds the team again and replays the batch, so it prints the same and sends nothing.
    printed = [_run(tmp_path) for _ in range(2)]
    assert printed[0] == printed[1]
    assert "queued 5, failed 0" in printed[0]
    assert "{'delivered': 5}" in printed[0]
    assert len(server.ledger.of_kind("message.created")) == 5
    assert len(server.ledger.of_kind("user.created")) == 5


def _run(tmp_path: Path) -> str:
    """Execute the notebook in a new kernel; what its cells printed (stdout)."""
    notebook = nbformat.read(ROOT / "examples" / "notebook.ipynb", as_version=4)
    NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=120,
        startup_timeout=120,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert [o for o in outputs if o.output_type == "error"] == []
    stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    # progress=True: a clean text bar (no ipywidgets here), not a TqdmWarning.
    assert "Warning" not in stderr
    assert "sending: 5msg" in stderr
    return "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
