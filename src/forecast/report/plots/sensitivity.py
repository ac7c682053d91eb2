"""Why a scenario is where it is: tornado and waterfall.

Which parameters move a scenario (tornado), and what moved it between two runs (waterfall,
in log-odds).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy import special

from forecast.errors import ForecastError
from forecast.report.plots._common import (
    axes_of,
    check_probability,
    check_table,
    legend_below,
    title_panel,
    wrap,
)
from forecast.report.plots.style import EFFECT_COLOURS, INK, with_style

__all__ = ["plot_tornado", "plot_waterfall"]

_LOW_DECILE, _HIGH_DECILE = "#aab7c4", INK


@with_style
def plot_tornado(table: pd.DataFrame, base: float, *, title: str | None = None,
                 top: int = 10, ax: Axes | None = None) -> Figure:
    """Tornado: the parameters whose uncertainty moves a scenario most.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns parameter, label, low, high, swing: the scenario's probability among posterior
        draws with the parameter in its lowest (`low`) and highest (`high`) decile, and
        ``swing = high - low`` (:mod:`forecast.analysis.sensitivity`).
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
    table = check_table(table, ("parameter", "label", "low", "high", "swing"), "tornado table",
                        numeric=("low", "high", "swing"))
    base = check_probability(base, "base")
    if int(top) < 1:
        raise ForecastError(f"top must be at least 1, got {top}")
    rows = table.reindex(table["swing"].abs().sort_values(ascending=False).index).head(int(top))
    owned = ax is None
    fig, ax = axes_of(ax, (7.5, 1.3 + 0.42 * len(rows)))
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
    labels = [wrap(lab if isinstance(lab, str) and lab else par, 46)
              for lab, par in zip(rows["label"], rows["parameter"], strict=True)]
    ax.set_yticks(y, labels, fontsize=8)
    ax.grid(axis="y", visible=False)
    spread = max(np.abs(np.r_[low, high] - base).max(), 0.01)
    ax.set_xlim(max(0.0, base - 1.3 * spread), min(1.0, base + 1.3 * spread))
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel(f"scenario probability (posterior mean {base:.2f}: the vertical line)")
    ax.legend(ncol=2, **legend_below(ax, 0.45))
    title_panel(fig, ax, owned,
                title or "What moves the scenario: posterior draws by parameter decile")
    return fig


# ------------------------------------------------------------------------------ waterfall
@with_style
def plot_waterfall(table: pd.DataFrame, before: float, after: float, *,
                   title: str | None = None, top: int = 12,
                   ax: Axes | None = None) -> Figure:
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
    table = check_table(table, ("row_id", "label", "contribution"), "waterfall table",
                        numeric=("contribution",))
    before = check_probability(before, "before", open_interval=True)
    after = check_probability(after, "after", open_interval=True)
    steps = [(wrap(f"{r} {lab}", 52), float(c)) for r, lab, c
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
    fig, ax = axes_of(ax, (8.0, 1.8 + 0.42 * (len(steps) + 2)))
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
    title_panel(fig, ax, owned, title or "What moved the scenario between the runs")
    return fig

