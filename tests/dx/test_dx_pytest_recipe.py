"""Issue 18, item 3: the README's pytest recipe works as written, in a fresh virtual environment.

The venv (built once per session by ``fresh_venv``) has only ``pulse-messaging[testing]``
installed from a wheel of this checkout. The ``In pytest`` block of the testing guide (which the
README links to) is written into an
empty project and run with plain ``pytest`` (no ``-p``, no conftest): in pytest-asyncio's
default strict mode, and in auto mode. On the old main this fails as the issue says
(``fixture 'pulse_server' not found`` without pytest-asyncio; ``async def functions are not
natively supported`` in strict mode without the marker).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from fresh_venv import ROOT, build, clean_env

HANG_GUARD = 300


@pytest.fixture(scope="session")
def fresh_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("fresh"))


def readme_blocks(language: str) -> list[str]:
    guide = (ROOT / "docs" / "guides" / "testing.md").read_text(encoding="utf-8")
    section = guide[guide.index("## In pytest\n") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def readme_recipe() -> str:
    (block,) = readme_blocks("python")
    return block


def readme_config(*, auto: bool) -> str:
    (block,) = readme_blocks("toml")
    if auto:
        block = block.replace("# asyncio_mode", "asyncio_mode")
    return block


def run_pytest(bin_dir: Path, project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "pytest"), "-q"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
        env=clean_env(),
    )


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["no-config", "strict", "auto"])
def test_the_readme_recipe_passes_with_plain_pytest(
    fresh_bin: Path, tmp_path: Path, mode: str
) -> None:
    (tmp_path / "test_welcome.py").write_text(readme_recipe(), encoding="utf-8")
    if mode != "no-config":
        (tmp_path / "pyproject.toml").write_text(readme_config(auto=mode == "auto"))
    done = run_pytest(fresh_bin, tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "2 passed" in output
    if mode == "no-config":
        # Only pytest-asyncio's own nudge about its unset option, which the README explains.
        assert "asyncio_default_fixture_loop_scope" in output
    else:
        assert "warning" not in output.lower(), output
    if mode == "auto":
        assert 'asyncio_mode = "auto"' in (tmp_path / "pyproject.toml").read_text()
    # The fresh venv really is fresh: the SDK comes from the wheel, not this checkout.
    where = subprocess.run(
        [str(fresh_bin / "python"), "-c", "import pulse_async; print(pulse_async.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=True,
        env=clean_env(),
    ).stdout
    assert str(ROOT) not in where
    assert "site-packages" in where


def test_the_testing_extra_brings_what_the_plugin_needs() -> None:
    import tomllib

    with (ROOT / "pyproject.toml").open("rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    names = {re.split(r"[<>=!~; \[]", r)[0] for r in extras["testing"]}
    assert names == {"pytest", "pytest-asyncio"}
