"""Model files cannot bomb the loader, and the schema refuses values no model may hold.

A corpus of malformed model texts, each built from the example model by one edit (as
``tests/test_time.py`` does), must give one located :class:`~forecast.errors.SpecError` naming
the file and the problem; the YAML bombs and a node with a huge CPT are also run through the CLI
under a memory limit and a hang guard.
"""

from __future__ import annotations

import math
import os
import pathlib
import resource
import subprocess
import sys
import time

import pytest
import yaml

from forecast.errors import SpecError
from forecast.model import load
from forecast.model.cpts import check_cpt_sizes, prior_mean_network
from forecast.model.load import (
    MAX_MODEL_BYTES,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
    load_spec,
    parse_spec,
)
from forecast.model.schema import (
    MAX_CLAIMS,
    MAX_CPT_ENTRIES,
    MAX_NODES,
    MAX_STATES,
    ModelSpec,
    cpt_entries,
)
from tests.guards import hang_guard

EXAMPLE = pathlib.Path("models/afghan_caliphate.yaml")
TEXT = EXAMPLE.read_text(encoding="utf-8")
NAME = "bad_model.yaml"


def _with(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def _edit(old: str, new: str) -> str:
    return _with(TEXT, old, new)


def _bomb() -> str:
    """The "billion laughs": nine levels of nine aliases, about 400 bytes."""
    lines = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for k in range(1, 9):
        lines.append(f"lol{k}: &lol{k} [" + ", ".join([f"*lol{k - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _node(name: str, states: list[str], parents: list[str] | None = None) -> str:
    """A minimal node (its CPT need not fit: the size limits are checked first)."""
    defined = ", ".join(f"{s}: x" for s in states)
    return (
        f"  {name}:\n    label: x\n    states: [{', '.join(states)}]\n"
        + (f"    parents: [{', '.join(parents)}]\n" if parents else "")
        + f"    definition: {{kind: condition, states: {{{defined}}}}}\n"
        + "    cpt: {table: {assumption: x, rows: [{prior: {s1: unlikely}}]}}\n"
    )


def _many_nodes(n: int) -> str:
    return _edit("nodes:\n", "nodes:\n" + "".join(_node(f"extra{i}", ["s0", "s1"])
                                                  for i in range(n)))


def _wide(n_parents: int) -> str:
    """pakistan_spillover (a table) with `n_parents` parents."""
    extra = ", ".join(f"cause{i}" for i in range(n_parents - 1))
    return _with(TEXT.replace("    parents: [conflict]\n", "    parents: [conflict, "
                              + extra + "]\n", 1),
                 "nodes:\n", "nodes:\n" + "".join(_node(f"cause{i}", ["s0", "s1"])
                                                  for i in range(n_parents - 1)))


def _unknown_parents(n: int) -> str:
    """pakistan_spillover with `n` more parents that are not nodes."""
    names = ", ".join(f"c{i}" for i in range(n))
    return _edit("    parents: [conflict]\n", f"    parents: [conflict, {names}]\n")


def _big_total() -> str:
    """Six nodes of exactly MAX_CPT_ENTRIES entries each: every one fits, together not."""
    states = [f"s{i}" for i in range(100)]
    nodes = _node("hundred_a", states) + _node("hundred_b", states)
    nodes += "".join(_node(f"cube{i}", states, ["hundred_a", "hundred_b"]) for i in range(6))
    return _edit("nodes:\n", "nodes:\n" + nodes)


WINDOW = "window: {months: 24}"
LOGIT_EFFECT = "strength: weak"
ROOT_ROW = "prior: {achieved: unlikely}"
COUNTS = "counts: {easing: 2, steady: 4, worsening: 5}"
PERSISTENCE = "      prior: none\n"

CORPUS: dict[str, tuple[str, str]] = {
    # --- YAML that would blow up the parser ------------------------------------------------
    "billion laughs": (_bomb() + TEXT, "anchor &lol0 is not allowed"),
    "recursive alias": (_edit("  description: >-\n", "  description: &loop [*loop]\n"
                              "  about: >-\n"), "anchor &loop is not allowed"),
    "recursive merge key": ("a: &a\n  <<: *a\n" + TEXT, "anchor &a is not allowed"),
    "alias to a window": (_with(_edit(WINDOW, "window: &w {months: 24}"), WINDOW, "window: *w"),
                          "anchor &w is not allowed"),
    "deep flow nesting": (_edit('label: "Kabul–Afghan Taliban reconciliation"',
                                "label: " + "[" * 5000 + "]" * 5000),
                          f"nested more than {MAX_YAML_DEPTH} deep"),
    "deep mapping nesting": (_edit('label: "Kabul–Afghan Taliban reconciliation"',
                                   "label: " + "{a: " * 100 + "1" + "}" * 100),
                             f"nested more than {MAX_YAML_DEPTH} deep"),
    "too many values": (_edit("  description: >-\n", "  description: ["
                              + ", ".join(["1"] * MAX_YAML_NODES) + "]\n  about: >-\n"),
                        f"more than {MAX_YAML_NODES:,} values"),
    "too many bytes": (TEXT + "#" * MAX_MODEL_BYTES + "\n", f"larger than {MAX_MODEL_BYTES:,}"),
    "a number of 300 digits": (_edit("paragraph: 4", "paragraph: 4" + "0" * 299),
                               "a number of 300 characters"),
    "sexagesimal bomb": (_edit("paragraph: 4", "paragraph: 1" + ":1" * 100_000),
                         "a number of 200,001 characters"),
    # --- dates -------------------------------------------------------------------------------
    "no such day": (_edit("date: 2015-08-24", "date: 2015-02-30"),
                    "cannot read '2015-02-30': day is out of range"),
    "year zero": (_edit("date: 2015-08-24", "date: 0000-01-01"), "cannot read '0000-01-01'"),
    "source date too early": (_edit("date: 2015-08-24", "date: 1850-01-01"),
                              "the date 1850-01-01 is outside 1900-01-01 to 2100-12-31"),
    "source date too late": (_edit("date: 2015-08-24", "date: 2150-01-01"),
                             "the date 2150-01-01 is outside"),
    "complete_from too early": (_edit("      kind: event\n",
                                      "      kind: event\n      complete_from: 1066-10-14\n"),
                                "the date 1066-10-14 is outside"),
    "a date as a number": (_edit("date: 2015-08-24", "date: 20150824"),
                           "expected a date, got 20150824"),
    "a date with a time": (_edit("date: 2015-08-24", "date: 2015-08-24 10:00:00"),
                           "expected a date, got the date and time"),
    # --- windows -------------------------------------------------------------------------------
    "window of 5000 months": (_edit(WINDOW, "window: {months: 5000}"),
                              "a window of 5,000 months is longer than 100 years"),
    "window of 40000 days": (_edit(WINDOW, "window: {days: 40000}"),
                             "a window of 40,000 days is longer than 100 years"),
    "window of inf months": (_edit(WINDOW, "window: {months: .inf}"), "inf is not a finite number"),
    # --- probabilities -----------------------------------------------------------------------
    "beta nan": (_edit(ROOT_ROW, "prior: {achieved: {beta: [.nan, 2]}}"),
                 "beta parameters must be finite numbers"),
    "beta inf": (_edit(ROOT_ROW, "prior: {achieved: {beta: [2, .inf]}}"),
                 "beta parameters must be finite numbers"),
    "beta huge": (_edit(ROOT_ROW, "prior: {achieved: {beta: [2, 1000000000]}}"),
                  "at most 1,000,000"),
    "fixed probability nan": (_edit(ROOT_ROW, "prior: {achieved: .nan}"),
                              "probability nan is not a finite number"),
    "fixed probability inf": (_edit(ROOT_ROW, "prior: {achieved: .inf}"),
                              "probability inf is not a finite number"),
    "fixed probability 1.5": (_edit(ROOT_ROW, "prior: {achieved: 1.5}"),
                              "probability 1.5 is outside [0, 1]"),
    "between nan": (_edit('"yes": {between: [0.20, 0.55]}', '"yes": {between: [.nan, 0.55]}'),
                    "band [nan, 0.55] is not inside (0, 1)"),
    "leak -inf": (_edit("prior: very unlikely", "prior: -.inf"),
                  "probability -inf is not a finite number"),
    "row probability nan": (_edit(COUNTS, "probabilities: {easing: .nan, steady: 0.5, "
                                  "worsening: 0.5}"), "probability nan is not a finite number"),
    "counts nan": (_edit(COUNTS, "counts: {easing: .nan, steady: 4, worsening: 5}"),
                   "a pseudo-count must be a finite number > 0"),
    "counts inf": (_edit(COUNTS, "counts: {easing: .inf, steady: 4, worsening: 5}"),
                   "a pseudo-count must be a finite number > 0"),
    "counts huge": (_edit(COUNTS, "counts: {easing: 1000000000000, steady: 4, worsening: 5}"),
                    "at most 1,000,000"),
    "doubt nan": (_edit("  time:\n", "  time:\n    doubt: {weight: .nan, assumption: x}\n"),
                  "nan is not a finite number"),
    # --- effects -----------------------------------------------------------------------------
    "log_odds nan": (_edit(LOGIT_EFFECT, "log_odds: .nan"), "log_odds nan is not a finite number"),
    "log_odds 50": (_edit(LOGIT_EFFECT, "log_odds: 50"), "log_odds 50 is beyond ±13.8"),
    "odds_ratio inf": (_edit(LOGIT_EFFECT, "odds_ratio: [2, .inf]"),
                       "needs two different positive finite numbers"),
    "odds_ratio nan": (_edit(LOGIT_EFFECT, "odds_ratio: [.nan, 2]"),
                       "needs two different positive finite numbers"),
    "odds_ratio huge": (_edit(LOGIT_EFFECT, "odds_ratio: [2, 10000000]"),
                        "goes beyond 1/1,000,000 to 1,000,000"),
    # --- persistence -------------------------------------------------------------------------
    "half-life nan": (_edit(PERSISTENCE, "      prior: {half_life_months: [.nan, 48]}\n"),
                      "half_life_months [nan, 48] needs 0 < lo < hi (finite)"),
    "half-life inf": (_edit(PERSISTENCE, "      prior: {half_life_months: [12, .inf]}\n"),
                      "needs 0 < lo < hi (finite)"),
    "half-life of 5000 months": (
        _edit(PERSISTENCE, "      prior: {half_life_months: [12, 5000]}\n"),
        "goes beyond 0.1 to 1,200 months"),
    "half-life as text": (_edit(PERSISTENCE, '      prior: {half_life_months: "12"}\n'),
                          "half_life_months must be two numbers"),
    # --- names (a "$" anchor would let a trailing newline through) ---------------------------
    "model name with a newline": (_edit("name: afghan_caliphate", 'name: "afghan_caliphate\\n"'),
                                  "model name 'afghan_caliphate\\n' is not valid"),
    "node name with a newline": (_edit("  reconciliation:\n    label",
                                       '  "reconciliation\\n":\n    label'),
                                 "node name 'reconciliation\\n' is not valid"),
    "claim id with a newline": (_edit("  C4:\n", '  "C4\\n":\n'), "claim id 'C4\\n' is not valid"),
    "state name with a newline": (_edit("states: [failed, achieved]",
                                        'states: [failed, "achieved\\n"]'),
                                  "state name 'achieved\\n' is not valid"),
    # --- sizes -------------------------------------------------------------------------------
    "a table with 25 parents": (_wide(25), "the CPT of 'pakistan_spillover' would have "
                                "100,663,296 entries (2 states × 25 parents' states)"),
    "30 parents that are not nodes": (_unknown_parents(30),
                                      "entries (2 states × 31 parents' states), more than"),
    "1000 parents that are not nodes": (_unknown_parents(1000),
                                        "1,000 parents name no node of the model"),
    "too many states": (_edit("states: [easing, steady, worsening]", "states: ["
                              + ", ".join(f"s{i}" for i in range(MAX_STATES + 1)) + "]"),
                        f"'conflict' has {MAX_STATES + 1} states, more than the limit"),
    "too many nodes": (_many_nodes(MAX_NODES), f"more than the limit of {MAX_NODES:,}"),
    "too many claims": (_edit("claims:\n", "claims:\n" + "".join(
        f'  X{i}: {{quote: "q", paragraph: 1}}\n' for i in range(MAX_CLAIMS))),
                        f"more than the limit of {MAX_CLAIMS:,}"),
    "too many entries in all": (_big_total(), "the model's CPTs would have 6,000,"),
    "many unknown parents": (_edit("    parents: [conflict]\n", "    parents: [conflict, "
                                   + ", ".join(f"c{i}" for i in range(10)) + "]\n").replace(
        "    parents: [reconciliation]\n", "    parents: [reconciliation, "
        + ", ".join(f"r{i}" for i in range(60)) + "]\n", 1),
        "70 parents name no node of the model"),
}


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("case", list(CORPUS))
def test_malformed_model_is_one_located_spec_error(case: str) -> None:
    text, expected = CORPUS[case]
    start = time.perf_counter()
    with pytest.raises(SpecError) as caught:
        parse_spec(text, NAME)
    assert time.perf_counter() - start < 10
    message = str(caught.value)
    assert message.startswith(f"{NAME}: ")
    assert expected in message, message[:2000]
    problem = next(p for p in caught.value.problems if expected in str(p))
    assert problem.file == NAME
    assert problem.hint  # says what to do
    if case != "too many bytes":
        assert problem.line is not None


def test_the_example_still_loads() -> None:
    spec = parse_spec(TEXT, "ok.yaml")
    assert spec.name == "afghan_caliphate"


def test_limits_allow_what_they_name() -> None:
    """A window of 100 years, a date at the end of the range and a 10-parent table pass."""
    text = TEXT.replace(WINDOW, "window: {months: 1200}", 1).replace(
        "date: 2015-08-24", "date: 1900-01-01")
    assert parse_spec(text, "ok.yaml").nodes["reconciliation"].definition.window.months == 1200
    with pytest.raises(SpecError) as caught:  # within the limits: only its rows are wrong
        parse_spec(_wide(10), NAME)
    assert "when does not name parent(s) cause0" in str(caught.value)
    assert "limit" not in str(caught.value)


def test_many_unknown_row_keys_are_counted_not_listed() -> None:
    keys = ", ".join(f"state{i}: 0.1" for i in range(5000))
    text = _edit(COUNTS, "probabilities: {" + keys + "}")
    start = time.perf_counter()
    with pytest.raises(SpecError) as caught:
        parse_spec(text, NAME)
    assert time.perf_counter() - start < 10
    assert "and 4,990 more keys that are not states of 'conflict'" in str(caught.value)


def test_a_model_file_is_never_read_past_the_limit(tmp_path: pathlib.Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_MODEL_BYTES + 1))
    with pytest.raises(SpecError, match="larger than 5,000,000 bytes"):
        load_spec(big)
    if os.path.exists("/dev/zero"):  # endless: only the first MAX_MODEL_BYTES + 1 are read
        with pytest.raises(SpecError, match="larger than"):
            load_spec("/dev/zero")
    crlf = tmp_path / "crlf.yaml"
    crlf.write_bytes(TEXT.replace("\n", "\r\n").encode("utf-8"))
    assert load_spec(crlf).fingerprint == parse_spec(TEXT).fingerprint


def test_libyaml_reads_model_files_when_installed() -> None:
    if getattr(yaml, "__with_libyaml__", False):
        assert issubclass(load._Loader, yaml.CSafeLoader)


def test_cpt_entries_stops_at_the_limit() -> None:
    assert cpt_entries(3, [2, 4]) == 24
    assert cpt_entries(2, [2] * 10_000, limit=MAX_CPT_ENTRIES) <= 2 * MAX_CPT_ENTRIES


def test_a_spec_built_without_the_loader_is_refused_before_allocation() -> None:
    """The CPT size limit holds where CPTs are built, not only where files are read."""
    n = math.ceil(math.log2(MAX_CPT_ENTRIES))  # parents of a binary node: 2**(n+1) entries
    binary = {"definition": {"kind": "condition", "states": {"no": "x", "yes": "y"}},
              "states": ["no", "yes"], "label": "x"}
    nodes = {f"p{i}": {**binary, "cpt": {"table": {"rows": [{"prior": {"yes": 0.5}}]}}}
             for i in range(n)}
    nodes["child"] = {**binary, "parents": list(nodes), "cpt": {"noisy_or": {
        "outcome": "yes", "leak": 0.1,
        "links": [{"parent": p, "state": ["yes"], "prior": 0.5} for p in nodes]}}}
    spec = ModelSpec.model_validate({"model": {"name": "wide", "title": "W"}, "nodes": nodes})
    with pytest.raises(SpecError, match="the CPT of 'child' has more than 1,000,000 entries"):
        check_cpt_sizes(spec)
    with pytest.raises(SpecError, match="CPTs too large to build"):
        prior_mean_network(spec)


# --------------------------------------------------------------------------------------------
# the CLI: exit 2, one message, no traceback, bounded time and memory
# --------------------------------------------------------------------------------------------

_TWO_GIB = 2 * 1024**3


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (_TWO_GIB, _TWO_GIB))


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is enforced on Linux")
def test_cli_refuses_bombs_with_exit_2_and_no_traceback(tmp_path: pathlib.Path) -> None:
    files = {
        "bomb.yaml": (_bomb(), "anchor &lol0 is not allowed"),
        "loop.yaml": ("loop: &loop [*loop]\n", "anchor &loop is not allowed"),
        "deep.yaml": ("x: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 64 deep"),
        "merge.yaml": ("a: &a\n  <<: *a\n", "anchor &a is not allowed"),
        "wide.yaml": (_wide(25), "the CPT of 'pakistan_spillover' would have"),
    }
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    running = {}
    for name, (text, _) in files.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        running[name] = subprocess.Popen(
            [sys.executable, "-m", "forecast", "validate", str(path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            preexec_fn=_limit_memory,
        )
    for name, process in running.items():
        try:
            out, err = process.communicate(timeout=hang_guard(1))  # ~1 s
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            pytest.fail(f"{name}: validate still running after 60 s")
        assert process.returncode == 2, (name, out, err)
        assert "Traceback" not in err and "MemoryError" not in err, (name, err)
        assert name in out + err and files[name][1] in out + err, (name, out, err)


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: pathlib.Path) -> None:
    """Opening a named pipe for reading waits for a writer: forever, for a scheduled job."""
    import threading

    fifo = tmp_path / "model.yaml"
    os.mkfifo(fifo)
    caught: list[BaseException] = []

    def load() -> None:
        try:
            load_spec(fifo)
        except SpecError as exc:
            caught.append(exc)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(hang_guard(0.01))
    assert not thread.is_alive(), "load_spec waited for a writer"
    assert caught and "is a named pipe (FIFO), not a file" in str(caught[0])


@pytest.mark.parametrize("tag", ["!!set {conflict, reconciliation}", "!!omap [conflict: 1]",
                                 "!!pairs [conflict: 1]", "!!binary Y29uZmxpY3Q="])
def test_sets_pairs_and_bytes_are_refused(tag: str) -> None:
    """A set of parents has no order: the CPT's axes would follow string hashes."""
    with pytest.raises(SpecError) as caught:
        parse_spec(_edit("    parents: [conflict]\n", f"    parents: {tag}\n"), NAME)
    (problem,) = caught.value.problems
    assert f"the YAML tag {tag.split()[0]} is not allowed" in problem.message
    assert problem.line is not None and "write a list" in str(problem.hint)
