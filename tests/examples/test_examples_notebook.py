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
    notebook = nbformat.read(ROOT / "examples" / "notebook.ipynb", as_version=4)
    NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=120,
        startup_timeout=120,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()

    errors = [
        o
        for cell in notebook.cells
        if cell.cell_type == "code"
        for o in cell.outputs
        if o.output_type == "error"
    ]
    assert errors == []
    printed = "".join(
        o.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for o in cell.outputs
    )
    assert "queued 5, failed 0" in printed
    assert "{'delivered': 5}" in printed
    assert len(server.ledger.of_kind("message.created")) == 5
    assert len(server.ledger.of_kind("user.created")) == 5
