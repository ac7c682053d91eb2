"""Shared by the explanations: the parameter draws they integrate over, and their checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import special

from forecast.errors import (
    EvidenceError,
    ForecastError,
    Problem,
    did_you_mean,
)
from forecast.evidence.case import Case
from forecast.evidence.lagged import twin_cpts, twins_of
from forecast.inference.importance import structure_engine
from forecast.inference.result import Forecast
from forecast.inference.scenario import parameter_values
from forecast.model.cpts import build_cpts
from forecast.model.parameters import sample_parameters
from forecast.model.schema import ModelSpec
from forecast.network.exact import ExactEngine
from forecast.provenance import canonical_json

__all__ = [
    "LOGIT_CAP",
    "PROBABILITY_FLOOR",
    "batch_size",
    "check_case",
    "check_target",
    "clipped_logit",
    "engine_and_cpts",
    "forecast_values",
    "pairs_text",
    "posterior_draws",
]


PROBABILITY_FLOOR = 1e-6
"""Probabilities are clipped to [floor, 1 - floor] before taking log-odds (±13.8), so that a
row that settles a scenario (a hard finding on it) gets a large, finite share."""

LOGIT_CAP = float(special.logit(1 - PROBABILITY_FLOOR))

def check_target(states: Mapping[str, Sequence[str]], node: str, state: str) -> None:
    """Raise an EvidenceError unless `node` is a node with state `state`."""
    if node not in states:
        raise EvidenceError(f"unknown scenario node '{node}'", [Problem(
            f"'{node}' is not a node of the model", field="node",
            hint=did_you_mean(node, states) or f"nodes: {', '.join(states)}")])
    if state not in states[node]:
        raise EvidenceError(f"'{node}' has no state '{state}'", [Problem(
            f"'{state}' is not a state of {node}", field="state",
            hint=did_you_mean(state, states[node]) or f"states: {', '.join(states[node])}")])

def check_case(case: Case) -> None:
    """Raise an EvidenceError if the case has reports or counts (explanations take findings)."""
    if case.reports or case.counts:
        raise EvidenceError("explanations take hard and soft findings only", [Problem(
            "the case has source reports or counts, whose likelihoods depend on "
            "further parameters", field="case",
            hint="build the case with reports=False and without counts")])

def engine_and_cpts(spec: ModelSpec, cases: Sequence[Case],
                     values: Mapping[str, np.ndarray]) -> tuple[ExactEngine, dict]:
    """The engine and CPTs for `cases` as the importance sampler builds them (twins included)."""
    twins = twins_of(spec, cases)
    return structure_engine(spec, twins), twin_cpts(build_cpts(spec, values), twins)

def forecast_values(spec: ModelSpec, forecast: Forecast, case: Case) -> dict[str, np.ndarray]:
    """Parameter values of the forecast's posterior draws, checked to be of `spec` and `case`."""
    attrs = forecast.attrs
    problems = []
    cases = attrs.get("evidence") or [{}]
    if canonical_json(cases[0]) != canonical_json(case.to_json()):
        problems.append(Problem("was made with other findings than this case", field="forecast",
                                hint="pass the case the forecast was made with, or no forecast"))
    if attrs.get("interventions"):
        problems.append(Problem("is a forecast under do(); explanations condition "
                                "on findings only", field="forecast",
                                hint="explain the forecast without --do"))
    values, missing = parameter_values(spec, forecast)
    problems = missing + problems  # the model's hash first, as before
    if problems:
        raise ForecastError("cannot explain this forecast", problems)
    return values

def posterior_draws(spec: ModelSpec, case: Case, forecast: Forecast | None, draws: int,
                     seed: int) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Parameter values and their weights (None: weigh prior draws by the case's likelihood)."""
    if forecast is not None:
        values = forecast_values(spec, forecast, case)
        n = len(next(iter(values.values())))
        return values, np.full(n, 1.0 / n)
    return sample_parameters(spec, draws, seed), None

def clipped_logit(p: float) -> float:
    """Log-odds of `p` clipped to [floor, 1 − floor] (:data:`PROBABILITY_FLOOR`)."""
    return float(special.logit(np.clip(p, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)))


def batch_size(cpts: Mapping[str, np.ndarray]) -> int:
    """Number of draws of the (batched) CPTs."""
    return max((np.shape(a)[0] for a in cpts.values()), default=1)


def pairs_text(d: Mapping[str, float]) -> str:
    """``"a 0.123, b 0.456"``: a mapping of numbers as short text."""
    return ", ".join(f"{k} {v:.3f}" for k, v in d.items())
