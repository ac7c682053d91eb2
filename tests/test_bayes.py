from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from forecast import InferenceError, RunStoreError
from forecast.evidence.case import Case
from forecast.evidence.observations import Report
from forecast.inference.importance import KHAT_MAX, importance_forecast
from forecast.inference.result import Forecast
from forecast.model.cpts import prior_mean_network
from forecast.model.words import confidence_label, likelihood_word
from forecast.network.exact import ExactEngine

EXAMPLE = Path(__file__).resolve().parents[1] / "models" / "afghan_caliphate.yaml"


@pytest.fixture(scope="module")
def spec(small_spec):
    return small_spec


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


def test_a_single_draw_keeps_its_batch_axis(spec):
    # one draw used to reach the engine as a batch of one, came back squeezed and died in a
    # numpy AxisError; now it is a (poor, unpublishable) forecast like any other
    target = Case({"reconciliation": "failed"}, reports=[Report("conflict", "worsening", "w")])
    forecast = importance_forecast(spec, target, draws=1, max_draws=1, seed=3)
    assert forecast.attrs["diagnostics"]["draws"] == 1 and not forecast.publishable
    assert forecast.idata.posterior.sizes["draw"] == 1
    assert np.isfinite(forecast.summary["mean"]).all()


def test_seed_may_be_a_generator(spec):
    def run(seed):
        return importance_forecast(spec, Case({"reconciliation": "failed"}), draws=2000,
                                   target_mcse=1.0, seed=seed)

    a, b = run(np.random.default_rng(7)), run(np.random.default_rng(7))
    assert a.summary.equals(b.summary)
    assert a.attrs["seed"] == b.attrs["seed"] != run(np.random.default_rng(8)).attrs["seed"]
    assert run(7).attrs["seed"] == 7


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
    assert html.startswith('<div class="forecast-summary">') and "</table>" in html
    assert "caliphate" in html and html.count("<tr") == len(forecast.summary) + 1
    assert np.isfinite(forecast.summary[["mean", "hdi_5%", "hdi_95%", "mcse"]].to_numpy()).all()


def test_intervention_on_a_root_equals_conditioning_and_on_a_child_cuts_the_back_door(spec):
    seen = importance_forecast(spec, Case({"reconciliation": "failed"}), seed=2)
    done = importance_forecast(spec, interventions={"reconciliation": "failed"}, seed=2)
    for a, b in zip(seen.summary.itertuples(), done.summary.itertuples(), strict=True):
        assert abs(a.mean - b.mean) <= 4 * np.hypot(a.mcse, b.mcse) + 1e-12
    prior = ExactEngine(prior_mean_network(spec)).query().marginals["reconciliation"]
    observed = importance_forecast(spec, Case({"caliphate": "yes"}), seed=2).summary
    forced = importance_forecast(spec, interventions={"caliphate": "yes"}, seed=2).summary

    def p_achieved(frame):
        row = frame.set_index(["node", "state"]).loc[("reconciliation", "achieved")]
        return row["mean"], row["mcse"]

    m_obs, _ = p_achieved(observed)
    m_do, s_do = p_achieved(forced)
    assert abs(m_do - prior[1]) <= 4 * s_do  # forcing the outcome says nothing about causes
    assert m_obs < prior[1] - 0.02  # seeing it does: failed reconciliation is more likely
    assert "caliphate" not in set(forced["node"])


def test_reliability_is_learned_and_a_planted_unreliable_source_is_found(spec):
    from forecast.evidence.observations import Report

    rng = np.random.default_rng(0)
    history = []
    for _ in range(12):
        truth = str(rng.choice(["failed", "achieved"]))
        wrong = "achieved" if truth == "failed" else "failed"
        history.append(Case({"reconciliation": truth}, reports=[
            Report("reconciliation", truth, "wire", "B2"),
            Report("reconciliation", wrong, "rumours", "B3"),  # graded B, always wrong
        ]))
    target = Case(reports=[Report("reconciliation", "achieved", "rumours", "B3")])
    forecast = importance_forecast(spec, target, history, seed=0)
    theta = forecast.idata.posterior["theta"]
    r_rumours = float(theta.sel(parameter="source.rumours.reliability").mean())
    r_wire = float(theta.sel(parameter="source.wire.reliability").mean())
    assert r_rumours < 0.6 < 0.85 < r_wire
    # the same report moves the forecast far less coming from the discredited source
    trusted = importance_forecast(
        spec, Case(reports=[Report("reconciliation", "achieved", "wire", "B2")]), history,
        seed=0)
    prior = ExactEngine(prior_mean_network(spec)).query().marginals["reconciliation"][1]

    def shift(f):
        row = f.summary.set_index(["node", "state"]).loc[("reconciliation", "achieved")]
        return row["mean"] - prior

    assert 0 < shift(forecast) < 0.5 * shift(trusted)


def test_count_series_moves_its_node_and_bad_counts_are_rejected(spec):
    from forecast import EvidenceError
    from forecast.evidence.observations import CountModel

    model = CountModel("pakistan_spillover", {"no": (0.2, 2.0), "yes": (3.0, 12.0)})
    quiet = importance_forecast(spec, Case(counts={"pakistan_spillover": 0}),
                                count_models=[model], seed=1)
    busy = importance_forecast(spec, Case(counts={"pakistan_spillover": 9}),
                               count_models=[model], seed=1)

    def p_yes(f):
        return f.summary.set_index(["node", "state"]).loc[("pakistan_spillover", "yes"), "mean"]

    assert p_yes(busy) > 0.9 > 0.5 > p_yes(quiet)
    negbin = CountModel("pakistan_spillover", {"no": (0.2, 2.0), "yes": (3.0, 12.0)}, "negbin")
    assert p_yes(importance_forecast(spec, Case(counts={"pakistan_spillover": 9}),
                                     count_models=[negbin], seed=1)) > 0.5
    with pytest.raises(EvidenceError) as err:
        importance_forecast(spec, Case(counts={"caliphate": 2, "pakistan_spillover": -1}),
                            count_models=[CountModel("pakistan_spillover", {"no": (0, 1)})])
    text = str(err.value)
    assert "has no count model" in text and "not a whole number" in text
    assert "no rate for state(s) ['yes']" in text and "needs 0 < low < high" in text


SMALL = """
model: {name: small, title: "two causes and an effect"}
claims:
  K1: {quote: "a raises c", paragraph: 1}
nodes:
  a:
    label: A
    states: ["no", "yes"]
    definition: {kind: condition, states: {"no": "-", "yes": "-"}}
    cpt: {table: {assumption: test, rows: [{prior: {"yes": unlikely}}]}}
  b:
    label: B
    states: [low, mid, high]
    definition: {kind: condition, states: {low: "-", mid: "-", high: "-"}}
    cpt: {table: {assumption: test, rows: [{counts: {low: 2, mid: 2, high: 1}}]}}
  c:
    label: C
    states: ["no", "yes"]
    parents: [a, b]
    definition: {kind: condition, states: {"no": "-", "yes": "-"}}
    cpt:
      logit:
        baseline: {prior: unlikely, assumption: test}
        effects:
          - {parent: a, direction: raises, strength: strong, claims: [K1]}
          - {parent: b, state: high, direction: lowers, strength: moderate, assumption: test}
"""


@pytest.mark.slow
def test_simulation_based_calibration_of_the_importance_sampler():
    """Ranks of the true parameters among posterior draws are uniform (Talts et al. 2018).

    400 replications: enough to catch a sampler whose likelihood is 2.5× too sharp (checked
    by hand: p ≈ 1e-6 on the root parameter), while a correct one passes p > 0.001.
    """
    from scipy import stats

    from forecast.model.cpts import build_cpts
    from forecast.model.load import parse_spec
    from forecast.model.parameters import parameters, sample_parameters
    from forecast.network.network import Network

    small = parse_spec(SMALL)
    names = [p.name for p in parameters(small) if p.prior.shape == () and not p.fixed]
    rng = np.random.default_rng(2024)
    reps, bins, thin = 400, 8, 63
    ranks = {n: [] for n in names}
    for rep in range(reps):
        truth = sample_parameters(small, 1, rng)
        cpts = {n: c[0] for n, c in build_cpts(small, truth).items()}
        net = Network(small.states, small.parents, cpts)
        sim = net.sample(21, rng)
        cases = [Case({n: small.states[n][sim[n][i]] for n in ("a", "b", "c")})
                 for i in range(20)]
        target = Case({"c": small.states["c"][sim["c"][20]]})
        post = importance_forecast(small, target, cases, draws=4000, target_mcse=1.0,
                                   seed=rep)
        theta = post.idata.posterior["theta"].isel(chain=0)
        keep = np.linspace(0, theta.sizes["draw"] - 1, thin).astype(int)
        for n in names:
            draws = theta.sel(parameter=n).values[keep]
            ranks[n].append(int((draws < truth[n][0]).sum()))
    for n in names:
        counts = np.bincount(np.asarray(ranks[n]) * bins // (thin + 1), minlength=bins)
        p_value = stats.chisquare(counts).pvalue
        assert p_value > 0.001, (n, counts)


@pytest.fixture(scope="module")
def five_cases():
    return [Case({"reconciliation": r, "caliphate": c, "conflict": k})
            for r, c, k in [("failed", "yes", "worsening"), ("failed", "no", "steady"),
                            ("achieved", "no", "easing"), ("failed", "yes", "steady"),
                            ("achieved", "no", "steady")]]


@pytest.mark.slow
def test_importance_and_nuts_agree_within_4_mcse(spec, five_cases):
    from forecast.inference.importance import posterior_forecast

    target = Case({"pakistan_spillover": "yes"})
    weighted = posterior_forecast(spec, target, five_cases, method="importance", seed=1)
    # 1,000 draws a chain: R-hat's own noise at 500 draws puts a sound run past 1.01 for some
    # seeds (1.013 seen when the engine's roundoff changed); at 1,000 the seeds tried give
    # about 1.002
    sampled = posterior_forecast(spec, target, five_cases, method="nuts", seed=1,
                                 nuts_draws=1000)
    assert weighted.publishable and sampled.publishable, sampled.attrs["diagnostics"]
    assert sampled.attrs["method"] == "nuts"
    assert "sample_stats" in sampled.idata.groups()
    for a, b in zip(weighted.summary.itertuples(), sampled.summary.itertuples(), strict=True):
        assert (a.node, a.state) == (b.node, b.state)
        assert abs(a.mean - b.mean) <= 4 * np.hypot(a.mcse, b.mcse), (a.node, a.state)


@pytest.mark.slow
def test_auto_switches_to_nuts_when_weights_degenerate(spec, five_cases):
    from forecast.inference.importance import posterior_forecast

    result = posterior_forecast(spec, Case({"reconciliation": "failed"}), five_cases * 8,
                                draws=4000, seed=2, nuts_draws=300)
    assert result.attrs["method"] == "nuts"
    assert "k-hat" in result.attrs["method_reason"]
    diag = result.attrs["diagnostics"]
    gate = (diag["divergences"] == 0 and diag["max_rhat"] <= 1.01 and diag["ess"] >= 400
            and diag["max_mcse"] <= 0.005)
    assert result.publishable == gate
    assert len(diag["failed"]) == 0 if gate else len(diag["failed"]) > 0


def test_nuts_takes_reports_and_counts_and_agrees_with_importance_sampling(spec):
    from forecast.evidence.observations import CountModel, Report
    from forecast.inference.importance import posterior_forecast

    history = [Case({"reconciliation": truth}, reports=[
        Report("reconciliation", truth, "wire", "B2"),
        Report("reconciliation", "achieved" if truth == "failed" else "failed", "rumours", "D"),
    ]) for truth in ("failed", "achieved", "failed", "failed")]
    target = Case(reports=[Report("reconciliation", "achieved", "rumours", "D")],
                  counts={"pakistan_spillover": 5})
    counts = [CountModel("pakistan_spillover", {"no": (0.2, 2.0), "yes": (3.0, 12.0)})]
    weighted = posterior_forecast(spec, target, history, method="importance", seed=3,
                                  count_models=counts)
    sampled = posterior_forecast(spec, target, history, method="nuts", seed=3,
                                 count_models=counts, nuts_draws=300)
    assert sampled.attrs["method"] == "nuts"
    names = list(sampled.idata.posterior["parameter"].values)
    assert {"source.wire.reliability", "source.rumours.reliability",
            "rate.pakistan_spillover=yes"} <= set(names)
    for outcome in ("reconciliation=achieved", "pakistan_spillover=yes"):
        a = weighted.idata.forecast.sel(outcome=outcome)
        b = sampled.idata.forecast.sel(outcome=outcome)
        tol = 4 * np.hypot(float(a.mcse), float(b.mcse))
        assert abs(float(a["mean"]) - float(b["mean"])) <= tol, (outcome, a, b)
    theta = sampled.idata.posterior["theta"]
    assert float(theta.sel(parameter="source.rumours.reliability").mean()) < 0.5


@pytest.mark.slow
def test_interventions_under_nuts_agree_with_importance(spec, five_cases):
    """do() in the target case with shared-parameter history: both samplers, same answer."""
    from forecast.inference.importance import posterior_forecast

    target = Case({"pakistan_spillover": "yes"})
    do = {"caliphate": "yes"}
    weighted = posterior_forecast(spec, target, five_cases, method="importance", seed=4,
                                  interventions=do)
    sampled = posterior_forecast(spec, target, five_cases, method="nuts", seed=4,
                                 interventions=do, nuts_draws=500)
    assert sampled.attrs["method"] == "nuts" and "caliphate" not in set(sampled.summary["node"])
    for a, b in zip(weighted.summary.itertuples(), sampled.summary.itertuples(), strict=True):
        assert abs(a.mean - b.mean) <= 4 * np.hypot(a.mcse, b.mcse), (a.node, a.state)
