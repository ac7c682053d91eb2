"""Tests of forecast.model.cpts: parameters of a spec, batched CPTs, prior-mean networks."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import special

from forecast.errors import SpecError
from forecast.model.arrays import pytensor_ops
from forecast.model.cpts import build_cpts, node_cpt, prior_mean_network
from forecast.model.distributions import FixedValue, ProbabilityPrior
from forecast.model.load import load_spec, parse_spec
from forecast.model.parameters import Parameter, parameter_table, parameters, sample_parameters
from forecast.model.schema import ModelSpec
from forecast.network.network import Network

EXAMPLE = Path(__file__).resolve().parents[1] / "models" / "afghan_caliphate.yaml"

SMALL = """\
model: {name: small, title: Small}
nodes:
  a:
    label: A
    states: [lo, mid, hi]
    definition: {kind: condition, states: {lo: l, mid: m, hi: h}}
    cpt: {table: {assumption: t, rows: [{counts: {lo: 5, mid: 3, hi: 2}}]}}
  b:
    label: B
    states: ["no", "yes"]
    definition: {kind: condition, states: {"no": n, "yes": y}}
    cpt: {table: {assumption: t, rows: [{prior: {"yes": likely}}]}}
  l:
    label: L
    states: ["no", "yes"]
    parents: [a, b]
    definition: {kind: condition, states: {"no": n, "yes": y}}
    cpt:
      logit:
        baseline: {prior: unlikely, assumption: t}
        effects:
          - {parent: a, state: mid, direction: raises, strength: weak, assumption: t}
          - {parent: a, state: hi, direction: raises, strength: strong, assumption: t}
          - {parent: b, direction: lowers, strength: moderate, assumption: t}
  m:
    label: M
    states: [fires, quiet]
    parents: [b, a]
    definition: {kind: condition, states: {fires: f, quiet: q}}
    cpt:
      noisy_or:
        outcome: fires
        leak: {prior: very unlikely, assumption: t}
        links:
          - {parent: a, state: [mid, hi], prior: likely, assumption: t}
          - {parent: b, prior: unlikely, assumption: t}
  t:
    label: T
    states: [x, y, z]
    parents: [b]
    definition: {kind: condition, states: {x: x, y: y, z: z}}
    cpt:
      table:
        assumption: t
        rows:
          - {when: {b: "yes"}, probabilities: {x: 0.2, y: 0.3, z: 0.5}}
          - {when: {b: "no"}, counts: {x: 1, y: 2, z: 7}}
"""


@pytest.fixture(scope="module")
def small() -> ModelSpec:
    return parse_spec(SMALL)


@pytest.fixture(scope="module")
def example() -> ModelSpec:
    return load_spec(EXAMPLE)


# --- parameters ---------------------------------------------------------------------------------


def test_parameter_names_are_stable_and_explicit(example: ModelSpec) -> None:
    names = [p.name for p in parameters(example)]
    assert names == [
        "reconciliation.row[0]",
        "conflict.row[reconciliation=failed]",
        "conflict.row[reconciliation=achieved]",
        "hardliners_back_isis.row[reconciliation=failed]",
        "hardliners_back_isis.row[reconciliation=achieved]",
        "pro_isis_strength.leak",
        "pro_isis_strength.link.hardliners_back_isis",
        "pro_isis_strength.link.conflict",
        "caliphate.baseline",
        "caliphate.effect.reconciliation=achieved",
        "caliphate.effect.conflict=worsening",
        "caliphate.effect.conflict=steady",
        "caliphate.effect.pro_isis_strength=strong",
        "pakistan_spillover.row[conflict=easing]",
        "pakistan_spillover.row[conflict=steady]",
        "pakistan_spillover.row[conflict=worsening]",
    ]
    assert len(set(names)) == len(names)
    # the node summary counts the same parameters
    counts = example.summary().set_index("node")["n_params"].to_dict()
    assert counts == {n: sum(p.node == n for p in parameters(example)) for n in example.nodes}


def test_parameters_carry_prior_node_and_justification(example: ModelSpec) -> None:
    by_name = {p.name: p for p in parameters(example)}
    effect = by_name["caliphate.effect.reconciliation=achieved"]
    assert isinstance(effect, Parameter)
    assert (effect.node, effect.role, effect.parent, effect.states) == (
        "caliphate",
        "effect",
        "reconciliation",
        ("achieved",),
    )
    assert effect.claims == ("C13",) and effect.assumption
    assert effect.prior.mean < 0 and effect.path == "nodes.caliphate.cpt.logit.effects[0]"
    row = by_name["hardliners_back_isis.row[reconciliation=achieved]"]
    assert row.claims == ("C12b",) and row.states == ("yes",)
    assert row.when == (("reconciliation", "achieved"),)
    assert isinstance(row.prior, ProbabilityPrior)
    link = by_name["pro_isis_strength.link.conflict"]
    assert link.states == ("worsening",) and link.claims == ("C12a",)
    assert by_name["conflict.row[reconciliation=failed]"].shape == (3,)
    table = parameter_table(example)
    assert isinstance(table, pd.DataFrame) and len(table) == len(by_name)
    assert list(table.columns) == [
        "name",
        "node",
        "role",
        "prior",
        "mean",
        "fixed",
        "claims",
        "assumption",
    ]


def test_multiple_links_per_parent_get_distinct_names() -> None:
    text = SMALL.replace(
        "          - {parent: a, state: [mid, hi], prior: likely, assumption: t}\n",
        "          - {parent: a, state: mid, prior: unlikely, assumption: t}\n"
        "          - {parent: a, state: [hi], prior: likely, assumption: t}\n",
    )
    names = [p.name for p in parameters(parse_spec(text)) if p.node == "m"]
    assert names == ["m.leak", "m.link.a=mid", "m.link.a=hi", "m.link.b"]


def test_sample_parameters_shapes_and_seed(small: ModelSpec) -> None:
    draws = sample_parameters(small, 7, np.random.default_rng(3))
    assert draws["a.row[0]"].shape == (7, 3)
    assert draws["l.effect.b=yes"].shape == (7,) and np.all(draws["l.effect.b=yes"] < 0)
    assert draws["t.row[b=yes]"].shape == (7, 3)
    np.testing.assert_array_equal(draws["t.row[b=yes]"], np.tile([0.2, 0.3, 0.5], (7, 1)))
    again = sample_parameters(small, 7, np.random.default_rng(3))
    assert all(np.array_equal(draws[k], again[k]) for k in draws)


# --- CPT arrays ----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 257])
def test_build_cpts_shapes_and_rows(example: ModelSpec, n: int) -> None:
    draws = sample_parameters(example, n, np.random.default_rng(n))
    cpts = build_cpts(example, draws)
    for name, node in example.nodes.items():
        cards = tuple(example.card(p) for p in node.parents)
        assert cpts[name].shape == (n, *cards, len(node.states))
        assert np.all((cpts[name] >= 0) & (cpts[name] <= 1))
        np.testing.assert_allclose(cpts[name].sum(axis=-1), 1, atol=1e-12)
        # each draw is a valid network
    Network(example.states, example.parents, {k: v[-1] for k, v in cpts.items()})


def _values(small: ModelSpec) -> dict[str, np.ndarray]:
    return sample_parameters(small, 5, np.random.default_rng(11))


def test_logit_formula_by_hand(small: ModelSpec) -> None:
    v = _values(small)
    cpt = build_cpts(small, v)["l"]
    a_states, b_states = ["lo", "mid", "hi"], ["no", "yes"]
    for k in range(5):
        for i, j in itertools.product(range(3), range(2)):
            eta = special.logit(v["l.baseline"][k])
            if a_states[i] != "lo":
                eta += v[f"l.effect.a={a_states[i]}"][k]
            if b_states[j] == "yes":
                eta += v["l.effect.b=yes"][k]
            p = 1 / (1 + np.exp(-eta))
            assert cpt[k, i, j, 1] == pytest.approx(p, abs=1e-14)
            assert cpt[k, i, j, 0] == pytest.approx(1 - p, abs=1e-14)


def test_noisy_or_formula_by_hand(small: ModelSpec) -> None:
    v = _values(small)
    cpt = build_cpts(small, v)["m"]  # parents [b, a]; outcome "fires" is the FIRST state
    assert cpt.shape == (5, 2, 3, 2)
    for k in range(5):
        for j, i in itertools.product(range(2), range(3)):
            q = 1 - v["m.leak"][k]
            if i > 0:  # a in [mid, hi]
                q *= 1 - v["m.link.a"][k]
            if j == 1:  # b = yes (default: second state)
                q *= 1 - v["m.link.b"][k]
            assert cpt[k, j, i, 0] == pytest.approx(1 - q, abs=1e-14)
            assert cpt[k, j, i, 1] == pytest.approx(q, abs=1e-14)


def test_table_rows_land_in_place(small: ModelSpec) -> None:
    v = _values(small)
    cpts = build_cpts(small, v)
    np.testing.assert_array_equal(cpts["a"], v["a.row[0]"])
    np.testing.assert_array_equal(cpts["b"][:, 1], v["b.row[0]"])
    np.testing.assert_allclose(cpts["b"][:, 0], 1 - v["b.row[0]"])
    np.testing.assert_array_equal(cpts["t"][:, 1], v["t.row[b=yes]"])
    np.testing.assert_array_equal(cpts["t"][:, 0], v["t.row[b=no]"])


def test_unbatched_values_and_bad_input(small: ModelSpec) -> None:
    means = {p.name: p.prior.mean for p in parameters(small)}
    cpts = build_cpts(small, means)
    assert cpts["l"].shape == (1, 3, 2, 2)
    mixed = dict(means, **{"l.baseline": np.array([0.1, 0.2, 0.3])})
    assert build_cpts(small, mixed)["l"].shape == (3, 3, 2, 2)
    with pytest.raises(ValueError, match="no values for parameter"):
        build_cpts(small, {k: x for k, x in means.items() if k != "m.leak"})
    with pytest.raises(ValueError, match="shape"):
        build_cpts(small, dict(means, **{"a.row[0]": np.ones((4, 2))}))


@pytest.mark.parametrize("backend", ["numpy", "pytensor"])
def test_a_logit_effect_shifts_the_log_odds_at_its_one_parent_state(small, backend) -> None:
    # The two CPT formulas once differed here: numpy indexed an effect's p.states[0], PyTensor
    # every state in p.states. The model language gives an effect exactly one (non-reference)
    # state, so the one formula indexes p.states, which holds exactly that state.
    effects = {p.name: p for p in parameters(small) if p.role == "effect"}
    assert {n: p.states for n, p in effects.items()} == {
        "l.effect.a=mid": ("mid",), "l.effect.a=hi": ("hi",), "l.effect.b=yes": ("yes",)}
    values = {"l.baseline": 0.2, "l.effect.a=mid": 1.0, "l.effect.a=hi": 3.0,
              "l.effect.b=yes": -0.5}
    batch = {k: np.array([v]) for k, v in values.items()}
    if backend == "numpy":
        cpt = node_cpt(small, "l", batch)[0]
    else:
        import pytensor.tensor as pt

        inputs = {k: pt.dvector(k) for k in batch}
        graph = node_cpt(small, "l", inputs, ops=pytensor_ops())
        cpt = graph.eval({inputs[k]: v for k, v in batch.items()}, mode="FAST_COMPILE")[0]
    # a = lo (the reference) gets no shift, mid only its own, hi only its own
    eta = special.logit(0.2) + np.array([0.0, 1.0, 3.0])[:, None] + np.array([0.0, -0.5])
    np.testing.assert_allclose(cpt[..., 1], special.expit(eta), rtol=0, atol=1e-15)
    np.testing.assert_allclose(cpt.sum(axis=-1), 1.0, rtol=0, atol=1e-15)


def test_an_effect_names_one_state() -> None:
    two = SMALL.replace("{parent: a, state: mid,", "{parent: a, state: [mid, hi],")
    with pytest.raises(SpecError, match="state"):
        parse_spec(two)


# --- prior-mean network -------------------------------------------------------------------------


def _monte_carlo(spec: ModelSpec, draws: int, seed: int) -> tuple[dict, dict]:
    """Mean CPTs and their standard errors from `draws` prior draws (in chunks)."""
    rng = np.random.default_rng(seed)
    total: dict[str, np.ndarray] = {}
    squares: dict[str, np.ndarray] = {}
    chunk = 250_000
    for _ in range(draws // chunk):
        cpts = build_cpts(spec, sample_parameters(spec, chunk, rng))
        for k, c in cpts.items():
            total[k] = total.get(k, 0) + c.sum(axis=0)
            squares[k] = squares.get(k, 0) + (c**2).sum(axis=0)
    mean = {k: t / draws for k, t in total.items()}
    se = {k: np.sqrt(np.maximum(squares[k] / draws - mean[k] ** 2, 0) / draws) for k in total}
    return mean, se


def test_prior_mean_network_matches_monte_carlo(small: ModelSpec) -> None:
    net = prior_mean_network(small)
    assert isinstance(net, Network) and net.name == "small"
    assert dict(net.parents) == small.parents and dict(net.states) == small.states
    mc, se = _monte_carlo(small, 2_000_000, seed=5)
    for name in small.nodes:
        # Tolerance: the 1e-4 asked of the quasi-Monte Carlo mean, plus 4 standard errors of
        # the brute-force reference itself (at most ~1.5e-4 here with 2e6 draws).
        err = np.abs(net.cpts[name] - mc[name])
        assert np.all(err < 1e-4 + 4 * se[name]), (name, err.max(), se[name].max())
    logit_err = np.abs(net.cpts["l"] - mc["l"])
    assert logit_err.max() < 2e-4


def test_logit_prior_mean_against_quadrature() -> None:
    text = SMALL.replace("parents: [a, b]", "parents: [b]").replace(
        "          - {parent: a, state: mid, direction: raises, strength: weak, assumption: t}\n"
        "          - {parent: a, state: hi, direction: raises, strength: strong, assumption: t}\n",
        "",
    )
    spec = parse_spec(text)
    by_name = {p.name: p.prior for p in parameters(spec)}
    base, effect = by_name["l.baseline"], by_name["l.effect.b=yes"]

    # Gauss–Jacobi nodes for the Beta baseline, Gauss–Hermite for the normal log-magnitude:
    # exact to ~1e-12 for this smooth integrand, and independent of the ppf transforms.
    x, wx = special.roots_jacobi(80, base.b - 1, base.a - 1)
    z, wz = special.roots_hermitenorm(80)
    p, e = (1 + x) / 2, effect.sign * np.exp(effect.mu + effect.sigma * z)
    exact = float((wx / wx.sum()) @ special.expit(special.logit(p)[:, None] + e) @ (wz / wz.sum()))
    net = prior_mean_network(spec)
    assert net.cpts["l"][1, 1] == pytest.approx(exact, abs=1e-6)
    # at the reference configuration the entry is the baseline's own mean
    assert net.cpts["l"][0, 1] == pytest.approx(base.mean, abs=1e-6)


def test_prior_mean_is_not_the_plug_in(small: ModelSpec) -> None:
    """E[sigmoid(η)] differs from sigmoid(E[η]); tables and noisy-OR are exact either way."""
    net = prior_mean_network(small)
    means = {p.name: p.prior.mean for p in parameters(small)}
    plug_in = {k: v[0] for k, v in build_cpts(small, means).items()}
    assert np.abs(net.cpts["l"] - plug_in["l"]).max() > 0.005
    for name in ("a", "b", "m", "t"):
        np.testing.assert_allclose(net.cpts[name], plug_in[name], atol=1e-12)


def test_fixed_logit_parameters_need_no_quadrature(small: ModelSpec) -> None:
    text = (
        SMALL.replace(
            "baseline: {prior: unlikely, assumption: t}", "baseline: {prior: 0.3, assumption: t}"
        )
        .replace("strength: weak", "log_odds: 0.5")
        .replace("strength: strong", "log_odds: 2")
        .replace("direction: lowers, strength: moderate", "direction: lowers, log_odds: -1")
    )
    spec = parse_spec(text)
    assert all(p.fixed for p in parameters(spec) if p.node == "l")
    cpt = prior_mean_network(spec).cpts["l"]
    assert cpt[2, 1, 1] == pytest.approx(special.expit(special.logit(0.3) + 2 - 1))
    assert isinstance(parameters(spec)[2].prior, FixedValue)


# --- random specs round-trip through the language -------------------------------------------

WORDS = [
    "almost no chance",
    "very unlikely",
    "unlikely",
    "roughly even chance",
    "likely",
    "very likely",
    "almost certain",
    "remote",
    "probable",
]


@st.composite
def probability(draw: st.DrawFn) -> object:
    kind = draw(st.sampled_from(["word", "number", "beta", "between"]))
    if kind == "word":
        return draw(st.sampled_from(WORDS))
    if kind == "number":
        return draw(st.floats(0.01, 0.99))
    if kind == "beta":
        return {"beta": [draw(st.floats(0.5, 20)), draw(st.floats(0.5, 20))]}
    lo = draw(st.floats(0.02, 0.9))
    return {"between": [lo, lo + draw(st.floats(0.02, 0.09))]}


@st.composite
def magnitude(draw: st.DrawFn, sign: int) -> dict[str, object]:
    kind = draw(st.sampled_from(["strength", "odds_ratio", "log_odds"]))
    if kind == "strength":
        return {"strength": draw(st.sampled_from(["weak", "moderate", "strong", "very strong"]))}
    if kind == "odds_ratio":  # above 1 raises the odds; a lowering effect's are below 1
        lo = draw(st.floats(1.1, 5))
        pair = [lo, lo * draw(st.floats(1.5, 4))]
        return {"odds_ratio": pair if sign > 0 else [1 / pair[1], 1 / pair[0]]}
    return {"log_odds": sign * draw(st.floats(0.1, 3))}


@st.composite
def random_spec(draw: st.DrawFn) -> dict[str, object]:
    n = draw(st.integers(1, 6))
    names = [f"v{i}" for i in range(n)]
    states = {v: (["no", "yes"] if draw(st.booleans()) else ["low", "mid", "high"]) for v in names}
    nodes: dict[str, object] = {}
    for i, v in enumerate(names):
        parents = draw(st.lists(st.sampled_from(names[:i]), max_size=3, unique=True)) if i else []
        binary = len(states[v]) == 2
        form = draw(st.sampled_from(["table", "logit", "noisy_or"] if binary else ["table"]))
        if form == "table":
            rows = []
            for config in itertools.product(*(states[p] for p in parents)):
                row: dict[str, object] = {"when": dict(zip(parents, config, strict=True))}
                how = draw(st.sampled_from(["prior", "counts", "probabilities"]))
                if how == "prior" and binary:
                    row["prior"] = {states[v][1]: draw(probability())}
                elif how == "counts":
                    row["counts"] = {s: draw(st.floats(0.2, 10)) for s in states[v]}
                else:
                    weights = [draw(st.floats(0.1, 1)) for _ in states[v]]
                    row["probabilities"] = {
                        s: w / sum(weights) for s, w in zip(states[v], weights, strict=True)
                    }
                rows.append(row)
            cpt: dict[str, object] = {"table": {"claims": ["C1"], "rows": rows}}
        elif form == "logit":
            effects = []
            for p in parents:
                targets = states[p][1:] if len(states[p]) == 3 else [None]
                for s in draw(st.lists(st.sampled_from(targets), min_size=1, unique=True)):
                    direction = draw(st.sampled_from(["raises", "lowers"]))
                    effect = {"parent": p, "direction": direction, "assumption": "a"}
                    if s is not None:
                        effect["state"] = s
                    effect.update(draw(magnitude(1 if direction == "raises" else -1)))
                    effects.append(effect)
            cpt = {"logit": {"baseline": draw(probability()), "effects": effects}}
        else:
            links = []
            for p in parents:
                link: dict[str, object] = {
                    "parent": p,
                    "prior": draw(probability()),
                    "claims": ["C1"],
                }
                if len(states[p]) == 3:
                    link["state"] = draw(
                        st.lists(st.sampled_from(states[p][1:]), min_size=1, unique=True)
                    )
                links.append(link)
            cpt = {"noisy_or": {"leak": draw(probability()), "links": links}}
        kind = draw(st.sampled_from(["condition", "event"]))
        definition: dict[str, object] = {"kind": kind, "states": {s: s for s in states[v]}}
        if kind == "event":
            definition["window"] = {"months": draw(st.integers(1, 36))}
        nodes[v] = {
            "label": v.upper(),
            "states": states[v],
            "parents": parents,
            "definition": definition,
            "cpt": cpt,
        }
    order = draw(st.permutations(names))  # parents need not come first in the file
    claims = {"C1": {"quote": "q", "paragraph": 1}} if "'C1'" in repr(nodes) else {}
    return {
        "model": {"name": "random", "title": "Random"},
        "claims": claims,
        "nodes": {v: nodes[v] for v in order},
    }


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_spec())
def test_random_specs_round_trip(raw: dict[str, object]) -> None:
    text = yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)
    spec = parse_spec(text, filename="random.yaml")
    assert list(spec.nodes) == list(raw["nodes"])  # type: ignore[call-overload]
    net = prior_mean_network(spec, qmc_log2=10)
    for name, cpt in net.cpts.items():
        assert np.all((cpt >= 0) & (cpt <= 1))
        np.testing.assert_allclose(cpt.sum(axis=-1), 1, atol=1e-9)
        assert cpt.shape == (*(spec.card(p) for p in spec.parents[name]), spec.card(name))
    draws = build_cpts(spec, sample_parameters(spec, 3, np.random.default_rng(0)))
    assert all(np.allclose(c.sum(axis=-1), 1) for c in draws.values())
