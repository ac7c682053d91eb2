"""What every figure family shares: axes, input checks, titles, legends, the ICD 203 bands."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import ScaledTranslation

from forecast.errors import ForecastError, Problem
from forecast.model.priors import PROBABILITY_BANDS
from forecast.model.words import ICD_BAND_COLOURS

EVENT_COLOUR = "#b9770e"
"""Ledger rows on a time axis, and the effective sample size on the weights panel."""


def axes_of(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """The given axes and their figure, or a new constrained-layout figure with one axes."""
    if ax is not None:
        return ax.get_figure(root=True), ax  # type: ignore[return-value]
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def check_table(table: object, columns: Sequence[str], what: str,
                 numeric: Sequence[str] = ()) -> pd.DataFrame:
    """The table if it is a non-empty DataFrame with `columns`, finite in `numeric`; else raise."""
    if not isinstance(table, pd.DataFrame):
        raise ForecastError(f"{what}: expected a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ForecastError(f"{what}: cannot plot this table", [Problem(
            f"missing column(s) {', '.join(missing)}", field=what,
            hint=f"the table needs columns {', '.join(columns)}; it has "
            f"{', '.join(map(str, table.columns)) or 'none'}")])
    if table.empty:
        raise ForecastError(f"{what}: the table has no rows, nothing to plot")
    problems = []
    for column in numeric:
        values = pd.to_numeric(table[column], errors="coerce")
        bad = table.index[~np.isfinite(values.to_numpy(dtype=float))]
        if len(bad):
            problems.append(Problem(
                f"not a finite number in row(s) {', '.join(map(str, bad[:8]))}"
                + (" …" if len(bad) > 8 else ""), field=f"{what}.{column}",
                hint="fill in or drop those rows"))
    if problems:
        raise ForecastError(f"{what}: cannot plot this table", problems)
    return table


def check_probability(value: object, what: str, *, open_interval: bool = False) -> float:
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


def title_panel(fig: Figure, ax: Axes, owned: bool, text: str) -> None:
    """Title a panel whose long tick labels sit left of it.

    On a figure of its own the title starts at the figure's left edge (it may run over the
    labels, not off the figure); on a caller's axes it is the axes title, wrapped.
    """
    if owned:
        fig.suptitle(text, x=0.01, ha="left")
    else:
        ax.set_title(wrap(text, 60))


def legend_below(ax: Axes, inches: float) -> dict:
    """Legend placement: centred under the axes, `inches` below their bottom edge."""
    fig = ax.get_figure(root=True)
    shift = ScaledTranslation(0, -inches, fig.dpi_scale_trans)  # type: ignore[union-attr]
    return {"loc": "upper center", "bbox_to_anchor": (0.5, 0.0),
            "bbox_transform": ax.transAxes + shift}


def wrap(text: str, width: int) -> str:
    """`text` wrapped at spaces into lines of about `width` characters (words never split)."""
    return "\n".join(textwrap.wrap(str(text), width, break_long_words=False)) or str(text)


def shade_bands(ax: Axes, vertical: bool, alpha: float = 1.0) -> None:
    """ICD 203 bands behind the data: vertical spans over x, or horizontal ones over y."""
    for word, (low, high) in PROBABILITY_BANDS.items():
        span = ax.axvspan if vertical else ax.axhspan
        span(low, high, color=ICD_BAND_COLOURS[word], alpha=alpha, zorder=0, linewidth=0)

