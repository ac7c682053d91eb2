"""The model graph: nodes by kind or probability, edges by sign and strength of effect.

Columns are topological generations (:func:`~forecast.report.plots.layout.layered_layout`).

The drawing is computed from the spec and the prior means of its parameters (no inference);
node colours, when given, come from a forecast computed elsewhere (:func:`plot_network`).

Examples
--------
>>> import forecast as fc
>>> fig = fc.plots.draw_model(fc.load_spec("models/isis_pakistan_2015.yaml"))  # doctest: +SKIP
>>> fig.savefig("models/isis_pakistan_2015.png", dpi=110)                      # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Mapping, Sequence
from typing import Literal

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from forecast.errors import ForecastError, Problem, did_you_mean
from forecast.inference.result import Forecast
from forecast.model.cpts import build_cpts
from forecast.model.parameters import parameters
from forecast.model.priors import STRENGTH_ODDS_RATIOS
from forecast.model.schema import ModelSpec
from forecast.report.plots.layout import layered_layout
from forecast.report.plots.style import EFFECT_COLOURS, PROBABILITY_CMAP, with_style

__all__ = [
    "EDGE_COLOURS",
    "EDGE_WIDTHS",
    "Sign",
    "draw_model",
    "edge_signs",
    "edge_strengths",
    "plot_network",
    "positive_state",
    "strength_of",
]

Sign = Literal["raises", "lowers", "mixed"]

EDGE_COLOURS: dict[str, str] = EFFECT_COLOURS
"""Edge colour by sign of effect (the package's effect colours)."""

EDGE_WIDTHS: dict[str, float] = {"weak": 0.7, "moderate": 1.4, "strong": 2.3, "very strong": 3.4}
"""Edge line width by strength word."""

_NODE_COLOURS = {"condition": "#e8f1f8", "event": "#fcefe3"}
_OBSERVED_EDGE, _OBSERVED_FILL = "#b9770e", "#f4f6f7"
_KNOWN = ("observed", "set")  # notes of nodes whose state is known: not filled by probability
_TOL = 1e-12
_CLIP = 1e-6  # probabilities clipped to [_CLIP, 1 - _CLIP] before taking log-odds


def positive_state(states: Sequence[str]) -> str:
    """The state a node's probability is shown for: ``yes`` if it is binary with one, else the last.

    Models list states from the baseline to the notable one (``[none, achieved]``,
    ``["no", "yes"]``, ``[easing, stalemate, worsening]``).

    Parameters
    ----------
    states : sequence of str
        The node's states, in model order.

    Returns
    -------
    str
    """
    return "yes" if len(states) == 2 and "yes" in states else states[-1]


def _mean_cpts(spec: ModelSpec) -> dict[str, np.ndarray]:
    """Every CPT at its parameters' prior means, shape ``(*parent cards, card)``."""
    params = parameters(spec)
    cpts = build_cpts(spec, {p.name: p.prior.mean for p in params}, params=params)
    return {n: table[0] for n, table in cpts.items()}


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
    signs: dict[tuple[str, str], Sign] = {}
    for child, table in _mean_cpts(spec).items():
        parents = spec.parents[child]
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


def edge_strengths(spec: ModelSpec) -> dict[tuple[str, str], float]:
    """How strongly each parent moves its child: the largest log-odds shift it causes.

    For an edge ``parent -> child``, read from the CPTs at the parameters' prior means: the
    largest absolute change, over the configurations of the child's other parents and over the
    parent's later states, of the log-odds that the child is in its state ``k`` or later
    (every ``k`` ≥ 1; for a binary child simply the log-odds of its second state) when the
    parent moves from its first state. For a logit effect with a strength word this is the
    effect's prior mean shift, which lies in that word's range.

    Parameters
    ----------
    spec : ModelSpec
        A validated model.

    Returns
    -------
    dict of (str, str) to float
        Non-negative log-odds shifts.
    """
    out: dict[tuple[str, str], float] = {}
    for child, table in _mean_cpts(spec).items():
        upper = np.cumsum(table[..., ::-1], axis=-1)[..., ::-1][..., 1:]  # P(X >= k), k >= 1
        upper = np.clip(upper, _CLIP, 1 - _CLIP)
        log_odds = np.log(upper) - np.log1p(-upper)
        for axis, parent in enumerate(spec.parents[child]):
            base = np.take(log_odds, [0], axis=axis)
            rest = np.take(log_odds, range(1, log_odds.shape[axis]), axis=axis)
            out[(parent, child)] = float(np.abs(rest - base).max())
    return out


def strength_of(shift: float) -> str:
    """The strength word (:data:`forecast.model.priors.STRENGTH_ODDS_RATIOS`) of a log-odds shift.

    The first word whose odds-ratio range reaches above ``exp(|shift|)``: shifts below the
    ``weak`` range count as weak, above ``very strong`` as very strong.

    Parameters
    ----------
    shift : float
        A log-odds shift (either sign).

    Returns
    -------
    str
    """
    for word, (_low, high) in STRENGTH_ODDS_RATIOS.items():
        if abs(shift) < np.log(high):
            return word
    return list(STRENGTH_ODDS_RATIOS)[-1]


def _label(name: str, width: int = 16) -> str:
    return "\n".join(textwrap.wrap(name.replace("_", " "), width)).replace(" ", "_")


def _check_probabilities(spec: ModelSpec, probabilities: Mapping[str, float],
                         observed: Mapping[str, str]) -> dict[str, float]:
    """`probabilities` as floats, checked: every one a node's and in [0, 1], none missing.

    A node whose state is known (an `observed` note starting "observed" or "set") needs none.
    Raises a ForecastError listing every problem.
    """
    problems, out = [], {}
    for name, value in probabilities.items():
        where = f"probabilities[{name!r}]"
        if name not in spec.nodes:
            problems.append(Problem("not a node of the model", field=where,
                                    hint=did_you_mean(str(name), spec.node_names)))
            continue
        try:
            p = float(value)
        except (TypeError, ValueError):
            p = float("nan")
        if not 0.0 <= p <= 1.0:
            problems.append(Problem(f"{value!r} is not a probability in [0, 1]", field=where))
        out[name] = p
    missing = [n for n in spec.node_names
               if n not in probabilities and not str(observed.get(n, "")).startswith(_KNOWN)]
    if missing:
        problems.append(Problem(f"no probability for {', '.join(missing)}", field="probabilities",
                                hint="give one for every node whose state is not observed or set"))
    if problems:
        raise ForecastError("draw_model: cannot fill the nodes by probability", problems)
    return out


def _ink_on(colour: tuple[float, ...]) -> str:
    """Black or white text, whichever reads on a fill `colour` (RGBA in [0, 1])."""
    r, g, b = colour[:3]
    return "#17202a" if 0.299 * r + 0.587 * g + 0.114 * b > 0.55 else "white"


@with_style
def draw_model(
    spec: ModelSpec,
    *,
    ax: Axes | None = None,
    probabilities: Mapping[str, float] | None = None,
    observed: Mapping[str, str] | None = None,
) -> Figure:
    """Draw the model's DAG: nodes by kind, scenarios in bold, edges by sign and strength.

    Columns are topological generations. Conditions are rounded boxes, events square ones;
    headline scenarios (``model.scenarios``) have bold outlines. An edge's colour is its sign
    (:func:`edge_signs`), its width its strength word (:func:`edge_strengths`,
    :data:`EDGE_WIDTHS`).

    Parameters
    ----------
    spec : ModelSpec
        A validated model.
    ax : matplotlib Axes, optional
        Where to draw; by default a new Figure sized to the graph.
    probabilities : mapping of str to float, optional
        Probability of each node's :func:`positive_state`: nodes are filled by it (with a colour
        bar) and show it under their name. Without it, nodes are filled by kind.
    observed : mapping of str to str, optional
        Nodes with evidence and a short note shown under the name; they get a dashed ochre
        outline. A note starting with "observed" or "set" (``"observed: none"``,
        ``"set: achieved"``) marks a node whose state is known: it is filled grey, not by
        probability.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on (never shown: save it or display it yourself).

    Raises
    ------
    ForecastError
        If `probabilities` names a node not in the model, holds a value outside [0, 1], or
        lacks a node whose state is not known.
    """
    observed = observed or {}
    if probabilities is not None:
        probabilities = _check_probabilities(spec, probabilities, observed)
    graph = spec.network_structure()
    pos, bends = layered_layout(graph)
    n_columns = len({float(p[0]) for p in pos.values()})
    if ax is None:
        extra = 1.2 if probabilities is not None else 0.0
        fig = Figure(figsize=(2.2 * n_columns + 1.0 + extra, 9.0), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.get_figure(root=True)  # type: ignore[assignment]
    cmap, norm = mpl.colormaps[PROBABILITY_CMAP], Normalize(0.0, 1.0)
    scenarios = set(spec.scenarios)
    texts = {}
    for name, (x, y) in pos.items():
        kind = spec.nodes[name].definition.kind
        bold, seen = name in scenarios, name in observed
        label = _label(name)
        face: str | tuple[float, float, float, float] = _NODE_COLOURS[kind]
        known = seen and observed[name].startswith(_KNOWN)
        if probabilities is not None and known:
            face = _OBSERVED_FILL
        elif probabilities is not None:
            p = float(probabilities[name])
            face = cmap(norm(p))
            label += f"\n{positive_state(spec.states[name])}: {p:.2f}"
        if seen:
            label += f"\n{observed[name]}"
        texts[name] = ax.text(
            x, y, label, ha="center", va="center", fontsize=8.5, zorder=3,
            fontweight="bold" if bold else "normal",
            color=_ink_on(mpl.colors.to_rgba(face)), linespacing=1.15,
            bbox={
                "boxstyle": ("round" if kind == "condition" else "square") + ",pad=0.35",
                "facecolor": face,
                "edgecolor": _OBSERVED_EDGE if seen else ("#17202a" if bold else "#85929e"),
                "linewidth": 1.8 if bold or seen else 0.8,
                "linestyle": "--" if seen else "-",
            },
        )
    signs, strengths = edge_signs(spec), edge_strengths(spec)
    for (parent, child), sign in signs.items():
        width = EDGE_WIDTHS[strength_of(strengths[(parent, child)])]
        style = {"color": EDGE_COLOURS[sign], "linewidth": width, "alpha": 0.8}
        points = [pos[parent], *bends[(parent, child)], pos[child]]
        for k, (start, stop) in enumerate(itertools.pairwise(points)):
            first, last = k == 0, k == len(points) - 2
            # matplotlib's stub types xy as a tuple; the (2,) arrays of the layout work as well
            ax.annotate(
                "", xy=stop, xytext=start, zorder=2,  # type: ignore[arg-type]
                arrowprops={
                    "arrowstyle": "-|>" if last else "-", "shrinkA": 0, "shrinkB": 0,
                    "mutation_scale": 8 + 2.5 * width, "joinstyle": "round",
                    "patchA": texts[parent].get_bbox_patch() if first else None,
                    "patchB": texts[child].get_bbox_patch() if last else None,
                    **style,
                },
            )
    # up to 3.4 inches an entry: a legend wider than the figure collapses its layout
    ncol = max(1, min(4, int(fig.get_figwidth() / 3.4)))
    ax.legend(handles=_legend_handles(signs, probabilities is not None, bool(observed)),
              loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=ncol, frameon=False)
    if probabilities is not None:
        fig.colorbar(ScalarMappable(norm, cmap), ax=ax, shrink=0.45, pad=0.01, aspect=25,
                     label="probability of the node's notable state (yes, or its last state)")
    ax.set_title(spec.model.title)
    every = np.array([*pos.values(), *(b for route in bends.values() for b in route)])
    ax.set_xlim(every[:, 0].min() - 0.45, every[:, 0].max() + 0.45)
    ax.set_ylim(every[:, 1].min() - 0.45, every[:, 1].max() + 0.45)
    ax.set_axis_off()
    return fig


def _legend_handles(signs: Mapping[tuple[str, str], Sign], coloured: bool,
                    observed: bool) -> list[Line2D | Patch]:
    """Legend entries: edge signs, strength widths, node kinds and outlines."""
    handles: list[Line2D | Patch] = [
        Line2D([], [], color=EDGE_COLOURS["raises"], label="raises (later parent state → "
               "child's later state more likely)"),
        Line2D([], [], color=EDGE_COLOURS["lowers"], label="lowers"),
    ]
    if "mixed" in signs.values():
        handles.append(Line2D([], [], color=EDGE_COLOURS["mixed"], label="mixed"))
    handles += [Line2D([], [], color="#566573", linewidth=w, label=f"{word} effect")
                for word, w in EDGE_WIDTHS.items()]
    fills = ({"condition": "white", "event": "white"} if coloured else _NODE_COLOURS)
    handles += [
        Patch(facecolor=fills["condition"], edgecolor="#85929e",
              label="condition (rounded; holds at the as-of date)"),
        Patch(facecolor=fills["event"], edgecolor="#85929e",
              label="event (square; within its window)"),
        Patch(facecolor="white", edgecolor="#17202a", linewidth=1.8,
              label="headline scenario (bold)"),
    ]
    if observed:
        handles.append(Patch(facecolor=_OBSERVED_FILL, edgecolor=_OBSERVED_EDGE, linewidth=1.8,
                             linestyle="--", label="evidence on the node (dashed)"))
    return handles


@with_style
def plot_network(spec: ModelSpec, forecast: Forecast | None = None, *,
                 ax: Axes | None = None) -> Figure:
    """The model graph, nodes filled by posterior probability, edges by sign and strength.

    Each node shows the probability of its notable state (``yes``, else its last state) with
    a colour bar; nodes with evidence in the forecast's target case are outlined (dashed) and
    say what was observed. Without a forecast, nodes are filled by kind
    (:func:`draw_model`).

    Parameters
    ----------
    spec : ModelSpec
        The model.
    forecast : Forecast, optional
        A forecast of this model.
    ax : matplotlib Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ForecastError
        If the forecast is of another model or lacks some of its nodes.
    """
    if forecast is None:
        return draw_model(spec, ax=ax)
    attrs = forecast.attrs
    if attrs.get("model_name") not in (None, spec.name):
        raise ForecastError("plot_network: the forecast is of another model", [Problem(
            f"model '{attrs.get('model_name')}', not '{spec.name}'", field="forecast",
            hint="pass the spec the forecast was computed from")])
    prob = forecast.idata["posterior"]["prob"]
    outcomes = {str(o) for o in prob["outcome"].values}
    missing = [n for n in spec.node_names
               if f"{n}={positive_state(spec.states[n])}" not in outcomes]
    if missing:
        raise ForecastError("plot_network: the forecast lacks nodes of the model", [Problem(
            f"no probabilities for {', '.join(missing)}", field="forecast",
            hint="pass the spec the forecast was computed from")])
    summary = forecast.summary.set_index(["node", "state"])["mean"]
    probabilities = {}
    for n in spec.node_names:
        s = positive_state(spec.states[n])
        probabilities[n] = (float(summary.loc[(n, s)]) if (n, s) in summary.index else
                            float(prob.sel(outcome=f"{n}={s}").mean()))
    observed = _findings(attrs, spec)
    fig = draw_model(spec, ax=ax, probabilities=probabilities, observed=observed)
    axes = ax if ax is not None else fig.axes[0]
    as_of = attrs.get("as_of")
    axes.set_title(f"{spec.model.title}: posterior" + (f" as of {as_of}" if as_of else ""))
    return fig


def _findings(attrs: dict, spec: ModelSpec) -> dict[str, str]:
    """Short notes of the target case's evidence on each node of `spec`."""
    cases = attrs.get("evidence") or [{}]
    target = cases[0] if isinstance(cases, list) and cases else {}
    notes: dict[str, str] = {}
    for n in target.get("soft", {}):
        notes[n] = "soft evidence"
    for r in target.get("reports", []):
        if isinstance(r, dict) and "node" in r:
            notes.setdefault(r["node"], "reported")
    for n in target.get("counts", {}):
        notes.setdefault(n, "count observed")
    for n, s in target.get("evidence", {}).items():
        notes[n] = f"observed: {s}"
    for n, s in (attrs.get("interventions") or {}).items():
        notes[n] = f"set: {s}"
    return {n: note for n, note in notes.items() if n in spec.nodes}

