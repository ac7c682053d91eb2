"""Checks of the model language that need the whole model.

The schema (:mod:`forecast.model.schema`) checks each element's shape; this module checks how
elements fit together: parents exist and form a DAG, state names agree everywhere, tables cover
every parent configuration once, logit and noisy-OR nodes are binary and justify every edge,
claims exist and are used. It returns every issue found as ``(key path, message, hint)``;
:mod:`forecast.model.load` turns them into located :class:`~forecast.errors.Problem` objects.

The checks tolerate a partly invalid file: they run on the nodes that passed the schema, and
take the names (and raw parents and citations) of the others, so that one run lists as many
problems as possible without reporting consequences of problems already listed.
"""

from __future__ import annotations

import graphlib
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticUndefined

from forecast.errors import Problem, did_you_mean
from forecast.model.forms import (
    Issue,
    Path,
    check_logit,
    check_noisy_or,
    check_table,
    states_text,
)
from forecast.model.schema import (
    Broken,
    Claim,
    Cpt,
    Effect,
    Link,
    Logit,
    Node,
    NoisyOr,
    ProbabilityField,
    Row,
    Table,
)

__all__ = [
    "Issue",
    "check_claim_quotes",
    "check_model",
    "partial_node",
    "persistent_nodes",
    "raw_citations",
]


def check_model(
    nodes: Mapping[str, Node],
    claims: Collection[str] | None,
    *,
    all_nodes: Collection[str],
    raw_edges: Iterable[tuple[str, str]] = (),
    raw_citations: Collection[str] = (),
    default_memoryless: bool = False,
) -> list[Issue]:
    """Check the nodes and claims of a model against each other.

    Parameters
    ----------
    nodes : mapping of str to Node
        The nodes that passed the schema.
    claims : collection of str, or None
        Ids of the claims in the file, in file order; None if the ``claims`` section itself is
        not a mapping (then citations are not checked).
    all_nodes : collection of str
        Names of every node in the file, valid or not.
    raw_edges : iterable of (parent, child)
        Edges of nodes that failed the schema (for the cycle check).
    raw_citations : collection of str
        Claim ids cited by nodes that failed the schema (so those claims count as used).
    default_memoryless : bool
        Whether conditions without their own ``persistence`` keep no memory (the model's
        ``time.persistence`` is ``none``).

    Returns
    -------
    list of Issue
    """
    issues: list[Issue] = []

    def states_of(name: str) -> tuple[str, ...] | None:
        node = nodes.get(name)
        return tuple(node.states) if node is not None else None

    cited: set[str] = set(raw_citations)
    for name, node in nodes.items():
        path = ("nodes", name)
        issues += _node_basics(name, node, all_nodes, path)
        body = node.cpt.body if node.cpt is not None else None
        if isinstance(body, Table):
            issues += check_table(name, node, body, states_of, (*path, "cpt", "table"))
        elif isinstance(body, Logit):
            issues += check_logit(name, node, body, states_of, (*path, "cpt", "logit"))
        elif isinstance(body, NoisyOr):
            issues += check_noisy_or(name, node, body, states_of, (*path, "cpt", "noisy_or"))
        citing = [((*path, "cpt", *sub), element) for sub, element in node.elements()]
        if node.persistence is not None:
            citing.append(((*path, "persistence"), node.persistence))
        if node.counts is not None:
            issues += _count_issues(node, (*path, "counts"))
            citing.append(((*path, "counts"), node.counts))
        for where, element in citing:
            for j, cid in enumerate(element.claims):
                cited.add(cid)
                if claims is not None and cid not in claims:
                    issues.append(((*where, "claims", j), f"claim '{cid}' does not exist",
                                   did_you_mean(cid, claims) or "add it under claims:"))
    issues += _time_issues(nodes, default_memoryless)
    if claims is not None:
        for cid in claims:
            if cid not in cited:
                issues.append(
                    (
                        ("claims", cid),
                        f"claim '{cid}' is not cited anywhere",
                        "cite it from the table, effect or link it supports, or delete it",
                    )
                )
    issues += _cycles(nodes, raw_edges)
    return issues


def _count_issues(node: Node, path: tuple[str, ...]) -> list[Issue]:
    """A count model gives a rate range for every state of its node, and says where from."""
    counts = node.counts
    assert counts is not None
    issues: list[Issue] = []
    states = list(node.states)
    for state in counts.rates:
        if state not in states:
            issues.append(((*path, "rates", state), f"'{state}' is not a state of the node",
                           did_you_mean(state, states) or f"its states are {', '.join(states)}"))
    missing = [s for s in states if s not in counts.rates]
    if missing:
        issues.append(((*path, "rates"), f"no rate for {', '.join(missing)}",
                       "give every state its range of expected counts per step, e.g. "
                       f"{missing[0]}: [0.5, 4]"))
    if not counts.justified:
        issues.append((path, "the count rates cite no claim and state no assumption",
                       "add claims: [...] or assumption: '...' saying where the ranges come "
                       "from"))
    return issues


def persistent_nodes(nodes: Mapping[str, Node], default_memoryless: bool = False) -> set[str]:
    """The conditions that carry their state from one step to the next.

    A condition persists when its own ``persistence`` (or the model's default) is not ``none``
    and every parent persists too, so that the persistent nodes of one step separate the past
    from the future (the frontier of :mod:`forecast.network.dynamic`). A condition that only
    has the default and is caused by an event, or by a condition without memory, has no memory
    either; one whose own ``persistence`` says otherwise is an error (:func:`check_model`).
    """
    keep = {
        name for name, node in nodes.items()
        if node.definition is not None and node.definition.kind == "condition" and not (
            node.persistence.memoryless if node.persistence is not None else default_memoryless)
    }
    changed = True
    while changed:
        changed = False
        for name in list(keep):
            if any(p not in keep for p in nodes[name].parents or ()):
                keep.discard(name)
                changed = True
    return keep


def _time_issues(nodes: Mapping[str, Node], default_memoryless: bool) -> list[Issue]:
    """Persistence only on conditions, whose causes persist too; non-occurrence only on events."""
    issues: list[Issue] = []
    persistent = persistent_nodes(nodes, default_memoryless)
    for name, node in nodes.items():
        if node.definition is None:  # a partly valid node: its definition is reported already
            continue
        path = ("nodes", name)
        kind = node.definition.kind
        if kind == "event" and node.persistence is not None:
            issues.append(((*path, "persistence"), "an event happens within a time step and has "
                           "no persistence", "remove persistence:, or make the node a condition"))
        if kind == "condition":
            d = node.definition
            if d.complete_from is not None:
                issues.append(((*path, "definition", "complete_from"), "only an event's record "
                               "can show non-occurrence", "remove complete_from: from a condition"))
            if d.nonoccurrence is not True:
                issues.append(((*path, "definition", "nonoccurrence"), "only events have "
                               "non-occurrence", "remove nonoccurrence: from a condition"))
        wants = (kind == "condition" and node.persistence is not None
                 and not node.persistence.memoryless)
        if not wants or name in persistent:
            continue
        for j, parent in enumerate(node.parents):
            other = nodes.get(parent)
            if other is None or parent in persistent:
                continue
            what = ("an event" if other.definition.kind == "event"
                    else "a condition without memory")
            issues.append((
                (*path, "parents", j),
                f"'{name}' persists from step to step, so its causes must too, but '{parent}' is "
                f"{what}",
                f"give '{name}' persistence: none, or make '{parent}' a condition that persists"))
    return issues


def _node_basics(name: str, node: Node, all_nodes: Collection[str], path: Path) -> list[Issue]:
    issues: list[Issue] = []
    states = node.states
    if len(states) < 2:
        issues.append(
            (
                (*path, "states"),
                f"'{name}' has {len(states)} state(s); a node needs at least two",
                'e.g. states: ["no", "yes"]',
            )
        )
    repeated = sorted({s for s in states if states.count(s) > 1})
    if repeated:
        issues.append(((*path, "states"), f"repeated state name(s): {states_text(repeated)}", None))
    seen: set[str] = set()
    for i, parent in enumerate(node.parents):
        where = (*path, "parents", i)
        if parent == name:
            issues.append(
                (where, f"'{name}' lists itself as a parent", "a Bayesian network must be acyclic")
            )
        elif parent not in all_nodes:
            issues.append(
                (
                    where,
                    f"unknown parent '{parent}'",
                    did_you_mean(parent, [n for n in all_nodes if n != name]),
                )
            )
        if parent in seen:
            issues.append((where, f"parent '{parent}' is listed twice", None))
        seen.add(parent)
    definition = node.definition
    if definition is None:  # failed the schema: already reported
        return issues
    dpath = (*path, "definition")
    missing = [s for s in states if s not in definition.states]
    if missing:
        issues.append(
            (
                (*dpath, "states"),
                f"the definition does not define state(s) {states_text(missing)}",
                f"define every state of '{name}': {states_text(states)}",
            )
        )
    for s in definition.states:
        if s not in states:
            issues.append(
                (
                    (*dpath, "states", s),
                    f"'{s}' is not a state of '{name}' (states: {states_text(states)})",
                    did_you_mean(s, states),
                )
            )
    if definition.kind == "event" and definition.window is None:
        issues.append(
            (
                dpath,
                "an event needs a window: how long it has to happen",
                "add e.g. window: {months: 24} or window: {days: 90}",
            )
        )
    if definition.kind == "condition" and definition.window is not None:
        issues.append(
            (
                (*dpath, "window"),
                "a condition holds at the as-of date and takes no window",
                "remove the window, or use kind: event",
            )
        )
    return issues


def _cycles(nodes: Mapping[str, Node], raw_edges: Iterable[tuple[str, str]]) -> list[Issue]:
    edges = [(p, n) for n, node in nodes.items() for p in node.parents if p != n]
    edges += [(p, n) for p, n in raw_edges if p != n]
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for p, n in edges:
        sorter.add(n, p)
    try:
        sorter.prepare()
    except graphlib.CycleError:
        pass
    else:
        return []  # acyclic, as almost every model is: no need for networkx
    import networkx as nx  # to name every cycle

    g: nx.DiGraph[str] = nx.DiGraph()
    g.add_edges_from(edges)
    issues: list[Issue] = []
    position = {n: i for i, n in enumerate(nodes)}
    for component in nx.strongly_connected_components(g):
        if len(component) < 2:
            continue
        start = min(component, key=lambda n: position.get(n, len(position)))
        cycle = nx.find_cycle(g.subgraph(component), source=start)
        text = " -> ".join([u for u, _ in cycle] + [cycle[0][0]])
        issues.append(
            (
                ("nodes", start, "parents"),
                f"the graph has a cycle: {text}",
                "a Bayesian network must be acyclic; remove one of these edges",
            )
        )
    return issues


# --------------------------------------------------------------------------------------------
# partial nodes: what survives of a node that failed the schema
# --------------------------------------------------------------------------------------------


def _valid(model: type[BaseModel], raw: Any) -> Any:
    """`raw` validated as `model`, or a Broken placeholder."""
    try:
        return model.model_validate(raw)
    except ValidationError:
        return Broken(raw)


@cache
def _field_adapter(model: type[BaseModel], field: str) -> TypeAdapter[Any]:
    info = model.model_fields[field]
    tp = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return TypeAdapter(tp)


def _field(model: type[BaseModel], field: str, raw: Mapping[str, Any]) -> Any:
    """One field of `model` validated from `raw`: its default if absent, None if invalid."""
    if field not in raw:
        default = model.model_fields[field].get_default(call_default_factory=True)
        return None if default is PydanticUndefined else default
    try:
        return _field_adapter(model, field).validate_python(raw[field])
    except ValidationError:
        return None


def partial_node(raw: Any) -> Node | None:
    """As much of a node that failed the schema as passes it, to keep checking the rest.

    Invalid list items become :class:`Broken`; invalid fields become None. Returns None if the
    node's states are unusable.
    """
    if not isinstance(raw, Mapping):
        return None
    fields = {
        f: _field(Node, f, raw) for f in ("label", "description", "states", "parents", "definition")
    }
    if not fields["states"]:
        return None
    cpt = _partial_cpt(raw.get("cpt")) if fields["parents"] is not None else None
    if fields["parents"] is None:
        fields["parents"] = []
    return Node.model_construct(**fields, cpt=cpt)


def _partial_cpt(raw: Any) -> Cpt | None:
    if not isinstance(raw, Mapping):
        return None
    forms = [f for f in ("table", "logit", "noisy_or") if f in raw]
    if len(forms) != 1 or not isinstance(raw[forms[0]], Mapping):
        return None
    form, body = forms[0], raw[forms[0]]
    items = body.get({"table": "rows", "logit": "effects", "noisy_or": "links"}[form])
    items = items if isinstance(items, list) else []
    if form == "table":
        value: Any = Table.model_construct(
            claims=_field(Table, "claims", body) or [],
            assumption=_field(Table, "assumption", body),
            rows=[_valid(Row, r) for r in items],
        )
    elif form == "logit":
        baseline = _valid(ProbabilityField, body["baseline"]) if "baseline" in body else None
        value = Logit.model_construct(
            outcome=_field(Logit, "outcome", body),
            baseline=None if isinstance(baseline, Broken) else baseline,
            effects=[_valid(Effect, e) for e in items],
        )
    else:
        leak = _valid(ProbabilityField, body["leak"]) if "leak" in body else None
        value = NoisyOr.model_construct(
            outcome=_field(NoisyOr, "outcome", body),
            leak=None if isinstance(leak, Broken) else leak,
            links=[_valid(Link, x) for x in items],
        )
    return Cpt.model_construct(**{form: value})


def raw_citations(raw: Any) -> set[str]:
    """Claim ids under any ``claims`` key of raw (unvalidated) data."""
    found: set[str] = set()
    if isinstance(raw, Mapping):
        for key, value in raw.items():
            if key == "claims":
                items = [value] if isinstance(value, str) else value
                if isinstance(items, list):
                    found |= {c for c in items if isinstance(c, str)}
            else:
                found |= raw_citations(value)
    elif isinstance(raw, list):
        for item in raw:
            found |= raw_citations(item)
    return found


# --------------------------------------------------------------------------------------------
# quotes against the source
# --------------------------------------------------------------------------------------------


def _squash(text: str) -> str:
    return " ".join(text.split())


def check_claim_quotes(
    name: str,
    claims: Mapping[str, Claim],
    source_text: str,
    *,
    first_paragraph: str | None = None,
) -> list[Problem]:
    """Check that every quoted passage of every claim is verbatim in one of its paragraphs.

    The same rules as :func:`forecast.model.load.check_quotes`, for claims with one quote or a list
    of quotes (each passage must appear, whitespace-insensitively, in one of the claim's
    paragraphs; paragraphs are separated by blank lines).

    Parameters
    ----------
    name : str
        The model's name, used in the problems' locations.
    claims : mapping of str to Claim
        The claims, by id.
    source_text : str
        The source document as plain text.
    first_paragraph : str, optional
        The beginning of the paragraph counted as 1; by default the text's first paragraph.

    Returns
    -------
    list of Problem
        One per passage not found in its paragraph(s), located at ``claims.<id>`` (a single
        quote) or ``claims.<id>.quote[i]`` (a list), saying where it was found if elsewhere.
    """
    paragraphs = [_squash(p) for p in re.split(r"\n\s*\n", source_text) if p.strip()]
    if first_paragraph is not None:
        start = next((i for i, p in enumerate(paragraphs) if p.startswith(first_paragraph)), None)
        if start is None:
            return [Problem(f"no paragraph of the source starts with {first_paragraph!r}",
                            file=name)]
        paragraphs = paragraphs[start:]
    problems = []
    for cid, claim in claims.items():
        several = not isinstance(claim.quote, str)
        for i, passage in enumerate(claim.quotes):
            quote = _squash(passage)
            inside = [paragraphs[n - 1] for n in claim.paragraph if 0 < n <= len(paragraphs)]
            if any(quote in p for p in inside):
                continue
            found = [k + 1 for k, p in enumerate(paragraphs) if quote in p]
            field = f"claims.{cid}" + (f".quote[{i}]" if several else "")
            listed = ", ".join(map(str, claim.paragraph))
            if found:
                hint = (
                    f"add {found[0]} to paragraph: [{listed}]"
                    if several
                    else f"set paragraph: {found[0]}"
                )
                problems.append(
                    Problem(f"the quote is in paragraph {found[0]}, not {listed}", hint=hint,
                            file=name, field=field)
                )
            else:
                near = nearest_passage(quote, paragraphs)
                where = ("" if near is None else
                         f"; the nearest passage ({near[1]:.0%} alike) is in paragraph "
                         f"{near[0]}: \"{near[2]}\"")
                problems.append(
                    Problem(
                        "the quote is not in the source verbatim" + where,
                        hint="copy it exactly, including quotation marks and dashes",
                        file=name,
                        field=field,
                    )
                )
    return problems


def nearest_passage(quote: str, paragraphs: Sequence[str]) -> tuple[int, float, str] | None:
    """The passage of the source most like `quote`: (paragraph number, similarity, passage).

    Every run of as many words as the quote, in every paragraph, is compared with it by
    :class:`difflib.SequenceMatcher` (its cheap upper bounds first); the similarity is its
    ratio, 1 for identical text. None when the source has no words.
    """
    import difflib

    words = quote.split()
    size = max(1, len(words))
    best: tuple[float, int, str] | None = None
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(quote)
    for number, paragraph in enumerate(paragraphs, start=1):
        tokens = paragraph.split()
        for start in range(max(1, len(tokens) - size + 1)):
            window = " ".join(tokens[start:start + size])
            matcher.set_seq1(window)
            if best is not None and matcher.real_quick_ratio() <= best[0]:
                continue
            if best is not None and matcher.quick_ratio() <= best[0]:
                continue
            ratio = matcher.ratio()
            if best is None or ratio > best[0]:
                best = (ratio, number, window)
    return None if best is None else (best[1], best[0], best[2])
