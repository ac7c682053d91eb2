"""Shared test set-up: a private PyTensor compile cache and the inputs many modules share.

The models, the flagship ledger and the flagship forecast are session fixtures: loaded (and the
forecast computed) once per session, or once per xdist worker, rather than once per module.
They are shared between modules, so a test must not mutate them (copy a frame before changing
it).
"""

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


ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "models" / "isis_pakistan_2015.yaml"
"""The flagship model (the seed article's scenarios)."""
FLAGSHIP_LEDGER = ROOT / "data" / "isis_pakistan_ledger.csv"
"""The flagship model's evidence ledger."""
SMALL = ROOT / "models" / "afghan_caliphate.yaml"
"""The small example model of the README."""
FLAGSHIP_AS_OF = "2016-06-30"
"""The as-of date of :func:`flagship_forecast`."""


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


@pytest.fixture(scope="session")
def flagship_spec():
    """The flagship model, loaded once."""
    from forecast.model.load import load_spec

    return load_spec(FLAGSHIP)


@pytest.fixture(scope="session")
def flagship_ledger(flagship_spec):
    """The flagship ledger, validated against the flagship model (do not mutate it)."""
    from forecast.evidence.ledger import load_ledger

    return load_ledger(FLAGSHIP_LEDGER, flagship_spec)


@pytest.fixture(scope="session")
def small_spec():
    """The small example model, loaded once."""
    from forecast.model.load import load_spec

    return load_spec(SMALL)


@pytest.fixture(scope="session")
def flagship_forecast(flagship_spec, flagship_ledger):
    """The flagship forecast from the ledger as of mid-2016 (importance sampling, seed 1)."""
    from forecast.evidence.ledger import case_as_of
    from forecast.inference.importance import importance_forecast

    return importance_forecast(flagship_spec,
                               case_as_of(flagship_ledger, flagship_spec, FLAGSHIP_AS_OF),
                               draws=3000, target_mcse=0.05, seed=1, as_of=FLAGSHIP_AS_OF)

