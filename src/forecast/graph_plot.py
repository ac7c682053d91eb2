"""Draw a model's causal graph: layered by topological generation, edges coloured by sign.

Plotting only: the figure is computed from the spec and the prior means of its parameters
(no inference). matplotlib is imported here and nowhere in the compute path.

Examples
--------
>>> from forecast.spec import load_spec
>>> from forecast.graph_plot import draw_model
>>> fig = draw_model(load_spec("models/isis_pakistan_2015.yaml"))   # doctest: +SKIP
>>> fig.savefig("models/isis_pakistan_2015.png", dpi=110)           # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import textwrap
from typing import Literal

import networkx as nx
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from forecast.cpt import build_cpts, parameters
from forecast.spec_schema import ModelSpec

__all__ = ["EDGE_COLOURS", "Sign", "draw_model", "edge_signs", "layered_layout"]

Sign = Literal["raises", "lowers", "mixed"]

EDGE_COLOURS: dict[str, str] = {"raises": "#c0392b", "lowers": "#1f618d", "mixed": "#7f8c8d"}
"""Edge colour by sign of effect."""

_NODE_COLOURS = {"condition": "#e8f1f8", "event": "#fcefe3"}
_TOL = 1e-12


def edge_signs(spec: ModelSpec) -> dict[tuple[str, str], Sign]:
    """The sign of every edge's effect, read from the CPTs at the parameters' prior means.

    An edge ``parent -> child`` *raises* if moving the parent from its first state to any later
    state never lowers, and somewhere raises, the child's expected state index (for a binary
    child: the probability of its second state, e.g. "yes"), in every configuration of the
    child's other parents; *lowers* in the mirror case; otherwise *mixed*. States are read in
    the order the model lists them.

    Parameters
    ----------
    spec : ModelSpec
        A validated model.

    Returns
    -------
    dict of (str, str) to {"raises", "lowers", "mixed"}
    """
    params = parameters(spec)
    cpts = build_cpts(spec, {p.name: p.prior.mean for p in params}, params=params)
    signs: dict[tuple[str, str], Sign] = {}
    for child, parents in spec.parents.items():
        table = cpts[child][0]  # (*parent cards, card)
        score = table @ np.arange(table.shape[-1], dtype=float)  # expected state index
        for axis, parent in enumerate(parents):
            base = np.take(score, [0], axis=axis)
            rest = np.take(score, range(1, score.shape[axis]), axis=axis)
            diff = rest - base
            if np.all(diff >= -_TOL) and np.any(diff > _TOL):
                signs[(parent, child)] = "raises"
            elif np.all(diff <= _TOL) and np.any(diff < -_TOL):
                signs[(parent, child)] = "lowers"
            else:
                signs[(parent, child)] = "mixed"
    return signs


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
    expanded = nx.DiGraph()
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


def _label(name: str, width: int = 16) -> str:
    return "\n".join(textwrap.wrap(name.replace("_", " "), width)).replace(" ", "_")


def draw_model(spec: ModelSpec, ax: Axes | None = None) -> Figure:
    """Draw the model's DAG: nodes by kind, scenarios in bold, edges coloured by sign.

    Parameters
    ----------
    spec : ModelSpec
        A validated model.
    ax : matplotlib Axes, optional
        Where to draw; by default a new Figure sized to the graph.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on (never shown: save it or display it yourself).
    """
    graph = spec.network_structure()
    pos, bends = layered_layout(graph)
    n_columns = len({float(p[0]) for p in pos.values()})
    if ax is None:
        fig = Figure(figsize=(2.2 * n_columns + 1.0, 9.0), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.get_figure()  # type: ignore[assignment]
    scenarios = set(spec.scenarios)
    texts = {}
    for name, (x, y) in pos.items():
        kind = spec.nodes[name].definition.kind
        bold = name in scenarios
        texts[name] = ax.text(
            x, y, _label(name), ha="center", va="center", fontsize=8.5, zorder=3,
            fontweight="bold" if bold else "normal",
            bbox={
                "boxstyle": "round,pad=0.35",
                "facecolor": _NODE_COLOURS[kind],
                "edgecolor": "#17202a" if bold else "#85929e",
                "linewidth": 1.8 if bold else 0.8,
            },
        )
    signs = edge_signs(spec)
    for (parent, child), sign in signs.items():
        style = {"color": EDGE_COLOURS[sign], "linewidth": 1.1, "alpha": 0.85}
        points = [pos[parent], *bends[(parent, child)], pos[child]]
        for k, (start, stop) in enumerate(itertools.pairwise(points)):
            first, last = k == 0, k == len(points) - 2
            ax.annotate(
                "", xy=stop, xytext=start, zorder=2,
                arrowprops={
                    "arrowstyle": "-|>" if last else "-", "shrinkA": 0, "shrinkB": 0,
                    "mutation_scale": 11,
                    "patchA": texts[parent].get_bbox_patch() if first else None,
                    "patchB": texts[child].get_bbox_patch() if last else None,
                    **style,
                },
            )
    handles = [
        Line2D([], [], color=EDGE_COLOURS["raises"], label="raises (later parent state → "
               "child's later state more likely)"),
        Line2D([], [], color=EDGE_COLOURS["lowers"], label="lowers"),
        Patch(facecolor=_NODE_COLOURS["condition"], edgecolor="#85929e",
              label="condition (holds at the as-of date)"),
        Patch(facecolor=_NODE_COLOURS["event"], edgecolor="#85929e",
              label="event (within its window)"),
        Patch(facecolor="white", edgecolor="#17202a", linewidth=1.8,
              label="headline scenario (bold)"),
    ]
    if "mixed" in signs.values():
        handles.insert(2, Line2D([], [], color=EDGE_COLOURS["mixed"], label="mixed"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=3,
              fontsize=8, frameon=False)
    ax.set_title(spec.model.title, fontsize=11)
    every = np.array([*pos.values(), *(b for route in bends.values() for b in route)])
    ax.set_xlim(every[:, 0].min() - 0.45, every[:, 0].max() + 0.45)
    ax.set_ylim(every[:, 1].min() - 0.4, every[:, 1].max() + 0.4)
    ax.set_axis_off()
    return fig
