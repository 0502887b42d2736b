"""Fixtures and the hypothesis profile of the hardening tests.

The profile is *registered* here and applied by decorating each property with
``FUZZ`` (see ``hardening_helpers``), never loaded globally: the rest of the
suite keeps hypothesis' defaults and its own ``@settings``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

#: 2,000 generated cases per pure property, as the hardening issue asks. ``PULSE_FUZZ_EXAMPLES``
#: raises it for a long local soak (e.g. 100000) without touching the code.
settings.register_profile(
    "pulse-hardening",
    max_examples=int(os.environ.get("PULSE_FUZZ_EXAMPLES", "2000")),
    deadline=None,
    database=None,  # no .hypothesis/ directory left in the checkout
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
