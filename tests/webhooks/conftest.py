"""Fixtures of the webhook tests; the Redis helpers are shared with ``tests/redis``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "redis"))
