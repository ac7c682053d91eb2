from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from forecast import InferenceError, RunStoreError
from forecast.bayes import KHAT_MAX, Case, importance_forecast
from forecast.cpt import prior_mean_network
from forecast.exact import ExactEngine
from forecast.result import Forecast, confidence_label, likelihood_word
from forecast.spec import load_spec

EXAMPLE = Path(__file__).resolve().parents[1] / "models" / "afghan_caliphate.yaml"


@pytest.fixture(scope="module")
def spec():
    return load_spec(EXAMPLE)


@pytest.mark.parametrize(
    "evidence",
    [{}, {"reconciliation": "failed"},
     {"reconciliation": "achieved", "pakistan_spillover": "yes"},
     {"conflict": "worsening", "hardliners_back_isis": "yes"}],
)
def test_posterior_mean_equals_exact_inference_at_prior_mean_cpts(spec, evidence):
    """With one case and independent node parameters, E[P(S | e, θ) | e] = P(S | e, E[θ])."""
    forecast = importance_forecast(spec, Case(evidence), seed=11)
    exact = ExactEngine(prior_mean_network(spec)).query(evidence)
    summary = forecast.summary
    assert forecast.publishable, forecast.attrs["diagnostics"]
    for row in summary.itertuples():
        truth = exact.marginals[row.node][spec.states[row.node].index(row.state)]
        assert abs(row.mean - truth) <= 4 * row.mcse + 1e-9, (row.node, row.state)
    assert summary["mcse"].max() <= 0.005
    assert not set(evidence) & set(summary["node"])


def test_soft_evidence_and_history_cases(spec):
    target = Case({"reconciliation": "failed"}, {"conflict": [0.2, 0.3, 0.9]})
    history = [Case({"reconciliation": "failed", "caliphate": "yes"})]
    forecast = importance_forecast(spec, target, history, seed=4)
    alone = importance_forecast(spec, target, seed=4)
    p_with = forecast.summary.set_index(["node", "state"]).loc[("caliphate", "yes"), "mean"]
    p_alone = alone.summary.set_index(["node", "state"]).loc[("caliphate", "yes"), "mean"]
    # a past case where failed reconciliation led to a caliphate teaches the shared parameters
    assert p_with > p_alone + 0.01


def test_same_seed_same_result_and_different_seed_differs(spec):
    a = importance_forecast(spec, Case({"reconciliation": "failed"}), seed=7)
    b = importance_forecast(spec, Case({"reconciliation": "failed"}), seed=7)
    c = importance_forecast(spec, Case({"reconciliation": "failed"}), seed=8)
    assert a.summary.equals(b.summary)
    assert not a.summary.equals(c.summary)


def test_many_shared_cases_degenerate_weights_are_not_publishable(spec):
    history = [Case({"reconciliation": "achieved", "caliphate": "yes",
                     "hardliners_back_isis": "no", "conflict": "easing"})] * 30
    forecast = importance_forecast(spec, Case({"reconciliation": "failed"}), history,
                                   draws=4000, seed=1)
    diag = forecast.attrs["diagnostics"]
    assert diag["khat"] > KHAT_MAX
    assert not forecast.publishable
    assert any("k-hat" in reason for reason in diag["failed"])


def test_impossible_evidence_is_an_error(spec):
    with pytest.raises(InferenceError, match="impossible"):
        importance_forecast(spec, Case({"reconciliation": "failed"}, {"caliphate": [0.0, 0.0]}),
                            draws=500)


def test_save_load_round_trip_checks_provenance(spec, tmp_path):
    forecast = importance_forecast(spec, Case({"reconciliation": "failed"}), seed=5,
                                   as_of="2015-08-24")
    path = forecast.save(tmp_path / "run" / "posterior.nc")
    loaded = Forecast.load(path, model_hash=forecast.attrs["model_hash"])
    assert loaded.summary.equals(forecast.summary)
    assert loaded.attrs["as_of"] == "2015-08-24"
    assert loaded.probability("caliphate", "yes").shape == (1, 4000)
    assert [p.name for p in tmp_path.joinpath("run").iterdir()] == ["posterior.nc"]
    with pytest.raises(RunStoreError, match="model_hash"):
        Forecast.load(path, model_hash="0" * 64)
    broken = tmp_path / "broken.nc"
    broken.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(RunStoreError, match="not a readable"):
        Forecast.load(broken)


def test_words_and_confidence_labels():
    assert likelihood_word(0.02) == "almost no chance"
    assert likelihood_word(0.5) == "roughly even chance"
    assert likelihood_word(0.55) == "likely"
    assert likelihood_word(0.999) == "almost certain"
    assert confidence_label(0.05) == "high"
    assert confidence_label(0.2) == "moderate"
    assert confidence_label(0.4) == "low"


def test_html_representation(spec):
    forecast = importance_forecast(spec, Case({"reconciliation": "failed"}), draws=2000,
                                   target_mcse=0.05)
    html = forecast._repr_html_()
    assert html.startswith("<table") and "caliphate" in html
    assert np.isfinite(forecast.summary[["mean", "hdi_5%", "hdi_95%", "mcse"]].to_numpy()).all()
