"""Where the nodes of a DAG go: a layered layout (positions only, no matplotlib).

Columns by topological generation, few crossings, straight long edges: a simple Sugiyama
scheme.
"""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np

__all__ = ["layered_layout"]


def layered_layout(
    graph: nx.DiGraph, sweeps: int = 24, rounds: int = 60
) -> tuple[dict[str, np.ndarray], dict[tuple[str, str], list[np.ndarray]]]:
    """Positions in columns by topological generation, left to right, and edge routes.

    A simple Sugiyama scheme. Columns: a node's topological generation (longest path from a
    source; a source moves right to sit just before its nearest child). An edge spanning
    several columns gets one bend point per column crossed, so long edges run between nodes,
    not through them. Order within a column: barycentre of the neighbours in the adjacent
    column, in alternating forward and backward sweeps (few crossings). Heights: each node
    and bend point moves towards the mean height of its neighbours, keeping its column's
    order and a minimum gap (1 between nodes, 0.65 between a node and a bend point, 0.3
    between bend points), which straightens
    long edges.

    Parameters
    ----------
    graph : networkx.DiGraph
        A directed acyclic graph with string node names.
    sweeps : int, optional
        Number of ordering sweeps.
    rounds : int, optional
        Number of straightening rounds.

    Returns
    -------
    positions : dict of str to ndarray
        Node → (column, height).
    bends : dict of (str, str) to list of ndarray
        Edge → its bend points from parent to child (empty for adjacent columns).
    """
    depth = {n: i for i, layer in enumerate(nx.topological_generations(graph)) for n in layer}
    for n in graph:
        children = list(graph.successors(n))
        if graph.in_degree(n) == 0 and children:
            depth[n] = min(depth[c] for c in children) - 1
    expanded: nx.DiGraph[object] = nx.DiGraph()
    expanded.add_nodes_from(graph)
    chains: dict[tuple[str, str], list[tuple[str, str, int]]] = {}
    for u, v in graph.edges:
        chain = [(u, v, k) for k in range(depth[u] + 1, depth[v])]
        depth.update({d: d[2] for d in chain})
        nx.add_path(expanded, [u, *chain, v])
        chains[(u, v)] = chain
    layers: list[list] = [[] for _ in range(max(depth.values()) + 1)]
    for n in expanded:
        layers[depth[n]].append(n)
    order = {n: i - (len(layer) - 1) / 2 for layer in layers for i, n in enumerate(layer)}
    for sweep in range(sweeps):
        forward = sweep % 2 == 0
        for layer in layers[1:] if forward else layers[-2::-1]:
            for n in layer:
                near = list(expanded.predecessors(n) if forward else expanded.successors(n))
                if near:
                    order[n] = float(np.mean([order[m] for m in near]))
            layer.sort(key=lambda n: order[n])
            for i, n in enumerate(layer):
                order[n] = i - (len(layer) - 1) / 2

    def gap(a: object, b: object) -> float:
        return 0.3 + 0.35 * ((a in graph) + (b in graph))

    height = {n: order[n] for n in expanded}
    for _ in range(rounds):
        for layer in layers:
            want = np.array([
                np.mean([height[m] for m in nx.all_neighbors(expanded, n)])
                if expanded.degree(n) else height[n]
                for n in layer
            ])
            gaps = np.array([gap(a, b) for a, b in itertools.pairwise(layer)])
            up, down = want.copy(), want.copy()
            for i in range(1, len(layer)):  # push later items up past earlier ones
                up[i] = max(up[i], up[i - 1] + gaps[i - 1])
            for i in range(len(layer) - 2, -1, -1):  # and earlier items down
                down[i] = min(down[i], down[i + 1] - gaps[i])
            placed = (up + down) / 2
            for i in range(1, len(layer)):  # averaging can break a gap: restore it
                placed[i] = max(placed[i], placed[i - 1] + gaps[i - 1])
            height.update(zip(layer, placed, strict=True))
    point = {n: np.array([float(depth[n]), -height[n]]) for n in expanded}
    positions = {n: point[n] for n in graph}
    bends = {edge: [point[d] for d in chain] for edge, chain in chains.items()}
    return positions, bends

