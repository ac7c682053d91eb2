"""plot_diagnostics (report/plots/diagnostics.py)."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

from forecast.evidence.case import Case
from forecast.inference.importance import KHAT_MAX, importance_forecast
from forecast.inference.result import Forecast
from forecast.report.plots import (
    plot_diagnostics,
)
from forecast.report.plots.network import (
    positive_state,
)
from tests.plots.helpers import NUTS_SHIFTED, error_text, rendered, ytick_texts


# ------------------------------------------------------------------------------ diagnostics
def test_importance_diagnostics_show_weights_ess_and_mcse(flagship, tmp_path):
    fig = plot_diagnostics(flagship)
    _, svg_text = rendered(fig, tmp_path, "diagnostics_importance")
    weights, cumulative, mcse = fig.axes
    d = flagship.attrs["diagnostics"]
    assert f"Pareto k̂ {d['khat']:.2f}: reliable (threshold {KHAT_MAX})" in (
        weights.get_title(loc="left"))
    (curve,) = [line for line in weights.lines if line.get_linestyle() == "-"]
    w = curve.get_ydata()
    assert len(w) == d["draws"] and np.all(np.diff(w) <= 0) and w.sum() == pytest.approx(1.0)
    share = cumulative.lines[0].get_ydata()
    assert share[-1] == pytest.approx(1.0) and np.all(np.diff(share) >= 0)
    (ess_line,) = [line for line in cumulative.lines if line.get_label().startswith("ESS")]
    assert ess_line.get_xdata()[0] == pytest.approx(d["ess"])
    assert ess_line.get_label() == f"ESS {d['ess']:,.0f} of {d['draws']:,} draws (min 400)"
    assert ess_line.get_xdata()[0] == pytest.approx(1 / np.sum(w**2), rel=1e-9)
    summary = flagship.summary
    notable = summary[[positive_state(list(summary.loc[summary["node"] == n, "state"])) == s
                       for n, s in zip(summary["node"], summary["state"], strict=True)]]
    worst = notable.sort_values("mcse", ascending=False).head(14)
    assert ytick_texts(mcse)[::-1] == [f"{n}={s}" for n, s in zip(worst["node"], worst["state"],
                                                                    strict=True)]
    assert "Importance-sampling diagnostics (publishable)" in svg_text


def test_importance_diagnostics_flag_degenerate_weights_and_prior_only_runs(small):
    history = [Case({"reconciliation": "achieved", "caliphate": "yes",
                     "hardliners_back_isis": "no", "conflict": "easing"})] * 30
    degenerate = importance_forecast(small, Case({"reconciliation": "failed"}), history,
                                     draws=2000, target_mcse=0.05, seed=1)
    fig = plot_diagnostics(degenerate)
    assert "UNRELIABLE" in fig.axes[0].get_title(loc="left")
    assert fig.get_suptitle().startswith("Importance-sampling diagnostics (NOT publishable: "
                                         "Pareto k-hat")
    prior = importance_forecast(small, draws=2000, target_mcse=0.05, seed=1)
    title = plot_diagnostics(prior).axes[0].get_title(loc="left")
    assert "not needed: no evidence, all weights equal" in title


def test_nuts_diagnostics_show_the_worst_chains_first(nuts, tmp_path):
    fig = plot_diagnostics(nuts, max_params=4)
    _, svg_text = rendered(fig, tmp_path, "diagnostics_nuts")
    assert len(fig.axes) == 8
    densities, ranks = fig.axes[0::2], fig.axes[1::2]
    names = [a.get_title(loc="left") for a in densities]
    assert names[0] == NUTS_SHIFTED
    rhats = [float(a.get_title(loc="left").split()[1]) for a in ranks]
    assert rhats == sorted(rhats, reverse=True)
    assert rhats[0] > 1.1 > rhats[1]
    theta = nuts.idata.posterior["theta"].sel(parameter=NUTS_SHIFTED).values
    assert rhats[0] == pytest.approx(float(az.rhat(theta)), abs=5e-4)
    # each chain's density, and the divergent draws as ticks at their values
    (ticks,) = [line for line in densities[0].lines if line.get_marker() == "|"]
    assert sorted(ticks.get_xdata()) == pytest.approx(sorted(theta[0, [10, 200, 300]]))
    assert len([line for line in densities[0].lines if line.get_marker() in ("None", "")]) >= 2
    assert all(a.patches for a in ranks)  # rank bars drawn
    title = fig.get_suptitle()
    assert title.startswith("NUTS diagnostics (NOT publishable): 2 chains, 3 divergences, "
                            "largest R-hat 1.500")
    assert NUTS_SHIFTED in svg_text


def test_nuts_diagnostics_of_probabilities_and_bad_variables(nuts):
    fig = plot_diagnostics(nuts, var_names=("prob",), max_params=20)
    names = [a.get_title(loc="left") for a in fig.axes[0::2]]
    outcomes = [str(o) for o in nuts.idata.posterior["outcome"].values]
    # every outcome but the observed node's, whose probabilities are constant
    assert sorted(names) == sorted(o for o in outcomes if not o.startswith("reconciliation="))
    text = error_text(lambda: plot_diagnostics(nuts, var_names=("theta", "thetta", "probs")))
    assert "var_names[1]: 'thetta' is not a posterior variable" in text
    assert "var_names[2]: 'probs'" in text and "did you mean 'prob'" in text


def test_diagnostics_refuse_what_they_cannot_diagnose(nuts, small_forecast):
    posterior = nuts.idata.posterior
    flat = az.InferenceData(posterior=posterior.assign(theta=posterior["theta"] * 0 + 0.5),
                            sample_stats=nuts.idata.sample_stats)
    text = error_text(lambda: plot_diagnostics(Forecast(flat), var_names=("theta",)))
    assert "every component of theta is constant" in text
    bare = az.InferenceData(posterior=small_forecast.idata.posterior.assign_attrs(method="exact"))
    bare.add_groups({"forecast": small_forecast.idata["forecast"]})
    text = error_text(lambda: plot_diagnostics(Forecast(bare)))
    assert "method 'exact' and no importance-weight group" in text
    assert "needs a Forecast, got str" in error_text(lambda: plot_diagnostics("run-1"))


