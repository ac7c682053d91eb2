"""Contraction paths from elimination orders: the treewidth route for large networks.

opt_einsum's greedy search joins, at each step, the pair of tables whose product removes the
most memory. On networks of a hundred nodes or fewer that is as good as a junction tree, found
in milliseconds; on bnlearn's munin family (about 1,000 nodes, variables of up to 21 states)
it strays into tables of 10^8 to 10^12 entries where an elimination order keeps them under
10^7. Variable elimination in a min-fill (or min-degree) order is what a junction tree is
triangulated with, and it turns into a contraction path directly:

* the order comes from networkx's treewidth heuristics
  (:func:`networkx.algorithms.approximation.treewidth_decomp` with its ``min_fill_in``
  heuristic, or :class:`~networkx.algorithms.approximation.treewidth.MinDegreeHeuristic`) on the
  interaction graph of the factors (an edge between two variables of one factor);
* eliminating variable ``v`` multiplies every current table that carries ``v`` (pairwise: the
  pair with the smallest product first, or, among more than :data:`PAIR_SEARCH` tables, the
  smallest with the partner whose product with it is smallest) and sums ``v`` out with the last
  product; a variable
  that no other table carries is summed as soon as its table is next multiplied, so every
  table of the path is within one clique of the triangulated graph.

The path is opt_einsum's format (a list of tuples of positions in the current list of
operands; the operands of a step are removed and its result appended), so
:func:`opt_einsum.contract_path` prices it like any other and :class:`~forecast.network.plan.
Plan` compiles it as before. Everything here is deterministic: the variables are numbered
``0..n-1`` (integers hash the same in every process, so the heuristics' sets iterate in the same
order) and ties are broken by those numbers and by the factors' positions.

:func:`search` is the choice between the routes, by network size and by what greedy found; see
its notes.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Sequence
from typing import Any

import networkx as nx
import opt_einsum
from networkx.algorithms.approximation.treewidth import (
    MinDegreeHeuristic,
    min_fill_in_heuristic,
    treewidth_decomp,
)

__all__ = ["PAIR_SEARCH", "SEARCH_FLOPS", "SEARCH_TRIALS", "TREEWIDTH_FACTORS", "TREEWIDTH_FLOPS",
           "elimination_order", "elimination_path", "search"]

TREEWIDTH_FACTORS = 100
"""Plans over at least this many factors take an elimination order instead of greedy's path
(:func:`search`).

Measured on bnlearn's networks with some of their nodes observed (``benchmarks/
bench_scale.py``): under a hundred nodes greedy's path is within a few times the best order's
work and found in a millisecond or two; on the networks over it (andes, pigs, link, diabetes,
the munin family) greedy's tables grow by up to six orders of magnitude, and searching it
takes as long as both orders."""

TREEWIDTH_FLOPS = 1e6
"""A smaller plan whose greedy path costs more operations than this (batch included: about a
millisecond) also tries the elimination orders, which take about as long to find on a network
that small: greedy's path on bnlearn's mildew with some evidence costs 45 times the work of the
min-fill order's."""

SEARCH_FLOPS = 2e7
"""A batched plan over fewer than :data:`TREEWIDTH_FACTORS` factors whose best path so far costs
more operations than this (batch included: about 10 ms to execute) also tries
:data:`SEARCH_TRIALS` randomised greedy paths (opt_einsum's ``RandomGreedy``, seeded per trial)
and keeps the cheapest: up to a tenth of a second once per plan, against a third less work on
every execution of the largest ones. The trials use the plain ``memory-removed`` cost: the
default jittered one draws its noise in the order of a set of strings, which hash
randomisation changes from process to process, so the same plan (and every rounding after it)
would differ between processes. Larger networks skip them: their cost grows with the network
and the elimination orders do better there."""

SEARCH_TRIALS = 32

PAIR_SEARCH = 16
"""Up to this many tables carrying the variable eliminated, every pair is tried for the next
product; beyond it (a hub such as pathfinder's ``Fault``, a parent of most of the network's
nodes: cubic in the tables took a tenth of a second), the smallest table with its best
partner. The full search keeps munin's largest table half the size."""

Path = list[tuple[int, ...]]
"""A contraction path in opt_einsum's format."""


def elimination_order(scopes: Sequence[Sequence[int]], heuristic: str = "min-fill") -> list[int]:
    """The variables in the order a treewidth heuristic eliminates them.

    Parameters
    ----------
    scopes : sequence of sequence of int
        The variables of each factor, numbered from 0.
    heuristic : {"min-fill", "min-degree"}
        networkx's minimum fill-in or minimum degree heuristic.

    Returns
    -------
    list of int
        Every variable that occurs in a factor, each once. networkx stops choosing when the
        rest of the graph is one clique; those variables follow in their numbers' order (any
        order of a clique is as good).
    """
    graph: nx.Graph[int] = nx.Graph()
    for scope in scopes:
        graph.add_nodes_from(scope)
        graph.add_edges_from(itertools.combinations(scope, 2))
    choose: Callable[[dict[int, set[int]]], int | None] = (
        min_fill_in_heuristic if heuristic == "min-fill" else MinDegreeHeuristic(graph).best_node)
    order: list[int] = []

    def record(adjacency: dict[int, set[int]]) -> int | None:
        node = choose(adjacency)
        if node is not None:
            order.append(node)
        return node

    # the tree decomposition is discarded: the order it was built from is the result
    treewidth_decomp(graph, record)
    chosen = set(order)
    return order + sorted(v for v in graph if v not in chosen)


def elimination_path(scopes: Sequence[Sequence[int]], sizes: Sequence[int],
                     order: Sequence[int]) -> tuple[Path, int, float]:
    """The contraction path that eliminates the variables in `order`, and its price.

    Parameters
    ----------
    scopes : sequence of sequence of int
        The variables of each factor, numbered from 0 (a batch axis, never summed, is left out:
        it does not change the path).
    sizes : sequence of int
        Number of states of each variable.
    order : sequence of int
        Every variable of `scopes`, in the order to sum them out.

    Returns
    -------
    path : list of tuple of int
        Pairwise steps that end in one table with no variable left.
    largest : int
        Entries of the largest table the path makes (without a batch axis).
    flops : float
        Its operations, counted as opt_einsum counts them (``opt_cost``; without a batch
        axis): each product costs the entries of its operands' joint table, twice if it
        sums a variable.
    """
    live = list(range(len(scopes)))  # the current operands, as opt_einsum numbers them
    scope = {k: frozenset(s) for k, s in enumerate(scopes)}
    holders: dict[int, set[int]] = {v: set() for v in range(len(sizes))}  # tables carrying v
    for k, s in scope.items():
        for v in s:
            holders[v].add(k)
    path: Path = []
    largest, flops = 0, 0.0

    def entries(variables: frozenset[int]) -> int:
        return math.prod(sizes[v] for v in variables)

    def join(a: int, b: int) -> int:
        """Multiply tables a and b, summing the variables no other table carries."""
        nonlocal largest, flops
        both = scope.pop(a) | scope.pop(b)
        kept = []
        for v in sorted(both):
            holders[v].discard(a)
            holders[v].discard(b)
            if holders[v]:
                kept.append(v)
        flops += entries(both) * (2 if len(kept) < len(both) else 1)
        largest = max(largest, entries(frozenset(kept)))
        path.append(tuple(sorted((live.index(a), live.index(b)))))
        live.remove(a)
        live.remove(b)
        out = len(scopes) + len(path)
        live.append(out)
        scope[out] = frozenset(kept)
        for v in kept:
            holders[v].add(out)
        return out

    for v in order:
        group = sorted(holders[v])
        while len(group) > 1:
            if len(group) <= PAIR_SEARCH:  # the pair with the smallest product
                a, b = min(itertools.combinations(group, 2),
                           key=lambda ab: (entries(scope[ab[0]] | scope[ab[1]]), ab))
            else:  # the smallest table, with the partner whose product with it is smallest
                a = min(group, key=lambda k: (entries(scope[k]), k))
                b = min((k for k in group if k != a),
                        key=lambda k: (entries(scope[a] | scope[k]), k))
            group = sorted([*(k for k in group if k not in (a, b)), join(a, b)])
        # a variable in one table only is summed when that table is next multiplied
    while len(live) > 1:  # what is left carries no variable: scalars (or draws only)
        join(live[0], live[1])
    return path, largest, flops


def search(expression: str, shapes: Sequence[tuple[int, ...]], scopes: Sequence[Sequence[int]],
           sizes: Sequence[int], batched: bool, limit: int) -> tuple[Path, Any, str]:
    """The contraction path of a plan: greedy on small networks, an elimination order on large.

    Parameters
    ----------
    expression : str
        The plan's einsum expression (batch symbol included, if any).
    shapes : sequence of tuple of int
        The shape of each input.
    scopes : sequence of sequence of int
        Each input's variables numbered from 0, without the batch axis.
    sizes : sequence of int
        Number of states of each numbered variable.
    batched : bool
        Whether the plan carries a batch of draws.
    limit : int
        The most entries a table may have (:func:`~forecast.network.plan.max_intermediate`).

    Returns
    -------
    path : list of tuple of int
    info : opt_einsum.contract.PathInfo
        opt_einsum's pricing of the path (``opt_cost``, ``largest_intermediate``,
        ``contraction_list``), batch included.
    method : str
        ``"greedy"``, ``"random-greedy"``, ``"min-fill"`` or ``"min-degree"``.

    Notes
    -----
    * Under :data:`TREEWIDTH_FACTORS` factors, opt_einsum's greedy path (milliseconds); if it
      costs more than :data:`TREEWIDTH_FLOPS` operations (as it does whenever its largest
      table is large), the better elimination order too, and the cheaper of the two is kept.
      A batched plan still costing more than :data:`SEARCH_FLOPS` also tries randomised
      greedy paths.
    * From :data:`TREEWIDTH_FACTORS` factors on, the elimination orders only (min-fill and
      min-degree, :func:`elimination_order`, priced by :func:`elimination_path`): greedy there
      takes as long to search as both orders and won on none of bnlearn's large networks by
      more than an eighth (diabetes without evidence), while it lost by up to 10^6 times the
      work (munin). Greedy is still tried if neither order is within `limit`.

    "Cheaper": fewer operations among the paths whose largest table is within `limit`
    (ties: the smaller largest table, then the order above); if none is within it, the
    smallest largest table, which the plan then refuses.
    """
    def priced(optimize: Any) -> tuple[Path, Any]:
        found = opt_einsum.contract_path(expression, *shapes, shapes=True, optimize=optimize)
        return list(found[0]), found[1]

    candidates: list[tuple[Path, Any, str]] = []
    large = len(scopes) >= TREEWIDTH_FACTORS
    if not large:
        candidates.append((*priced("greedy"), "greedy"))
    if large or candidates[0][1].opt_cost > TREEWIDTH_FLOPS:
        orders = []
        for heuristic in ("min-fill", "min-degree"):
            path, largest, flops = elimination_path(
                scopes, sizes, elimination_order(scopes, heuristic))
            rank = (1, largest, flops) if largest > limit else (0, flops, largest)
            orders.append((rank, path, heuristic))
        _, path, heuristic = min(orders, key=lambda o: o[0])
        candidates.append((*priced(path), heuristic))
    best = min(candidates, key=lambda c: _rank(c[1], limit))
    if large and best[1].largest_intermediate > limit:  # a last resort before refusing
        candidates.append((*priced("greedy"), "greedy"))
        best = min(candidates, key=lambda c: _rank(c[1], limit))
    if batched and not large and best[1].opt_cost > SEARCH_FLOPS:
        state = random.getstate()  # opt_einsum seeds the global generator per trial
        try:
            trials = priced(opt_einsum.RandomGreedy(max_repeats=SEARCH_TRIALS,
                                                    cost_fn="memory-removed"))
        finally:
            random.setstate(state)
        candidates.append((*trials, "random-greedy"))
        best = min(candidates, key=lambda c: _rank(c[1], limit))
    return best


def _rank(info: Any, limit: int) -> tuple[Any, ...]:
    """Sort key of a priced path: within the limit first, then fewest operations."""
    largest = int(info.largest_intermediate)
    if largest > limit:
        return (1, largest, float(info.opt_cost))
    return (0, float(info.opt_cost), largest)
