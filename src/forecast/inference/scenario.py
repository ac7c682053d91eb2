"""The probability of one joint scenario over a forecast's posterior parameter draws.

A forecast reports each node's probability with its interval over θ. A *joint* scenario — every
unobserved node in a given state, such as the most probable scenario from
:meth:`ExactEngine.mpe <forecast.network.exact.ExactEngine.mpe>` — gets the same treatment here:
``P(scenario | e, θ)`` for every equally weighted posterior draw of θ the forecast kept (one
batched exact call), summarised by its mean and 90% HDI like the forecast's own table.

With one case the mean is the posterior predictive ``P(scenario | e)``, which for a full
scenario equals the probability on the network of prior-mean CPT entries (each CPT row enters
the scenario's probability once), up to Monte Carlo error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import arviz as az
import numpy as np

from forecast.errors import EvidenceError, ForecastError, Problem
from forecast.evidence.case import Case
from forecast.evidence.lagged import twin_cpts, twins_of
from forecast.inference.importance import structure_engine
from forecast.inference.result import HDI_PROB, Forecast
from forecast.model.cpts import build_cpts, intervention_cpts
from forecast.model.parameters import parameters
from forecast.model.schema import ModelSpec

__all__ = ["ScenarioPosterior", "scenario_posterior"]


@dataclass(frozen=True)
class ScenarioPosterior:
    """``P(scenario | e, θ)`` over the posterior draws of θ.

    Attributes
    ----------
    scenario : dict of str to str
        The joint scenario ``{node: state}``.
    draws : ndarray, shape (n,)
        Its probability given the evidence under each equally weighted draw.
    mean : float
        Their mean: the forecast of the scenario.
    low, high : float
        The 90% HDI of the draws (:data:`~forecast.inference.result.HDI_PROB`).
    """

    scenario: dict[str, str]
    draws: np.ndarray
    mean: float
    low: float
    high: float

    def to_dict(self) -> dict:
        """JSON-ready: mean, interval, its probability mass and the number of draws."""
        return {"mean": self.mean, "hdi_low": self.low, "hdi_high": self.high,
                "hdi_prob": HDI_PROB, "draws": int(self.draws.size)}


def scenario_posterior(
    spec: ModelSpec,
    forecast: Forecast,
    scenario: Mapping[str, str],
    case: Case | Mapping[str, str] | None = None,
    interventions: Mapping[str, str] | None = None,
) -> ScenarioPosterior:
    """The probability of a joint scenario under each posterior draw of a forecast.

    Parameters
    ----------
    spec : ModelSpec
        The model the forecast was made with (checked by its hash).
    forecast : Forecast
        A sampler's forecast (it keeps its parameter draws ``theta``).
    scenario : mapping of str to str
        ``{node: state}``, any subset of the nodes (the others are summed over).
    case : Case or mapping, optional
        The findings the forecast conditioned on (hard and soft findings only).
    interventions : mapping of str to str, optional
        The ``do()`` of the forecast, if any.

    Returns
    -------
    ScenarioPosterior

    Raises
    ------
    ForecastError
        If the forecast is of another model or has no parameter draws.
    EvidenceError
        If the case has reports or counts, or the scenario names unknown nodes or states.
    InferenceError
        If the evidence is impossible under some draw.
    """
    case = Case.of(case)
    if case.reports or case.counts:
        raise EvidenceError("a scenario's probability takes hard and soft findings only", [
            Problem("the case has source reports or counts", field="case",
                    hint="build the case without reports and counts")])
    values, problems = parameter_values(spec, forecast)
    if problems:
        raise ForecastError("cannot take this forecast's parameter draws", problems)
    twins = twins_of(spec, [case])
    engine = structure_engine(spec, twins)
    cpts = {**twin_cpts(build_cpts(spec, values), twins),
            **intervention_cpts(spec, interventions or {})}
    soft = {n: np.asarray(v, dtype=float) for n, v in case.soft.items()}
    draws = np.atleast_1d(engine.scenario_probability(scenario, case.evidence, soft, cpts))
    low, high = np.asarray(az.hdi(draws, hdi_prob=HDI_PROB), dtype=float)
    return ScenarioPosterior(dict(scenario), draws, float(draws.mean()), float(low),
                             float(high))


def parameter_values(spec: ModelSpec, forecast: Forecast,
                     ) -> tuple[dict[str, np.ndarray], list[Problem]]:
    """The forecast's draws of every parameter of `spec`, by name, shape ``(n, *shape)``.

    Returns
    -------
    values : dict of str to numpy.ndarray
        The draws of each parameter found.
    problems : list of Problem
        Why draws are missing or not of `spec` (another model's hash, no ``theta``, a
        parameter without draws); empty when `values` is complete.
    """
    post = forecast.idata["posterior"]
    problems = []
    if forecast.attrs.get("model_hash") != spec.fingerprint:
        problems.append(Problem("was made with another model (its model hash differs)",
                                field="forecast", hint="pass the forecast of this model"))
    if "theta" not in post:
        problems.append(Problem("has no parameter draws (theta)", field="forecast",
                                hint="use a sampler's forecast, not Forecast.from_draws"))
        return {}, problems
    names = [str(n) for n in post["parameter"].values]
    theta = post["theta"].values.reshape(-1, len(names))
    column = {n: i for i, n in enumerate(names)}
    values = {}
    for p in parameters(spec):
        wanted = ([f"{p.name}[{s}]" for s in (p.states or range(p.shape[0]))] if p.shape
                  else [p.name])
        if not all(w in column for w in wanted):
            problems.append(Problem(f"has no draws of parameter {p.name}", field="forecast"))
            continue
        cols = theta[:, [column[w] for w in wanted]]
        values[p.name] = cols if p.shape else cols[:, 0]
    return values, problems
