"""Figures of forecasts, one module per figure family.

Every function takes numbers computed elsewhere (a :class:`~forecast.inference.result.Forecast`,
a run history, a replay, a table from :mod:`forecast.analysis` or
:mod:`forecast.analysis.metrics`) and draws them; none runs inference. A function drawing one
panel takes a keyword-only ``ax=`` (it draws there and returns that axes' root figure; without
it, it makes its own :class:`~matplotlib.figure.Figure`); every function returns the Figure.
Nothing calls ``plt.show()`` or touches pyplot's figure list, and the package style
(:mod:`forecast.report.plots.style`) is applied only while a function draws.

=====================  ==================  ==================================================
function               module              draws
=====================  ==================  ==================================================
plot_scenarios         scenarios           each scenario's posterior mean with 50% and 90%
                                           intervals over the ICD 203 bands
plot_trajectory        trajectory          a scenario's mean and 90% band over as-of dates,
                                           evidence on the time axis
plot_network           network             the model graph, nodes filled by probability,
                                           edges by sign and strength
draw_model             network             the model graph, nodes by kind (or by given
                                           probabilities)
plot_tornado           sensitivity         which parameters move a scenario most
plot_waterfall         sensitivity         what moved a scenario between two runs, in log-odds
plot_reliability       calibration         forecast probability against observed frequency
plot_diagnostics       diagnostics         NUTS density and rank plots; importance weights,
                                           ESS and MCSE
plot_fan               fan                 scenarios over the steps ahead of a dynamic
                                           forecast: mean and 90% band
save_figure            save                PNG, SVG or PDF by suffix, written atomically
=====================  ==================  ==================================================

Bad input (an unknown node or state, a missing column, a probability outside (0, 1)) raises
one :class:`~forecast.errors.ForecastError` listing every problem.

Examples
--------
>>> import forecast as fc
>>> fc.plots.save_figure(fc.plots.plot_scenarios(forecast), "scenarios.svg")  # doctest: +SKIP
"""

from forecast.report.plots.calibration import plot_reliability
from forecast.report.plots.diagnostics import plot_diagnostics
from forecast.report.plots.fan import plot_fan
from forecast.report.plots.network import draw_model, plot_network
from forecast.report.plots.save import FORMATS, save_figure
from forecast.report.plots.scenarios import plot_scenarios
from forecast.report.plots.sensitivity import plot_tornado, plot_waterfall
from forecast.report.plots.trajectory import plot_trajectory

__all__ = [
    "FORMATS",
    "draw_model",
    "plot_diagnostics",
    "plot_fan",
    "plot_network",
    "plot_reliability",
    "plot_scenarios",
    "plot_tornado",
    "plot_trajectory",
    "plot_waterfall",
    "save_figure",
]
