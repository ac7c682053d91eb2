"""Tests of forecast.model.priors: estimative and strength words → prior distributions."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from forecast.errors import SpecError
from forecast.model.distributions import DirichletPrior, EffectPrior, FixedValue, ProbabilityPrior
from forecast.model.priors import (
    PROBABILITY_BANDS,
    PROBABILITY_SYNONYMS,
    REST_FLOOR,
    STRENGTH_ODDS_RATIOS,
    PriorError,
    beta_for_band,
    check_state_words,
    dirichlet_prior,
    effect_prior,
    ordered_dirichlet,
    ordering,
    probability_prior,
    probability_word,
    row_prior,
    state_words_dirichlet,
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
    # "lowers" with odds ratios above 1 used to be read silently as magnitudes (issue 13):
    # an odds ratio above 1 raises the odds, so the two words contradict each other
    with pytest.raises(PriorError, match="is above 1 but direction is 'lowers'") as info:
        effect_prior("lowers", odds_ratio=[5, 2])
    assert info.value.hint is not None and "write [0.2, 0.5]" in info.value.hint
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



# --- words for every state: a Dirichlet over a node's states (issue 13) ------------------------

WAR = ["collapse", "stalemate", "victory"]
CANONICAL = list(PROBABILITY_BANDS)
EDGE_TOL = 1e-12  # a mean may sit on a band's edge (clipped there), never beyond it by more


def _in_band(prior: DirichletPrior, words: dict[str, object], states: list[str]) -> None:
    means = prior.mean
    assert abs(means.sum() - 1) < 1e-12
    assert all(a > 0 for a in prior.alpha)
    low = sum(_band(str(w))[0] for w in words.values())
    high = sum(_band(str(w))[1] for w in words.values())
    for s, m in zip(states, means, strict=True):
        if s in words:
            lo, hi = _band(str(words[s]))
        else:  # the state without a word: what the others leave, at least REST_FLOOR
            lo, hi = max(REST_FLOOR, 1 - high), 1 - low
        assert lo - EDGE_TOL <= m <= hi + EDGE_TOL, (words, s, m, (lo, hi))


def test_worded_example_has_its_documented_dirichlet() -> None:
    """The worked example of models/README.md, to the digits printed there."""
    words = {"collapse": "unlikely", "stalemate": "likely", "victory": "very unlikely"}
    prior = state_words_dirichlet(words, WAR, "war")
    np.testing.assert_allclose(prior.alpha, [9.98, 23.32, 3.60], atol=0.005)
    np.testing.assert_allclose(prior.mean, [0.2705, 0.6319, 0.0976], atol=5e-5)
    c = sum(prior.alpha)
    intervals = [stats.beta.ppf([0.05, 0.95], a, c - a) for a in prior.alpha]
    np.testing.assert_allclose(intervals, [[0.159, 0.396], [0.499, 0.757], [0.032, 0.188]],
                               atol=5e-4)
    # one concentration for three words: each band holds 81-84% of its state, not exactly 90%
    inside = [stats.beta.cdf(_band(w)[1], a, c - a) - stats.beta.cdf(_band(w)[0], a, c - a)
              for w, a in zip(words.values(), prior.alpha, strict=True)]
    assert all(0.80 < p < 0.85 for p in inside), inside
    assert prior.describe() == ("Dirichlet(9.98, 23.3, 3.6): collapse: unlikely (20–45%), "
                                "stalemate: likely (55–80%), victory: very unlikely (5–20%)")


@pytest.mark.parametrize("words", list(itertools.product(CANONICAL, repeat=3)),
                         ids=lambda w: "/".join(w))
def test_every_triple_of_words_is_refused_or_has_its_means_inside_the_bands(
    words: tuple[str, str, str],
) -> None:
    """All 343 triples: feasible bands (lower edges <= 100% <= upper edges) give means inside
    every band (to 1e-12); the others are refused, saying the sum that fails."""
    given = dict(zip(WAR, words, strict=True))
    low = sum(_band(w)[0] for w in words)
    high = sum(_band(w)[1] for w in words)
    if low <= 1 + 1e-9 and high >= 1 - 1e-9:
        _in_band(state_words_dirichlet(given, WAR), given, WAR)
    else:
        with pytest.raises(PriorError, match="cannot all hold") as info:
            check_state_words(given, WAR, "war")
        assert f"{100 * (low if low > 1 else high):.3g}%" in info.value.message


@pytest.mark.parametrize("words", list(itertools.product(CANONICAL, repeat=3)),
                         ids=lambda w: "/".join(w))
def test_all_but_one_state_worded_leaves_the_rest_to_the_last(words: tuple[str, ...]) -> None:
    """Four states, three worded: the fourth takes the rest, at least REST_FLOOR."""
    states = [*WAR, "other"]
    given = dict(zip(WAR, words, strict=True))
    low = sum(_band(w)[0] for w in words)
    if low <= 1 - REST_FLOOR + 1e-9:
        prior = state_words_dirichlet(given, states)
        _in_band(prior, given, states)
        assert prior.mean[-1] >= REST_FLOOR - EDGE_TOL
        assert prior.label.endswith("other: the rest")
    else:
        with pytest.raises(PriorError, match="leave nothing for other"):
            check_state_words(given, states, "war")


@pytest.mark.parametrize("word", ALL_WORDS)
def test_two_states_keep_exactly_the_beta_of_before(word: str) -> None:
    """A binary row's word is the Beta it always was (same object, same numbers), and the
    Dirichlet rule on two states reproduces it: pseudo-counts (b, a) to 1e-12."""
    prior, states = row_prior({"yes": word}, ["no", "yes"])
    assert states == ("yes",)
    assert prior == probability_prior(word)
    lo, hi = _band(word)
    assert isinstance(prior, ProbabilityPrior) and (prior.a, prior.b) == beta_for_band(lo, hi)
    general = state_words_dirichlet({"yes": word}, ["no", "yes"])
    np.testing.assert_allclose(general.alpha, [prior.b, prior.a], rtol=1e-12)


def test_the_binary_parameters_are_pinned() -> None:
    """The flagship's fingerprint rests on these: Beta(11.7, 24.9) for "unlikely" as before."""
    np.testing.assert_allclose(beta_for_band(0.2, 0.45), (11.6913403468, 24.9226142482),
                               rtol=1e-9)
    np.testing.assert_allclose(beta_for_band(0.05, 0.2), (5.4257453971, 41.4889729395),
                               rtol=1e-9)


def test_narrow_bands_give_a_concentrated_dirichlet() -> None:
    """The same centres, bands half as wide: a larger concentration (sum of pseudo-counts)."""
    def total(half: float) -> float:
        words = {s: {"between": [c - half, c + half]} for s, c in zip(WAR, (0.2, 0.3, 0.5),
                                                                      strict=True)}
        return sum(state_words_dirichlet(words, WAR).alpha)

    wide, narrow = total(0.1), total(0.05)
    assert narrow > 3 * wide  # a band half as wide asks for about four times the counts


def test_a_precise_word_gives_way_less_than_a_vague_one() -> None:
    """The words' means sum past 100%: each moves by its own variance, so "very unlikely"
    (variance 0.0021) moves less than "unlikely" or "likely" (0.0058)."""
    words = {"collapse": "unlikely", "stalemate": "likely", "victory": "very unlikely"}
    prior = state_words_dirichlet(words, WAR)
    own = [probability_prior(w).mean for w in words.values()]
    moved = np.asarray(own) - prior.mean
    assert np.all(moved > 0)
    assert moved[2] < 0.5 * moved[0] and moved[0] == pytest.approx(moved[1], rel=1e-6)


@pytest.mark.parametrize("k", [2, 3, 4, 7, 20])
def test_orderings_give_ordered_means_at_the_rank_order_centroid(k: int) -> None:
    states = [f"s{i}" for i in range(k)]
    order = states[::-1]  # the last state most likely
    prior = ordered_dirichlet(order, states)
    by_rank = prior.mean[::-1]
    assert np.all(np.diff(by_rank) < 0)
    centroid = [sum(1 / j for j in range(r, k + 1)) / k for r in range(1, k + 1)]
    np.testing.assert_allclose(by_rank, centroid, rtol=1e-12)
    assert prior.label.startswith(f"most likely s{k - 1}, then s{k - 2}")


def test_an_ordering_matches_the_uniform_distribution_over_its_order() -> None:
    """Sorting flat Dirichlet draws gives the uniform distribution on the ordered part of the
    simplex: its mean is the centroid, and its standard deviations are the targets the
    concentration fits (within 4 Monte Carlo standard errors of 200,000 draws)."""
    k = 3
    draws = -np.sort(-np.random.default_rng(3).dirichlet(np.ones(k), 200_000), axis=1)
    prior = ordered_dirichlet(["a", "b", "c"], ["a", "b", "c"])
    np.testing.assert_allclose(draws.mean(axis=0), prior.mean,
                               atol=4 * draws.std(axis=0).max() / math.sqrt(len(draws)))
    c = sum(prior.alpha)
    fitted = np.sqrt(prior.mean * (1 - prior.mean) / (c + 1))
    np.testing.assert_allclose(fitted, draws.std(axis=0), rtol=0.25)  # one c for three SDs
    np.testing.assert_allclose(prior.alpha, [8.344, 3.793, 1.517], atol=5e-4)
    np.testing.assert_allclose(ordered_dirichlet(["b", "a"], ["a", "b"]).alpha, [2, 6],
                               rtol=1e-12)


@pytest.mark.parametrize(("text", "names"), [
    ("most likely stalemate, then collapse, then victory", ("stalemate", "collapse", "victory")),
    ("Most  likely a,b,  c", ("a", "b", "c")),
    ("most likely then, then then", ("then", "then")),  # a state may be called "then"
])
def test_ordering_text_is_read_strictly(text: str, names: tuple[str, ...]) -> None:
    assert ordering(text) == names


@pytest.mark.parametrize(("text", "message"), [
    ("stalemate, then collapse", "is not an ordering of states"),
    ("likely", "does not say which state it is for"),
    ("most likely stalemate then collapse", "'stalemate then collapse' is not a state name"),
    ("most likely stalemate", "fewer than two states"),
    ("most likely a, , b", "a state name is missing"),
])
def test_bad_orderings_are_refused_with_a_hint(text: str, message: str) -> None:
    with pytest.raises(PriorError, match=re.escape(message)) as info:
        ordering(text)
    assert info.value.hint and "most likely" in info.value.hint


def test_orderings_must_name_every_state_once() -> None:
    with pytest.raises(PriorError, match="leaves out victory"):
        ordered_dirichlet(["stalemate", "collapse"], WAR, "war")
    with pytest.raises(PriorError, match="more than once"):
        ordered_dirichlet(["stalemate", "stalemate", "victory"], WAR, "war")
    with pytest.raises(PriorError, match="'victroy', which is not a state of 'war'") as info:
        ordered_dirichlet(["stalemate", "victroy", "collapse"], WAR, "war")
    assert info.value.hint == "did you mean 'victory'?"


def test_infeasible_words_name_the_node_the_words_and_the_sums() -> None:
    with pytest.raises(PriorError) as info:
        check_state_words(dict.fromkeys(WAR, "likely"), WAR, "war")
    assert info.value.message == (
        "the words for 'war' cannot all hold: collapse: likely (55–80%), stalemate: likely "
        "(55–80%), victory: likely (55–80%) need at least 165% together, but its 3 states "
        "share 100%")
    assert info.value.hint is not None and "at most 100%" in info.value.hint
    with pytest.raises(PriorError, match="reach at most 60% together") as info:
        check_state_words(dict.fromkeys(WAR, "very unlikely"), WAR, "war")
    assert info.value.hint is not None and "at least 100%" in info.value.hint


@pytest.mark.parametrize(("words", "message"), [
    ({"victory": "unlikely"}, "a worded prior gives one state's probability"),
    ({"collapse": 0.2, "stalemate": "likely"}, "a fixed probability (0.2) cannot sit"),
    ({"collapse": {"beta": [2, 5]}, "stalemate": "likely"}, "has no band"),
    ({"colapse": "unlikely", "stalemate": "likely"}, "'colapse' is not a state of 'war'"),
])
def test_words_that_do_not_fit_the_states_are_refused(words: dict, message: str) -> None:
    with pytest.raises(PriorError, match=re.escape(message)):
        state_words_dirichlet(words, WAR, "war")


def test_words_over_four_states_need_all_but_one() -> None:
    states = [*WAR, "other"]
    with pytest.raises(PriorError, match="gives words to 2 of its 4 states and leaves out "
                                         "victory, other"):
        check_state_words({"collapse": "unlikely", "stalemate": "likely"}, states, "war")


def test_validating_words_for_every_state_imports_no_numpy_or_scipy(tmp_path) -> None:
    """Both new forms are checked from band edges and text alone: `forecast validate` of a
    model using them stays as light as before."""
    import subprocess
    import sys
    from pathlib import Path

    model = tmp_path / "words.yaml"
    model.write_text(WORDED_MODEL, encoding="utf-8")
    code = f"""
import importlib.util, sys, types
found = importlib.util.find_spec("forecast")
package = types.ModuleType("forecast")
package.__path__ = list(found.submodule_search_locations)
sys.modules["forecast"] = package
from forecast.cli import main
main(["validate", {str(model)!r}], standalone_mode=False)
print(sorted(m for m in ("numpy", "scipy", "pandas", "networkx") if m in sys.modules))
"""
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         check=True)
    assert "valid: 2 nodes" in out.stdout, out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


WORDED_MODEL = (Path(__file__).parent / "data" / "specs" / "worded.yaml").read_text(
    encoding="utf-8")
