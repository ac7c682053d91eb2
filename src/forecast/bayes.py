"""Posterior scenario probabilities over the uncertain CPT parameters θ.

For each node and state the package reports the distribution of ``P(state | e, θ)`` over the
posterior of θ: the mean is the forecast, the 90% interval is how sure the model is of it.

The discrete nodes are never sampled: for every draw of θ the exact engine sums them out, giving
the likelihood ``P(e | θ)`` and the scenario probabilities, batched over thousands of draws in
one call. The posterior over θ comes from

* **importance sampling** (this module): prior draws weighted by ``P(e | θ)``, the weights
  Pareto-smoothed (``arviz.psislw``) with the Pareto k̂ and effective sample size as diagnostics;
  exact in the limit and fast for sparse, single-case evidence. Draws are added until every
  reported probability has a Monte Carlo standard error at most ``target_mcse``.
* **NUTS** (:mod:`forecast.pymc_model`) when the weights degenerate (k̂ > 0.7), e.g. when many
  cases share the parameters.

Evidence comes as one *target* case, whose scenarios are reported, and optional *history*
cases (other periods or regions) that share the parameters and only inform θ.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import arviz as az
import numpy as np
import xarray as xr

from forecast.cpt import build_cpts, parameters, sample_parameters
from forecast.errors import EvidenceError, InferenceError, Problem
from forecast.exact import ExactEngine
from forecast.network import Network
from forecast.observations import CountModel, ObservationModel, Report
from forecast.result import Forecast, canonical_json, stable_hash
from forecast.spec import ModelSpec

__all__ = ["KHAT_MAX", "MIN_ESS", "Case", "importance_forecast"]

KHAT_MAX = 0.7
"""Pareto k̂ above which importance weights are unreliable (Vehtari et al., PSIS)."""

MIN_ESS = 400
"""Effective sample size below which a forecast is not publishable (MCSE ≈ sd / 20)."""

HDI_PROB = 0.9
_RESAMPLED = 4000  # equally weighted draws kept in the InferenceData posterior


@dataclass(frozen=True)
class Case:
    """Findings about one case (a period, a region).

    Parameters
    ----------
    evidence : mapping of str to str
        Hard findings ``{node: state}``.
    soft : mapping of str to sequence of float
        Fixed likelihood vectors ``{node: λ}``.
    reports : sequence of Report
        Sources' reports, weighed by each source's learned reliability.
    counts : mapping of str to int
        Counts observed through a :class:`~forecast.observations.CountModel` of the node.
    """

    evidence: Mapping[str, str] = field(default_factory=dict)
    soft: Mapping[str, Sequence[float]] = field(default_factory=dict)
    reports: Sequence[Report] = ()
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Whether the case holds no finding at all."""
        return not (self.evidence or self.soft or self.reports or self.counts)

    def to_json(self) -> dict:
        """The case as plain JSON-ready data (for hashing and provenance)."""
        return {"evidence": dict(self.evidence),
                "soft": {k: [float(x) for x in v] for k, v in self.soft.items()},
                "reports": [vars(r) for r in self.reports],
                "counts": {k: int(v) for k, v in self.counts.items()}}


def importance_forecast(
    spec: ModelSpec,
    target: Case | None = None,
    history: Sequence[Case] = (),
    *,
    draws: int = 20_000,
    max_draws: int = 320_000,
    target_mcse: float = 0.005,
    seed: int = 0,
    as_of: str | None = None,
    count_models: Sequence[CountModel] = (),
    interventions: Mapping[str, str] | None = None,
    engine: ExactEngine | None = None,
) -> Forecast:
    """Posterior scenario probabilities by Pareto-smoothed importance sampling.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    target : Case, optional
        Findings of the case whose scenario probabilities are reported (none: the prior).
    history : sequence of Case
        Further cases sharing the parameters; they inform θ only.
    draws : int
        Prior draws in the first round.
    max_draws : int
        Upper bound on draws when rounds are added to reach `target_mcse`.
    target_mcse : float
        Largest acceptable Monte Carlo standard error of any reported probability.
    seed : int
        Seed of ``numpy.random.default_rng``; the same inputs and seed give the same result.
    as_of : str, optional
        Date of the evidence cut, recorded in the provenance.
    count_models : sequence of CountModel
        How counts in the cases depend on their nodes.
    interventions : mapping of str to str, optional
        ``do(node = state)`` in the target case: the node is set, not observed — its CPT is
        replaced by certainty in that state for every parent configuration, so evidence about
        its causes does not flow back through it. History cases are not intervened on.
    engine : ExactEngine, optional
        An engine on this spec's network, to reuse its cached plans across calls.

    Returns
    -------
    Forecast
        Marked not publishable (with the reasons in its diagnostics) if k̂ > 0.7, the ESS is
        below :data:`MIN_ESS` or the MCSE target was not reached within `max_draws`.

    Raises
    ------
    InferenceError
        If the evidence is impossible for every prior draw.
    """
    target = target or Case()
    cases = [target, *history]
    params = parameters(spec)
    observations = ObservationModel(spec.states, cases, count_models)
    do = _intervention_cpts(spec, interventions or {})
    if engine is None:
        engine = ExactEngine(Network(spec.states, spec.parents,
                                     {n: _uniform(spec, n) for n in spec.states}, name=spec.name))
    rng = np.random.default_rng(seed)
    values: dict[str, np.ndarray] = {}
    loglik = np.empty(0)
    probs = np.empty((0, sum(len(s) for s in spec.states.values())))
    n_new = draws
    while True:
        new = {**sample_parameters(spec, n_new, rng), **observations.sample(rng, n_new)}
        cpts = build_cpts(spec, new, params=params)
        soft = [observations.likelihoods(c, new) for c in cases]
        ll = sum(engine.log_evidence(c.evidence, s, {**cpts, **(do if i == 0 else {})})
                 for i, (c, s) in enumerate(zip(cases, soft, strict=True)))
        ll = np.broadcast_to(np.asarray(ll, dtype=float), (n_new,))
        p_new = np.full((n_new, probs.shape[1]), np.nan)
        ok = np.isfinite(ll)
        if ok.any():
            post = engine.query(target.evidence, _rows(soft[0], ok, n_new),
                                _rows({**cpts, **do}, ok, n_new))
            p_new[ok] = np.concatenate([post.marginals[n] for n in spec.states], axis=1)
        values = {k: np.concatenate([values[k], v]) if k in values else v for k, v in new.items()}
        loglik = np.concatenate([loglik, ll])
        probs = np.concatenate([probs, p_new])
        weights, khat = _smoothed_weights(loglik, cases)
        mean, mcse = _weighted_moments(probs, weights)
        if mcse.max() <= target_mcse or len(loglik) >= max_draws or khat > KHAT_MAX:
            break
        need = len(loglik) * (mcse.max() / target_mcse) ** 2 * 1.1
        n_new = int(min(max_draws, np.ceil(need / 1000) * 1000) - len(loglik))
    return _assemble(spec, params, observations, cases, values, probs, loglik, weights, khat,
                     mean, mcse, seed, as_of, target_mcse, interventions or {})


def _rows(arrays: Mapping[str, np.ndarray], keep: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Keep the draws `keep` of every array that has one row per draw."""
    return {k: (a[keep] if a.ndim and a.shape[0] == n else a) for k, a in arrays.items()}


def _intervention_cpts(spec: ModelSpec, interventions: Mapping[str, str]) -> dict:
    problems = []
    out = {}
    for node, state in interventions.items():
        if node not in spec.states:
            problems.append(Problem(f"do({node}={state})", f"unknown node '{node}'"))
        elif state not in spec.states[node]:
            problems.append(Problem(f"do({node}={state})", f"'{node}' has no state '{state}'",
                                    f"states: {', '.join(spec.states[node])}"))
        else:
            shape = (*(spec.card(p) for p in spec.parents[node]), spec.card(node))
            table = np.zeros(shape)
            table[..., spec.states[node].index(state)] = 1.0
            out[node] = table
    if problems:
        raise EvidenceError("cannot intervene", problems)
    return out


def _uniform(spec: ModelSpec, node: str) -> np.ndarray:
    """A placeholder CPT (the engine only needs the structure; draws replace every table)."""
    shape = (*(spec.card(p) for p in spec.parents[node]), spec.card(node))
    return np.full(shape, 1.0 / shape[-1])


def _smoothed_weights(loglik: np.ndarray, cases: Sequence[Case]) -> tuple[np.ndarray, float]:
    finite = np.isfinite(loglik)
    if not finite.any():
        findings = [f"{n}={s}" for c in cases for n, s in c.evidence.items()]
        findings += [f"{n}~soft" for c in cases for n in c.soft]
        raise InferenceError(
            "the evidence is impossible under every prior draw of the model",
            [Problem("findings", "these findings cannot all hold: " + ", ".join(findings),
                     "check the findings against the model's fixed probabilities")])
    if all(c.empty for c in cases):
        return np.full(len(loglik), 1.0 / len(loglik)), -np.inf
    lw = np.where(finite, loglik, -np.inf)
    lw_finite, khat = az.psislw(lw[finite] - lw[finite].max())
    out = np.zeros(len(loglik))
    out[finite] = np.exp(lw_finite)
    return out / out.sum(), float(khat)


def _weighted_moments(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Self-normalised importance-sampling mean and its Monte Carlo standard error."""
    keep = w > 0
    xk, wk = x[keep], w[keep][:, None]
    mean = (wk * xk).sum(axis=0)
    mcse = np.sqrt((wk**2 * (xk - mean) ** 2).sum(axis=0))
    return mean, mcse


def _resample(w: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Systematic resampling: indices of `n` equally weighted draws."""
    positions = (rng.random() + np.arange(n)) / n
    return np.minimum(np.searchsorted(np.cumsum(w), positions), len(w) - 1)


def _theta_table(params, values, index) -> tuple[list[str], np.ndarray]:
    names, columns = [], []
    for p in params:
        v = np.asarray(values[p.name])[index]
        if v.ndim == 1:
            names.append(p.name)
            columns.append(v)
        else:
            states = p.states or tuple(str(i) for i in range(v.shape[1]))
            for j in range(v.shape[1]):
                names.append(f"{p.name}[{states[j] if j < len(states) else j}]")
                columns.append(v[:, j])
    return names, np.stack(columns, axis=1)


def _assemble(spec, params, observations, cases, values, probs, loglik, weights, khat, mean,
              mcse, seed, as_of, target_mcse, interventions) -> Forecast:
    rng = np.random.default_rng([seed, 1])
    index = _resample(weights, min(_RESAMPLED, len(weights)), rng)
    outcomes = [(n, s) for n in spec.states for s in spec.states[n]]
    labels = [f"{n}={s}" for n, s in outcomes]
    theta_names, theta = _theta_table(params, values, index)
    obs_names = list(observations.priors)
    if obs_names:
        theta_names += obs_names
        theta = np.concatenate([theta, np.stack([values[k][index] for k in obs_names], 1)], 1)
    resampled = probs[index]
    hdi = az.hdi(resampled[None], hdi_prob=HDI_PROB)  # (outcome, 2)
    ess = float(1.0 / np.sum(weights**2))
    observed = set(cases[0].evidence) | set(interventions)
    reasons = []
    if khat > KHAT_MAX:
        reasons.append(f"Pareto k-hat {khat:.2f} > {KHAT_MAX}: importance weights unreliable")
    if ess < MIN_ESS:
        reasons.append(f"effective sample size {ess:.0f} < {MIN_ESS}")
    worst = float(np.nanmax(mcse))
    if worst > target_mcse:
        reasons.append(f"largest MCSE {worst:.4f} > target {target_mcse}")
    diagnostics = {"draws": len(loglik), "khat": khat, "ess": ess, "max_mcse": worst,
                   "impossible_draws": int((~np.isfinite(loglik)).sum()), "failed": reasons}
    versions = {pkg: importlib.metadata.version(pkg)
                for pkg in ("forecast", "numpy", "arviz", "xarray", "pandas")}
    attrs = {
        "model_name": spec.name,
        "model_hash": stable_hash(spec.model_dump(mode="json")),
        "evidence_hash": stable_hash({
            "cases": [c.to_json() for c in cases], "do": dict(interventions),
            "count_models": [{**vars(m), "rates": dict(m.rates)}
                             for m in observations.counts.values()]}),
        "evidence": canonical_json([c.to_json() for c in cases]),
        "as_of": as_of or "",
        "interventions": canonical_json(dict(interventions)),
        "method": "importance",
        "method_reason": "parameter-level importance sampling: prior draws × exact likelihood "
                         "(the default; NUTS is used when k-hat > 0.7)",
        "seed": seed,
        "versions": canonical_json(versions),
        "diagnostics": canonical_json(diagnostics),
        "publishable": int(not reasons),
    }
    outcome_coords = {"outcome": labels, "node": ("outcome", [n for n, _ in outcomes]),
                      "state": ("outcome", [s for _, s in outcomes])}
    posterior = xr.Dataset(
        {"theta": (("chain", "draw", "parameter"), theta[None]),
         "prob": (("chain", "draw", "outcome"), resampled[None])},
        coords={"chain": [0], "draw": np.arange(len(index)), "parameter": theta_names,
                **outcome_coords},
        attrs=attrs,
    )
    keep = np.array([n not in observed for n, _ in outcomes])
    summary = xr.Dataset(
        {"mean": ("outcome", mean[keep]), "hdi_low": ("outcome", hdi[keep, 0]),
         "hdi_high": ("outcome", hdi[keep, 1]), "mcse": ("outcome", mcse[keep])},
        coords={"outcome": np.array(labels)[keep],
                "node": ("outcome", [n for n, _ in np.array(outcomes, dtype=object)[keep]]),
                "state": ("outcome", [s for _, s in np.array(outcomes, dtype=object)[keep]])},
    )
    with np.errstate(divide="ignore"):
        log_weight = np.log(weights)  # -inf for draws under which the evidence is impossible
    weights_ds = xr.Dataset({"log_weight": ("sample", log_weight),
                             "log_likelihood": ("sample", loglik)})
    idata = az.InferenceData(posterior=posterior)
    idata.add_groups({"forecast": summary, "importance": weights_ds})
    return Forecast(idata)

