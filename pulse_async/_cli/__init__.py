"""The ``pulse`` command: the SDK from a shell, and a one-minute demo on a local server.

``pulse demo`` · ``pulse serve`` · ``pulse users|messages|threads|pulsewave …``;
``pulse --help`` for the tree. The key comes only from ``$PULSE_API_KEY``.
"""

from pulse_async._cli._app import main

__all__ = ["main"]
