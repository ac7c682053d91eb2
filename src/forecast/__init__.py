"""forecast: Bayesian scenario forecasting from analysts' conditional claims.

``import forecast as fc`` is all a script or notebook needs::

    spec = fc.load_spec("models/isis_pakistan_2015.yaml")
    ledger = fc.load_ledger("data/isis_pakistan_ledger.csv", spec)
    f = fc.posterior_forecast(spec, fc.case_as_of(ledger, spec, "2017-12-31"))
    f.sel(node="caliphate_declared", state="yes"), f.plot(), f.to_xarray()
    fc.update(...), fc.history(...), fc.replay(...), fc.score(...), fc.write_brief(...)
    fc.plots.plot_trajectory(fc.history(spec.name, "runs"), "caliphate_declared", "yes")

The names are loaded on first use (a module ``__getattr__``), so ``import forecast`` and
``forecast --help`` import none of PyMC, arviz, matplotlib, pandas or SciPy. The package is
layered in data-flow order, each layer importing only those below it::

    cli → report → ops → analysis → inference → evidence → model → network → errors

See ``docs/architecture.md`` in the repository for the whole picture.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from forecast.inference.hooks import register_forecast_plotter

if TYPE_CHECKING:  # what __getattr__ loads, spelled out for type checkers and import-linter
    from forecast.analysis.attribution import attribute_change, attribute_changes
    from forecast.analysis.conflict import evidence_conflict
    from forecast.analysis.language import judgments
    from forecast.analysis.metrics import ScoreResult
    from forecast.analysis.questions import load_questions
    from forecast.analysis.sensitivity import parameter_sensitivity
    from forecast.analysis.voi import value_of_information
    from forecast.errors import (
        EvidenceError,
        ForecastError,
        InferenceError,
        Problem,
        RunStoreError,
        SpecError,
    )
    from forecast.evidence.case import Case
    from forecast.evidence.ledger import case_as_of, case_from_rows, load_ledger, rows_as_of
    from forecast.evidence.observations import CountModel, Report, counted
    from forecast.evidence.steps import Timeline, timeline
    from forecast.inference.dynamic import DatedForecast, dynamic_forecasts
    from forecast.inference.importance import (
        importance_forecast,
        nuts_forecast,
        posterior_forecast,
    )
    from forecast.inference.pymc_model import build_pymc_model
    from forecast.inference.result import Forecast
    from forecast.model.builder import ModelBuilder
    from forecast.model.cpts import build_cpts, prior_mean_network
    from forecast.model.imported import network_to_model
    from forecast.model.load import load_spec, parse_spec
    from forecast.model.parameters import sample_parameters
    from forecast.model.schema import ModelSpec
    from forecast.model.words import confidence_label, likelihood_word
    from forecast.network.bif import read_bif, write_bif
    from forecast.network.exact import ExactEngine, MostProbable, Posterior
    from forecast.network.formats import dirichlet_counts, read_network
    from forecast.network.interop import from_pgmpy, to_pgmpy
    from forecast.network.network import Network
    from forecast.network.xmlbif import write_xmlbif
    from forecast.ops.attribution import attribute_runs, attribute_runs_many
    from forecast.ops.replay import replay, replay_dates
    from forecast.ops.score import score
    from forecast.ops.store import Run, RunStore
    from forecast.ops.update import History, UpdateResult, history, update
    from forecast.report import plots
    from forecast.report.brief import write_brief
    from forecast.report.site import write_site
    from forecast.report.text import spec_summary

__version__ = "0.1.0"

__all__ = [
    "Case",
    "CountModel",
    "DatedForecast",
    "EvidenceError",
    "ExactEngine",
    "Forecast",
    "ForecastError",
    "History",
    "InferenceError",
    "ModelBuilder",
    "ModelSpec",
    "MostProbable",
    "Network",
    "Posterior",
    "Problem",
    "Report",
    "Run",
    "RunStore",
    "RunStoreError",
    "ScoreResult",
    "SpecError",
    "Timeline",
    "UpdateResult",
    "__version__",
    "attribute_change",
    "attribute_changes",
    "attribute_runs",
    "attribute_runs_many",
    "build_cpts",
    "build_pymc_model",
    "case_as_of",
    "case_from_rows",
    "confidence_label",
    "counted",
    "dirichlet_counts",
    "dynamic_forecasts",
    "evidence_conflict",
    "from_pgmpy",
    "history",
    "importance_forecast",
    "judgments",
    "likelihood_word",
    "load_ledger",
    "load_questions",
    "load_spec",
    "network_to_model",
    "nuts_forecast",
    "parameter_sensitivity",
    "parse_spec",
    "plots",
    "posterior_forecast",
    "prior_mean_network",
    "read_bif",
    "read_network",
    "replay",
    "replay_dates",
    "rows_as_of",
    "sample_parameters",
    "score",
    "spec_summary",
    "timeline",
    "to_pgmpy",
    "update",
    "value_of_information",
    "write_bif",
    "write_brief",
    "write_site",
    "write_xmlbif",
]

_EXPORTS: dict[str, tuple[str, ...]] = {
    "forecast.errors": ("EvidenceError", "ForecastError", "InferenceError", "Problem",
                        "RunStoreError", "SpecError"),
    "forecast.network.network": ("Network",),
    "forecast.network.exact": ("ExactEngine", "MostProbable", "Posterior"),
    "forecast.network.bif": ("read_bif", "write_bif"),
    "forecast.network.interop": ("from_pgmpy", "to_pgmpy"),
    "forecast.network.formats": ("dirichlet_counts", "read_network"),
    "forecast.network.xmlbif": ("write_xmlbif",),
    "forecast.model.schema": ("ModelSpec",),
    "forecast.model.builder": ("ModelBuilder",),
    "forecast.model.load": ("load_spec", "parse_spec"),
    "forecast.model.cpts": ("build_cpts", "prior_mean_network"),
    "forecast.model.imported": ("network_to_model",),
    "forecast.model.parameters": ("sample_parameters",),
    "forecast.evidence.case": ("Case",),
    "forecast.evidence.observations": ("CountModel", "Report", "counted"),
    "forecast.evidence.steps": ("Timeline", "timeline"),
    "forecast.inference.dynamic": ("DatedForecast", "dynamic_forecasts"),
    "forecast.evidence.ledger": ("case_as_of", "case_from_rows", "load_ledger", "rows_as_of"),
    "forecast.inference.importance": ("importance_forecast", "nuts_forecast",
                                      "posterior_forecast"),
    "forecast.inference.pymc_model": ("build_pymc_model",),
    "forecast.inference.result": ("Forecast",),
    "forecast.analysis.attribution": ("attribute_change", "attribute_changes"),
    "forecast.analysis.conflict": ("evidence_conflict",),
    "forecast.analysis.sensitivity": ("parameter_sensitivity",),
    "forecast.analysis.voi": ("value_of_information",),
    "forecast.analysis.language": ("judgments",),
    "forecast.model.words": ("confidence_label", "likelihood_word"),
    "forecast.analysis.metrics": ("ScoreResult",),
    "forecast.analysis.questions": ("load_questions",),
    "forecast.ops.store": ("Run", "RunStore"),
    "forecast.ops.update": ("History", "UpdateResult", "history", "update"),
    "forecast.ops.replay": ("replay", "replay_dates"),
    "forecast.ops.score": ("score",),
    "forecast.ops.attribution": ("attribute_runs", "attribute_runs_many"),
    "forecast.report.brief": ("write_brief",),
    "forecast.report.site": ("write_site",),
    "forecast.report.text": ("spec_summary",),
}
_SUBMODULES = {"plots": "forecast.report.plots"}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}



def __getattr__(name: str) -> Any:
    """Import a public name's module on first use, then keep the name here."""
    if name in _SUBMODULES:
        value = importlib.import_module(_SUBMODULES[name])
    elif name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
    else:
        raise AttributeError(f"module 'forecast' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _plot_forecast(forecast: Forecast, nodes: Any = None, *, ax: Any = None) -> Any:
    """:meth:`Forecast.plot`: the scenario plot (matplotlib is imported on the first call)."""
    from forecast.report.plots import plot_scenarios

    return plot_scenarios(forecast, nodes, ax=ax)


# The inference layer may not import the report layer, so a Forecast draws itself through a
# callback. This module runs before any submodule of the package can be imported, so the
# callback is always in place before the first Forecast exists.
register_forecast_plotter(_plot_forecast)
