"""Figures of forecasts: scenarios, trajectories, the network, sensitivity and diagnostics.

Every function takes numbers computed elsewhere (a :class:`~forecast.inference.result.Forecast`, a
run history, a table from :mod:`forecast.analysis.explain` or :mod:`forecast.analysis.scoring`) and
draws them; none runs inference. The single-panel functions take ``ax=`` (draw there and return
``ax.figure``; without it they make their own :class:`~matplotlib.figure.Figure`) and return the
Figure. Nothing calls ``plt.show()`` or touches pyplot's figure list, and the package style
(:mod:`forecast.report.style`) is applied only while a function draws.

=====================  =========================================================================
function               draws
=====================  =========================================================================
plot_scenarios         each scenario's posterior mean with 50% and 90% intervals over the
                       ICD 203 bands
plot_trajectory        a scenario's mean and 90% band over as-of dates, evidence on the time axis
plot_network           the model graph, nodes filled by probability, edges by sign and strength
plot_tornado           which parameters move a scenario most (lowest vs highest decile)
plot_waterfall         what moved a scenario between two runs, in log-odds
plot_reliability       calibration: forecast probability against observed frequency
plot_diagnostics       NUTS: density and rank plots; importance sampling: weights, ESS, MCSE
save_figure            PNG, SVG or PDF by suffix, written atomically
=====================  =========================================================================

Bad input (an unknown node or state, a missing column, a probability outside (0, 1)) raises
one :class:`~forecast.errors.ForecastError` listing every problem.

Examples
--------
>>> from forecast.report.plots import plot_scenarios, save_figure
>>> save_figure(plot_scenarios(forecast), "scenarios.svg")      # doctest: +SKIP
"""

from __future__ import annotations

import os
import textwrap
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import arviz as az
import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib import MatplotlibDeprecationWarning
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import ScaledTranslation
from scipy import special

from forecast._io import atomic_write
from forecast.errors import ForecastError, Problem, did_you_mean
from forecast.inference.importance import KHAT_MAX, MIN_ESS
from forecast.inference.result import Forecast
from forecast.model.priors import PROBABILITY_BANDS
from forecast.model.schema import ModelSpec
from forecast.model.words import ICD_BAND_COLOURS
from forecast.report.graph_plot import draw_model, positive_state
from forecast.report.style import EFFECT_COLOURS, INK, MUTED, styled, with_style

__all__ = [
    "plot_diagnostics",
    "plot_network",
    "plot_reliability",
    "plot_scenarios",
    "plot_tornado",
    "plot_trajectory",
    "plot_waterfall",
    "save_figure",
]

FORMATS = (".png", ".svg", ".pdf")
"""File types :func:`save_figure` writes."""

_LOW_DECILE, _HIGH_DECILE = "#aab7c4", INK
_EVENT_COLOUR = "#b9770e"


# ------------------------------------------------------------------------------ shared helpers
def _axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """The given axes and their figure, or a new constrained-layout figure with one axes."""
    if ax is not None:
        return ax.get_figure(root=True), ax  # type: ignore[return-value]
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _check_table(table: object, columns: Sequence[str], what: str,
                 numeric: Sequence[str] = ()) -> pd.DataFrame:
    """The table if it is a non-empty DataFrame with `columns`, finite in `numeric`; else raise."""
    if not isinstance(table, pd.DataFrame):
        raise ForecastError(f"{what}: expected a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ForecastError(f"{what}: cannot plot this table", [Problem(
            what, f"missing column(s) {', '.join(missing)}",
            f"the table needs columns {', '.join(columns)}; it has "
            f"{', '.join(map(str, table.columns)) or 'none'}")])
    if table.empty:
        raise ForecastError(f"{what}: the table has no rows, nothing to plot")
    problems = []
    for column in numeric:
        values = pd.to_numeric(table[column], errors="coerce")
        bad = table.index[~np.isfinite(values.to_numpy(dtype=float))]
        if len(bad):
            problems.append(Problem(
                f"{what}.{column}", f"not a finite number in row(s) {', '.join(map(str, bad[:8]))}"
                + (" …" if len(bad) > 8 else ""), "fill in or drop those rows"))
    if problems:
        raise ForecastError(f"{what}: cannot plot this table", problems)
    return table


def _check_probability(value: object, what: str, *, open_interval: bool = False) -> float:
    """`value` as a float in [0, 1] (or (0, 1)); a ForecastError otherwise."""
    try:
        p = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        p = float("nan")
    ok = 0.0 < p < 1.0 if open_interval else 0.0 <= p <= 1.0
    if not ok:
        interval = "(0, 1)" if open_interval else "[0, 1]"
        raise ForecastError(f"{what} must be a probability in {interval}, got {value!r}")
    return p


def _title(fig: Figure, ax: Axes, owned: bool, text: str) -> None:
    """Title a panel whose long tick labels sit left of it.

    On a figure of its own the title starts at the figure's left edge (it may run over the
    labels, not off the figure); on a caller's axes it is the axes title, wrapped.
    """
    if owned:
        fig.suptitle(text, x=0.01, ha="left")
    else:
        ax.set_title(_wrap(text, 60))


def _below(ax: Axes, inches: float) -> dict:
    """Legend placement: centred under the axes, `inches` below their bottom edge."""
    fig = ax.get_figure(root=True)
    shift = ScaledTranslation(0, -inches, fig.dpi_scale_trans)  # type: ignore[union-attr]
    return {"loc": "upper center", "bbox_to_anchor": (0.5, 0.0),
            "bbox_transform": ax.transAxes + shift}


def _wrap(text: str, width: int) -> str:
    """`text` wrapped at spaces into lines of about `width` characters (words never split)."""
    return "\n".join(textwrap.wrap(str(text), width, break_long_words=False)) or str(text)


def _shade_bands(ax: Axes, vertical: bool, alpha: float = 1.0) -> None:
    """ICD 203 bands behind the data: vertical spans over x, or horizontal ones over y."""
    for word, (low, high) in PROBABILITY_BANDS.items():
        span = ax.axvspan if vertical else ax.axhspan
        span(low, high, color=ICD_BAND_COLOURS[word], alpha=alpha, zorder=0, linewidth=0)


# ------------------------------------------------------------------------------ scenarios
def _scenario_table(forecast: Forecast, nodes: Sequence[str] | None) -> pd.DataFrame:
    """Mean and 50% / 90% HDIs of each requested outcome (from the summary, else the draws)."""
    prob = forecast.idata.posterior["prob"]
    all_outcomes = [str(o) for o in prob["outcome"].values]
    states: dict[str, list[str]] = {}
    for outcome in all_outcomes:
        node, state = outcome.split("=", 1)
        states.setdefault(node, []).append(state)
    if nodes is None:
        scenarios = forecast.attrs.get("scenarios")
        summary_nodes = list(dict.fromkeys(forecast.summary["node"]))
        nodes = list(scenarios) if scenarios else summary_nodes
    elif isinstance(nodes, str):
        nodes = [nodes]
    reported = set(forecast.summary["node"])
    wanted, problems = [], []
    for i, item in enumerate(nodes):
        node, _, state = str(item).partition("=")
        if node not in states:
            problems.append(Problem(f"nodes[{i}]", f"'{node}' is not a node of this forecast",
                                    did_you_mean(node, states)))
        elif state and state not in states[node]:
            problems.append(Problem(f"nodes[{i}]", f"'{state}' is not a state of {node}",
                                    did_you_mean(state, states[node])
                                    or f"states: {', '.join(states[node])}"))
        elif state:
            wanted.append((node, state))
        elif node not in reported:  # observed: the state it was observed in
            means = prob.sel(outcome=[f"{node}={x}" for x in states[node]]).mean(("chain", "draw"))
            wanted.append((node, states[node][int(np.argmax(means.values))]))
        elif len(states[node]) == 2:
            wanted.append((node, positive_state(states[node])))
        else:
            wanted += [(node, s) for s in states[node]]
    if problems:
        raise ForecastError("cannot plot these scenarios", problems)
    labels = [f"{n}={s}" for n, s in wanted]
    draws = prob.sel(outcome=labels).transpose("chain", "draw", "outcome").values
    hdi50 = az.hdi(draws, hdi_prob=0.5)
    hdi90 = az.hdi(draws, hdi_prob=0.9)
    summary = forecast.summary.set_index(["node", "state"])
    rows = []
    for k, (node, state) in enumerate(wanted):
        reported = (node, state) in summary.index
        row = summary.loc[(node, state)] if reported else None
        rows.append({
            "node": node, "state": state, "observed": not reported,
            "mean": float(row["mean"]) if reported else float(draws[..., k].mean()),
            "hdi_25%": hdi50[k, 0], "hdi_75%": hdi50[k, 1],
            "hdi_5%": float(row["hdi_5%"]) if reported else hdi90[k, 0],
            "hdi_95%": float(row["hdi_95%"]) if reported else hdi90[k, 1],
        })
    return pd.DataFrame(rows)


@with_style
def plot_scenarios(forecast: Forecast, nodes: Sequence[str] | None = None,
                   ax: Axes | None = None) -> Figure:
    """Scenario probabilities: posterior mean, 50% and 90% intervals, over the ICD 203 bands.

    Parameters
    ----------
    forecast : Forecast
        A posterior forecast.
    nodes : sequence of str, optional
        Nodes (``"caliphate_declared"``) or outcomes (``"afghan_conflict=worsening"``). A binary
        node shows its notable state (``yes``, else its last state), a larger node every state.
        Default: ``forecast.attrs["scenarios"]`` if recorded, else every reported node.
    ax : matplotlib Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ForecastError
        If a node or state is not in the forecast.
    """
    if not isinstance(forecast, Forecast):
        raise ForecastError(f"plot_scenarios needs a Forecast, got {type(forecast).__name__}")
    table = _scenario_table(forecast, nodes)
    owned = ax is None
    fig, ax = _axes(ax, (7.5, 1.5 + 0.42 * len(table)))
    _shade_bands(ax, vertical=True)
    y = np.arange(len(table))[::-1]
    seen = table["observed"].to_numpy()
    shown, ys = table[~seen], y[~seen]
    ax.hlines(ys, shown["hdi_5%"], shown["hdi_95%"], color=INK, linewidth=1.4, zorder=3)
    ax.hlines(ys, shown["hdi_25%"], shown["hdi_75%"], color=INK, linewidth=6.5, zorder=3,
              capstyle="butt")
    ax.scatter(shown["mean"], ys, s=42, color="white", edgecolor=INK, linewidth=1.6, zorder=4)
    for yi, (_, row) in zip(y, table.iterrows(), strict=True):
        if row["observed"]:
            ax.text(0.02, yi, f"observed: {row['state']}", va="center", fontsize=8,
                    fontstyle="italic", color=INK)
        else:
            ax.annotate(f"{row['mean']:.2f}", (row["hdi_95%"], yi), xytext=(5, 0),
                        textcoords="offset points", va="center", fontsize=8, color=INK)
    ax.set_yticks(y, [n if o else f"{n} = {s}"
                      for n, s, o in table[["node", "state", "observed"]].itertuples(False)])
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.7, len(table) - 0.3)
    ax.grid(visible=False)
    ax.set_xlabel("probability (posterior over the model's uncertain probabilities)")
    top = ax.secondary_xaxis("top")
    top.set_xticks([(lo + hi) / 2 for lo, hi in PROBABILITY_BANDS.values()],
                   list(PROBABILITY_BANDS), rotation=35, ha="left", fontsize=7.5)
    top.tick_params(length=0, pad=1)
    top.spines["top"].set_visible(False)
    ax.legend(handles=[
        Line2D([], [], marker="o", linestyle="", markerfacecolor="white", color=INK,
               label="mean"),
        Line2D([], [], color=INK, linewidth=6.5, label="50% interval"),
        Line2D([], [], color=INK, linewidth=1.4, label="90% interval"),
    ], ncol=3, **_below(ax, 0.45))
    as_of = forecast.attrs.get("as_of")
    name = forecast.attrs.get("model_name", "")
    _title(fig, ax, owned, f"{name}: scenario probabilities" + (f" as of {as_of}" if as_of
                                                                  else ""))
    return fig


# ------------------------------------------------------------------------------ trajectory
def _event_rows(events: pd.DataFrame, start: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame:
    events = _check_table(events, ("date", "id", "node"), "events")
    # ISO, as the error says (a guessed format warns, and may read a date the wrong way)
    out = events.assign(date=pd.to_datetime(events["date"], format="ISO8601",
                                            errors="coerce"))
    bad = out.index[out["date"].isna()]
    if len(bad):
        raise ForecastError("events: cannot plot these rows", [Problem(
            "events.date", f"not a date in row(s) {', '.join(map(str, bad[:8]))}",
            "use ISO dates, YYYY-MM-DD")])
    return out[(out["date"] >= start) & (out["date"] <= stop)].sort_values("date")


def _place_labels(x: np.ndarray, widths: np.ndarray, priority: np.ndarray,
                  rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Row of each label so that labels in one row do not overlap, and which end it hangs from.

    Labels are placed in order of `priority` (highest first), each in the first row where it
    fits; a label spans ``[x, x + width]`` (axes fractions), or ``[x - width, x]`` where it
    would run past the right edge.

    Returns
    -------
    row : ndarray of int
        0 … rows - 1, or -1 where there was no room.
    right : ndarray of bool
        Whether the label ends at its x (right-aligned) instead of starting there.
    """
    placed: list[list[tuple[float, float]]] = [[] for _ in range(rows)]
    row = np.full(len(x), -1)
    right = x + widths > 1.0
    for i in sorted(range(len(x)), key=lambda i: (-priority[i], x[i])):
        span = (x[i] - widths[i], x[i]) if right[i] else (x[i], x[i] + widths[i])
        for r in range(rows):
            if all(span[1] < a or span[0] > b for a, b in placed[r]):
                placed[r].append(span)
                row[i] = r
                break
    return row, right


@with_style
def plot_trajectory(history: pd.DataFrame, node: str, state: str,
                    events: pd.DataFrame | None = None, ax: Axes | None = None) -> Figure:
    """A scenario over runs or a replay: mean line and 90% band over as-of dates.

    Parameters
    ----------
    history : pandas.DataFrame
        Columns as_of, node, state, mean, hdi_5%, hdi_95% (:func:`forecast.ops.store.history`, a
        replay). When several rows share an as-of date the last one is drawn.
    node, state : str
        The scenario.
    events : pandas.DataFrame, optional
        Ledger rows (columns date, id, node; state if present) marked on the time axis, in a
        lane under the plot: rows about `node` in colour with a dotted line across the plot and
        labelled ``id state``; other rows as grey ticks, labelled by id where there is room.
        Rows outside the history's dates are left out.
    ax : matplotlib Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ForecastError
        If columns are missing, or the history has no rows of ``node = state``.
    """
    history = _check_table(history, ("as_of", "node", "state", "mean", "hdi_5%", "hdi_95%"),
                           "history")
    rows = history[(history["node"] == node) & (history["state"] == state)]
    if rows.empty:
        nodes = sorted(set(history["node"].astype(str)))
        states = sorted(set(history.loc[history["node"] == node, "state"].astype(str)))
        hint = (f"states of {node} in it: {', '.join(states)}" if states else
                did_you_mean(node, nodes) or f"nodes in it: {', '.join(nodes)}")
        raise ForecastError(f"history has no rows for {node} = {state}",
                            [Problem("history", f"no rows with node={node}, state={state}", hint)])
    rows = _check_table(rows, ("mean", "hdi_5%", "hdi_95%"), "history",
                        numeric=("mean", "hdi_5%", "hdi_95%"))
    when = pd.to_datetime(rows["as_of"], format="ISO8601", errors="coerce")
    if when.isna().any():
        raise ForecastError("history: cannot plot these rows", [Problem(
            "history.as_of", f"not a date: {rows.loc[when.isna(), 'as_of'].iloc[0]!r}",
            "as_of must be an ISO date")])
    rows = rows.assign(as_of=when).drop_duplicates("as_of", keep="last").sort_values("as_of")
    fig, ax = _axes(ax, (8.0, 4.2))
    start, stop = rows["as_of"].min(), rows["as_of"].max()
    pad = max((stop - start) * 0.03, pd.Timedelta(days=20))
    _shade_bands(ax, vertical=False, alpha=0.55)
    ax.fill_between(rows["as_of"], rows["hdi_5%"], rows["hdi_95%"], color=INK, alpha=0.18,
                    linewidth=0, zorder=2, label="90% interval")
    ax.plot(rows["as_of"], rows["mean"], color=INK, marker="o", markersize=3.5, zorder=3,
            label="mean")
    upper = float(rows["hdi_95%"].max()) + 0.04
    top = min([hi for _lo, hi in PROBABILITY_BANDS.values() if hi >= upper] or [1.0])
    top = 1.0 if top > 0.95 else top
    ax.set_xlim(start - pad, stop + pad)
    lane = 0.0
    handles, _ = ax.get_legend_handles_labels()
    if events is not None:
        lane = 0.16 * top
        marked = _event_rows(events, start - pad, stop + pad)
        handles += _draw_events(ax, fig, marked, node, lane, top)
    ax.set_ylim(-lane, top + 0.02 * (top == 1.0))
    ax.set_yticks([t for t in ax.get_yticks() if -1e-9 <= t <= top + 1e-9])
    ax.spines["left"].set_bounds(0, top)
    if lane:
        ax.axhline(0, color="#999999", linewidth=0.8, zorder=1)
    ax.set_ylabel(f"P({node} = {state})")
    ax.grid(axis="x", visible=False)
    ax.legend(handles=handles, ncol=len(handles), **_below(ax, 0.3))
    ax.set_title(f"{node} = {state}: forecast by as-of date")
    return fig


def _draw_events(ax: Axes, fig: Figure, marked: pd.DataFrame, node: str, lane: float,
                 top: float) -> list[Line2D]:
    """Ticks and non-overlapping labels of ledger rows in the lane ``[-lane, 0]``.

    The axes' x limits must be set: labels are placed in axes fractions.
    """
    if marked.empty:
        return []
    own = (marked["node"] == node).to_numpy()
    states = marked["state"] if "state" in marked else pd.Series("", index=marked.index)
    text = [(f"{i} {s}" if isinstance(s, str) and s else f"{i} soft") if o else str(i)
            for i, s, o in zip(marked["id"], states, own, strict=True)]
    dates = marked["date"].to_numpy()
    x_lo, x_hi = ax.get_xlim()
    frac = (mdates.date2num(dates) - x_lo) / (x_hi - x_lo)
    width_in = fig.get_figwidth() * ax.get_position().width
    widths = np.array([0.6 * 6.5 / 72 * (len(t) + 1) / width_in for t in text])
    rows_of, right = _place_labels(frac, widths, own.astype(int), rows=3)
    ax.vlines(dates, -0.14 * lane, 0, colors=np.where(own, _EVENT_COLOUR, MUTED).tolist(),
              linewidth=np.where(own, 1.6, 0.9), zorder=3)
    if own.any():
        ax.vlines(dates[own], 0, top, colors=_EVENT_COLOUR, linewidth=0.8, linestyles=":",
                  zorder=1)
    for date, label, row, is_own, r in zip(dates, text, rows_of, own, right, strict=True):
        if row >= 0:
            ax.text(date, -lane * (0.2 + 0.27 * row), label, fontsize=6.5, va="top",
                    ha="right" if r else "left",
                    color=_EVENT_COLOUR if is_own else "#566573", zorder=4,
                    fontweight="bold" if is_own else "normal", clip_on=True)
    handles = []  # legend entries only for the marks drawn
    if own.any():
        handles.append(Line2D([], [], color=_EVENT_COLOUR, linestyle=":",
                              label=f"evidence on {node}"))
    if not own.all():
        handles.append(Line2D([], [], color=MUTED, marker="|", linestyle="", markersize=8,
                              label="other evidence"))
    return handles


# ------------------------------------------------------------------------------ network
@with_style
def plot_network(spec: ModelSpec, forecast: Forecast | None = None,
                 ax: Axes | None = None) -> Figure:
    """The model graph, nodes filled by posterior probability, edges by sign and strength.

    Each node shows the probability of its notable state (``yes``, else its last state) with
    a colour bar; nodes with evidence in the forecast's target case are outlined (dashed) and
    say what was observed. Without a forecast, nodes are filled by kind
    (:func:`forecast.report.graph_plot.draw_model`).

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
            "forecast", f"model '{attrs.get('model_name')}', not '{spec.name}'",
            "pass the spec the forecast was computed from")])
    prob = forecast.idata.posterior["prob"]
    outcomes = {str(o) for o in prob["outcome"].values}
    missing = [n for n in spec.node_names
               if f"{n}={positive_state(spec.states[n])}" not in outcomes]
    if missing:
        raise ForecastError("plot_network: the forecast lacks nodes of the model", [Problem(
            "forecast", f"no probabilities for {', '.join(missing)}",
            "pass the spec the forecast was computed from")])
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


# ------------------------------------------------------------------------------ tornado
@with_style
def plot_tornado(table: pd.DataFrame, base: float, title: str | None = None, top: int = 10,
                 ax: Axes | None = None) -> Figure:
    """Tornado: the parameters whose uncertainty moves a scenario most.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns parameter, label, low, high, swing: the scenario's probability among posterior
        draws with the parameter in its lowest (`low`) and highest (`high`) decile, and
        ``swing = high - low`` (:mod:`forecast.analysis.explain`).
    base : float
        The scenario's posterior mean: where the bars start.
    title : str, optional
        Axes title.
    top : int
        Show the `top` rows of largest ``|swing|``.
    ax : matplotlib Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ForecastError
        If columns are missing or values are not probabilities.
    """
    table = _check_table(table, ("parameter", "label", "low", "high", "swing"), "tornado table",
                         numeric=("low", "high", "swing"))
    base = _check_probability(base, "base")
    if int(top) < 1:
        raise ForecastError(f"top must be at least 1, got {top}")
    rows = table.reindex(table["swing"].abs().sort_values(ascending=False).index).head(int(top))
    owned = ax is None
    fig, ax = _axes(ax, (7.5, 1.3 + 0.42 * len(rows)))
    y = np.arange(len(rows))[::-1]
    low, high = rows["low"].to_numpy(float), rows["high"].to_numpy(float)
    # the two deciles side by side in each row, so neither hides the other when both fall
    # on the same side of the base
    ax.barh(y + 0.16, low - base, left=base, height=0.3, color=_LOW_DECILE, zorder=2,
            label="parameter in its lowest decile")
    ax.barh(y - 0.16, high - base, left=base, height=0.3, color=_HIGH_DECILE, zorder=2,
            label="parameter in its highest decile")
    for yi, lo, hi in zip(y, low, high, strict=True):
        for value, offset in ((lo, 0.16), (hi, -0.16)):
            right = value >= base
            ax.annotate(f"{value:.2f}", (value, yi + offset), xytext=(3 if right else -3, 0),
                        textcoords="offset points", va="center", fontsize=7,
                        ha="left" if right else "right")
    ax.axvline(base, color="#17202a", linewidth=1.0, zorder=3)
    labels = [_wrap(lab if isinstance(lab, str) and lab else par, 46)
              for lab, par in zip(rows["label"], rows["parameter"], strict=True)]
    ax.set_yticks(y, labels, fontsize=8)
    ax.grid(axis="y", visible=False)
    spread = max(np.abs(np.r_[low, high] - base).max(), 0.01)
    ax.set_xlim(max(0.0, base - 1.3 * spread), min(1.0, base + 1.3 * spread))
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel(f"scenario probability (posterior mean {base:.2f}: the vertical line)")
    ax.legend(ncol=2, **_below(ax, 0.45))
    _title(fig, ax, owned, title or "What moves the scenario: posterior draws by parameter decile")
    return fig


# ------------------------------------------------------------------------------ waterfall
@with_style
def plot_waterfall(table: pd.DataFrame, before: float, after: float, title: str | None = None,
                   ax: Axes | None = None, top: int = 12) -> Figure:
    """Waterfall: what moved a scenario from one run to the next, step by step in log-odds.

    Bars run from the earlier run's log-odds through each row's contribution (red raises,
    blue lowers) to the later run's; whatever the rows do not account for (interactions)
    is one bar before the total. The top axis reads the same positions as probabilities.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns row_id, label, contribution (log-odds of the scenario), in the order to draw.
    before, after : float
        The scenario's probability in the earlier and the later run, in (0, 1).
    title : str, optional
        Axes title.
    ax : matplotlib Axes, optional
        Where to draw.
    top : int
        Draw the `top` rows of largest ``|contribution|``; the others are summed in one bar.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ForecastError
        If columns are missing or `before` / `after` are not in (0, 1).
    """
    table = _check_table(table, ("row_id", "label", "contribution"), "waterfall table",
                         numeric=("contribution",))
    before = _check_probability(before, "before", open_interval=True)
    after = _check_probability(after, "after", open_interval=True)
    steps = [(_wrap(f"{r} {lab}", 52), float(c)) for r, lab, c
             in zip(table["row_id"], table["label"], table["contribution"], strict=True)]
    if len(steps) > top:
        keep = set(np.argsort([-abs(c) for _, c in steps], kind="stable")[:top])
        rest = [c for i, (_, c) in enumerate(steps) if i not in keep]
        steps = [s for i, s in enumerate(steps) if i in keep]
        steps.append((f"{len(rest)} other rows", float(sum(rest))))
    start, stop = special.logit(before), special.logit(after)
    residual = stop - start - sum(c for _, c in steps)
    if abs(residual) > 1e-3:
        steps.append(("interactions and rows not listed", residual))
    owned = ax is None
    fig, ax = _axes(ax, (8.0, 1.8 + 0.42 * (len(steps) + 2)))
    y = np.arange(len(steps) + 2)[::-1]
    ax.barh(y[0], 0, left=start, height=0.62)
    level = start
    for yi, (_, c) in zip(y[1:-1], steps, strict=True):
        colour = EFFECT_COLOURS["raises" if c >= 0 else "lowers"]
        ax.barh(yi, c, left=level, height=0.62, color=colour, zorder=2)
        ax.plot([level, level], [yi + 0.31, yi + 0.69], color="#566573", linewidth=0.7,
                linestyle=":", zorder=1)
        # never "-0.00": tiny shares in scientific notation, none as 0
        text = f"{c:+.2f}" if abs(c) >= 0.005 else f"{c:+.0e}" if c else "0"
        ax.annotate(text, (max(level, level + c), yi), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=7.5)
        level += c
    ax.plot([stop, stop], [y[-1] + 0.31, y[-1] + 0.69], color="#566573", linewidth=0.7,
            linestyle=":", zorder=1)
    for yi, x, p in ((y[0], start, before), (y[-1], stop, after)):
        ax.plot([x], [yi], marker="D", markersize=7, color=INK, zorder=3)
        ax.annotate(f"p = {p:.2f}", (x, yi), xytext=(6, 0), textcoords="offset points",
                    va="center", fontsize=8, fontweight="bold")
    ax.set_yticks(y, ["before", *(lab for lab, _ in steps), "after"], fontsize=8)
    ax.grid(axis="y", visible=False)
    ax.set_ylim(y[-1] - 0.6, y[0] + 0.6)
    levels = np.cumsum([start, *(c for _, c in steps)])
    lo, hi = float(levels.min()), float(levels.max())
    pad = max(0.15 * (hi - lo), 0.25)
    ax.set_xlim(lo - pad, hi + 2 * pad)
    ax.set_xlabel("log-odds of the scenario (top axis: the same as probability)")
    prob_axis = ax.secondary_xaxis("top", functions=(special.expit, special.logit))
    ticks = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99]
    inside = [t for t in ticks if lo - pad <= special.logit(t) <= hi + 2 * pad]
    prob_axis.set_xticks(inside, [f"{t:g}" for t in inside])
    ax.legend(handles=[Patch(color=EFFECT_COLOURS["raises"], label="raises"),
                       Patch(color=EFFECT_COLOURS["lowers"], label="lowers")],
              loc="lower right")
    _title(fig, ax, owned, title or "What moved the scenario between the runs")
    return fig


# ------------------------------------------------------------------------------ reliability
@with_style
def plot_reliability(calibration: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """Reliability diagram: observed frequency against forecast probability, per forecaster.

    Parameters
    ----------
    calibration : pandas.DataFrame
        Columns forecaster, bin_low, bin_high, n, forecast_mean, observed, observed_low,
        observed_high (one row per forecaster and probability bin;
        :mod:`forecast.analysis.scoring`).
    ax : matplotlib Axes, optional
        Where to draw. The bin counts are drawn as bars along the bottom on a twin axis.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ForecastError
        If columns are missing or values are not finite.
    """
    numeric = ("bin_low", "bin_high", "n", "forecast_mean", "observed", "observed_low",
               "observed_high")
    table = _check_table(calibration, ("forecaster", *numeric), "calibration table",
                         numeric=numeric)
    fig, ax = _axes(ax, (5.6, 5.4))
    ax.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1, zorder=1,
            label="perfect calibration")
    counts = ax.twinx()
    groups = list(table.groupby("forecaster", sort=False))
    cycle = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    colours = [cycle[k % len(cycle)] for k in range(len(groups))]
    for k, ((name, rows), colour) in enumerate(zip(groups, colours, strict=True)):
        rows = rows.sort_values("bin_low")
        error = np.clip([rows["observed"] - rows["observed_low"],
                         rows["observed_high"] - rows["observed"]], 0, None)
        ax.errorbar(rows["forecast_mean"], rows["observed"], yerr=error, color=colour,
                    marker="o", markersize=4.5, linewidth=1.3, zorder=3, label=str(name))
        width = (rows["bin_high"] - rows["bin_low"]) / len(groups)
        counts.bar(rows["bin_low"] + width * (k + 0.5), rows["n"], width=width * 0.9,
                   color=colour, alpha=0.3, linewidth=0)
    most = float(table["n"].max())
    counts.set_ylim(0, most * 4.5)
    counts.set_yticks([t for t in MaxNLocator(4, integer=True).tick_values(0, most)
                       if t <= most])
    counts.set_ylabel("forecasts per bin (bars)", color="#566573", loc="bottom")
    counts.grid(False)
    counts.tick_params(axis="y", colors="#566573", labelsize=7.5)
    ax.set_zorder(counts.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_box_aspect(1)
    ax.set_xlabel("forecast probability (mean within bin)")
    ax.set_ylabel("observed frequency (90% interval)")
    ax.legend(loc="upper left")
    ax.set_title("Reliability: do events happen as often as forecast?")
    return fig


# ------------------------------------------------------------------------------ diagnostics
@with_style
def plot_diagnostics(forecast: Forecast, var_names: Sequence[str] = ("theta",),
                     max_params: int = 8) -> Figure:
    """Sampler diagnostics of a forecast.

    * NUTS: for the `max_params` components of `var_names` with the worst R-hat, each chain's
      density (left) and rank bars (right; uniform when the chains agree), with R-hat and
      bulk ESS in each title and the divergences in the figure title.
    * Importance sampling: the largest normalised weights against the uniform weight, with the
      Pareto k̂ (reliable below 0.7); the share of weight carried by the top draws, with the
      effective sample size; and each reported probability's Monte Carlo standard error.
      `var_names` and `max_params` are not used.

    Parameters
    ----------
    forecast : Forecast
        A posterior forecast.
    var_names : sequence of str
        Posterior variables to inspect (NUTS): ``theta`` and / or ``prob``.
    max_params : int
        How many components to show (NUTS).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ForecastError
        If a variable is not in the posterior, or the forecast lacks what its method records.
    """
    if not isinstance(forecast, Forecast):
        raise ForecastError(f"plot_diagnostics needs a Forecast, got {type(forecast).__name__}")
    method = str(forecast.attrs.get("method", ""))
    if method.startswith("nuts"):
        return _nuts_diagnostics(forecast, var_names, max_params)
    if "importance" not in forecast.idata.groups():
        raise ForecastError("plot_diagnostics: nothing to show", [Problem(
            "forecast", f"method '{method or 'unknown'}' and no importance-weight group",
            "diagnostics are drawn for NUTS forecasts and importance-sampling forecasts")])
    return _importance_diagnostics(forecast)


def _worst_components(posterior, var_names: Iterable[str], n: int) -> list[tuple[str, str, str]]:
    """(variable, dimension, coordinate) of the `n` non-constant components of largest R-hat."""
    problems, found = [], []
    for i, var in enumerate(var_names):
        if var not in posterior:
            problems.append(Problem(f"var_names[{i}]", f"'{var}' is not a posterior variable",
                                    did_you_mean(var, posterior.data_vars)))
            continue
        data = posterior[var]
        (dim,) = [d for d in data.dims if d not in ("chain", "draw")]
        values = data.transpose("chain", "draw", dim).values
        varying = np.ptp(values.reshape(-1, values.shape[-1]), axis=0) > 0
        rhat = np.full(values.shape[-1], -np.inf)
        if varying.any():
            rhat[varying] = _rhat(values[..., varying])
        found += [(float(r), var, dim, str(c))
                  for r, c, v in zip(rhat, data[dim].values, varying, strict=True) if v]
    if problems:
        raise ForecastError("plot_diagnostics: cannot plot these variables", problems)
    found.sort(key=lambda t: -t[0])
    return [(var, dim, c) for _, var, dim, c in found[:max(int(n), 1)]]


def _per_component(statistic, values: np.ndarray) -> np.ndarray:
    """An arviz diagnostic (R-hat, ESS) of each component of draws ``(chain, draw, k)``."""
    data = xr.Dataset({"x": (("chain", "draw", "k"), values)})
    return statistic(data)["x"].values


def _rhat(values: np.ndarray) -> np.ndarray:
    return _per_component(az.rhat, values)


def _ess(values: np.ndarray) -> np.ndarray:
    return _per_component(az.ess, values)


def _nuts_diagnostics(forecast: Forecast, var_names: Sequence[str], max_params: int) -> Figure:
    posterior = forecast.idata.posterior
    chosen = _worst_components(posterior, var_names, max_params)
    if not chosen:
        raise ForecastError("plot_diagnostics: every component of "
                            f"{', '.join(var_names)} is constant; nothing to diagnose")
    fig = Figure(figsize=(9.0, 0.6 + 1.55 * len(chosen)), layout="constrained")
    axes = fig.subplots(len(chosen), 2, squeeze=False, width_ratios=(1, 1.4))
    for (var, dim, coord), row in zip(chosen, axes, strict=True):
        with warnings.catch_warnings():
            # arviz 0.23 hands matplotlib >= 3.11 a dict alias map, which it deprecates; the
            # warning is about arviz's internals, not anything a caller can change
            warnings.filterwarnings("ignore", "Passing a dict or None as alias_mapping",
                                    MatplotlibDeprecationWarning)
            az.plot_trace(forecast.idata, var_names=[var], coords={dim: [coord]},
                          kind="rank_bars", compact=False, axes=row[None, :], show=False)
        values = posterior[var].sel({dim: coord}).transpose("chain", "draw").values
        rhat, ess = (float(f(values[..., None])[0]) for f in (_rhat, _ess))
        for a in row:
            a.set_title("")
            a.grid(axis="y", visible=False)
        row[0].set_title(_wrap(coord, 58), fontsize=8, fontweight="normal", loc="left")
        row[1].set_title(f"R-hat {rhat:.3f}   bulk ESS {ess:.0f}", fontsize=8,
                         fontweight="normal", loc="left")
        row[0].tick_params(labelsize=7.5)
        row[1].tick_params(labelsize=7.5)
    for row in axes[:-1]:
        row[1].set_xlabel("")
    d = forecast.attrs.get("diagnostics", {})
    status = "publishable" if forecast.publishable else "NOT publishable"
    fig.suptitle(f"NUTS diagnostics ({status}): {d.get('chains', '?')} chains, "
                 f"{d.get('divergences', '?')} divergences, largest R-hat "
                 f"{d.get('max_rhat', float('nan')):.3f}\nThe {len(chosen)} components of "
                 "largest R-hat. Left: density by chain (grey ticks: divergent draws).\n"
                 "Right: rank bars (flat when the chains agree)", fontsize=9, ha="left", x=0.01)
    return fig


def _importance_diagnostics(forecast: Forecast) -> Figure:
    log_w = forecast.idata["importance"]["log_weight"].values
    w = np.exp(log_w[np.isfinite(log_w)])
    w = np.sort(w / w.sum())[::-1]
    d = forecast.attrs.get("diagnostics", {})
    khat, ess = float(d.get("khat", np.nan)), float(d.get("ess", 1.0 / np.sum(w**2)))
    fig = Figure(figsize=(11.0, 3.9), layout="constrained")
    ax_w, ax_c, ax_m = fig.subplots(1, 3, width_ratios=(1, 1, 1.15))
    rank = np.arange(1, len(w) + 1)
    ax_w.loglog(rank, w, color=INK, linewidth=1.4)
    ax_w.axhline(1 / len(w), color=MUTED, linestyle="--", linewidth=1,
                 label="equal weights (1 / draws)")
    verdict = ("not needed: no evidence, all weights equal" if not np.isfinite(khat) else
               f"{khat:.2f}: " + ("reliable" if khat <= KHAT_MAX else "UNRELIABLE")
               + f" (threshold {KHAT_MAX})")
    ax_w.set_title(f"Largest weights\nPareto k̂ {verdict}", fontsize=9)
    ax_w.set_xlabel("draws, heaviest first")
    ax_w.set_ylabel("normalised weight")
    ax_w.legend(loc="lower left")
    ax_c.semilogx(rank, np.cumsum(w), color=INK, linewidth=1.4)
    ax_c.axvline(ess, color=_EVENT_COLOUR, linewidth=1.2,
                 label=f"ESS {ess:,.0f} of {len(w):,} draws (min {MIN_ESS})")
    ax_c.set_ylim(0, 1.02)
    ax_c.set_title("Weight carried by the heaviest draws\n(few draws carrying most: degenerate)",
                   fontsize=9)
    ax_c.set_xlabel("number of heaviest draws")
    ax_c.set_ylabel("share of total weight")
    ax_c.legend(loc="upper left", frameon=True, facecolor="white", edgecolor="none")
    summary = forecast.summary
    by_node = summary.groupby("node", sort=False)["state"].agg(list)
    notable = {n: positive_state(states) for n, states in by_node.items()}
    summary = summary[[notable[n] == s for n, s in zip(summary["node"], summary["state"],
                                                        strict=True)]]
    summary = summary.sort_values("mcse", ascending=False).head(14).iloc[::-1]
    y = np.arange(len(summary))
    ax_m.hlines(y, 0, summary["mcse"], color="#aab7c4", linewidth=2)
    ax_m.plot(summary["mcse"], y, "o", color=INK, markersize=4)
    ax_m.set_yticks(y, [f"{n}={s}" for n, s in zip(summary["node"], summary["state"],
                                                    strict=True)], fontsize=7)
    ax_m.set_xlim(0, None)
    ax_m.grid(axis="y", visible=False)
    ax_m.set_title("Monte Carlo standard error\nof the reported probabilities (largest)",
                   fontsize=9)
    ax_m.set_xlabel("MCSE of the probability")
    status = ("publishable" if forecast.publishable else
              "NOT publishable: " + "; ".join(d.get("failed", [])))
    fig.suptitle(f"Importance-sampling diagnostics ({status})", fontsize=10, ha="left", x=0.01)
    return fig


# ------------------------------------------------------------------------------ saving
def save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Write a figure as PNG, SVG or PDF (by suffix), atomically, at the package style's dpi.

    The file is written to a temporary name in the same folder and renamed into place, so a
    reader never sees half a file. Missing parent folders are created.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : path-like
        Where to write; the suffix chooses the format (:data:`FORMATS`).

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ForecastError
        If the suffix is not a supported format or `fig` is not a Figure.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ForecastError(f"cannot save a figure as '{path.name}'", [Problem(
            str(path), f"unsupported file type '{suffix or '(none)'}'",
            f"use one of {', '.join(FORMATS)}")])
    if not isinstance(fig, Figure):
        raise ForecastError(f"save_figure needs a matplotlib Figure, got {type(fig).__name__}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with styled():
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format=suffix[1:]))
