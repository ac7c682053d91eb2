"""The explanations (sensitivity, VOI, conflict, attribution), each against an independent check.

Most tests use a six-node model written here, in two versions: ``FIXED`` (every CPT entry a
fixed number, so every explanation must equal exact inference on one network) and
``UNCERTAIN`` (the same structure with Dirichlet rows). With one case, no twins and independent
node parameters, integrating over θ equals exact inference with the prior-mean CPT entries, which
gives a second, sampler-free reference for the uncertain version. The flagship model is used for
``attribute_runs`` between two stored runs and for an end-to-end value-of-information check.

Structure of the small model: ``a → b → c``, ``a → d1``, ``a → d2`` (d1 and d2 have identical
CPTs), and ``z`` unconnected. Given ``b``, node ``c`` is d-separated from ``a``, ``d1``, ``d2``
and ``z``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special

from forecast.analysis.attribution import attribute_change, attribute_changes
from forecast.analysis.conflict import evidence_conflict
from forecast.analysis.draws import PROBABILITY_FLOOR
from forecast.analysis.sensitivity import parameter_sensitivity
from forecast.analysis.voi import value_of_information, value_of_information_network
from forecast.errors import EvidenceError, ForecastError, InferenceError, RunStoreError
from forecast.evidence.case import Case
from forecast.evidence.ledger import case_as_of, case_from_rows, load_ledger, rows_as_of
from forecast.evidence.observations import Report
from forecast.inference.importance import importance_forecast
from forecast.model.cpts import build_cpts, prior_mean_network
from forecast.model.load import load_spec, parse_spec
from forecast.model.parameters import parameters, sample_parameters
from forecast.model.schema import ModelSpec
from forecast.network.exact import ExactEngine
from forecast.ops.attribution import attribute_runs
from forecast.ops.store import Run
from forecast.ops.update import update

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "models" / "isis_pakistan_2015.yaml"
FLAGSHIP_LEDGER = ROOT / "data" / "isis_pakistan_ledger.csv"
EXAMPLE = ROOT / "models" / "afghan_caliphate.yaml"
TODAY = pd.Timestamp("2026-01-01").date()


def _binary(name: str, parent: str, rows: dict[str, tuple[float, float]],
            states: tuple[str, str] = ("no", "yes")) -> str:
    lines = [f"  {name}:", f"    label: {name.upper()}",
             f'    states: ["{states[0]}", "{states[1]}"]',
             f"    parents: [{parent}]",
             f'    definition: {{kind: condition, states: {{"{states[0]}": x, "{states[1]}": y}}}}',
             "    cpt:", "      table:", "        assumption: t", "        rows:"]
    for when, (p0, p1) in rows.items():
        lines.append(f'          - {{when: {{{parent}: {when}}}, probabilities: '
                     f'{{"{states[0]}": {p0}, "{states[1]}": {p1}}}}}')
    return "\n".join(lines) + "\n"


FIXED = (
    "model: {name: tiny_explain, title: Tiny explain}\n"
    "nodes:\n"
    "  a:\n    label: A\n    states: [lo, hi]\n"
    "    definition: {kind: condition, states: {lo: l, hi: h}}\n"
    "    cpt: {table: {assumption: t, rows: [{probabilities: {lo: 0.6, hi: 0.4}}]}}\n"
    + _binary("b", "a", {"lo": (0.8, 0.2), "hi": (0.25, 0.75)}, ("lo", "hi"))
    + _binary("c", "b", {"lo": (0.9, 0.1), "hi": (0.3, 0.7)})
    + _binary("d1", "a", {"lo": (0.7, 0.3), "hi": (0.2, 0.8)})
    + _binary("d2", "a", {"lo": (0.7, 0.3), "hi": (0.2, 0.8)})
    + "  z:\n    label: Z\n    states: [p, q, r]\n"
    "    definition: {kind: condition, states: {p: p, q: q, r: r}}\n"
    "    cpt: {table: {assumption: t, rows: [{probabilities: {p: 0.2, q: 0.3, r: 0.5}}]}}\n"
)


def _uncertain(text: str) -> str:
    """Every row of a, b, c, d1, d2 becomes Dirichlet counts (10 × the probabilities); z stays
    fixed, so it is the one node without uncertain parameters."""
    head, tail = text.split("  z:\n")

    def counts(match: re.Match) -> str:
        body = re.sub(r"([\w\"]+): ([\d.]+)",
                      lambda m: f"{m.group(1)}: {10 * float(m.group(2)):g}", match.group(1))
        return f"counts: {{{body}}}"

    return re.sub(r"probabilities: \{([^}]*)\}", counts, head) + "  z:\n" + tail


UNCERTAIN = _uncertain(FIXED)
# c = yes is impossible when b = lo, and z = p is impossible
ZERO = FIXED.replace('{b: lo}, probabilities: {"no": 0.9, "yes": 0.1}',
                     '{b: lo}, probabilities: {"no": 1.0, "yes": 0.0}').replace(
    "{p: 0.2, q: 0.3, r: 0.5}", "{p: 0.0, q: 0.5, r: 0.5}")

# All nodes are conditions, so every row is entered on its own node (no twins).
LEDGER = [
    "A1,2015-01-05,z,,1;2;4",
    "B1,2015-01-10,b,lo,",
    "D1,2015-02-01,d1,yes,",
    "D2,2015-02-01,d2,yes,",
    "B2,2015-03-01,b,,0.2;0.9",
    "Z2,2015-03-02,z,r,",
    "A3,2015-03-03,a,,0.5;1",
]
BEFORE, AFTER = "2015-01-31", "2015-03-31"
# before: A1, B1. after: D1, D2, B2, Z2, A3 (A1 and B1 are superseded on their nodes)
PLAYERS = {"A1": "removed", "B1": "removed", "A3": "added", "B2": "added", "D1": "added",
           "D2": "added", "Z2": "added"}


def _load(folder: Path, lines: list[str], spec: ModelSpec, name: str = "ledger.csv"
          ) -> pd.DataFrame:
    text = ["id,date,node,state,likelihood,grade,source,url,note"]
    for line in lines:
        row_id = line.split(",")[0]
        text.append(f"{line},B2,Dawn,https://example.org/{row_id},note {row_id}")
    path = folder / name
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return load_ledger(path, spec, today=TODAY)


@pytest.fixture(scope="module")
def fixed() -> ModelSpec:
    return parse_spec(FIXED, filename="fixed.yaml")


@pytest.fixture(scope="module")
def uncertain() -> ModelSpec:
    return parse_spec(UNCERTAIN, filename="uncertain.yaml")


@pytest.fixture(scope="module")
def zero() -> ModelSpec:
    return parse_spec(ZERO, filename="zero.yaml")


@pytest.fixture(scope="module")
def exact(fixed: ModelSpec) -> ExactEngine:
    """The fixed model's one network."""
    return ExactEngine(prior_mean_network(fixed))


@pytest.fixture(scope="module")
def mean_engine(uncertain: ModelSpec) -> ExactEngine:
    """Exact inference at the uncertain model's prior-mean CPT entries."""
    return ExactEngine(prior_mean_network(uncertain))


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory, fixed: ModelSpec) -> pd.DataFrame:
    return _load(tmp_path_factory.mktemp("ledger"), LEDGER, fixed)


@pytest.fixture(scope="module")
def rows(ledger: pd.DataFrame, fixed: ModelSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    return rows_as_of(ledger, fixed, BEFORE), rows_as_of(ledger, fixed, AFTER)


def _soft(case: Case) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=float) for k, v in case.soft.items()}


def _p(engine: ExactEngine, case: Case, node: str, state: str) -> float:
    post = engine.query(case.evidence, _soft(case))
    return float(post.marginals[node][engine.network.states[node].index(state)])


def _contributions(att) -> pd.Series:
    return att.table.set_index("row_id")["contribution"].sort_index()


# ============================================================================ attribution
def test_players_are_the_rows_that_changed_with_their_kind(fixed, rows):
    att = attribute_change(fixed, *rows, "c", "yes")
    assert dict(zip(att.table["row_id"], att.table["change"], strict=True)) == PLAYERS
    assert att.exact and att.diagnostics["players"] == len(PLAYERS)
    assert att.diagnostics["coalitions"] == 2 ** len(PLAYERS)
    assert (att.table["se"] < 1e-12).all()  # exact, and every draw the same network
    assert list(att.table["contribution"].abs()) == sorted(att.table["contribution"].abs(),
                                                          reverse=True)
    assert set(att.table.loc[att.table["row_id"] == "B2", "label"]) == {
        "2015-03-01 b ~(0.2, 0.9) — Dawn"}


def test_before_and_after_are_exact_inference_when_the_cpts_are_fixed(fixed, rows, exact):
    att = attribute_change(fixed, *rows, "c", "yes", draws=50)
    before, after = (case_from_rows(r, fixed) for r in rows)
    assert att.before == pytest.approx(_p(exact, before, "c", "yes"), abs=1e-12)
    assert att.after == pytest.approx(_p(exact, after, "c", "yes"), abs=1e-12)
    assert att.before == pytest.approx(0.1)  # b = lo observed


def test_efficiency_exact_path(uncertain, rows):
    att = attribute_change(uncertain, *rows, "c", "yes", draws=1000, seed=3)
    assert att.table["contribution"].sum() == pytest.approx(att.log_odds_change, abs=1e-9)
    assert att.log_odds_change == pytest.approx(special.logit(att.after)
                                                - special.logit(att.before), abs=1e-9)
    assert abs(att.log_odds_change) > 0.3  # a real change to share out


def test_efficiency_sampled_path_holds_exactly_per_order(uncertain, rows):
    # every order's marginal contributions telescope to v(all) - v(none), so the sampled
    # estimate is efficient to rounding, not just within its standard errors
    att = attribute_change(uncertain, *rows, "c", "yes", draws=1000, seed=3, exact_max=2,
                           permutations=10)
    assert not att.exact and (att.table["se"] > 0).any()
    assert att.table["contribution"].sum() == pytest.approx(att.log_odds_change, abs=1e-9)


def test_before_and_after_are_the_importance_weighted_posterior_means(uncertain, rows,
                                                                      mean_engine):
    draws, seed = 2000, 5
    att = attribute_change(uncertain, *rows, "c", "yes", draws=draws, seed=seed)
    cpts = build_cpts(uncertain, sample_parameters(uncertain, draws,
                                                   np.random.default_rng(seed)))
    for got, kept in ((att.before, rows[0]), (att.after, rows[1])):
        case = case_from_rows(kept, uncertain)
        post = mean_engine.query(case.evidence, _soft(case), cpts)
        w = special.softmax(post.log_evidence)  # self-normalised weights ∝ P(e | θ)
        p = post.marginals["c"][:, 1]
        mean = float(w @ p)
        assert got == pytest.approx(mean, abs=1e-9)  # the same draws, computed directly
        # and, independently of any draws: exact inference at the prior-mean CPT entries
        mcse = math.sqrt(float(w**2 @ (p - mean) ** 2))
        assert abs(got - _p(mean_engine, case, "c", "yes")) <= 4 * mcse


def test_contributions_do_not_depend_on_the_order_of_the_rows(uncertain, rows):
    rng = np.random.default_rng(11)
    shuffled = [r.iloc[rng.permutation(len(r))] for r in rows]  # index left shuffled too
    for kw in ({}, {"exact_max": 3, "permutations": 20}):
        a = attribute_change(uncertain, *rows, "c", "yes", draws=500, **kw)
        b = attribute_change(uncertain, *shuffled, "c", "yes", draws=500, **kw)
        pd.testing.assert_series_equal(_contributions(a), _contributions(b), rtol=0,
                                       atol=1e-12)
        assert (a.before, a.after) == pytest.approx((b.before, b.after), abs=1e-12)


def test_rows_about_an_unconnected_node_get_nothing(fixed, rows):
    att = _contributions(attribute_change(fixed, *rows, "c", "yes", draws=20))
    assert abs(att["A1"]) < 1e-12 and abs(att["Z2"]) < 1e-12  # z is unconnected to c
    assert abs(att["B1"]) > 0.1 and abs(att["B2"]) > 0.1


def test_two_rows_with_identical_effects_share_equally(fixed, rows):
    att = _contributions(attribute_change(fixed, *rows, "c", "yes", draws=20))
    assert att["D1"] == pytest.approx(att["D2"], abs=1e-12)
    assert att["D1"] > 1e-3  # d1 = yes says a = hi, which raises c when b is not known


def test_a_superseded_row_and_an_uninformative_row_get_nothing(tmp_path, uncertain, rows):
    before = rows[0]  # A1 (z soft), B1 (b = lo, 2015-01-10)
    extra = rows_as_of(_load(tmp_path, ["B0,2015-01-08,b,hi,", "U1,2015-01-20,d2,,0.4;0.4",
                                        "D1,2015-02-01,d1,yes,"], uncertain), uncertain, AFTER)
    after = pd.concat([before, extra], ignore_index=True)
    att = attribute_change(uncertain, before, after, "c", "yes", draws=1000, seed=2)
    phi = _contributions(att)
    assert set(phi.index) == {"B0", "U1", "D1"}
    # B0 is older than B1, which every coalition keeps: no coalition's case changes
    assert phi["B0"] == 0.0
    # a likelihood with equal entries says nothing about d2
    assert abs(phi["U1"]) < 1e-12
    # ... while under uncertain CPTs even a row on a node d-separated from c (d1, given b)
    # moves the estimate a little through the importance weights: the checks above are not
    # passing by accident
    assert 0 < abs(phi["D1"]) < 0.05


def test_a_decayed_soft_row_is_a_changed_player(fixed, ledger, exact):
    before = rows_as_of(ledger, fixed, AFTER)
    after = rows_as_of(ledger, fixed, AFTER, half_life_days=20)  # soft rows lose weight
    att = attribute_change(fixed, before, after, "c", "yes", draws=20)
    soft = before.loc[[isinstance(v, tuple) for v in before["likelihood"]], "id"]
    assert set(soft) == {"B2", "A3"}
    assert dict(zip(att.table["row_id"], att.table["change"], strict=True)) == dict.fromkeys(
        soft, "changed")
    assert att.after == pytest.approx(_p(exact, case_from_rows(after, fixed), "c", "yes"),
                                      abs=1e-12)
    assert abs(att.after - att.before) > 0.01
    assert att.table["contribution"].sum() == pytest.approx(att.log_odds_change, abs=1e-9)
    assert all(" weight 0." in label for label in att.table["label"])


def test_exact_and_sampled_shapley_values_agree_within_their_standard_errors(uncertain, rows):
    n = len(PLAYERS)
    exact = attribute_change(uncertain, *rows, "c", "yes", draws=1000, seed=4, exact_max=n)
    sampled = attribute_change(uncertain, *rows, "c", "yes", draws=1000, seed=4,
                               exact_max=n - 1, permutations=200)
    assert exact.exact and not sampled.exact
    se = sampled.table.set_index("row_id")["se"].sort_index()
    diff = (_contributions(exact) - _contributions(sampled)).abs()
    assert (diff <= 4 * se + 1e-12).all(), pd.DataFrame({"diff": diff, "se": se})
    assert (se > 0).sum() >= 4  # the agreement is not a matter of zero error bars
    assert sampled.before == exact.before and sampled.after == exact.after


def test_several_scenarios_at_once_equal_one_at_a_time(uncertain, rows):
    """The coalitions, draws and orders do not depend on the scenario: one query per
    coalition serves them all, with the numbers of separate calls."""
    targets = [("c", "yes"), ("b", "lo"), ("d1", "yes")]
    for kw in ({}, {"exact_max": 2, "permutations": 6}):
        together = attribute_changes(uncertain, *rows, targets, draws=300, seed=7, **kw)
        for (node, state), att in zip(targets, together, strict=True):
            alone = attribute_change(uncertain, *rows, node, state, draws=300, seed=7, **kw)
            assert (att.node, att.state, att.exact) == (node, state, alone.exact)
            assert (att.before, att.after) == pytest.approx((alone.before, alone.after),
                                                            abs=1e-12)
            # (rows whose shares tie at 0 may sort either way: compare by row)
            pd.testing.assert_frame_equal(att.table.set_index("row_id").sort_index(),
                                          alone.table.set_index("row_id").sort_index(),
                                          rtol=0, atol=1e-12)


@pytest.mark.parametrize("kw", [{}, {"exact_max": 2, "permutations": 10}],
                         ids=["exact", "sampled"])
def test_standard_errors_match_the_spread_over_reseeded_draws_and_orders(uncertain, rows, kw):
    """``se`` counts the parameter draws' error (the delta method), not only the sampled
    orders': over 16 seeds (new draws, new orders) the contributions spread as much as it
    says. The exact path has draws' error too (its ``se`` used to be 0)."""
    runs = [attribute_change(uncertain, *rows, "c", "yes", draws=300, seed=seed, **kw)
            .table.set_index("row_id").sort_index() for seed in range(16)]
    spread = pd.concat([r["contribution"] for r in runs], axis=1).std(axis=1)
    se = pd.concat([r["se"] for r in runs], axis=1).mean(axis=1)
    moving = spread > 1e-6
    assert moving.sum() >= 4
    ratio = spread[moving] / se[moving]
    # 16 seeds: the sample SD is within a factor 0.6-1.5 of the truth ~98% of the time
    assert ratio.between(0.5, 2.0).all(), pd.DataFrame({"spread": spread, "se": se})
    assert (se[~moving] < 1e-9).all()  # rows with no effect have no error either


def test_coalition_cases_are_case_from_rows_of_the_coalitions_rows(flagship, flagship_runs):
    """The coalitions' cases are assembled node by node from the rows that stand; each must
    be exactly ``case_from_rows`` of the coalition's rows."""
    from forecast.analysis.attribution import _CoalitionCases, _players
    from forecast.provenance import canonical_json

    players, pool, base = _players(*(r.evidence for r in flagship_runs))
    cases = _CoalitionCases(flagship, pool, players, base)
    rng = np.random.default_rng(0)
    untouched = [k for k in base if cases.node_of[k] not in cases.touched]
    full = (1 << len(players)) - 1
    for mask in [0, full, *(int(m) & full for m in rng.integers(0, 2**62, size=60))]:
        want = case_from_rows(pool.iloc[sorted([*untouched, *cases.rows(mask)])], flagship)
        assert canonical_json(cases.case(mask).to_json()) == canonical_json(want.to_json())


def test_a_row_on_the_scenario_node_settles_it(tmp_path, uncertain, rows):
    extra = rows_as_of(_load(tmp_path, ["C1,2015-03-05,c,yes,"], uncertain), uncertain, AFTER)
    after = pd.concat([rows[1], extra], ignore_index=True)
    att = attribute_change(uncertain, rows[0], after, "c", "yes", draws=500)
    assert att.after == pytest.approx(1 - PROBABILITY_FLOOR, rel=1e-12)
    assert att.table["contribution"].sum() == pytest.approx(att.log_odds_change, abs=1e-9)
    assert _contributions(att)["C1"] > 5  # most of the ±13.8 cap


def test_no_changed_rows_means_no_players(uncertain, rows):
    att = attribute_change(uncertain, rows[1], rows[1].copy(), "c", "yes", draws=500)
    assert att.table.empty and att.exact and att.before == att.after
    data = json.loads(json.dumps(att.to_json()))
    assert data["rows"] == [] and data["log_odds_change"] == 0.0


def test_attribution_serialises_to_plain_json(uncertain, rows):
    att = attribute_change(uncertain, *rows, "c", "yes", draws=500)
    data = json.loads(json.dumps(att.to_json()))
    assert [r["row_id"] for r in data["rows"]] == list(att.table["row_id"])
    assert data["before"] == att.before and data["exact"] is True
    assert sum(r["contribution"] for r in data["rows"]) == pytest.approx(
        data["log_odds_change"], abs=1e-9)


def test_bad_rows_and_scenarios_are_named(uncertain, rows, zero, tmp_path):
    before, after = rows
    with pytest.raises(EvidenceError) as info:
        attribute_change(uncertain, before.drop(columns=["weight", "target"]), after, "c", "yes")
    (problem,) = info.value.problems
    assert problem.where == "rows_before" and "weight" in problem.message
    with pytest.raises(EvidenceError) as info:
        attribute_change(uncertain, before, pd.concat([after, after.iloc[:1]]), "c", "yes")
    (problem,) = info.value.problems
    assert problem.where == "rows_after" and after["id"].iloc[0] in problem.message
    with pytest.raises(EvidenceError) as info:
        attribute_change(uncertain, before, after, "cc", "yes")
    assert info.value.problems[0].where == "node" and "'c'" in info.value.problems[0].hint
    with pytest.raises(EvidenceError) as info:
        attribute_change(uncertain, before, after, "c", "yse")
    assert info.value.problems[0].where == "state" and "'yes'" in info.value.problems[0].hint
    # b = lo (kept) and a new c = yes cannot hold together when P(c = yes | b = lo) = 0
    extra = rows_as_of(_load(tmp_path, ["C1,2015-01-20,c,yes,"], zero), zero, BEFORE)
    with pytest.raises(InferenceError) as info:
        attribute_change(zero, before, pd.concat([before, extra]), "d1", "yes", draws=20)
    assert info.value.problems[0].where == "rows" and "C1" in info.value.problems[0].message


# ---------------------------------------------------------------------------- between runs
@pytest.fixture(scope="module")
def flagship(flagship_spec: ModelSpec) -> ModelSpec:
    return flagship_spec


@pytest.fixture(scope="module")
def flagship_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Run]:
    runs = tmp_path_factory.mktemp("runs")
    first = update(FLAGSHIP, FLAGSHIP_LEDGER, as_of="2015-08-24", runs_dir=runs,
                   semantics="snapshot")
    second = update(FLAGSHIP, FLAGSHIP_LEDGER, as_of="2017-08-24", runs_dir=runs,
                    semantics="snapshot")
    assert first.status == second.status == "published"
    return first.run, second.run


@pytest.fixture(scope="module")
def flagship_attribution(flagship, flagship_runs):
    return attribute_runs(flagship, *flagship_runs, "caliphate_declared", "yes", draws=1000,
                          permutations=4, seed=0)


def _finding(row: pd.Series) -> tuple:
    likelihood = row["likelihood"] if isinstance(row["likelihood"], tuple) else None
    state = None if pd.isna(row["state"]) else str(row["state"])
    return str(row["target"]), state, likelihood, float(row["weight"])


def test_attribute_runs_shares_out_the_change_between_two_flagship_runs(
        flagship_runs, flagship_attribution):
    att = flagship_attribution
    old, new = (r.evidence.set_index("id") for r in flagship_runs)
    changed = {i for i in old.index.intersection(new.index)
               if _finding(old.loc[i]) != _finding(new.loc[i])}
    expected = ({i: "removed" for i in old.index.difference(new.index)}
                | {i: "added" for i in new.index.difference(old.index)}
                | dict.fromkeys(changed, "changed"))
    assert dict(zip(att.table["row_id"], att.table["change"], strict=True)) == expected
    assert not att.exact and att.diagnostics["players"] == len(expected) > 8
    assert att.table["contribution"].sum() == pytest.approx(att.log_odds_change, abs=1e-9)
    for key, run in zip(("reported_before", "reported_after"), flagship_runs, strict=True):
        summary = run.summary.set_index(["node", "state"])
        assert att.diagnostics[key] == summary.loc[("caliphate_declared", "yes"), "mean"]
    # this computation's own estimates agree with the runs' forecasts (its probabilities are
    # self-normalised importance estimates: MCSE at most 0.5 / sqrt(ESS))
    for got, key, ess in ((att.before, "reported_before", att.diagnostics["ess_before"]),
                          (att.after, "reported_after", att.diagnostics["ess_after"])):
        assert abs(got - att.diagnostics[key]) <= 4 * 0.5 / math.sqrt(ess) + 0.005
    assert not att.notes


def test_an_uninformative_ledger_row_gets_nothing_between_runs(flagship_runs,
                                                               flagship_attribution):
    phi = _contributions(flagship_attribution)
    rows = pd.concat([run.evidence for run in flagship_runs])
    flat = {str(r.id) for r in rows.itertuples()
            if isinstance(r.likelihood, tuple) and len(set(r.likelihood)) == 1} & set(phi.index)
    assert flat, "the ledger has a 0.5;0.5 row (E043) in the second window only"
    for row_id in flat:
        assert abs(phi[row_id]) < 1e-9


def test_attribute_runs_refuses_runs_of_another_model_and_notes_a_changed_model(
        flagship, flagship_runs):
    with pytest.raises(RunStoreError) as info:
        attribute_runs(load_spec(EXAMPLE), *flagship_runs, "caliphate", "yes")
    assert {p.where for p in info.value.problems} == {str(r.path) for r in flagship_runs}
    assert "isis_pakistan_2015" in info.value.problems[0].message
    first, second = flagship_runs
    edited = Run(first.run_id, first.path, {**first.manifest, "model_hash": "0" * 64})
    att = attribute_runs(flagship, edited, second, "caliphate_declared", "yes", draws=300,
                         permutations=2)
    assert any("another version of the model" in note for note in att.notes)


# ============================================================================ value of information
def _entropy(p: float) -> float:
    return float(special.entr([p, 1 - p]).sum() / math.log(2))


def _brute_force_voi(engine: ExactEngine, case: Case, node: str, state: str,
                     candidates: list[str]) -> dict[str, dict]:
    """I(S; X | e) = H(S | e) - Σ_x P(x | e) H(S | e, x), one exact query per state of X."""
    s = engine.network.states[node].index(state)
    now = engine.query(case.evidence, _soft(case))
    base = float(now.marginals[node][s])
    out = {}
    for x in candidates:
        px = now.marginals[x]
        p_if = np.array([engine.query({**case.evidence, x: v}, _soft(case)).marginals[node][s]
                         if px[i] > 0 else base
                         for i, v in enumerate(engine.network.states[x])])
        out[x] = {"mutual_info": _entropy(base) - float(px @ [_entropy(p) for p in p_if]),
                  "expected_shift": float(px @ np.abs(p_if - base)), "px": px, "p_if": p_if,
                  "base": base}
    return out


@pytest.mark.parametrize("case", [
    Case(),
    Case({"d1": "yes"}, {"d2": (0.3, 1.0)}),
    Case({"a": "lo"}, {"z": (1.0, 0.2, 0.5)}),
    Case({}, {"b": (0.4, 1.0), "c": (1.0, 0.5)}),
])
def test_value_of_information_equals_brute_force_with_fixed_cpts(fixed, exact, case):
    table = value_of_information(fixed, case, "c", "yes", draws=20)
    observed = {"c", *case.evidence, *case.soft}
    assert set(table["node"]) == set(fixed.node_names) - observed
    truth = _brute_force_voi(exact, case, "c", "yes", list(table["node"]))
    for row in table.itertuples():
        want = truth[row.node]
        assert row.mutual_info == pytest.approx(want["mutual_info"], abs=1e-10), row.node
        assert row.expected_shift == pytest.approx(want["expected_shift"], abs=1e-10)
        got_px = list(table.attrs["p_states"][row.node].values())
        np.testing.assert_allclose(got_px, want["px"], atol=1e-12)
        np.testing.assert_allclose(list(table.attrs["p_if"][row.node].values()),
                                   want["p_if"], atol=1e-12)
        moves = np.sort(np.abs(want["p_if"] - want["base"]))
        if moves[-1] - moves[-2] > 1e-9:  # a clear winner (d1 and d2 are ties: P(x) = 0.5)
            states = fixed.states[row.node]
            best = states[int(np.argmax(np.abs(want["p_if"] - want["base"])))]
            assert row.most_informative_state == best, row.node
    assert table.attrs["base"] == pytest.approx(_p(exact, case, "c", "yes"), abs=1e-12)
    assert table.attrs["entropy"] == pytest.approx(_entropy(table.attrs["base"]), abs=1e-12)
    assert (table["mutual_info"] >= 0).all()
    assert list(table["mutual_info"]) == sorted(table["mutual_info"], reverse=True)


def test_nodes_d_separated_from_the_scenario_carry_no_information(fixed):
    table = value_of_information(fixed, Case({"b": "hi"}), "c", "yes", draws=20)
    assert set(table["node"]) == {"a", "d1", "d2", "z"}
    assert table["mutual_info"].abs().max() < 1e-12
    assert table["expected_shift"].abs().max() < 1e-12
    # without the finding on b, a and d1 do inform c, and z (unconnected) still does not
    open_ = value_of_information(fixed, Case(), "c", "yes", draws=20).set_index("node")
    assert open_.loc["a", "mutual_info"] > 0.01 and open_.loc["d1", "mutual_info"] > 1e-3
    assert open_.loc["z", "mutual_info"] < 1e-12


def test_an_explicit_candidate_may_be_a_softly_observed_node(fixed, exact):
    case = Case({"d1": "yes"}, {"b": (0.4, 1.0)})
    table = value_of_information(fixed, case, "c", "yes", candidates=["b", "b", "z"], draws=20)
    assert list(table["node"]) == ["b", "z"]
    truth = _brute_force_voi(exact, case, "c", "yes", ["b"])
    assert table.iloc[0]["mutual_info"] == pytest.approx(truth["b"]["mutual_info"], abs=1e-10)


def test_the_network_version_equals_the_spec_version_with_fixed_cpts(fixed, exact):
    case = Case({"d1": "yes"}, {"z": (1.0, 0.2, 0.5)})
    by_spec = value_of_information(fixed, case, "c", "yes", draws=20)
    by_net = value_of_information_network(exact.network, "c", "yes", evidence=case.evidence,
                                          soft=case.soft)
    pd.testing.assert_frame_equal(by_spec, by_net, check_exact=False, rtol=0, atol=1e-12)


def test_value_of_information_integrates_over_uncertain_parameters(uncertain, mean_engine):
    """P(S, X | e) integrated over θ is exact inference at the prior-mean CPT entries."""
    case = Case({"d1": "yes"}, {"b": (0.5, 1.0)})
    forecast = importance_forecast(uncertain, case, draws=20_000, target_mcse=1.0, seed=1)
    truth = _brute_force_voi(mean_engine, case, "c", "yes", ["a", "b", "d2", "z"])
    for kw in ({"draws": 20_000, "seed": 1}, {"forecast": forecast}):
        table = value_of_information(uncertain, case, "c", "yes", candidates=list(truth),
                                     **kw).set_index("node")
        assert list(table["mutual_info"]) == sorted(table["mutual_info"], reverse=True)
        ess = table.attrs["diagnostics"]["ess"]
        tol = 4 * 0.5 / math.sqrt(ess)  # probabilities: MCSE at most 0.5 / sqrt(ESS)
        assert table.attrs["base"] == pytest.approx(truth["a"]["base"], abs=tol)
        for x, want in truth.items():
            np.testing.assert_allclose(list(table.attrs["p_if"][x].values()), want["p_if"],
                                       atol=2 * tol)
            assert table.loc[x, "mutual_info"] == pytest.approx(want["mutual_info"],
                                                                abs=max(0.1 * want["mutual_info"],
                                                                        1e-3))
        # z is fixed and unconnected: for every draw P(S | e, z, θ) = P(S | e, θ), so its
        # P(S | e, z) is the posterior mean exactly, with the same weights as the base
        np.testing.assert_allclose(list(table.attrs["p_if"]["z"].values()),
                                   table.attrs["base"], rtol=0, atol=1e-12)
        assert table.loc["z", "mutual_info"] < 1e-12


def test_value_of_information_on_the_flagship_with_its_forecast(flagship, flagship_runs):
    run = flagship_runs[1]
    case = case_as_of(load_ledger(FLAGSHIP_LEDGER, flagship), flagship, "2017-08-24")
    forecast = run.forecast()
    table = value_of_information(flagship, case, "caliphate_declared", "yes",
                                 forecast=forecast)
    assert set(table["node"]) == set(flagship.node_names) - {"caliphate_declared",
                                                             *case.evidence, *case.soft}
    assert (table["mutual_info"] >= 0).all() and table["mutual_info"].iloc[0] > 0
    # the engine's per-draw P(S | e, θ) from the forecast's θ reproduces the forecast's own
    draws = forecast.probability("caliphate_declared", "yes").values
    assert table.attrs["base"] == pytest.approx(float(draws.mean()), abs=1e-9)
    assert table.attrs["entropy"] <= 1.0


def test_value_of_information_rejects_bad_input(uncertain, fixed):
    with pytest.raises(EvidenceError) as info:
        value_of_information(uncertain, Case(), "cc", "yes", draws=20)
    assert info.value.problems[0].where == "node"
    with pytest.raises(EvidenceError) as info:
        value_of_information(uncertain, Case(), "c", "maybe", draws=20)
    assert info.value.problems[0].where == "state" and "no, yes" in info.value.problems[0].hint
    with pytest.raises(EvidenceError) as info:
        value_of_information(uncertain, Case({"c": "yes"}), "c", "yes", draws=20)
    assert info.value.problems[0].where == "case.evidence[c]"
    with pytest.raises(EvidenceError) as info:
        value_of_information(uncertain, Case({"a": "lo"}), "c", "yes",
                             candidates=["a", "c", "dd1"], draws=20)
    assert [p.where for p in info.value.problems] == ["candidate a", "candidate c",
                                                      "candidate dd1"]
    assert "'d1'" in info.value.problems[2].hint
    reports = Case(reports=(Report("a", "lo", "Dawn", "B2"),))
    with pytest.raises(EvidenceError) as info:
        value_of_information(uncertain, reports, "c", "yes", draws=20)
    assert info.value.problems[0].where == "case"
    forecast = importance_forecast(uncertain, Case({"a": "lo"}), draws=500, target_mcse=1.0)
    with pytest.raises(ForecastError) as info:
        value_of_information(uncertain, Case({"a": "hi"}), "c", "yes", forecast=forecast)
    assert [p.where for p in info.value.problems] == ["forecast"]
    with pytest.raises(ForecastError, match="another model"):
        value_of_information(fixed, Case({"a": "lo"}), "c", "yes", forecast=forecast)


def test_impossible_findings_are_an_inference_error(zero):
    with pytest.raises(InferenceError, match="impossible"):
        value_of_information(zero, Case({"b": "lo"}, {"c": (0.0, 1.0)}), "a", "hi", draws=20)


# ============================================================================ conflict
def _log_p(engine: ExactEngine, evidence: dict, soft: dict | None = None) -> float:
    return float(engine.log_evidence(evidence, {k: np.asarray(v, float)
                                                for k, v in (soft or {}).items()}))


def test_conflict_is_the_ratio_of_marginals_to_joint(fixed, exact):
    case = Case({"a": "lo", "d1": "yes", "z": "r"}, {"b": (0.2, 1.0)})
    table = evidence_conflict(fixed, case, draws=20)
    singles = {"a=lo": _log_p(exact, {"a": "lo"}), "d1=yes": _log_p(exact, {"d1": "yes"}),
               "z=r": _log_p(exact, {"z": "r"}), "b~(0.2, 1)": _log_p(exact, {}, case.soft)}
    parts = {"a=lo": ({"a": "lo"}, {}), "d1=yes": ({"d1": "yes"}, {}),
             "z=r": ({"z": "r"}, {}), "b~(0.2, 1)": ({}, dict(case.soft))}
    whole = table.iloc[0]
    assert whole["size"] == 4 and whole["findings"] == "all 4 findings"
    assert whole["conflict"] == pytest.approx(
        sum(singles.values()) - _log_p(exact, case.evidence, case.soft), abs=1e-12)
    pairs = table.iloc[1:]
    assert len(pairs) == 6 and (pairs["size"] == 2).all()
    assert list(pairs["conflict"]) == sorted(pairs["conflict"], reverse=True)
    for row in pairs.itertuples():
        (e1, s1), (e2, s2) = parts[row.first], parts[row.second]
        joint = math.exp(_log_p(exact, {**e1, **e2}, {**s1, **s2}))
        ratio = math.exp(singles[row.first]) * math.exp(singles[row.second]) / joint
        assert row.ratio == pytest.approx(ratio, rel=1e-12), row.findings
        assert row.conflict == pytest.approx(math.log(ratio), abs=1e-12)
    by_pair = pairs.set_index("findings")
    # P(d1 = yes | a = lo) = 0.3 < P(d1 = yes) = 0.5: a conflict of 5/3
    assert by_pair.loc["a=lo & d1=yes", "ratio"] == pytest.approx(5 / 3, rel=1e-12)
    assert by_pair.loc["a=lo & d1=yes", "flagged"]
    assert table.attrs["source"] == "prior" and table.attrs["units"] == "nats"


def test_compatible_and_unrelated_findings_are_not_flagged(fixed):
    table = evidence_conflict(fixed, Case({"a": "hi", "d1": "yes"}), draws=20)
    assert table.iloc[1]["ratio"] == pytest.approx(0.5 / 0.8, rel=1e-12)  # they agree
    assert not table["flagged"].any()
    # z is unconnected: its pairs are exactly unrelated, whatever rounding says
    for node in ("a", "b", "c", "d1", "d2"):
        for state in fixed.states[node]:
            for z in fixed.states["z"]:
                pair = evidence_conflict(fixed, Case({node: state, "z": z}), draws=3).iloc[1]
                assert abs(pair["conflict"]) < 1e-12
                assert not pair["flagged"], (node, state, z, pair["conflict"])


def test_a_threshold_flags_only_stronger_conflicts(fixed):
    case = Case({"a": "lo", "d1": "yes", "d2": "yes"})
    table = evidence_conflict(fixed, case, draws=20, threshold=math.log(1.5))
    pairs = table.iloc[1:].set_index("findings")
    assert pairs.loc["a=lo & d1=yes", "flagged"] and pairs.loc["a=lo & d2=yes", "flagged"]
    assert not pairs.loc["d1=yes & d2=yes", "flagged"]  # they support each other
    assert pairs.loc["d1=yes & d2=yes", "conflict"] < 0


def test_conflict_integrates_over_uncertain_parameters(uncertain, mean_engine):
    case = Case({"a": "lo", "d1": "yes", "c": "yes"})
    table = evidence_conflict(uncertain, case, draws=20_000, seed=2)
    e = dict(case.evidence)
    for row in table.itertuples():
        members = [f.split("=") for f in (row.first, row.second)] if row.first else [
            [k, v] for k, v in e.items()]
        joint = _log_p(mean_engine, dict(members))
        truth = sum(_log_p(mean_engine, {k: v}) for k, v in members) - joint
        assert row.conflict == pytest.approx(truth, abs=0.02), row.findings  # ~5 MCSE


def test_an_impossible_pair_has_infinite_conflict_and_a_single_one_is_an_error(zero):
    table = evidence_conflict(zero, Case({"b": "lo", "c": "yes"}), draws=20)
    assert np.isinf(table["conflict"]).all() and table["flagged"].all()
    with pytest.raises(InferenceError) as info:
        evidence_conflict(zero, Case({"z": "p", "c": "yes"}), draws=20)
    assert [p.where for p in info.value.problems] == ["z=p"]


def test_conflict_from_a_forecasts_draws_and_bad_input(fixed, uncertain):
    case = Case({"a": "lo", "d1": "yes"})
    forecast = importance_forecast(fixed, case, draws=500, target_mcse=1.0)
    posterior = evidence_conflict(fixed, case, forecast=forecast)
    prior = evidence_conflict(fixed, case, draws=20)
    assert posterior.attrs["source"] == "posterior" and posterior.attrs["draws"] == 500
    np.testing.assert_allclose(posterior["conflict"], prior["conflict"], atol=1e-12)
    with pytest.raises(ForecastError):
        evidence_conflict(fixed, Case({"a": "hi"}), forecast=forecast)
    with pytest.raises(EvidenceError) as info:
        evidence_conflict(uncertain, Case(reports=(Report("a", "lo", "Dawn", "B2"),)))
    assert info.value.problems[0].where == "case"


# ============================================================================ sensitivity
@pytest.fixture(scope="module")
def sensitivity_forecast(uncertain):
    return importance_forecast(uncertain, Case({"b": "hi"}), draws=8000, target_mcse=1.0,
                               seed=6)


def test_sensitivity_is_sorted_by_swing_with_the_forecast_mean_as_base(
        uncertain, sensitivity_forecast):
    table = parameter_sensitivity(sensitivity_forecast, "c", "yes", spec=uncertain)
    assert list(table["swing"].abs()) == sorted(table["swing"].abs(), reverse=True)
    np.testing.assert_allclose(table["swing"], table["high"] - table["low"], atol=1e-15)
    draws = sensitivity_forecast.probability("c", "yes").values.reshape(-1)
    assert table.attrs["base"] == pytest.approx(draws.mean(), abs=1e-12)
    summary = sensitivity_forecast.summary.set_index(["node", "state"]).loc[("c", "yes")]
    # the draws are a resample of the weighted posterior: the base is its mean within MC error
    assert abs(table.attrs["base"] - summary["mean"]) <= 4 * (
        summary["mcse"] + draws.std() / math.sqrt(len(draws)))


def test_only_the_parameter_behind_the_scenario_swings(uncertain, sensitivity_forecast):
    """Given b = hi, P(c = yes | b = hi, θ) is the entry θ_c(yes | b = hi) itself."""
    table = parameter_sensitivity(sensitivity_forecast, "c", "yes", spec=uncertain)
    draws = sensitivity_forecast.probability("c", "yes").values.reshape(-1)
    k = len(draws) // 10
    ranked = np.sort(draws)
    top = table.set_index("parameter").loc["c.row[b=hi][1]"]
    assert top["low"] == pytest.approx(ranked[:k].mean(), abs=1e-9)
    assert top["high"] == pytest.approx(ranked[-k:].mean(), abs=1e-9)
    assert set(table["parameter"].iloc[:2]) == {"c.row[b=hi][0]", "c.row[b=hi][1]"}
    # every other parameter is independent of that entry under the posterior: its swing is
    # the difference of two means of k draws, noise of sd about sd(p) · sqrt(2 / k) (with
    # resampled duplicates, a few times more)
    noise = draws.std() * math.sqrt(2 / k)
    rest = table.iloc[2:]
    assert (rest["swing"].abs() <= 6 * noise).all(), rest
    assert abs(top["swing"]) > 20 * noise


def test_fixed_parameters_are_left_out_and_labels_name_the_entries(
        uncertain, sensitivity_forecast):
    table = parameter_sensitivity(sensitivity_forecast, "c", "yes", spec=uncertain)
    fixed_names = {p.name for p in parameters(uncertain) if p.fixed}
    assert fixed_names == {"z.row[0]"}
    assert not any(name.startswith("z.") for name in table["parameter"])
    labels = table.set_index("parameter")["label"]
    assert labels["c.row[b=hi][1]"] == "c | P(yes) when b=hi"
    plain = parameter_sensitivity(sensitivity_forecast, "c", "yes").set_index("parameter")
    assert plain.loc["c.row[b=hi][1]", "label"] == "c | table row when b=hi[1]"
    pd.testing.assert_series_equal(plain["swing"], table.set_index("parameter")["swing"])


def test_sensitivity_rejects_an_unknown_scenario(sensitivity_forecast):
    with pytest.raises(EvidenceError) as info:
        parameter_sensitivity(sensitivity_forecast, "cc", "yes")
    assert info.value.problems[0].where == "node" and "'c'" in info.value.problems[0].hint
    with pytest.raises(EvidenceError) as info:
        parameter_sensitivity(sensitivity_forecast, "c", "ja")
    assert info.value.problems[0].where == "state"
