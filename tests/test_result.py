"""Forecast.from_draws: a forecast from given draws, summarised as the samplers summarise."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest

from forecast.errors import ForecastError
from forecast.inference.result import Forecast


@pytest.fixture(scope="module")
def draws() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    war = rng.beta(3, 7, size=1000)
    return pd.DataFrame({"war=yes": war, "war=no": 1 - war, "rain=yes": np.ones(1000),
                         "rain=no": np.zeros(1000)})


def test_summary_is_the_mean_hdi_and_mcse_of_the_draws(draws):
    f = Forecast.from_draws(draws, observed={"rain"})
    row = f.sel(node="war", state="yes")
    war = draws["war=yes"].to_numpy()
    assert row["mean"] == pytest.approx(war.mean())
    assert row["mcse"] == pytest.approx(war.std() / np.sqrt(len(war)))
    low, high = az.hdi(war, hdi_prob=0.9)
    assert (row["hdi_5%"], row["hdi_95%"]) == pytest.approx((low, high))
    assert list(f.summary["node"]) == ["war", "war"]  # the observed node has no row
    assert f.probability("rain", "yes").values.min() == 1.0  # but its draws are kept


def test_default_provenance_and_failed_diagnostics(draws, tmp_path):
    f = Forecast.from_draws(draws)
    assert f.publishable and f.attrs["method"] == "draws" and f.attrs["diagnostics"] == {
        "failed": []}
    failed = Forecast.from_draws(draws.to_numpy(), outcomes=list(draws.columns), attrs={
        "model_name": "m", "as_of": "2016-06-30", "diagnostics": {"failed": ["ess too low"]}})
    assert not failed.publishable and failed.attrs["as_of"] == "2016-06-30"
    back = Forecast.load(failed.save(tmp_path / "f.nc"))
    pd.testing.assert_frame_equal(back.summary, failed.summary)
    assert back.attrs["diagnostics"] == {"failed": ["ess too low"]} and not back.publishable


def test_chains_and_draws_of_an_array(draws):
    values = draws.to_numpy().reshape(2, 500, -1)
    f = Forecast.from_draws(values, outcomes=list(draws.columns))
    assert f.idata["posterior"]["prob"].shape == (2, 500, 4)
    assert f.sel(node="war", state="no")["mean"] == pytest.approx(draws["war=no"].mean())


@pytest.mark.parametrize(("kwargs", "field", "words"), [
    ({"draws": np.ones(3)}, "draws", "got shape (3,)"),
    ({"draws": np.full((4, 2), 0.5), "outcomes": ["a=x"]}, "outcomes", "1 names for 2"),
    ({"draws": np.full((4, 2), 1.5), "outcomes": ["a=x", "a=y"]}, "draws", "outside [0, 1]"),
    ({"draws": np.full((4, 2), 0.5), "outcomes": ["a", "a=y"]}, "outcomes", "'a' is not"),
    ({"draws": np.full((4, 2), 0.5), "outcomes": ["a=x", "a=x"]}, "outcomes", "named twice"),
])
def test_what_is_not_draws_of_probabilities_is_refused(kwargs, field, words):
    with pytest.raises(ForecastError) as caught:
        Forecast.from_draws(kwargs.pop("draws"), **kwargs)
    (problem,) = caught.value.problems
    assert problem.field == field and words in problem.message
