"""Scenario probabilities of one forecast: means, 50% and 90% intervals over the ICD 203 bands."""

from __future__ import annotations

from collections.abc import Sequence

import arviz as az
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from forecast.errors import ForecastError, Problem, did_you_mean
from forecast.inference.result import Forecast
from forecast.model.priors import PROBABILITY_BANDS
from forecast.report.plots._common import axes_of, legend_below, shade_bands, title_panel
from forecast.report.plots.network import positive_state
from forecast.report.plots.style import INK, with_style

__all__ = ["plot_scenarios"]


def _scenario_table(forecast: Forecast, nodes: Sequence[str] | None) -> pd.DataFrame:
    """Mean and 50% / 90% HDIs of each requested outcome (from the summary, else the draws)."""
    prob = forecast.idata["posterior"]["prob"]
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
            problems.append(Problem(f"'{node}' is not a node of this forecast", field=f"nodes[{i}]",
                                    hint=did_you_mean(node, states)))
        elif state and state not in states[node]:
            problems.append(Problem(f"'{state}' is not a state of {node}", field=f"nodes[{i}]",
                                    hint=did_you_mean(state, states[node])
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
        if (node, state) in summary.index:  # reported: from the summary
            row = summary.loc[(node, state)]
            mean, low, high = float(row["mean"]), float(row["hdi_5%"]), float(row["hdi_95%"])
        else:  # observed: from the draws
            mean, low, high = float(draws[..., k].mean()), hdi90[k, 0], hdi90[k, 1]
        rows.append({
            "node": node, "state": state, "observed": (node, state) not in summary.index,
            "mean": mean,
            "hdi_25%": hdi50[k, 0], "hdi_75%": hdi50[k, 1],
            "hdi_5%": low,
            "hdi_95%": high,
        })
    return pd.DataFrame(rows)


@with_style
def plot_scenarios(forecast: Forecast, nodes: Sequence[str] | str | None = None, *,
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
    fig, ax = axes_of(ax, (7.5, 1.5 + 0.42 * len(table)))
    shade_bands(ax, vertical=True)
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
    ], ncol=3, **legend_below(ax, 0.45))
    as_of = forecast.attrs.get("as_of")
    name = forecast.attrs.get("model_name", "")
    title_panel(fig, ax, owned, f"{name}: scenario probabilities"
                + (f" as of {as_of}" if as_of else ""))
    return fig

