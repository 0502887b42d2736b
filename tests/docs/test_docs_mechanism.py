"""The docs-example runner itself: fragments, shared names, top-level await, the local server."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_docs_examples import _SYBIL


def _run(tmp_path: Path, text: str) -> dict[str, object]:
    page = tmp_path / "page.md"
    page.write_text(text)
    document = _SYBIL.parse(page)
    for example in document:
        example.evaluate()
    return document.namespace


def test_blocks_share_names_await_at_top_level_and_reach_the_local_server(tmp_path: Path) -> None:
    namespace = _run(
        tmp_path,
        "Intro.\n\n```python\nemails = ['ada@example.com']\n```\n\n"
        "```python\nuser = await pulse.users.create(email=emails[0], role='viewer')\n"
        "listed = [u.email async for u in pulse.users.list()]\n```\n\n"
        "```console\nthis is not python\n```\n\n"
        "<!-- fragment -->\n```python\nawait undefined_name.go(items)\n```\n",
    )
    assert namespace["emails"] == ["ada@example.com"]
    assert "ada@example.com" in namespace["listed"]  # type: ignore[operator]


def test_a_fragment_is_still_compiled(tmp_path: Path) -> None:
    with pytest.raises(SyntaxError):
        _run(tmp_path, "<!-- fragment -->\n```python\ndef broken(:\n```\n")


def test_a_failing_block_fails_with_its_line_in_the_page(tmp_path: Path) -> None:
    with pytest.raises(NameError) as caught:
        _run(tmp_path, "one\n\ntwo\n\n```python\nx = 1\nmissing_name\n```\n")
    frames = [f for f in caught.traceback if str(f.path).endswith("page.md")]
    assert frames
    assert frames[-1].lineno + 1 == 7  # pytest counts from 0


def test_the_marker_must_sit_right_before_the_fence(tmp_path: Path) -> None:
    with pytest.raises(NameError):
        _run(tmp_path, "<!-- fragment -->\n\nSome text.\n\n```python\nmissing_name\n```\n")
