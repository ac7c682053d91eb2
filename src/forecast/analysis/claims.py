"""The claims scorecard: each claim's effect, prior against posterior given the record.

A claim of the source is cited by parameters of the model (a logit effect, a noisy-OR link, a
table row, a baseline or leak). Each becomes one quantity on the log-odds scale:

* **effect** (``role="effect"``): the parameter itself, a log odds ratio;
* **link**: the log odds ratio of the outcome with the parent active against the leak alone,
  ``logit(1 − (1 − l)(1 − q)) − logit(l)``;
* **row** of a table: the log odds ratio of the row's state under this parent configuration
  against the mean of the node's other rows (for a whole-row Dirichlet prior, of the node's
  last state);
* **baseline** or **leak**: a level, ``logit(p)`` (its "odds ratio" is against even odds).

Its prior draws come from the model's priors (for a forecast of the dynamic model, made robust
as the sampler's were: ``model.time.doubt``), its posterior draws from the forecast's parameter
draws (``theta``): for a forecast of the dynamic model, the record up to the as-of date. The
verdict compares the two:

* **not tested** — the record left it where the article put it: the posterior sd is at least
  90% of the prior's and the mean moved less than a tenth of the prior sd;
* **reversed** — an effect whose posterior puts less than 10% on the direction the article
  gave it;
* **weakened** — an effect pulled toward none by more than a quarter of the prior sd, or a
  level moved by more than half the prior sd;
* **supported** — otherwise: the record kept the claim's direction and size (or made it
  stronger).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import special

from forecast.errors import ForecastError, Problem
from forecast.inference.result import Forecast
from forecast.inference.space import robust_sample
from forecast.model.parameters import Parameter, parameters
from forecast.model.schema import ModelSpec

__all__ = ["SCORECARD_COLUMNS", "VERDICTS", "claims_scorecard"]

VERDICTS = ("supported", "weakened", "reversed", "not tested")
"""The scorecard's sentences, from the record's point of view."""

SCORECARD_COLUMNS = ("claim", "parameter", "node", "kind", "prior_or", "prior_5%", "prior_95%",
                     "posterior_or", "posterior_5%", "posterior_95%", "verdict", "sentence")
"""Columns of :func:`claims_scorecard`: odds ratios are ``exp`` of the log-odds quantity."""

_EPS = 1e-9


def claims_scorecard(spec: ModelSpec, forecast: Forecast, *, draws: int = 4000,
                     seed: int = 0) -> pd.DataFrame:
    """Each claim's effect: prior against posterior, as odds ratios, with a verdict.

    Parameters
    ----------
    spec : ModelSpec
        The model the forecast was made from.
    forecast : Forecast
        A posterior forecast with parameter draws (``theta``), e.g. a run of the dynamic model.
    draws : int
        Prior draws.
    seed : int
        Seed of the prior draws.

    Returns
    -------
    pandas.DataFrame
        One row per (claim, citing parameter), columns :data:`SCORECARD_COLUMNS`, in claim
        order: the prior and posterior median odds ratio with 90% intervals, the verdict
        (:data:`VERDICTS`) and a sentence.

    Raises
    ------
    ForecastError
        If the forecast has no parameter draws, or they are not the model's.
    """
    every = parameters(spec)
    posterior = _posterior_values(every, forecast)
    # the prior the sampler started from: over time, the words' priors made robust
    doubt = spec.model.time.doubt.weight if forecast.attrs.get("method") == "ibis" else 0.0
    rng = np.random.default_rng(seed)
    prior = {p.name: robust_sample(p.prior, rng, draws, doubt) for p in every}
    params = [p for p in every if p.claims and p.role != "persistence"]
    rows = []
    for claim in spec.claims:
        for p in params:
            if claim not in p.claims:
                continue
            kind = "level" if p.role in ("baseline", "leak") else "effect"
            before = _quantity(spec, p, prior, every)
            after = _quantity(spec, p, posterior, every)
            verdict = _verdict(before, after, kind)
            q0 = np.quantile(before, [0.05, 0.5, 0.95])
            q1 = np.quantile(after, [0.05, 0.5, 0.95])
            rows.append((claim, p.name, p.node, kind, np.exp(q0[1]), np.exp(q0[0]),
                         np.exp(q0[2]), np.exp(q1[1]), np.exp(q1[0]), np.exp(q1[2]), verdict,
                         _sentence(claim, p, kind, verdict, q0, q1)))
    return pd.DataFrame(rows, columns=list(SCORECARD_COLUMNS))


def _posterior_values(every: list[Parameter], forecast: Forecast) -> dict[str, np.ndarray]:
    posterior = forecast.idata["posterior"]
    if "theta" not in posterior:
        raise ForecastError("the forecast has no parameter draws", [Problem(
            "a claims scorecard needs theta", field="forecast",
            hint="use a forecast of a sampler (update, replay), not Forecast.from_draws")])
    theta = posterior["theta"].values.reshape(-1, posterior.sizes["parameter"])
    names = [str(n) for n in posterior["parameter"].values]
    at = {n: i for i, n in enumerate(names)}
    out: dict[str, np.ndarray] = {}
    missing = []
    for p in every:
        if p.name in at:
            out[p.name] = theta[:, at[p.name]]
            continue
        parts = [i for n, i in at.items() if n.startswith(p.name + "[")]
        if parts:
            out[p.name] = theta[:, sorted(parts)]
        else:
            missing.append(p.name)
    if missing:
        raise ForecastError("the forecast's parameters are not the model's", [Problem(
            f"no draws of {name}", field="forecast.theta",
            hint="pass the model the forecast was made from") for name in missing[:5]])
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    return special.logit(np.clip(p, _EPS, 1 - _EPS))


def _row_probability(spec: ModelSpec, p: Parameter, values: Mapping[str, np.ndarray],
                     state: str) -> np.ndarray:
    """The probability of `state` in table row `p`, per draw."""
    v = np.asarray(values[p.name])
    if v.ndim == 2:
        return v[:, spec.nodes[p.node].states.index(state)]
    return v if p.states[0] == state else 1.0 - v


def _quantity(spec: ModelSpec, p: Parameter, values: Mapping[str, np.ndarray],
              every: list[Parameter]) -> np.ndarray:
    """The parameter's claim on the log-odds scale, per draw (`every`: the model's parameters)."""
    v = np.asarray(values[p.name], dtype=float)
    if p.role == "effect":
        return v
    if p.role in ("baseline", "leak"):
        return _logit(v)
    if p.role == "link":
        leak = np.asarray(values[f"{p.node}.leak"], dtype=float)
        return _logit(1.0 - (1.0 - leak) * (1.0 - v)) - _logit(leak)
    # a table row against the node's other rows
    state = p.states[0] if p.states else spec.nodes[p.node].states[-1]
    others = [q for q in every if q.node == p.node and q.role == "row" and q.name != p.name]
    mine = _row_probability(spec, p, values, state)
    if not others:
        return _logit(mine)
    rest = np.mean([_row_probability(spec, q, values, state) for q in others], axis=0)
    return _logit(mine) - _logit(rest)


def _verdict(before: np.ndarray, after: np.ndarray, kind: str) -> str:
    m0, s0 = float(np.mean(before)), float(np.std(before))
    m1, s1 = float(np.mean(after)), float(np.std(after))
    if s0 <= 0:
        return "not tested"
    if s1 >= 0.9 * s0 and abs(m1 - m0) < 0.1 * s0:
        return "not tested"
    if kind == "level":
        return "weakened" if abs(m1 - m0) > 0.5 * s0 else "supported"
    direction = 1.0 if m0 >= 0 else -1.0
    if float(np.mean(direction * after > 0)) < 0.1:
        return "reversed"
    if direction * m1 < direction * m0 - 0.25 * s0:
        return "weakened"
    return "supported"


def _sentence(claim: str, p: Parameter, kind: str, verdict: str, q0: np.ndarray,
              q1: np.ndarray) -> str:
    what = (f"{p.node}'s level" if kind == "level" else
            f"the effect of {p.parent} on {p.node}" if p.parent else
            f"{p.node} under {', '.join(f'{a}={b}' for a, b in p.when)}" if p.when else
            f"{p.node}")
    odds = (f"odds {np.exp(q0[1]):.2g} → {np.exp(q1[1]):.2g}" if kind == "level" else
            f"odds ratio {np.exp(q0[1]):.2g} → {np.exp(q1[1]):.2g}")
    said = {"supported": "the record supports it", "weakened": "the record weakens it",
            "reversed": "the record reverses it",
            "not tested": "the record does not test it"}[verdict]
    return f"{claim}, {what}: {said} ({odds}, median, prior → posterior)."
