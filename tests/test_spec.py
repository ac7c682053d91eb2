"""Tests of the model language: loading, the schema, the whole-model checks and their messages."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import pandas as pd
import pytest
from pydantic import ValidationError

from forecast.errors import Problem, SpecError
from forecast.model.checks import check_claim_quotes
from forecast.model.load import check_quotes, load_spec, parse_spec
from forecast.model.schema import ModelSpec
from tests.conftest import seed_article

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "models" / "afghan_caliphate.yaml"
SPECS = Path(__file__).parent / "data" / "specs"


def _problems(text: str) -> list[Problem]:
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    return info.value.problems


# --- the example model --------------------------------------------------------------------------


def test_example_model_loads() -> None:
    spec = load_spec(EXAMPLE)
    assert isinstance(spec, ModelSpec)
    assert spec.name == "afghan_caliphate"
    assert 5 <= len(spec.node_names) <= 7
    forms = {node.cpt.form for node in spec.nodes.values()}
    assert forms == {"table", "logit", "noisy_or"}
    assert any(len(s) == 3 for s in spec.states.values())
    assert spec.parents["caliphate"] == ("reconciliation", "conflict", "pro_isis_strength")
    assert spec.model.source is not None and str(spec.model.source.date) == "2015-08-24"
    # every claim is cited, and the headline claim drives the caliphate node
    usage = spec.claim_usage()
    assert set(usage) == set(spec.claims) and all(usage.values())
    assert "nodes.caliphate.cpt.logit.effects[0]" in usage["C13"]


def test_example_quotes_are_verbatim_in_their_paragraphs() -> None:
    spec = load_spec(EXAMPLE)
    assert check_quotes(spec, seed_article(), first_paragraph="Karachi:") == []
    paragraphs = {n for claim in spec.claims.values() for n in claim.paragraph}
    assert {10, 12, 13} <= paragraphs


def test_check_quotes_finds_wrong_paragraphs_and_altered_quotes() -> None:
    spec = parse_spec(BASE)
    source = "Headline\n\nBody starts: one.\n\nSecond para with two\nwrapped.\n\nthree\n"
    problems = check_quotes(spec, source, first_paragraph="Body starts")
    assert problems == []  # C1 "one" in ¶1, C2 "two" in ¶2
    problems = check_quotes(spec, source)  # now the headline is ¶1: "one" moves to ¶2
    assert [(p.where, p.message, p.hint) for p in problems] == [
        ("base: claims.C1", "the quote is in paragraph 2, not 1", "set paragraph: 2")
    ]
    problems = check_quotes(spec, "nothing here")
    assert all("not in the source verbatim" in p.message for p in problems)


def test_defaults_are_made_explicit() -> None:
    spec = parse_spec(BASE)
    c = spec.nodes["c"].cpt.noisy_or
    assert c is not None and c.outcome == "yes"
    assert [link.state for link in c.links] == [["mid", "high"], ["yes"]]
    b = spec.nodes["b"].cpt.logit
    assert b is not None and b.outcome == "yes"


def test_conveniences() -> None:
    spec = load_spec(EXAMPLE)
    assert spec.node_names[0] == "reconciliation"
    assert spec.states["conflict"] == ("easing", "steady", "worsening")
    g = spec.network_structure()
    assert isinstance(g, nx.DiGraph) and nx.is_directed_acyclic_graph(g)
    assert g.has_edge("reconciliation", "caliphate")
    assert g.nodes["caliphate"]["form"] == "logit"
    table = spec.summary()
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == [
        "node",
        "label",
        "states",
        "kind",
        "form",
        "parents",
        "n_params",
        "claims",
    ]
    row = table.set_index("node").loc["caliphate"]
    assert row["n_params"] == 5 and row["form"] == "logit" and "C13" in row["claims"]
    spec2 = parse_spec(BASE)
    assert spec2.claim_usage()["C2"] == [
        "nodes.c.cpt.noisy_or.links[0]",
        "nodes.c.cpt.noisy_or.links[1]",
    ]


def test_spec_is_immutable_and_round_trips() -> None:
    spec = load_spec(EXAMPLE)
    with pytest.raises(ValidationError):  # frozen
        spec.model = spec.model  # type: ignore[misc]
    again = ModelSpec.model_validate(spec.model_dump())
    assert again == spec


# --- a small valid model and one mistake at a time -------------------------------------------

BASE = """\
model:
  name: base
  title: "Base model"
claims:
  C1: {quote: "one", paragraph: 1}
  C2: {quote: "two", paragraph: [2, 3]}
nodes:
  a:
    label: "A"
    states: [low, mid, high]
    definition:
      kind: condition
      record: "r"
      states: {low: "l", mid: "m", high: "h"}
    cpt:
      table:
        assumption: "base rates"
        rows:
          - counts: {low: 2, mid: 3, high: 1}
  b:
    label: "B"
    states: ["no", "yes"]
    parents: [a]
    definition:
      kind: event
      window: {months: 12}
      states: {"no": "n", "yes": "y"}
    cpt:
      logit:
        baseline: {prior: unlikely, claims: [C1]}
        effects:
          - parent: a
            state: high
            direction: raises
            strength: moderate
            claims: [C1]
          - parent: a
            state: mid
            direction: raises
            odds_ratio: [1.1, 1.5]
            assumption: "between low and high"
  c:
    label: "C"
    states: ["no", "yes"]
    parents: [a, b]
    definition:
      kind: condition
      states: {"no": "n", "yes": "y"}
    cpt:
      noisy_or:
        leak: very unlikely
        links:
          - parent: a
            state: [mid, high]
            prior: likely
            claims: [C2]
          - parent: b
            prior: {between: [0.2, 0.55]}
            claims: [C2]
  d:
    label: "D"
    states: [down, up]
    parents: [b, c]
    definition:
      kind: event
      window: {days: 90}
      states: {down: "d", up: "u"}
    cpt:
      table:
        assumption: "guess"
        rows:
          - when: {b: "no", c: "no"}
            prior: {up: 0.1}
          - when: {b: "no", c: "yes"}
            prior: {up: likely}
          - when: {b: "yes", c: "no"}
            probabilities: {down: 0.5, up: 0.5}
          - when: {b: "yes", c: "yes"}
            counts: {down: 1, up: 4}
"""


def test_base_model_is_valid() -> None:
    spec = parse_spec(BASE)
    assert spec.node_names == ("a", "b", "c", "d")


def _sub(old: str, new: str, count: int = 1) -> Callable[[str], str]:
    def apply(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, count)

    return apply


def _cut(start: str, stop: str) -> Callable[[str], str]:
    """Remove the text from `start` up to (not including) `stop`."""

    def apply(text: str) -> str:
        i = text.index(start)
        return text[:i] + text[text.index(stop, i) :]

    return apply


LINK_B = (
    "          - parent: b\n            prior: {between: [0.2, 0.55]}\n            claims: [C2]\n"
)

# (id, mutation, line marker, path, message fragment, hint fragment or None)
CASES = [
    (
        "unknown parent",
        _sub("parents: [a, b]", "parents: [a, bb]"),
        "parents: [a, bb]",
        "nodes.c.parents[1]",
        "unknown parent 'bb'",
        "did you mean 'b'?",
    ),
    (
        "cycle",
        _sub("parents: [a]", "parents: [a, d]"),
        "parents: [a, d]",
        "nodes.b.parents",
        "the graph has a cycle: b -> ",
        "acyclic",
    ),
    (
        "definition state",
        _sub('high: "h"}', 'hgh: "h"}'),
        'hgh: "h"',
        "nodes.a.definition.states.hgh",
        "'hgh' is not a state of 'a'",
        "did you mean 'high'?",
    ),
    (
        "definition misses a state",
        _sub('high: "h"}', "}"),
        '      states: {low: "l"',
        "nodes.a.definition.states",
        "does not define state(s) high",
        "define every state",
    ),
    (
        "when state",
        _sub('{b: "yes", c: "no"}', '{b: "yes", c: nope}'),
        "c: nope",
        "nodes.d.cpt.table.rows[2].when.c",
        "'nope' is not a state of 'c'",
        None,
    ),
    (
        "when unknown parent",
        _sub('{b: "yes", c: "no"}', '{b: "yes", cc: "no"}'),
        "cc:",
        "nodes.d.cpt.table.rows[2].when.cc",
        "'cc' is not a parent of 'd'",
        "did you mean 'c'?",
    ),
    (
        "when misses a parent",
        _sub('{b: "yes", c: "no"}', '{b: "yes"}'),
        '{b: "yes"}',
        "nodes.d.cpt.table.rows[2].when",
        "does not name parent(s) c",
        "name every parent",
    ),
    (
        "effect state",
        _sub("state: high", "state: hihg"),
        "state: hihg",
        "nodes.b.cpt.logit.effects[0].state",
        "'hihg' is not a state of 'a'",
        "did you mean 'high'?",
    ),
    (
        "reference state",
        _sub("state: mid\n", "state: low\n"),
        "state: low",
        "nodes.b.cpt.logit.effects[1].state",
        "reference (first) state",
        "mid, high",
    ),
    (
        "state needed",
        _sub("            state: high\n", ""),
        "          - parent: a\n            direction",
        "nodes.b.cpt.logit.effects[0]",
        "has 3 states: say which one",
        "add state",
    ),
    (
        "outcome",
        _sub("      noisy_or:\n", "      noisy_or:\n        outcome: yse\n"),
        "outcome: yse",
        "nodes.c.cpt.noisy_or.outcome",
        "'yse' is not a state of 'c'",
        "did you mean 'yes'?",
    ),
    (
        "noisy_or on 3 states",
        _sub(
            '      table:\n        assumption: "base rates"\n        rows:\n'
            "          - counts: {low: 2, mid: 3, high: 1}\n",
            "      noisy_or: {leak: unlikely}\n",
        ),
        "noisy_or: {leak",
        "nodes.a.cpt.noisy_or",
        "noisy_or needs a binary node; 'a' has 3 states",
        "use table",
    ),
    (
        "logit on 3 states",
        _sub(
            '      table:\n        assumption: "base rates"\n        rows:\n'
            "          - counts: {low: 2, mid: 3, high: 1}\n",
            "      logit: {baseline: unlikely}\n",
        ),
        "logit: {baseline",
        "nodes.a.cpt.logit",
        "logit needs a binary node; 'a' has 3 states",
        "use table",
    ),
    (
        "effect on a non-parent",
        _sub(
            "          - parent: a\n            state: mid",
            "          - parent: c\n            state: mid",
        ),
        "parent: c",
        "nodes.b.cpt.logit.effects[1].parent",
        "'c' is not a parent of 'b'",
        "add 'c' to parents of 'b'",
    ),
    (
        "parent without a link",
        _sub(LINK_B, ""),
        "parents: [a, b]",
        "nodes.c.parents[1]",
        "parent 'b' has no link: nothing justifies the edge b -> c",
        "add an link for 'b'",
    ),
    (
        "parent without an effect",
        _cut("        effects:\n", "  c:\n"),
        "parents: [a]",
        "nodes.b.parents[0]",
        "parent 'a' has no effect",
        "add an effect for 'a'",
    ),
    (
        "probability outside [0, 1]",
        _sub("{down: 0.5, up: 0.5}", "{down: -0.5, up: 1.5}"),
        "down: -0.5",
        "nodes.d.cpt.table.rows[2].probabilities.down",
        "probability -0.5 is outside [0, 1]",
        None,
    ),
    (
        "row sum",
        _sub("{down: 0.5, up: 0.5}", "{down: 0.5, up: 0.5000001}"),
        "up: 0.5000001",
        "nodes.d.cpt.table.rows[2].probabilities",
        "sum to 1.0000001, not 1",
        "add up to 1",
    ),
    (
        "missing row",
        _cut('          - when: {b: "yes", c: "yes"}', "\nEND"),
        '        rows:\n          - when: {b: "no", c: "no"}',
        "nodes.d.cpt.table.rows",
        "1 parent configuration(s) have no row: b=yes, c=yes",
        "one row per parent configuration",
    ),
    (
        "duplicate row",
        _sub('{b: "no", c: "yes"}', '{b: "no", c: "no"}'),
        '          - when: {b: "no", c: "no"}\n            prior: {up: likely}',
        "nodes.d.cpt.table.rows[1]",
        "duplicate row for b=no, c=no (rows 0, 1)",
        "once",
    ),
    (
        "unused claim",
        _sub("claims: [C2]", "assumption: x", 2),
        "C2: {quote",
        "claims.C2",
        "claim 'C2' is not cited anywhere",
        "cite it",
    ),
    (
        "unknown claim",
        _sub("claims: [C1]", "claims: [C11]"),
        "claims: [C11]",
        "nodes.b.cpt.logit.baseline.claims[0]",
        "claim 'C11' does not exist",
        "did you mean 'C1'?",
    ),
    (
        "effect without justification",
        _sub('            assumption: "between low and high"\n', ""),
        "          - parent: a\n            state: mid",
        "nodes.b.cpt.logit.effects[1]",
        "cites no claim and states no assumption",
        "add claims",
    ),
    (
        "table without justification",
        _sub('        assumption: "guess"\n', ""),
        "      table:\n        rows:\n          - when",
        "nodes.d.cpt.table",
        "the table cites no claim",
        "on every row",
    ),
    (
        "log_odds sign",
        _sub("odds_ratio: [1.1, 1.5]", "log_odds: -0.3"),
        "log_odds: -0.3",
        "nodes.b.cpt.logit.effects[1].log_odds",
        "log_odds -0.3 contradicts direction 'raises'",
        "positive",
    ),
    (
        "odds ratio across 1",
        _sub("odds_ratio: [1.1, 1.5]", "odds_ratio: [0.9, 1.5]"),
        "odds_ratio: [0.9",
        "nodes.b.cpt.logit.effects[1].odds_ratio",
        "includes 1",
        "one side",
    ),
    (
        "two magnitudes",
        _sub("strength: moderate", "strength: moderate\n            log_odds: 1"),
        "          - parent: a\n            state: high",
        "nodes.b.cpt.logit.effects[0]",
        "exactly one of strength, odds_ratio, log_odds",
        None,
    ),
    (
        "event without window",
        _sub("      window: {months: 12}\n", ""),
        "    definition:\n      kind: event",
        "nodes.b.definition",
        "an event needs a window",
        "window: {months: 24}",
    ),
    (
        "condition with window",
        _sub('      record: "r"\n', '      record: "r"\n      window: {months: 1}\n'),
        "window: {months: 1}",
        "nodes.a.definition.window",
        "a condition holds at the as-of date",
        "kind: event",
    ),
    (
        "window with two units",
        _sub("window: {months: 12}", "window: {months: 12, days: 3}"),
        "window: {months: 12, days",
        "nodes.b.definition.window",
        "exactly one of months or days",
        "months: 24",
    ),
    (
        "unknown key",
        _sub("strength: moderate", "strenght: moderate"),
        "strenght",
        "nodes.b.cpt.logit.effects[0].strenght",
        "unknown key 'strenght'",
        "did you mean 'strength'?",
    ),
    (
        "unknown top-level key",
        _sub("nodes:\n", "node: {}\nnodes:\n"),
        "node: {}",
        "node",
        "unknown key 'node'",
        "did you mean 'nodes'?",
    ),
    (
        "unknown word",
        _sub("leak: very unlikely", "leak: very unlikley"),
        "leak: very",
        "nodes.c.cpt.noisy_or.leak.prior",
        "'very unlikley' is not an estimative word",
        "did you mean 'very unlikely'?",
    ),
    (
        "unknown strength",
        _sub("strength: moderate", "strength: moderat"),
        "strength: moderat",
        "nodes.b.cpt.logit.effects[0].strength",
        "'moderat' is not a strength word",
        "did you mean 'moderate'?",
    ),
    (
        "direction",
        _sub("direction: raises", "direction: raise"),
        "direction: raise",
        "nodes.b.cpt.logit.effects[0].direction",
        "'raise' is not one of: raises, lowers",
        "did you mean 'raises'?",
    ),
    (
        "two forms",
        _sub(
            '      table:\n        assumption: "base rates"',
            '      logit: {baseline: likely}\n      table:\n        assumption: "base rates"',
        ),
        "    cpt:\n      logit: {baseline: likely}",
        "nodes.a.cpt",
        "exactly one form: table, logit or noisy_or (found table, logit)",
        None,
    ),
    (
        "worded prior on 3 states",
        _sub("counts: {low: 2, mid: 3, high: 1}", "prior: {high: unlikely}"),
        "prior: {high",
        "nodes.a.cpt.table.rows[0].prior",
        "a worded prior gives one state's probability",
        "use probabilities",
    ),
    (
        "worded prior on two states",
        _sub("prior: {up: 0.1}", "prior: {up: 0.1, down: 0.9}"),
        "prior: {up: 0.1, down",
        "nodes.d.cpt.table.rows[0].prior",
        "a worded prior names exactly one state",
        None,
    ),
    (
        "root table with two rows",
        _sub(
            "          - counts: {low: 2, mid: 3, high: 1}\n",
            "          - counts: {low: 2, mid: 3, high: 1}\n"
            "          - counts: {low: 1, mid: 1, high: 1}\n",
        ),
        "        rows:\n          - counts: {low: 2",
        "nodes.a.cpt.table.rows",
        "has no parents, so its table has exactly one row, not 2",
        None,
    ),
    (
        "counts miss a state",
        _sub("counts: {down: 1, up: 4}", "counts: {up: 4}"),
        "counts: {up: 4}",
        "nodes.d.cpt.table.rows[3].counts",
        "miss(es) state(s) down",
        None,
    ),
    (
        "fixed baseline",
        _sub("baseline: {prior: unlikely", "baseline: {prior: 0"),
        "baseline: {prior: 0",
        "nodes.b.cpt.logit.baseline.prior",
        "infinite log-odds",
        "strictly between 0 and 1",
    ),
    (
        "link always fires",
        _sub("state: [mid, high]", "state: [low, mid, high]"),
        "state: [low, mid",
        "nodes.c.cpt.noisy_or.links[0].state",
        "always fires",
        "leak",
    ),
    (
        "overlapping links",
        _sub(
            LINK_B,
            LINK_B + "          - parent: a\n            state: high"
            "\n            prior: 0.3\n            claims: "
            "[C2]\n",
        ),
        "          - parent: a\n            state: high\n            prior: 0.3",
        "nodes.c.cpt.noisy_or.links[2]",
        "a=high is active in two links (links[0] and links[2])",
        None,
    ),
    (
        "long form misuse",
        _sub("leak: very unlikely", "leak: {between: [0.05, 0.2], claims: [C2]}"),
        "leak: {between",
        "nodes.c.cpt.noisy_or.leak.between",
        "unknown key 'between'",
        "put the form under prior",
    ),
    (
        "missing key",
        _sub('    label: "A"\n', ""),
        "  a:",
        "nodes.a",
        "missing required key 'label'",
        None,
    ),
    (
        "wrong type",
        _sub("states: [low, mid, high]", "states: low"),
        "states: low",
        "nodes.a.states",
        "expected a list, got 'low'",
        None,
    ),
    (
        "unquoted yes/no",
        _sub('states: ["no", "yes"]', "states: [no, yes]"),
        "states: [no, yes]",
        "nodes.b.states[0]",
        "state name False was read as a boolean",
        "quote it",
    ),
    (
        "model name",
        _sub("name: base", "name: Base-Model"),
        "name: Base-Model",
        "model.name",
        "model name 'Base-Model' is not valid",
        "lower-case",
    ),
    (
        "duplicate key",
        _sub('  C2: {quote: "two"', '  C1: {quote: "dup", paragraph: 1}\n  C2: {quote: "two"'),
        '  C1: {quote: "dup"',
        "claims.C1",
        "duplicate key 'C1' (first on line 5)",
        "remove or rename",
    ),
    (
        "empty list of quotes",
        _sub('C1: {quote: "one"', "C1: {quote: []"),
        "C1: {quote: []",
        "claims.C1.quote",
        "the list of quotes is empty",
        "quote: [",
    ),
    (
        "quote that is not text",
        _sub('quote: "two"', 'quote: ["two", 3]'),
        "C2: {quote",
        "claims.C2.quote",
        "a quote must be text, got 3",
        "quote: [",
    ),
    (
        "unknown scenario",
        _sub('  title: "Base model"\n', '  title: "Base model"\n  scenarios: [b, dd]\n'),
        "scenarios: [b, dd]",
        "model.scenarios[1]",
        "scenario 'dd' is not a node of the model",
        "did you mean 'd'?",
    ),
    (
        "repeated scenario",
        _sub('  title: "Base model"\n', '  title: "Base model"\n  scenarios: [b, d, b]\n'),
        "scenarios: [b, d, b]",
        "model.scenarios[2]",
        "scenario 'b' is listed twice",
        "list each node once",
    ),
    (
        "paragraph",
        _sub("paragraph: 1}", "paragraph: 0}"),
        "C1: {quote",
        "claims.C1.paragraph[0]",
        "greater than 0",
        None,
    ),
]


@pytest.mark.parametrize(
    ("mutate", "marker", "path", "message", "hint"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_each_mistake_is_reported_with_line_and_hint(
    mutate: Callable[[str], str],
    marker: str,
    path: str,
    message: str,
    hint: str | None,
) -> None:
    text = mutate(BASE + "END").replace("END", "")
    problems = _problems(text)
    line = text[: text.index(marker)].count("\n") + 1  # the line where the marker starts
    matching = [p for p in problems if message in p.message]
    assert matching, "\n".join(map(str, problems))
    found = matching[0]
    assert found.where == f"<string>:{line} {path}", found
    if hint is None:
        return
    assert found.hint is not None and hint in found.hint, found


def test_summary_line_counts_problems() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(BASE.replace("strength: moderate", "strenght: moderate"), filename="m.yaml")
    assert info.value.summary == "m.yaml: 1 problem"
    assert str(info.value).splitlines()[1] == (
        "  - m.yaml:35 nodes.b.cpt.logit.effects[0].strenght: unknown key 'strenght' "
        "(did you mean 'strength'?)"
    )


# --- broken fixture files ---------------------------------------------------------------------

MANY = [  # (line, path, message fragment, hint fragment)
    (5, "model.sorce", "unknown key 'sorce'", "did you mean 'source'?"),
    (7, "claims.C1", "claim 'C1' is not cited anywhere", "cite it"),
    (17, "nodes.a.definition", "an event needs a window", "window: {months: 24}"),
    (20, "nodes.a.definition.states", "does not define state(s) high", "define every state"),
    (20, "nodes.a.definition.states.hihg", "'hihg' is not a state of 'a'", "did you mean 'high'?"),
    (22, "nodes.a.cpt.logit", "logit needs a binary node; 'a' has 3 states", "use table"),
    (
        23,
        "nodes.a.cpt.logit.baseline.prior",
        "'likley' is not an estimative word",
        "did you mean 'likely'?",
    ),
    (28, "nodes.b.parents[1]", "unknown parent 'cc'", "did you mean 'c'?"),
    (
        39,
        "nodes.b.cpt.logit.effects[0].strenght",
        "unknown key 'strenght'",
        "did you mean 'strength'?",
    ),
    (43, "nodes.b.cpt.logit.effects[1].log_odds", "contradicts direction 'lowers'", "negative"),
    (44, "nodes.b.cpt.logit.effects[1].claims[0]", "claim 'C3' does not exist", "add it"),
    (
        45,
        "nodes.b.cpt.logit.effects[2].parent",
        "'d' is not a parent of 'b'",
        "add 'd' to parents of 'b'",
    ),
    (53, "nodes.c.parents", "the graph has a cycle: c -> d -> c", "acyclic"),
    (62, "nodes.c.cpt.table.rows[0].probabilities", "sum to 0.9, not 1", "add up to 1"),
    (63, "nodes.c.cpt.table.rows[1]", "duplicate row for b=no, d=no (rows 0, 1)", "once"),
    (64, "nodes.c.cpt.table.rows[1].probabilities.no", "probability 1.2 is outside", None),
    (64, "nodes.c.cpt.table.rows[1].probabilities.yes", "probability -0.2 is outside", None),
    (65, "nodes.c.cpt.table.rows[2].when.d", "'maybe' is not a state of 'd'", None),
    (78, "nodes.d.cpt.noisy_or.links[0]", "the link from 'c' cites no claim", "add claims"),
]


def test_one_file_with_many_problems_lists_them_all() -> None:
    path = SPECS / "many_problems.yaml"
    with pytest.raises(SpecError) as info:
        load_spec(path)
    error = info.value
    assert error.summary == f"{path}: {len(MANY)} problems"
    got = [(p.where, p.message, p.hint) for p in error.problems]
    assert len(got) == len(MANY), "\n".join(map(str, error.problems))
    for (where, message, hint), (line, key, fragment, hint_fragment) in zip(got, MANY, strict=True):
        assert where == f"{path}:{line} {key}"
        assert fragment in message
        if hint_fragment is None:
            assert hint is None or hint
        else:
            assert hint is not None and hint_fragment in hint, (where, message, hint)
    lines = [int(re.search(r":(\d+) ", w).group(1)) for w, _, _ in got]  # type: ignore[union-attr]
    assert lines == sorted(lines)


def test_python_tags_are_rejected_not_run(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(SPECS / "python_tag.yaml")
    (problem,) = info.value.problems
    assert problem.where.endswith("python_tag.yaml:7")
    assert "!!python/object/apply:os.system" in problem.message
    assert "not allowed" in problem.message
    assert problem.hint is not None and "run code" in problem.hint


@pytest.mark.parametrize(
    "tag", ["!!python/object/apply:os.mkdir", "!!python/object:os.mkdir", "!!python/name:os.system"]
)
def test_no_tag_can_run_code(tmp_path: Path, tag: str) -> None:
    target = tmp_path / "made"
    text = f"model: {{name: x, title: X}}\nnodes:\n  a: {tag} [{str(target)!r}]\n"
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    (problem,) = info.value.problems
    assert problem.where == "<string>:3" and "is not allowed" in problem.message
    assert not target.exists()


def test_yaml_syntax_error_has_a_line() -> None:
    with pytest.raises(SpecError) as info:
        load_spec(SPECS / "bad_syntax.yaml")
    (problem,) = info.value.problems
    assert re.search(r"bad_syntax\.yaml:\d+$", problem.where)
    assert problem.message.startswith("invalid YAML")


def test_file_level_mistakes(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"not_a_mapping\.yaml: 1 problem") as info:
        load_spec(SPECS / "not_a_mapping.yaml")
    assert "expected a mapping" in info.value.problems[0].message
    with pytest.raises(SpecError, match="the file is empty"):
        parse_spec("# nothing\n")
    with pytest.raises(SpecError, match="no such model file"):
        load_spec(tmp_path / "missing.yaml")
    with pytest.raises(SpecError) as info:
        parse_spec("model: {name: x, title: X}\n")
    assert [p.message for p in info.value.problems] == ["missing required key 'nodes'"]


# --- language extensions: several quotes per claim, headline scenarios ------------------------

SEVERAL = BASE.replace(
    'C2: {quote: "two", paragraph: [2, 3]}', 'C2: {quote: ["two", "three"], paragraph: [2, 3]}'
).replace('  title: "Base model"\n', '  title: "Base model"\n  scenarios: [d, b]\n')


def test_a_claim_may_quote_several_passages_and_a_model_name_scenarios() -> None:
    spec = parse_spec(SEVERAL)
    assert spec.claims["C2"].quotes == ("two", "three")
    assert spec.claims["C1"].quotes == ("one",) and spec.claims["C1"].quote == "one"
    assert spec.scenarios == ("d", "b")
    assert parse_spec(BASE).scenarios == ()
    assert ModelSpec.model_validate(spec.model_dump()) == spec


def test_every_passage_of_a_claim_is_checked_against_the_source() -> None:
    spec = parse_spec(SEVERAL)
    ok = "Body: one.\n\nSecond para with two.\n\nthree and four\n"
    assert check_claim_quotes(spec.name, spec.claims, ok) == []
    moved = "Body: one, three.\n\nSecond para with two.\n\nfour\n"
    found = [(p.where, p.message, p.hint) for p in check_claim_quotes("m", spec.claims, moved)]
    assert found == [
        (
            "m: claims.C2.quote[1]",
            "the quote is in paragraph 1, not 2, 3",
            "add 1 to paragraph: [2, 3]",
        )
    ]
    missing = "Body: one.\n\nSecond para with two.\n\nfour\n"
    (problem,) = check_claim_quotes("m", spec.claims, missing)
    assert problem.where == "m: claims.C2.quote[1]"
    assert "not in the source verbatim" in problem.message
    skipped = check_claim_quotes("m", spec.claims, ok, first_paragraph="Nothing")
    assert [p.message for p in skipped] == ["no paragraph of the source starts with 'Nothing'"]


@pytest.mark.parametrize(
    "source",
    [
        "Headline\n\nBody starts: one.\n\nSecond para with two\nwrapped.\n\nthree\n",
        "nothing here",
        "one\n\nxx\n\ntwo",
    ],
)
def test_single_quotes_are_checked_as_check_quotes_does(source: str) -> None:
    spec = parse_spec(BASE)
    assert check_claim_quotes(spec.name, spec.claims, source) == check_quotes(spec, source)


def test_a_bad_scenario_is_listed_with_every_other_problem() -> None:
    text = SEVERAL.replace("scenarios: [d, b]", "scenarios: [dd, b]").replace(
        "strength: moderate", "strenght: moderate"
    )
    problems = _problems(text)
    assert [p.message for p in problems] == [
        "scenario 'dd' is not a node of the model",
        "unknown key 'strenght'",
    ]
    assert problems[0].where == "<string>:4 model.scenarios[0]"
    assert problems[0].hint == "did you mean 'd'?"


# --- validator slips (issue 13): each message below used to be wrong -------------------------


def _example_with(old: str, new: str, line: int) -> str:
    lines = EXAMPLE.read_text(encoding="utf-8").split("\n")
    assert old in lines[line - 1], lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    return "\n".join(lines)


def test_a_parent_typo_never_suggests_renaming_the_correct_name_to_the_typo():
    """One typo in `parents:` used to make every effect, link and row naming the right parent
    say "did you mean 'conflikt'?"; now the typo is reported once, on its line, and the others
    point there."""
    problems = _problems(_example_with("conflict, pro_isis_strength",
                                       "conflikt, pro_isis_strength", 167))
    assert problems[0].line == 167 and "unknown parent 'conflikt'" in problems[0].message
    assert problems[0].hint == "did you mean 'conflict'?"
    for problem in problems[1:]:
        assert "'conflict' is not a parent" in problem.message
        assert problem.hint is not None and "did you mean" not in problem.hint
        assert "lists 'conflikt', which is not a node" in problem.hint
    table = _problems(_example_with("[reconciliation]", "[reconcilation]", 90))
    assert not any("when does not name" in p.message for p in table)  # was one per row
    assert not any("reconcilation: ...}" in (p.hint or "") for p in table)


def test_lowers_with_an_odds_ratio_above_one_is_refused():
    """It was read silently as "lowers by that factor"; an odds ratio above 1 raises."""
    problems = _problems(_example_with("strength: strong", "odds_ratio: [2, 5]", 191))
    assert len(problems) == 1 and problems[0].line == 191
    assert "is above 1 but direction is 'lowers'" in problems[0].message
    assert "[0.2, 0.5]" in (problems[0].hint or "")


@pytest.mark.parametrize(("old", "new", "line", "says"), [
    ("    parents: [reconciliation]", "      parents: [reconciliation]", 90,
     "indented 6 spaces, which matches none of the keys above it"),
    ("  name: afghan_caliphate", '  name: "afghan_caliphate', 22,
     "the quote opened on line 22 is not closed on that line"),
    ("    parents: [reconciliation]", "    parents: [reconciliation", 90,
     "the [...] opened on line 90 is not closed"),
])
def test_bad_yaml_gets_plain_words_not_pyyamls(old, new, line, says):
    """PyYAML's "while parsing a block mapping did not find expected key" and the like are
    told in the writer's terms, with the fix."""
    text = EXAMPLE.read_text(encoding="utf-8")
    assert old in text
    (problem,) = _problems(text.replace(old, new, 1))
    assert says in problem.message and "while parsing" not in problem.message
    assert problem.hint and problem.line is not None and problem.line >= line


def test_a_network_file_given_as_a_model_says_what_it_is(tmp_path):
    """A .bif.gz used to give "'utf-8' codec can't decode byte 0x8b"."""
    import gzip

    bif = "network n {}\nvariable a { type discrete [ 2 ] { x, y }; }\n"
    (tmp_path / "n.bif").write_text(bif)
    (tmp_path / "n.bif.gz").write_bytes(gzip.compress(bif.encode()))
    for name, says in (("n.bif.gz", "gzip-compressed (a .bif.gz network?)"),
                       ("n.bif", "a BIF network, not a model YAML")):
        with pytest.raises(SpecError, match=re.escape(says)) as caught:
            load_spec(tmp_path / name)
        assert "utf-8" not in str(caught.value) and "forecast query" in str(caught.value)


# --- sources are part of the model (issue 13 item 2) ------------------------------------------


def test_validate_checks_every_quote_against_the_declared_source(tmp_path):
    """The flagship's source is declared and every quote is found; a changed quote is exit 2
    naming the claim's line and the nearest passage with how alike it is."""
    from click.testing import CliRunner

    from forecast.cli import main
    from forecast.model.load import check_source_quotes

    article = seed_article()
    flagship = ROOT / "models" / "isis_pakistan_2015.yaml"
    checked = check_source_quotes(flagship)
    assert checked.problems == [] and checked.source is not None and checked.note is None
    text = EXAMPLE.read_text(encoding="utf-8")
    declared = text.replace("    author:", '    file: "article.txt"\n    first_paragraph: '
                                          '"Karachi:"\n    author:', 1)
    assert declared != text
    (tmp_path / "article.txt").write_text(article, encoding="utf-8")
    good = tmp_path / "good.yaml"
    good.write_text(declared, encoding="utf-8")
    runner = CliRunner()
    ok = runner.invoke(main, ["validate", str(good)])
    assert ok.exit_code == 0 and "every claim's quote is in" in ok.output, ok.output
    changed = declared.replace("minimal likelihood of the ISIS itself",
                               "minimal chance of the ISIS itself", 1)
    bad = tmp_path / "bad.yaml"
    bad.write_text(changed, encoding="utf-8")
    result = runner.invoke(main, ["validate", str(bad)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    line = 1 + changed[:changed.index("minimal chance")].count("\n")
    assert f"{bad}:{line} claims.C4: the quote is not in the source verbatim" in result.output
    assert re.search(r"the nearest passage \(9\d% alike\) is in paragraph 4: \"there is "
                     r"minimal likelihood of the ISIS itself", result.output), result.output
    (tmp_path / "article.txt").unlink()
    missing = runner.invoke(main, ["validate", str(good)])
    assert missing.exit_code == 0 and "is not beside the model" in missing.output
    plain = runner.invoke(main, ["validate", str(EXAMPLE)])
    assert plain.exit_code == 0 and "declares no source file" in plain.output
