"""Every Python block of README.md and docs/*.md runs against a local Pulse server.

Sybil finds the ```` ```python ```` blocks; each one is a test, run in the
order of its page, with:

- a fresh :class:`~pulse_async.testing.PulseServer` (in a thread, half-second
  lifecycle steps), and ``PULSE_API_KEY`` / ``PULSE_BASE_URL`` pointing at it;
- ``server``, ``pulse`` (an ``AsyncPulse``) and ``pw`` (an ``AsyncPulsewave``)
  ready to use, closed after the block;
- top-level ``await`` / ``async with`` / ``async for`` allowed;
- the names a block defines kept for the later blocks of the same page.

A block preceded by ``<!-- fragment -->`` is compiled, not run (see
``docs/examples.md``).
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sybil import Example, Sybil
from sybil.parsers.markdown import CodeBlockParser

from pulse_async import AsyncPulse, AsyncPulsewave
from pulse_async.testing import PulseServer

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FRAGMENT = "<!-- fragment -->"
_ENV = ("PULSE_API_KEY", "PULSE_BASE_URL", "PULSEWAVE_BASE_URL")


def is_fragment(example: Example) -> bool:
    """Whether the line right before the block's fence is the fragment marker."""
    before = example.document.text[: example.start].rstrip("\n")
    return before.rsplit("\n", 1)[-1].strip() == FRAGMENT


def compile_block(example: Example) -> Any:
    """The block as code, with its line numbers as in the document."""
    source = "\n" * example.line + str(example.parsed)
    return compile(
        source, example.path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )


def evaluate(example: Example) -> None:
    """Run one block against a fresh local server (or only compile a fragment)."""
    code = compile_block(example)
    if is_fragment(example):
        return
    namespace = example.namespace
    saved = {name: os.environ.get(name) for name in _ENV}
    server = PulseServer(step_delay=0.5).start_in_thread()
    runner = asyncio.Runner()
    pulse = AsyncPulse(server.admin_key, base_url=server.url)
    pw = AsyncPulsewave(server.admin_key, base_url=server.url)
    try:
        os.environ.pop("PULSEWAVE_BASE_URL", None)
        os.environ["PULSE_API_KEY"] = server.admin_key
        os.environ["PULSE_BASE_URL"] = server.url
        namespace.update(server=server, pulse=pulse, pw=pw)
        result = eval(code, namespace)  # a block with top-level await gives a coroutine
        if inspect.iscoroutine(result):
            runner.run(result)
    finally:
        runner.run(pulse.aclose())
        runner.run(pw.aclose())
        runner.close()
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_SYBIL = Sybil(parsers=[CodeBlockParser(language="python", evaluator=evaluate)])


def _examples() -> Iterator[Any]:
    for path in DOCUMENTS:
        for example in _SYBIL.parse(path):
            yield pytest.param(example, id=f"{path.relative_to(ROOT)}:{example.line}")


@pytest.mark.parametrize("example", list(_examples()))
def test_documented_example(example: Example) -> None:
    example.evaluate()
