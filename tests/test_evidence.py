"""Tests of the evidence ledger: the real ledger loads, broken ledgers are rejected row by row."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.errors import EvidenceError
from forecast.evidence.ledger import (
    COLUMNS,
    LedgerRow,
    case_as_of,
    case_from_rows,
    ledger_hash,
    load_ledger,
    no_rows,
    read_rows,
    rows_as_of,
    write_rows,
)
from forecast.evidence.observations import Report
from forecast.inference.importance import importance_forecast
from forecast.model.load import load_spec, parse_spec
from forecast.model.schema import ModelSpec
from forecast.provenance import stable_hash

ROOT = Path(__file__).resolve().parents[1]
LEDGER = ROOT / "data" / "isis_pakistan_ledger.csv"
FLAGSHIP = ROOT / "models" / "isis_pakistan_2015.yaml"
LEDGERS = Path(__file__).parent / "data" / "ledgers"
BROKEN = LEDGERS / "broken.csv"
ARTICLE_DATE = pd.Timestamp("2015-08-24")
TODAY = dt.date(2026, 1, 1)  # fixed, so the broken ledger's "future" row stays in the future

# The node contract the ledger is written against (name: kind, states in order).
CONTRACT: dict[str, tuple[str, list[str]]] = {
    "pk_counter_militancy": ("condition", ["faltering", "sustained"]),
    "afghan_conflict": ("condition", ["easing", "stalemate", "worsening"]),
    "afghan_gov_response": ("condition", ["fails", "effective"]),
    "reconciliation": ("condition", ["none", "achieved"]),
    "border_cooperation": ("condition", ["poor", "functioning"]),
    "isis_core_territory": ("condition", ["collapsed", "holding"]),
    "ttp_relocation": ("condition", ["no", "yes"]),
    "isis_k_strength": ("condition", ["weak", "strong"]),
    "hardliners_back_isis": ("event", ["no", "yes"]),
    "pro_isis_alliance": ("event", ["no", "yes"]),
    "border_territory_held": ("event", ["no", "yes"]),
    "caliphate_declared": ("event", ["no", "yes"]),
    "isis_core_direct_presence": ("event", ["no", "yes"]),
    "sectarian_appeal": ("condition", ["low", "high"]),
    "isis_influence_pakistan": ("condition", ["low", "high"]),
    "support_expressions": ("event", ["no", "yes"]),
    "isis_attack_pakistan": ("event", ["no", "yes"]),
    "isis_claim_pakistan": ("event", ["no", "yes"]),
    "official_attribution": ("event", ["no", "yes"]),
    "recruitment_to_syria": ("condition", ["low", "high"]),
    "iran_border_links": ("event", ["no", "yes"]),
    "religious_party_radicalisation": ("event", ["no", "yes"]),
}


def _contract_yaml() -> str:
    """A model file with every contract node, parentless, with flat tables (JSON is YAML)."""
    lines = ["model: {name: contract, title: \"Ledger node contract\"}",
             "claims:", "  C1: {quote: \"contract\", paragraph: 1}", "nodes:"]
    for i, (node, (kind, states)) in enumerate(CONTRACT.items()):
        definition = {"kind": kind, "record": "public record",
                      "states": {s: s for s in states}}
        if kind == "event":
            definition["window"] = {"months": 24}
        table = {"rows": [{"counts": dict.fromkeys(states, 1)}]}
        table.update({"claims": ["C1"]} if i == 0 else {"assumption": "test fixture"})
        lines += [f"  {node}:", f"    label: {json.dumps(node)}",
                  f"    states: {json.dumps(states)}",
                  f"    definition: {json.dumps(definition)}",
                  f"    cpt: {json.dumps({'table': table})}"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def contract() -> ModelSpec:
    return parse_spec(_contract_yaml(), filename="contract.yaml")


def _snapshot(*folders: Path) -> dict[str, tuple[int, str]]:
    """Every file under the folders with its mtime and content hash."""
    return {str(p): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for folder in folders for p in sorted(folder.rglob("*")) if p.is_file()}


def _problems(path: Path, spec: ModelSpec | None = None) -> list[str]:
    with pytest.raises(EvidenceError) as info:
        load_ledger(path, spec, today=TODAY)
    assert str(info.value).startswith(str(path))
    return [str(p) for p in info.value.problems]


def _at(problems: list[str], path: Path, line: int) -> list[str]:
    return [p for p in problems if p.startswith((f"{path}:{line} ", f"{path}:{line}:"))]


# --- the real ledger ------------------------------------------------------------------------------


def test_real_ledger_loads_with_typed_columns(contract: ModelSpec) -> None:
    before = _snapshot(LEDGER.parent)
    frame = load_ledger(LEDGER, contract)
    assert _snapshot(LEDGER.parent) == before
    assert len(frame) >= 80
    assert list(frame.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert {"reliability", "credibility", "line"} <= set(frame.columns)
    assert pd.api.types.is_datetime64_any_dtype(frame["date"])
    assert frame["id"].is_unique
    assert (frame["source"].str.strip() != "").all()
    assert frame["url"].str.match(r"^https?://\S+$").all()
    assert frame["note"].str.len().between(10, 400).all()
    assert frame["date"].between(pd.Timestamp("2014-01-01"), pd.Timestamp.today()).all()
    assert (frame["date"] <= ARTICLE_DATE).sum() >= 20, "what the author could know"
    assert (frame["date"] > ARTICLE_DATE).sum() >= 40, "what happened after the article"
    assert frame["date"].max() >= pd.Timestamp("2025-01-01")
    assert set(frame["reliability"]) <= set("ABCDEF")
    assert frame["credibility"].between(1, 6).all()
    assert (frame["grade"] == frame["reliability"] + frame["credibility"].astype(str)).all()
    assert frame["line"].tolist() == list(range(2, len(frame) + 2))


def test_real_ledger_rows_are_hard_or_soft_never_both(contract: ModelSpec) -> None:
    frame = load_ledger(LEDGER, contract)
    soft = frame["likelihood"].notna()
    assert soft.any() and (~soft).any()
    assert frame.loc[soft, "state"].isna().all() and frame.loc[~soft, "state"].notna().all()
    for node, vector in frame.loc[soft, ["node", "likelihood"]].itertuples(index=False):
        assert len(vector) == len(CONTRACT[node][1]) and min(vector) >= 0 < max(vector)


def test_real_ledger_spreads_over_years_and_nodes(contract: ModelSpec) -> None:
    frame = load_ledger(LEDGER, contract)
    assert set(frame["node"]) <= set(CONTRACT)
    assert len(frame) >= 160
    assert set(frame["node"]) == set(CONTRACT), "every node has rows"
    assert frame["node"].value_counts().min() >= 3
    years = frame["date"].dt.year.value_counts()
    assert all(years.get(y, 0) >= 8 for y in range(2014, 2026)), "at least 8 rows every year"


def test_real_ledger_grades_each_source_once() -> None:
    frame = load_ledger(LEDGER)
    letters = frame.groupby("source")["reliability"].nunique()
    assert (letters == 1).all()
    claims = frame[frame["source"] == "Islamic State (claims)"]
    assert len(claims) >= 3 and set(claims["reliability"]) == {"F"}
    assert claims["likelihood"].notna().all(), "a claim is never proof: always a soft row"


def test_real_ledger_loads_against_the_flagship_model() -> None:
    frame = load_ledger(LEDGER, load_spec(FLAGSHIP))
    assert len(frame) >= 80


def test_ledger_hash_is_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    digest = ledger_hash(LEDGER)
    assert digest == hashlib.sha256(LEDGER.read_bytes()).hexdigest()
    copy = tmp_path / "copy.csv"
    shutil.copyfile(LEDGER, copy)
    assert ledger_hash(copy) == digest
    copy.write_bytes(copy.read_bytes() + b"\n")
    assert ledger_hash(copy) != digest


# --- broken ledgers -------------------------------------------------------------------------------

BROKEN_LINES = {  # line: what its problem says (each line of broken.csv has one fault, or none)
    3: "not a real calendar date",
    4: "not an ISO date",
    5: "in the future",
    6: "unknown node 'isis_k_strenght' (did you mean 'isis_k_strength'?)",
    7: "'yess' is not a state of support_expressions (did you mean 'yes'?)",
    8: "state and likelihood are both filled",
    9: "neither state nor likelihood is filled",
    10: "3 numbers for isis_claim_pakistan, which has 2 states",
    11: "must be a finite number >= 0",
    12: "'low' in 'low;high' is not a number",
    13: "duplicate id 'B001' (also on line 2)",
    14: "unknown grade 'G7'",
    15: "unknown grade 'b2'",
    16: "source is empty",
    17: "is not an http(s) URL",
    18: "url is empty",
    19: "has 10 fields, the header has 9",
    20: "source 'Jamestown Foundation' is graded C here and B on line 2",
    22: "id is empty",
    23: "note is empty",
}
SPEC_ONLY = {6, 7, 10}


def test_broken_ledger_names_every_bad_row_by_line(contract: ModelSpec) -> None:
    before = _snapshot(LEDGERS)
    problems = _problems(BROKEN, contract)
    assert _snapshot(LEDGERS) == before, "loading writes nothing"
    assert len(problems) == len(BROKEN_LINES)
    for line, text in BROKEN_LINES.items():
        found = _at(problems, BROKEN, line)
        assert len(found) == 1 and text in found[0], (line, found)
    assert not _at(problems, BROKEN, 2) and not _at(problems, BROKEN, 21), "valid rows pass"
    lines = [int(p.split(":")[1].split()[0]) for p in problems]
    assert lines == sorted(lines), "problems are listed in file order"


def test_broken_ledger_without_a_model_skips_only_the_model_checks() -> None:
    problems = _problems(BROKEN)
    for line, text in BROKEN_LINES.items():
        found = _at(problems, BROKEN, line)
        if line in SPEC_ONLY:
            assert not found, (line, found)
        else:
            assert len(found) == 1 and text in found[0], (line, found)


def test_bad_header_names_missing_and_unknown_columns() -> None:
    path = LEDGERS / "bad_header.csv"
    problems = _problems(path)
    assert all(p.startswith(f"{path}:1") for p in problems)
    text = "\n".join(problems)
    assert "unknown column 'likelihod' (did you mean 'likelihood'?)" in text
    assert "unknown column 'notes' (did you mean 'note'?)" in text
    assert "unknown column 'sauce'" in text
    assert "missing column 'likelihood'" in text and "missing column 'note'" in text


def _write(tmp_path: Path, *rows: str, header: str = ",".join(COLUMNS)) -> Path:
    path = tmp_path / "ledger.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


ROW = "E1,2015-05-13,isis_claim_pakistan,yes,,B1,Dawn,https://www.dawn.com/news/1,a claim"


def test_future_dates_are_judged_against_today(tmp_path: Path) -> None:
    path = _write(tmp_path, ROW)
    assert len(load_ledger(path, today=dt.date(2015, 5, 13))) == 1
    with pytest.raises(EvidenceError, match="2015-05-13 is in the future"):
        load_ledger(path, today=dt.date(2015, 5, 12))


def test_blank_lines_and_quoted_commas_keep_line_numbers(tmp_path: Path) -> None:
    good = ROW.replace("a claim", '"a claim, quoted"').replace("E1", "E2")
    path = _write(tmp_path, ROW, "", good, "", ROW.replace("E1", "E3").replace("B1", "Z9"))
    with pytest.raises(EvidenceError) as info:
        load_ledger(path, today=TODAY)
    assert [str(p) for p in info.value.problems] == [
        f"{path}:6 grade: unknown grade 'Z9': use an Admiralty code: reliability A-F then "
        "credibility 1-6, e.g. B2"
    ]
    frame = load_ledger(_write(tmp_path, ROW, "", good), today=TODAY)
    assert frame["line"].tolist() == [2, 4] and frame["note"].iloc[1] == "a claim, quoted"


def test_a_cell_spanning_lines_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path, ROW.replace("a claim", '"a claim\nover two lines"'))
    with pytest.raises(EvidenceError, match=r"ledger.csv:2: a cell spans lines 2-3"):
        load_ledger(path, today=TODAY)


def test_columns_may_come_in_any_order(tmp_path: Path) -> None:
    cells = dict(zip(COLUMNS, ROW.split(","), strict=True))
    order = list(reversed(COLUMNS))
    path = _write(tmp_path, ",".join(cells[c] for c in order), header=",".join(order))
    frame = load_ledger(path, today=TODAY)
    assert frame.loc[0, "id"] == "E1" and frame.loc[0, "url"] == "https://www.dawn.com/news/1"


def test_unreadable_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match="no such ledger file"):
        load_ledger(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(EvidenceError, match="the ledger is empty"):
        load_ledger(empty)
    header_only = _write(tmp_path)
    assert load_ledger(header_only).empty


def test_row_model_parses_one_row() -> None:
    row = LedgerRow.model_validate(dict(zip(COLUMNS, ROW.split(","), strict=True)))
    assert row.date == dt.date(2015, 5, 13) and row.state == "yes" and row.likelihood is None
    soft = LedgerRow.model_validate(
        dict(zip(COLUMNS, ROW.replace(",yes,,", ",,1;3,").split(","), strict=True)))
    assert soft.state is None and soft.likelihood == (1.0, 3.0)


def test_malformed_ids_and_node_names_get_their_own_hints(tmp_path: Path) -> None:
    path = _write(tmp_path, ROW.replace("E1,", "E 1,").replace("isis_claim_pakistan", "isis claim"))
    problems = _problems(path)
    assert any("id: 'E 1' is not a valid id (one word without spaces" in p for p in problems)
    assert any("node: 'isis claim' is not a valid node (a node name" in p for p in problems)


# --- evidence as of a date ------------------------------------------------------------------------

TINY = """
model: {name: tiny, title: "one condition, one event"}
claims:
  K1: {quote: "c raises e", paragraph: 1}
nodes:
  c:
    label: C
    states: [low, high]
    definition: {kind: condition, states: {low: "-", high: "-"}}
    cpt: {table: {assumption: test, rows: [{prior: {high: unlikely}}]}}
  e:
    label: E
    states: ["no", "yes"]
    parents: [c]
    definition: {kind: event, window: {months: 12}, states: {"no": "-", "yes": "-"}}
    cpt:
      logit:
        baseline: {prior: unlikely, assumption: test}
        effects:
          - {parent: c, direction: raises, strength: strong, claims: [K1]}
"""


@pytest.fixture(scope="module")
def tiny() -> ModelSpec:
    return parse_spec(TINY, filename="tiny.yaml")


def _ledger(tmp_path: Path, *rows: str) -> pd.DataFrame:
    """A ledger from (id, date, node, state, likelihood[, source, grade]) shorthand rows."""
    lines = []
    for row in rows:
        cells = row.split(",")
        row_id, date, node, state, likelihood = cells[:5]
        source, grade = (cells[5], cells[6]) if len(cells) > 5 else ("Dawn", "B2")
        lines.append(f"{row_id},{date},{node},{state},{likelihood},{grade},{source},"
                     f"https://example.org/{row_id},note {row_id}")
    return load_ledger(_write(tmp_path, *lines), today=TODAY)


def test_rows_after_the_as_of_date_do_not_count(tmp_path: Path, tiny: ModelSpec) -> None:
    ledger = _ledger(tmp_path, "A,2015-01-01,c,low,", "B,2015-06-01,c,high,")
    assert case_as_of(ledger, tiny, "2014-12-31").empty
    assert case_as_of(ledger, tiny, "2015-01-01").evidence == {"c": "low"}
    assert case_as_of(ledger, tiny, dt.date(2015, 5, 31)).evidence == {"c": "low"}
    assert case_as_of(ledger, tiny, pd.Timestamp("2015-06-01 13:00")).evidence == {"c": "high"}


@pytest.mark.parametrize("bad", ["2015-02-30", "24/08/2015", "", "soon", None, 20150824])
def test_a_bad_as_of_date_is_an_evidence_error(tmp_path: Path, tiny: ModelSpec, bad) -> None:
    ledger = _ledger(tmp_path, "A,2015-01-01,c,low,")
    with pytest.raises(EvidenceError, match="as-of date"):
        case_as_of(ledger, tiny, bad)


def test_a_later_condition_row_supersedes_and_ties_go_to_the_later_line(
    tmp_path: Path, tiny: ModelSpec
) -> None:
    ledger = _ledger(tmp_path, "A,2015-03-01,c,high,", "B,2015-01-01,c,low,",
                     "C,2016-01-01,c,,1;3", "D,2016-01-01,c,low,")
    assert case_as_of(ledger, tiny, "2015-12-31").evidence == {"c": "high"}, "by date, not line"
    late = case_as_of(ledger, tiny, "2016-01-01")
    assert late.evidence == {"c": "low"} and not late.soft, "same date: the later line wins"
    flipped = _ledger(tmp_path, "D,2016-01-01,c,low,", "C,2016-01-01,c,,1;3")
    soft = case_as_of(flipped, tiny, "2016-01-01")
    assert not soft.evidence and soft.soft == {"c": pytest.approx((1 / 3, 1.0))}
    assert list(rows_as_of(flipped, tiny, "2016-01-01")["id"]) == ["C"]


def test_an_event_counts_only_inside_its_window(tmp_path: Path, tiny: ModelSpec) -> None:
    # the forecast at as-of t is for (t, t + window]; rows in (t - window, t] are the previous
    # window's, entered on the event's twin e@previous (see forecast.evidence.lagged)
    ledger = _ledger(tmp_path, "A,2015-03-15,e,yes,")
    assert case_as_of(ledger, tiny, "2015-03-14").empty, "not yet"
    assert case_as_of(ledger, tiny, "2015-03-15").evidence == {"e@previous": "yes"}
    assert case_as_of(ledger, tiny, "2016-03-14").evidence == {"e@previous": "yes"}
    assert case_as_of(ledger, tiny, "2016-03-15").empty, "window (as_of - 12 months, as_of]"


def test_a_hard_yes_wins_on_an_event_otherwise_likelihoods_multiply(
    tmp_path: Path, tiny: ModelSpec
) -> None:
    ledger = _ledger(tmp_path, "A,2015-01-10,e,,1;2", "B,2015-02-10,e,,1;3",
                     "C,2015-03-10,e,no,", "D,2015-04-10,e,yes,", "E,2015-05-10,e,no,")
    before = case_as_of(ledger, tiny, "2015-02-10")
    assert not before.evidence and before.soft == {"e@previous": pytest.approx((1 / 6, 1.0))}
    both = case_as_of(ledger, tiny, "2015-03-10")
    assert both.evidence == {"e@previous": "no"}
    assert both.soft == {"e@previous": pytest.approx((1 / 6, 1.0))}
    for day in ("2015-04-10", "2015-06-01"):
        won = case_as_of(ledger, tiny, day)
        assert won.evidence == {"e@previous": "yes"} and not won.soft, day
    assert list(rows_as_of(ledger, tiny, "2015-06-01")["id"]) == ["D"]
    # the yes leaves the window first: the no and the soft rows still inside it remain
    late = case_as_of(ledger, tiny, "2016-04-20")
    assert late.evidence == {"e@previous": "no"} and not late.soft


def test_hard_and_soft_rows_go_to_evidence_and_soft(tmp_path: Path, tiny: ModelSpec) -> None:
    ledger = _ledger(tmp_path, "A,2015-01-01,c,high,", "B,2015-02-01,e,,0.2;0.6")
    case = case_as_of(ledger, tiny, "2015-06-01")
    assert case.evidence == {"c": "high"}
    assert dict(case.soft) == {"e@previous": pytest.approx((1 / 3, 1))}
    assert not case.reports and not case.counts


def test_half_life_tempers_soft_rows_and_never_hard_ones(tmp_path: Path, tiny: ModelSpec) -> None:
    ledger = _ledger(tmp_path, "A,2015-01-01,c,high,", "B,2015-01-01,e,,1;4")
    as_of = pd.Timestamp("2015-01-01") + pd.Timedelta(days=100)
    fresh = case_as_of(ledger, tiny, "2015-01-01", half_life_days=100)
    assert fresh.soft == {"e@previous": pytest.approx((0.25, 1.0))}, "no age, no decay"
    case = case_as_of(ledger, tiny, as_of, half_life_days=100)
    assert case.evidence == {"c": "high"}
    assert case.soft == {"e@previous": pytest.approx((0.25 ** 0.5, 1.0))}, "one half-life"
    older = case_as_of(ledger, tiny, as_of + pd.Timedelta(days=100), half_life_days=100)
    assert older.soft == {"e@previous": pytest.approx((0.25 ** 0.25, 1.0))}
    assert case_as_of(ledger, tiny, as_of).soft == {"e@previous": pytest.approx((0.25, 1.0))}
    weights = rows_as_of(ledger, tiny, as_of, half_life_days=100).set_index("id")["weight"]
    assert weights["A"] == 1.0 and weights["B"] == pytest.approx(0.5)
    for bad in (0, -1, float("nan"), float("inf"), "soon"):
        with pytest.raises(EvidenceError, match="half-life"):
            case_as_of(ledger, tiny, as_of, half_life_days=bad)


def test_reports_mode_turns_hard_rows_into_sources_reports(
    tmp_path: Path, tiny: ModelSpec
) -> None:
    ledger = _ledger(tmp_path, "A,2015-01-01,c,high,,Dawn,B2", "B,2015-02-01,e,yes,,Reuters,B1",
                     "C,2015-03-01,e,yes,,Amaq,F3", "D,2015-03-01,e,,1;2,Dawn,B3")
    case = case_as_of(ledger, tiny, "2015-06-01", reports=True)
    assert not case.evidence and not case.soft, "the yes wins over the soft row"
    assert case.reports == (Report("c", "high", "Dawn", "B2"),
                            Report("e@previous", "yes", "Reuters", "B1"),
                            Report("e@previous", "yes", "Amaq", "F3"))
    soft = case_as_of(ledger, tiny, "2015-01-31", reports=True)
    assert soft.reports == (Report("c", "high", "Dawn", "B2"),)
    forecast = importance_forecast(tiny, case, draws=2000, target_mcse=1.0, seed=0)
    assert np.isfinite(forecast.summary["mean"]).all()


def test_the_case_is_stable_and_hashable(tmp_path: Path, tiny: ModelSpec) -> None:
    ledger = _ledger(tmp_path, "A,2015-01-01,e,,1;2", "B,2015-01-01,c,low,")
    a = case_as_of(ledger, tiny, "2015-06-01", half_life_days=30)
    b = case_as_of(ledger.iloc[::-1].reset_index(drop=True), tiny, "2015-06-01", half_life_days=30)
    assert stable_hash(a.to_json()) == stable_hash(b.to_json())
    assert case_from_rows(rows_as_of(ledger, tiny, "2015-06-01", half_life_days=30), tiny) == a
    assert list(a.evidence) == ["c"] and list(a.soft) == ["e@previous"]


def test_rows_that_do_not_fit_the_model_are_rejected(tmp_path: Path, tiny: ModelSpec) -> None:
    ledger = _ledger(tmp_path, "A,2015-01-01,c,yes,", "B,2015-01-01,zz,low,")
    with pytest.raises(EvidenceError) as info:
        case_as_of(ledger, tiny, "2015-06-01")
    assert [p.where for p in info.value.problems] == ["ledger:2 state", "ledger:3 node"]
    with pytest.raises(EvidenceError, match="lacks column"):
        case_as_of(ledger.drop(columns="line"), tiny, "2015-06-01")


def test_the_flagship_at_the_article_date_uses_only_pre_article_rows(flagship_spec,
                                                                     flagship_ledger) -> None:
    spec, ledger = flagship_spec, flagship_ledger
    rows = rows_as_of(ledger, spec, ARTICLE_DATE)
    assert len(rows) >= 10 and (rows["date"] <= ARTICLE_DATE).all()
    case = case_as_of(ledger, spec, "2015-08-24")
    later = set(ledger.loc[ledger["date"] > ARTICLE_DATE, "node"]) - set(rows["node"])
    assert not later & (set(case.evidence) | set(case.soft))
    assert case.evidence and case.soft


def test_the_flagship_today_gives_a_case_the_engine_runs(flagship_spec, flagship_ledger) -> None:
    spec, ledger = flagship_spec, flagship_ledger
    case = case_as_of(ledger, spec, "2025-12-01")
    assert not case.empty
    rows = rows_as_of(ledger, spec, "2025-12-01")
    events = rows[rows["kind"] == "event"]
    assert (events["date"] > pd.Timestamp("2023-12-01")).all(), "24-month windows"
    forecast = importance_forecast(spec, case, draws=2000, target_mcse=1.0, seed=0)
    assert np.isfinite(forecast.summary["mean"]).all()
    assert forecast.summary["mean"].between(0, 1).all()


def test_case_from_rows_accepts_subsets_and_unions_of_kept_rows(
    tmp_path: Path, tiny: ModelSpec
) -> None:
    ledger = _ledger(tmp_path, "A,2015-01-01,c,low,", "B,2015-02-01,e,,1;2",
                     "C,2015-05-01,c,high,", "D,2015-05-02,e,yes,")
    early, late = rows_as_of(ledger, tiny, "2015-03-01"), rows_as_of(ledger, tiny, "2015-06-01")
    assert list(late["id"]) == ["C", "D"] and list(late["target"]) == ["c", "e@previous"]
    union = pd.concat([early, late], ignore_index=True)
    assert case_from_rows(union, tiny) == case_from_rows(late, tiny), "latest condition wins"
    assert case_from_rows(late.iloc[:1], tiny).evidence == {"c": "high"}
    assert case_from_rows(late.iloc[:0], tiny).empty


def test_kept_rows_round_trip_through_csv(tmp_path: Path, tiny: ModelSpec) -> None:
    ledger = _ledger(tmp_path, "A,2015-01-01,c,low,", "B,2015-02-01,e,,1;2")
    rows = rows_as_of(ledger, tiny, "2015-06-01", half_life_days=90)
    back = read_rows(write_rows(rows, tmp_path / "rows.csv"))
    pd.testing.assert_frame_equal(back, rows)
    assert case_from_rows(back, tiny) == case_from_rows(rows, tiny)
    assert read_rows(write_rows(no_rows(), tmp_path / "none.csv")).empty


def test_an_event_before_the_as_of_date_moves_the_next_windows_forecast(
    tmp_path: Path, tiny: ModelSpec
) -> None:
    ledger = _ledger(tmp_path, "A,2015-01-01,e,yes,")
    case = case_as_of(ledger, tiny, "2015-06-01")
    assert case.evidence == {"e@previous": "yes"}
    prior = importance_forecast(tiny, draws=4000, target_mcse=1.0, seed=0).summary
    post = importance_forecast(tiny, case, draws=4000, target_mcse=1.0, seed=0).summary
    p = {(r.node, r.state): r.mean for r in post.itertuples()}
    q = {(r.node, r.state): r.mean for r in prior.itertuples()}
    assert ("e", "yes") in p, "the forecast target stays unobserved"
    assert p[("e", "yes")] > q[("e", "yes")] and p[("c", "high")] > q[("c", "high")]
    assert "e@previous" not in set(post["node"])


def test_dates_pandas_cannot_hold_are_problems_on_their_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, ROW.replace("2015-05-13", "0001-01-01"),
                  ROW.replace("E1", "E2").replace("2015-05-13", "1500-06-10"))
    with pytest.raises(EvidenceError) as info:
        load_ledger(path, today=TODAY)
    assert [(p.line, p.field) for p in info.value.problems] == [(2, "date"), (3, "date")]
    assert "the date 1500-06-10 is outside 1900-01-01 to 2100-12-31" in str(info.value)


def test_a_quote_left_open_in_the_last_cell_is_reported(tmp_path: Path) -> None:
    """The open quote swallows the file's last line break: the row keeps its width."""
    path = _write(tmp_path, ROW, ROW.replace("E1", "E2").replace(",a claim", ',"a claim'))
    with pytest.raises(EvidenceError) as info:
        load_ledger(path, today=TODAY)
    (problem,) = info.value.problems
    assert (problem.line, problem.field) == (3, "note")
    assert "holds a line break: a quote is left open" in problem.message
    spanning = _write(tmp_path, ROW.replace("a claim", '"a claim\nover two lines"'))
    with pytest.raises(EvidenceError) as info:
        load_ledger(spanning, today=TODAY)
    assert len(info.value.problems) == 1, "a cell spanning lines is reported once"


def test_an_empty_timeline_is_written_and_read_back(tmp_path: Path) -> None:
    """An update with no ledger rows stores an empty timeline (its dates are objects)."""
    from forecast.evidence.steps import TIMELINE_COLUMNS

    empty = pd.DataFrame.from_records([], columns=list(TIMELINE_COLUMNS))
    back = read_rows(write_rows(empty, tmp_path / "evidence.csv"))
    assert back.empty and list(back.columns) == list(TIMELINE_COLUMNS)
