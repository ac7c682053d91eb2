"""Why a forecast says what it says: sensitivity, what moved it, what to watch, what conflicts.

Four explanations, each a tidy table (plots live elsewhere and only read these):

* :func:`parameter_sensitivity` — which uncertain CPT parameters move a scenario most, read off
  the forecast's posterior draws (the input of a tornado plot);
* :func:`attribute_change` (:func:`forecast.ops.attribution.attribute_runs` between runs) — each
  ledger row that was added, removed or changed between two forecasts, with its share of the change
  in the scenario's log-odds: Shapley values over the changed rows, so the shares add up to the
  whole change and do not depend on the order the rows are considered in;
* :func:`value_of_information` — "indicators to watch": which unobserved node, observed next,
  would tell most about the scenario (mutual information and expected move of its probability);
* :func:`evidence_conflict` — findings that are jointly less probable than if they were
  independent (Jensen's conflict measure), for the whole case and each pair.

Every number is integrated over the uncertain parameters θ, never computed at a single "best"
network. The discrete nodes are summed out exactly by the batched engine, one call for thousands of
draws of θ. Draws of θ come from a :class:`~forecast.inference.result.Forecast`'s posterior when one
is given, otherwise from the prior, weighted by the likelihood of the evidence (importance sampling,
as :func:`forecast.inference.importance.importance_forecast` does). Findings on an event's
previous-window twin (:mod:`forecast.evidence.lagged`) are handled by building the engine and CPTs
the way the importance sampler does (:func:`_engine_and_cpts`).

The explanations take hard and soft findings; cases with source reports or counts are refused
with an error (their likelihoods depend on further parameters).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from forecast.errors import (
    EvidenceError,
    ForecastError,
    InferenceError,
    Problem,
    did_you_mean,
)
from forecast.evidence.case import Case
from forecast.evidence.lagged import base_node, twin_cpts, twins_of
from forecast.evidence.ledger import case_from_rows
from forecast.inference.importance import _smoothed_weights, _structure_engine
from forecast.inference.result import Forecast
from forecast.model.cpts import build_cpts
from forecast.model.parameters import parameters, sample_parameters
from forecast.model.schema import ModelSpec
from forecast.network.exact import ExactEngine
from forecast.network.network import Network
from forecast.provenance import canonical_json

__all__ = [
    "CONFLICT_ROUNDING",
    "PROBABILITY_FLOOR",
    "Attribution",
    "attribute_change",
    "evidence_conflict",
    "parameter_sensitivity",
    "value_of_information",
    "value_of_information_network",
]

PROBABILITY_FLOOR = 1e-6
"""Probabilities are clipped to [floor, 1 - floor] before taking log-odds (±13.8), so that a
row that settles a scenario (a hard finding on it) gets a large, finite share."""

_CAP = float(special.logit(1 - PROBABILITY_FLOOR))

CONFLICT_ROUNDING = 1e-9
"""Nats by which a conflict must exceed the threshold to be flagged: sums and differences of
log-probabilities carry rounding error (about 1e-16 per term), which must not flag findings
that the model makes exactly independent."""


# ============================================================================ parameter draws
def _check_target(states: Mapping[str, Sequence[str]], node: str, state: str) -> None:
    if node not in states:
        raise EvidenceError(f"unknown scenario node '{node}'", [Problem(
            f"'{node}' is not a node of the model", field="node",
            hint=did_you_mean(node, states) or f"nodes: {', '.join(states)}")])
    if state not in states[node]:
        raise EvidenceError(f"'{node}' has no state '{state}'", [Problem(
            f"'{state}' is not a state of {node}", field="state",
            hint=did_you_mean(state, states[node]) or f"states: {', '.join(states[node])}")])


def _check_case(case: Case) -> None:
    if case.reports or case.counts:
        raise EvidenceError("explanations take hard and soft findings only", [Problem(
            "the case has source reports or counts, whose likelihoods depend on "
            "further parameters", field="case",
            hint="build the case with reports=False and without counts")])


def _engine_and_cpts(spec: ModelSpec, cases: Sequence[Case],
                     values: Mapping[str, np.ndarray]) -> tuple[ExactEngine, dict]:
    """The engine and CPTs for `cases` as the importance sampler builds them (twins included)."""
    twins = twins_of(spec, cases)
    return _structure_engine(spec, twins), twin_cpts(build_cpts(spec, values), twins)


def _forecast_values(spec: ModelSpec, forecast: Forecast, case: Case) -> dict[str, np.ndarray]:
    """Parameter values of the forecast's posterior draws, checked to be of `spec` and `case`."""
    attrs = forecast.attrs
    problems = []
    if attrs.get("model_hash") != spec.fingerprint:
        problems.append(Problem("was made with another model (its model hash differs)",
                                field="forecast", hint="pass the forecast of this model"))
    cases = attrs.get("evidence") or [{}]
    if canonical_json(cases[0]) != canonical_json(case.to_json()):
        problems.append(Problem("was made with other findings than this case", field="forecast",
                                hint="pass the case the forecast was made with, or no forecast"))
    if attrs.get("interventions"):
        problems.append(Problem("is a forecast under do(); explanations condition "
                                "on findings only", field="forecast",
                                hint="explain the forecast without --do"))
    post = forecast.idata["posterior"]
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
    if problems:
        raise ForecastError("cannot explain this forecast", problems)
    return values


def _posterior_draws(spec: ModelSpec, case: Case, forecast: Forecast | None, draws: int,
                     seed: int) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Parameter values and their weights (None: weigh prior draws by the case's likelihood)."""
    if forecast is not None:
        values = _forecast_values(spec, forecast, case)
        n = len(next(iter(values.values())))
        return values, np.full(n, 1.0 / n)
    return sample_parameters(spec, draws, seed), None


# ============================================================================ sensitivity
def parameter_labels(spec: ModelSpec) -> dict[str, str]:
    """Readable names of a forecast's parameter coordinates (``theta``'s ``parameter``).

    Parameters
    ----------
    spec : ModelSpec
        The model.

    Returns
    -------
    dict of str to str
        E.g. ``"caliphate.effect.conflict=worsening"`` → ``"caliphate | effect of
        conflict=worsening (raises, moderate)"``; each state of a whole table row gets its own
        entry (``"conflict.row[reconciliation=failed][2]"`` → ``"conflict | P(worsening) when
        reconciliation=failed"``).
    """
    out = {}
    for p in parameters(spec):
        when = ", ".join(f"{a}={b}" for a, b in p.when)
        cond = f" when {when}" if when else ""
        label = getattr(p.prior, "label", "")
        word = f" ({label.split(' (')[0].strip()})" if label else ""
        if p.role == "row" and p.shape:
            for j, s in enumerate(spec.states[p.node]):
                out[f"{p.name}[{j}]"] = f"{p.node} | P({s}){cond}"
        elif p.role == "row":
            out[p.name] = f"{p.node} | P({p.states[0]}){cond}{word}"
        elif p.role == "baseline":
            out[p.name] = f"{p.node} | baseline{word}"
        elif p.role == "effect":
            out[p.name] = f"{p.node} | effect of {p.parent}={p.states[0]}{word}"
        elif p.role == "leak":
            out[p.name] = f"{p.node} | leak (causes outside the model){word}"
        else:
            out[p.name] = f"{p.node} | link from {p.parent}={'+'.join(p.states)}{word}"
    return out


def _label_of(name: str) -> str:
    """A readable name from the parameter's own dotted name (when no spec is at hand)."""
    head, _, rest = name.partition(".")
    if head == "source" and rest.endswith(".reliability"):
        return f"reliability of source {rest.removesuffix('.reliability')}"
    if head in ("rate", "dispersion"):
        return f"{rest} | count {head}"
    if rest.startswith("row["):
        when = rest[4:].split("]")[0]
        return f"{head} | table row" + (f" when {when}" if when != "0" else "") + rest[
            rest.index("]") + 1:]
    kind, _, what = rest.partition(".")
    text = {"effect": f"effect of {what}", "link": f"link from {what}",
            "leak": "leak (causes outside the model)"}.get(kind, rest)
    return f"{head} | {text}"


def parameter_sensitivity(forecast: Forecast, node: str, state: str, *,
                          spec: ModelSpec | None = None) -> pd.DataFrame:
    """Which uncertain parameters move a scenario most, from the forecast's posterior draws.

    For each parameter the draws are ranked by its value: ``low`` is the mean scenario
    probability over the tenth of the draws where the parameter is lowest, ``high`` over the
    tenth where it is highest. A large ``|swing|`` means the scenario's probability depends on
    how that parameter is resolved (other parameters varying with it as the posterior says:
    a sensitivity of the posterior, not a one-at-a-time perturbation). Parameters the analyst
    fixed do not vary and are left out.

    Parameters
    ----------
    forecast : Forecast
        Any forecast (importance sampling or NUTS).
    node, state : str
        The scenario.
    spec : ModelSpec, optional
        The forecast's model, for labels with state names and prior words; without it labels
        are made from the parameter names.

    Returns
    -------
    pandas.DataFrame
        Columns ``parameter``, ``label`` (which CPT entry or effect), ``low``, ``high``,
        ``swing`` (``high - low``), sorted by ``|swing|`` descending; ``attrs["base"]`` is the
        posterior mean of the scenario's probability.

    Raises
    ------
    EvidenceError
        If the forecast has no such node or state.
    """
    post = forecast.idata["posterior"]
    states: dict[str, list[str]] = {}
    for n, s in zip(post["node"].values, post["state"].values, strict=True):
        states.setdefault(str(n), []).append(str(s))
    _check_target(states, node, state)
    prob = forecast.probability(node, state).values.reshape(-1)
    names = [str(n) for n in post["parameter"].values]
    theta = post["theta"].values.reshape(-1, len(names))
    varying = np.ptp(theta, axis=0) > 0
    k = max(1, len(prob) // 10)
    order = np.argsort(theta[:, varying], axis=0, kind="stable")
    low, high = prob[order[:k]].mean(axis=0), prob[order[-k:]].mean(axis=0)
    labels = parameter_labels(spec) if spec is not None else {}
    kept = [n for n, v in zip(names, varying, strict=True) if v]
    frame = pd.DataFrame({"parameter": kept,
                          "label": [labels.get(n) or _label_of(n) for n in kept],
                          "low": low, "high": high, "swing": high - low})
    frame = frame.iloc[np.argsort(-np.abs(frame["swing"].to_numpy()), kind="stable")]
    frame = frame.reset_index(drop=True)
    frame.attrs["base"] = float(prob.mean())
    return frame


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
    _check_target(spec.states, node, state)
    _check_case(case)
    candidates = _candidates(spec.states, case, node, candidates)
    values, weights = _posterior_draws(spec, case, forecast, draws, seed)
    engine, cpts = _engine_and_cpts(spec, [case], values)
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
    _check_target(network.states, node, state)
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
    n = len(weights) if weights is not None else _batch(cpts)
    soft = {k: np.asarray(v, dtype=float) for k, v in case.soft.items()}
    given = [{**case.evidence, node: t} for t in states[node]]
    lls = np.stack([engine.log_evidence(ev, soft, cpts) for ev in given])  # (state, draw)
    with np.errstate(invalid="ignore"):  # -inf - -inf where the case is impossible
        log_pe = special.logsumexp(lls, axis=0)
        p_state = np.where(np.isfinite(lls), np.exp(lls - log_pe), 0.0)  # P(node=t | e, θ)
    diagnostics: dict[str, float] = {"draws": n}
    if weights is None:
        weights, khat = _smoothed_weights(log_pe, [case])
        diagnostics["khat"] = khat
    else:
        weights = np.where(np.isfinite(log_pe), weights, 0.0)
        if not weights.sum() > 0:
            _smoothed_weights(log_pe, [case])  # raises: the findings are impossible
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
                     "p_states": _pairs(p_states[x]),
                     "most_informative_state": states[x][int(np.argmax(np.where(px > 0, move,
                                                                               -1.0)))],
                     "p_if": _pairs(p_if[x])})
    columns = ["node", "mutual_info", "expected_shift", "p_states", "most_informative_state",
               "p_if"]
    frame = pd.DataFrame(rows, columns=columns)
    frame = frame.sort_values(["mutual_info", "expected_shift"], ascending=False,
                              kind="stable").reset_index(drop=True)
    frame.attrs.update({"node": node, "state": state, "base": base,
                        "entropy": _entropy_bits(base), "p_states": p_states, "p_if": p_if,
                        "diagnostics": diagnostics})
    return frame


def _batch(cpts: Mapping[str, np.ndarray]) -> int:
    """Number of draws of the (batched) CPTs."""
    return max((np.shape(a)[0] for a in cpts.values()), default=1)


def _entropy_bits(p: float) -> float:
    return float(special.entr([p, 1 - p]).sum() / math.log(2))


def _pairs(d: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in d.items())


# ============================================================================ conflict
def evidence_conflict(
    spec: ModelSpec,
    case: Case,
    *,
    forecast: Forecast | None = None,
    draws: int = 2000,
    seed: int = 0,
    threshold: float = 0.0,
) -> pd.DataFrame:
    """Findings that are jointly improbable under the model (Jensen's conflict measure).

    ``conf(e) = log [Π_i P(e_i) / P(e)]`` (natural log) for the whole case and for each pair
    of findings, with every probability integrated over θ: ``P(e) = E_θ[P(e | θ)]`` under the
    prior (the model's prediction before any evidence), or under the forecast's posterior
    draws when `forecast` is given (what the model has learnt, history cases included — the
    case itself included too, which makes its findings look a little less conflicting).

    Reading it: ``conf > 0`` — the findings are together *less* probable than if they were
    unrelated (``ratio`` = ``exp(conf)`` times less): they pull the model in different
    directions, so one of them may be wrong, mis-coded, or the model misses a mechanism.
    ``conf < 0`` — they support each other (the model expects them together). ``conf ≈ 0`` —
    the model sees them as unrelated. A hard and a soft finding on one node count as one
    finding.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    case : Case
        Hard and soft findings (twins allowed).
    forecast : Forecast, optional
        Use its posterior draws of θ instead of `draws` prior draws.
    draws : int
        Prior draws when no forecast is given (the same draws for every subset, so the
        ratios share their Monte Carlo error).
    seed : int
        Seed of the prior draws.
    threshold : float
        Rows with ``conflict > threshold`` are flagged; an excess below
        :data:`CONFLICT_ROUNDING` nats is rounding error and is not flagged (findings the
        model makes exactly independent compute to ``±2e-16``, not 0).

    Returns
    -------
    pandas.DataFrame
        Columns ``findings`` (text), ``size`` (number of findings), ``first``, ``second``
        (the pair's findings; empty for the whole case), ``conflict``, ``ratio``, ``flagged``.
        The first row is the whole case; then the pairs, most conflicting first.
        A pair that cannot hold together has conflict ``inf``.

    Raises
    ------
    EvidenceError
        A case with reports or counts.
    InferenceError
        If a single finding is impossible under the model.
    """
    _check_case(case)
    findings = _findings(case)
    if forecast is not None:
        values = _forecast_values(spec, forecast, case)
    else:
        values = sample_parameters(spec, draws, seed)
    engine, cpts = _engine_and_cpts(spec, [case], values)
    n = _batch(cpts)

    def log_p(members: Sequence[int]) -> float:
        evidence = {k: v for i in members for k, v in findings[i][1].items()}
        soft = {k: v for i in members for k, v in findings[i][2].items()}
        ll = engine.log_evidence(evidence, soft, cpts)
        return float(special.logsumexp(ll) - math.log(n))

    single = [log_p([i]) for i in range(len(findings))]
    impossible = [findings[i][0] for i, lp in enumerate(single) if lp == -np.inf]
    if impossible:
        raise InferenceError("a finding is impossible under the model", [Problem(
            "has probability 0 under every draw", field=f, hint="correct it or make it soft")
            for f in impossible])

    def row(members: Sequence[int], first: str = "", second: str = "") -> dict:
        conflict = sum(single[i] for i in members) - log_p(members) if members else 0.0
        names = [findings[i][0] for i in members]
        text = " & ".join(names) if first else f"all {len(names)} findings"
        return {"findings": text if names else "no findings", "size": len(members), "first": first,
                "second": second, "conflict": conflict, "ratio": math.exp(min(conflict, 700)),
                "flagged": conflict > threshold + CONFLICT_ROUNDING}

    pairs = [row([i, j], findings[i][0], findings[j][0])
             for i, j in itertools.combinations(range(len(findings)), 2)]
    pairs.sort(key=lambda r: -r["conflict"])
    frame = pd.DataFrame([row(list(range(len(findings)))), *pairs])
    frame.attrs.update({"threshold": threshold, "draws": n, "units": "nats",
                        "source": "posterior" if forecast is not None else "prior"})
    return frame


def _findings(case: Case) -> list[tuple[str, dict, dict]]:
    """One finding per node: (label, hard part, soft part)."""
    out = []
    for node in dict.fromkeys([*case.evidence, *case.soft]):
        base, twin = base_node(node), node != base_node(node)
        parts = []
        if node in case.evidence:
            parts.append(f"={case.evidence[node]}")
        if node in case.soft:
            parts.append("~(" + ", ".join(f"{x:.2g}" for x in case.soft[node]) + ")")
        label = base + " ".join(parts) + (" (previous window)" if twin else "")
        hard = {node: case.evidence[node]} if node in case.evidence else {}
        soft = {node: np.asarray(case.soft[node], dtype=float)} if node in case.soft else {}
        out.append((label, hard, soft))
    return out


# ============================================================================ attribution
@dataclass
class Attribution:
    """Each changed ledger row's share of the change in a scenario's log-odds.

    Attributes
    ----------
    node, state : str
        The scenario.
    before, after : float
        Its probability with the rows before and after (this computation's estimates, on its
        own parameter draws; they agree with the runs' forecasts within Monte Carlo error).
    table : pandas.DataFrame
        One row per changed ledger row: ``row_id``, ``node``, ``label`` (the finding, readable),
        ``change`` (``added``, ``removed``, or ``changed`` for a row whose finding differs,
        e.g. a decayed weight), ``contribution`` (log-odds) and ``se`` (its Monte Carlo
        standard error over sampled permutations; 0 when exact), sorted by
        ``|contribution|`` descending. Contributions sum to ``logit(after) - logit(before)``.
    exact : bool
        Whether the Shapley values were computed exactly (all coalitions).
    diagnostics : dict
        Draws, players, coalitions evaluated, effective sample sizes of the before and after
        weights, and (from runs) the runs' own reported probabilities.
    notes : list of str
        Caveats to show with the result.
    """

    node: str
    state: str
    before: float
    after: float
    table: pd.DataFrame
    exact: bool
    diagnostics: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def log_odds_change(self) -> float:
        """``logit(after) - logit(before)`` (with probabilities clipped as documented)."""
        return float(_logit(self.after) - _logit(self.before))

    def to_json(self) -> dict:
        """Plain JSON-ready data: the scenario, before/after, rows, diagnostics, notes."""
        return {"node": self.node, "state": self.state, "before": float(self.before),
                "after": float(self.after), "log_odds_change": self.log_odds_change,
                "exact": bool(self.exact),
                "rows": [{k: (float(v) if isinstance(v, float | np.floating) else str(v))
                          for k, v in r.items()} for r in self.table.to_dict("records")],
                "diagnostics": {k: (float(v) if isinstance(v, float | np.floating) else v)
                                for k, v in self.diagnostics.items()},
                "notes": list(self.notes)}


def attribute_change(
    spec: ModelSpec,
    rows_before: pd.DataFrame,
    rows_after: pd.DataFrame,
    node: str,
    state: str,
    *,
    draws: int = 4000,
    seed: int = 0,
    exact_max: int = 8,
    permutations: int = 200,
) -> Attribution:
    """Share out the change of a scenario's log-odds among the ledger rows that changed.

    The players are the rows in only one of the two sets (``added``, ``removed``) and rows in
    both whose finding differs (``changed``). A coalition S of players is the evidence
    ``rows_before`` with the removed rows of S taken out, the added rows of S put in and the
    changed rows of S in their new version, turned into a case by
    :func:`forecast.evidence.ledger.case_from_rows` (so the as-of rules apply to every coalition: a
    condition keeps its latest row, an event's occurrence wins). Its value is

        ``v(S) = logit E_θ[P(node = state | e_S, θ) | e_S]``

    over one fixed set of prior draws θ reused for every coalition, each weighted by
    ``P(e_S | θ)`` (self-normalised importance sampling with common random numbers, so v is
    smooth in S). A row's contribution is its Shapley value: its average marginal effect over
    all orders of adding the players, so contributions do not depend on any order and sum to
    ``v(all) - v(none)``. Exact (all ``2**n`` coalitions) when ``n <= exact_max``; otherwise
    `permutations` random orders, each with its reverse (antithetic pairs), with a standard
    error per row. Probabilities are clipped to ``[1e-6, 1 - 1e-6]`` before the log-odds
    (:data:`PROBABILITY_FLOOR`).

    Parameters
    ----------
    spec : ModelSpec
        The model.
    rows_before, rows_after : pandas.DataFrame
        Kept rows (:func:`forecast.evidence.ledger.rows_as_of`, or a run's ``evidence``).
    node, state : str
        The scenario.
    draws : int
        Prior draws of θ.
    seed : int
        Seed of the draws and of the sampled permutations.
    exact_max : int
        Largest number of players for exact Shapley values.
    permutations : int
        Sampled orders when not exact (rounded up to an even number, at least 4).

    Returns
    -------
    Attribution

    Raises
    ------
    EvidenceError
        Unknown scenario, rows that are not kept rows (missing columns, duplicate ids).
    InferenceError
        If some coalition's findings are impossible under the model.
    """
    _check_target(spec.states, node, state)
    players, pool, base = _players(rows_before, rows_after)
    cases = _CoalitionCases(spec, pool, players, base)
    values = sample_parameters(spec, draws, seed)
    engine, cpts = _engine_and_cpts(spec, [case_from_rows(pool, spec)], values)
    index = spec.states[node].index(state)
    memo: dict[int, float] = {}
    by_case: dict[str, float] = {}  # coalitions with equal cases (e.g. either of two "yes")
    ess: dict[str, float] = {}

    def value(mask: int) -> float:
        if mask not in memo:
            case = cases.case(mask)
            key = canonical_json(case.to_json())
            if key not in by_case:
                by_case[key] = log_odds(case, key, mask)
            memo[mask] = by_case[key]
        return memo[mask]

    def log_odds(case: Case, key: str, mask: int) -> float:
        if node in case.evidence:  # the scenario itself observed: settled
            return _CAP if case.evidence[node] == state else -_CAP
        soft = {k: np.asarray(v, dtype=float) for k, v in case.soft.items()}
        lls = np.stack([engine.log_evidence({**case.evidence, node: t}, soft, cpts)
                        for t in spec.states[node]])
        log_pe = special.logsumexp(lls, axis=0)
        if not np.isfinite(log_pe).any():
            who = [p.row_id for j, p in enumerate(players) if mask >> j & 1]
            raise InferenceError("a combination of the rows is impossible under the model", [
                Problem("the rows before, with these changes, cannot all hold: "
                        + (", ".join(who) or "(none)"), field="rows",
                        hint="check those rows against the model")])
        weights = special.softmax(log_pe)
        ess[key] = float(1.0 / np.sum(weights**2))
        others = np.delete(lls, index, axis=0)
        return float(np.clip(special.logsumexp(lls[index]) - special.logsumexp(others),
                             -_CAP, _CAP))

    n = len(players)
    full = (1 << n) - 1
    if n <= exact_max:
        phi, se = _shapley_exact(value, n)
    else:
        phi, se = _shapley_sampled(value, n, permutations, np.random.default_rng([seed, 1]))
    before, after = value(0), value(full)
    table = pd.DataFrame({
        "row_id": [p.row_id for p in players],
        "node": [str(pool.loc[p.on if p.on is not None else p.off, "node"]) for p in players],
        "label": [_row_label(pool.loc[p.on if p.on is not None else p.off]) for p in players],
        "change": [p.change for p in players],
        "contribution": phi, "se": se,
    })
    table = table.iloc[np.argsort(-np.abs(phi), kind="stable")].reset_index(drop=True)
    notes = []
    ends = [ess.get(canonical_json(cases.case(m).to_json()), float(draws)) for m in (0, full)]
    if min(ends) < 400:
        notes.append(f"few effective draws ({min(ends):.0f} of {draws}): increase draws")
    diagnostics = {"draws": draws, "players": n, "coalitions": len(memo),
                   "distinct_cases": len(by_case), "ess_before": ends[0], "ess_after": ends[1]}
    return Attribution(node, state, float(special.expit(before)), float(special.expit(after)),
                       table, n <= exact_max, diagnostics, notes)




def _logit(p: float) -> float:
    return float(special.logit(np.clip(p, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)))


# ---------------------------------------------------------------------------- players, coalitions
@dataclass(frozen=True)
class _Player:
    row_id: str
    change: str
    off: int | None  # pool position of the row present when the player is out
    on: int | None   # ... and when it is in


_REQUIRED = ("id", "date", "node", "state", "likelihood", "target", "weight", "line")
_FINDING = ("node", "target", "state", "likelihood", "weight", "date")  # what case_from_rows reads


def _players(before: pd.DataFrame, after: pd.DataFrame
             ) -> tuple[list[_Player], pd.DataFrame, list[int]]:
    """Players sorted by row id, the pool of rows (before, then new ones) and the fixed rows."""
    problems = []
    for name, rows in (("rows_before", before), ("rows_after", after)):
        missing = [c for c in _REQUIRED if c not in rows.columns]
        if missing:
            problems.append(Problem(f"lacks column(s) {', '.join(missing)}", field=name,
                                    hint="pass kept rows from forecast.evidence.ledger.rows_as_of"))
        elif not rows["id"].is_unique:
            dup = sorted(set(rows.loc[rows["id"].duplicated(), "id"].astype(str)))
            problems.append(Problem(f"repeats row id(s) {', '.join(dup)}", field=name,
                                    hint="each ledger row once"))
    if problems:
        raise EvidenceError("cannot compare these evidence rows", problems)
    b = before.reset_index(drop=True)
    a = after.reset_index(drop=True)
    pos_b = {str(i): k for k, i in enumerate(b["id"])}
    pos_a = {str(i): k for k, i in enumerate(a["id"])}
    new = [k for i, k in pos_a.items()
           if i not in pos_b or _finding(a.loc[k]) != _finding(b.loc[pos_b[i]])]
    pool = pd.concat([b, a.loc[new]], ignore_index=True)
    where = {str(pool.loc[len(b) + j, "id"]): len(b) + j for j in range(len(new))}
    players = []
    for i in sorted(set(pos_b) | set(where)):
        if i not in where:
            if i not in pos_a:
                players.append(_Player(i, "removed", pos_b[i], None))
        elif i in pos_b:
            players.append(_Player(i, "changed", pos_b[i], where[i]))
        else:
            players.append(_Player(i, "added", None, where[i]))
    moving = {p.off for p in players}
    base = [k for k in range(len(b)) if k not in moving]
    return players, pool, base


def _finding(row: pd.Series) -> tuple:
    return tuple(None if not isinstance(row[c], tuple) and pd.isna(row[c]) else row[c]
                 for c in _FINDING)


class _CoalitionCases:
    """The Case of each coalition, assembled node by node.

    :func:`forecast.evidence.ledger.case_from_rows` applies its rules to each ledger node's rows
    separately, so a coalition's case is the union of per-node cases; each node's case is
    computed once per distinct set of its rows (a handful) instead of once per coalition.
    """

    def __init__(self, spec: ModelSpec, pool: pd.DataFrame, players: Sequence[_Player],
                 base: Sequence[int]) -> None:
        self.spec, self.pool, self.players = spec, pool, list(players)
        nodes = pool["node"].astype(str).to_numpy()
        self.node_of = nodes
        moving = {k for p in players for k in (p.on, p.off) if k is not None}
        self.touched = sorted({nodes[k] for k in moving})
        fixed = [k for k in base if nodes[k] not in self.touched]
        self.fixed = case_from_rows(pool.iloc[fixed], spec)
        self.base = [k for k in base if nodes[k] in self.touched]
        self.memo: dict[tuple[str, frozenset[int]], Case] = {}

    def rows(self, mask: int) -> list[int]:
        """Pool positions of the coalition's rows (other than the untouched nodes')."""
        out = list(self.base)
        for j, p in enumerate(self.players):
            k = p.on if mask >> j & 1 else p.off
            if k is not None:
                out.append(k)
        return out

    def case(self, mask: int) -> Case:
        """The coalition's Case (cases per node memoised)."""
        by_node: dict[str, set[int]] = {n: set() for n in self.touched}
        for k in self.rows(mask):
            by_node[self.node_of[k]].add(k)
        evidence, soft = dict(self.fixed.evidence), dict(self.fixed.soft)
        for n, ks in by_node.items():
            key = (n, frozenset(ks))
            part = self.memo.get(key)
            if part is None:
                part = case_from_rows(self.pool.iloc[sorted(ks)], self.spec)
                self.memo[key] = part
            evidence.update(part.evidence)
            soft.update(part.soft)
        return Case(evidence, soft)


def _row_label(row: pd.Series) -> str:
    """``2015-07-01 border_territory_held=yes (previous window) — Reuters``."""
    if isinstance(row["likelihood"], tuple):
        what = f"{row['node']} ~(" + ", ".join(f"{x:g}" for x in row["likelihood"]) + ")"
        if float(row["weight"]) != 1.0:
            what += f" weight {float(row['weight']):.2f}"
    else:
        what = f"{row['node']}={row['state']}"
    if str(row["target"]) != str(row["node"]):
        what += " (previous window)"
    source = f" — {row['source']}" if "source" in row and not pd.isna(row["source"]) else ""
    return f"{pd.Timestamp(row['date']):%Y-%m-%d} {what}{source}"


# ---------------------------------------------------------------------------- Shapley values
def _shapley_exact(value: Callable[[int], float], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact Shapley values from all ``2**n`` coalitions (bit j of a mask = player j)."""
    masks = np.arange(1 << n)
    v = np.array([value(int(m)) for m in masks])
    sizes = np.bitwise_count(masks)
    weight = np.array([math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
                       for k in range(n)])
    phi = np.empty(n)
    for j in range(n):
        without = masks[(masks >> j) & 1 == 0]
        phi[j] = weight[sizes[without]] @ (v[without | (1 << j)] - v[without])
    return phi, np.zeros(n)


def _shapley_sampled(value: Callable[[int], float], n: int, permutations: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Shapley values from random orders, each with its reverse; standard error per player."""
    pairs = max(2, -(-permutations // 2))
    marginal = np.zeros((pairs, n))
    for p in range(pairs):
        order = rng.permutation(n)
        for seq in (order, order[::-1]):
            mask, previous = 0, value(0)
            for j in seq:
                mask |= 1 << int(j)
                current = value(mask)
                marginal[p, j] += (current - previous) / 2
                previous = current
    return marginal.mean(axis=0), marginal.std(axis=0, ddof=1) / math.sqrt(pairs)
