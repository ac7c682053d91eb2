"""The PyMC model of a spec: CPT twin, model logp, the evidence Op's gradient, and NUTS."""

from __future__ import annotations

from pathlib import Path

import arviz as az
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pymc.model.transform.conditioning import remove_value_transforms
from scipy import stats

from forecast import load_spec
from forecast.errors import EvidenceError, InferenceError
from forecast.evidence.lagged import twin_cpts, twins_of, with_twins
from forecast.inference.pymc_model import LogEvidenceOp, build_pymc_model, sample_nuts
from forecast.model.arrays import pytensor_ops
from forecast.model.cpts import build_cpts, node_cpt, prior_mean_network
from forecast.model.parameters import parameters, sample_parameters
from forecast.network.exact import ExactEngine
from forecast.network.network import Network

MODELS = Path(__file__).resolve().parents[1] / "models"
MODEL = MODELS / "afghan_caliphate.yaml"
# Python-only linking: these graphs are small, and a C compile is what the NUTS test measures.
FAST = "FAST_COMPILE"

# Three cases sharing the parameters: a finding in every case (stays hard), per-case findings
# (become one-hot likelihoods), soft evidence, and hard and soft findings on the same node.
CASES = [
    ({"reconciliation": "failed", "pakistan_spillover": "yes"}, {}),
    ({"reconciliation": "failed", "caliphate": "yes"}, {"conflict": [0.2, 0.5, 0.9]}),
    ({"reconciliation": "failed", "hardliners_back_isis": "no"},
     {"hardliners_back_isis": [0.3, 0.7], "pro_isis_strength": [0.4, 0.8]}),
]
# Two findings whose ancestors are every node but the one queried (caliphate, a logit node).
NUTS_EVIDENCE = {"pro_isis_strength": "strong", "pakistan_spillover": "yes"}


@pytest.fixture(scope="module")
def spec(small_spec):
    return small_spec


@pytest.fixture(scope="module")
def engine(spec):
    return ExactEngine(prior_mean_network(spec))


def _prior_logp(spec, point) -> float:
    total = 0.0
    for p in parameters(spec):
        x, kw = point[p.name], p.prior.params()
        if p.prior.family == "beta":
            total += stats.beta.logpdf(x, kw["alpha"], kw["beta"])
        elif p.prior.family == "dirichlet":
            total += stats.dirichlet.logpdf(x, kw["a"])
        elif p.prior.family == "signed_lognormal":
            total += stats.lognorm.logpdf(kw["sign"] * x, kw["sigma"], scale=np.exp(kw["mu"]))
    return float(total)


@pytest.mark.parametrize("path", sorted(MODELS.glob("*.yaml")), ids=lambda p: p.stem)
def test_one_cpt_formula_in_numpy_and_pytensor_agrees_on_every_node(path) -> None:
    # the numpy engine path (build_cpts) and the PyMC model evaluate the same node_cpt; here its
    # PyTensor graph, one small graph per node with a symbolic batch axis, on 4 prior draws
    spec = load_spec(path)
    params = parameters(spec)
    draws = sample_parameters(spec, 4, np.random.default_rng(1))
    reference = build_cpts(spec, draws, params=params)
    for node in spec.nodes:
        inputs = {p.name: pt.tensor(p.name, dtype="float64", shape=(None, *p.shape))
                  for p in params if p.node == node}
        graph = node_cpt(spec, node, inputs, params=params, ops=pytensor_ops())
        got = graph.eval({x: draws[name] for name, x in inputs.items()}, mode=FAST)
        cards = [spec.card(q) for q in (*spec.parents[node], node)]
        assert got.shape == reference[node].shape == (4, *cards)
        np.testing.assert_allclose(got, reference[node], rtol=0, atol=1e-12, err_msg=node)


def test_model_variables_are_the_named_parameters(spec) -> None:
    model = build_pymc_model(spec, CASES)
    free = [p.name for p in parameters(spec) if not p.fixed]
    assert [rv.name for rv in model.free_RVs] == free
    assert [d.name for d in model.deterministics] == [f"cpt.{n}" for n in spec.nodes]
    assert model.named_vars_to_dims["cpt.caliphate"] == (*spec.parents["caliphate"], "caliphate")
    assert [p.name for p in model.potentials] == ["log_evidence"]
    # a "lowers" effect stays negative: its value lives on (-inf, 0)
    start = model.initial_point()
    lowers = model.rvs_to_transforms[model["caliphate.effect.reconciliation=achieved"]]
    assert lowers.backward(start["caliphate.effect.reconciliation=achieved_interval__"]).eval() < 0


def test_model_logp_is_prior_plus_exact_log_evidence(spec, engine) -> None:
    model = remove_value_transforms(build_pymc_model(spec, CASES))
    logp = model.compile_logp(mode=FAST)
    rng = np.random.default_rng(2)
    draws = sample_parameters(spec, 4, rng)
    cpts = build_cpts(spec, draws)
    log_evidence = sum(engine.log_evidence(ev, soft, cpts) for ev, soft in CASES)
    for d in range(4):
        point = {name: v[d] for name, v in draws.items()}
        expected = _prior_logp(spec, point) + log_evidence[d]
        free = {rv.name: point[rv.name] for rv in model.free_RVs}
        assert logp(free) == pytest.approx(expected, rel=1e-10)
    # a "lowers" effect with a positive value is outside the prior's support
    free = {rv.name: point[rv.name] for rv in model.free_RVs}
    free["caliphate.effect.reconciliation=achieved"] = 1.0
    assert logp(free) == -np.inf


def test_previous_window_twins_share_their_events_parameters(spec) -> None:
    # a finding on caliphate@previous is a leaf under caliphate's parents with caliphate's CPT
    cases = [({"caliphate@previous": "yes", "reconciliation": "failed"}, {}),
             ({}, {"pakistan_spillover@previous": [0.2, 0.9]})]
    model = remove_value_transforms(build_pymc_model(spec, cases))
    logp = model.compile_logp(mode=FAST)
    states, parents = with_twins(spec.states, spec.parents, twins_of(spec, cases))
    twin_engine = ExactEngine(Network(states, parents, twin_cpts(
        {n: c[0] for n, c in build_cpts(spec, {p.name: p.prior.mean
                                               for p in parameters(spec)}).items()},
        twins_of(spec, cases))))
    draws = sample_parameters(spec, 3, np.random.default_rng(5))
    cpts = twin_cpts(build_cpts(spec, draws), twins_of(spec, cases))
    log_evidence = sum(twin_engine.log_evidence(ev, soft, cpts) for ev, soft in cases)
    for d in range(3):
        point = {name: v[d] for name, v in draws.items()}
        free = {rv.name: point[rv.name] for rv in model.free_RVs}
        assert logp(free) == pytest.approx(_prior_logp(spec, point) + log_evidence[d], rel=1e-10)


def test_model_gradient_is_finite_differences(spec) -> None:
    # The function NUTS evaluates (unconstrained coordinates, Jacobians included), for the NUTS
    # test's case, so the two share their C compilation. Python-only linking is not an option
    # here: it fails on the Add of more than 32 log-density terms that PyMC's pre-gradient
    # canonicalisation builds (numpy's limit on ufunc operands).
    model = build_pymc_model(spec, [(NUTS_EVIDENCE, {})])
    f = model.logp_dlogp_function(ravel_inputs=True)
    f.set_extra_values({})
    rng = np.random.default_rng(5)
    start = model.initial_point()
    x = np.concatenate([np.ravel(start[v.name]) for v in model.value_vars])
    x = x + rng.normal(0, 0.3, x.size)
    _, grad = f(x)
    eps = 1e-6
    numeric = [(f(x + eps * e)[0] - f(x - eps * e)[0]) / (2 * eps) for e in np.eye(x.size)]
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7)


def test_log_evidence_op_gradient_is_finite_differences(spec, engine) -> None:
    op = LogEvidenceOp(engine, CASES)
    assert set(op.nodes) == set(spec.nodes)  # every node is observed or an ancestor
    rng = np.random.default_rng(3)
    # unnormalised positive tables are fine: log P(e) is exact and multilinear in every entry
    point = [rng.uniform(0.2, 1.0, engine.network.cpts[n].shape) for n in op.nodes]
    pytensor.gradient.verify_grad(op, point, rng=rng, mode=FAST, eps=1e-7)

    class Counting(ExactEngine):
        calls = 0

        def log_evidence_grad(self, *args, **kwargs):
            Counting.calls += 1
            return super().log_evidence_grad(*args, **kwargs)

    op = LogEvidenceOp(Counting(engine.network), CASES)
    point = [t / t.sum(axis=-1, keepdims=True) for t in point]  # rows of CPTs sum to 1
    cpts = dict(zip(op.nodes, point, strict=True))
    value = _value_and_grad(op, point)[0]
    assert Counting.calls == 1  # value and gradient from one engine pass
    # on CPTs, the batched cases (likelihoods of 1 where a case has no finding) give
    # the sum of each case's own log P(e)
    expected = sum(engine.log_evidence(ev, soft, cpts) for ev, soft in CASES)
    assert value == pytest.approx(expected, rel=1e-12)
    # identical cases (all findings shared, so no case axis) count once each; empty ones add 0
    case = CASES[0]
    for cases in ([case, case], [case, case, ({}, {})]):
        op = LogEvidenceOp(engine, cases)
        value, *grads = _value_and_grad(op, [cpts[n] for n in op.nodes])
        single, single_grads = engine.log_evidence_grad(*case, cpts)
        assert value == pytest.approx(2 * single, rel=1e-12)
        for n, g in zip(op.nodes, grads, strict=True):
            # the empty case adds Σ_x θ(x | u) = 1 to the likelihood, so a constant to each row
            # of the gradient, which rows that sum to 1 cannot feel: compare within rows
            np.testing.assert_allclose(_within_rows(g), _within_rows(2 * single_grads[n]),
                                       rtol=1e-12, atol=1e-12)


def _within_rows(g):
    return g - g.mean(axis=-1, keepdims=True)


def _value_and_grad(op, point):
    xs = [pt.tensor(dtype="float64", shape=np.shape(x)) for x in point]
    out = op(*xs)
    return pytensor.function(xs, [out, *pytensor.grad(out, xs)], mode=FAST)(*point)


def test_cases_that_do_not_fit_are_reported_with_their_index(spec) -> None:
    with pytest.raises(EvidenceError, match=r"case 1: .*kaliphate"):
        build_pymc_model(spec, [({}, {}), ({"kaliphate": "yes"}, {})])
    with pytest.raises(InferenceError, match="case 0"):
        build_pymc_model(spec, [({"caliphate": "yes"}, {"caliphate": [1.0, 0.0]})])


def test_a_case_index_goes_into_the_problems_field(spec) -> None:
    with pytest.raises(EvidenceError) as info:
        build_pymc_model(spec, [({}, {}), ({"kaliphate": "yes"}, {})])
    (problem,) = info.value.problems
    assert problem.file is None and problem.line is None
    assert problem.field == "case 1: evidence kaliphate=yes"


@pytest.fixture(scope="module")
def nuts(spec):
    return sample_nuts(spec, [(NUTS_EVIDENCE, {})], draws=1000, tune=1000, chains=2, seed=4)


def test_nuts_posterior_mean_is_exact_inference_at_prior_mean_cpts(spec, engine, nuts) -> None:
    post = nuts.posterior
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    values = {p.name: (post[p.name].values.reshape(chains * draws, *p.shape) if not p.fixed
                       else p.prior.mean) for p in parameters(spec)}
    cpts = build_cpts(spec, values)
    p_yes = engine.query(NUTS_EVIDENCE, cpts=cpts).marginals["caliphate"][:, 1]
    p_yes = p_yes.reshape(chains, draws)
    mcse = float(az.mcse(p_yes)[0])  # an ndarray is read as (chain, draw)
    exact = engine.query(NUTS_EVIDENCE).marginals["caliphate"][1]
    assert abs(p_yes.mean() - exact) <= 4 * mcse, (p_yes.mean(), exact, mcse)
    assert mcse < 0.005


def test_nuts_diagnostics_and_result(nuts, spec, tmp_path) -> None:
    assert int(nuts.sample_stats["diverging"].sum()) == 0
    assert float(az.rhat(nuts).to_array().max()) <= 1.01
    assert nuts.attrs["method"] == "nuts"
    free = [p.name for p in parameters(spec) if not p.fixed]
    assert list(nuts.posterior.data_vars) == free
    # parameter names survive netCDF as they are
    nuts.to_netcdf(tmp_path / "posterior.nc")
    back = az.from_netcdf(tmp_path / "posterior.nc")
    assert list(back.posterior.data_vars) == free
    np.testing.assert_array_equal(back.posterior["caliphate.effect.reconciliation=achieved"],
                                  nuts.posterior["caliphate.effect.reconciliation=achieved"])
    assert back.posterior["conflict.row[reconciliation=failed]"].dims[-1] == "conflict"


# Reports from two sources and counts on one node, with fixed soft evidence on the same node
# and a report about a node that is also a hard finding in another case.
def _observed_cases():
    from forecast.evidence.case import Case
    from forecast.evidence.observations import Report

    return [
        Case({"reconciliation": "failed"}, {"pakistan_spillover": [0.5, 0.9]},
             reports=[Report("conflict", "worsening", "wire", "B2")],
             counts={"pakistan_spillover": 4}),
        Case({"caliphate": "yes"},
             reports=[Report("reconciliation", "achieved", "rumours", "D3"),
                      Report("conflict", "steady", "rumours", "D3")],
             counts={"pakistan_spillover": 0}),
        Case({"reconciliation": "achieved"},
             reports=[Report("reconciliation", "failed", "wire", "B2")]),
    ]


@pytest.mark.parametrize("family", ["poisson", "negbin"])
def test_model_logp_with_reports_and_counts_is_prior_plus_exact_log_evidence(
    spec, engine, family
) -> None:
    from forecast.evidence.observations import CountModel, ObservationModel

    cases = _observed_cases()
    counts = [CountModel("pakistan_spillover", {"no": (0.2, 2.0), "yes": (3.0, 12.0)}, family)]
    obs = ObservationModel(spec.states, cases, counts)
    model = remove_value_transforms(build_pymc_model(spec, cases, count_models=counts))
    free = [p.name for p in parameters(spec) if not p.fixed]
    assert sorted(rv.name for rv in model.free_RVs) == sorted(free + list(obs.priors))
    logp = model.compile_logp(mode=FAST)
    prior_logp = model.compile_logp(vars=model.free_RVs, mode=FAST)  # without the potential
    rng = np.random.default_rng(6)
    draws = {**sample_parameters(spec, 3, rng), **obs.sample(rng, 3)}
    cpts = build_cpts(spec, draws)
    log_evidence = sum(engine.log_evidence(c.evidence, obs.likelihoods(c, draws), cpts)
                       for c in cases)
    for d in range(3):
        point = {name: v[d] for name, v in draws.items()}
        prior = _prior_logp(spec, point)
        for name, p in obs.priors.items():
            if name.startswith("source."):
                prior += stats.beta.logpdf(point[name], p.a, p.b)
            else:
                prior += stats.lognorm.logpdf(point[name], p.sigma, scale=np.exp(p.mu))
        free = {rv.name: point[rv.name] for rv in model.free_RVs}
        assert logp(free) - prior_logp(free) == pytest.approx(log_evidence[d], rel=1e-10)
        # PyTensor's log-Beta function is good to ~1e-6 for Beta(17, 3), the B-grade prior
        assert prior_logp(free) == pytest.approx(prior, abs=1e-5)


def test_log_evidence_op_gradient_in_likelihoods_is_finite_differences(spec, engine) -> None:
    op = LogEvidenceOp(engine, CASES, likelihood_nodes=["conflict", "reconciliation"])
    rng = np.random.default_rng(7)
    point = [rng.uniform(0.2, 1.0, engine.network.cpts[n].shape) for n in op.nodes]
    point += [rng.uniform(0.2, 1.0, (len(CASES), engine.network.card(n)))
              for n in op.likelihood_nodes]
    pytensor.gradient.verify_grad(op, point, rng=rng, mode=FAST, eps=1e-7)


@pytest.mark.parametrize("backend", ["numpy", "pytensor"])
@pytest.mark.parametrize("family", ["poisson", "negbin"])
def test_observation_likelihoods_against_scipy(spec, backend, family) -> None:
    # the one formula of reports and counts, in either backend, against scipy's distributions
    from forecast.evidence.observations import CountModel, ObservationModel

    cases = _observed_cases()  # the first case counts 4 on pakistan_spillover, the second 0
    counts = [CountModel("pakistan_spillover", {"no": (0.2, 2.0), "yes": (3.0, 12.0)}, family)]
    obs = ObservationModel(spec.states, cases, counts)
    draws = obs.sample(np.random.default_rng(8), 3)
    got = [_log_likelihoods(obs, case, draws, backend) for case in cases[:2]]
    r = {s: draws[f"source.{s}.reliability"][:, None] for s in ("wire", "rumours")}
    assert sorted(got[1]) == ["conflict", "pakistan_spillover", "reconciliation"]
    np.testing.assert_allclose(got[0]["conflict"],
                               np.log(np.hstack([(1 - r["wire"]) / 2] * 2 + [r["wire"]])),
                               rtol=1e-12)
    np.testing.assert_allclose(got[1]["reconciliation"],
                               np.log(np.hstack([1 - r["rumours"], r["rumours"]])), rtol=1e-12)
    mu = np.stack([draws["rate.pakistan_spillover=no"], draws["rate.pakistan_spillover=yes"]], 1)
    for case, y in zip(got, (4, 0), strict=True):
        if family == "poisson":
            expected = stats.poisson.logpmf(y, mu)
        else:
            phi = draws["dispersion.pakistan_spillover"][:, None]
            expected = stats.nbinom.logpmf(y, phi, phi / (phi + mu))
        np.testing.assert_allclose(case["pakistan_spillover"], expected, rtol=1e-10)


def _log_likelihoods(obs, case, draws, backend) -> dict:
    if backend == "numpy":
        return obs.log_likelihoods(case, draws)
    inputs = {k: pt.dvector(k) for k in draws}
    graphs = obs.log_likelihoods(case, inputs, ops=pytensor_ops())
    return {n: pytensor.function(list(inputs.values()), g, mode=FAST,
                                 on_unused_input="ignore")(*draws.values())
            for n, g in graphs.items()}


def test_nuts_stops_at_its_wall_time_budget(spec, monkeypatch) -> None:
    """A budget already spent when sampling starts stops it at the first draw: Untrusted (the
    CLI's exit 3) naming the chain and iteration, never minutes of sampling. The compile of
    the `nuts` fixture's model is reused (the same graph), so this costs about a second."""
    import time

    from forecast.errors import ForecastError, Untrusted
    from forecast.inference.pymc_model import NUTS_BUDGET, nuts_budget

    started = time.monotonic()
    with pytest.raises(Untrusted, match="over its budget of 1e-06 s") as caught:
        sample_nuts(spec, [(NUTS_EVIDENCE, {})], draws=1000, tune=1000, chains=2, seed=4,
                    budget=1e-6)
    assert time.monotonic() - started < 300  # a hang guard: it stops at the first draw
    assert caught.value.exit_code == 3
    assert "iteration 1 of 2000 (tuning)" in str(caught.value)
    assert "FORECAST_NUTS_BUDGET" in str(caught.value)
    monkeypatch.setenv("FORECAST_NUTS_BUDGET", "30")
    assert nuts_budget() == 30.0
    for bad in ("0", "-1", "nan", "inf", "soon"):
        monkeypatch.setenv("FORECAST_NUTS_BUDGET", bad)
        with pytest.raises(ForecastError, match="not a number of seconds"):
            nuts_budget()
    monkeypatch.delenv("FORECAST_NUTS_BUDGET")
    assert nuts_budget() == NUTS_BUDGET
