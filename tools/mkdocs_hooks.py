"""mkdocs hooks: show our docstrings' reST cross-reference roles as plain code.

The docstrings use Sphinx roles (``:class:`~pulse_async.AsyncPulse```) and
``::`` before literal blocks; mkdocstrings renders them as Markdown, which
leaves ``:class:`` and ``::`` in the text. This drops the role names (and a
leading ``~``) and turns a paragraph-ending ``::`` into ``:``.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|meth|func|mod|attr|data|exc|obj|const):<code>~?")
_LITERAL = re.compile(r"\s*::</p>")


def on_page_content(html: str, **_kwargs: Any) -> str:
    """Clean the rendered page."""
    return _LITERAL.sub(":</p>", _ROLE.sub("<code>", html))
