"""Writing figures: PNG, SVG or PDF by suffix, atomically, in the package style."""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.figure import Figure

from forecast._io import atomic_write
from forecast.errors import ForecastError, Problem
from forecast.report.plots.style import styled

__all__ = ["FORMATS", "save_figure"]

FORMATS = (".png", ".svg", ".pdf")
"""File types :func:`save_figure` writes."""


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
            f"unsupported file type '{suffix or '(none)'}'", file=str(path),
            hint=f"use one of {', '.join(FORMATS)}")])
    if not isinstance(fig, Figure):
        raise ForecastError(f"save_figure needs a matplotlib Figure, got {type(fig).__name__}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with styled():
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format=suffix[1:]))
