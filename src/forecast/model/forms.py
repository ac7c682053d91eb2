"""Checks of the three CPT forms (table, logit, noisy-OR) against their node and parents.

Part of the whole-model checks of :mod:`forecast.model.checks`: each function returns issues as
``(key path, message, hint)`` and tolerates :class:`~forecast.model.schema.Broken` elements
(parts that failed the schema, whose problems are already listed).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from forecast.errors import did_you_mean
from forecast.model.priors import (
    PriorError,
    check_ordering,
    check_state_words,
    ordering,
    state_band,
)
from forecast.model.schema import Broken, Logit, Node, NoisyOr, Table, cpt_entries

__all__ = [
    "ROW_SUM_TOL",
    "Issue",
    "check_logit",
    "check_noisy_or",
    "check_table",
    "default_active_states",
    "states_text",
]

Path = tuple[Any, ...]
Issue = tuple[Path, str, str | None]
StatesOf = Callable[[str], tuple[str, ...] | None]
"""Looks up a node's states (None if the node is unknown or failed the schema)."""
"""A problem as ``(key path, message, hint)``."""

ROW_SUM_TOL = 1e-9
"""How far fixed probabilities of a row may sum from 1."""

_SUGGESTIONS_PER_NODE = 5
"""Mistakes in one node's CPT that get a "did you mean": each suggestion costs time in
proportion to the names it is chosen from, so a file of thousands of misspellings would
otherwise take minutes to check."""

_UNKNOWN_KEYS_LISTED = 10
"""Keys of one row that are not states listed one by one; the rest are counted."""


class _Suggest:
    """:func:`~forecast.errors.did_you_mean` for the first few mistakes of one node only."""

    def __init__(self) -> None:
        self.left = _SUGGESTIONS_PER_NODE

    def __call__(self, word: str, choices: Iterable[str]) -> str | None:
        if self.left <= 0:
            return None
        self.left -= 1
        return did_you_mean(word, choices)


_JUSTIFY = 'add claims: [...] or assumption: "one-line reason"'


def states_text(states: Sequence[str]) -> str:
    """State names as ``"a, b, c"``."""
    return ", ".join(states)


def _config_text(parents: Sequence[str], config: Sequence[str]) -> str:
    return ", ".join(f"{p}={s}" for p, s in zip(parents, config, strict=True))


def default_active_states(parent_states: Sequence[str]) -> str | None:
    """The state an effect or link refers to when none is given: a binary parent's second."""
    return parent_states[1] if len(parent_states) == 2 else None


def _check_states(
    where: Path, given: Iterable[str], states: Sequence[str], node: str, what: str,
    suggest: _Suggest,
) -> list[Issue]:
    """Keys of a row's probabilities or counts must be exactly the node's states."""
    given = dict.fromkeys(given)
    issues: list[Issue] = []
    unknown = [s for s in given if s not in states]
    for s in unknown[:_UNKNOWN_KEYS_LISTED]:
        issues.append(
            (
                (*where, s),
                f"'{s}' is not a state of '{node}' (states: {states_text(states)})",
                suggest(s, states),
            )
        )
    if len(unknown) > _UNKNOWN_KEYS_LISTED:
        issues.append((where, f"and {len(unknown) - _UNKNOWN_KEYS_LISTED:,} more keys that are "
                       f"not states of '{node}'", f"give one value per state of '{node}'"))
    missing = [s for s in states if s not in given]
    if missing:
        issues.append(
            (
                where,
                f"{what} miss(es) state(s) {states_text(missing)}",
                f"give a value for every state of '{node}'",
            )
        )
    return issues


def check_table(
    name: str, node: Node, table: Table, states_of: StatesOf, path: Path
) -> list[Issue]:
    """Check a table.

    ``when`` must name every parent with valid states, each parent configuration must have
    exactly one row, and row values must fit the node's states.

    Parameters
    ----------
    name : str
        The node.
    node : Node
        The node (possibly partial).
    table : Table
        Its CPT form.
    states_of : callable
        Looks up another node's states.
    path : tuple
        Key path of the form in the file.

    Returns
    -------
    list of Issue
    """
    issues: list[Issue] = []
    parents = list(node.parents)
    own = list(node.states)
    parent_states = {p: states_of(p) for p in parents}
    suggest = _Suggest()
    configs: dict[tuple[str, ...], list[int]] = {}
    complete = all(s is not None for s in parent_states.values())
    for i, row in enumerate(table.rows):
        rp = (*path, "rows", i)
        if isinstance(row, Broken):
            complete = False
            continue
        if not parents and row.when:
            issues.append(
                ((*rp, "when"), f"'{name}' has no parents, so its row takes no when", "remove when")
            )
        elif parents:
            row_ok = _check_when(name, row.when, parents, parent_states, rp, issues, suggest)
            complete = complete and row_ok
            if row_ok:
                configs.setdefault(tuple(row.when[p] for p in parents), []).append(i)
        issues += _row_value(name, row, own, rp, suggest)
    if not table.justified and not all(getattr(r, "justified", True) for r in table.rows):
        issues.append(
            (
                path,
                "the table cites no claim and states no assumption",
                _JUSTIFY + " on the table or on every row",
            )
        )
    if not parents:
        if len(table.rows) != 1:
            issues.append(
                (
                    (*path, "rows"),
                    f"'{name}' has no parents, so its table has exactly "
                    f"one row, not {len(table.rows)}",
                    None,
                )
            )
        return issues
    for config, rows in configs.items():
        if len(rows) > 1:
            issues.append(
                (
                    (*path, "rows", rows[1]),
                    f"duplicate row for "
                    f"{_config_text(parents, config)} (rows {', '.join(map(str, rows))})",
                    "give each parent configuration once",
                )
            )
    if not complete:  # a row with a broken `when` may be meant for a "missing" configuration
        return issues
    # complete: every parent's states are known, and each key of `configs` is one of the
    # product's configurations, so the count needs no enumeration (a node with too many
    # parents is refused before these checks, by the CPT size limit of the loader)
    known = [s for s in (parent_states[p] for p in parents) if s is not None]
    n_missing = cpt_entries(1, map(len, known)) - len(configs)
    if n_missing > 0:
        every = itertools.product(*known)
        first = list(itertools.islice((c for c in every if c not in configs), 8))
        shown = "; ".join(_config_text(parents, c) for c in first)
        more = f"; and {n_missing - 8} more" if n_missing > 8 else ""
        issues.append(
            (
                (*path, "rows"),
                f"{n_missing} parent configuration(s) have no row: {shown}{more}",
                "a table needs one row per parent configuration",
            )
        )
    return issues


def _check_when(
    name: str,
    when: Mapping[str, str],
    parents: list[str],
    parent_states: Mapping[str, tuple[str, ...] | None],
    rp: Path,
    issues: list[Issue],
    suggest: _Suggest,
) -> bool:
    ok = True
    if not when:
        issues.append(
            (
                rp,
                "the row does not say which parent configuration it is for",
                "add when: {" + ", ".join(f"{p}: ..." for p in parents) + "}",
            )
        )
        return False
    for p, s in when.items():
        if p not in parents:
            ok = False
            issues.append(
                (
                    (*rp, "when", p),
                    f"'{p}' is not a parent of '{name}'",
                    _not_a_parent_hint(p, parents, lambda q: parent_states[q] is not None,
                                       suggest, f"parents: {', '.join(parents)}"),
                )
            )
            continue
        ps = parent_states[p]
        if ps is not None and s not in ps:
            ok = False
            issues.append(
                (
                    (*rp, "when", p),
                    f"'{s}' is not a state of '{p}' (states: {states_text(ps)})",
                    suggest(s, ps),
                )
            )
    # a listed parent that is no node is reported once, on parents:, not on every row
    missing = [p for p in parents if p not in when and parent_states[p] is not None]
    if missing:
        ok = False
        issues.append(
            (
                (*rp, "when"),
                f"when does not name parent(s) {', '.join(missing)}",
                "name every parent, e.g. when: {" + ", ".join(f"{p}: ..." for p in parents) + "}",
            )
        )
    return ok


def _row_value(name: str, row: Any, own: list[str], rp: Path, suggest: _Suggest) -> list[Issue]:
    issues: list[Issue] = []
    if row.prior is not None:
        issues += _worded_row(name, row.prior, own, (*rp, "prior"), suggest)
    elif row.probabilities is not None:
        where = (*rp, "probabilities")
        issues += _check_states(where, row.probabilities, own, name, "probabilities", suggest)
        bad = {s: v for s, v in row.probabilities.items() if not 0 <= v <= 1}
        for s, v in bad.items():
            what = "is not a finite number" if not math.isfinite(v) else "is outside [0, 1]"
            issues.append(((*where, s), f"probability {v} {what}",
                           "give a number from 0 to 1; the row's numbers add up to 1"))
        total = sum(row.probabilities.values())
        if not bad and abs(total - 1) > ROW_SUM_TOL:
            issues.append(
                (
                    where,
                    f"probabilities sum to {total:.12g}, not 1",
                    "fixed probabilities must add up to 1; use counts for proportions",
                )
            )
    else:
        issues += _check_states((*rp, "counts"), row.counts, own, name, "counts", suggest)
    return issues


def _worded_row(
    name: str, prior: Mapping[str, Any] | str, own: list[str], where: Path, suggest: _Suggest
) -> list[Issue]:
    """A row's ``prior`` against the node's states: an ordering of them all, or their words.

    Keys that are not states and words that cannot sit in a row over several states are
    reported at their own key; then how many states have words, and whether the words' bands
    can hold at once (:func:`~forecast.model.priors.check_state_words`), as one problem.
    """
    try:
        if isinstance(prior, str):
            check_ordering(ordering(prior), own, name)
            return []
    except PriorError as err:
        return [(where, err.message, err.hint)]
    issues: list[Issue] = []
    for s, value in prior.items():
        if s not in own:
            issues.append(((*where, s), f"'{s}' is not a state of '{name}' "
                           f"(states: {states_text(own)})", suggest(s, own)))
        elif len(own) > 2:
            try:
                state_band(value)
            except PriorError as err:
                issues.append(((*where, s), err.message, err.hint))
    if issues:
        return issues
    try:
        check_state_words(prior, own, name)
    except PriorError as err:
        issues.append((where, err.message, err.hint))
    return issues


def _binary_form(name: str, node: Node, form: str, outcome: str | None, path: Path) -> list[Issue]:
    issues: list[Issue] = []
    if len(node.states) != 2:
        issues.append(
            (
                path,
                f"{form} needs a binary node; '{name}' has {len(node.states)} states",
                "use table for a node with more than two states",
            )
        )
    if outcome is not None and outcome not in node.states:
        issues.append(
            (
                (*path, "outcome"),
                f"'{outcome}' is not a state of '{name}' (states: {states_text(node.states)})",
                did_you_mean(outcome, node.states),
            )
        )
    return issues


def _unjustified_parents(
    name: str, node: Node, used: set[str], what: str, states_of: StatesOf
) -> list[Issue]:
    return [
        (
            ("nodes", name, "parents", i),
            f"parent '{p}' has no {what}: nothing justifies the edge {p} -> {name}",
            f"add an {what} for '{p}', or remove it from parents",
        )
        for i, p in enumerate(node.parents)
        if p not in used and p != name and states_of(p) is not None
    ]


def check_logit(
    name: str, node: Node, logit: Logit, states_of: StatesOf, path: Path
) -> list[Issue]:
    """Check a logit CPT.

    It needs a binary node, a usable baseline, effects on real parents and non-reference
    states with consistent magnitudes and a justification, and an effect for every parent.

    Parameters
    ----------
    name : str
        The node.
    node : Node
        The node (possibly partial).
    logit : Logit
        Its CPT form.
    states_of : callable
        Looks up another node's states.
    path : tuple
        Key path of the form in the file.

    Returns
    -------
    list of Issue
    """
    issues = _binary_form(name, node, "logit", logit.outcome, path)
    base = logit.baseline.prior if logit.baseline is not None else None  # checked, not fitted
    if isinstance(base, int | float) and not isinstance(base, bool) and base in (0, 1):
        issues.append(
            (
                (*path, "baseline", "prior"),
                f"a fixed baseline of {float(base):g} has infinite log-odds",
                "use a probability strictly between 0 and 1",
            )
        )
    seen: dict[tuple[str, str], int] = {}
    used: set[str] = set()
    suggest = _Suggest()
    for i, effect in enumerate(logit.effects):
        ep = (*path, "effects", i)
        if isinstance(effect, Broken):
            used.add(str(effect.parent))
            continue
        try:
            effect.distribution()
        except PriorError as err:
            field = next(
                (
                    f
                    for f in ("log_odds", "odds_ratio", "strength")
                    if getattr(effect, f) is not None
                ),
                None,
            )
            where = ep if field is None or "exactly one" in err.message else (*ep, field)
            issues.append((where, err.message, err.hint))
        if not effect.justified:
            issues.append(
                (
                    ep,
                    f"the effect of '{effect.parent}' cites no claim and states no assumption",
                    _JUSTIFY,
                )
            )
        state = _target_state(
            name, effect.parent, effect.state, node, states_of, ep, issues, "effect", suggest
        )
        used.add(effect.parent)
        if state is None:
            continue
        ps = states_of(effect.parent)
        if ps is not None and state == ps[0]:
            issues.append(
                (
                    (*ep, "state"),
                    f"'{state}' is the reference (first) state of "
                    f"'{effect.parent}'; effects are shifts relative to it",
                    f"name another state ({states_text(ps[1:])}), or list a different state first",
                )
            )
        key = (effect.parent, state)
        if key in seen:
            issues.append(
                (
                    ep,
                    f"a second effect for {effect.parent}={state} "
                    f"(the first is effects[{seen[key]}])",
                    "merge them",
                )
            )
        seen.setdefault(key, i)
    return issues + _unjustified_parents(name, node, used, "effect", states_of)


def _not_a_parent_hint(
    name: str,
    parents: Sequence[str],
    is_node: Callable[[str], bool],
    suggest: _Suggest,
    otherwise: str,
) -> str:
    """The hint for a name that is not among a node's parents.

    The nearest *valid* parent is suggested; a listed parent that is no node (a typo in
    ``parents:``, reported on its own line) is never offered, and is named instead: the fix
    is then in ``parents:``, not here.
    """
    valid = [q for q in parents if is_node(q)]
    typos = [q for q in parents if not is_node(q)]
    hint = suggest(name, valid)
    if hint:
        return hint
    if typos:
        listed = ", ".join(f"'{q}'" for q in typos)
        return (f"parents: lists {listed}, which is not a node: if that is a typo for "
                f"'{name}', fix it there; otherwise {otherwise}")
    return otherwise


def _target_state(
    name: str,
    parent: str,
    state: str | None,
    node: Node,
    states_of: StatesOf,
    where: Path,
    issues: list[Issue],
    what: str,
    suggest: _Suggest,
) -> str | None:
    """Check an effect's or link's parent and state; return the state if it is valid."""
    if parent not in node.parents:
        issues.append(
            (
                (*where, "parent"),
                f"'{parent}' is not a parent of '{name}'",
                _not_a_parent_hint(parent, list(node.parents),
                                   lambda q: states_of(q) is not None, suggest,
                                   f"add '{parent}' to parents of '{name}', or remove this "
                                   f"{what}"),
            )
        )
        return None
    ps = states_of(parent)
    if ps is None:
        return None
    if state is None:
        default = default_active_states(ps)
        if default is None:
            issues.append(
                (
                    where,
                    f"parent '{parent}' has {len(ps)} states: say which one the {what} is for",
                    f"add state: one of {states_text(ps[1:])}",
                )
            )
        return default
    if state not in ps:
        issues.append(
            (
                (*where, "state"),
                f"'{state}' is not a state of '{parent}' (states: {states_text(ps)})",
                suggest(state, ps),
            )
        )
        return None
    return state


def check_noisy_or(
    name: str, node: Node, nor: NoisyOr, states_of: StatesOf, path: Path
) -> list[Issue]:
    """Check a noisy-OR CPT.

    It needs a binary node, links on real parents with valid, non-overlapping active states
    and a justification, and a link for every parent.

    Parameters
    ----------
    name : str
        The node.
    node : Node
        The node (possibly partial).
    nor : NoisyOr
        Its CPT form.
    states_of : callable
        Looks up another node's states.
    path : tuple
        Key path of the form in the file.

    Returns
    -------
    list of Issue
    """
    issues = _binary_form(name, node, "noisy_or", nor.outcome, path)
    active: dict[str, dict[str, int]] = {}
    suggest = _Suggest()
    for i, link in enumerate(nor.links):
        lp = (*path, "links", i)
        if isinstance(link, Broken):
            active.setdefault(str(link.parent), {})
            continue
        if not link.justified:
            issues.append(
                (
                    lp,
                    f"the link from '{link.parent}' cites no claim and states no assumption",
                    _JUSTIFY,
                )
            )
        if link.parent not in node.parents:
            _target_state(name, link.parent, None, node, states_of, lp, issues, "link", suggest)
            continue
        taken = active.setdefault(link.parent, {})
        ps = states_of(link.parent)
        if ps is None:
            continue
        if link.state is None:
            default = _target_state(name, link.parent, None, node, states_of, lp, issues, "link",
                                    suggest)
            states = [default] if default is not None else []
        else:
            states = []
            for j, s in enumerate(link.state):
                if s in ps:
                    states.append(s)
                else:
                    issues.append(
                        (
                            (*lp, "state", j),
                            f"'{s}' is not a state of '{link.parent}' (states: {states_text(ps)})",
                            suggest(s, ps),
                        )
                    )
        for s in states:
            if s in taken:
                issues.append(
                    (
                        lp,
                        f"{link.parent}={s} is active in two links "
                        f"(links[{taken[s]}] and links[{i}])",
                        "each parent state may belong to one link only",
                    )
                )
            taken.setdefault(s, i)
        if states and set(states) >= set(ps):
            issues.append(
                (
                    (*lp, "state"),
                    f"the link is active in every state of '{link.parent}', so it always fires",
                    "fold it into the leak, or leave out the parent's inactive state",
                )
            )
    return issues + _unjustified_parents(name, node, set(active), "link", states_of)
