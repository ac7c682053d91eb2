"""Extension points of the inference layer, filled in by the layers above it.

A :class:`~forecast.inference.result.Forecast` can draw itself (:meth:`Forecast.plot`), but
figures are the report layer's job and the inference layer may not import it. So the drawing
is a callback: the package's top level (:mod:`forecast`, which runs before any submodule is
imported) registers a function that draws with :func:`forecast.report.plots.plot_scenarios`,
and ``Forecast.plot`` calls whatever is registered. This module imports nothing heavy: the
top level imports it at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from forecast.errors import ForecastError, Problem

__all__ = ["forecast_plotter", "register_forecast_plotter"]

_plotter: Callable[..., Any] | None = None


def register_forecast_plotter(plotter: Callable[..., Any]) -> None:
    """Set the function :meth:`Forecast.plot` calls: ``plotter(forecast, nodes, *, ax)``.

    Parameters
    ----------
    plotter : callable
        Draws a forecast and returns the Figure; replaces any plotter registered before.
    """
    global _plotter
    _plotter = plotter


def forecast_plotter() -> Callable[..., Any]:
    """The registered plotter.

    Raises
    ------
    ForecastError
        If none is registered (the package's top level registers one when it is imported).
    """
    if _plotter is None:
        raise ForecastError("no plotter is registered for forecasts", [Problem(
            "nothing registered a plotter", field="Forecast.plot",
            hint="draw with forecast.plots.plot_scenarios(forecast)")])
    return _plotter
