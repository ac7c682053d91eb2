"""Forecasts over horizons from a particle system: events within h steps, conditions at h.

For each particle θ_i of a :class:`~forecast.inference.sequential.Snapshot` (its filtering
distribution of the persistent conditions at the as-of step in hand) the exact engine gives

* for an event: ``P(at least one occurrence in steps t+1 .. t+h | y, θ_i)`` — one minus the
  probability of the evidence "did not happen" at each of those steps, accumulated step by
  step, so every horizon comes from one forward pass per event, run on the event's ancestors
  only (:meth:`~forecast.network.dynamic.DynamicEngine.restricted`: the other nodes are
  barren, and the frontier of the ancestors is often a small part of the whole);
* for a condition: ``P(state at step t+h | y, θ_i)``, the frontier propagated without evidence
  (persistent conditions) or the step's marginal (conditions without memory).

:mod:`forecast.inference.dynamic` turns them into a forecast: the weighted mean over particles,
its 90% interval from a resample, its Monte Carlo standard error ``sd / sqrt(ESS)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from forecast.inference.sequential import Snapshot
from forecast.inference.space import ParameterSpace
from forecast.network.dynamic import DynamicEngine, step_likelihoods

__all__ = ["HORIZONS", "horizon_draws"]

HORIZONS = (1, 4, 8)
"""Default horizons in steps (a quarter, a year and two years for quarterly models)."""


def horizon_draws(
    engine: DynamicEngine,
    snapshot: Snapshot,
    space: ParameterSpace,
    tables: Callable[[Mapping[str, np.ndarray]], tuple[dict, dict]],
    *,
    events: Sequence[str],
    horizons: Sequence[int] = HORIZONS,
    nodes: Sequence[str] | None = None,
) -> dict[tuple[str, str, int], np.ndarray]:
    """Per-particle probabilities of every scenario at every horizon.

    Parameters
    ----------
    engine : DynamicEngine
    snapshot : Snapshot
        The particles at the as-of step.
    space : ParameterSpace
    tables : callable
        ``values -> (cpts, transitions)``.
    events : sequence of str
        The event nodes (their first state is "does not happen").
    horizons : sequence of int
        Steps ahead, each ≥ 1.
    nodes : sequence of str, optional
        Only these nodes (default: all).

    Returns
    -------
    dict
        ``(node, state, h) -> (N,)``: for events the non-first states mean "happens within h
        steps" (the first state, "does not happen", is one minus the rest); for conditions the
        state's probability at step t+h.
    """
    net = engine.network.slice
    wanted = list(net.order if nodes is None else nodes)
    longest = max(horizons)
    values = space.values(snapshot.z)
    cpts, trans = tables(values)
    out: dict[tuple[str, str, int], np.ndarray] = {}
    kinds = set(events)
    events = [n for n in wanted if n in kinds]
    others = [n for n in wanted if n not in kinds]
    if others:
        post = engine.predict(snapshot.frontier, longest, cpts=cpts, transitions=trans,
                              nodes=others)
        for node in others:
            for h in horizons:
                for k, state in enumerate(net.states[node]):
                    out[(node, state, h)] = post[node][:, h - 1, k]
    for node in events:
        # only the event's ancestors matter: forecast on their (smaller) frontier
        sub = engine.restricted([node])
        start = engine.marginal_frontier(snapshot.frontier, sub)
        keep = sub.network.slice.states
        sub_cpts = {n: v for n, v in cpts.items() if n in keep}
        sub_trans = {n: v for n, v in trans.items() if n in keep}
        first = net.states[node][0]
        lik = step_likelihoods(sub.network.slice, longest,
                               [(k, node, first) for k in range(longest)])
        filtered = sub.filter(lik, cpts=sub_cpts, transitions=sub_trans, start=start)
        never = np.exp(np.cumsum(filtered.log_increments, axis=1))  # P(no occurrence by h)
        others_states = net.states[node][1:]
        ahead = None  # several kinds of occurrence: split by the occurrence marginals
        if len(others_states) > 1:
            ahead = sub.predict(start, longest, cpts=sub_cpts, transitions=sub_trans,
                                nodes=[node])[node][:, :, 1:]
        for h in horizons:
            out[(node, first, h)] = never[:, h - 1]
            rest = 1.0 - never[:, h - 1]
            if ahead is None:
                out[(node, others_states[0], h)] = rest
            else:
                share = ahead[:, :h].sum(axis=1)
                share = share / np.where(share.sum(axis=1, keepdims=True) > 0,
                                         share.sum(axis=1, keepdims=True), 1.0)
                for j, state in enumerate(others_states):
                    out[(node, state, h)] = rest * share[:, j]
    return out

