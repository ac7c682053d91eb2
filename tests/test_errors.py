"""Tests of the structured Problem: how it renders, and that loaders fill file, line and field.

Sorting, grouping and renaming problems read ``file``, ``line`` and ``field``; ``where`` and
``str`` are for people. The planted files below sit in a folder named ``v:9`` because the old
code sorted problems by the first ``:<digits>`` of a location string, which such a path breaks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from forecast._io import read_checked_csv
from forecast.analysis.questions import QUESTION_COLUMNS, load_questions
from forecast.errors import EvidenceError, Problem, SpecError, sorted_by_line
from forecast.evidence.ledger import COLUMNS, load_ledger
from forecast.model.load import load_spec, parse_spec
from forecast.network.bif import read_bif

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "isis_pakistan_2015.yaml"
MANY_PROBLEMS = Path(__file__).parent / "data" / "specs" / "many_problems.yaml"
BAD_SYNTAX = Path(__file__).parent / "data" / "specs" / "bad_syntax.yaml"
TODAY = dt.date(2026, 1, 1)


@pytest.fixture(scope="module")
def spec():
    return load_spec(MODEL)


def _write(folder: Path, name: str, header: tuple[str, ...], *rows: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join([",".join(header), *rows]) + "\n", encoding="utf-8")
    return path


# --- rendering --------------------------------------------------------------------------------


@pytest.mark.parametrize(("problem", "where", "text"), [
    (Problem("boom"), "", "boom"),
    (Problem("boom", hint="fix it"), "", "boom (fix it)"),
    (Problem("boom", field="--as-of"), "--as-of", "--as-of: boom"),
    (Problem("boom", file="l.csv"), "l.csv", "l.csv: boom"),
    (Problem("boom", file="l.csv", line=3), "l.csv:3", "l.csv:3: boom"),
    (Problem("boom", file="l.csv", line=3, field="node"), "l.csv:3 node", "l.csv:3 node: boom"),
    (Problem("boom", hint="h", file="x.yaml", line=12, field="nodes.war.states"),
     "x.yaml:12 nodes.war.states", "x.yaml:12 nodes.war.states: boom (h)"),
    (Problem("boom", file="m", field="claims.C2.quote[1]"), "m: claims.C2.quote[1]",
     "m: claims.C2.quote[1]: boom"),
    (Problem("boom", line=7), "line 7", "line 7: boom"),
    (Problem("boom", line=7, field="id"), "line 7 id", "line 7 id: boom"),
    (Problem("boom", file="", field=""), "", "boom"),
])
def test_str_renders_each_combination_of_location_fields(problem, where, text):
    assert problem.where == where
    assert str(problem) == text


def test_location_is_keyword_only_and_the_problem_frozen():
    with pytest.raises(TypeError):
        Problem("l.csv:3", "boom")  # type: ignore[misc]  # the old positional `where` is gone
    problem = Problem("boom", file="l.csv", line=np.int64(3), field="node")
    assert problem.line == 3 and type(problem.line) is int
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.line = 4  # type: ignore[misc]
    moved = dataclasses.replace(problem, field=f"case 0: {problem.field}")
    assert str(moved) == "l.csv:3 case 0: node: boom"


def test_sorted_by_line_reads_the_line_not_the_text():
    problems = [Problem("c", file="v:9/l.csv", line=4), Problem("a", field="x:1"),
                Problem("b", file="v:9/l.csv", line=2), Problem("d", file="v:9/l.csv", line=4)]
    assert [p.message for p in sorted_by_line(problems)] == ["a", "b", "c", "d"]


# --- loaders fill the fields ------------------------------------------------------------------


def test_an_out_of_order_ledger_lists_its_problems_in_line_order(tmp_path, spec):
    # collected as: line 4 (width, when read), line 3 (a cell), line 2 (the model's check)
    path = _write(tmp_path / "v:9", "ledger.csv", COLUMNS,
                  "E1,2014-06-10,no_such_node,holding,,B1,src,https://x.org,n",
                  "E2,2014-13-40,afghan_conflict,worsening,,B1,src,https://x.org,n",
                  "E3,2014-06-10,afghan_conflict")
    with pytest.raises(EvidenceError) as info:
        load_ledger(path, spec, today=TODAY)
    problems = info.value.problems
    assert [(p.file, p.line, p.field) for p in problems] == [
        (str(path), 2, "node"), (str(path), 3, "date"), (str(path), 4, None)]
    assert str(problems[0]).startswith(f"{path}:2 node: unknown node 'no_such_node'")


def test_an_out_of_order_questions_file_lists_its_problems_in_line_order(tmp_path, spec):
    good = "afghan_conflict,worsening,2015-08-24,24,1,2015-09-28,E1"
    path = _write(tmp_path / "v:9", "questions.csv", QUESTION_COLUMNS,
                  f"Q1,text,no_such_node,{good.split(',', 1)[1]}",
                  f"Q2,text,{good.replace('2015-08-24', '2015-02-30')}",
                  "Q3,text,afghan_conflict")
    with pytest.raises(EvidenceError) as info:
        load_questions(path, spec, today=TODAY)
    problems = info.value.problems
    assert [(p.file, p.line, p.field) for p in problems] == [
        (str(path), 2, "node"), (str(path), 3, "as_of"), (str(path), 4, None)]


def test_a_checked_csv_header_problem_is_at_line_1(tmp_path):
    path = _write(tmp_path, "ledger.csv", ("id", "dat"))
    read = read_checked_csv(path, ("id", "date"), what="ledger")
    assert {(p.file, p.line, p.field) for p in read.problems} == {(str(path), 1, None)}


def test_a_model_file_problem_has_file_line_and_key_path():
    with pytest.raises(SpecError) as info:
        load_spec(MANY_PROBLEMS)
    problems = info.value.problems
    assert all(p.file == str(MANY_PROBLEMS) and isinstance(p.line, int) for p in problems)
    assert [p.line for p in problems] == sorted(p.line for p in problems)
    typo = next(p for p in problems if "sorce" in p.message)
    assert (typo.line, typo.field) == (5, "model.sorce")


def test_a_yaml_syntax_error_has_file_and_line_but_no_field():
    with pytest.raises(SpecError) as info:
        load_spec(BAD_SYNTAX)
    (problem,) = info.value.problems
    assert problem.file == str(BAD_SYNTAX) and isinstance(problem.line, int)
    assert problem.field is None


def test_parse_spec_names_text_given_directly():
    with pytest.raises(SpecError) as info:
        parse_spec("", filename="<string>")
    assert [(p.file, p.line, p.field) for p in info.value.problems] == [("<string>", 1, None)]


def test_a_bif_problem_has_file_and_line():
    text = "network n {}\nvariable a {\n  type discrete [ 2 ] { x, y };\n}\n" \
           "probability ( a ) {\n  table 0.5, 0.6;\n}\n"
    with pytest.raises(SpecError) as info:
        read_bif(text)
    (problem,) = info.value.problems
    assert (problem.file, problem.line, problem.field) == ("<string>", 6, None)
