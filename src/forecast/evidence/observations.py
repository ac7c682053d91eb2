"""Observation models: evidence that reaches a node through an uncertain channel.

A hard finding says *the node is in this state*. Much of an analyst's evidence is weaker:

* a **report** from a source says the node is in some state, and the source is right with
  probability ``r`` (its reliability). ``r`` has a prior by the source's Admiralty grade and is a
  parameter of the model, shared by all of that source's reports — so a source that keeps
  contradicting what is later confirmed loses weight. Given ``r``, a report of state ``s`` is the
  likelihood vector ``λ(x) = r`` if ``x = s`` else ``(1 − r) / (k − 1)``;
* a **count** (e.g. ISIS-claimed attacks in a quarter) is Poisson or negative-binomial with a
  rate that depends on the node's state; the rates are parameters shared by every case.

Both turn, for each parameter draw, into a likelihood vector over the node's states — the soft
evidence the exact engine already sums out. So the discrete nodes are still never sampled, and
the observation parameters join the CPT parameters θ in the importance sampler.

Admiralty source grades and the reliability priors used here (probability a report is right):

=====  ======================  ==================  =====================
grade  meaning                 prior               mean (90% interval)
=====  ======================  ==================  =====================
A      completely reliable     Beta(38, 2)         0.95 (0.88–0.99)
B      usually reliable        Beta(17, 3)         0.85 (0.70–0.96)
C      fairly reliable         Beta(14, 6)         0.70 (0.52–0.85)
D      not usually reliable    Beta(9, 6)          0.60 (0.39–0.79)
E      unreliable              Beta(5, 5)          0.50 (0.25–0.75)
F      reliability unknown     Beta(1.5, 1.5)      0.50 (0.10–0.90)
=====  ======================  ==================  =====================

The digit of a grade (information credibility, 1–6) is kept in the ledger but does not change
the prior: it describes one report, not the source, and the source's record is learned.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
from scipy import special

from forecast.errors import EvidenceError, Problem, did_you_mean
from forecast.model.arrays import NUMPY, ArrayOps
from forecast.model.distributions import EffectPrior, ProbabilityPrior
from forecast.model.schema import ModelSpec

__all__ = ["GRADE_RELIABILITY", "CountModel", "ObservationModel", "Report", "count_models",
           "counted"]

GRADE_RELIABILITY: dict[str, ProbabilityPrior] = {
    "A": ProbabilityPrior(38.0, 2.0, "A: completely reliable"),
    "B": ProbabilityPrior(17.0, 3.0, "B: usually reliable"),
    "C": ProbabilityPrior(14.0, 6.0, "C: fairly reliable"),
    "D": ProbabilityPrior(9.0, 6.0, "D: not usually reliable"),
    "E": ProbabilityPrior(5.0, 5.0, "E: unreliable"),
    "F": ProbabilityPrior(1.5, 1.5, "F: reliability cannot be judged"),
}
"""Prior on the probability that a source of each Admiralty grade reports correctly."""

_Z90 = special.ndtri(0.95)


@dataclass(frozen=True)
class Report:
    """A source's report that `node` is in `state`.

    Parameters
    ----------
    node, state : str
        What the source says.
    source : str
        Who says it; reports of one source share its reliability.
    grade : str
        The source's Admiralty grade: a letter A–F, optionally followed by the credibility
        digit (``"B2"``).
    """

    node: str
    state: str
    source: str
    grade: str = "F"


@dataclass(frozen=True)
class CountModel:
    """How a count series depends on a node: a rate per state, shared by all cases.

    Parameters
    ----------
    node : str
        The node whose state sets the rate.
    rates : mapping of state to (low, high)
        For each state, the 90% range of the expected count per case (low > 0): a log-normal
        prior on the rate with those 5% and 95% quantiles.
    family : {"poisson", "negbin"}
        Negative binomial adds over-dispersion: variance ``μ + μ²/φ``.
    dispersion : (low, high)
        90% range of φ for ``negbin`` (log-normal prior).
    """

    node: str
    rates: Mapping[str, tuple[float, float]]
    family: Literal["poisson", "negbin"] = "poisson"
    dispersion: tuple[float, float] = (1.0, 50.0)

    def marginal_likelihood(self, y: int, states: Sequence[str]) -> np.ndarray:
        """``P(y | state)`` with the rate (and dispersion) integrated over their priors.

        What a count says about the node before the record has taught the rates: the point
        answer of an exact query (as CPTs enter at their prior means). The integral over the
        log-rate runs on a grid spanning ±12 prior standard deviations with a step of a
        twentieth of the narrower of the prior and the count's own peak (trapezoid rule; the
        negative binomial's dispersion on a grid of 241 points): relative error below 1e-6
        (tested against adaptive quadrature).

        Parameters
        ----------
        y : int
            The count, a whole number ≥ 0.
        states : sequence of str
            The node's states, in order.

        Returns
        -------
        ndarray
            One likelihood per state, shape ``(len(states),)``.
        """
        out = np.empty(len(states))
        if self.family == "negbin":
            d = _lognormal(*self.dispersion, "")
            z = np.linspace(-12.0, 12.0, 241)
            phi = np.exp(d.mu + d.sigma * z)[:, None]
            phi_w = _trapezoid_weights(z) * np.exp(-z**2 / 2) / math.sqrt(2 * math.pi)
        for i, state in enumerate(states):
            rate = _lognormal(*self.rates[state], "")
            width = min(rate.sigma, 1.0 / math.sqrt(y + 1.0)) / 20.0
            lo, hi = rate.mu - 12.0 * rate.sigma, rate.mu + 12.0 * rate.sigma
            u = np.linspace(lo, hi, math.ceil((hi - lo) / width) + 1)
            w = _trapezoid_weights(u) * np.exp(-0.5 * ((u - rate.mu) / rate.sigma) ** 2) / (
                rate.sigma * math.sqrt(2 * math.pi))
            mu = np.exp(u)
            if self.family == "poisson":
                out[i] = float(w @ np.exp(y * u - math.lgamma(y + 1) - mu))
                continue
            log_p = (special.gammaln(y + phi) - special.gammaln(phi) - math.lgamma(y + 1)
                     + phi * (np.log(phi) - np.log(phi + mu))
                     + y * (u - np.log(phi + mu)))
            out[i] = float(phi_w @ np.exp(log_p) @ w)
        return out


def _trapezoid_weights(x: np.ndarray) -> np.ndarray:
    """Weights of the trapezoid rule on the grid `x`."""
    w = np.zeros_like(x)
    step = np.diff(x)
    w[:-1] += step / 2
    w[1:] += step / 2
    return w


def count_models(spec: ModelSpec, nodes: Collection[str] | None = None) -> list[CountModel]:
    """The count models a model declares (``counts:`` on its nodes), in node order.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    nodes : collection of str, optional
        Only these nodes' (those with counts in the evidence, say); default every node's.

    Returns
    -------
    list of CountModel
    """
    out = []
    for name, node in spec.nodes.items():
        if node.counts is not None and (nodes is None or name in nodes):
            c = node.counts
            spread = {} if c.dispersion is None else {"dispersion": c.dispersion}  # else 1–50
            out.append(CountModel(name, {s: c.rates[s] for s in node.states}, c.family,
                                  **spread))
    return out


def counted(spec: ModelSpec, counts: Mapping[str, int], *, field: str = "counts"
            ) -> list[CountModel]:
    """The count models of the nodes `counts` names, checked against the model.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    counts : mapping of str to int
        Node → count (a whole number ≥ 0).
    field : str
        How the caller names the counts in messages (``--count`` on the command line).

    Returns
    -------
    list of CountModel

    Raises
    ------
    EvidenceError
        Listing every node that is not in the model or declares no ``counts:``, and every
        count that is not a whole number ≥ 0.
    """
    problems = []
    for node, y in counts.items():
        where = f"{field} {node}={y}"
        if node not in spec.nodes:
            problems.append(Problem(f"unknown node '{node}'", field=where,
                                    hint=did_you_mean(node, spec.nodes)))
        elif spec.nodes[node].counts is None:
            problems.append(Problem(f"{node} declares no counts", field=where,
                                    hint=f"add counts: {{rates: ...}} to node {node} in the "
                                    "model (the expected count per step in each state)"))
        if isinstance(y, bool) or not (isinstance(y, int | np.integer) and y >= 0):
            problems.append(Problem(f"count {y!r} is not a whole number ≥ 0", field=where))
    if problems:
        raise EvidenceError("the counts do not fit the model", problems)
    return count_models(spec, counts)


def _lognormal(low: float, high: float, label: str) -> EffectPrior:
    return EffectPrior((math.log(low) + math.log(high)) / 2,
                       (math.log(high) - math.log(low)) / (2 * _Z90), 1, label)


class Reported(Protocol):
    """What the observation model reads of a case (a :class:`~forecast.evidence.case.Case`)."""

    @property
    def reports(self) -> Sequence[Report]: ...
    @property
    def counts(self) -> Mapping[str, int]: ...


class Findings(Reported, Protocol):
    """A case's reports and counts, and its fixed likelihood vectors."""

    @property
    def soft(self) -> Mapping[str, Sequence[float]]: ...


class ObservationModel:
    """The parameters of all reports and counts of a set of cases, and their likelihoods.

    Parameters
    ----------
    states : mapping of str to sequence of str
        The model's nodes and states.
    cases : sequence
        Objects with ``reports`` (sequence of :class:`Report`) and ``counts``
        (mapping node → count).
    count_models : sequence of CountModel
        One per node that has counts.

    Raises
    ------
    EvidenceError
        Listing every problem: unknown nodes or states, a source given two grades, an unknown
        grade, counts without a count model, bad rate ranges.
    """

    def __init__(self, states: Mapping[str, Sequence[str]], cases: Sequence[Reported],
                 count_models: Sequence[CountModel] = ()) -> None:
        self.states = {n: tuple(s) for n, s in states.items()}
        problems: list[Problem] = []
        self.grades: dict[str, str] = {}
        for i, case in enumerate(cases):
            for j, rep in enumerate(case.reports):
                where = f"case {i} report {j} ({rep.source})"
                problems += self._check_state(where, rep.node, rep.state)
                letter = rep.grade[:1].upper()
                if letter not in GRADE_RELIABILITY:
                    problems.append(Problem(f"unknown grade '{rep.grade}'", field=where,
                                            hint="use an Admiralty grade A–F, e.g. B2"))
                elif self.grades.setdefault(rep.source, letter) != letter:
                    problems.append(Problem(f"source '{rep.source}' is graded both "
                                            f"{self.grades[rep.source]} and {letter}",
                                            field=where, hint="grade a source once"))
        self.counts = {m.node: m for m in count_models}
        for m in count_models:
            problems += self._check_count_model(m)
        for i, case in enumerate(cases):
            for node, y in case.counts.items():
                where = f"case {i} counts['{node}']"
                if node not in self.counts:
                    problems.append(Problem("has no count model", field=where,
                                            hint=f"pass CountModel(node='{node}', rates=...)"))
                if not (isinstance(y, int | np.integer) and y >= 0):
                    problems.append(Problem(f"count {y!r} is not a whole number ≥ 0",
                                            field=where))
        if problems:
            raise EvidenceError("the observations do not fit the model", problems)

    def _check_state(self, where: str, node: str, state: str | None) -> list[Problem]:
        if node not in self.states:
            return [Problem(f"unknown node '{node}'", hint=did_you_mean(node, self.states),
                            field=where)]
        if state is not None and state not in self.states[node]:
            return [Problem(f"node '{node}' has no state '{state}'",
                            hint=did_you_mean(state, self.states[node]), field=where)]
        return []

    def _check_count_model(self, m: CountModel) -> list[Problem]:
        where = f"count model of '{m.node}'"
        problems = self._check_state(where, m.node, None)
        if problems:
            return problems
        missing = set(self.states[m.node]) - set(m.rates)
        if missing:
            problems.append(Problem(f"no rate for state(s) {sorted(missing)}", field=where))
        for state, (low, high) in m.rates.items():
            problems += self._check_state(where, m.node, state)
            if not 0 < low < high:
                problems.append(Problem(f"rate range ({low}, {high}) needs 0 < low < high",
                                        field=f"{where}, state '{state}'"))
        if m.family not in ("poisson", "negbin"):
            problems.append(Problem(f"unknown family '{m.family}'", field=where,
                                    hint="use 'poisson' or 'negbin'"))
        return problems

    @property
    def priors(self) -> dict[str, EffectPrior | ProbabilityPrior]:
        """Parameter name → prior: source reliabilities, count rates, dispersions."""
        out: dict[str, EffectPrior | ProbabilityPrior] = {}
        for source, letter in sorted(self.grades.items()):
            out[f"source.{source}.reliability"] = GRADE_RELIABILITY[letter]
        for node, m in self.counts.items():
            for state in self.states[node]:
                low, high = m.rates[state]
                out[f"rate.{node}={state}"] = _lognormal(low, high, f"rate {low}–{high}")
            if m.family == "negbin":
                out[f"dispersion.{node}"] = _lognormal(*m.dispersion, "dispersion")
        return out

    def sample(self, seed: int | np.random.Generator, n: int) -> dict[str, np.ndarray]:
        """Draw `n` values of every observation parameter from its prior.

        `seed` seeds ``numpy.random.default_rng``, or is a generator to draw from (and advance).
        """
        rng = np.random.default_rng(seed)
        return {name: prior.sample(rng, n) for name, prior in self.priors.items()}

    def log_likelihoods(
        self, case: Reported, values: Mapping[str, Any], *, ops: ArrayOps = NUMPY
    ) -> dict[str, Any]:
        """``log λ`` of a case's reports and counts, per node they bear on: the one formula.

        A report of state ``s`` from a source of reliability ``r`` gives ``log r`` for ``s``
        and ``log((1 − r) / (k − 1))`` for the other states; a count ``y`` gives its Poisson or
        negative-binomial log-probability under each state's rate. Several reports and counts
        on one node add up.

        Parameters
        ----------
        case
            An object with ``reports`` and ``counts``.
        values : mapping of str to array or tensor
            Observation parameter values, shape ``(B,)`` each (an explicit batch axis).
        ops : ArrayOps
            The array namespace of `values`: :data:`~forecast.model.arrays.NUMPY` (default) or
            :func:`~forecast.model.arrays.pytensor_ops`.

        Returns
        -------
        dict of str to ndarray or TensorVariable
            Node → ``log λ``, shape ``(B, card)``.
        """
        out: dict[str, Any] = {}
        for rep in case.reports:
            r = values[f"source.{rep.source}.reliability"]
            states = self.states[rep.node]
            hit, miss = ops.log(r), ops.log1p(-r) - math.log(len(states) - 1)
            log_lam = ops.stack([hit if s == rep.state else miss for s in states], axis=-1)
            out[rep.node] = out[rep.node] + log_lam if rep.node in out else log_lam
        for node, y in case.counts.items():
            mu = ops.stack([values[f"rate.{node}={s}"] for s in self.states[node]], axis=-1)
            if self.counts[node].family == "poisson":
                log_lam = y * ops.log(mu) - math.lgamma(y + 1) - mu
            else:
                phi = ops.reshape(values[f"dispersion.{node}"], (-1, 1))
                log_lam = (ops.gammaln(y + phi) - ops.gammaln(phi) - math.lgamma(y + 1)
                           + phi * (ops.log(phi) - ops.log(phi + mu))
                           + y * (ops.log(mu) - ops.log(phi + mu)))
            out[node] = out[node] + log_lam if node in out else log_lam
        return out

    def likelihoods(self, case: Findings, values: Mapping[str, np.ndarray]
                    ) -> dict[str, np.ndarray]:
        """Per-draw likelihood vectors of a case's findings: soft ones, reports and counts.

        Parameters
        ----------
        case
            An object with ``reports``, ``counts`` and ``soft`` (fixed likelihoods, multiplied in).
        values : mapping of str to ndarray
            Parameter draws, shape ``(n,)`` each.

        Returns
        -------
        dict of str to ndarray
            Node → likelihood, shape ``(n, card)`` for a node with reports or counts,
            ``(card,)`` (unbatched) for fixed soft evidence alone.
        """
        out: dict[str, np.ndarray] = {n: np.asarray(v, dtype=float)
                                      for n, v in case.soft.items()}
        for node, log_lam in self.log_likelihoods(case, values).items():
            lam = np.exp(log_lam)
            out[node] = out[node] * lam if node in out else lam
        return out
