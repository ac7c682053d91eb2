"""Calibration: a reliability diagram of forecast probability against observed frequency."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from forecast.report.plots._common import axes_of, check_table
from forecast.report.plots.style import with_style

__all__ = ["plot_reliability"]


@with_style
def plot_reliability(calibration: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Reliability diagram: observed frequency against forecast probability, per forecaster.

    Parameters
    ----------
    calibration : pandas.DataFrame
        Columns forecaster, bin_low, bin_high, n, forecast_mean, observed, observed_low,
        observed_high (one row per forecaster and probability bin;
        :mod:`forecast.analysis.metrics`).
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
    table = check_table(calibration, ("forecaster", *numeric), "calibration table",
                        numeric=numeric)
    fig, ax = axes_of(ax, (5.6, 5.4))
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

