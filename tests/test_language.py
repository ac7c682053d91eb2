"""Estimative language: ICD 203 words at their band edges, confidence labels, and judgments
whose likelihood and confidence never share a sentence."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast.analysis.language import evidence_volume, headline_state, judgment, judgments
from forecast.errors import SpecError
from forecast.evidence.case import Case
from forecast.evidence.ledger import case_from_rows, rows_as_of
from forecast.inference.importance import importance_forecast
from forecast.model.cpts import build_cpts, prior_mean_network
from forecast.model.load import load_spec, parse_spec
from forecast.model.parameters import parameters, sample_parameters
from forecast.model.priors import PROBABILITY_BANDS
from forecast.model.words import (
    CONFIDENCE_LEVELS,
    CONFIDENCE_ROWS,
    CONFIDENCE_WIDTHS,
    LIKELIHOOD_WORDS,
    bands_between,
    confidence_label,
    likelihood_word,
    rows_confidence,
)

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "models" / "isis_pakistan_2015.yaml"
LEDGER = ROOT / "data" / "isis_pakistan_ledger.csv"
SMALL = ROOT / "models" / "afghan_caliphate.yaml"
AS_OF = "2016-06-30"

CALIPHATE = "‘Militants proclaim a “caliphate” on carved-out territory’"
CONFIDENCE_WORD = re.compile(r"\b(confidence|confident|high|moderate|low)\b", re.IGNORECASE)
QUOTED = re.compile(r"‘[^’]*’")  # names of nodes and states: ‘high’ may be a state


# this module's names for the shared session fixtures of tests/conftest.py
@pytest.fixture(scope="module")
def spec(flagship_spec):
    return flagship_spec


@pytest.fixture(scope="module")
def small(small_spec):
    return small_spec


@pytest.fixture(scope="module")
def ledger(flagship_ledger):
    return flagship_ledger


@pytest.fixture(scope="module")
def flagship(flagship_forecast):
    """The flagship model's forecast from the ledger as of mid-2016 (importance sampling)."""
    assert flagship_forecast.attrs["as_of"] == AS_OF
    return flagship_forecast


def _has_likelihood_word(text: str) -> bool:
    return any(word in text for word in (*LIKELIHOOD_WORDS, "likely", "chance", "certain"))


# --- likelihood words -----------------------------------------------------------------------------


def test_words_run_from_least_to_most_likely_over_contiguous_bands():
    assert LIKELIHOOD_WORDS == ("almost no chance", "very unlikely", "unlikely",
                                "roughly even chance", "likely", "very likely", "almost certain")
    assert set(LIKELIHOOD_WORDS) == set(PROBABILITY_BANDS)
    edges = [PROBABILITY_BANDS[w] for w in LIKELIHOOD_WORDS]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(edges))


@pytest.mark.parametrize("k", range(1, len(LIKELIHOOD_WORDS)))
def test_likelihood_word_at_and_around_every_band_edge(k):
    below, above = LIKELIHOOD_WORDS[k - 1], LIKELIHOOD_WORDS[k]
    edge = PROBABILITY_BANDS[above][0]
    assert likelihood_word(edge) == above  # an edge belongs to the band above it
    assert likelihood_word(np.nextafter(edge, 0.0)) == below
    assert likelihood_word(edge - 1e-9) == below
    assert likelihood_word(edge + 1e-9) == above
    assert likelihood_word(np.float32(edge + 1e-6)) == above  # numpy scalars work too


@pytest.mark.parametrize(("p", "word"), [
    (0.0, "almost no chance"), (0.004, "almost no chance"),
    (float(np.nextafter(0.01, 0.0)), "almost no chance"), (0.01, "almost no chance"),
    (0.99, "almost certain"), (0.995, "almost certain"), (1.0, "almost certain"),
])
def test_outside_the_outer_bands_the_outer_words_hold(p, word):
    assert likelihood_word(p) == word


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_likelihood_word_names_the_band_holding_p_and_never_falls_as_p_rises(p, q):
    word = likelihood_word(p)
    low, high = PROBABILITY_BANDS[word]
    if word == LIKELIHOOD_WORDS[0]:
        assert p < high
    elif word == LIKELIHOOD_WORDS[-1]:
        assert p >= low
    else:
        assert low <= p < high
    a, b = sorted((p, q))
    assert LIKELIHOOD_WORDS.index(likelihood_word(a)) <= LIKELIHOOD_WORDS.index(likelihood_word(b))


@pytest.mark.parametrize(("low", "high", "bands"), [
    (0.5, 0.5, ("roughly even chance",)),
    (0.46, 0.54, ("roughly even chance",)),
    (0.50, 0.60, ("roughly even chance", "likely")),
    (0.30, 0.60, ("unlikely", "roughly even chance", "likely")),
    (0.0, 1.0, LIKELIHOOD_WORDS),
    (0.2, 0.45, ("unlikely", "roughly even chance")),  # the upper end sits on an edge
])
def test_bands_between_lists_every_band_an_interval_touches(low, high, bands):
    assert bands_between(low, high) == bands


# --- confidence labels ----------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "label"), [
    (0.0, "high"), (0.05, "high"), (0.10, "high"),
    (0.10 + 1e-9, "moderate"), (0.1001, "moderate"), (0.25, "moderate"),
    (0.25 + 1e-9, "low"), (0.2501, "low"), (1.0, "low"),
    # within float noise of a threshold (1e-12) is at it
    (float(np.nextafter(0.10, 1.0)), "high"), (float(np.nextafter(0.25, 1.0)), "moderate"),
])
def test_confidence_label_thresholds(width, label):
    assert CONFIDENCE_WIDTHS == {"high": 0.10, "moderate": 0.25}
    assert confidence_label(width) == label


@pytest.mark.parametrize(("high", "low", "label"), [
    (0.45, 0.35, "high"),      # 0.10000000000000003
    (0.40, 0.30, "high"),      # 0.10000000000000003
    (0.30, 0.20, "high"),      # 0.09999999999999998
    (0.55, 0.30, "moderate"),  # 0.25000000000000006
    (0.70, 0.45, "moderate"),  # 0.24999999999999994
])
def test_an_interval_exactly_at_a_threshold_gets_its_label_despite_float_subtraction(
        small, high, low, label):
    assert confidence_label(high - low) == label
    j = judgment(small, "caliphate", "yes", (low + high) / 2, low, high)
    assert j.confidence == label
    # the printed width shows it sits on the threshold, and the label agrees with the rule
    assert f"is {label}: its 90% interval is {100 * round(high - low, 2):.1f} percentage" in (
        j.confidence_sentence())


@pytest.mark.parametrize(("rows", "label"), [
    (0, "low"), (3, "low"), (4, "moderate"), (9, "moderate"), (10, "high"), (57, "high"),
])
def test_rows_confidence_thresholds(rows, label):
    assert CONFIDENCE_ROWS == {"high": 10, "moderate": 4}
    assert rows_confidence(rows) == label


# --- one judgment ---------------------------------------------------------------------------------


def test_a_straddling_judgment_in_three_sentences(spec):
    j = judgment(spec, "caliphate_declared", "yes", 0.63, 0.504, 0.75, as_of="2015-08-24",
                 evidence_rows=12)
    assert (j.likelihood, j.bands, j.straddles) == ("likely", ("roughly even chance", "likely"),
                                                    True)
    assert (j.width_confidence, j.rows_confidence, j.confidence) == ("moderate", "high",
                                                                     "moderate")
    assert j.sentences() == [
        f"It is likely (63%; 90% interval 50–75%) that {CALIPHATE} happens within the 24 "
        "months after 24 August 2015.",
        "The 90% interval spans ‘roughly even chance’ to ‘likely’.",
        "Confidence in this judgment is moderate: 12 ledger rows bear on it, but its 90% "
        "interval is 24.6 percentage points wide.",
    ]
    assert j.text() == " ".join(j.sentences())


def test_an_interval_over_three_bands_says_how_many(spec):
    j = judgment(spec, "caliphate_declared", "yes", 0.5, 0.3, 0.7)
    assert j.straddle_sentence() == ("The 90% interval spans 3 ICD 203 bands, from "
                                     "‘unlikely’ to ‘likely’.")


def test_an_interval_inside_one_band_has_no_span_sentence(spec):
    j = judgment(spec, "caliphate_declared", "yes", 0.68, 0.6, 0.78, evidence_rows=4)
    assert not j.straddles and j.straddle_sentence() is None
    assert len(j.sentences()) == 2
    assert "spans" not in j.text()


@pytest.mark.parametrize(("mean", "low", "high", "start"), [
    (0.02, 0.012, 0.04, "There is almost no chance (2%; 90% interval 1–4%) that"),
    (0.003, 0.0001, 0.04, "There is almost no chance (<1%; 90% interval <1% to 4%) that"),
    (0.5, 0.47, 0.53, "There is a roughly even chance (50%; 90% interval 47–53%) that"),
    (0.3, 0.22, 0.4, "It is unlikely (30%; 90% interval 22–40%) that"),
    (0.997, 0.97, 0.9999, "It is almost certain (>99%; 90% interval 97% to >99%) that"),
])
def test_likelihood_sentence_reads_for_noun_and_adjective_words(spec, mean, low, high, start):
    sentence = judgment(spec, "caliphate_declared", "yes", mean, low, high).likelihood_sentence()
    assert sentence.startswith(start), sentence
    assert sentence.endswith(f" that {CALIPHATE} happens within 24 months."), sentence


@pytest.mark.parametrize(("node", "state", "as_of", "end"), [
    ("caliphate_declared", "yes", "2016-06-30",
     f"{CALIPHATE} happens within the 24 months after 30 June 2016."),
    ("caliphate_declared", "no", "2016-06-30",
     f"{CALIPHATE} does not happen within the 24 months after 30 June 2016."),
    ("caliphate_declared", "yes", None, f"{CALIPHATE} happens within 24 months."),
    ("isis_influence_pakistan", "high", "2016-06-30",
     "‘ISIS influence in Pakistan’ is ‘high’ on 30 June 2016."),
    ("afghan_conflict", "worsening", None,
     "‘Trend of the Afghan conflict’ is ‘worsening’ at the as-of date."),
])
def test_propositions_follow_the_node_kind_and_window(spec, node, state, as_of, end):
    j = judgment(spec, node, state, 0.4, 0.3, 0.5, as_of=as_of)
    assert j.label == spec.nodes[node].label
    assert j.likelihood_sentence().endswith(" that " + end), j.likelihood_sentence()


def test_a_binary_event_without_yes_happens_in_its_last_state(small):
    achieved = judgment(small, "reconciliation", "achieved", 0.3, 0.2, 0.4, as_of="2015-08-24")
    failed = judgment(small, "reconciliation", "failed", 0.7, 0.6, 0.8, as_of="2015-08-24")
    assert achieved.proposition == ("‘Kabul–Afghan Taliban reconciliation’ happens within the "
                                    "24 months after 24 August 2015")
    assert failed.proposition.endswith("does not happen within the 24 months after 24 "
                                       "August 2015")


@pytest.mark.parametrize(("low", "high", "rows", "confidence", "tail"), [
    # the evidence limits it
    (0.60, 0.66, 2, "low", "its 90% interval is 6 percentage points wide, but only 2 ledger "
     "rows bear on it, so it rests mostly on the model's assumptions."),
    (0.60, 0.66, 1, "low", "its 90% interval is 6 percentage points wide, but only 1 ledger "
     "row bears on it, so it rests mostly on the model's assumptions."),
    # the interval limits it
    (0.40, 0.80, 15, "low", "15 ledger rows bear on it, but its 90% interval is 40 percentage "
     "points wide."),
    # both agree
    (0.55, 0.75, 6, "moderate", "6 ledger rows bear on it and its 90% interval is 20 "
     "percentage points wide."),
    (0.60, 0.66, 10, "high", "10 ledger rows bear on it and its 90% interval is 6 percentage "
     "points wide."),
    # the rows were not counted
    (0.60, 0.66, None, "high", "its 90% interval is 6 percentage points wide (the evidence "
     "behind it was not counted)."),
])
def test_confidence_sentence_says_what_set_the_level(spec, low, high, rows, confidence, tail):
    j = judgment(spec, "caliphate_declared", "yes", (low + high) / 2, low, high,
                 evidence_rows=rows)
    assert j.confidence == confidence
    assert j.confidence_sentence() == f"Confidence in this judgment is {confidence}: {tail}"


@settings(max_examples=250, deadline=None, derandomize=True)
@given(data=st.data())
def test_likelihood_and_confidence_never_share_a_sentence(spec, data):
    node = data.draw(st.sampled_from(spec.node_names))
    state = data.draw(st.sampled_from(spec.states[node]))
    a, b, c = sorted(data.draw(st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3)))
    rows = data.draw(st.none() | st.integers(0, 40))
    as_of = data.draw(st.none() | st.dates().map(lambda d: d.isoformat()))
    j = judgment(spec, node, state, b, a, c, as_of=as_of, evidence_rows=rows)

    sentences = j.sentences()
    assert j.text() == " ".join(sentences)
    for sentence in sentences:
        bare = QUOTED.sub("‘…’", sentence)  # node and state names may be 'high' or 'low'
        assert not (_has_likelihood_word(bare) and CONFIDENCE_WORD.search(bare)), sentence
    first, *middle, last = sentences
    assert first.startswith((f"It is {j.likelihood} (", f"There is {j.likelihood} (",
                             f"There is a {j.likelihood} ("))
    assert not CONFIDENCE_WORD.search(QUOTED.sub("", first))
    assert last.startswith(f"Confidence in this judgment is {j.confidence}: ")
    assert not _has_likelihood_word(last)
    assert middle == ([j.straddle_sentence()] if j.straddles else [])
    for sentence in middle:
        assert not CONFIDENCE_WORD.search(sentence)
        assert f"‘{j.bands[0]}’" in sentence and f"‘{j.bands[-1]}’" in sentence
    # the judgment itself: the word of the mean, every band touched, the lower of two labels
    assert j.likelihood == likelihood_word(b)
    assert j.bands == bands_between(a, c) and j.likelihood in j.bands
    assert j.straddles == (likelihood_word(a) != likelihood_word(c))
    labels = [confidence_label(c - a)] + ([] if rows is None else [rows_confidence(rows)])
    assert j.confidence == max(labels, key=CONFIDENCE_LEVELS.index)


# --- evidence volume and judgments of a forecast --------------------------------------------------


def test_evidence_volume_counts_rows_on_the_node_its_causes_and_its_indicators(small):
    # reconciliation -> conflict, hardliners_back_isis, caliphate; conflict -> pro_isis_strength,
    # caliphate, pakistan_spillover; hardliners_back_isis -> pro_isis_strength -> caliphate
    names = ["conflict", "conflict", "hardliners_back_isis", "caliphate", "pakistan_spillover",
             "reconciliation"]
    expected = {
        "pakistan_spillover": 4,    # itself, conflict twice, reconciliation; not its siblings
        "hardliners_back_isis": 3,  # itself, its cause, caliphate downstream; not conflict
        "caliphate": 5,             # everything but pakistan_spillover, a sibling
        "reconciliation": 6,        # a root: every node is downstream
        "pro_isis_strength": 5,     # everything but pakistan_spillover
    }
    for node, count in expected.items():
        assert evidence_volume(small, names, node) == count, node
    frame = pd.DataFrame({"node": names, "id": [f"R{i}" for i in range(len(names))]})
    assert evidence_volume(small, frame, "caliphate") == 5
    assert evidence_volume(small, [], "caliphate") == 0


def test_rows_as_of_feed_evidence_volume(spec, ledger):
    rows = rows_as_of(ledger, spec, AS_OF)
    graph = spec.network_structure()
    upstream_of_attack = {"isis_influence_pakistan", "pro_isis_alliance", "border_territory_held",
                          "sectarian_appeal"}
    assert upstream_of_attack <= set(graph.predecessors("isis_attack_pakistan"))
    # official_attribution is an indicator of the attack, recruitment_to_syria is not
    indicator = evidence_volume(spec, ["official_attribution"], "isis_attack_pakistan")
    sibling = evidence_volume(spec, ["recruitment_to_syria"], "isis_attack_pakistan")
    assert (indicator, sibling) == (1, 0)
    volume = evidence_volume(spec, rows, "isis_attack_pakistan")
    assert 0 < volume < len(rows)
    assert volume == evidence_volume(spec, list(rows["node"]), "isis_attack_pakistan")
    assert evidence_volume(spec, rows, "recruitment_to_syria") < len(rows)


def test_judgments_of_the_flagship_forecast(spec, ledger, flagship):
    rows = rows_as_of(ledger, spec, AS_OF)
    found = judgments(flagship, spec, rows)
    summary = flagship.summary.set_index(["node", "state"])
    # a scenario the evidence observes has no judgment; every other one has
    observed = set(case_from_rows(rows, spec).evidence)
    assert [j.node for j in found] == [n for n in spec.scenarios if n not in observed]
    for j in found:
        row = summary.loc[(j.node, j.state)]
        assert j.state == ("high" if j.node == "isis_influence_pakistan" else "yes")
        assert (j.mean, j.low, j.high) == (row["mean"], row["hdi_5%"], row["hdi_95%"])
        assert j.likelihood == row["likelihood"] == likelihood_word(row["mean"])
        assert j.width_confidence == row["confidence"]
        assert j.evidence_rows == evidence_volume(spec, rows, j.node) > 0
        assert j.confidence == max(j.width_confidence, rows_confidence(j.evidence_rows),
                                   key=CONFIDENCE_LEVELS.index)
        when = ("on 30 June 2016" if spec.nodes[j.node].definition.kind == "condition" else
                "within the 24 months after 30 June 2016")
        assert when in j.likelihood_sentence()
        assert f"{j.evidence_rows} ledger rows bear on it" in j.confidence_sentence()
    # without the rows, the width alone, and the sentence says the evidence was not counted
    bare = judgments(flagship, spec)
    assert [j.confidence for j in bare] == [j.width_confidence for j in found]
    assert all("not counted" in j.confidence_sentence() for j in bare)
    assert all(j.evidence_rows is None for j in bare)


def test_judgments_of_chosen_nodes_skip_observed_ones_and_pick_the_likeliest_state(spec,
                                                                                   flagship):
    chosen = judgments(flagship, spec, nodes=["reconciliation", "border_territory_held",
                                              "pro_isis_alliance"])
    assert [j.node for j in chosen] == ["border_territory_held", "pro_isis_alliance"]
    means = {"easing": 0.2, "stalemate": 0.5, "worsening": 0.3}
    assert headline_state(spec, "afghan_conflict", means) == "stalemate"
    assert headline_state(spec, "isis_influence_pakistan", {"low": 0.9, "high": 0.1}) == "high"


def test_judgments_default_to_every_forecast_node_when_no_scenarios(small):
    forecast = importance_forecast(small, Case({"reconciliation": "failed"}), draws=2000,
                                   target_mcse=0.05, seed=3)
    found = judgments(forecast, small)
    assert not small.scenarios
    assert [j.node for j in found] == [n for n in small.node_names if n != "reconciliation"]
    conflict = next(j for j in found if j.node == "conflict")  # three states: the likeliest
    means = forecast.summary.query("node == 'conflict'").set_index("state")["mean"]
    assert conflict.state == means.idxmax()
    assert conflict.proposition.endswith("at the as-of date")  # no as_of recorded


# --- words for every state of a node (issue 13) --------------------------------------------------

WORDED = (Path(__file__).parent / "data" / "specs" / "worded.yaml").read_text(encoding="utf-8")
WORDS_ROW = "prior: {collapse: unlikely, stalemate: likely, victory: very unlikely}"


def test_a_model_with_words_for_every_state_validates_and_builds_its_cpts(tmp_path):
    from click.testing import CliRunner

    from forecast.cli import main

    path = tmp_path / "words.yaml"
    path.write_text(WORDED, encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "valid: 2 nodes, 1 edges, 1 claims" in result.output
    spec = load_spec(path)
    params = {p.name: p for p in parameters(spec)}
    words, order = params["war.row[talks=stalled]"], params["war.row[talks=open]"]
    assert words.shape == order.shape == (3,) and not words.states and not order.states
    # the CPT at the prior means: the rows' means, in the node's state order (1e-12)
    network = prior_mean_network(spec)
    np.testing.assert_allclose(network.cpts["war"], [words.prior.mean, order.prior.mean],
                               atol=1e-12)
    np.testing.assert_allclose(order.prior.mean, [1 / 9, 11 / 18, 5 / 18], rtol=1e-12)
    # draws build row-stochastic CPTs, whose average is the prior mean (4 standard errors)
    draws = sample_parameters(spec, 20_000, seed=1)
    cpts = build_cpts(spec, draws)
    assert cpts["war"].shape == (20_000, 2, 3)
    np.testing.assert_allclose(cpts["war"].sum(axis=-1), 1, atol=1e-12)
    sd = cpts["war"].std(axis=0).max()
    np.testing.assert_allclose(cpts["war"].mean(axis=0), network.cpts["war"],
                               atol=4 * sd / np.sqrt(20_000))


def test_a_worded_dirichlet_reads_back_as_its_words_and_its_order():
    """describe() says what the analyst wrote; each state's mean falls in its own word's band
    (likelihood_word gives the word back), and the ordering's means keep its order."""
    spec = parse_spec(WORDED)
    params = {p.name: p for p in parameters(spec)}
    words, order = params["war.row[talks=stalled]"], params["war.row[talks=open]"]
    assert words.describe() == (
        "war.row[talks=stalled]: Dirichlet(9.98, 23.3, 3.6): collapse: unlikely (20–45%), "
        "stalemate: likely (55–80%), victory: very unlikely (5–20%)")
    assert order.describe() == ("war.row[talks=open]: Dirichlet(1.52, 8.34, 3.79): most likely "
                                "stalemate, then victory, then collapse")
    said = ["unlikely", "likely", "very unlikely"]
    assert [likelihood_word(m) for m in words.prior.mean] == said
    collapse, stalemate, victory = order.prior.mean
    assert stalemate > victory > collapse


@pytest.mark.parametrize(("row", "message"), [
    ("prior: {collapse: likely, stalemate: likely, victory: likely}",
     "the words for 'war' cannot all hold: collapse: likely (55–80%), stalemate: likely "
     "(55–80%), victory: likely (55–80%) need at least 165% together"),
    ("prior: {collapse: very unlikely, stalemate: very unlikely, victory: very unlikely}",
     "reach at most 60% together"),
    ("prior: {collapse: likely, stalemate: roughly even chance}",
     "the words for 'war' leave nothing for victory"),
    ("prior: {stalemate: likely}", "a worded prior gives one state's probability"),
    ('prior: "most likely stalemate, then victory"', "the ordering leaves out collapse"),
])
def test_words_that_cannot_hold_are_one_located_problem(row, message):
    text = WORDED.replace(WORDS_ROW, row)
    with pytest.raises(SpecError) as info:
        parse_spec(text, filename="words.yaml")
    (problem,) = info.value.problems
    line = text[: text.index(row)].count("\n") + 1
    assert (problem.file, problem.line) == ("words.yaml", line)
    assert problem.field == "nodes.war.cpt.table.rows[0].prior"
    assert message in problem.message
    assert problem.hint


def test_a_mistake_inside_the_words_is_reported_at_its_state():
    text = WORDED.replace(WORDS_ROW, "prior: {colapse: unlikely, stalemate: likly}")
    with pytest.raises(SpecError) as info:
        parse_spec(text, filename="words.yaml")
    found = {p.field: (p.message, p.hint) for p in info.value.problems}
    assert found["nodes.war.cpt.table.rows[0].prior.stalemate"] == (
        "'likly' is not an estimative word", "did you mean 'likely'?")
