"""A scenario over time: mean and 90% band by as-of date, ledger rows on the time axis."""

from __future__ import annotations

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from forecast.errors import ForecastError, Problem, did_you_mean
from forecast.model.priors import PROBABILITY_BANDS
from forecast.ops.update import History
from forecast.report.plots._common import (
    EVENT_COLOUR,
    axes_of,
    check_table,
    legend_below,
    shade_bands,
)
from forecast.report.plots.style import INK, MUTED, with_style

__all__ = ["plot_trajectory"]


def _event_rows(events: pd.DataFrame, start: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame:
    events = check_table(events, ("date", "id", "node"), "events")
    # ISO, as the error says (a guessed format warns, and may read a date the wrong way)
    out = events.assign(date=pd.to_datetime(events["date"], format="ISO8601",
                                            errors="coerce"))
    bad = out.index[out["date"].isna()]
    if len(bad):
        raise ForecastError("events: cannot plot these rows", [Problem(
            f"not a date in row(s) {', '.join(map(str, bad[:8]))}", field="events.date",
            hint="use ISO dates, YYYY-MM-DD")])
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
def plot_trajectory(history: pd.DataFrame | History, node: str, state: str, *,
                    events: pd.DataFrame | None = None, ax: Axes | None = None) -> Figure:
    """A scenario over runs or a replay: mean line and 90% band over as-of dates.

    Parameters
    ----------
    history : History or pandas.DataFrame
        The runs of a model (:func:`forecast.ops.update.history`), or a table with columns
        as_of, node, state, mean, hdi_5%, hdi_95% (its ``frame``, a replay). When several rows
        share an as-of date the last one is drawn.
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
    if isinstance(history, History):
        history = history.frame
    history = check_table(history, ("as_of", "node", "state", "mean", "hdi_5%", "hdi_95%"),
                          "history")
    rows = history[(history["node"] == node) & (history["state"] == state)]
    if rows.empty:
        nodes = sorted(set(history["node"].astype(str)))
        states = sorted(set(history.loc[history["node"] == node, "state"].astype(str)))
        hint = (f"states of {node} in it: {', '.join(states)}" if states else
                did_you_mean(node, nodes) or f"nodes in it: {', '.join(nodes)}")
        raise ForecastError(f"history has no rows for {node} = {state}",
                            [Problem(f"no rows with node={node}, state={state}", hint=hint,
                                     field="history")])
    rows = check_table(rows, ("mean", "hdi_5%", "hdi_95%"), "history",
                       numeric=("mean", "hdi_5%", "hdi_95%"))
    when = pd.to_datetime(rows["as_of"], format="ISO8601", errors="coerce")
    if when.isna().any():
        raise ForecastError("history: cannot plot these rows", [Problem(
            f"not a date: {rows.loc[when.isna(), 'as_of'].iloc[0]!r}", field="history.as_of",
            hint="as_of must be an ISO date")])
    rows = rows.assign(as_of=when).drop_duplicates("as_of", keep="last").sort_values("as_of")
    fig, ax = axes_of(ax, (8.0, 4.2))
    start, stop = rows["as_of"].min(), rows["as_of"].max()
    pad = max((stop - start) * 0.03, pd.Timedelta(days=20))
    shade_bands(ax, vertical=False, alpha=0.55)
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
    ax.legend(handles=handles, ncol=len(handles), **legend_below(ax, 0.3))
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
    ax.vlines(dates, -0.14 * lane, 0, colors=np.where(own, EVENT_COLOUR, MUTED).tolist(),
              linewidth=np.where(own, 1.6, 0.9), zorder=3)
    if own.any():
        ax.vlines(dates[own], 0, top, colors=EVENT_COLOUR, linewidth=0.8, linestyles=":",
                  zorder=1)
    for date, label, row, is_own, r in zip(dates, text, rows_of, own, right, strict=True):
        if row >= 0:
            ax.text(date, -lane * (0.2 + 0.27 * row), label, fontsize=6.5, va="top",
                    ha="right" if r else "left",
                    color=EVENT_COLOUR if is_own else "#566573", zorder=4,
                    fontweight="bold" if is_own else "normal", clip_on=True)
    handles = []  # legend entries only for the marks drawn
    if own.any():
        handles.append(Line2D([], [], color=EVENT_COLOUR, linestyle=":",
                              label=f"evidence on {node}"))
    if not own.all():
        handles.append(Line2D([], [], color=MUTED, marker="|", linestyle="", markersize=8,
                              label="other evidence"))
    return handles

