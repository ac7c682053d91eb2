"""The dynamic engine against enumeration, the static engine and pyAgrum on unrolled networks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast.errors import EvidenceError, InferenceError, SpecError
from forecast.network.dynamic import (
    MAX_FRONTIER,
    DynamicEngine,
    DynamicNetwork,
    step_likelihoods,
)
from forecast.network.exact import ExactEngine
from forecast.network.interop import to_pyagrum
from forecast.network.network import Network
from tests.networks import brute_force, random_dynamic

TOL = 1e-10  # float64 sums of at most a few thousand products


def _findings(rng, net: Network, steps: int, k: int):
    """k random hard findings and k soft ones over (step, node)."""
    hard, soft = [], []
    for _ in range(k):
        node = net.nodes[int(rng.integers(len(net.nodes)))]
        hard.append((int(rng.integers(steps)), node,
                     net.states[node][int(rng.integers(net.card(node)))]))
        node = net.nodes[int(rng.integers(len(net.nodes)))]
        soft.append((int(rng.integers(steps)), node, rng.uniform(0.05, 1.0, net.card(node))))
    hard = list({(t, n): (t, n, s) for t, n, s in hard}.values())  # one state per (step, node)
    return hard, soft


def _unrolled_inputs(hard, soft, net: Network):
    evidence = {f"{n}@{t}": s for t, n, s in hard}
    lik: dict[str, np.ndarray] = {}
    for t, n, vec in soft:
        key = f"{n}@{t}"
        lik[key] = lik.get(key, np.ones(net.card(n))) * np.asarray(vec) / np.max(vec)
    return evidence, lik


@st.composite
def dynamic_case(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    dn = random_dynamic(rng, draw(st.integers(2, 4)))
    steps = draw(st.integers(1, 3))
    hard, soft = _findings(rng, dn.slice, steps, draw(st.integers(0, 2)))
    return dn, steps, hard, soft


@settings(max_examples=40, deadline=None)
@given(dynamic_case())
def test_marginals_and_evidence_match_enumeration_of_the_unrolled_network(case):
    dn, steps, hard, soft = case
    lik = step_likelihoods(dn.slice, steps, hard, soft)
    evidence, unrolled_lik = _unrolled_inputs(hard, soft, dn.slice)
    unrolled = dn.unroll(steps)
    try:
        marg, _, log_pe = brute_force(unrolled, evidence, unrolled_lik)
    except FloatingPointError:  # pragma: no cover
        pytest.skip("enumeration underflow")
    if not np.isfinite(log_pe):
        with pytest.raises(InferenceError):
            DynamicEngine(dn).smooth(lik, steps=steps)
        return
    post = DynamicEngine(dn).smooth(lik, steps=steps)
    assert post.log_evidence.shape == (1,)
    assert post.log_evidence[0] == pytest.approx(log_pe, abs=TOL)
    filtered = DynamicEngine(dn).filter(lik, steps=steps)
    assert filtered.log_evidence[0] == pytest.approx(log_pe, abs=TOL)
    for node in dn.slice.nodes:
        for t in range(steps):
            np.testing.assert_allclose(post.marginals[node][0, t], marg[f"{node}@{t}"],
                                       atol=TOL)


def test_a_long_chain_matches_the_static_engine_on_the_unrolled_network():
    rng = np.random.default_rng(7)
    dn = random_dynamic(rng, 6)
    while len(dn.persistent) < 3:
        dn = random_dynamic(rng, 6)
    steps = 20
    hard, soft = _findings(rng, dn.slice, steps, 12)
    post = DynamicEngine(dn).smooth(step_likelihoods(dn.slice, steps, hard, soft), steps=steps)
    evidence, lik = _unrolled_inputs(hard, soft, dn.slice)
    q = ExactEngine(dn.unroll(steps)).query(evidence, lik)
    assert post.log_evidence[0] == pytest.approx(q.log_evidence, abs=1e-9)
    for node in dn.slice.nodes:
        for t in range(steps):
            np.testing.assert_allclose(post.marginals[node][0, t], q.marginals[f"{node}@{t}"],
                                       atol=1e-10)


def test_pyagrum_agrees_on_an_unrolled_network():
    gum = pytest.importorskip("pyagrum")
    rng = np.random.default_rng(11)
    dn = random_dynamic(rng, 5)
    while len(dn.persistent) < 2:
        dn = random_dynamic(rng, 5)
    steps = 8
    hard, soft = _findings(rng, dn.slice, steps, 6)
    soft = [(t, n, v) for t, n, v in soft if (t, n) not in {(a, b) for a, b, _ in hard}]
    soft = list({(t, n): (t, n, v) for t, n, v in soft}.values())
    post = DynamicEngine(dn).smooth(step_likelihoods(dn.slice, steps, hard, soft), steps=steps)
    bn = to_pyagrum(dn.unroll(steps))  # float64 tables, not a BIF file (single precision)
    ie = gum.LazyPropagation(bn)
    for t, n, s in hard:
        ie.addEvidence(f"{n}@{t}", dn.slice.states[n].index(s))
    for t, n, v in soft:
        ie.addEvidence(f"{n}@{t}", [float(x) for x in v])
    ie.makeInference()
    worst = 0.0
    for node in dn.slice.nodes:
        for t in range(steps):
            theirs = np.asarray(ie.posterior(f"{node}@{t}").toarray())
            worst = max(worst, float(np.abs(post.marginals[node][0, t] - theirs).max()))
    assert worst < 1e-8


def test_batched_draws_equal_a_loop_over_draws_and_keep_their_axis():
    rng = np.random.default_rng(3)
    dn = random_dynamic(rng, 5)
    while not dn.persistent:
        dn = random_dynamic(rng, 5)
    steps, draws = 6, 4
    net = dn.slice
    cpts = {n: rng.dirichlet(np.ones(net.card(n)), size=(draws, *net.cpts[n].shape[:-1]))
            for n in net.nodes}
    trans = {n: rng.dirichlet(np.ones(net.card(n)), size=(draws, *t.shape[:-1]))
             for n, t in dn.transitions.items()}
    hard, soft = _findings(rng, net, steps, 4)
    lik = step_likelihoods(net, steps, hard, soft)
    engine = DynamicEngine(dn)
    batched = engine.smooth(lik, cpts=cpts, transitions=trans)
    assert batched.log_evidence.shape == (draws,)
    for b in range(draws):
        one = engine.smooth(lik, cpts={n: c[b] for n, c in cpts.items()},
                            transitions={n: c[b] for n, c in trans.items()})
        assert one.log_evidence.shape == (1,)  # one draw keeps its batch axis
        np.testing.assert_allclose(batched.log_evidence[b], one.log_evidence[0], atol=1e-12)
        for node in net.nodes:
            np.testing.assert_allclose(batched.marginals[node][b], one.marginals[node][0],
                                       atol=1e-12)
    single = engine.smooth(lik, cpts={n: c[:1] for n, c in cpts.items()},
                           transitions={n: c[:1] for n, c in trans.items()})
    assert single.log_evidence.shape == (1,)


def test_filtering_can_continue_from_where_it_stopped():
    rng = np.random.default_rng(5)
    dn = random_dynamic(rng, 5)
    steps = 9
    hard, soft = _findings(rng, dn.slice, steps, 5)
    lik = step_likelihoods(dn.slice, steps, hard, soft)
    engine = DynamicEngine(dn)
    whole = engine.filter(lik)
    first = engine.filter({n: v[:4] for n, v in lik.items()}, steps=4)
    rest = engine.filter({n: v[4:] for n, v in lik.items()}, steps=steps - 4,
                         start=first.frontier)
    np.testing.assert_allclose(np.concatenate([first.log_increments, rest.log_increments], 1),
                               whole.log_increments, atol=1e-12)
    np.testing.assert_allclose(rest.frontier, whole.frontier, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_an_ancestral_restriction_gives_the_same_marginals_and_evidence(seed):
    """Evidence on a node and its ancestors only: the restricted engine, started from the full
    frontier summed down, gives the same log-increments and the same frontier marginals."""
    rng = np.random.default_rng(seed)
    dn = random_dynamic(rng, 6)
    net = dn.slice
    target = net.order[-1 - int(rng.integers(3))]
    engine = DynamicEngine(dn)
    sub = engine.restricted([target])
    kept = set(sub.network.slice.nodes)
    assert target in kept and all(p in kept for n in kept for p in net.parents[n])
    head = engine.filter(step_likelihoods(net, 3, *_findings(rng, net, 3, 3)))
    hard, soft = _findings(rng, sub.network.slice, 4, 3)
    lik = step_likelihoods(sub.network.slice, 4, hard, soft)
    whole = engine.filter(lik, start=head.frontier)
    part = sub.filter(lik, start=engine.marginal_frontier(head.frontier, sub))
    np.testing.assert_allclose(part.log_increments, whole.log_increments, atol=TOL)
    np.testing.assert_allclose(part.frontier, engine.marginal_frontier(whole.frontier, sub),
                               atol=TOL)
    assert engine.restricted([target]) is sub  # cached


def test_impossible_evidence_names_the_step():
    net = Network({"a": ["no", "yes"], "e": ["no", "yes"]}, {"e": ["a"]},
                  {"a": [0.5, 0.5], "e": [[1.0, 0.0], [0.5, 0.5]]})
    dn = DynamicNetwork(net, {"a": [[1.0, 0.0], [0.0, 1.0]]})  # a never changes
    lik = step_likelihoods(net, 4, [(0, "a", "no"), (3, "e", "yes")])
    with pytest.raises(InferenceError, match="impossible") as caught:
        DynamicEngine(dn).smooth(lik)
    assert "step 3" in str(caught.value)
    assert np.isneginf(DynamicEngine(dn).filter(lik).log_increments[0, 3])


def test_bad_networks_and_inputs_are_one_clear_error():
    net = Network({"a": ["no", "yes"], "b": ["no", "yes"]}, {"b": ["a"]},
                  {"a": [0.5, 0.5], "b": [[0.9, 0.1], [0.2, 0.8]]})
    with pytest.raises(SpecError, match="without memory"):
        DynamicNetwork(net, {"b": np.full((2, 2, 2), 0.5)})  # b persists, its parent a not
    with pytest.raises(SpecError, match="expected"):
        DynamicNetwork(net, {"a": np.full((2, 3), 0.5)})
    with pytest.raises(SpecError, match="belongs to no node"):
        DynamicNetwork(net, {"c": np.full((2, 2), 0.5)})
    big = {f"x{i}": ["0", "1", "2", "3"] for i in range(11)}
    wide = Network(big, {}, {n: np.full(4, 0.25) for n in big})
    with pytest.raises(SpecError, match=f"at most {MAX_FRONTIER:,}"):
        DynamicNetwork(wide, {n: np.full((4, 4), 0.25) for n in big})
    dn = DynamicNetwork(net, {"a": [[0.9, 0.1], [0.1, 0.9]]})
    with pytest.raises(EvidenceError) as caught:
        DynamicEngine(dn).filter({"a": np.ones((3, 3)), "zz": np.ones((3, 2))})
    text = str(caught.value)
    assert "likelihoods['a']" in text and "likelihoods['zz']" in text
    with pytest.raises(EvidenceError, match="step 7 is outside"):
        step_likelihoods(net, 5, [(7, "a", "yes")])
