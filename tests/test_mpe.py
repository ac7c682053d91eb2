"""The most probable joint scenario (MPE): ``ExactEngine.mpe`` against enumeration and the peers.

Tolerances: probabilities agree to 1e-9 relative (the engine works in log space; its own
rounding is ~1e-14), ``log P(e)`` to 1e-12 absolute. Assignments must be identical unless the
engine reports a tie; with a tie, the peer's assignment must be as probable as ours (1e-9).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import string
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from forecast import EvidenceError, InferenceError, MostProbable, Network
from forecast.cli import main
from forecast.model.cpts import prior_mean_network
from forecast.model.load import load_spec
from forecast.network.bif import read_bif
from forecast.network.exact import ExactEngine
from forecast.network.interop import to_pgmpy, to_pyagrum
from tests.networks import random_network
from tests.test_peers import normalized

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "models" / "afghan_caliphate.yaml"
RTOL = 1e-9


def enumerate_joint(net: Network, hard: dict[str, str], soft: dict[str, np.ndarray]):
    """Every assignment of the free nodes with P(x, e) (soft: times Π λ), by brute force."""
    nodes = list(net.states)
    letter = dict(zip(nodes, string.ascii_letters, strict=False))
    terms = ["".join(letter[v] for v in net.family(n)) for n in nodes]
    arrays = [net.cpts[n] for n in nodes]
    for n, lam in soft.items():
        terms.append(letter[n])
        arrays.append(np.asarray(lam, dtype=float))
    joint = np.einsum(",".join(terms) + "->" + "".join(letter[n] for n in nodes), *arrays)
    joint = joint[tuple(net.state_index(n, hard[n]) if n in hard else slice(None)
                        for n in nodes)]
    free = [n for n in nodes if n not in hard]
    return free, joint


def brute_mpe(net, hard, soft):
    """The maximising assignments (all of them), the maximum P(x*, e) and P(e)."""
    free, joint = enumerate_joint(net, hard, soft)
    top = joint.max()
    best = [{n: net.states[n][i] for n, i in zip(free, idx, strict=True)}
            for idx in np.ndindex(joint.shape) if top > 0 and joint[idx] >= top * (1 - RTOL)]
    return best, float(top), float(joint.sum())


def random_findings(net, rng, levels=None):
    hard, soft = {}, {}
    for node in net.nodes:
        r = rng.random()
        if r < 0.25:
            hard[node] = net.states[node][int(rng.integers(net.card(node)))]
        elif r < 0.45:
            soft[node] = (rng.uniform(0.0, 2.0, net.card(node)) if levels is None
                          else rng.choice(levels, size=net.card(node)))
    return hard, soft


def check_against_enumeration(net, hard, soft):
    best, top, pe = brute_mpe(net, hard, soft)
    engine = ExactEngine(net)
    if top == 0:
        with pytest.raises(InferenceError, match="impossible"):
            engine.mpe(hard, soft)
        return None
    got = engine.mpe(hard, soft)
    assert got.ties == (len(best) > 1), (got, best)
    assert got.assignment in best
    if not got.ties:
        assert got.assignment == best[0]
    assert got.log_evidence == pytest.approx(np.log(pe), abs=1e-12)
    assert got.joint == pytest.approx(top, rel=RTOL)
    assert got.conditional == pytest.approx(top / pe, rel=RTOL)
    return got


@pytest.mark.parametrize("seed", range(8))
def test_mpe_matches_enumeration_with_hard_and_soft_evidence(seed):
    """40 random networks per seed (1-8 nodes, 2-4 states, up to 3 parents)."""
    rng = np.random.default_rng(seed)
    for _ in range(40):
        net = random_network(rng, int(rng.integers(1, 9)), max_parents=3, cards=(2, 4))
        check_against_enumeration(net, *random_findings(net, rng))


def _dyadic_network(rng, n):
    """CPT rows from a few dyadic distributions: exact floating-point ties are common."""
    rows = {2: [[0.5, 0.5], [0.25, 0.75], [0.75, 0.25], [1.0, 0.0]],
            3: [[0.5, 0.25, 0.25], [0.25, 0.25, 0.5], [0.5, 0.5, 0.0], [0.25, 0.5, 0.25]]}
    net = random_network(rng, n, max_parents=2, cards=(2, 3))
    cpts = {}
    for node in net.nodes:
        shape = net.cpts[node].shape
        choices = rows[shape[-1]]
        picks = rng.integers(len(choices), size=shape[:-1])
        cpts[node] = np.asarray(choices)[picks]
    return net.with_cpts(cpts)


def test_ties_are_reported_exactly_when_another_scenario_is_as_probable():
    """Networks whose products tie exactly: the flag must agree with enumeration both ways
    (a tie missed or invented fails), and the scenario returned must be one of the maxima."""
    rng = np.random.default_rng(2024)
    seen = {True: 0, False: 0}
    for _ in range(150):
        net = _dyadic_network(rng, int(rng.integers(2, 8)))
        got = check_against_enumeration(net, *random_findings(net, rng, [0.25, 0.5, 1.0]))
        if got is not None:
            seen[got.ties] += 1
    assert seen[True] >= 20 and seen[False] >= 20, seen


def test_ties_keep_the_first_states():
    """Two independent fair coins: four equally likely scenarios; the rule keeps the first."""
    net = Network({"a": ["heads", "tails"], "b": ["heads", "tails"], "c": ["x", "y"]},
                  {"c": ["a"]},
                  {"a": [0.5, 0.5], "b": [0.5, 0.5], "c": [[0.9, 0.1], [0.9, 0.1]]})
    got = ExactEngine(net).mpe()
    assert got.assignment == {"a": "heads", "b": "heads", "c": "x"} and got.ties
    assert got.conditional == pytest.approx(0.25 * 0.9, rel=1e-15)
    assert ExactEngine(net).mpe({"c": "y"}, {"b": [0.2, 0.3]}).assignment == {
        "a": "heads", "b": "tails"}


def test_long_chains_do_not_underflow_and_match_viterbi():
    """400 nodes of 20 states (every probability near 0.05), a finding on every third: P(x*, e)
    ~ 1e-390 is below float64, yet the scenario and its log probability equal a log-space
    Viterbi's (1e-12 relative) and the conditional is a finite probability."""
    n, k = 400, 20
    rng = np.random.default_rng(9)
    states = {f"x{i}": [f"s{j}" for j in range(k)] for i in range(n)}
    parents = {f"x{i}": [f"x{i - 1}"] for i in range(1, n)}
    cpts = {"x0": rng.dirichlet(np.full(k, 50.0)),
            **{f"x{i}": rng.dirichlet(np.full(k, 50.0), size=k) for i in range(1, n)}}
    net = Network(states, parents, cpts)
    evidence = {f"x{i}": "s0" for i in range(0, n, 3)}
    got = ExactEngine(net).mpe(evidence)
    # Viterbi: best[s] = log-probability of the best path ending in state s
    allowed = [np.where(np.arange(k) == 0, 0.0, -np.inf) if f"x{i}" in evidence
               else np.zeros(k) for i in range(n)]
    best = np.log(cpts["x0"]) + allowed[0]
    back = []
    for i in range(1, n):
        scores = best[:, None] + np.log(cpts[f"x{i}"])
        back.append(scores.argmax(axis=0))
        best = scores.max(axis=0) + allowed[i]
    path = [int(best.argmax())]
    for pointers in reversed(back):
        path.append(int(pointers[path[-1]]))
    path.reverse()
    assert got.assignment == {f"x{i}": f"s{s}" for i, s in enumerate(path)
                              if f"x{i}" not in evidence}
    assert got.log_joint == pytest.approx(best.max(), rel=1e-12) and got.log_joint < -800
    assert got.joint == 0.0 and 0 < got.conditional <= 1 and not got.ties


def test_impossible_evidence_names_the_conflict():
    net = random_network(np.random.default_rng(3), 5)
    node = net.nodes[0]
    with pytest.raises(InferenceError, match="impossible") as caught:
        ExactEngine(net).mpe({node: net.states[node][0]}, {node: np.r_[0.0, np.ones(
            net.card(node) - 1)]})
    assert node in str(caught.value)


def test_unknown_nodes_and_batched_inputs_are_refused():
    net = random_network(np.random.default_rng(4), 4)
    with pytest.raises(EvidenceError, match="did you mean 'x1'"):
        ExactEngine(net).mpe({"x01": "s0"})
    batched = {"x0": np.stack([net.cpts["x0"]] * 3)}
    with pytest.raises(EvidenceError, match="one network") as caught:
        ExactEngine(net).mpe(cpts=batched)
    assert "scenario_probability" in str(caught.value)


def test_scenario_probability_over_draws_is_a_loop_of_single_networks():
    """The interval machinery: one batched call equals the loop, and on one network it is the
    MPE's own conditional, a marginal for a one-node scenario, 0 against the evidence."""
    rng = np.random.default_rng(11)
    net = random_network(rng, 7)
    hard, soft = {"x6": "s1"}, {"x3": rng.uniform(0.1, 1.0, net.card("x3"))}
    engine = ExactEngine(net)
    best = engine.mpe(hard, soft)
    assert engine.scenario_probability(best.assignment, hard, soft) == pytest.approx(
        best.conditional, rel=RTOL)
    draws = {n: rng.dirichlet(np.ones(net.card(n)), size=(5, *t.shape[:-1]))
             for n, t in net.cpts.items()}
    batched = engine.scenario_probability(best.assignment, hard, soft, draws)
    assert batched.shape == (5,)
    for d in range(5):
        one = engine.scenario_probability(best.assignment, hard, soft,
                                          {n: t[d] for n, t in draws.items()})
        assert batched[d] == pytest.approx(one, rel=1e-12)
        mpe_d = engine.mpe(hard, soft, {n: t[d] for n, t in draws.items()})
        assert mpe_d.conditional >= batched[d] * (1 - RTOL)  # the draw's own MPE is likelier
    marginal = engine.query(hard, soft).marginals["x2"]
    assert engine.scenario_probability({"x2": "s1"}, hard, soft) == pytest.approx(
        marginal[1], rel=1e-12)
    assert engine.scenario_probability({"x6": "s0"}, hard, soft) == 0.0
    with pytest.raises(EvidenceError, match="scenario x9=s0"):
        engine.scenario_probability({"x9": "s0"}, hard, soft)


def test_a_plan_over_the_memory_limit_is_refused_before_max_product(monkeypatch):
    """The MPE runs the query's plan: over FORECAST_MAX_INTERMEDIATE it is refused at planning,
    before any max-product table exists."""
    import forecast.network.exact as exact

    def never(*args, **kwargs):
        raise AssertionError("max-product ran on a refused plan")

    monkeypatch.setattr(exact, "max_product", never)
    monkeypatch.setenv("FORECAST_MAX_INTERMEDIATE", "8")
    with pytest.raises(InferenceError, match="more than the limit of 8"):
        ExactEngine(normalized("alarm")).mpe({"HR": "HIGH"})


# ------------------------------------------------------------------------------------- peers
def dense_findings(net: Network, rng: np.random.Generator, budget: int):
    """Hard findings from one forward sample on every node but a random set whose joint table
    has at most `budget` entries (pgmpy's map_query builds that table), and a soft finding on
    one of the free nodes."""
    values: dict[str, int] = {}
    for node in net.order:
        row = net.cpts[node][tuple(values[p] for p in net.parents[node])]
        values[node] = int(rng.choice(len(row), p=row / row.sum()))
    free, size = [], 1
    for i in rng.permutation(len(net.nodes)):
        node = net.nodes[i]
        if size * net.card(node) <= budget:
            free.append(node)
            size *= net.card(node)
    hard = {n: net.states[n][values[n]] for n in net.nodes if n not in free}
    soft = {free[0]: rng.uniform(0.1, 1.0, net.card(free[0]))}
    return hard, soft, free


def check_peer(engine, hard, soft, assignment, probability):
    """A peer's MPE and its P(x* | e) against ours."""
    ours = engine.mpe(hard, soft)
    assert probability == pytest.approx(ours.conditional, rel=RTOL)
    if not ours.ties:
        assert assignment == ours.assignment
    assert engine.scenario_probability(assignment, hard, soft) == pytest.approx(
        ours.conditional, rel=RTOL)
    return ours


@pytest.mark.skipif(importlib.util.find_spec("pgmpy") is None, reason="needs forecast[peers]")
@pytest.mark.parametrize("name", ["asia", "alarm", "hepar2", "child"])
def test_mpe_matches_pgmpy_map_query(name):
    """pgmpy's map_query over every free node (it contracts their joint table, so most nodes
    are observed), with a soft finding as pgmpy virtual evidence; the probability of the
    scenario from pgmpy's own joint query."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from pgmpy.factors.discrete import TabularCPD
        from pgmpy.inference import VariableElimination

    net = normalized(name)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    hard, soft, free = dense_findings(net, rng, 2**12)
    virtual = [TabularCPD(n, net.card(n), np.asarray(lam).reshape(-1, 1),
                          state_names={n: list(net.states[n])}) for n, lam in soft.items()]
    ve = VariableElimination(to_pgmpy(net))
    theirs = ve.map_query(variables=free, evidence=hard, virtual_evidence=virtual,
                          show_progress=False)
    theirs = {n: str(theirs[n]) for n in net.order if n in theirs}
    joint = VariableElimination(to_pgmpy(net)).query(
        free, evidence=hard, virtual_evidence=virtual, joint=True, show_progress=False)
    probability = float(joint.get_value(**theirs))
    ours = check_peer(ExactEngine(net), hard, soft, theirs, probability)
    assert set(ours.assignment) == set(free)


@pytest.mark.skipif(importlib.util.find_spec("pyagrum") is None, reason="needs forecast[peers]")
def test_mpe_matches_pyagrum_where_its_mpe_runs():
    """pyAgrum 3.3's LazyPropagation.mpeLog2Posterior. It raises "Empty tensor" on most
    bnlearn networks and on some random ones (without evidence always): those are skipped,
    but at least 25 networks must be compared."""
    import pyagrum as gum

    rng = np.random.default_rng(5)
    cases = [(normalized("sachs"), 3)] + [(random_network(rng, int(rng.integers(3, 10))), 1)
                                          for _ in range(40)]
    compared = 0
    for net, n_hard in cases:
        engine = ExactEngine(net)
        sample = net.sample(1, rng)  # findings at one forward sample's states: possible
        hard = {str(n): net.states[n][int(sample[n][0])]
                for n in rng.choice(list(net.nodes), size=n_hard, replace=False)}
        ie = gum.LazyPropagation(to_pyagrum(net))
        for n, s in hard.items():
            ie.addEvidence(n, net.state_index(n, s))
        try:
            inst, log2 = ie.mpeLog2Posterior()
        except gum.FatalError as err:
            assert "Empty tensor" in str(err)
            continue
        theirs = {n: net.states[n][inst[n]] for n in net.order if n not in hard}
        check_peer(engine, hard, {}, theirs, 2.0 ** log2)
        compared += 1
    assert compared >= 25, compared


# --------------------------------------------------------------------------------------- CLI
def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def bundled(name: str) -> Path:
    return Path(importlib.util.find_spec("pgmpy").submodule_search_locations[0]) \
        / "utils" / "example_models" / f"{name}.bif.gz"


@pytest.mark.skipif(importlib.util.find_spec("pgmpy") is None, reason="needs the bundled BIFs")
def test_cli_mpe_json_is_the_library_answer():
    path = bundled("alarm")
    result = run("query", path, "--mpe", "-e", "HR=HIGH", "-s", "BP=0.2,0.5,0.3", "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    best = ExactEngine(read_bif(path, normalize=True)).mpe({"HR": "HIGH"},
                                                            {"BP": [0.2, 0.5, 0.3]})
    assert got["assignment"] == best.assignment and "HR" not in got["assignment"]
    assert got["conditional"] == pytest.approx(best.conditional, rel=1e-12)
    assert got["log_evidence"] == pytest.approx(best.log_evidence, rel=1e-12)
    assert got["ties"] == best.ties and got["do"] == {}


@pytest.mark.skipif(importlib.util.find_spec("pgmpy") is None, reason="needs the bundled BIFs")
def test_cli_do_on_a_bif_cuts_the_parents():
    """do(either=yes) leaves its parents (tub, lung) at their no-evidence marginals, unlike
    observing it; --mpe with --do keeps the set node out of the scenario."""
    path = bundled("asia")
    net = read_bif(path, normalize=True)
    prior = ExactEngine(net).query().marginals

    def marginals(*args):
        result = run("query", path, "--json", *args)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)["marginals"]

    done = marginals("--do", "either=yes")
    seen = marginals("-e", "either=yes")
    np.testing.assert_allclose(list(done["lung"].values()), prior["lung"], atol=1e-15)
    assert seen["lung"]["yes"] > done["lung"]["yes"] + 0.1
    assert done["either"]["yes"] == 1.0
    best = run("query", path, "--mpe", "--do", "either=yes", "-e", "xray=no")
    assert best.exit_code == 0, best.output
    assert "do(either=yes)" in best.output and "\neither " not in best.output


def test_cli_do_without_posterior_is_the_prior_mean_network_cut():
    spec = load_spec(EXAMPLE)
    result = run("query", EXAMPLE, "--do", "caliphate=yes", "-e", "conflict=steady", "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)["marginals"]
    net = prior_mean_network(spec).intervene({"caliphate": "yes"})
    post = ExactEngine(net).query({"conflict": "steady"})
    for node, probs in post.marginals.items():
        np.testing.assert_allclose(list(got[node].values()), probs, atol=1e-12)
    text = run("query", EXAMPLE, "--do", "caliphate=yes")
    assert text.exit_code == 0 and "do(caliphate=yes)" in text.output and "(set)" in text.output


def test_cli_mpe_text_on_a_model_has_labels_and_the_probability():
    result = run("query", EXAMPLE, "--mpe", "-e", "reconciliation=failed")
    assert result.exit_code == 0, result.output
    best = ExactEngine(prior_mean_network(load_spec(EXAMPLE))).mpe(
        {"reconciliation": "failed"})
    for node, state in best.assignment.items():
        assert f"{node} " in result.output and f"= {state}" in result.output
    assert "Militants proclaim" in result.output  # caliphate's label
    assert f"P(scenario | reconciliation=failed) = {best.conditional:.6g}" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-e", "reconciliation=failed", "-s", "caliphate=0,0"], "impossible"),
        (["-e", "reconcilation=failed"], "did you mean 'reconciliation'"),
        (["--do", "calphate=yes"], "did you mean 'caliphate'"),
        (["--do", "caliphate=maybe"], "no state 'maybe'"),
        (["--do", "caliphate=yes", "-e", "caliphate=no"], "also observed"),
    ],
)
def test_cli_mpe_bad_input_is_one_clear_error(args, message):
    result = run("query", EXAMPLE, "--mpe", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.count("error:") == 1
    assert "Traceback" not in result.output


def test_cli_mpe_posterior_on_a_bif_is_refused(tmp_path):
    path = tmp_path / "x.bif"
    path.write_text("network x {}\nvariable a { type discrete [ 2 ] { n, y }; }\n"
                    "probability ( a ) { table 0.5, 0.5; }\n")
    result = run("query", path, "--mpe", "--posterior")
    assert result.exit_code == 2 and "needs a model file" in result.output


def test_cli_mpe_posterior_interval_brackets_the_point_answer():
    """The scenario's mean over the posterior draws is the posterior predictive, which equals
    the point answer on the prior-mean network up to Monte Carlo error: 5 standard errors of
    the 4000 resampled draws (≈ 0.004 here)."""
    result = run("query", EXAMPLE, "--mpe", "-e", "reconciliation=failed", "--posterior",
                 "--json", "--seed", "3")
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    post = got["posterior"]
    assert post["draws"] == 4000 and post["hdi_prob"] == 0.9
    assert post["hdi_low"] < got["conditional"] < post["hdi_high"]
    spread = (post["hdi_high"] - post["hdi_low"]) / (2 * 1.645)  # ≈ the draws' sd
    assert abs(post["mean"] - got["conditional"]) < 5 * spread / np.sqrt(post["draws"])


def test_most_probable_is_exported_and_serialises():
    best = ExactEngine(random_network(np.random.default_rng(8), 4)).mpe()
    assert isinstance(best, MostProbable)
    as_json = json.loads(json.dumps(best.to_dict()))
    assert as_json["assignment"] == best.assignment and as_json["evidence"] == {}
    assert as_json["conditional"] == pytest.approx(best.joint)  # no evidence: P(e) = 1
    assert list(itertools.islice(best.assignment, 1)) == [best.network.order[0]]
