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
* **NUTS** (:mod:`forecast.inference.pymc_model`) when the weights degenerate (k̂ > 0.7), e.g. when
  many cases share the parameters.

Evidence comes as one *target* case, whose scenarios are reported, and optional *history*
cases (other periods or regions) that share the parameters and only inform θ.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import arviz as az
import numpy as np
import xarray as xr

from forecast.errors import EvidenceError, ForecastError, InferenceError, Problem
from forecast.evidence.case import Case
from forecast.evidence.lagged import twin_cpts, twins_of, with_twins
from forecast.evidence.observations import CountModel, ObservationModel
from forecast.inference.result import Forecast
from forecast.model.cpts import build_cpts, intervention_cpts
from forecast.model.parameters import Parameter, parameters, sample_parameters
from forecast.model.schema import ModelSpec
from forecast.network.exact import ExactEngine
from forecast.network.network import Network
from forecast.provenance import canonical_json, package_versions, stable_hash

__all__ = [
    "KHAT_MAX",
    "MIN_ESS",
    "RHAT_MAX",
    "Forecaster",
    "importance_forecast",
    "nuts_forecast",
    "posterior_forecast",
    "smoothed_weights",
    "structure_engine",
]



class Forecaster(Protocol):
    """What the jobs (update, replay, score) call to forecast one case as of a day.

    :func:`posterior_forecast` is one and the default everywhere; a caller may pass another
    (``functools.partial(posterior_forecast, method="nuts")``, or a stub that returns
    :meth:`Forecast.from_draws <forecast.inference.result.Forecast.from_draws>` in a test).
    """

    def __call__(self, spec: ModelSpec, case: Case, /, *, seed: int, as_of: str) -> Forecast:
        """The forecast of `case` under `spec` with this seed, recorded as of `as_of`."""
        ...


KHAT_MAX = 0.7
"""Pareto k̂ above which importance weights are unreliable (Vehtari et al., PSIS)."""

MIN_ESS = 400
"""Effective sample size below which a forecast is not publishable (MCSE ≈ sd / 20)."""

RHAT_MAX = 1.01
"""Largest split R-hat of any reported probability for a publishable NUTS forecast."""

_RESAMPLED = 4000  # equally weighted draws kept in the InferenceData posterior


def _check_interventions(target: Case, interventions: Mapping[str, str]) -> None:
    """Refuse ``do(node)`` on a node the target case also has a finding on.

    Setting a node replaces whatever was observed of it; keeping both asks the model for a
    world in which the node is in two states (or is weighed by a report it no longer depends
    on), so the caller must say which one they mean.
    """
    problems = []
    for node, state in interventions.items():
        seen = ([f"{node}={target.evidence[node]}"] if node in target.evidence else []) + (
            [f"{node}~soft"] if node in target.soft else []) + (
            [f"a report on {node}"] if any(r.node == node for r in target.reports) else [])
        if seen:
            problems.append(Problem(
                f"{node} is also observed ({', '.join(seen)})", field=f"do({node}={state})",
                hint=f"a what-if replaces the observation: drop {node}'s findings from the case "
                "(e.g. Case({k: v for k, v in case.evidence.items() if k != node}, ...)), "
                "or condition on it instead of intervening"))
    if problems:
        raise EvidenceError("cannot set a node the evidence observes", problems)


def importance_forecast(
    spec: ModelSpec,
    target: Case | Mapping[str, str] | None = None,
    history: Sequence[Case | Mapping[str, str]] = (),
    *,
    draws: int = 20_000,
    max_draws: int = 320_000,
    target_mcse: float = 0.005,
    seed: int | np.random.Generator = 0,
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
    target : Case or mapping, optional
        Findings of the case whose scenario probabilities are reported (none: the prior); a
        plain mapping ``{node: state}`` (or ``{node: [λ, ...]}``) is read by :meth:`Case.of`.
    history : sequence of Case or mapping
        Further cases sharing the parameters; they inform θ only.
    draws : int
        Prior draws in the first round.
    max_draws : int
        Upper bound on draws when rounds are added to reach `target_mcse`.
    target_mcse : float
        Largest acceptable Monte Carlo standard error of any reported probability.
    seed : int or numpy.random.Generator
        Seed of ``numpy.random.default_rng``, or a generator to draw from (and advance); the same
        inputs and seed give the same result. The provenance records the int, or the generator's
        state before the first draw.
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
    cases = [Case.of(target), *(Case.of(h) for h in history)]
    target = cases[0]
    _check_interventions(target, interventions or {})
    params = parameters(spec)
    twins = twins_of(spec, cases)
    observations = ObservationModel(with_twins(spec.states, spec.parents, twins)[0], cases,
                                    count_models)
    do = intervention_cpts(spec, interventions or {})
    if engine is None or not set(twins) <= set(engine.network.nodes):
        engine = structure_engine(spec, twins)
    recorded = _recorded(seed)
    rng, resample_rng = _streams(seed)
    values: dict[str, np.ndarray] = {}
    loglik = np.empty(0)
    probs = np.empty((0, sum(len(s) for s in spec.states.values())))
    n_new = draws
    while True:
        new = {**sample_parameters(spec, n_new, rng), **observations.sample(rng, n_new)}
        cpts = twin_cpts(build_cpts(spec, new, params=params), twins)
        soft = [observations.likelihoods(c, new) for c in cases]
        # the CPTs are batched (n_new draws), so every result has the draws' axis
        ll = sum(engine.log_evidence(c.evidence, s, {**cpts, **(do if i == 0 else {})})
                 for i, (c, s) in enumerate(zip(cases, soft, strict=True)))
        p_new = np.full((n_new, probs.shape[1]), np.nan)
        ok = np.isfinite(ll)
        if ok.any():
            post = engine.query(target.evidence, _draws(soft[0], ok),
                                {**{n: c[ok] for n, c in cpts.items()}, **do})
            p_new[ok] = np.concatenate([post.marginals[n] for n in spec.states], axis=1)
        values = {k: np.concatenate([values[k], v]) if k in values else v for k, v in new.items()}
        loglik = np.concatenate([loglik, ll])
        probs = np.concatenate([probs, p_new])
        weights, khat = smoothed_weights(loglik, cases)
        mean, mcse = _weighted_moments(probs, weights)
        if mcse.max() <= target_mcse or len(loglik) >= max_draws or khat > KHAT_MAX:
            break
        need = len(loglik) * (mcse.max() / target_mcse) ** 2 * 1.1
        n_new = int(min(max_draws, np.ceil(need / 1000) * 1000) - len(loglik))
    return _assemble(spec, params, observations, cases, values, probs, loglik, weights, khat,
                     mean, mcse, resample_rng, recorded, as_of, target_mcse, interventions or {})


def posterior_forecast(
    spec: ModelSpec,
    target: Case | Mapping[str, str] | None = None,
    history: Sequence[Case | Mapping[str, str]] = (),
    *,
    method: str = "auto",
    seed: int | np.random.Generator = 0,
    as_of: str | None = None,
    count_models: Sequence[CountModel] = (),
    interventions: Mapping[str, str] | None = None,
    draws: int = 20_000,
    nuts_draws: int = 1000,
) -> Forecast:
    """Posterior scenario probabilities by the method that fits the evidence.

    ``method="auto"`` runs importance sampling and switches to NUTS when the Pareto k̂ of the
    weights exceeds :data:`KHAT_MAX` (typically many shared-parameter cases); the forecast's
    ``method`` and ``method_reason`` attributes record what ran and why.

    Parameters
    ----------
    spec, target, history, seed, as_of, count_models, interventions
        As in :func:`importance_forecast`.
    method : {"auto", "importance", "nuts"}
        Which sampler; "auto" chooses as above.
    draws : int
        Prior draws of the importance sampler's first round.
    nuts_draws : int
        Draws (and tuning steps) per NUTS chain.

    Returns
    -------
    Forecast
        Not publishable when its sampler's diagnostics fail.

    Raises
    ------
    ForecastError
        If `method` is unknown.
    """
    if method not in ("auto", "importance", "nuts"):
        raise ForecastError(f"unknown method '{method}'", [
            Problem("choose 'auto', 'importance' or 'nuts'", field="method")])
    target, history = Case.of(target), [Case.of(h) for h in history]
    if method != "nuts":
        result = importance_forecast(spec, target, history, draws=draws, seed=seed, as_of=as_of,
                                     count_models=count_models, interventions=interventions)
        khat = result.attrs["diagnostics"]["khat"]
        if method == "importance" or khat <= KHAT_MAX:
            return result
        reason = (f"NUTS: importance weights degenerate (Pareto k-hat {khat:.2f} > "
                  f"{KHAT_MAX}), typically from many cases sharing the parameters")
    else:
        reason = "NUTS, as requested"
    return nuts_forecast(spec, target, history, seed=seed, as_of=as_of, draws=nuts_draws,
                         count_models=count_models, interventions=interventions, reason=reason)


def nuts_forecast(
    spec: ModelSpec,
    target: Case | Mapping[str, str] | None = None,
    history: Sequence[Case | Mapping[str, str]] = (),
    *,
    draws: int = 1000,
    chains: int = 2,
    seed: int | np.random.Generator = 0,
    as_of: str | None = None,
    target_mcse: float = 0.005,
    count_models: Sequence[CountModel] = (),
    interventions: Mapping[str, str] | None = None,
    reason: str = "NUTS",
) -> Forecast:
    """Posterior scenario probabilities from NUTS on the PyMC model of the spec.

    The parameters are sampled by :func:`forecast.inference.pymc_model.sample_nuts`; for every draw
    the exact engine gives the target case's probabilities (one batched call). The forecast is not
    publishable if any reported probability has R-hat > :data:`RHAT_MAX`, there is any divergence, a
    bulk ESS below :data:`MIN_ESS`, or an MCSE above `target_mcse`.

    Parameters
    ----------
    spec, target, history, seed, as_of, count_models, interventions
        As in :func:`importance_forecast`.
    draws : int
        Draws and tuning steps per chain.
    chains : int
        Number of chains.
    target_mcse : float
        Largest acceptable Monte Carlo standard error.
    reason : str
        Why NUTS was chosen, recorded in the provenance.

    Returns
    -------
    Forecast
    """
    from forecast.inference.pymc_model import sample_nuts

    cases = [Case.of(target), *(Case.of(h) for h in history)]
    target = cases[0]
    _check_interventions(target, interventions or {})
    params = parameters(spec)
    twins = twins_of(spec, cases)
    observations = ObservationModel(with_twins(spec.states, spec.parents, twins)[0], cases,
                                    count_models)
    engine = structure_engine(spec, twins)
    recorded = _recorded(seed)
    idata = sample_nuts(spec, cases, draws=draws, tune=draws, chains=chains, seed=seed,
                        count_models=count_models, interventions=interventions, engine=engine)
    do = intervention_cpts(spec, interventions or {})
    post = idata["posterior"]
    n_chains, n_draws = post.sizes["chain"], post.sizes["draw"]
    values = {}
    for p in params:
        if p.name in post:
            v = post[p.name].values
            values[p.name] = v.reshape(n_chains * n_draws, *v.shape[2:])
        else:  # fixed by the analyst
            mean = np.asarray(p.prior.mean, dtype=float)
            values[p.name] = np.broadcast_to(mean, (n_chains * n_draws, *mean.shape))
    obs_values = {k: post[k].values.reshape(n_chains * n_draws) for k in observations.priors}
    cpts = twin_cpts(build_cpts(spec, values, params=params), twins)
    soft = observations.likelihoods(target, obs_values)
    marginals = engine.query(target.evidence, soft, {**cpts, **do}).marginals
    flat = np.concatenate([marginals[n] for n in spec.states], axis=1)
    probs = flat.reshape(n_chains, n_draws, -1)
    mean = flat.mean(axis=0)
    # constant probabilities (observed nodes) have no ESS or R-hat: diagnose the others
    varying = np.ptp(flat, axis=0) > 0
    mcse = np.zeros(flat.shape[1])
    ess = np.full(flat.shape[1], np.inf)
    rhat = np.ones(flat.shape[1])
    if varying.any():
        draws_ds = xr.Dataset({"p": (("chain", "draw", "outcome"), probs[..., varying])})
        mcse[varying], ess[varying], rhat[varying] = (
            f(draws_ds)["p"].values for f in (az.mcse, az.ess, az.rhat))
    divergences = int(idata["sample_stats"]["diverging"].sum())
    reasons = []
    if rhat.max() > RHAT_MAX:
        reasons.append(f"R-hat {rhat.max():.3f} > {RHAT_MAX}")
    if divergences:
        reasons.append(f"{divergences} divergent transitions")
    if ess.min() < MIN_ESS:
        reasons.append(f"bulk ESS {ess.min():.0f} < {MIN_ESS}")
    if mcse.max() > target_mcse:
        reasons.append(f"largest MCSE {mcse.max():.4f} > target {target_mcse}")
    diagnostics = {
        "draws": n_chains * n_draws, "chains": n_chains, "divergences": divergences,
        "max_rhat": float(rhat.max()),
        "ess": float(ess.min()) if varying.any() else float(n_chains * n_draws),
        "max_mcse": float(mcse.max()), "failed": reasons,
    }
    theta_names, theta = _theta_table(params, values, slice(None))
    if obs_values:
        theta_names += list(obs_values)
        theta = np.concatenate([theta, np.stack(list(obs_values.values()), axis=1)], axis=1)
    theta = theta.reshape(n_chains, n_draws, -1)
    return _forecast(spec, observations, cases, interventions or {}, theta_names, theta, probs,
                     mean,
                     mcse, diagnostics, "nuts", reason, recorded, as_of,
                     {"sample_stats": idata["sample_stats"]})


def _streams(seed: int | np.random.Generator) -> tuple[np.random.Generator, np.random.Generator]:
    """Generators for the prior draws and for resampling them.

    From an int, two independent streams (``seed`` and ``[seed, 1]``); a generator serves both,
    in turn.
    """
    if isinstance(seed, np.random.Generator):
        return seed, seed
    return np.random.default_rng(seed), np.random.default_rng([seed, 1])


def _recorded(seed: int | np.random.Generator) -> int | str:
    """The seed as the provenance records it: the int, or a generator's state before any draw."""
    if isinstance(seed, np.random.Generator):
        return canonical_json(seed.bit_generator.state)
    return int(seed)


def _draws(soft: Mapping[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    """The draws `keep` of per-draw likelihoods ``(n, card)``; fixed ones ``(card,)`` as given."""
    return {k: v[keep] if v.ndim == 2 else v for k, v in soft.items()}


def structure_engine(spec: ModelSpec, twins: Mapping[str, str] | None = None) -> ExactEngine:
    """An engine on the spec's graph plus `twins` (see :mod:`forecast.evidence.lagged`).

    Its placeholder CPTs are replaced by every query's draws.

    Engines are cached per (spec object, twins, thread), so that repeated forecasts of one
    model (a replay, an explanation) reuse their contraction plans; an engine's plan cache is
    never shared between threads.
    """
    twins = dict(twins or {})
    key = (id(spec), tuple(twins), threading.get_ident())
    cached = _ENGINES.get(key)
    if cached is not None and cached[0] is spec:
        _ENGINES.move_to_end(key)
        return cached[1]
    states, parents = with_twins(spec.states, spec.parents, twins)
    uniform = {n: np.full((*(len(states[p]) for p in parents[n]), len(states[n])),
                          1.0 / len(states[n])) for n in states}
    engine = ExactEngine(Network(states, parents, uniform, name=spec.name))
    _ENGINES[key] = (spec, engine)  # the spec is kept so that its id cannot be reused
    while len(_ENGINES) > _ENGINE_CACHE:
        _ENGINES.popitem(last=False)
    return engine


_ENGINE_CACHE = 16
_ENGINES: OrderedDict[tuple, tuple[ModelSpec, ExactEngine]] = OrderedDict()


def smoothed_weights(loglik: np.ndarray, cases: Sequence[Case]) -> tuple[np.ndarray, float]:
    """Pareto-smoothed, normalised importance weights of log-likelihoods, and their k̂.

    Raises an InferenceError naming the findings of `cases` when no draw makes them possible.
    """
    finite = np.isfinite(loglik)
    if not finite.any():
        findings = [f"{n}={s}" for c in cases for n, s in c.evidence.items()]
        findings += [f"{n}~soft" for c in cases for n in c.soft]
        raise InferenceError(
            "the evidence is impossible under every prior draw of the model",
            [Problem("these findings cannot all hold: " + ", ".join(findings), field="findings",
                     hint="check the findings against the model's fixed probabilities")])
    if all(c.empty for c in cases):
        return np.full(len(loglik), 1.0 / len(loglik)), -np.inf
    lw = np.where(finite, loglik, -np.inf)
    lw_finite, khat = lw[finite] - lw[finite].max(), np.inf  # one draw: no tail to fit
    if finite.sum() > 1:
        lw_finite, khat = az.psislw(lw_finite)
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


def _theta_table(params: Sequence[Parameter], values: Mapping[str, np.ndarray],
                 index: np.ndarray | slice) -> tuple[list[str], np.ndarray]:
    names: list[str] = []
    columns: list[np.ndarray] = []
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


def _assemble(spec: ModelSpec, params: Sequence[Parameter], observations: ObservationModel,
              cases: Sequence[Case], values: Mapping[str, np.ndarray], probs: np.ndarray,
              loglik: np.ndarray, weights: np.ndarray, khat: float, mean: np.ndarray,
              mcse: np.ndarray, rng: np.random.Generator, seed: int | str, as_of: str | None,
              target_mcse: float, interventions: Mapping[str, str]) -> Forecast:
    """Build the Forecast of an importance run: resample equally weighted draws, diagnose."""
    index = _resample(weights, min(_RESAMPLED, len(weights)), rng)
    theta_names, theta = _theta_table(params, values, index)
    obs_names = list(observations.priors)
    if obs_names:
        theta_names += obs_names
        theta = np.concatenate([theta, np.stack([values[k][index] for k in obs_names], 1)], 1)
    ess = float(1.0 / np.sum(weights**2))
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
    with np.errstate(divide="ignore"):
        log_weight = np.log(weights)  # -inf for draws under which the evidence is impossible
    weights_ds = xr.Dataset({"log_weight": ("draw", log_weight),  # every prior draw
                             "log_likelihood": ("draw", loglik)})
    return _forecast(
        spec, observations, cases, interventions, theta_names, theta[None], probs[index][None],
        mean, mcse, diagnostics, "importance",
        "parameter-level importance sampling: prior draws × exact likelihood (the default)",
        seed, as_of, {"importance": weights_ds})


def _forecast(spec: ModelSpec, observations: ObservationModel, cases: Sequence[Case],
              interventions: Mapping[str, str], theta_names: Sequence[str], theta: np.ndarray,
              probs: np.ndarray, mean: np.ndarray, mcse: np.ndarray,
              diagnostics: Mapping[str, Any], method: str, reason: str, seed: int | str,
              as_of: str | None, extra_groups: Mapping[str, xr.Dataset]) -> Forecast:
    """The Forecast of any sampler: ``theta`` and ``probs`` have shape (chain, draw, ...)."""
    attrs = {
        "model_name": spec.name,
        "model_hash": spec.fingerprint,
        "evidence_hash": stable_hash({
            "cases": [c.to_json() for c in cases], "do": dict(interventions),
            "count_models": [{**vars(m), "rates": dict(m.rates)}
                             for m in observations.counts.values()]}),
        "evidence": canonical_json([c.to_json() for c in cases]),
        "as_of": as_of or "",
        "interventions": canonical_json(dict(interventions)),
        "method": method,
        "method_reason": reason,
        "seed": seed,
        "versions": canonical_json(package_versions()),
        "diagnostics": canonical_json(diagnostics),
        "publishable": int(not diagnostics["failed"]),
    }
    outcomes = [(n, s) for n in spec.states for s in spec.states[n]]
    return Forecast.from_samples(outcomes, probs, mean, mcse, attrs, theta=theta,
                                 parameters=theta_names,
                                 observed=set(cases[0].evidence) | set(interventions),
                                 groups=extra_groups)
