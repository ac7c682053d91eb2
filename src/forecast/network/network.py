"""A discrete Bayesian network with numeric conditional probability tables.

This is the numeric core every other module feeds or reads: the model language compiles to it (with
CPTs at prior means, or batched over parameter draws), BIF files and pgmpy models convert to and
from it, and :mod:`forecast.network.exact` runs exact inference on it. It knows nothing of YAML, CSV
or PyMC.

CPT layout
----------
``cpts[node]`` has shape ``(*parent_cards, card)``: one axis per parent in the order of
``parents[node]``, then the node's own states, so each row ``cpts[node][u]`` is the distribution
``P(node | parents = u)`` and sums to 1. This is the row order of BIF files (last parent varying
fastest).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import networkx as nx
import numpy as np

from forecast.errors import EvidenceError, Problem, SpecError, did_you_mean

__all__ = ["Network"]

ROW_SUM_ATOL = 1e-6
"""How far a CPT row may sum from 1 before the network is rejected."""


@dataclass(frozen=True, eq=False)
class Network:
    """A discrete Bayesian network: states, parents and one CPT per node.

    Parameters
    ----------
    states : mapping of str to sequence of str
        Each node's state names, in order.
    parents : mapping of str to sequence of str
        Each node's parents, in the order of its CPT's leading axes. Missing nodes have none.
    cpts : mapping of str to array_like
        Each node's CPT, shape ``(*parent_cards, card)``; rows sum to 1.
    name : str, optional
        A name used in messages.
    row_sum_atol : float, optional
        Tolerance for rows summing to 1 (files written with rounded numbers need ~1e-4).

    Raises
    ------
    SpecError
        Listing every problem: unknown parents, cycles (named), CPT shapes that do not match
        the states, probabilities outside [0, 1], rows that do not sum to 1.

    Examples
    --------
    >>> net = Network(
    ...     states={"rain": ["no", "yes"], "wet": ["no", "yes"]},
    ...     parents={"wet": ["rain"]},
    ...     cpts={"rain": [0.8, 0.2], "wet": [[0.9, 0.1], [0.2, 0.8]]},
    ... )
    >>> net.order
    ('rain', 'wet')
    """

    states: Mapping[str, tuple[str, ...]]
    parents: Mapping[str, tuple[str, ...]]
    cpts: Mapping[str, np.ndarray]
    name: str = "network"
    row_sum_atol: float = field(default=ROW_SUM_ATOL, repr=False)

    def __post_init__(self) -> None:
        states = {str(n): tuple(str(s) for s in ss) for n, ss in self.states.items()}
        parents = {n: tuple(str(p) for p in self.parents.get(n, ())) for n in states}
        problems = _structure_problems(self.name, states, self.parents, parents)
        if problems:
            raise SpecError(f"network '{self.name}' is invalid", problems)
        cpts: dict[str, np.ndarray] = {}
        for node in states:
            if node not in self.cpts:
                problems.append(Problem("has no CPT", file=self.name, field=f"node '{node}'"))
                continue
            table = np.asarray(self.cpts[node], dtype=float)
            problems += _cpt_problems(self.name, table, states, parents[node], node,
                                      self.row_sum_atol)
            cpts[node] = table
        for node in self.cpts:
            if node not in states:
                problems.append(
                    Problem("belongs to no node", hint=did_you_mean(node, states),
                            file=self.name, field=f"CPT '{node}'")
                )
        if problems:
            raise SpecError(f"network '{self.name}' is invalid", problems)
        for table in cpts.values():
            table.flags.writeable = False
        object.__setattr__(self, "states", states)
        object.__setattr__(self, "parents", parents)
        object.__setattr__(self, "cpts", cpts)

    @cached_property
    def graph(self) -> nx.DiGraph:
        """The DAG, edges from parent to child."""
        g: nx.DiGraph[str] = nx.DiGraph()
        g.add_nodes_from(self.states)
        g.add_edges_from((p, n) for n, ps in self.parents.items() for p in ps)
        return g

    @cached_property
    def order(self) -> tuple[str, ...]:
        """Nodes in a topological order (stable: ties keep the order they were given in)."""
        position = {n: i for i, n in enumerate(self.states)}
        return tuple(nx.lexicographical_topological_sort(self.graph, key=position.__getitem__))

    @property
    def nodes(self) -> tuple[str, ...]:
        """Nodes in the order they were given."""
        return tuple(self.states)

    def card(self, node: str) -> int:
        """Number of states of `node`."""
        return len(self.states[node])

    def family(self, node: str) -> tuple[str, ...]:
        """The node's parents followed by the node: the axes of its CPT."""
        return (*self.parents[node], node)

    def state_index(self, node: str, state: str) -> int:
        """Position of `state` among the states of `node`.

        Raises
        ------
        KeyError
            With a "did you mean" hint if the node or state is unknown.
        """
        if node not in self.states:
            hint = did_you_mean(node, self.states)
            raise KeyError(f"unknown node '{node}'" + (f"; {hint}" if hint else ""))
        try:
            return self.states[node].index(state)
        except ValueError:
            hint = did_you_mean(state, self.states[node])
            known = ", ".join(self.states[node])
            raise KeyError(
                f"node '{node}' has no state '{state}' (states: {known})"
                + (f"; {hint}" if hint else "")
            ) from None

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Draw `n` joint states by ancestral sampling.

        Parameters
        ----------
        n : int
            Number of samples.
        rng : numpy.random.Generator
            Source of randomness.

        Returns
        -------
        dict of str to ndarray
            Node → state indices, shape ``(n,)``; ``self.states[node][i]`` names them.
        """
        out: dict[str, np.ndarray] = {}
        for node in self.order:
            rows = self.cpts[node][tuple(out[p] for p in self.parents[node])]
            rows = np.broadcast_to(rows, (n, self.card(node)))
            cum = np.cumsum(rows, axis=-1)
            u = rng.random(n) * cum[:, -1]
            out[node] = np.minimum((cum < u[:, None]).sum(axis=-1), self.card(node) - 1)
        return out

    def with_cpts(self, cpts: Mapping[str, np.ndarray], name: str | None = None) -> Network:
        """Return a copy with some CPTs replaced (same structure)."""
        return Network(self.states, self.parents, {**self.cpts, **cpts},
                       name=name or self.name, row_sum_atol=self.row_sum_atol)

    def intervene(self, interventions: Mapping[str, str]) -> Network:
        """The network under ``do(node = state)``: graph surgery.

        Each intervened node loses its parents and its CPT becomes certainty in the forced
        state, so evidence about its causes no longer flows through it (and it says nothing
        about them). Querying the result with the node also given as a hard finding in that
        state leaves ``P(e)`` unchanged and keeps it out of the unobserved nodes.

        Parameters
        ----------
        interventions : mapping of str to str
            ``{node: state}`` to force.

        Returns
        -------
        Network
            A new network (this one when `interventions` is empty).

        Raises
        ------
        EvidenceError
            Listing every unknown node or state, with "did you mean" hints.
        """
        if not interventions:
            return self
        problems = []
        forced: dict[str, int] = {}
        for node, state in interventions.items():
            try:
                forced[node] = self.state_index(node, str(state))
            except KeyError as err:
                problems.append(Problem(err.args[0], field=f"do({node}={state})"))
        if problems:
            raise EvidenceError("cannot intervene", problems)
        cpts = dict(self.cpts)
        parents = dict(self.parents)
        for node, index in forced.items():
            cpts[node] = np.eye(self.card(node))[index]
            parents[node] = ()
        return Network(self.states, parents, cpts, name=self.name,
                       row_sum_atol=self.row_sum_atol)

    def __repr__(self) -> str:
        edges = sum(len(p) for p in self.parents.values())
        return f"Network({self.name!r}, {len(self.states)} nodes, {edges} edges)"


def _structure_problems(
    name: str,
    states: dict[str, tuple[str, ...]],
    raw_parents: Mapping[str, Sequence[str]],
    parents: dict[str, tuple[str, ...]],
) -> list[Problem]:
    problems = []
    for node, ss in states.items():
        if len(ss) < 1:
            problems.append(Problem("has no states", file=name, field=f"node '{node}'"))
        if len(set(ss)) != len(ss):
            problems.append(Problem(f"repeats a state name: {list(ss)}", file=name,
                                    field=f"node '{node}'"))
    for node in raw_parents:
        if node not in states:
            problems.append(Problem("given for an unknown node", hint=did_you_mean(node, states),
                                    file=name, field=f"parents of '{node}'"))
    for node, ps in parents.items():
        for p in ps:
            if p not in states:
                problems.append(Problem(f"has unknown parent '{p}'", hint=did_you_mean(p, states),
                                        file=name, field=f"node '{node}'"))
        if len(set(ps)) != len(ps):
            problems.append(Problem("lists a parent twice", file=name, field=f"node '{node}'"))
    if problems:
        return problems
    g = nx.DiGraph([(p, n) for n, ps in parents.items() for p in ps])
    try:
        cycle = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        return problems
    path = " -> ".join([u for u, _ in cycle] + [cycle[0][0]])
    problems.append(Problem(f"the graph has a cycle: {path}", file=name,
                            hint="a Bayesian network must be acyclic; remove one of these edges"))
    return problems


def _cpt_problems(
    name: str,
    table: np.ndarray,
    states: dict[str, tuple[str, ...]],
    parents: tuple[str, ...],
    node: str,
    atol: float,
) -> list[Problem]:
    at = f"node '{node}'"
    expected = (*tuple(len(states[p]) for p in parents), len(states[node]))
    if table.shape != expected:
        axes = ", ".join(f"{p}[{len(states[p])}]" for p in (*parents, node))
        return [Problem(f"CPT has shape {table.shape}, expected {expected} ({axes})",
                        file=name, field=at)]
    problems = []
    if not np.all(np.isfinite(table)):
        problems.append(Problem("CPT contains NaN or infinite values", file=name,
                                field=at))
    elif np.any(table < 0) or np.any(table > 1):
        bad = float(table[(table < 0) | (table > 1)].flat[0])
        problems.append(Problem(f"CPT has a probability outside [0, 1]: {bad}", file=name,
                                field=at))
    else:
        sums = table.sum(axis=-1)
        bad = np.abs(sums - 1) > atol
        if bad.any():
            idx = np.unravel_index(int(np.argmax(bad)), sums.shape)
            row = ", ".join(f"{p}={states[p][i]}" for p, i in zip(parents, idx, strict=True))
            problems.append(Problem(
                f"{int(bad.sum())} CPT row(s) do not sum to 1, e.g. "
                f"P({node}{' | ' + row if row else ''}) sums to {float(sums[idx]):.6g}",
                file=name, field=at,
            ))
    return problems
