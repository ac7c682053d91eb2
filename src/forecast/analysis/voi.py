"""Indicators to watch: which unobserved node, observed next, would tell most about a scenario."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import special

from forecast.analysis.draws import (
    batch_size,
    check_case,
    check_target,
    engine_and_cpts,
    pairs_text,
    posterior_draws,
)
from forecast.errors import (
    EvidenceError,
    Problem,
    did_you_mean,
)
from forecast.evidence.case import Case
from forecast.inference.importance import smoothed_weights
from forecast.inference.result import Forecast
from forecast.model.schema import ModelSpec
from forecast.network.exact import ExactEngine
from forecast.network.network import Network

__all__ = ['value_of_information', 'value_of_information_network']


# ============================================================================ value of information
def value_of_information(
    spec: ModelSpec,
    case: Case,
    node: str,
    state: str,
    *,
    forecast: Forecast | None = None,
    candidates: Sequence[str] | None = None,
    draws: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Indicators to watch: which node, observed next, would tell most about a scenario.

    For each candidate X the predictive joint ``P(S, X = x | e)`` of the scenario
    ``S = [node = state]`` and X is integrated over the parameter posterior: for every draw θ
    the engine gives ``P(node = t | e, θ)`` and ``P(X | e, node = t, θ)`` (one batched query per
    state t for all candidates at once), and the draws are averaged with their posterior
    weights. Observing X = x would then move the forecast to ``P(S | e, X = x)``, θ re-weighted
    by what x says about it, exactly as a new forecast would.

    * ``mutual_info`` — ``I(S; X | e)`` in bits: the expected reduction of the scenario's
      entropy (``attrs["entropy"]`` bits now) from observing X;
    * ``expected_shift`` — ``Σ_x P(x | e) |P(S | e, x) − P(S | e)|``: how far the headline
      probability is expected to move.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    case : Case
        The current findings (hard and soft; twins allowed).
    node, state : str
        The scenario.
    forecast : Forecast, optional
        A forecast of this case; its posterior draws of θ are used. Without it, `draws` prior
        draws are weighted by ``P(e | θ)`` (Pareto-smoothed importance sampling).
    candidates : sequence of str, optional
        Nodes to consider; by default every model node without a finding, except `node`.
    draws : int
        Prior draws when no forecast is given.
    seed : int
        Seed of those draws.

    Returns
    -------
    pandas.DataFrame
        One row per candidate, sorted by ``mutual_info`` descending: ``node``,
        ``mutual_info``, ``expected_shift``, ``p_states`` (text, ``P(X = x | e)`` per state),
        ``most_informative_state`` (the x that would move the scenario most), ``p_if``
        (text, ``P(S | e, X = x)`` per state). ``attrs``: ``base`` (``P(S | e)``), ``entropy``,
        ``p_states`` and ``p_if`` as nested dicts, ``diagnostics`` (draws, ESS, Pareto k̂).

    Raises
    ------
    EvidenceError
        Unknown scenario or candidates, a scenario node that is already observed, a case with
        reports or counts.
    ForecastError
        If `forecast` is not of this model and case.
    InferenceError
        If the findings are impossible under the model.
    """
    check_target(spec.states, node, state)
    check_case(case)
    candidates = _candidates(spec.states, case, node, candidates)
    values, weights = posterior_draws(spec, case, forecast, draws, seed)
    engine, cpts = engine_and_cpts(spec, [case], values)
    return _information(engine, cpts, weights, case, node, state, candidates)

def value_of_information_network(
    network: Network,
    node: str,
    state: str,
    *,
    evidence: Mapping[str, str] | None = None,
    soft: Mapping[str, Sequence[float]] | None = None,
    candidates: Sequence[str] | None = None,
) -> pd.DataFrame:
    """:func:`value_of_information` on a network with fixed CPTs (e.g. read from a BIF file).

    Parameters
    ----------
    network : Network
        The network.
    node, state : str
        The scenario.
    evidence, soft : mapping, optional
        Hard and soft findings.
    candidates : sequence of str, optional
        As in :func:`value_of_information`.

    Returns
    -------
    pandas.DataFrame
        As :func:`value_of_information`.
    """
    case = Case(dict(evidence or {}), {k: tuple(v) for k, v in (soft or {}).items()})
    check_target(network.states, node, state)
    candidates = _candidates(network.states, case, node, candidates)
    one_draw = {n: c[None] for n, c in network.cpts.items()}  # the network: a batch of one
    return _information(ExactEngine(network), one_draw, np.ones(1), case, node, state, candidates)

def _candidates(states: Mapping[str, Sequence[str]], case: Case, node: str,
                candidates: Sequence[str] | None) -> list[str]:
    if node in case.evidence:
        raise EvidenceError(f"the scenario node '{node}' is already observed", [Problem(
            "nothing more can be learnt about it", field=f"case.evidence[{node}]",
            hint="ask about a node without a hard finding")])
    if candidates is None:
        return [n for n in states if n != node and n not in case.evidence
                and n not in case.soft]
    problems = []
    for c in candidates:
        if c not in states:
            problems.append(Problem("not a node of the model", field=f"candidate {c}",
                                    hint=did_you_mean(c, states)))
        elif c == node or c in case.evidence:
            problems.append(Problem("is the scenario node or already observed",
                                    field=f"candidate {c}", hint="leave it out"))
    if problems:
        raise EvidenceError("cannot rank these candidates", problems)
    return list(dict.fromkeys(candidates))

def _information(engine: ExactEngine, cpts: Mapping[str, np.ndarray],
                 weights: np.ndarray | None, case: Case, node: str, state: str,
                 candidates: Sequence[str]) -> pd.DataFrame:
    """The VOI table from per-draw engine queries; `weights` None: importance weights."""
    states = engine.network.states
    n = len(weights) if weights is not None else batch_size(cpts)
    soft = {k: np.asarray(v, dtype=float) for k, v in case.soft.items()}
    given = [{**case.evidence, node: t} for t in states[node]]
    lls = np.stack([engine.log_evidence(ev, soft, cpts) for ev in given])  # (state, draw)
    with np.errstate(invalid="ignore"):  # -inf - -inf where the case is impossible
        log_pe = special.logsumexp(lls, axis=0)
        p_state = np.where(np.isfinite(lls), np.exp(lls - log_pe), 0.0)  # P(node=t | e, θ)
    diagnostics: dict[str, float] = {"draws": n}
    if weights is None:
        weights, khat = smoothed_weights(log_pe, [case])
        diagnostics["khat"] = khat
    else:
        weights = np.where(np.isfinite(log_pe), weights, 0.0)
        if not weights.sum() > 0:
            smoothed_weights(log_pe, [case])  # raises: the findings are impossible
        weights = weights / weights.sum()
    diagnostics["ess"] = float(1.0 / np.sum(weights**2))
    joint = {x: np.zeros((len(states[node]), len(states[x]))) for x in candidates}
    for k, ev in enumerate(given):
        use = (weights > 0) & (p_state[k] > 0)
        if not use.any():
            continue
        post = engine.query(ev, soft, {k: c[use] for k, c in cpts.items()})
        w = weights[use] * p_state[k, use]  # posterior weight × P(node = t | e, θ)
        for x in candidates:
            joint[x][k] = w @ post.marginals[x]
    s = states[node].index(state)
    rows, p_states, p_if = [], {}, {}
    base = float(weights @ p_state[s])  # P(S | e)
    for x in candidates:
        both = np.stack([joint[x][s], joint[x].sum(axis=0) - joint[x][s]])  # (S, not S) × x
        px = both.sum(axis=0)
        mi = float(special.rel_entr(both, np.outer(both.sum(axis=1), px)).sum() / math.log(2))
        with np.errstate(invalid="ignore", divide="ignore"):
            p_x = np.where(px > 0, both[0] / px, base)
        move = np.abs(p_x - base)
        p_states[x] = dict(zip(states[x], px.tolist(), strict=True))
        p_if[x] = dict(zip(states[x], p_x.tolist(), strict=True))
        rows.append({"node": x, "mutual_info": max(mi, 0.0),
                     "expected_shift": float(px @ move),
                     "p_states": pairs_text(p_states[x]),
                     "most_informative_state": states[x][int(np.argmax(np.where(px > 0, move,
                                                                               -1.0)))],
                     "p_if": pairs_text(p_if[x])})
    columns = ["node", "mutual_info", "expected_shift", "p_states", "most_informative_state",
               "p_if"]
    frame = pd.DataFrame(rows, columns=columns)
    frame = frame.sort_values(["mutual_info", "expected_shift"], ascending=False,
                              kind="stable").reset_index(drop=True)
    frame.attrs.update({"node": node, "state": state, "base": base,
                        "entropy": _entropy_bits(base), "p_states": p_states, "p_if": p_if,
                        "diagnostics": diagnostics})
    return frame


def _entropy_bits(p: float) -> float:
    return float(special.entr([p, 1 - p]).sum() / math.log(2))
