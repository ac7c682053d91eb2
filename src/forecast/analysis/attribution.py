"""What moved a forecast: each changed ledger row's Shapley share of the change in log-odds."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
from scipy import special

from forecast.analysis.draws import LOGIT_CAP, check_target, clipped_logit, engine_and_cpts
from forecast.errors import (
    EvidenceError,
    InferenceError,
    Problem,
)
from forecast.evidence.case import Case
from forecast.evidence.ledger import case_from_rows
from forecast.model.parameters import sample_parameters
from forecast.model.schema import ModelSpec
from forecast.network.exact import ExactEngine, draws_last
from forecast.provenance import canonical_json

__all__ = ['Attribution', 'attribute_change', 'attribute_changes']


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
        standard error: over the parameter draws, and over the sampled orders when not
        exact), sorted by ``|contribution|`` descending. Contributions sum to
        ``logit(after) - logit(before)``.
    exact : bool
        Whether the Shapley values were computed exactly (all coalitions).
    diagnostics : dict
        Draws, players, coalitions evaluated (and the distinct cases they make, one exact
        query each), effective sample sizes of the before and after weights, and (from runs)
        the runs' own reported probabilities.
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
        return float(clipped_logit(self.after) - clipped_logit(self.before))

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
    `permutations` random orders, each with its reverse (antithetic pairs). Probabilities are
    clipped to ``[1e-6, 1 - 1e-6]`` before the log-odds (:data:`PROBABILITY_FLOOR`).

    Each contribution's standard error ``se`` counts both sources of Monte Carlo error: the
    sampled orders (the spread of the antithetic pairs' estimates; none when exact) and the
    parameter draws (the delta method: a contribution is a weighted sum of coalition values,
    each a smooth function of means over the draws, so its variance over the draws is
    ``Σ_d (Σ_S c_S u_S,d)²`` with ``u_S,d`` the draw's influence on ``v(S)``); the two
    add in quadrature.

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

    See Also
    --------
    attribute_changes : several scenarios at once, on the same coalitions.
    """
    return attribute_changes(spec, rows_before, rows_after, [(node, state)], draws=draws,
                             seed=seed, exact_max=exact_max, permutations=permutations)[0]


def attribute_changes(
    spec: ModelSpec,
    rows_before: pd.DataFrame,
    rows_after: pd.DataFrame,
    targets: Sequence[tuple[str, str]],
    *,
    draws: int = 4000,
    seed: int = 0,
    exact_max: int = 8,
    permutations: int = 200,
) -> list[Attribution]:
    """:func:`attribute_change` for several scenarios at once, sharing every coalition.

    The players, the parameter draws and the sampled orders do not depend on the scenario, so
    every scenario's Shapley values need the same coalitions. Each distinct coalition case is
    evaluated once, by one exact query for all its draws (``log P(e_S | θ)`` and every
    marginal), which gives the value of every scenario; the results equal separate calls of
    :func:`attribute_change` with the same arguments.

    Parameters
    ----------
    spec, rows_before, rows_after
        As in :func:`attribute_change`.
    targets : sequence of (str, str)
        The scenarios ``(node, state)``.
    draws, seed, exact_max, permutations
        As in :func:`attribute_change`.

    Returns
    -------
    list of Attribution
        One per scenario, in the order of `targets`.

    Raises
    ------
    EvidenceError, InferenceError
        As :func:`attribute_change`.
    """
    for node, state in targets:
        check_target(spec.states, node, state)
    players, pool, base = _players(rows_before, rows_after)
    cases = _CoalitionCases(spec, pool, players, base)
    values = sample_parameters(spec, draws, seed)
    engine, cpts = engine_and_cpts(spec, [case_from_rows(pool, spec)], values)
    if draws > 1:
        cpts = draws_last(cpts)  # the engine's layout: no transposed copy per coalition
    n = len(players)
    full = (1 << n) - 1
    exact = n <= exact_max
    design = (_exact_design(n) if exact
              else _sampled_design(n, permutations, np.random.default_rng([seed, 1])))
    # every coalition of the design, grouped by the case it makes (equal cases, e.g. either
    # of two rows saying "yes", are one query), with its Shapley coefficients per player
    keys: dict[int, str] = {}
    by_key: dict[str, Case] = {}
    coef: dict[str, np.ndarray] = {}
    for mask, c in design.coefficients.items():
        case = cases.case(mask)
        key = canonical_json(case.to_json())
        keys[mask] = key
        by_key.setdefault(key, case)
        coef[key] = coef.get(key, 0.0) + c
    evaluate = _Values(spec, engine, cpts, targets, players, draws, n)
    for key, case in by_key.items():
        evaluate(key, case, coef[key], partial(_masks_of, keys, key))
    out = []
    for t, (node, state) in enumerate(targets):
        v = {m: evaluate.value[k][t] for m, k in keys.items()}
        phi, se_orders = design.shapley(v)
        se_draws = np.sqrt(np.einsum("jd,jd->j", evaluate.influence[:, t],
                                     evaluate.influence[:, t]))
        se = np.sqrt(se_orders**2 + se_draws**2)
        table = pd.DataFrame({
            "row_id": [p.row_id for p in players],
            "node": [str(pool.loc[p.on if p.on is not None else p.off, "node"])
                     for p in players],
            "label": [_row_label(pool.loc[p.on if p.on is not None else p.off])
                      for p in players],
            "change": [p.change for p in players],
            "contribution": phi, "se": se,
        })
        table = table.iloc[np.argsort(-np.abs(phi), kind="stable")].reset_index(drop=True)
        ends = [evaluate.ess.get(keys[m], float(draws)) for m in (0, full)]
        notes = []
        if min(ends) < 400:
            notes.append(f"few effective draws ({min(ends):.0f} of {draws}): increase draws")
        diagnostics = {"draws": draws, "players": n, "coalitions": len(keys),
                       "distinct_cases": len(by_key), "ess_before": ends[0],
                       "ess_after": ends[1]}
        out.append(Attribution(node, state, float(special.expit(v[0])),
                               float(special.expit(v[full])), table, exact, diagnostics, notes))
    return out


def _masks_of(keys: Mapping[int, str], key: str) -> list[int]:
    """The coalitions whose case has this key."""
    return [m for m, k in keys.items() if k == key]


class _Values:
    """Coalition values of every scenario, one exact query per distinct case.

    For each case it keeps ``v(S)`` per scenario and adds the case's per-draw influence on
    ``v(S)``, weighted by the case's Shapley coefficients, into ``influence`` (scenario ×
    player × draw): the delta-method linearisation of every contribution over the draws.
    """

    def __init__(self, spec: ModelSpec, engine: ExactEngine, cpts: dict,
                 targets: Sequence[tuple[str, str]], players: Sequence[_Player], draws: int,
                 n: int) -> None:
        self.spec, self.engine, self.cpts = spec, engine, cpts
        self.targets = [(node, spec.states[node].index(state)) for node, state in targets]
        self.players = players
        self.value: dict[str, list[float]] = {}
        self.ess: dict[str, float] = {}
        self.influence = np.zeros((n, len(targets), draws))

    def __call__(self, key: str, case: Case, coef: np.ndarray,
                 masks: Callable[[], list[int]]) -> None:
        """Evaluate one case; `masks` lists its coalitions (to name an impossible one)."""
        log_pe, marginals = self._query(case, masks)
        # importance weights ∝ P(e_S | θ), scaled to a largest of 1 (the scale cancels)
        w = np.exp(log_pe - log_pe.max())
        self.ess[key] = float(w.sum() ** 2 / (w @ w))
        values = []
        u = np.zeros((len(self.targets), w.size))
        for t, (node, index) in enumerate(self.targets):
            if node in case.evidence:  # the scenario itself observed: settled
                settled = case.evidence[node] == self.spec.states[node][index]
                values.append(LOGIT_CAP if settled else -LOGIT_CAP)
                continue
            p = marginals[node]
            a = w * p[:, index]  # the weighted P(scenario), and of the other states
            b = w * np.delete(p, index, axis=1).sum(axis=1)
            total_a, total_b = a.sum(), b.sum()
            with np.errstate(divide="ignore"):
                raw = float(np.log(total_a) - np.log(total_b))
            values.append(float(np.clip(raw, -LOGIT_CAP, LOGIT_CAP)))
            if np.isfinite(raw) and abs(raw) < LOGIT_CAP:  # else clipped: v does not move
                # draw d's influence on v = log Σa − log Σb (the delta method)
                u[t] = a / total_a - b / total_b
        self.value[key] = values
        for j in np.flatnonzero(coef):  # the few players whose estimates use this case
            self.influence[j] += coef[j] * u

    def _query(self, case: Case, masks: Callable[[], list[int]]
               ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``log P(e_S | θ)`` per draw and the scenarios' marginals (rows: draws)."""
        soft = {k: np.asarray(v, dtype=float) for k, v in case.soft.items()}
        try:
            post = self.engine.query(case.evidence, soft, self.cpts,
                                     nodes=[node for node, _ in self.targets])
            return (np.atleast_1d(post.log_evidence),
                    {node: np.atleast_2d(post.marginals[node]) for node, _ in self.targets})
        except InferenceError:  # impossible for some draws (weight 0), or for all of them
            pass
        log_pe = np.atleast_1d(self.engine.log_evidence(case.evidence, soft, self.cpts))
        if not np.isfinite(log_pe).any():
            mask = min(masks(), key=int.bit_count)  # the smallest coalition making this case
            who = [p.row_id for j, p in enumerate(self.players) if mask >> j & 1]
            raise InferenceError("a combination of the rows is impossible under the model", [
                Problem("the rows before, with these changes, cannot all hold: "
                        + (", ".join(who) or "(none)"), field="rows",
                        hint="check those rows against the model")])
        marginals = {}
        for node, _ in self.targets:
            states = self.spec.states[node]
            lls = np.stack([np.atleast_1d(self.engine.log_evidence(
                {**case.evidence, node: s}, soft, self.cpts)) for s in states], axis=1)
            with np.errstate(invalid="ignore"):
                marginals[node] = np.where(np.isfinite(log_pe)[:, None],
                                           np.exp(lls - log_pe[:, None]), 0.0)
        return log_pe, marginals


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
    separately, so a coalition's case is the union of per-node cases. Of a node's rows only
    those that stand count (a condition's latest, by date then file line; an event's occurrence
    rows if it has any, else its latest hard row and every soft row: the rules
    ``case_from_rows`` applies first), so each node's case is computed once per distinct set
    of standing findings (a handful) instead of once per coalition or per set of its rows.
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
        self.memo: dict[tuple[str, frozenset[tuple[str, str | None]], frozenset[int]], Case] = {}
        self.single: dict[int, Case] = {}  # each row's own finding
        # what the standing rules read, per pool row: when it was, and its state if hard
        order = pool.reset_index(drop=True).sort_values(["date", "line"], kind="stable")
        self.rank = np.empty(len(pool), dtype=np.int64)
        self.rank[order.index.to_numpy()] = np.arange(len(pool))
        self.state = [None if pd.isna(s) else str(s) for s in pool["state"]]
        self.target = [str(t) for t in pool["target"]]
        self.condition = {n: spec.nodes[n].definition.kind == "condition" for n in self.touched}
        self.occurrence = {n: "yes" if "yes" in spec.states[n] else spec.states[n][-1]
                           for n in self.touched}

    def rows(self, mask: int) -> list[int]:
        """Pool positions of the coalition's rows (other than the untouched nodes')."""
        out = list(self.base)
        for j, p in enumerate(self.players):
            k = p.on if mask >> j & 1 else p.off
            if k is not None:
                out.append(k)
        return out

    def standing(self, node: str, rows: Sequence[int]) -> frozenset[int]:
        """The rows of one node that :func:`case_from_rows` keeps (see the class notes)."""
        ordered = sorted(rows, key=self.rank.__getitem__)
        if self.condition[node]:
            return frozenset(ordered[-1:])
        hard = [k for k in ordered if self.state[k] is not None]
        occurred = [k for k in hard if self.state[k] == self.occurrence[node]]
        if occurred:
            return frozenset(occurred)
        return frozenset([k for k in ordered if self.state[k] is None] + hard[-1:])

    def combine(self, rows: frozenset[int]) -> Case:
        """``case_from_rows`` of standing rows, from each row's own finding.

        Hard findings are entered in date order (a later one replaces an earlier one on its
        target); likelihood vectors are multiplied in date order, starting from ones: the
        same operations in the same order as :func:`case_from_rows`, so the same numbers.
        """
        evidence: dict[str, str] = {}
        soft: dict[str, tuple[float, ...]] = {}
        for k in sorted(rows, key=self.rank.__getitem__):
            one = self.single.get(k)
            if one is None:
                one = self.single[k] = case_from_rows(self.pool.iloc[[k]], self.spec)
            evidence.update(one.evidence)
            for node, vector in one.soft.items():
                previous = soft.get(node, (1.0,) * len(vector))
                soft[node] = tuple(a * b for a, b in zip(previous, vector, strict=True))
        return Case(evidence, soft)

    def case(self, mask: int) -> Case:
        """The coalition's Case (cases per node memoised)."""
        by_node: dict[str, list[int]] = {n: [] for n in self.touched}
        for k in self.rows(mask):
            by_node[self.node_of[k]].append(k)
        evidence, soft = dict(self.fixed.evidence), dict(self.fixed.soft)
        for n, ks in by_node.items():
            rows = self.standing(n, ks)
            # the standing hard rows agree on each target's state (one row, or occurrences),
            # so which (target, state) pairs and which soft rows they are fixes the case
            key = (n, frozenset((self.target[k], self.state[k]) for k in rows
                                if self.state[k] is not None),
                   frozenset(k for k in rows if self.state[k] is None))
            part = self.memo.get(key)
            if part is None:
                part = self.combine(rows)
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
@dataclass
class _Design:
    """The coalitions a Shapley estimate evaluates and its linear weights on their values.

    ``coefficients[mask][j]`` is the weight of ``v(mask)`` in player j's estimate;
    :meth:`shapley` computes the estimates (and the spread over sampled orders) from values.
    """

    n: int
    coefficients: dict[int, np.ndarray]
    orders: list[np.ndarray] | None  # sampled: one per antithetic pair; exact: None

    def shapley(self, v: Mapping[int, float]) -> tuple[np.ndarray, np.ndarray]:
        """Shapley values and their standard errors over the sampled orders (0 when exact)."""
        if self.orders is None:
            return _shapley_exact(v.__getitem__, self.n)
        return _shapley_sampled(v.__getitem__, self.n, self.orders)


def _exact_design(n: int) -> _Design:
    masks = np.arange(1 << n)
    sizes = np.bitwise_count(masks)
    weight = _exact_weights(n)
    coef = {int(m): np.zeros(n) for m in masks}
    for j in range(n):
        for m in masks[(masks >> j) & 1 == 0]:
            w = weight[sizes[m]]
            coef[int(m | (1 << j))][j] += w
            coef[int(m)][j] -= w
    return _Design(n, coef, None)


def _sampled_design(n: int, permutations: int, rng: np.random.Generator) -> _Design:
    pairs = max(2, -(-permutations // 2))
    orders = [rng.permutation(n) for _ in range(pairs)]
    coef: dict[int, np.ndarray] = {0: np.zeros(n)}
    step = 1.0 / (2 * pairs)
    for order in orders:
        for seq in (order, order[::-1]):
            mask = 0
            for j in seq:
                before = mask
                mask |= 1 << int(j)
                coef.setdefault(mask, np.zeros(n))[j] += step
                coef[before][j] -= step
    return _Design(n, coef, orders)


def _exact_weights(n: int) -> np.ndarray:
    return np.array([math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
                     for k in range(n)])


def _shapley_exact(value: Callable[[int], float], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact Shapley values from all ``2**n`` coalitions (bit j of a mask = player j)."""
    masks = np.arange(1 << n)
    v = np.array([value(int(m)) for m in masks])
    sizes = np.bitwise_count(masks)
    weight = _exact_weights(n)
    phi = np.empty(n)
    for j in range(n):
        without = masks[(masks >> j) & 1 == 0]
        phi[j] = weight[sizes[without]] @ (v[without | (1 << j)] - v[without])
    return phi, np.zeros(n)


def _shapley_sampled(value: Callable[[int], float], n: int,
                     orders: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Shapley values from random orders, each with its reverse; standard error per player."""
    pairs = len(orders)
    marginal = np.zeros((pairs, n))
    for p, order in enumerate(orders):
        for seq in (order, order[::-1]):
            mask, previous = 0, value(0)
            for j in seq:
                mask |= 1 << int(j)
                current = value(mask)
                marginal[p, j] += (current - previous) / 2
                previous = current
    return marginal.mean(axis=0), marginal.std(axis=0, ddof=1) / math.sqrt(pairs)
