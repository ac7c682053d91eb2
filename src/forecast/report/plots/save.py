"""Writing figures: PNG, SVG or PDF by suffix, atomically, in the package style."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from matplotlib.figure import Figure

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
            str(path), f"unsupported file type '{suffix or '(none)'}'",
            f"use one of {', '.join(FORMATS)}")])
    if not isinstance(fig, Figure):
        raise ForecastError(f"save_figure needs a matplotlib Figure, got {type(fig).__name__}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with styled():
            fig.savefig(tmp, format=suffix[1:])
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
