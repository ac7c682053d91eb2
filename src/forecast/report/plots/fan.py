"""A forward fan: each scenario's probability over the steps ahead of a dynamic forecast."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from forecast.errors import ForecastError, Problem, did_you_mean
from forecast.inference.result import Forecast
from forecast.report.plots._common import axes_of, shade_bands
from forecast.report.plots.style import with_style

__all__ = ["plot_fan"]


@with_style
def plot_fan(forecast: Forecast, outcomes: Sequence[str] | str, *, step: str = "quarter",
             ax: Axes | None = None) -> Figure:
    """Mean and 90% band of scenarios over the steps after the as-of step.

    For an event, the probability that it happens within ``h`` steps (0 at ``h = 0``); for a
    condition, its state ``h`` steps ahead (at ``h = 0``, the forecast's own row).

    Parameters
    ----------
    forecast : Forecast
        A forecast of a dynamic model (with :attr:`Forecast.horizons`).
    outcomes : str or sequence of str
        ``"node=state"`` of each line.
    step : str
        The model's step, for the axis label.
    ax : matplotlib Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ForecastError
        If the forecast has no horizons or an outcome is not in them.
    """
    table = forecast.horizons
    if table.empty:
        raise ForecastError("plot_fan: the forecast has no horizons", [Problem(
            "only forecasts of the dynamic model look ahead", field="forecast",
            hint="run forecast update without --snapshot")])
    wanted = [outcomes] if isinstance(outcomes, str) else list(outcomes)
    known = sorted(set(table["node"] + "=" + table["state"]))
    bad = [o for o in wanted if o not in known]
    if bad or not wanted:
        raise ForecastError("plot_fan: unknown outcomes", [Problem(
            f"{o!r} is not 'node=state' of the forecast", field="outcomes",
            hint=did_you_mean(o, known)) for o in bad] or [Problem("none given",
                                                                field="outcomes")])
    summary = forecast.summary.set_index(["node", "state"])
    events = set(forecast.attrs.get("events", []))
    fig, ax = axes_of(ax, (7.0, 3.6))
    shade_bands(ax, vertical=False)
    colours = ["#1f618d", "#b03a2e", "#117a65", "#7d3c98", "#b9770e"]
    for i, outcome in enumerate(wanted):
        node, state = outcome.split("=")
        mine = table[(table["node"] == node) & (table["state"] == state)].sort_values("horizon")
        first = state == str(summary.loc[node].index[0])  # "does not happen", for events
        if node in events:  # nothing can have happened within 0 steps
            start = (1.0, 1.0, 1.0) if first else (0.0, 0.0, 0.0)
        else:
            row = summary.loc[(node, state)]
            start = (float(row["mean"]), float(row["hdi_5%"]), float(row["hdi_95%"]))
        h = np.concatenate([[0], mine["horizon"].to_numpy()])
        mean = np.concatenate([[start[0]], mine["mean"].to_numpy()])
        low = np.concatenate([[start[1]], mine["hdi_5%"].to_numpy()])
        high = np.concatenate([[start[2]], mine["hdi_95%"].to_numpy()])
        colour = colours[i % len(colours)]
        ax.fill_between(h, low, high, color=colour, alpha=0.18, linewidth=0)
        ax.plot(h, mean, color=colour, linewidth=1.8, marker="o", markersize=3.5,
                label=outcome)
    ax.set_xlim(0, float(table["horizon"].max()))
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"{step}s after the as-of {step}")
    ax.set_ylabel("probability")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return fig
