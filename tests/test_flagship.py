"""The flagship model holds to its article: every claim used and quoted verbatim, every
directional claim true at the prior mean and in at least 95% of prior draws, every worded prior
inside its ICD 203 band.

The tables below are the claims' content in testable form; models/README.md explains them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
from click.testing import CliRunner

from forecast.cli import main
from forecast.model import priors
from forecast.model.checks import check_claim_quotes
from forecast.model.cpts import build_cpts, prior_mean_network
from forecast.model.load import parse_spec
from forecast.model.parameters import Parameter, parameters, sample_parameters
from forecast.model.schema import Logit, ModelSpec, NoisyOr, Table
from forecast.network.exact import ExactEngine
from tests.conftest import seed_article

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "isis_pakistan_2015.yaml"
CLAIMS = [f"C{i}" for i in range(1, 19)]
N_DRAWS = 2000
SHARE = 0.95  # a directional claim must hold in at least this share of prior draws

COULD = (0.20, 0.55)  # "could", "can", "does run the danger of" (header of the model file)


class Direction(NamedTuple):
    """P(node = state | a) > P(node = state | b), as the claim says."""

    claim: str
    a: dict[str, str]
    b: dict[str, str]
    node: str
    state: str


def _d(claim: str, parent: str, hi: str, lo: str, node: str, state: str) -> Direction:
    return Direction(claim, {parent: hi}, {parent: lo}, node, state)


DIRECTIONS = [
    # the headline (¶13) and the opposite pull of ¶12's second sentence
    _d("C18", "reconciliation", "none", "achieved", "caliphate_declared", "yes"),
    _d("C17", "reconciliation", "achieved", "none", "hardliners_back_isis", "yes"),
    # (given reconciliation, the claim's premise: hardliners backing ISIS is otherwise also a
    # sign of reconciliation, which closes the Taliban's route to a proclamation)
    Direction("C17", {"reconciliation": "achieved", "hardliners_back_isis": "yes"},
              {"reconciliation": "achieved", "hardliners_back_isis": "no"},
              "pro_isis_alliance", "yes"),
    Direction("C17", {"reconciliation": "achieved", "hardliners_back_isis": "yes"},
              {"reconciliation": "achieved", "hardliners_back_isis": "no"},
              "caliphate_declared", "yes"),
    # ¶12: a failing government or escalation → alliances → captured areas → a "caliphate"
    _d("C16", "afghan_gov_response", "fails", "effective", "pro_isis_alliance", "yes"),
    _d("C16", "afghan_gov_response", "fails", "effective", "border_territory_held", "yes"),
    _d("C16", "afghan_gov_response", "fails", "effective", "caliphate_declared", "yes"),
    _d("C16", "afghan_conflict", "worsening", "easing", "pro_isis_alliance", "yes"),
    _d("C16", "afghan_conflict", "worsening", "easing", "caliphate_declared", "yes"),
    _d("C16", "pro_isis_alliance", "yes", "no", "border_territory_held", "yes"),
    _d("C16", "border_territory_held", "yes", "no", "caliphate_declared", "yes"),
    # ¶4: the danger of alliances, attacks and captured border areas; ISIS itself unlikely
    _d("C6", "isis_k_strength", "strong", "weak", "pro_isis_alliance", "yes"),
    _d("C6", "isis_k_strength", "strong", "weak", "border_territory_held", "yes"),
    _d("C6", "pro_isis_alliance", "yes", "no", "isis_attack_pakistan", "yes"),
    _d("C5", "isis_core_direct_presence", "yes", "no", "caliphate_declared", "yes"),
    # ¶10: a worsening Afghanistan and a porous border reach Pakistan
    _d("C14", "afghan_conflict", "worsening", "easing", "border_territory_held", "yes"),
    _d("C14", "afghan_conflict", "worsening", "easing", "isis_attack_pakistan", "yes"),
    _d("C14", "border_territory_held", "yes", "no", "isis_attack_pakistan", "yes"),
    _d("C14", "border_cooperation", "poor", "functioning", "border_territory_held", "yes"),
    # ¶7–¶8, ¶11: the three factors of ISIS influence in Pakistan
    _d("C10", "pk_counter_militancy", "faltering", "sustained", "isis_influence_pakistan", "high"),
    _d("C11", "isis_k_strength", "strong", "weak", "isis_influence_pakistan", "high"),
    _d("C11", "afghan_conflict", "worsening", "easing", "isis_influence_pakistan", "high"),
    _d("C11", "border_cooperation", "poor", "functioning", "isis_influence_pakistan", "high"),
    _d("C12", "isis_core_territory", "holding", "collapsed", "isis_influence_pakistan", "high"),
    # ¶6, ¶9: Pakistani pledgers pushed into Afghanistan; ISIS stronger there
    _d("C9", "pk_counter_militancy", "sustained", "faltering", "ttp_relocation", "yes"),
    _d("C9", "ttp_relocation", "yes", "no", "isis_k_strength", "strong"),
    _d("C13", "afghan_gov_response", "fails", "effective", "isis_k_strength", "strong"),
    # ¶3, ¶5, ¶11: recruitment, Iran links, religious parties
    _d("C7", "isis_influence_pakistan", "high", "low", "recruitment_to_syria", "high"),
    _d("C7", "isis_core_territory", "holding", "collapsed", "recruitment_to_syria", "high"),
    _d("C4", "sectarian_appeal", "high", "low", "recruitment_to_syria", "high"),
    _d("C4", "sectarian_appeal", "high", "low", "isis_attack_pakistan", "yes"),
    _d("C8", "isis_influence_pakistan", "high", "low", "iran_border_links", "yes"),
    _d("C15", "isis_core_territory", "holding", "collapsed",
       "religious_party_radicalisation", "yes"),
    # ¶2–¶3: indicators raise belief in what they indicate
    _d("C3", "isis_influence_pakistan", "high", "low", "support_expressions", "yes"),
    _d("C3", "support_expressions", "yes", "no", "isis_influence_pakistan", "high"),
    _d("C2", "support_expressions", "yes", "no", "isis_attack_pakistan", "yes"),
    _d("C1", "isis_claim_pakistan", "yes", "no", "isis_attack_pakistan", "yes"),
    _d("C1", "official_attribution", "yes", "no", "isis_attack_pakistan", "yes"),
]

# (claim, evidence, node, state, band): the article's word for a conditional probability that
# no single parameter carries, checked on the prior-predictive mean (exact inference at the
# prior-mean CPTs). Bands from the mapping in the model file's header.
BANDS: list[tuple[str, dict[str, str], str, str, tuple[float, float]]] = [
    ("C5", {}, "isis_core_direct_presence", "yes", priors.PROBABILITY_BANDS["almost no chance"]),
    ("C6", {}, "pro_isis_alliance", "yes", COULD),
    ("C6", {}, "border_territory_held", "yes", COULD),
    ("C16", {"afghan_gov_response": "fails"}, "caliphate_declared", "yes", COULD),
    ("C16", {"afghan_conflict": "worsening"}, "caliphate_declared", "yes", COULD),
    ("C17", {"reconciliation": "achieved"}, "hardliners_back_isis", "yes", COULD),
    ("C18", {"reconciliation": "none"}, "caliphate_declared", "yes", COULD),
    ("C15", {"isis_core_territory": "holding"}, "religious_party_radicalisation", "yes", COULD),
    ("C8", {"isis_influence_pakistan": "high"}, "iran_border_links", "yes",
     priors.PROBABILITY_BANDS["unlikely"]),
    ("C14", {"border_territory_held": "yes"}, "isis_attack_pakistan", "yes",
     priors.PROBABILITY_BANDS["very likely"]),
    ("C3", {"isis_influence_pakistan": "high"}, "support_expressions", "yes",
     priors.PROBABILITY_BANDS["very likely"]),
]


# --------------------------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec(flagship_spec: ModelSpec) -> ModelSpec:
    return flagship_spec


@pytest.fixture(scope="module")
def engine(spec: ModelSpec) -> ExactEngine:
    return ExactEngine(prior_mean_network(spec))


@pytest.fixture(scope="module")
def draws(spec: ModelSpec) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20150824)
    return build_cpts(spec, sample_parameters(spec, N_DRAWS, rng))


def _p(
    spec: ModelSpec,
    engine: ExactEngine,
    evidence: Mapping[str, str],
    node: str,
    state: str,
    cpts: Mapping[str, np.ndarray] | None = None,
) -> Any:
    """P(node = state | evidence): a float, or one value per draw if `cpts` is batched."""
    post = engine.query(dict(evidence), cpts=cpts)
    return post.marginals[node][..., spec.nodes[node].states.index(state)]


def _direction(
    spec: ModelSpec, engine: ExactEngine, draws: Mapping[str, np.ndarray], row: Direction
) -> tuple[float, float, float]:
    """(P at the mean given a, given b, share of draws where a's exceeds b's)."""
    mean_a = float(_p(spec, engine, row.a, row.node, row.state))
    mean_b = float(_p(spec, engine, row.b, row.node, row.state))
    draws_a = _p(spec, engine, row.a, row.node, row.state, cpts=draws)
    draws_b = _p(spec, engine, row.b, row.node, row.state, cpts=draws)
    assert draws_a.shape == draws_b.shape == (len(next(iter(draws.values()))),)
    return mean_a, mean_b, float(np.mean(draws_a > draws_b))


def _written(spec: ModelSpec, p: Parameter) -> Any:
    """The prior as written in the model file for a probability parameter, else None."""
    body = spec.nodes[p.node].cpt.body
    index = re.search(r"\[(\d+)\]$", p.path)
    i = int(index.group(1)) if index else 0
    if p.role == "row" and isinstance(body, Table) and p.states:
        return body.rows[i].prior[p.states[0]] if body.rows[i].prior else None
    if p.role == "baseline" and isinstance(body, Logit):
        return body.baseline.prior
    if p.role == "leak" and isinstance(body, NoisyOr):
        return body.leak.prior
    if p.role == "link" and isinstance(body, NoisyOr):
        return body.links[i].prior
    return None


def _band(value: Any) -> tuple[float, float] | None:
    """The ICD 203 band of a word, or the span of {between: [lo, hi]}; None otherwise."""
    if isinstance(value, str):
        return priors.probability_word(value)[1]
    if isinstance(value, Mapping) and "between" in value:
        lo, hi = value["between"]
        return float(lo), float(hi)
    return None


# --------------------------------------------------------------------------------------------
# the model and its claims
# --------------------------------------------------------------------------------------------


def test_model_validates_with_claims_c1_to_c18_each_used(spec: ModelSpec) -> None:
    assert list(spec.claims) == CLAIMS
    usage = spec.claim_usage()
    assert [c for c, users in usage.items() if not users] == []
    assert max(len(p) for p in spec.parents.values()) <= 4  # keeps every CPT small
    assert spec.scenarios[0] == "caliphate_declared"
    for name, node in spec.nodes.items():  # every node resolvable: record and window
        assert node.definition.record, name
        assert (node.definition.kind == "event") == (node.definition.window is not None), name


def test_node_contract_with_the_evidence_ledger(spec: ModelSpec) -> None:
    contract = {
        "pk_counter_militancy": ("faltering", "sustained"),
        "afghan_conflict": ("easing", "stalemate", "worsening"),
        "afghan_gov_response": ("fails", "effective"),
        "reconciliation": ("none", "achieved"),
        "border_cooperation": ("poor", "functioning"),
        "isis_core_territory": ("collapsed", "holding"),
        "sectarian_appeal": ("low", "high"),
        "isis_influence_pakistan": ("low", "high"),
        "recruitment_to_syria": ("low", "high"),
        "isis_k_strength": ("weak", "strong"),
    }
    events = [
        "hardliners_back_isis", "pro_isis_alliance", "border_territory_held",
        "caliphate_declared", "isis_core_direct_presence", "support_expressions",
        "isis_attack_pakistan", "isis_claim_pakistan", "official_attribution",
        "iran_border_links", "religious_party_radicalisation",
    ]
    contract |= {name: ("no", "yes") for name in [*events, "ttp_relocation"]}
    assert {n: spec.states[n] for n in contract} == contract
    assert all(spec.nodes[n].definition.kind == "event" for n in events)


def test_no_event_drives_a_condition(spec: ModelSpec) -> None:
    kind = {n: node.definition.kind for n, node in spec.nodes.items()}
    backwards = [
        (p, n) for n, ps in spec.parents.items() for p in ps
        if kind[p] == "event" and kind[n] == "condition"
    ]
    assert backwards == []


def test_every_quote_is_verbatim_in_the_seed_article(spec: ModelSpec) -> None:
    text = seed_article()
    assert check_claim_quotes(spec.name, spec.claims, text, first_paragraph="Karachi:") == []
    assert spec.claims["C12"].paragraph == [8, 11] and len(spec.claims["C12"].quotes) == 2
    assert spec.claims["C18"].paragraph == [13]


def test_quote_check_can_fail(spec: ModelSpec) -> None:
    text = seed_article()
    claims = dict(spec.claims)
    claims["C5"] = claims["C5"].model_copy(update={"quote": "minimal likelihood of ISIS"})
    claims["C18"] = claims["C18"].model_copy(update={"paragraph": [12]})
    problems = check_claim_quotes(spec.name, claims, text, first_paragraph="Karachi:")
    assert [p.where for p in problems] == [f"{spec.name}: claims.C5", f"{spec.name}: claims.C18"]


# --------------------------------------------------------------------------------------------
# directional claims: at the prior mean and in >= 95% of prior draws
# --------------------------------------------------------------------------------------------


def test_every_directional_claim_holds(
    spec: ModelSpec, engine: ExactEngine, draws: dict[str, np.ndarray]
) -> None:
    assert {row.claim for row in DIRECTIONS} >= set(CLAIMS) - {"C13"}
    failures = []
    for row in DIRECTIONS:
        mean_a, mean_b, share = _direction(spec, engine, draws, row)
        if not (mean_a > mean_b and share >= SHARE):
            failures.append(f"{row}: {mean_a:.3f} vs {mean_b:.3f}, holds in {share:.1%}")
    assert failures == []


def test_headline_failed_reconciliation_raises_the_odds_of_a_caliphate(
    spec: ModelSpec, engine: ExactEngine, draws: dict[str, np.ndarray]
) -> None:
    row = DIRECTIONS[0]
    mean_none, mean_achieved, share = _direction(spec, engine, draws, row)
    mean_any = float(_p(spec, engine, {}, "caliphate_declared", "yes"))
    assert mean_achieved < mean_any < mean_none
    assert mean_none / mean_achieved > 1.5  # a clear effect, not a rounding margin
    assert share >= 0.99


def test_c13_isis_is_stronger_in_afghanistan_than_in_pakistan(
    spec: ModelSpec, engine: ExactEngine, draws: dict[str, np.ndarray]
) -> None:
    afghan = _p(spec, engine, {}, "isis_k_strength", "strong")
    pakistan = _p(spec, engine, {}, "isis_influence_pakistan", "high")
    assert afghan > pakistan
    afghan_d = _p(spec, engine, {}, "isis_k_strength", "strong", cpts=draws)
    pakistan_d = _p(spec, engine, {}, "isis_influence_pakistan", "high", cpts=draws)
    assert np.mean(afghan_d > pakistan_d) >= SHARE


def test_c1_neither_indicator_alone_proves_involvement(
    spec: ModelSpec, engine: ExactEngine
) -> None:
    for indicator in ("isis_claim_pakistan", "official_attribution"):
        assert _p(spec, engine, {indicator: "yes"}, "isis_attack_pakistan", "yes") < 0.95
    both = _p(
        spec, engine, {"isis_claim_pakistan": "yes", "official_attribution": "yes"},
        "isis_attack_pakistan", "yes",
    )
    assert both > _p(spec, engine, {"isis_claim_pakistan": "yes"}, "isis_attack_pakistan", "yes")


def test_directional_check_can_fail(spec: ModelSpec) -> None:
    """With the ¶13 link pointed at the wrong state, the headline no longer holds."""
    text = MODEL.read_text(encoding="utf-8")
    old = "          - parent: reconciliation\n            state: none\n"
    assert text.count(old) == 1
    flipped = parse_spec(text.replace(old, old.replace("none", "achieved")))
    engine = ExactEngine(prior_mean_network(flipped))
    draws = build_cpts(flipped, sample_parameters(flipped, 200, np.random.default_rng(1)))
    mean_a, mean_b, share = _direction(flipped, engine, draws, DIRECTIONS[0])
    assert mean_a < mean_b and share < 0.05


# --------------------------------------------------------------------------------------------
# worded priors inside their ICD 203 bands
# --------------------------------------------------------------------------------------------


def test_every_worded_prior_lies_in_its_band(spec: ModelSpec) -> None:
    rng = np.random.default_rng(0)
    checked = 0
    for p in parameters(spec):
        band = _band(_written(spec, p))
        if band is None:
            continue
        lo, hi = band
        sample = p.prior.sample(rng, 20_000)
        assert lo <= p.prior.mean <= hi, p.describe()
        assert lo <= sample.mean() <= hi, p.describe()
        inside = np.mean((sample >= lo) & (sample <= hi))
        assert abs(inside - 0.90) < 0.02, (p.describe(), inside)  # band = 5%-95% quantiles
        checked += 1
    assert checked >= 30


def test_claim_level_probabilities_lie_in_their_words_bands(
    spec: ModelSpec, engine: ExactEngine
) -> None:
    failures = []
    for claim, evidence, node, state, (lo, hi) in BANDS:
        value = float(_p(spec, engine, evidence, node, state))
        if not lo <= value <= hi:
            failures.append(f"{claim} P({node}={state} | {evidence}) = {value:.3f}")
    assert failures == []


def test_priors_from_words_not_numbers(spec: ModelSpec) -> None:
    """Every probability parameter is a word or a band, every effect a strength word."""
    for p in parameters(spec):
        if p.role == "effect":
            node = spec.nodes[p.node].cpt.logit
            assert node is not None
            assert all(e.strength is not None for e in node.effects), p.name
        elif p.role == "row" and not p.states:
            assert p.assumption, p.name  # Dirichlet counts: an explicit assumption
        else:
            assert _band(_written(spec, p)) is not None, p.name
        assert p.claims or p.assumption, p.name


# --------------------------------------------------------------------------------------------
# the command line answers the headline
# --------------------------------------------------------------------------------------------


def test_cli_validates_and_answers_the_headline() -> None:
    runner = CliRunner()
    done = runner.invoke(main, ["validate", str(MODEL)])
    assert done.exit_code == 0, done.output
    assert "22 nodes" in done.output and "18 claims" in done.output
    answers = {}
    for state in ("none", "achieved"):
        done = runner.invoke(
            main, ["query", str(MODEL), "-e", f"reconciliation={state}", "--json"]
        )
        assert done.exit_code == 0, done.output
        answers[state] = json.loads(done.output)["marginals"]["caliphate_declared"]["yes"]
    assert answers["none"] > answers["achieved"]


# --------------------------------------------------------------------------------------------
# the drawing in models/README.md
# --------------------------------------------------------------------------------------------


def test_drawing_has_every_node_and_edge_signs_follow_the_cpts(spec: ModelSpec) -> None:
    from matplotlib.figure import Figure

    from forecast.report.plots import draw_model
    from forecast.report.plots.layout import layered_layout
    from forecast.report.plots.network import edge_signs

    graph = spec.network_structure()
    signs = edge_signs(spec)
    assert set(signs) == set(graph.edges)
    assert signs[("reconciliation", "caliphate_declared")] == "lowers"
    assert signs[("reconciliation", "hardliners_back_isis")] == "raises"
    assert signs[("border_cooperation", "border_territory_held")] == "lowers"
    for name, node in spec.nodes.items():  # a logit effect's direction is its edge's sign
        if node.cpt.logit is not None:
            for effect in node.cpt.logit.effects:
                assert signs[(effect.parent, name)] == effect.direction
    positions, bends = layered_layout(graph)
    for parent, child in graph.edges:
        columns = [positions[parent][0], *(b[0] for b in bends[(parent, child)]),
                   positions[child][0]]
        assert np.all(np.diff(columns) == 1)  # left to right, one column per step
    fig = draw_model(spec)
    assert isinstance(fig, Figure)
    labels = {t.get_text().replace("\n", "_") for t in fig.axes[0].texts} - {""}
    assert labels == set(spec.nodes)
    other = Figure()
    assert draw_model(spec, ax=other.add_subplot()) is other
