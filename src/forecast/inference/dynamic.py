"""Forecasts of a dynamic model from its ledger: one IBIS pass, a :class:`Forecast` per date.

The data flow, for as-of days ``d_1 < … < d_n`` (a replay) or one day (an update)::

    timeline(ledger, d_n)            every row at its step; graded reports; non-occurrence
          │
    IBIS over steps 0 .. s(d_n) − 1  the closed steps before the last day's step; particles
          │                          θ_i (every CPT entry, persistence, source reliability)
          ▼  Snapshot after step s(d) − 1, for each d
    + step s(d) from timeline(ledger, d)   the rows of d's own step up to d (its
          │                                non-occurrence only if d is the step's last day)
          ▼
    nowcast of every condition at s(d)  ·  each event within its window (and within 1, 4, 8
    steps) after s(d)  ·  conditions at s(d) + h    →   Forecast (+ its ``horizons`` group)

The record teaches the parameters: the forecast at ``d`` is conditioned on every row up to
``d``, through the particles' weights and moves, and a replay over many days costs one pass.
A horizon of ``h`` steps counts the ``h`` whole steps after the one holding the as-of day.

A forecast's headline rows keep the meaning of the ledger's questions: a condition's
probability at the as-of step, an event's probability of happening within its definition's
window (24 months: 8 quarterly steps).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from forecast._dates import as_of_date
from forecast.errors import ForecastError, InferenceError, Problem
from forecast.evidence.steps import Timeline, timeline
from forecast.inference.horizon import HORIZONS, horizon_draws
from forecast.inference.importance import KHAT_MAX, MIN_ESS, RHAT_MAX
from forecast.inference.result import HDI_PROB, Forecast
from forecast.inference.sequential import IBIS, Checkpoints, Snapshot, systematic
from forecast.inference.space import ParameterSpace
from forecast.model.parameters import parameters
from forecast.model.schema import ModelSpec
from forecast.model.time import dynamic_network, dynamic_tables, time_parameters, window_steps
from forecast.network.dynamic import DynamicEngine
from forecast.provenance import canonical_json, package_versions, stable_hash

__all__ = ["DEFAULT_PARTICLES", "DatedForecast", "dynamic_forecasts", "first_day"]

DEFAULT_PARTICLES = 2000
"""Particles of the IBIS pass: an ESS of at least 1000 at every step (resampling at half), so
that the MCSE of a probability with a posterior sd of 0.15 stays under 0.005."""

TARGET_MCSE = 0.005
"""Largest Monte Carlo standard error of a publishable forecast's probabilities."""

_Tables = Callable[[Mapping[str, np.ndarray]], tuple[dict, dict]]

METHOD = "ibis"
_REASON = ("dynamic model: the record up to the as-of date by sequential Monte Carlo over the "
           "parameters (IBIS, Chopin 2002) and the exact engine over steps")


@dataclass(frozen=True)
class DatedForecast:
    """One as-of date's forecast and the timeline rows it used.

    Attributes
    ----------
    as_of : str
        ISO date.
    forecast : Forecast
        Headline rows, ``horizons`` group, provenance.
    evidence : pandas.DataFrame
        The timeline rows up to the date (:data:`forecast.evidence.steps.TIMELINE_COLUMNS`),
        non-occurrence included: what a run stores as ``evidence.csv``.
    """

    as_of: str
    forecast: Forecast
    evidence: pd.DataFrame


def dynamic_forecasts(
    spec: ModelSpec,
    ledger: pd.DataFrame,
    dates: Sequence[object],
    *,
    seed: int = 0,
    particles: int = DEFAULT_PARTICLES,
    horizons: Sequence[int] = HORIZONS,
    grades: bool = True,
    nonoccurrence: bool = True,
    start: dt.date | None = None,
    target_mcse: float = TARGET_MCSE,
    chains: int = 1,
    checkpoints: Checkpoints | None = None,
) -> list[DatedForecast]:
    """Forecast a dynamic model at each as-of date from one pass over its record.

    Parameters
    ----------
    spec : ModelSpec
        The model (its ``model.time`` gives the step).
    ledger : pandas.DataFrame
        From :func:`~forecast.evidence.ledger.load_ledger` (may be empty: the model's prior).
    dates : sequence of date-like
        As-of days (any order; the result is in date order, duplicates dropped).
    seed : int
        Seed of the sampler.
    particles : int
        IBIS particles.
    horizons : sequence of int
        Each forecast's ``horizons`` group holds every step from 1 to the longest of these
        (a fan); the events' windows give the headline rows.
    grades : bool
        Hard rows as graded reports of their sources (default) or as certain findings.
    nonoccurrence : bool
        Observe closed steps without an event row as "did not happen", per the events'
        definitions (default), or never.
    start : datetime.date, optional
        A day in step 0: the ledger's first date or the first as-of day, whichever is earlier
        (default). Forecasts to be compared (a ledger against none) need the same start.
    target_mcse : float
        A forecast whose largest MCSE exceeds this is not publishable.
    chains : int
        Independent IBIS passes sharing the `particles` (each has ``particles // chains``),
        pooled for the forecast; with more than one, the split R-hat of every reported
        probability across them is a diagnostic, and above :data:`RHAT_MAX` the forecast is
        not publishable (the passes disagree). The cost is that of one pass of `particles`.
    checkpoints : Checkpoints, optional
        Resume each pass from its checkpoint there when the record before it is unchanged
        (same model, priors, options, seed and rows up to its step), and keep the pass's state
        after its last closed step for the next call. The forecasts are the same with or
        without: only the time differs.

    Returns
    -------
    list of DatedForecast

    Raises
    ------
    ForecastError
        If there are no dates, a horizon is not a positive integer, or `particles` < 2.
    EvidenceError
        If a date is invalid or the ledger does not fit the model.
    InferenceError
        If a date's evidence is impossible under every particle.
    """
    days = sorted({as_of_date(d, future=True) for d in dates})
    problems = []
    if not days:
        problems.append(Problem("no as-of dates", field="dates"))
    if any(not isinstance(h, int | np.integer) or h < 1 for h in horizons):
        problems.append(Problem(f"horizons must be positive whole steps, got {list(horizons)}",
                                field="horizons"))
    if chains < 1:
        problems.append(Problem(f"need at least one chain, got {chains}", field="chains"))
    elif particles < 2 * chains:
        problems.append(Problem(f"need at least 2 particles per chain, got {particles} for "
                                f"{chains}", field="particles"))
    if problems:
        raise ForecastError("dynamic forecasts: bad options", problems)
    start = start or first_day(ledger, days)
    final = timeline(ledger, spec, days[-1], grades=grades, nonoccurrence=nonoccurrence,
                     start=start)
    params = parameters(spec)
    priors: dict[str, Any] = {p.name: p.prior for p in params + time_parameters(spec)}
    priors.update(final.parameters)
    space = ParameterSpace(priors, doubt=spec.model.time.doubt.weight)
    engine = DynamicEngine(dynamic_network(spec))

    def tables(values: Mapping[str, np.ndarray]) -> tuple[dict, dict]:
        return dynamic_tables(spec, values, params=params)

    cal = final.calendar
    before = {d: cal.index(d) - 1 for d in days}  # the last step closed before d's step
    last = max(before.values())
    per = particles // chains
    keep = sorted(set(before.values()) - {-1})
    fingerprints = _step_fingerprints(final, last) if checkpoints is not None else []
    passes = []
    for c in range(chains):  # one chain keeps the seeds it always had
        sampler = IBIS(engine, space, tables, lambda v, s: final.likelihoods(v),
                       particles=per, seed=seed if chains == 1 else
                       np.random.default_rng([seed, 3, c]))
        snaps: dict[int, Snapshot] = {}
        if last >= 0:
            key = _pass_key(spec, space, seed=seed, particles=per, chain=c, chains=chains,
                            start=start, grades=grades, nonoccurrence=nonoccurrence)
            resume = checkpoints.find(key, fingerprints) if checkpoints is not None else None
            if resume is not None and resume.snapshot.step > keep[0]:
                resume = None  # a replay wants snapshots before the checkpoint
            snaps = sampler.run(last + 1, record=keep, resume=resume)
            if checkpoints is not None and (resume is None or resume.snapshot.step < last):
                checkpoints.keep(key, sampler.checkpoint(fingerprints))
        start_rng = np.random.default_rng([seed, 1] if chains == 1 else [seed, 1, c])
        prior = Snapshot(-1, space.sample(start_rng, per), np.zeros(per), np.empty((per, 0)),
                         0.0)
        passes.append((sampler, snaps, prior))
    windows = {n: round(window_steps(spec, n)) for n, x in spec.nodes.items()
               if x.definition.kind == "event"}
    wanted = sorted({*range(1, max(horizons) + 1), *windows.values()})
    rows = [(n, s, h) for h in range(1, max(horizons) + 1) for n in spec.nodes
            for s in spec.states[n]]
    out = []
    for day in days:
        own = timeline(ledger, spec, day, grades=grades, nonoccurrence=nonoccurrence,
                       start=start)
        found = [_chain_at(spec, engine, space, tables, snaps.get(before[day], prior), own,
                           day, windows, wanted, rows,
                           [m for m in sampler.diagnostics if m["step"] <= before[day]])
                 for sampler, snaps, prior in passes]
        out.append(_dated(spec, found, own, day, windows, rows, seed=seed,
                          target_mcse=target_mcse))
    return out


SAMPLER = "ibis-imh-1"
"""The sampler's version in a checkpoint's key: change it with anything that changes a pass."""


def _pass_key(spec: ModelSpec, space: ParameterSpace, **options: Any) -> str:
    """What a checkpoint of one IBIS pass is valid for: model, priors, sampler, options."""
    priors = [[name, repr(space.priors[name])] for name in space.priors]
    return stable_hash({"sampler": SAMPLER, "model": spec.fingerprint, "priors": priors,
                        **{k: str(v) for k, v in options.items()}})


def _step_fingerprints(final: Timeline, last: int) -> list[str]:
    """A hash of each closed step's timeline rows, steps ``0 .. last``."""
    rows = final.rows[["id", "step", "how", "node", "state", "likelihood", "count", "grade",
                       "source"]]
    by_step = {int(k): group.drop(columns="step").astype(str).to_dict("records")
               for k, group in rows.groupby("step")}
    return [stable_hash(by_step.get(k, [])) for k in range(last + 1)]


def first_day(ledger: pd.DataFrame, dates: Sequence[object]) -> dt.date:
    """The default day in step 0 of :func:`dynamic_forecasts`.

    The ledger's first date or the first as-of day, whichever is earlier; give the same one to
    forecasts that will be compared (a ledger's and no evidence's).
    """
    day = min(as_of_date(d, future=True) for d in dates)
    return min(ledger["date"].min().date(), day) if len(ledger) else day


@dataclass(frozen=True)
class _Chain:
    """One particle system at one date: per-particle probabilities, weights, parameters."""

    probs: np.ndarray  # (N, outcomes): the headline rows
    ahead: np.ndarray  # (N, rows): the horizons group
    weights: np.ndarray  # normalised
    values: dict[str, np.ndarray]
    moves: list[dict]


def _chain_at(spec: ModelSpec, engine: DynamicEngine, space: ParameterSpace, tables: _Tables,
              snap: Snapshot, own: Timeline, day: dt.date, windows: dict[str, int],
              wanted: list[int], rows: list[tuple[str, str, int]],
              moves: list[dict]) -> _Chain:
    """One chain at one date: add the date's own step to its snapshot, nowcast, forecast."""
    step = own.steps - 1
    values = space.values(snap.z)
    cpts, trans = tables(values)
    lik = own.likelihoods(values, at=step)
    begin = None if step == 0 else snap.frontier
    filtered = engine.filter(lik, steps=1, cpts=cpts, transitions=trans, start=begin)
    inc = filtered.log_increments[:, 0]
    if not np.any(np.isfinite(inc)):
        raise InferenceError(f"the evidence of {day} is impossible under every particle", [
            Problem("no parameter draw makes the findings of this step possible",
                    field=f"step {own.calendar.label(step)}",
                    hint="check the rows of that step against the model")])
    here = Snapshot(step, snap.z, snap.logw + inc, filtered.frontier, snap.log_evidence)
    net = engine.network.slice
    conditions = [n for n in net.order if n not in windows]
    now = engine.smooth(lik, steps=1, cpts=cpts, transitions=trans, start=begin,
                        nodes=conditions).marginals
    ahead = horizon_draws(engine, here, space, tables, events=list(windows), horizons=wanted)
    columns = [ahead[(node, state, windows[node])] if node in windows else now[node][:, 0, k]
               for node in spec.nodes for k, state in enumerate(spec.states[node])]
    n = len(here.weights)  # fixed values are unbatched: the same for every particle
    batched = {name: np.broadcast_to(v, (n, *np.shape(v))) if name in space.fixed else v
               for name, v in values.items()}
    return _Chain(np.clip(np.stack(columns, axis=1), 0.0, 1.0),
                  np.clip(np.stack([ahead[r] for r in rows], axis=1), 0.0, 1.0),
                  here.weights, batched, moves)


def _dated(spec: ModelSpec, chains: list[_Chain], own: Timeline, day: dt.date,
           windows: dict[str, int], rows: list[tuple[str, str, int]], *, seed: int,
           target_mcse: float) -> DatedForecast:
    """Pool the chains of one date into its Forecast, with the diagnostics and the gate."""
    k = len(chains)
    weights = np.concatenate([c.weights for c in chains]) / k
    ess = float(1.0 / np.sum(weights**2))
    probs = np.concatenate([c.probs for c in chains])
    ahead = np.concatenate([c.ahead for c in chains])
    mean, mcse = _weighted(probs, weights, ess)
    h_mean, h_mcse = _weighted(ahead, weights, ess)
    index = [systematic(c.weights, np.random.default_rng(
        [seed, 2, day.toordinal()] if k == 1 else [seed, 2, day.toordinal(), i]))
        for i, c in enumerate(chains)]
    draws = np.stack([c.probs[ix] for c, ix in zip(chains, index, strict=True)])
    h_draws = np.stack([c.ahead[ix] for c, ix in zip(chains, index, strict=True)])
    flat = [_flatten(c.values, ix) for c, ix in zip(chains, index, strict=True)]
    names, theta = flat[0][0], np.stack([t for _, t in flat])
    moves = [m for c in chains for m in c.moves]
    failed = []
    if ess < MIN_ESS:
        failed.append(f"effective sample size {ess:.0f} < {MIN_ESS}")
    khat = max((m["khat"] for m in moves if np.isfinite(m["khat"])), default=0.0)
    if khat > KHAT_MAX:
        failed.append(f"Pareto k-hat of a reweighting {khat:.2f} > {KHAT_MAX}")
    worst = float(max(mcse.max(), h_mcse.max()))
    if worst > target_mcse:
        failed.append(f"largest MCSE {worst:.4f} > target {target_mcse}")
    rhat = None
    if k > 1:
        spread = draws.std(axis=(0, 1)) > 0  # a constant probability has no R-hat
        found = _rhat(draws[:, :, spread])
        rhat = float(np.nanmax(found)) if found.size else 1.0
        if rhat > RHAT_MAX:
            failed.append(f"R-hat across the {k} chains {rhat:.3f} > {RHAT_MAX}")
    step = own.steps - 1
    diagnostics = {
        "particles": len(weights), "chains": k, "ess": ess, "max_mcse": worst, "khat": khat,
        "rhat": rhat, "moves": len(moves),
        "acceptance": float(np.mean([np.mean(m["acceptance"]) for m in moves])) if moves
        else None,
        "steps": own.steps, "step": own.calendar.label(step), "failed": failed}
    evidence = own.rows
    record = evidence[["id", "step", "how", "node", "state"]].astype(str).to_dict("records")
    attrs = {
        "model_name": spec.name, "model_hash": spec.fingerprint,
        "evidence_hash": stable_hash({"rows": record, "start": own.calendar.first_day(0)
                                      .isoformat()}),
        "evidence": canonical_json(record), "as_of": day.isoformat(), "interventions": "{}",
        "method": METHOD, "method_reason": _REASON, "seed": seed,
        "events": canonical_json(sorted(windows)), "step": own.calendar.step,
        "versions": canonical_json(package_versions()),
        "diagnostics": canonical_json(diagnostics),
        "publishable": int(not failed),
    }
    outcomes = [(n, s) for n in spec.nodes for s in spec.states[n]]
    h_hdi = np.asarray(az.hdi(h_draws, hdi_prob=HDI_PROB))
    horizons = xr.Dataset(
        {"mean": ("row", h_mean), "hdi_low": ("row", h_hdi[:, 0]),
         "hdi_high": ("row", h_hdi[:, 1]), "mcse": ("row", h_mcse)},
        coords={"row": np.arange(len(rows)), "node": ("row", [r[0] for r in rows]),
                "state": ("row", [r[1] for r in rows]),
                "horizon": ("row", np.array([r[2] for r in rows], dtype=np.int64))})
    forecast = Forecast.from_samples(outcomes, draws, mean, mcse, attrs, theta=theta,
                                     parameters=names, groups={"horizons": horizons})
    return DatedForecast(day.isoformat(), forecast, evidence)


def _rhat(draws: np.ndarray) -> np.ndarray:
    """Rank-normalised split R-hat (arviz) of each column of ``(chains, draws, columns)``."""
    dataset = xr.Dataset({"p": (("chain", "draw", "column"), draws)})
    return np.asarray(az.rhat(dataset)["p"].values)


def _weighted(p: np.ndarray, w: np.ndarray, ess: float) -> tuple[np.ndarray, np.ndarray]:
    """Weighted means of the columns of `p` and their MCSE ``sd / sqrt(ESS)``."""
    mean = w @ p
    sd = np.sqrt(np.clip(w @ (p - mean) ** 2, 0.0, None))
    return mean, sd / np.sqrt(max(ess, 1.0))


def _flatten(values: dict[str, np.ndarray], index: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Every scalar component of the parameter values, one column each, at the resampled rows.

    `values` holds each parameter per particle (first axis: the particles). The rows are
    `index`, the systematic resampling that also gives the probability draws, so each draw's
    parameters stay with its probabilities.
    """
    names, columns = [], []
    for name, v in values.items():
        v = np.asarray(v)
        v = v.reshape(v.shape[0], -1)[index]
        for j in range(v.shape[1]):
            names.append(name if v.shape[1] == 1 else f"{name}[{j}]")
            columns.append(v[:, j])
    return names, np.stack(columns, axis=1)
