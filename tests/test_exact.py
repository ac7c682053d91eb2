from __future__ import annotations

import os

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecast import EvidenceError, InferenceError, Network
from forecast.network.exact import ExactEngine, query
from tests.networks import brute_force, random_network


def sprinkler() -> Network:
    return Network(
        states={"rain": ["no", "yes"], "sprinkler": ["off", "on"], "wet": ["no", "yes"]},
        parents={"sprinkler": ["rain"], "wet": ["sprinkler", "rain"]},
        cpts={
            "rain": [0.8, 0.2],
            "sprinkler": [[0.6, 0.4], [0.99, 0.01]],
            "wet": [[[1.0, 0.0], [0.2, 0.8]], [[0.1, 0.9], [0.01, 0.99]]],
        },
        name="sprinkler",
    )


def test_hand_computed_sprinkler():
    post = query(sprinkler(), {"wet": "yes"})
    # P(wet) = Σ P(r) P(s|r) P(w|s,r): 0.8*(0.6*0 + 0.4*0.9) + 0.2*(0.99*0.8 + 0.01*0.99)
    p_wet = 0.8 * 0.4 * 0.9 + 0.2 * (0.99 * 0.8 + 0.01 * 0.99)
    p_rain = 0.2 * (0.99 * 0.8 + 0.01 * 0.99) / p_wet
    assert post.log_evidence == pytest.approx(np.log(p_wet), abs=1e-12)
    np.testing.assert_allclose(post.marginals["rain"], [1 - p_rain, p_rain], atol=1e-12)
    np.testing.assert_array_equal(post.marginals["wet"], [0.0, 1.0])


@st.composite
def network_and_evidence(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(1, 10))
    rng = np.random.default_rng(seed)
    net = random_network(rng, n, max_parents=3, cards=(2, 4))
    hard, soft = {}, {}
    for node in net.nodes:
        kind = draw(st.sampled_from(["none", "none", "hard", "soft", "both"]))
        if kind in ("hard", "both"):
            hard[node] = net.states[node][draw(st.integers(0, net.card(node) - 1))]
        if kind in ("soft", "both"):
            soft[node] = rng.uniform(0.0, 2.0, size=net.card(node))
    return net, hard, soft


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(network_and_evidence())
def test_matches_brute_force_enumeration(case):
    net, hard, soft = case
    marg, fam, log_pe = brute_force(net, hard, soft)
    engine = ExactEngine(net)
    if not np.isfinite(log_pe):
        with pytest.raises(InferenceError, match="impossible"):
            engine.query(hard, soft)
        assert engine.log_evidence(hard, soft) == -np.inf
        return
    post = engine.query(hard, soft, families=True)
    assert post.log_evidence == pytest.approx(log_pe, abs=1e-9)
    assert engine.log_evidence(hard, soft) == pytest.approx(log_pe, abs=1e-9)
    for node in net.nodes:
        np.testing.assert_allclose(post.marginals[node], marg[node], atol=1e-10)
        np.testing.assert_allclose(post.families[node], fam[node], atol=1e-10)


def test_family_posteriors_are_the_gradient_of_log_evidence():
    """d log P(e) / d theta(x|u) = P(x, u | e) / theta(x|u), checked by finite differences."""
    rng = np.random.default_rng(7)
    net = random_network(rng, 7, cards=(2, 3))
    engine = ExactEngine(net)
    hard = {"x6": "s1", "x3": "s0"}
    post = engine.query(hard, families=True)
    eps = 1e-7
    for node in net.nodes:
        table = net.cpts[node]
        grad = post.families[node] / table
        idx = tuple(int(i) for i in np.argwhere(table > 0.05)[0])
        bumped = table.copy()
        bumped[idx] += eps
        # query, not log_evidence: the latter prunes barren nodes, assuming rows sum to 1
        bumped_pe = engine.query(hard, cpts={node: bumped}).log_evidence
        numeric = (bumped_pe - post.log_evidence) / eps
        assert numeric == pytest.approx(grad[idx], rel=1e-4, abs=1e-6)


def test_batched_equals_loop_over_draws():
    rng = np.random.default_rng(3)
    net = random_network(rng, 12, cards=(2, 3))
    engine = ExactEngine(net)
    n_draws = 64
    cpts = {
        n: rng.dirichlet(np.ones(net.card(n)), size=(n_draws, *net.cpts[n].shape[:-1]))
        for n in list(net.nodes)[::2]  # half the CPTs batched, half shared
    }
    soft = {"x5": rng.uniform(size=(n_draws, net.card("x5")))}
    evidence = {"x11": "s0"}
    post = engine.query(evidence, soft, cpts, families=True)
    log_pe = engine.log_evidence(evidence, soft, cpts)
    assert post.log_evidence.shape == (n_draws,)
    np.testing.assert_allclose(log_pe, post.log_evidence, atol=1e-12)
    for d in (0, 17, n_draws - 1):
        one = engine.query(evidence, {"x5": soft["x5"][d]},
                           {n: c[d] for n, c in cpts.items()}, families=True)
        assert post.log_evidence[d] == pytest.approx(one.log_evidence, abs=1e-12)
        for node in net.nodes:
            np.testing.assert_allclose(post.marginals[node][d], one.marginals[node], atol=1e-12)
            np.testing.assert_allclose(post.families[node][d], one.families[node], atol=1e-12)


@pytest.mark.parametrize("draws", [1, 3])
def test_batched_inputs_give_batched_results_whatever_the_number_of_draws(draws):
    # The inputs' shapes say whether a query is batched, never B's value: a batch of one draw
    # keeps its axis (it used to be squeezed away, and callers patched around it).
    engine = ExactEngine(sprinkler())
    rain = np.tile([0.7, 0.3], (draws, 1))
    wet = np.tile([0.4, 0.6], (draws, 1))
    for soft, cpts in [({}, {"rain": rain}), ({"wet": wet}, {}), ({"wet": wet}, {"rain": rain})]:
        post = engine.query({"sprinkler": "on"}, soft, cpts, families=True)
        assert post.batched and post.log_evidence.shape == (draws,)
        assert post.marginals["rain"].shape == (draws, 2)
        assert post.families["wet"].shape == (draws, 2, 2, 2)
        assert post.to_frame()["draw"].nunique() == draws
        assert engine.log_evidence({"sprinkler": "on"}, soft, cpts).shape == (draws,)
        log_pe, grads, soft_grads = engine.log_evidence_grad({"sprinkler": "on"}, soft, cpts,
                                                             soft_grad=True)
        assert log_pe.shape == (draws,) and grads["wet"].shape == (draws, 2, 2, 2)
        assert all(g.shape == (draws, 2) for g in soft_grads.values())
        # every draw equals the unbatched query with that draw's inputs
        one = engine.query({"sprinkler": "on"}, {k: v[0] for k, v in soft.items()},
                           {k: v[0] for k, v in cpts.items()}, families=True)
        assert not one.batched and isinstance(one.log_evidence, float)
        assert one.marginals["rain"].shape == (2,) and one.families["wet"].shape == (2, 2, 2)
        assert post.log_evidence[-1] == pytest.approx(one.log_evidence, abs=1e-12)
        np.testing.assert_allclose(post.marginals["rain"][-1], one.marginals["rain"], atol=1e-12)
    grads = engine.log_evidence_grad({"sprinkler": "on"}, {"wet": [0.4, 0.6]})[1]
    assert grads["wet"].shape == (2, 2, 2)


def test_one_plan_per_structure_for_draws_and_per_hard_pattern_for_one_network():
    """Batched queries (parameter draws) share one plan per structure: hard findings slice it
    to size 1 and likelihoods multiply into the CPTs, so no evidence pattern compiles anew.
    A one-network query keeps a plan fitted to its set of hard findings (values and soft
    findings reuse it)."""
    engine = ExactEngine(sprinkler())
    draws = {"rain": np.full((5, 2), 0.5)}
    p1 = engine.plan_for({"wet": "yes"}, cpts=draws)
    for ev, soft in [({"wet": "no"}, {}), ({"rain": "no"}, {}), ({}, {"rain": [0.2, 0.9]}),
                     ({"rain": "no", "sprinkler": "on"}, {"wet": [0.2, 0.9]}), ({}, {})]:
        assert engine.plan_for(ev, soft, cpts=draws) is p1
    before = len(engine._plans)
    for ev in ({"wet": "yes"}, {"rain": "no", "sprinkler": "on"}, {}):
        engine.query(ev, soft={"sprinkler": [0.3, 0.6]}, cpts=draws)
    assert len(engine._plans) == before
    one = engine.plan_for({"wet": "yes"})
    assert one is not p1 and engine.plan_for({"wet": "no"}, {"rain": [0.2, 0.9]}) is one
    assert engine.plan_for({"rain": "no"}) is not one


def test_impossible_evidence_names_the_conflicting_findings():
    engine = ExactEngine(sprinkler())
    # wet=yes is impossible when the sprinkler is off and it does not rain
    with pytest.raises(InferenceError) as err:
        engine.query({"rain": "no", "sprinkler": "off", "wet": "yes"})
    message = str(err.value)
    assert "rain=no" in message and "sprinkler=off" in message and "wet=yes" in message
    assert "nan" not in message.lower()
    assert engine.log_evidence({"rain": "no", "sprinkler": "off", "wet": "yes"}) == -np.inf


def test_impossible_for_some_draws_is_reported_with_a_count():
    engine = ExactEngine(sprinkler())
    rain = np.array([[0.8, 0.2], [1.0, 0.0], [0.5, 0.5]])
    with pytest.raises(InferenceError, match="for 1 of 3 draws") as err:
        engine.query({"rain": "yes"}, cpts={"rain": rain})
    assert "rain=yes" in str(err.value)
    log_pe = engine.log_evidence({"rain": "yes"}, cpts={"rain": rain})
    assert log_pe[1] == -np.inf and np.all(np.isfinite(log_pe[[0, 2]]))


def test_tiny_probabilities_do_not_underflow():
    """A long chain of unlikely findings: P(e) ~ 1e-400 is below float64 but still exact."""
    n = 400
    states = {f"x{i}": ["a", "b"] for i in range(n)}
    parents = {f"x{i}": [f"x{i - 1}"] for i in range(1, n)}
    cpts = {"x0": [0.5, 0.5], **{f"x{i}": [[0.9, 0.1], [0.9, 0.1]] for i in range(1, n)}}
    net = Network(states, parents, cpts)
    evidence = {f"x{i}": "b" for i in range(1, n)}
    post = ExactEngine(net).query(evidence)
    assert post.log_evidence == pytest.approx((n - 1) * np.log(0.1), rel=1e-12)
    np.testing.assert_allclose(post.marginals["x0"], [0.5, 0.5], atol=1e-12)


def test_bad_queries_list_every_problem():
    engine = ExactEngine(sprinkler())
    with pytest.raises(EvidenceError) as err:
        engine.query(
            {"rian": "yes", "wet": "damp"},
            soft={"sprinkler": [0.5, 0.2, 0.1], "rain": [-1.0, 1.0]},
            cpts={"wet": np.ones((2, 2))},
        )
    text = str(err.value)
    assert "did you mean 'rain'" in text
    assert "no state 'damp'" in text
    assert "needs 2 likelihoods" in text
    assert "non-negative" in text
    assert "cpts['wet']" in text


def test_to_frame_and_to_dict():
    post = query(sprinkler(), {"wet": "yes"})
    frame = post.to_frame()
    assert list(frame.columns) == ["node", "state", "probability"]
    assert len(frame) == 6
    d = post.to_dict()
    assert set(d["marginals"]) == {"rain", "sprinkler", "wet"}
    assert d["marginals"]["wet"] == {"no": 0.0, "yes": 1.0}


def test_log_evidence_grad_matches_finite_differences_and_families():
    rng = np.random.default_rng(11)
    net = random_network(rng, 8, cards=(2, 3))
    engine = ExactEngine(net)
    hard = {"x7": "s0", "x4": "s1"}
    soft = {"x2": rng.uniform(0.2, 1.0, size=net.card("x2"))}
    log_pe, grads = engine.log_evidence_grad(hard, soft)
    post = engine.query(hard, soft, families=True)
    assert log_pe == pytest.approx(post.log_evidence, abs=1e-12)
    relevant = set().union(*(engine._ancestors[n] for n in ("x7", "x4", "x2")))
    for node in net.nodes:
        if node in relevant:
            np.testing.assert_allclose(grads[node] * net.cpts[node], post.families[node],
                                       atol=1e-12)
        else:
            assert not grads[node].any()
    # batched gradients equal per-draw gradients
    draws = {n: rng.dirichlet(np.ones(net.card(n)), size=(5, *net.cpts[n].shape[:-1]))
             for n in net.nodes}
    log_b, grads_b = engine.log_evidence_grad(hard, soft, draws)
    for d in (0, 4):
        log_1, grads_1 = engine.log_evidence_grad(hard, soft, {n: c[d] for n, c in draws.items()})
        assert log_b[d] == pytest.approx(log_1, abs=1e-12)
        for node in net.nodes:
            np.testing.assert_allclose(grads_b[node][d], grads_1[node], atol=1e-12)


def test_ancestral_sampling_matches_marginals():
    rng = np.random.default_rng(5)
    net = random_network(rng, 6, cards=(2, 3))
    draws = net.sample(200_000, rng)
    post = ExactEngine(net).query()
    for node in net.nodes:
        freq = np.bincount(draws[node], minlength=net.card(node)) / 200_000
        np.testing.assert_allclose(freq, post.marginals[node], atol=0.005)


def test_subnormal_likelihoods_are_rescaled_not_nan():
    engine = ExactEngine(sprinkler())
    tiny = engine.query(soft={"wet": [1e-310, 3e-310]})
    plain = engine.query(soft={"wet": [1.0, 3.0]})
    for node in ("rain", "sprinkler", "wet"):
        np.testing.assert_allclose(tiny.marginals[node], plain.marginals[node], rtol=1e-6)
    assert tiny.log_evidence == pytest.approx(plain.log_evidence + np.log(1e-310), rel=1e-9)
    assert engine.query().log_evidence == 0.0


def test_log_evidence_grad_of_likelihoods_matches_finite_differences():
    rng = np.random.default_rng(12)
    net = random_network(rng, 8, cards=(2, 3))
    engine = ExactEngine(net)
    hard = {"x7": "s0", "x4": "s1"}
    # large and tiny scales (rescaled inside the engine), and soft evidence on a hard finding
    soft = {"x2": 1e3 * rng.uniform(0.2, 1.0, size=net.card("x2")),
            "x5": 1e-3 * rng.uniform(0.2, 1.0, size=net.card("x5")),
            "x4": rng.uniform(0.2, 1.0, size=net.card("x4"))}
    log_pe, grads, soft_grads = engine.log_evidence_grad(hard, soft, soft_grad=True)
    assert log_pe == pytest.approx(engine.log_evidence(hard, soft), abs=1e-12)
    assert set(grads) == set(net.nodes)
    for node, lam in soft.items():
        assert soft_grads[node].shape == lam.shape
        for j in range(lam.size):
            eps = 1e-6 * lam[j]
            up, down = lam.copy(), lam.copy()
            up[j] += eps
            down[j] -= eps
            numeric = (engine.log_evidence(hard, {**soft, node: up})
                       - engine.log_evidence(hard, {**soft, node: down})) / (2 * eps)
            assert soft_grads[node][j] == pytest.approx(numeric, rel=1e-6, abs=1e-9)
    # batched likelihoods: one gradient row per draw, equal to the unbatched ones
    rows = {"x2": np.stack([soft["x2"], 2 * soft["x2"]]), "x5": soft["x5"], "x4": soft["x4"]}
    _, _, batched = engine.log_evidence_grad(hard, rows, soft_grad=True)
    assert batched["x2"].shape == (2, net.card("x2"))
    np.testing.assert_allclose(batched["x2"][0], soft_grads["x2"], rtol=1e-10)
    np.testing.assert_allclose(batched["x2"][1], soft_grads["x2"] / 2, rtol=1e-10)
    np.testing.assert_allclose(batched["x5"][1], soft_grads["x5"], rtol=1e-10)


# --- the memory limit of a plan ----------------------------------------------------------------


def _clique(n: int):
    """Every pair of `n` binary variables shares a factor: no order avoids a 2**(n-2) table."""
    sizes = {f"v{i}": 2 for i in range(n)}
    pairs = [[f"v{i}", f"v{j}"] for i in range(n) for j in range(i + 1, n)]
    return pairs, sizes


def test_a_plan_over_the_memory_limit_is_refused_before_any_allocation(monkeypatch):
    """34 variables all joined: a 2**32-entry table (32 GiB) is refused at planning, naming its
    variables and how to get under the limit; the environment variable moves the limit."""
    import time

    from forecast.errors import ForecastError, InferenceError
    from forecast.network.plan import MAX_INTERMEDIATE, Plan, max_intermediate

    pairs, sizes = _clique(34)
    started = time.perf_counter()
    with pytest.raises(InferenceError, match="more than the limit of 268,435,456") as caught:
        Plan(pairs, sizes, [False] * len(pairs), 1)
    assert time.perf_counter() - started < 60  # a hang guard: planning alone, ~0.1 s
    message = str(caught.value)
    assert "32.0 GiB" in message and "joins 32 variables" in message
    assert "FORECAST_MAX_INTERMEDIATE" in message and "noisy-OR" in message
    small_pairs, small_sizes = _clique(12)  # 2**10-entry tables: planned under a limit of 2**11
    monkeypatch.setenv("FORECAST_MAX_INTERMEDIATE", str(2**11))
    assert max_intermediate() == 2**11
    Plan(small_pairs, small_sizes, [False] * len(small_pairs), 1)
    monkeypatch.setenv("FORECAST_MAX_INTERMEDIATE", "100")
    with pytest.raises(InferenceError, match="limit of 100"):
        Plan(small_pairs, small_sizes, [False] * len(small_pairs), 1)
    for bad in ("nan", "-5", "1.5", "lots"):
        monkeypatch.setenv("FORECAST_MAX_INTERMEDIATE", bad)
        with pytest.raises(ForecastError, match="not a number of entries"):
            max_intermediate()
    monkeypatch.delenv("FORECAST_MAX_INTERMEDIATE")
    assert max_intermediate() == MAX_INTERMEDIATE


def test_the_cli_refuses_a_network_too_dense_to_query_in_one_message(tmp_path):
    """A BIF whose node has 30 binary parents: refused at the model limits or at planning, with
    exit 2 and no traceback, quickly and within memory."""
    from click.testing import CliRunner

    from forecast.cli import main

    parents = [f"p{i}" for i in range(30)]
    lines = ["network n {}"]
    for name in [*parents, "child"]:
        lines.append(f"variable {name} {{ type discrete [ 2 ] {{ a, b }}; }}")
    for name in parents:
        lines.append(f"probability ( {name} ) {{ table 0.5, 0.5; }}")
    lines.append(f"probability ( child | {', '.join(parents)} ) {{ default 0.5, 0.5; }}")
    (tmp_path / "dense.bif").write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(main, ["query", str(tmp_path / "dense.bif")])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "child" in result.output


# --- plans: the draws last, evidence as slices, one plan per structure -------------------------


def _reference(indices, factors, batch):
    """Σ of the product per draw and each factor's derivative, by np.einsum (draws first)."""
    letter = {v: chr(ord("a") + k) for k, v in enumerate(sorted({v for ix in indices
                                                                  for v in ix}))}
    terms = ["Z" + "".join(letter[v] for v in ix) for ix in indices]
    full = [np.broadcast_to(f, (batch, *f.shape[1:])) for f in factors]
    total = np.einsum(",".join(terms) + "->Z", *full)
    grads = []
    for k in range(len(factors)):
        others = [t for j, t in enumerate(terms) if j != k]
        arrays = [a for j, a in enumerate(full) if j != k]
        grads.append(np.einsum(",".join(others) + "->" + terms[k], *arrays) if others
                     else np.ones_like(full[k]))
    return total, grads


@pytest.mark.parametrize("batch", [1, 6])
def test_a_plan_matches_einsum_in_both_layouts_with_variables_sliced_to_one_state(batch):
    """Forward and backward through the public (draws first) and the internal (draws last)
    layouts, shared and batched factors mixed, two variables at size 1 in every factor that
    carries them (how hard findings enter): equal to a direct einsum to 1e-12."""
    from forecast.network.plan import Plan, Scratch, as_last

    rng = np.random.default_rng(4)
    sizes = {f"v{i}": int(rng.integers(2, 4)) for i in range(8)}
    indices = [("v0", "v1"), ("v1", "v2", "v3"), ("v3", "v4"), ("v2", "v5", "v6"), ("v6",),
               ("v4", "v7"), ("v7", "v0"), ("v5",)]
    batched = [bool(k % 2) for k in range(len(indices))]
    plan = Plan(indices, sizes, batched, batch)
    sliced = {"v3": 1, "v6": 0}  # at size 1: one state of each
    factors = []
    for ix, b in zip(indices, batched, strict=True):
        f = rng.uniform(0.1, 1.0, size=((batch if b else 1), *(sizes[v] for v in ix)))
        factors.append(f[(slice(None), *(slice(sliced[v], sliced[v] + 1) if v in sliced
                                          else slice(None) for v in ix))])
    want_total, want_grads = _reference(indices, factors, batch)
    total, log_scale, tape = plan.forward(factors)
    np.testing.assert_allclose(total * np.exp(log_scale), want_total, rtol=1e-12)
    for got, want in zip(plan.backward(tape, np.ones(batch)), want_grads, strict=True):
        np.testing.assert_allclose(np.broadcast_to(got, want.shape), want, rtol=1e-12)
    # the internal layout, with scratch memory and forced rescaling: the same numbers
    last = [as_last(f) if plan.input_batched[k] else f[0] for k, f in enumerate(factors)]
    scratch = Scratch()
    for rescale in (False, True):
        scratch.reset()
        total, log_scale, tape = plan.forward_last(last, rescale=rescale, scratch=scratch)
        np.testing.assert_allclose(total * np.exp(log_scale), want_total, rtol=1e-12)
        grads = plan.backward_last(tape, np.exp(log_scale), wanted=[1, 4], scratch=scratch)
        assert grads[0] is None and grads[2] is None
        for k in (1, 4):
            got = np.moveaxis(grads[k], -1, 0) if plan.batched else grads[k][None]
            np.testing.assert_allclose(np.broadcast_to(got, want_grads[k].shape),
                                       want_grads[k], rtol=1e-12)


def test_batched_queries_equal_brute_force_draw_by_draw():
    """Every CPT batched, hard and soft findings (one of each on the same node too): marginals,
    families, log P(e), its gradients and a query of some nodes, per draw, to 1e-12."""
    rng = np.random.default_rng(21)
    net = random_network(rng, 9, cards=(2, 3))
    engine = ExactEngine(net)
    draws = 4
    cpts = {n: rng.dirichlet(np.ones(net.card(n)), size=(draws, *net.cpts[n].shape[:-1]))
            for n in net.nodes}
    hard = {"x8": "s0", "x3": "s1", "x5": "s0"}
    soft = {"x6": rng.uniform(0.1, 1.0, net.card("x6")),
            "x5": rng.uniform(0.1, 1.0, net.card("x5"))}
    post = engine.query(hard, soft, cpts, families=True)
    some = engine.query(hard, soft, cpts, nodes=["x1", "x6", "x0"])
    log_pe = engine.log_evidence(hard, soft, cpts)
    log_g, grads = engine.log_evidence_grad(hard, soft, cpts)
    assert set(some.marginals) == {"x0", "x1", "x6"}
    observed = {*hard, *soft}
    relevant = observed.union(*(nx.ancestors(net.graph, n) for n in observed))
    for d in range(draws):
        one = net.with_cpts({n: c[d] for n, c in cpts.items()})
        marg, fam, want = brute_force(one, hard, soft)
        for got in (post.log_evidence[d], some.log_evidence[d], log_pe[d], log_g[d]):
            assert got == pytest.approx(want, abs=1e-12)
        for node in net.nodes:
            np.testing.assert_allclose(post.marginals[node][d], marg[node], atol=1e-12)
            np.testing.assert_allclose(post.families[node][d], fam[node], atol=1e-12)
            if node in relevant:  # elsewhere the gradient is 0 (rows that sum to 1)
                np.testing.assert_allclose(grads[node][d] * cpts[node][d], fam[node],
                                           atol=1e-12)
        for node in some.marginals:
            np.testing.assert_allclose(some.marginals[node][d], marg[node], atol=1e-12)


def test_a_query_of_some_nodes_equals_the_full_query():
    """``nodes=`` prunes to the findings' and the nodes' ancestors and sums observed leaves
    first; shared and batched, with families."""
    rng = np.random.default_rng(8)
    net = random_network(rng, 12, cards=(2, 3))
    engine = ExactEngine(net)
    hard = {"x11": "s0", "x7": "s1"}
    soft = {"x9": rng.uniform(0.1, 1.0, net.card("x9")),
            "x10": rng.uniform(0.1, 1.0, size=(3, net.card("x10")))}
    for cpts in ({}, {n: rng.dirichlet(np.ones(net.card(n)), size=(3, *net.cpts[n].shape[:-1]))
                      for n in net.nodes}):
        full = engine.query(hard, soft, cpts, families=True)
        for nodes in (["x2"], ["x9", "x4"], ["x11", "x0"], list(net.nodes)):
            some = engine.query(hard, soft, cpts, families=True, nodes=nodes)
            assert list(some.marginals) == [n for n in net.order if n in nodes]
            np.testing.assert_allclose(some.log_evidence, full.log_evidence, atol=1e-12)
            for node in nodes:
                np.testing.assert_allclose(some.marginals[node], full.marginals[node],
                                           atol=1e-12)
                np.testing.assert_allclose(some.families[node], full.families[node],
                                           atol=1e-12)
    with pytest.raises(EvidenceError, match="did you mean 'x1'"):
        engine.query(hard, nodes=["x1x"])


def test_results_do_not_share_memory_with_later_queries():
    """Intermediates live in reused scratch memory; nothing a query returns may change when the
    next one runs."""
    rng = np.random.default_rng(2)
    net = random_network(rng, 8, cards=(2, 3))
    engine = ExactEngine(net)
    cpts = {n: rng.dirichlet(np.ones(net.card(n)), size=(50, *net.cpts[n].shape[:-1]))
            for n in net.nodes}
    first = engine.query({"x7": "s0"}, cpts=cpts, families=True)
    _, grads = engine.log_evidence_grad({"x7": "s0"}, cpts=cpts)
    kept = ({n: m.copy() for n, m in first.marginals.items()},
            {n: f.copy() for n, f in first.families.items()},
            {n: g.copy() for n, g in grads.items()}, first.log_evidence.copy())
    engine.query({"x7": "s1", "x2": "s0"}, cpts=cpts, families=True)
    engine.log_evidence_grad({"x5": "s1"}, cpts=cpts)
    for got, want in zip((first.marginals, first.families, grads), kept[:3], strict=True):
        for node in net.nodes:
            np.testing.assert_array_equal(got[node], want[node])
    np.testing.assert_array_equal(first.log_evidence, kept[3])


def test_cpts_stored_with_the_draws_last_enter_without_a_copy():
    from forecast.network.exact import draws_last
    from forecast.network.plan import as_last

    rng = np.random.default_rng(6)
    net = random_network(rng, 7, cards=(2, 3))
    cpts = {n: rng.dirichlet(np.ones(net.card(n)), size=(40, *net.cpts[n].shape[:-1]))
            for n in net.nodes}
    stored = draws_last(cpts)
    for node, table in stored.items():
        assert table.shape == cpts[node].shape and np.array_equal(table, cpts[node])
        assert np.shares_memory(as_last(table), table)  # a view, not a copy
    engine = ExactEngine(net)
    a, b = engine.query({"x6": "s1"}, cpts=cpts), engine.query({"x6": "s1"}, cpts=stored)
    for node in net.nodes:
        np.testing.assert_array_equal(a.marginals[node], b.marginals[node])


def test_the_wider_path_search_is_deterministic_and_leaves_the_global_generator_alone(
        monkeypatch):
    import random

    import forecast.network.ordering as ordering
    import forecast.network.plan as plan_module

    monkeypatch.setattr(ordering, "SEARCH_FLOPS", 0.0)  # search every batched plan
    rng = np.random.default_rng(9)
    net = random_network(rng, 14, cards=(2, 2))
    indices = [net.family(n) for n in net.order]
    sizes = {n: 2 for n in net.nodes}
    random.seed(123)
    state = random.getstate()
    first = plan_module.Plan(indices, sizes, [True] * len(indices), 500)
    assert random.getstate() == state
    second = plan_module.Plan(indices, sizes, [True] * len(indices), 500)
    assert [s.spec for s in first.steps] == [s.spec for s in second.steps]
    monkeypatch.setattr(ordering, "SEARCH_FLOPS", float("inf"))
    monkeypatch.setattr(ordering, "TREEWIDTH_FLOPS", float("inf"))
    greedy = plan_module.Plan(indices, sizes, [True] * len(indices), 500)
    assert greedy.method == "greedy" and first.flops <= greedy.flops


def test_the_wider_path_search_is_the_same_in_every_process():
    """Plans (and so every rounding) must not depend on the process: opt_einsum's default
    jittered cost draws random numbers in the order of a set of strings, which hash
    randomisation changes from process to process; the search uses the plain cost. The
    elimination orders of large networks too (networkx's heuristics iterate sets: of the
    variables' numbers, never of their names)."""
    import subprocess
    import sys

    code = ("import numpy as np, forecast.network.plan as P, forecast.network.ordering as O\n"
            "from tests.networks import random_network\n"
            "O.SEARCH_FLOPS = 0.0\n"
            "net = random_network(np.random.default_rng(9), 14, cards=(2, 2))\n"
            "plan = P.Plan([net.family(n) for n in net.order], {n: 2 for n in net.nodes},"
            " [True] * len(net.nodes), 500)\n"
            "print(plan.method, [s.spec for s in plan.steps])\n"
            "net = random_network(np.random.default_rng(1), 120, max_parents=3, cards=(2, 2))\n"
            "hard = {f'x{i}' for i in range(119, 0, -12)}\n"
            "plan = P.Plan([[v for v in net.family(n) if v not in hard] for n in net.order],"
            " {n: 2 for n in net.nodes}, [False] * len(net.nodes), 1)\n"
            "print(plan.method, [(s.left, s.right, s.a.sum_axes) for s in plan.steps])\n")
    paths = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env={**os.environ, "PYTHONHASHSEED": str(seed)}
                            ).stdout for seed in (1, 2, 3)}
    assert len(paths) == 1
    assert "min-fill" in paths.pop()  # the second plan took the treewidth route


# --- the treewidth route: elimination orders on large networks ---------------------------------


def test_a_large_network_plans_an_elimination_order_far_below_greedys_tables():
    """200 binary nodes with up to 3 random parents each: greedy's path needs a table of 10^9
    entries (8 GiB, over the limit: refused); the min-fill order's largest is 30 times smaller,
    and planning takes a fraction of a second."""
    import time

    import opt_einsum

    from forecast.network.plan import Plan, max_intermediate

    net = random_network(np.random.default_rng(1), 200, max_parents=3, cards=(2, 2))
    scopes = [net.family(n) for n in net.order]
    symbol = {v: opt_einsum.get_symbol(k) for k, v in enumerate(net.nodes)}
    expression = ",".join("".join(symbol[v] for v in s) for s in scopes) + "->"
    _, greedy = opt_einsum.contract_path(expression, *[(2,) * len(s) for s in scopes],
                                         shapes=True, optimize="greedy")
    assert greedy.largest_intermediate > max_intermediate()
    started = time.perf_counter()
    plan = Plan(scopes, {n: 2 for n in net.nodes}, [False] * len(scopes), 1)
    assert time.perf_counter() - started < 10  # ~0.05 s
    assert plan.method in ("min-fill", "min-degree")
    assert plan.largest_intermediate * 10 < greedy.largest_intermediate
    assert plan.flops * 10 < greedy.opt_cost


def _forced(heuristic: str):
    """A stand-in for the plan's path search that always takes one elimination order."""
    import opt_einsum

    from forecast.network.ordering import elimination_order, elimination_path

    def search(expression, shapes, scopes, sizes, batched, limit):
        path, _, _ = elimination_path(scopes, sizes, elimination_order(scopes, heuristic))
        found, info = opt_einsum.contract_path(expression, *shapes, shapes=True, optimize=path)
        return list(found), info, heuristic

    return search


@pytest.mark.parametrize("heuristic", ["min-fill", "min-degree"])
def test_elimination_order_paths_match_brute_force_with_families_and_draws(monkeypatch,
                                                                          heuristic):
    """Every plan on the elimination path (forced, whatever greedy would cost): marginals,
    family posteriors and log P(e) against enumeration, hard and soft evidence, one network
    and a batch of draws (its plan per structure, findings at size 1)."""
    import forecast.network.plan as plan_module

    monkeypatch.setattr(plan_module, "_search", _forced(heuristic))
    rng = np.random.default_rng(4)
    net = random_network(rng, 12, max_parents=3)
    hard = {"x11": "s1", "x4": "s0"}
    soft = {"x7": rng.uniform(0.1, 1.0, net.card("x7"))}
    engine = ExactEngine(net)
    post = engine.query(hard, soft, families=True)
    assert engine.plan_for(hard).method == heuristic
    marginals, families, log_pe = brute_force(net, hard, soft)
    for n in net.nodes:
        np.testing.assert_allclose(post.marginals[n], marginals[n], atol=1e-12)
        np.testing.assert_allclose(post.families[n], families[n], atol=1e-12)
    assert post.log_evidence == pytest.approx(log_pe, abs=1e-12)
    draws = {n: np.stack([net.cpts[n], rng.dirichlet(np.ones(net.card(n)),
                                                      size=net.cpts[n].shape[:-1])])
             for n in net.nodes}
    batched = engine.query(hard, soft, draws, families=True)
    for b in range(2):
        one = net.with_cpts({n: c[b] for n, c in draws.items()})
        marginals, families, log_pe = brute_force(one, hard, soft)
        for n in net.nodes:
            np.testing.assert_allclose(batched.marginals[n][b], marginals[n], atol=1e-12)
            np.testing.assert_allclose(batched.families[n][b], families[n], atol=1e-12)
        assert batched.log_evidence[b] == pytest.approx(log_pe, abs=1e-12)


def test_the_treewidth_route_agrees_with_the_greedy_route_and_pyagrum(monkeypatch):
    """120 binary nodes, a tenth observed: the planner takes an elimination order by itself,
    and its marginals and log P(e) equal greedy's plan's (and pyAgrum's, if installed)."""
    import importlib.util

    import forecast.network.ordering as ordering

    net = random_network(np.random.default_rng(1), 120, max_parents=3, cards=(2, 2))
    hard = {f"x{i}": "s0" for i in range(119, 0, -12)}
    ours = ExactEngine(net)
    post = ours.query(hard)
    assert ours.plan_for(hard).method in ("min-fill", "min-degree")
    monkeypatch.setattr(ordering, "TREEWIDTH_FACTORS", 10**9)
    monkeypatch.setattr(ordering, "TREEWIDTH_FLOPS", float("inf"))
    greedy = ExactEngine(net)
    reference = greedy.query(hard)
    assert greedy.plan_for(hard).method == "greedy"
    assert post.log_evidence == pytest.approx(reference.log_evidence, abs=1e-10)
    for n in net.nodes:
        np.testing.assert_allclose(post.marginals[n], reference.marginals[n], atol=1e-12)
    if importlib.util.find_spec("pyagrum") is None:
        return
    import pyagrum as gum

    from forecast.network.interop import to_pyagrum

    ie = gum.LazyPropagation(to_pyagrum(net))
    ie.setEvidence({n: net.state_index(n, s) for n, s in hard.items()})
    ie.makeInference()
    for n in net.nodes:
        np.testing.assert_allclose(post.marginals[n], ie.posterior(n).toarray(), atol=1e-10)
    assert post.log_evidence == pytest.approx(np.log(ie.evidenceProbability()), abs=1e-8)


def test_an_elimination_path_ends_in_one_table_and_keeps_to_the_orders_cliques():
    """A chain with a scalar factor and a variable that only one factor carries: the path is
    pairwise, ends in one operand, and no table joins more than two chain variables."""
    import opt_einsum

    from forecast.network.ordering import elimination_order, elimination_path

    scopes = [[0], [0, 1], [1, 2], [2, 3], [3, 4], [], [4, 5]]
    sizes = [3] * 6
    order = elimination_order(scopes)
    assert sorted(order) == list(range(6))
    path, largest, flops = elimination_path(scopes, sizes, order)
    assert len(path) == len(scopes) - 1 and all(len(step) == 2 for step in path)
    _, info = opt_einsum.contract_path("a,ab,bc,cd,de,,ef->", *[(3,) * len(s) for s in scopes],
                                       shapes=True, optimize=path)
    assert info.largest_intermediate == largest <= 9
    assert info.opt_cost == flops  # priced as opt_einsum prices it


def test_scratch_memory_grows_to_a_rounds_need_and_shrinks_back(monkeypatch):
    import forecast.network.plan as plan_module
    from forecast.network.plan import Scratch

    monkeypatch.setattr(plan_module, "SCRATCH_LIMIT", 1000)
    scratch = Scratch()
    first = scratch.take((3, 5))  # nothing kept yet: a fresh array
    first[...] = 1.0
    scratch.reset()  # now sized to the round before
    a, b = scratch.take((3, 5)), scratch.take((2,))
    assert np.shares_memory(a, scratch._buffer) and not np.shares_memory(a, b)
    assert a.flags.c_contiguous and a.shape == (3, 5)
    big = scratch.take((1001,))  # over the limit: never kept
    assert not np.shares_memory(big, scratch._buffer)
    scratch.reset()
    assert scratch._buffer.size < 1000
    for _ in range(Scratch._SHRINK_AFTER + 1):  # rounds that need nothing give it back
        scratch.reset()
    assert scratch._buffer.size == 0


def test_a_structure_plan_over_the_memory_limit_falls_back_to_the_findings(monkeypatch):
    """Batched plans are searched at full sizes; where that is over the limit but the hard
    findings bring the tables under it, the query runs on a plan fitted to them (as every
    plan was before), and only a pattern still over the limit is refused (4**8 × 3 draws
    at full size, the limit 4**7 × 3)."""
    rng = np.random.default_rng(13)
    n = 10  # a chain of 4-state nodes whose middle node joins everything: 4**9 at full size
    states = {f"v{i}": [f"s{j}" for j in range(4)] for i in range(n)}
    parents = {f"v{i}": [] for i in range(n - 1)}
    parents[f"v{n - 1}"] = [f"v{i}" for i in range(n - 1)]
    cpts = {v: rng.dirichlet(np.ones(4), size=(4,) * len(parents[v])) for v in states}
    net = Network(states, parents, cpts)
    engine = ExactEngine(net)
    draws = {v: np.stack([cpts[v]] * 3) for v in states}
    monkeypatch.setenv("FORECAST_MAX_INTERMEDIATE", str(4**7 * 3))
    hard = {f"v{i}": "s1" for i in range(4)}
    post = engine.query(hard, cpts=draws)
    one = engine.query(hard, cpts=cpts)  # one network, fitted plan
    for node in net.nodes:
        np.testing.assert_allclose(post.marginals[node][0], one.marginals[node], atol=1e-12)
    engine.query({"v0": "s1"}, cpts=draws)  # one finding on a parent: 4**7 tables, enough
    with pytest.raises(InferenceError, match="more than the limit"):
        engine.query(soft={"v0": [0.2, 0.3, 0.4, 0.1]}, cpts=draws)  # no hard finding
