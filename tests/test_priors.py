"""Tests of forecast.model.priors: estimative and strength words → prior distributions."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from forecast.errors import SpecError
from forecast.model.distributions import DirichletPrior, EffectPrior, FixedValue, ProbabilityPrior
from forecast.model.priors import (
    PROBABILITY_BANDS,
    PROBABILITY_SYNONYMS,
    STRENGTH_ODDS_RATIOS,
    PriorError,
    beta_for_band,
    dirichlet_prior,
    effect_prior,
    probability_prior,
    probability_word,
    strength_word,
)

ALL_WORDS = [*PROBABILITY_BANDS, *PROBABILITY_SYNONYMS]


def _band(word: str) -> tuple[float, float]:
    return PROBABILITY_BANDS[PROBABILITY_SYNONYMS.get(word, word)]


# --- probability words ----------------------------------------------------------------------


@pytest.mark.parametrize("word", ALL_WORDS)
def test_word_prior_quantiles_are_the_band_edges(word: str) -> None:
    lo, hi = _band(word)
    prior = probability_prior(word)
    assert isinstance(prior, ProbabilityPrior)
    q = stats.beta.ppf([0.05, 0.95], prior.a, prior.b)
    np.testing.assert_allclose(q, [lo, hi], rtol=0, atol=1e-6)
    assert lo < prior.mean < hi
    # the quantile function agrees with scipy's and with the edges
    np.testing.assert_allclose(prior.ppf([0.05, 0.95]), [lo, hi], atol=1e-6)


def test_bands_are_ordered_and_contiguous() -> None:
    bands = list(PROBABILITY_BANDS.values())
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(bands))
    means = [probability_prior(w).mean for w in PROBABILITY_BANDS]
    assert means == sorted(means)


def test_synonyms_and_spelling_variants_give_the_same_prior() -> None:
    assert probability_prior("probable") == probability_prior("likely")
    assert probability_prior("Very_Unlikely") == probability_prior("very unlikely")
    assert probability_prior("  highly   probable ") == probability_prior("very likely")
    assert probability_word("remote") == ("almost no chance", (0.01, 0.05))


def test_unknown_word_gets_a_hint_from_the_vocabulary() -> None:
    with pytest.raises(PriorError) as info:
        probability_prior("likley")
    assert info.value.hint == "did you mean 'likely'?"
    assert isinstance(info.value, SpecError) and isinstance(info.value, ValueError)
    with pytest.raises(PriorError) as info:
        probability_prior("perhaps")
    assert info.value.hint is not None and "unlikely" in info.value.hint


def test_word_prior_describe() -> None:
    text = probability_prior("unlikely").describe()
    assert text.startswith("Beta(") and text.endswith("unlikely (20–45%)")


def test_band_fit_is_cached() -> None:
    beta_for_band.cache_clear()
    probability_prior("likely")
    probability_prior("probable")
    assert beta_for_band.cache_info().hits >= 1


# --- other probability forms ------------------------------------------------------------------


@pytest.mark.parametrize("band", [(0.2, 0.55), (0.01, 0.99), (0.3, 0.31), (0.001, 0.002)])
def test_between_fits_a_custom_band(band: tuple[float, float]) -> None:
    prior = probability_prior({"between": list(band)})
    np.testing.assert_allclose(stats.beta.ppf([0.05, 0.95], prior.a, prior.b), band, atol=1e-6)
    assert "between" in prior.describe()


@pytest.mark.parametrize("band", [[0.5, 0.4], [0.0, 0.5], [0.5, 1.0], [0.5], "x"])
def test_bad_between_is_rejected(band: object) -> None:
    with pytest.raises(PriorError):
        probability_prior({"between": band})


def test_numbers_and_beta_forms() -> None:
    assert probability_prior(0.3) == FixedValue(0.3)
    assert probability_prior(1) == FixedValue(1.0)
    assert probability_prior({"beta": [2, 8]}) == ProbabilityPrior(2.0, 8.0, "")
    for bad in (1.5, -0.1, True, None, [0.2], {"beta": [0, 1]}, {"bta": [1, 2]}):
        with pytest.raises(PriorError):
            probability_prior(bad)
    with pytest.raises(PriorError) as info:
        probability_prior({"betweem": [0.1, 0.2]})
    assert info.value.hint == "did you mean 'between'?"


# --- effects ----------------------------------------------------------------------------------


@pytest.mark.parametrize("word", list(STRENGTH_ODDS_RATIOS))
@pytest.mark.parametrize("direction", ["raises", "lowers"])
def test_strength_prior_has_odds_ratio_quantiles_and_fixed_sign(word: str, direction: str) -> None:
    lo, hi = STRENGTH_ODDS_RATIOS[word]
    prior = effect_prior(direction, strength=word)
    assert isinstance(prior, EffectPrior)
    sign = 1 if direction == "raises" else -1
    assert prior.sign == sign
    magnitude = stats.lognorm(prior.sigma, scale=math.exp(prior.mu))
    np.testing.assert_allclose(np.exp(magnitude.ppf([0.05, 0.95])), [lo, hi], rtol=1e-9)
    # ppf is the quantile function of the signed effect: increasing in u
    q = prior.ppf([0.05, 0.5, 0.95])
    assert np.all(np.diff(q) > 0)
    edges = sorted(sign * math.log(x) for x in (lo, hi))
    np.testing.assert_allclose(q[[0, 2]], edges, rtol=1e-9)
    draws = prior.sample(np.random.default_rng(1), 100_000)
    assert np.all(np.sign(draws) == sign)
    assert abs(draws.mean() - prior.mean) < 0.01 * abs(prior.mean)
    assert np.quantile(draws, 0.05) == pytest.approx(q[0], rel=0.02)


def test_strengths_are_ordered() -> None:
    means = [effect_prior("raises", strength=w).mean for w in STRENGTH_ODDS_RATIOS]
    assert means == sorted(means)
    assert strength_word("Very_Strong")[0] == "very strong"
    with pytest.raises(PriorError) as info:
        strength_word("moderat")
    assert info.value.hint == "did you mean 'moderate'?"


def test_odds_ratio_ranges() -> None:
    up = effect_prior("raises", odds_ratio=[2, 5])
    down = effect_prior("lowers", odds_ratio=[0.2, 0.5])  # written as odds ratios below 1
    assert (down.mu, down.sigma, down.sign) == pytest.approx((up.mu, up.sigma, -1))
    assert effect_prior("lowers", odds_ratio=[5, 2]) == down.__class__(
        up.mu, up.sigma, -1, "lowers, odds ratio 2–5"
    )
    for direction, bad in [
        ("raises", [0.5, 2]),
        ("raises", [0.2, 0.5]),
        ("lowers", [1, 3]),
        ("raises", [2, 2]),
        ("raises", [-1, 2]),
    ]:
        with pytest.raises(PriorError):
            effect_prior(direction, odds_ratio=bad)


def test_fixed_log_odds_must_agree_with_direction() -> None:
    assert effect_prior("lowers", log_odds=-1.2) == FixedValue(-1.2, "lowers, log-odds -1.2")
    for direction, value in [("lowers", 0.5), ("raises", -0.5), ("raises", 0.0)]:
        with pytest.raises(PriorError, match="contradicts"):
            effect_prior(direction, log_odds=value)


def test_effect_needs_one_magnitude_and_a_direction() -> None:
    with pytest.raises(PriorError, match="exactly one"):
        effect_prior("raises")
    with pytest.raises(PriorError, match="exactly one"):
        effect_prior("raises", strength="weak", log_odds=1.0)
    with pytest.raises(PriorError) as info:
        effect_prior("raise", strength="weak")
    assert info.value.hint == "did you mean 'raises'?"


# --- Dirichlet, fixed values, PyMC hook ------------------------------------------------------


def test_dirichlet_prior() -> None:
    prior = dirichlet_prior([7, 3])
    np.testing.assert_allclose(prior.mean, [0.7, 0.3])
    assert prior.shape == (2,)
    draws = prior.sample(np.random.default_rng(0), 5)
    assert draws.shape == (5, 2)
    u = np.random.default_rng(0).random((1000, 2))
    rows = prior.ppf(u)
    np.testing.assert_allclose(rows.sum(axis=1), 1)
    # the ppf transform has the right distribution: mean of 200k transformed uniforms
    big = prior.ppf(np.random.default_rng(2).random((200_000, 2)))
    np.testing.assert_allclose(big.mean(axis=0), [0.7, 0.3], atol=3e-3)
    assert prior.describe() == "Dirichlet(7, 3)"
    for bad in ([1, 0], [1], [-1, 2]):
        with pytest.raises(PriorError):
            dirichlet_prior(bad)


def test_fixed_values() -> None:
    scalar = FixedValue(0.25)
    assert scalar.shape == () and scalar.mean == 0.25
    assert scalar.sample(np.random.default_rng(0), 3).tolist() == [0.25] * 3
    assert scalar.ppf(np.zeros(4)).shape == (4,)
    row = FixedValue((0.2, 0.8))
    assert row.shape == (2,)
    assert row.sample(np.random.default_rng(0), 3).shape == (3, 2)
    assert row.describe() == "fixed (0.2, 0.8)"


def test_every_prior_names_its_pymc_family() -> None:
    cases = [
        (probability_prior("likely"), "beta", {"alpha", "beta"}),
        (effect_prior("raises", strength="weak"), "signed_lognormal", {"mu", "sigma", "sign"}),
        (dirichlet_prior([1, 2, 3]), "dirichlet", {"a"}),
        (FixedValue(0.5), "fixed", {"value"}),
    ]
    for prior, family, keys in cases:
        assert prior.family == family
        assert set(prior.params()) == keys
    assert isinstance(dirichlet_prior([1, 2]), DirichletPrior)


def test_every_prior_creates_its_own_pymc_variable() -> None:
    import pymc as pm

    beta, lowers = probability_prior("likely"), effect_prior("lowers", strength="weak")
    raises, row = effect_prior("raises", strength="strong"), dirichlet_prior([1, 2, 3])
    with pm.Model(coords={"s": ["a", "b", "c"]}) as model:
        for name, prior in [("p", beta), ("lo", lowers), ("hi", raises)]:
            prior.to_pymc(name)
        row.to_pymc("r", dims="s")
        fixed = FixedValue((0.2, 0.8)).to_pymc("f")
    assert [rv.name for rv in model.free_RVs] == ["p", "lo", "hi", "r"]
    assert model.named_vars_to_dims["r"] == ("s",)
    np.testing.assert_array_equal(fixed, [0.2, 0.8])  # a constant, not a variable
    # log-densities on the constrained values, against scipy (tolerance: PyTensor's log-Beta)
    point = {"p": 0.7, "lo": -0.4, "hi": 2.0, "r": np.array([0.2, 0.3, 0.5])}
    got = [float(pm.logp(model[n], v).eval(mode="FAST_COMPILE")) for n, v in point.items()]
    expected = [stats.beta.logpdf(0.7, beta.a, beta.b),
                stats.lognorm.logpdf(0.4, lowers.sigma, scale=math.exp(lowers.mu)),
                stats.lognorm.logpdf(2.0, raises.sigma, scale=math.exp(raises.mu)),
                stats.dirichlet.logpdf(point["r"], row.alpha)]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # the sign is a constraint: a positive value of a "lowers" effect has no density
    assert pm.logp(model["lo"], 0.4).eval(mode="FAST_COMPILE") == -np.inf


def test_the_normal_quantile_constant_is_scipys_to_the_last_bit():
    from scipy import stats

    from forecast.model import priors

    assert priors._Z == float(stats.norm.ppf(priors.QUANTILES[1]))


def test_validating_a_model_imports_no_numpy_scipy_pandas_or_networkx():
    """The cold start of `forecast validate`: the CLI and the model-loading path (the package's
    own __init__ aside, which loads its names lazily) import only what reading a model needs."""
    import subprocess
    import sys
    from pathlib import Path

    code = """
import importlib.util, sys, types
found = importlib.util.find_spec("forecast")
package = types.ModuleType("forecast")
package.__path__ = list(found.submodule_search_locations)
sys.modules["forecast"] = package
from forecast.cli import main
main(["validate", "models/afghan_caliphate.yaml"], standalone_mode=False)
print(sorted(m for m in ("numpy", "scipy", "pandas", "networkx", "pymc", "matplotlib")
             if m in sys.modules))
"""
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout

