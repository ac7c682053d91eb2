"""Previous-window twins: how an event seen before the as-of date informs the forecast.

An event node forecasts the window *after* the as-of date: "ISIS claims an attack in Pakistan
within 24 months". A ledger row saying it happened last year is not an observation of that
future window, but it is evidence about the conditions that drive it. The model reads such rows
through a **twin** of the event for the previous window, ``<node>@previous``: a node with the
event's parents and the event's CPT (the same parameters θ, not a copy), so

    P(previous-window finding | conditions, θ) = P(event | conditions, θ)

and the finding updates the shared conditions and θ, hence the next window's forecast, without
the forecast target itself being observed. The assumption is the one conditions already carry:
they persist from one window to the next.

Twins exist only where a case has findings on them; the engines and the PyMC model add them to
the network on demand (:func:`twins_of`, :func:`with_twins`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from forecast.errors import EvidenceError, Problem

__all__ = ["SUFFIX", "base_node", "lagged", "twin_cpts", "twins_of", "with_twins"]

SUFFIX = "@previous"
"""Appended to an event's name to name its previous-window twin."""


def lagged(node: str) -> str:
    """The name of `node`'s previous-window twin."""
    return node + SUFFIX


def base_node(name: str) -> str:
    """The node a (possibly twin) name refers to."""
    return name.removesuffix(SUFFIX)


def twins_of(spec: Any, cases: Iterable[Any]) -> dict[str, str]:
    """The twins the cases' findings name, ``{twin: event}``, in the model's node order.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    cases : iterable of Case or (evidence, soft)
        Findings keyed by node; twin names end in :data:`SUFFIX`.

    Raises
    ------
    EvidenceError
        If a twin's base is not an event node of the model.
    """
    named: set[str] = set()
    for case in cases:
        if isinstance(case, tuple):
            evidence, soft = case
            named |= set(evidence or {}) | set(soft or {})
        else:
            named |= set(case.evidence) | set(case.soft)
            named |= {r.node for r in getattr(case, "reports", ())}
            named |= set(getattr(case, "counts", {}))
    twins = {n for n in named if n.endswith(SUFFIX)}
    problems = [Problem(f"'{base_node(n)}' is not an event of the model", field=n,
                        hint="only events have previous-window twins")
                for n in sorted(twins)
                if base_node(n) not in spec.states
                or spec.nodes[base_node(n)].definition.kind != "event"]
    if problems:
        raise EvidenceError("findings on unknown previous-window twins", problems)
    return {lagged(n): n for n in spec.node_names if lagged(n) in twins}


def with_twins(
    states: Mapping[str, Sequence[str]], parents: Mapping[str, Sequence[str]],
    twins: Mapping[str, str],
) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """States and parents of the network plus `twins`, each a leaf under its event's parents."""
    out_states = {n: tuple(s) for n, s in states.items()}
    out_parents = {n: tuple(p) for n, p in parents.items()}
    for twin, node in twins.items():
        out_states[twin] = tuple(states[node])
        out_parents[twin] = tuple(parents[node])
    return out_states, out_parents


def twin_cpts(cpts: Mapping[str, Any], twins: Mapping[str, str]) -> dict[str, Any]:
    """`cpts` plus each twin sharing its event's CPT (the same array or tensor, not a copy)."""
    return {**cpts, **{twin: cpts[node] for twin, node in twins.items()}}
