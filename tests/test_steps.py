"""A ledger laid out in steps: each row at its step, grades as reports, non-occurrence."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from forecast.evidence.ledger import load_ledger
from forecast.evidence.steps import RECORD_SOURCE, timeline
from forecast.model.load import load_spec

FLAGSHIP = "models/isis_pakistan_2015.yaml"
LEDGER = "data/isis_pakistan_ledger.csv"


@pytest.fixture(scope="module")
def spec():
    return load_spec(FLAGSHIP)


@pytest.fixture(scope="module")
def ledger(spec):
    return load_ledger(LEDGER, spec)


def test_every_row_counts_at_its_own_step_only(spec, ledger):
    tl = timeline(ledger, spec, "2017-12-31", grades=False, nonoccurrence=False)
    kept = ledger[ledger["date"] <= "2017-12-31"]
    assert len(tl.rows) == len(kept)
    assert tl.calendar.label(0) == "2014Q2" and tl.steps == tl.closed == 15
    for row in tl.rows.itertuples():
        assert tl.calendar.first_day(row.step) <= row.date.date() <= tl.calendar.last_day(row.step)
    hard = tl.rows[tl.rows["how"] == "finding"].iloc[0]
    vec = tl.fixed[hard.node][hard.step]
    assert vec[spec.states[hard.node].index(hard.state)] == 1.0 and vec.sum() == 1.0


def test_grades_make_hard_rows_reports_of_their_sources(spec, ledger):
    tl = timeline(ledger, spec, "2017-12-31", nonoccurrence=False)
    assert set(tl.rows["how"]) == {"report", "soft"}
    sources = {r.source for _, r in tl.reports}
    assert set(tl.parameters) == {f"source.{s}.reliability" for s in sources}
    keys = [(s, r.node) for s, r in tl.reports]
    step, rep = next((s, r) for s, r in tl.reports if keys.count((s, r.node)) == 1)
    values = {name: np.array([0.9, 0.6]) for name in tl.parameters}
    lik = tl.likelihoods(values)
    vec = lik[rep.node][:, step]
    hit = spec.states[rep.node].index(rep.state)
    assert vec.shape[0] == 2 and vec[0, hit] >= 0.9 - 1e-12
    # a report moves less when its source is less reliable
    assert vec[1, hit] / vec[1].sum() < vec[0, hit] / vec[0].sum()


def test_nonoccurrence_fills_closed_steps_without_a_row_from_the_complete_record(spec, ledger):
    tl = timeline(ledger, spec, "2016-08-15")  # 2016Q3 is open
    none = tl.rows[tl.rows["how"] == "nonoccurrence"]
    assert set(none["source"]) == {RECORD_SOURCE}
    assert none["step"].max() == tl.closed - 1 == tl.steps - 2
    assert none["step"].min() == tl.calendar.index(dt.date(2014, 7, 1))
    events = [n for n, node in spec.nodes.items() if node.definition.kind == "event"]
    assert set(none["node"]) <= set(events)
    seen = set(zip(tl.rows.loc[tl.rows["how"] != "nonoccurrence", "node"],
                   tl.rows.loc[tl.rows["how"] != "nonoccurrence", "step"], strict=True))
    assert not any((n, s) in seen for n, s in zip(none["node"], none["step"], strict=True))
    for row in none.itertuples():
        assert tl.fixed[row.node][row.step].tolist() == [1.0, 0.0]
    assert len(timeline(ledger, spec, "2016-08-15", nonoccurrence=False).rows) < len(tl.rows)


@pytest.fixture(scope="module")
def silent_spec():
    """The flagship with its six incomplete records read as catching some occurrences."""
    from pathlib import Path

    from forecast.model.load import parse_spec

    text = Path(FLAGSHIP).read_text(encoding="utf-8")
    assert text.count("      nonoccurrence: false\n") == 6
    text = text.replace("      nonoccurrence: false\n", "      nonoccurrence: {detection: "
                        "roughly even chance, assumption: a test}\n")
    return parse_spec(text, "silent.yaml")


def test_an_incomplete_records_silence_is_weak_evidence_with_a_learned_detection(silent_spec,
                                                                                  ledger):
    spec = silent_spec
    tl = timeline(ledger, spec, "2016-08-15")
    silent = tl.rows[tl.rows["how"] == "silence"]
    partial = {n for n, node in spec.nodes.items()
               if node.definition.nonoccurrence not in (True, False)}
    assert set(silent["node"]) == partial and len(partial) == 6
    assert {(s, n) for s, n in tl.silences} == set(zip(silent["step"], silent["node"],
                                                      strict=True))
    seen = tl.rows.loc[~tl.rows["how"].isin(["silence", "nonoccurrence"]), ["node", "step"]]
    assert not set(zip(seen["node"], seen["step"], strict=True)) & set(
        zip(silent["node"], silent["step"], strict=True))
    names = {f"record.{n}.detection" for n in partial}
    assert names <= set(tl.parameters)
    assert all(tl.parameters[n].label.startswith("roughly even chance") for n in names)
    values = {n: np.array([0.9, 0.2]) for n in tl.parameters}
    lik = tl.likelihoods(values)
    step, node = tl.silences[0]
    np.testing.assert_allclose(lik[node][:, step], [[1.0, 0.1], [1.0, 0.8]])
    # only the date's own step: the same numbers
    at = tl.likelihoods(values, at=step)
    np.testing.assert_allclose(at[node][:, 0], lik[node][:, step])
    with pytest.raises(Exception, match="parameters"):
        tl.likelihoods()
    # certain findings only: a silence, being uncertain, is not observed; nor without records
    assert "silence" not in set(timeline(ledger, spec, "2016-08-15", grades=False).rows["how"])
    assert "silence" not in set(timeline(ledger, spec, "2016-08-15",
                                         nonoccurrence=False).rows["how"])
    # the flagship itself keeps these records unobserved
    assert "silence" not in set(timeline(ledger, load_spec(FLAGSHIP), "2016-08-15").rows["how"])


def test_the_brief_lists_rows_not_silences_and_counts_them(silent_spec, ledger):
    from forecast.ops.brief import _shown

    rows = timeline(ledger, silent_spec, "2016-08-15").rows
    notes: list[str] = []
    shown = _shown(rows, notes)
    assert set(shown["how"]) == {"report", "soft"}
    silent = int((rows["how"] == "silence").sum())
    assert silent and any(f"{silent} closed steps" in n and "silences" in n for n in notes)


def test_non_occurrence_stops_where_the_ledger_stops_being_kept(spec, ledger):
    newest = ledger["date"].max().date()
    late = timeline(ledger, spec, newest + dt.timedelta(days=400))
    none = late.rows[late.rows["how"] == "nonoccurrence"]
    assert late.closed > late.calendar.index(newest) + 3  # a year of closed steps after it
    assert all(late.calendar.last_day(s) <= newest for s in none["step"])
    # before the newest row, every closed step counts as it did
    early = timeline(ledger, spec, "2016-08-15")
    assert early.rows.loc[early.rows["how"] == "nonoccurrence", "step"].max() == early.closed - 1
