"""Hang guards: the timeouts tests give subprocesses, children and notebooks.

A timeout in a test is there to turn a hang into a failure, never to check speed (benchmarks/
measures speed). Each guard is ten times what the guarded step typically takes, at least two
minutes, and ``$FORECAST_TEST_TIMEOUT_SCALE`` multiplies them all for a slow or loaded machine.
"""

from __future__ import annotations

import os

SCALE = float(os.environ.get("FORECAST_TEST_TIMEOUT_SCALE", "1") or 1)
"""Multiplies every guard (``FORECAST_TEST_TIMEOUT_SCALE``, default 1)."""


def hang_guard(typical: float) -> float:
    """Seconds to wait for a step that typically takes `typical` seconds before calling it hung.

    Parameters
    ----------
    typical : float
        The step's usual wall time on an idle 2-core machine.

    Returns
    -------
    float
        ``max(120, 10 * typical) * SCALE``.
    """
    return max(120.0, 10.0 * typical) * SCALE
