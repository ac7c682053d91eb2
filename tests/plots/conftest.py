"""Inputs of the plot tests, computed once per session (and per xdist worker)."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from forecast.analysis.attribution import attribute_change
from forecast.analysis.metrics import calibration_table
from forecast.analysis.sensitivity import parameter_sensitivity
from forecast.evidence.case import Case
from forecast.evidence.ledger import case_as_of, rows_as_of
from forecast.inference.importance import importance_forecast
from tests.plots.helpers import AS_OF, HISTORY_DATES, nuts_like


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(autouse=True)
def pyplot_untouched(monkeypatch):
    """Every test: no plt.show(), no figure left in pyplot's list, global style unchanged."""
    def refuse(*args, **kwargs):
        raise AssertionError("a plot function called plt.show()")

    monkeypatch.setattr(plt, "show", refuse)
    figures = plt.get_fignums()
    style = {k: mpl.rcParams[k] for k in ("axes.spines.top", "font.size", "axes.prop_cycle",
                                          "savefig.dpi", "svg.fonttype", "figure.figsize")}
    yield
    assert plt.get_fignums() == figures
    assert {k: mpl.rcParams[k] for k in style} == style


# the plot modules' names for the shared session fixtures of tests/conftest.py
@pytest.fixture(scope="session")
def spec(flagship_spec):
    return flagship_spec


@pytest.fixture(scope="session")
def small(small_spec):
    return small_spec


@pytest.fixture(scope="session")
def ledger(flagship_ledger):
    return flagship_ledger


@pytest.fixture(scope="session")
def flagship(flagship_forecast):
    """The flagship forecast from the ledger as of mid-2016 (importance sampling)."""
    assert flagship_forecast.attrs["as_of"] == AS_OF
    return flagship_forecast


@pytest.fixture(scope="session")
def small_forecast(small):
    return importance_forecast(small, Case({"reconciliation": "failed"}), draws=4000,
                               target_mcse=0.05, seed=3)


@pytest.fixture(scope="session")
def history(spec, ledger):
    """What a run history holds: the flagship's summary at each of several as-of dates."""
    frames = []
    for day in HISTORY_DATES:
        forecast = importance_forecast(spec, case_as_of(ledger, spec, day), draws=2000,
                                       target_mcse=0.05, seed=1, as_of=day)
        frames.append(forecast.summary.assign(as_of=day))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="session")
def sensitivity(spec, flagship):
    return parameter_sensitivity(flagship, "caliphate_declared", "yes", spec=spec)


@pytest.fixture(scope="session")
def attribution(spec, ledger):
    return attribute_change(spec, rows_as_of(ledger, spec, "2015-12-31"),
                            rows_as_of(ledger, spec, AS_OF), "caliphate_declared", "yes",
                            draws=2000)


@pytest.fixture(scope="session")
def calibration():
    rng = np.random.default_rng(20150824)
    p = rng.uniform(size=300)
    outcome = (rng.uniform(size=300) < p).astype(int)
    frames = [calibration_table(p, outcome).assign(forecaster="model"),
              calibration_table(np.clip(p + 0.25, 0, 1), outcome).assign(forecaster="too high")]
    table = pd.concat(frames, ignore_index=True)
    return table[["forecaster", *(c for c in table.columns if c != "forecaster")]]


@pytest.fixture(scope="session")
def nuts(small_forecast):
    return nuts_like(small_forecast)

