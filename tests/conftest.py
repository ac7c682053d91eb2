"""Shared test set-up: a private PyTensor compile cache and small network factories."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# PyTensor compiles C code on first use; give the test session its own cache directory so that
# parallel workers and a clean CI machine never fight over (or depend on) ~/.pytensor.
os.environ.setdefault(
    "PYTENSOR_FLAGS", f"compiledir={os.path.join(tempfile.gettempdir(), 'forecast-pytensor')}"
)
# pytest-xdist already runs one worker per core: numba's kernels run on one thread each, so two
# workers never fight over the cores (threads waiting for each other in a parallel region).
os.environ.setdefault("NUMBA_NUM_THREADS", "1")


SEED_ARTICLE = Path(__file__).resolve().parents[2] / "shared/seed/view-from-pakistan-2015.txt"
"""The source article: beside the repository (not in it: we cite it, we do not republish it)."""


def seed_article() -> str:
    """Text of the seed article; skips locally without it, but fails under CI, which has it."""
    if not SEED_ARTICLE.exists():
        message = f"the seed article is not at {SEED_ARTICLE}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI runs with shared/ beside the clone)")
        pytest.skip(message)
    return SEED_ARTICLE.read_text(encoding="utf-8")
