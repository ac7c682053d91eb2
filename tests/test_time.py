"""Time in the model language: persistence words, calendar steps, hazards and transitions."""

from __future__ import annotations

import datetime as dt
import pathlib

import numpy as np
import pytest
from scipy import stats

from forecast.errors import SpecError
from forecast.model.load import load_spec, parse_spec
from forecast.model.parameters import parameters
from forecast.model.persistence import (
    PERSISTENCE_WORDS,
    half_life_months,
    persistence_prior,
)
from forecast.model.priors import PriorError
from forecast.model.time import (
    Calendar,
    dynamic_network,
    dynamic_tables,
    hazard_cpt,
    persistent,
    time_parameters,
    window_steps,
)
from forecast.network.dynamic import DynamicEngine, step_likelihoods

FLAGSHIP = "models/isis_pakistan_2015.yaml"
EXAMPLE = "models/afghan_caliphate.yaml"


@pytest.mark.parametrize("word", list(PERSISTENCE_WORDS))
@pytest.mark.parametrize("step", [1, 3])
def test_persistence_words_put_the_half_life_band_at_the_5_and_95_percent_quantiles(word, step):
    lo, hi = PERSISTENCE_WORDS[word]
    prior = persistence_prior(word, step)
    q05, q95 = stats.beta.ppf([0.05, 0.95], prior.a, prior.b)
    assert half_life_months(q05, step) == pytest.approx(lo, rel=1e-6)
    assert half_life_months(q95, step) == pytest.approx(hi, rel=1e-6)


def test_persistence_none_numbers_and_mistakes():
    assert persistence_prior("none", 3) is None
    custom = persistence_prior({"half_life_months": [12, 48]}, 3)
    assert half_life_months(stats.beta.ppf(0.05, custom.a, custom.b), 3) == pytest.approx(12)
    with pytest.raises(PriorError, match="did you mean 'stable'"):
        persistence_prior("stabel", 3)
    with pytest.raises(PriorError, match="0 < lo < hi"):
        persistence_prior({"half_life_months": [48, 12]}, 3)
    with pytest.raises(PriorError, match="two numbers"):
        persistence_prior({"half_life_months": "long"}, 3)


def test_calendar_steps_are_calendar_quarters_and_months():
    q = Calendar("quarter", dt.date(2014, 6, 10))
    assert q.label(0) == "2014Q2" and q.first_day(0) == dt.date(2014, 4, 1)
    assert q.index(dt.date(2015, 8, 24)) == 5 and q.label(5) == "2015Q3"
    assert q.last_day(5) == dt.date(2015, 9, 30)
    assert q.index(dt.date(2014, 3, 31)) == -1
    m = Calendar("month", dt.date(2020, 12, 31))
    assert m.index(dt.date(2021, 2, 1)) == 2 and m.label(2) == "2021-02"
    assert m.last_day(2) == dt.date(2021, 2, 28)


def test_hazard_keeps_the_window_probability_under_constant_causes():
    # (B=1, condition parent=2, card=3): no event parent, every row converted
    window = np.array([[[0.6, 0.3, 0.1], [0.9, 0.05, 0.05]]])
    per_step = hazard_cpt(window, 8.0)
    np.testing.assert_allclose(per_step.sum(axis=-1), 1.0)
    np.testing.assert_allclose(per_step[0, :, 0] ** 8, [0.6, 0.9])  # P(none over 8 steps)
    assert per_step[0, 0, 1] / per_step[0, 0, 2] == pytest.approx(3.0)  # proportions kept


def test_an_event_parent_multiplies_the_step_by_its_window_factor_once():
    # noisy-OR over a condition c and an event e: P(no | c, e) = (1-0.1)(1-0.3)^c (1-0.5)^e
    q = np.array([[0.9, 0.9 * 0.5], [0.9 * 0.7, 0.9 * 0.7 * 0.5]])  # axes (c, e)
    window = np.stack([q, 1 - q], axis=-1)[None]
    per_step = hazard_cpt(window, 8.0, event_axes=[1])
    np.testing.assert_allclose(per_step[0, :, 0, 0] ** 8, q[:, 0])  # background converted
    np.testing.assert_allclose(per_step[0, :, 1, 0], per_step[0, :, 0, 0] * 0.5)  # trigger once
    # an event parent that lowers the event cannot push P(no) above 1
    lowers = np.stack([np.array([[0.5, 0.9]]), 1 - np.array([[0.5, 0.9]])], axis=-1)
    capped = hazard_cpt(lowers, 8.0, event_axes=[0])  # (B=1, e=2, card=2)
    assert 0.5 ** (1 / 8) <= capped[0, 1, 0] <= 1.0
    np.testing.assert_allclose(capped.sum(axis=-1), 1.0)


def test_flagship_time_semantics():
    spec = load_spec(FLAGSHIP)
    assert spec.model.time.step == "quarter"
    kinds = {n: node.definition.kind for n, node in spec.nodes.items()}
    assert set(persistent(spec)) == {n for n, k in kinds.items() if k == "condition"}
    assert window_steps(spec, "caliphate_declared") == 8.0
    names = [p.name for p in time_parameters(spec)]
    assert names == [f"{n}.persistence" for n in persistent(spec)]
    assert all(p.assumption for p in time_parameters(spec))
    for node, kind in kinds.items():
        if kind == "event":
            assert spec.nodes[node].definition.complete_from == dt.date(2014, 7, 1)


def test_the_example_model_keeps_validating_and_its_event_driven_conditions_have_no_memory():
    spec = load_spec(EXAMPLE)
    assert "conflict" not in persistent(spec)  # caused by the event 'reconciliation'


def test_dynamic_tables_match_the_prior_mean_network_and_keep_the_stationary_distribution():
    spec = load_spec(FLAGSHIP)
    rng = np.random.default_rng(0)
    params = parameters(spec) + time_parameters(spec)
    values = {p.name: p.prior.sample(rng, 5) for p in params}
    cpts, trans = dynamic_tables(spec, values, params=parameters(spec))
    for node, t in trans.items():
        assert t.shape == (5, *cpts[node].shape[1:-1], spec.card(node), spec.card(node))
        np.testing.assert_allclose(t.sum(axis=-1), 1.0, atol=1e-12)
        # a condition whose causes hold still keeps its CPT as the long-run distribution
        stationary = np.einsum("b...i,b...ij->b...j", cpts[node], t)
        np.testing.assert_allclose(stationary, cpts[node], atol=1e-12)


def test_without_evidence_a_root_condition_stays_at_its_prior_at_every_step():
    spec = load_spec(FLAGSHIP)
    dn = dynamic_network(spec)
    post = DynamicEngine(dn).smooth(steps=6)
    prior = dn.slice.cpts["reconciliation"]
    for t in range(6):
        np.testing.assert_allclose(post.marginals["reconciliation"][0, t], prior, atol=1e-12)


def test_a_finding_fades_at_the_rate_its_persistence_implies():
    spec = load_spec(FLAGSHIP)
    dn = dynamic_network(spec)
    node = "pk_counter_militancy"  # a root: its marginal after a finding is analytic
    rho = float(dn.transitions[node][1, 1] - dn.slice.cpts[node][1]) / (
        1 - float(dn.slice.cpts[node][1]))
    lik = step_likelihoods(dn.slice, 9, [(0, node, "sustained")])
    post = DynamicEngine(dn).smooth(lik, nodes=[node])
    prior = float(dn.slice.cpts[node][1])
    for k in range(9):
        expected = prior + rho**k * (1 - prior)
        assert post.marginals[node][0, k, 1] == pytest.approx(expected, abs=1e-12)


def _with(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def test_time_mistakes_are_located_errors():
    text = pathlib.Path(EXAMPLE).read_text(encoding="utf-8")
    bad = _with(text, "      kind: event\n", "      kind: event\n      complete_from: 2014-01-01\n")
    load = parse_spec(bad, "ok.yaml")  # complete_from on an event is fine
    assert load.nodes
    cond = _with(text, "    parents: [reconciliation]\n", "    parents: [reconciliation]\n"
                 "    persistence: {prior: stable, assumption: x}\n")
    with pytest.raises(SpecError) as caught:
        parse_spec(cond, "m.yaml")
    assert "persists from step to step, so its causes must too" in str(caught.value)
    assert "m.yaml:" in str(caught.value)
    on_event = _with(text, "    states: [failed, achieved]\n",
                     "    states: [failed, achieved]\n    persistence: stable\n")
    with pytest.raises(SpecError, match="an event happens within a time step"):
        parse_spec(on_event, "m.yaml")
    word = _with(text, "    states: [weak, strong]\n",
                 "    states: [weak, strong]\n    persistence: stabel\n")
    with pytest.raises(SpecError, match="did you mean 'stable'"):
        parse_spec(word, "m.yaml")


def test_doubt_defaults_to_none_and_a_bad_one_is_a_located_error():
    text = pathlib.Path(EXAMPLE).read_text(encoding="utf-8")
    spec = parse_spec(text, "ok.yaml")
    assert spec.model.time.doubt.weight == 0.0 and spec.model.time.doubt.justified
    some = _with(text, "  time:\n", "  time:\n    doubt: {weight: 0.2, assumption: a guess}\n")
    assert parse_spec(some, "ok.yaml").model.time.doubt.weight == 0.2
    bad = _with(text, "  time:\n", "  time:\n    doubt: {weight: 0.7}\n")
    with pytest.raises(SpecError) as caught:
        parse_spec(bad, "m.yaml")
    message = str(caught.value)
    assert "m.yaml:" in message and "doubt" in message and "0.5" in message


def test_a_silence_needs_an_event_and_a_probability():
    text = pathlib.Path(EXAMPLE).read_text(encoding="utf-8")
    ok = _with(text, "      kind: event\n", "      kind: event\n      complete_from: 2015-01-01\n"
               "      nonoccurrence: {detection: likely, assumption: half the record}\n")
    spec = parse_spec(ok, "ok.yaml")
    assert any(n.definition.nonoccurrence not in (True, False) for n in spec.nodes.values())
    bad = _with(text, "      kind: event\n", "      kind: event\n"
                "      nonoccurrence: {detection: 1.5, assumption: x}\n")
    with pytest.raises(SpecError) as caught:
        parse_spec(bad, "m.yaml")
    assert "m.yaml:" in str(caught.value) and "detection" in str(caught.value)
    on_condition = _with(text, "      kind: condition\n", "      kind: condition\n"
                         "      nonoccurrence: {detection: likely, assumption: x}\n")
    with pytest.raises(SpecError, match="only events have non-occurrence"):
        parse_spec(on_condition, "m.yaml")
