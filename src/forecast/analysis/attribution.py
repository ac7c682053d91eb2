"""What moved a forecast: each changed ledger row's Shapley share of the change in log-odds."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

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
from forecast.provenance import canonical_json

__all__ = ['Attribution', 'attribute_change']


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
    check_target(spec.states, node, state)
    players, pool, base = _players(rows_before, rows_after)
    cases = _CoalitionCases(spec, pool, players, base)
    values = sample_parameters(spec, draws, seed)
    engine, cpts = engine_and_cpts(spec, [case_from_rows(pool, spec)], values)
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
            return LOGIT_CAP if case.evidence[node] == state else -LOGIT_CAP
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
                             -LOGIT_CAP, LOGIT_CAP))

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
