"""IBIS over a model's parameters against importance sampling with many prior draws."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.errors import InferenceError
from forecast.inference.sequential import IBIS, Checkpoint
from forecast.inference.space import ParameterSpace, vague
from forecast.model.distributions import (
    DirichletPrior,
    EffectPrior,
    FixedValue,
    ProbabilityPrior,
)
from forecast.network.dynamic import DynamicEngine, step_likelihoods
from tests.networks import one_event, one_event_priors, one_event_tables


def test_parameter_space_round_trips_and_its_density_integrates_to_the_prior():
    space = ParameterSpace({"p": ProbabilityPrior(3.0, 5.0), "e": EffectPrior(0.2, 0.4, -1),
                            "row": DirichletPrior((2.0, 3.0, 4.0)), "f": FixedValue(0.3)})
    assert space.dim == 4 and space.names == ("p", "e", "row")
    rng = np.random.default_rng(0)
    z = space.sample(rng, 20000)
    values = space.values(z)
    np.testing.assert_allclose(space.to_z(values), z, atol=1e-9)
    assert values["e"].max() < 0 and float(values["f"]) == 0.3
    np.testing.assert_allclose(values["row"].mean(axis=0), [2 / 9, 3 / 9, 4 / 9], atol=0.01)
    # importance weights prior/prior are 1: a Gaussian proposal re-weighted by the density
    mean, cov = z.mean(axis=0), np.cov(z, rowvar=False)
    draws = rng.multivariate_normal(mean, 1.5 * cov, size=200000)
    from scipy import stats
    logq = stats.multivariate_normal(mean, 1.5 * cov).logpdf(draws)
    w = np.exp(space.log_prior(draws) - logq)
    assert w.mean() == pytest.approx(1.0, abs=0.02)  # the density is normalised


PRIORS = one_event_priors()

def test_ibis_posterior_matches_importance_sampling_with_many_draws():
    dn = one_event()
    engine = DynamicEngine(dn)
    steps = 30
    rng = np.random.default_rng(4)
    occurred = set(rng.choice(steps, size=4, replace=False).tolist())
    lik = step_likelihoods(dn.slice, steps, [(t, "e", "yes" if t in occurred else "no")
                                             for t in range(steps)]
                           + [(t, "c", "high") for t in (3, 17)])
    space = ParameterSpace(PRIORS)
    tables = one_event_tables

    batched = {k: v[None] for k, v in lik.items()}  # (1, steps, card)
    sampler = IBIS(engine, space, tables, lambda v, s: batched, particles=600, moves=5, seed=2)
    snap = sampler.run(steps)[steps - 1]
    got = space.values(snap.z)
    # reference: self-normalised importance sampling from the prior, 40,000 draws
    z = space.sample(np.random.default_rng(9), 40000)
    cpts, trans = tables(space.values(z))
    logw = engine.filter(lik, cpts=cpts, transitions=trans).log_evidence
    w = np.exp(logw - logw.max())
    w /= w.sum()
    ref = space.values(z)
    for name in ("h_low", "h_high", "rho"):
        mean = float(np.sum(snap.weights * got[name]))
        expected = float(np.sum(w * ref[name]))
        sd = float(np.sqrt(np.sum(w * (ref[name] - expected) ** 2)))
        # IBIS with N=600 has an ESS of a few hundred: 4 standard errors of the mean
        assert abs(mean - expected) < 4 * sd / np.sqrt(snap.ess / 2), name
    assert sampler.diagnostics, "the sampler should have resampled and moved"
    assert all(0.05 < np.mean(d["acceptance"]) < 0.9 for d in sampler.diagnostics)


def _simulate(rng, lo, hi, rho, steps):
    """One path of the one-condition model: c persists with rho, e ~ Bernoulli(h[c])."""
    c = int(rng.random() < 0.5)
    path = []
    for _ in range(steps):
        if rng.random() >= rho:
            c = int(rng.random() < 0.5)
        e = int(rng.random() < (hi if c else lo))
        path.append((c, e))
    return path


def _sbc_pvalues(sampler_priors: dict, runs: int = 60, bins: int = 6) -> dict[str, float]:
    """Simulation-based calibration (Talts et al., 2018): draw θ from the true prior, simulate
    a path, run IBIS with `sampler_priors`, rank θ among the posterior draws; return the
    chi-square p-value of uniform ranks per parameter."""
    from scipy import stats

    dn = one_event()
    engine = DynamicEngine(dn)
    truth_space = ParameterSpace(PRIORS)
    space = ParameterSpace(sampler_priors)
    tables = one_event_tables

    rng = np.random.default_rng(2024)
    steps = 20
    ranks: dict[str, list[int]] = {name: [] for name in space.names}
    for i in range(runs):
        truth = truth_space.values(truth_space.sample(rng, 1))
        path = _simulate(rng, float(truth["h_low"][0]), float(truth["h_high"][0]),
                         float(truth["rho"][0]), steps)
        findings = [(t, "e", "yes" if e else "no") for t, (_, e) in enumerate(path)]
        findings += [(t, "c", "high" if c else "low") for t, (c, _) in enumerate(path)
                     if t % 5 == 0]  # the condition is seen now and then
        lik = {k: v[None] for k, v in step_likelihoods(dn.slice, steps, findings).items()}
        sampler = IBIS(engine, space, tables, lambda v, s, lik=lik: lik, particles=200,
                       moves=3, seed=i)
        snap = sampler.run(steps)[steps - 1]
        draws = space.values(snap.z)
        keep = rng.choice(len(snap.z), size=bins * 10 - 1, p=snap.weights)
        for name in space.names:
            ranks[name].append(int(np.sum(draws[name][keep] < truth[name][0])))
    return {name: float(stats.chisquare(np.bincount(np.asarray(r) * bins // (bins * 10),
                                                     minlength=bins)).pvalue)
            for name, r in ranks.items()}


@pytest.mark.slow
def test_simulation_based_calibration_of_ibis():
    pvalues = _sbc_pvalues({"h_low": ProbabilityPrior(2.0, 8.0),
                            "h_high": ProbabilityPrior(3.0, 4.0),
                            "rho": ProbabilityPrior(8.0, 2.0)})
    # uniform ranks at the 0.1% level for every parameter
    assert min(pvalues.values()) > 0.001, pvalues


@pytest.mark.slow
def test_simulation_based_calibration_catches_a_planted_error():
    # the sampler believes h_high is small (Beta(2, 8)) while the truth comes from Beta(3, 4)
    pvalues = _sbc_pvalues({"h_low": ProbabilityPrior(2.0, 8.0),
                            "h_high": ProbabilityPrior(2.0, 8.0),
                            "rho": ProbabilityPrior(8.0, 2.0)})
    assert pvalues["h_high"] < 0.001, pvalues


def test_a_pass_resumed_from_its_checkpoint_is_the_pass_from_the_start():
    """Checkpoint after step 11, go on to step 29: the same particles, weights and moves as one
    pass (bit for bit), through a save and load of the checkpoint's arrays."""
    dn = one_event()
    engine = DynamicEngine(dn)
    steps = 30
    lik = step_likelihoods(dn.slice, steps, [(t, "e", "yes" if t % 7 == 3 else "no")
                                             for t in range(steps)])
    batched = {k: v[None] for k, v in lik.items()}
    space = ParameterSpace(PRIORS)

    def sampler():
        return IBIS(engine, space, one_event_tables, lambda v, s: batched, particles=300, seed=5)

    whole = sampler()
    full = whole.run(steps)[steps - 1]
    first = sampler()
    first.run(12)
    record = [f"step {k}" for k in range(12)]
    saved = Checkpoint.from_arrays(first.checkpoint(record).to_arrays())
    assert saved.record == tuple(record) and saved.snapshot.step == 11
    second = sampler()
    resumed = second.run(steps, resume=saved)[steps - 1]
    np.testing.assert_array_equal(resumed.z, full.z)
    np.testing.assert_array_equal(resumed.logw, full.logw)
    assert resumed.log_evidence == full.log_evidence
    assert second.diagnostics == whole.diagnostics and whole.diagnostics
    with pytest.raises(InferenceError, match="cannot resume"):
        sampler().run(8, resume=saved)  # the checkpoint is past the pass's last step
    with pytest.raises(InferenceError, match="one fingerprint per step"):
        first.checkpoint(record[:-1])


def test_doubt_loosens_probabilities_and_rows_around_the_same_mean():
    priors = {"p": ProbabilityPrior(30.0, 70.0), "e": EffectPrior(0.2, 0.4, 1),
              "row": DirichletPrior((20.0, 30.0, 50.0))}
    plain = ParameterSpace(priors)
    # no doubt: the generator is used exactly as the priors' own samplers use it
    np.testing.assert_array_equal(ParameterSpace(priors, doubt=0.0).sample(
        np.random.default_rng(3), 50), plain.sample(np.random.default_rng(3), 50))
    assert vague(priors["p"]) == ProbabilityPrior(0.6, 1.4)  # mean 0.3, a flat prior's a + b
    assert vague(ProbabilityPrior(4.0, 4.0)) == ProbabilityPrior(1.0, 1.0)  # flat itself
    space = ParameterSpace(priors, doubt=0.2)
    rng = np.random.default_rng(0)
    z = space.sample(rng, 200000)
    values = space.values(z)
    base = plain.values(plain.sample(rng, 200000))
    # the same means (±4 standard errors), wider spreads: 0.8 × Var + 0.2 × the vague Var
    assert values["p"].mean() == pytest.approx(0.3, abs=0.002)
    var = 0.8 * (0.3 * 0.7 / 101) + 0.2 * (0.3 * 0.7 / 3) + 0.0  # same mean: no between term
    assert values["p"].var() == pytest.approx(var, rel=0.03)
    np.testing.assert_allclose(values["row"].mean(axis=0), [0.2, 0.3, 0.5], atol=0.002)
    assert values["row"][:, 2].var() > 3 * base["row"][:, 2].var()
    assert np.mean(values["p"] > 0.6) == pytest.approx(0.2 * np.mean(
        np.random.default_rng(1).beta(0.6, 1.4, 400000) > 0.6), abs=0.003)
    assert np.log(values["e"]).mean() == pytest.approx(np.log(base["e"]).mean(), abs=0.01)
    assert 0 < values["p"].min() and values["p"].max() < 1  # never exactly 0 or 1
    # the density is the mixture's, normalised: prior / proposal weights average 1
    mean, cov = z.mean(axis=0), np.cov(z, rowvar=False)
    from scipy import stats
    draws = rng.multivariate_normal(mean, 2.0 * cov, size=400000)
    w = np.exp(space.log_prior(draws) - stats.multivariate_normal(mean, 2.0 * cov).logpdf(draws))
    assert w.mean() == pytest.approx(1.0, abs=0.03)
    with pytest.raises(ValueError, match="doubt"):
        ParameterSpace(priors, doubt=1.0)
