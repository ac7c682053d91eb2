"""The PyMC model of a spec: uncertain CPT parameters, exact evidence, NUTS.

Every uncertain parameter of :func:`forecast.model.parameters.parameters` becomes the PyMC random
variable its prior creates (:meth:`~forecast.model.distributions.ProbabilityPrior.to_pymc` and
siblings), named after it; fixed parameters are constants. The CPTs are the PyTensor evaluation of
the one CPT formula, :func:`forecast.model.cpts.node_cpt` (the numpy engine path evaluates the same
formula), kept as ``pm.Deterministic("cpt.<node>", dims=(*parents, node))``.

The discrete nodes are never sampled. The evidence enters as one potential, ``log P(e | θ)``
summed over cases, computed by :class:`LogEvidenceOp`: a PyTensor ``Op`` that runs the numpy
:class:`~forecast.network.exact.ExactEngine` and takes its gradient from the same backward pass
(``∂ log P(e) / ∂θ(x | u) = P(x, u | e) / θ(x | u)``). No symbolic graph of the network is built,
so compiling stays in seconds. Cases sharing the parameters go through the engine in one batched
call: a finding shared by every case stays a hard finding, the others become likelihood vectors
(one-hot for a hard finding) with one row per case.

Names such as ``caliphate.effect.reconciliation=achieved`` survive ``pm.sample`` →
``InferenceData`` → ``to_netcdf`` → ``az.from_netcdf`` unchanged (tested), so no sanitising.
"""

from __future__ import annotations

import importlib.util
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import arviz as az
import networkx as nx
import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, grad_not_implemented
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from forecast.errors import EvidenceError, ForecastError, InferenceError, Problem, Untrusted
from forecast.evidence.lagged import twin_cpts, twins_of, with_twins
from forecast.evidence.observations import CountModel, ObservationModel, Report, Reported
from forecast.model.arrays import pytensor_ops
from forecast.model.cpts import build_cpts, intervention_cpts, node_cpt
from forecast.model.parameters import parameters
from forecast.model.schema import ModelSpec
from forecast.network.exact import ExactEngine
from forecast.network.network import Network

__all__ = ["NUTS_BUDGET", "CaseLike", "LogEvidenceOp", "build_pymc_model", "nuts_budget",
           "sample_nuts"]

CaseLike = tuple[Mapping[str, str], Mapping[str, Any]] | Any
"""A case: ``(evidence, soft)`` — hard findings ``{node: state}`` and likelihood vectors
``{node: λ}`` — or an object with ``evidence`` and ``soft`` attributes, and optionally
``reports`` and ``counts`` (a :class:`forecast.evidence.case.Case`)."""


# --------------------------------------------------------------------------------------------
# The evidence as an Op
# --------------------------------------------------------------------------------------------


class LogEvidenceOp(Op):
    """``Σ_cases log P(e_c | CPTs)`` from the exact engine, with its exact gradient.

    Calling the Op on CPT tensors (one per node in `nodes`, in that order), then likelihood
    matrices (one per node in `likelihood_nodes`), returns the scalar log-likelihood. The Op
    has one more output per input — the gradient, from the engine's
    backward pass in the same :meth:`perform` — which :meth:`L_op` uses, so a logp-and-gradient
    evaluation runs the engine once.

    Parameters
    ----------
    engine : ExactEngine
        An engine on the spec's network (its CPTs are ignored: every input CPT replaces one).
    cases : sequence of CaseLike
        The cases; they share the CPTs.
    nodes : sequence of str, optional
        The nodes whose CPTs are inputs; by default the observed nodes and their ancestors,
        the only CPTs ``P(e)`` depends on.
    likelihood_nodes : sequence of str
        Nodes whose likelihood vectors are inputs too, after the CPTs: one ``(cases, card)``
        matrix each (e.g. from reports and counts), multiplied into the cases' fixed findings.
        Their gradients come from the same backward pass.

    Notes
    -----
    The cases go through the engine in one batched call, where a node observed in some cases
    carries a likelihood of 1 in the others. For CPTs whose rows sum to 1 — every CPT of
    :func:`build_pymc_model` — that changes nothing; the gradient may then differ from the sum
    of per-case gradients by a constant per CPT row, which a row-normalised parametrisation
    maps to zero.

    Impossible evidence (``P(e) = 0``) gives ``-inf`` and a zero gradient, so a sampler rejects
    the point; :func:`build_pymc_model` checks beforehand that the evidence is possible.
    """

    default_output = 0

    def __init__(
        self,
        engine: ExactEngine,
        cases: Sequence[CaseLike],
        nodes: Sequence[str] | None = None,
        likelihood_nodes: Sequence[str] = (),
    ) -> None:
        self.engine = engine
        self.hard, self.soft = _batched_evidence(engine.network, [_case(c) for c in cases])
        self.likelihood_nodes = tuple(likelihood_nodes)
        for n in self.likelihood_nodes:  # variable likelihoods multiply these fixed rows
            self.soft.setdefault(n, np.ones((len(cases), engine.network.card(n))))
        observed = set(self.hard) | set(self.soft)
        if nodes is None:
            graph = engine.network.graph
            relevant = set(observed).union(*(nx.ancestors(graph, n) for n in observed))
            nodes = [n for n in engine.network.order if n in relevant]
        self.nodes = tuple(nodes)
        # likelihood rows give the engine a case axis; without them every finding is shared,
        # the cases are identical, and one unbatched query counts len(cases) times
        self.batched = bool(self.soft)
        self.copies = 1.0 if self.batched else float(len(cases))

    def make_node(self, *inputs: Any) -> Apply:
        """Apply the Op: CPTs, then likelihood matrices; outputs log P(e), then gradients.

        One float64 input per node in :attr:`nodes`, then one ``(cases, card)`` likelihood
        matrix per node in :attr:`likelihood_nodes`.
        """
        cpts, liks = inputs[:len(self.nodes)], inputs[len(self.nodes):]
        if len(cpts) != len(self.nodes) or len(liks) != len(self.likelihood_nodes):
            raise TypeError(f"expected {len(self.nodes)} CPTs ({', '.join(self.nodes)}) and "
                            f"{len(self.likelihood_nodes)} likelihood matrices, "
                            f"got {len(inputs)} inputs")
        tensors = [pt.as_tensor_variable(c, dtype="float64") for c in inputs]
        for node, x in zip(self.nodes, tensors, strict=False):
            if x.ndim != self.engine.network.cpts[node].ndim:
                raise TypeError(f"CPT of '{node}' needs {self.engine.network.cpts[node].ndim} "
                                f"dimensions, got {x.ndim}")
        for node, x in zip(self.likelihood_nodes, tensors[len(self.nodes):], strict=True):
            if x.ndim != 2:
                raise TypeError(f"likelihoods of '{node}' need 2 dimensions (case, state), "
                                f"got {x.ndim}")
        return Apply(self, tensors, [pt.dscalar("log_evidence"), *(x.type() for x in tensors)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray], outputs: list) -> None:
        """Run the engine once: the log-likelihood and its gradient w.r.t. every input."""
        cpts = dict(zip(self.nodes, inputs[:len(self.nodes)], strict=True))
        liks = dict(zip(self.likelihood_nodes, inputs[len(self.nodes):], strict=True))
        soft = {n: v * liks[n] if n in liks else v for n, v in self.soft.items()}
        try:
            log_pe, grads, soft_grads = self.engine.log_evidence_grad(self.hard, soft, cpts,
                                                                      soft_grad=True)
        except InferenceError:  # P(e) = 0 at this point
            log_pe, grads = -np.inf, {n: np.zeros_like(c) for n, c in cpts.items()}
            soft_grads = {n: np.zeros_like(v) for n, v in soft.items()}
        outputs[0][0] = np.asarray(self.copies * np.sum(log_pe), dtype="float64")
        for k, name in enumerate(self.nodes):
            g = grads[name]
            outputs[k + 1][0] = g.sum(axis=0) if self.batched else self.copies * g
        for k, name in enumerate(self.likelihood_nodes, start=len(self.nodes) + 1):
            outputs[k][0] = soft_grads[name] * self.soft[name]

    def infer_shape(self, fgraph: Any, node: Apply, shapes: list) -> list:
        """A scalar, then one gradient per input with the input's shape."""
        return [(), *shapes]

    def L_op(self, inputs: Sequence[Any], outputs: Sequence[Any], output_grads: Sequence[Any]
             ) -> list[Any]:
        """Output gradient × the engine's gradient (first derivatives only)."""
        if any(not isinstance(g.type, DisconnectedType) for g in output_grads[1:]):
            return [grad_not_implemented(self, k, x, "second derivatives of log P(e)")
                    for k, x in enumerate(inputs)]
        return [output_grads[0] * g for g in outputs[1:]]

    def __str__(self) -> str:
        extra = f", {len(self.likelihood_nodes)} likelihoods" if self.likelihood_nodes else ""
        return f"LogEvidenceOp({len(self.nodes)} CPTs{extra})"


def _case(case: CaseLike) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """Hard and fixed soft findings of a case (its reports and counts are handled apart)."""
    if isinstance(case, tuple):
        evidence, soft = case
    else:
        evidence, soft = case.evidence, case.soft
    return dict(evidence or {}), {k: np.asarray(v, dtype=float) for k, v in (soft or {}).items()}


def _batched_evidence(
    net: Network, cases: Sequence[tuple[dict[str, str], dict[str, np.ndarray]]]
) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """All cases as one engine query: shared hard findings, and likelihoods with a case axis."""
    if not cases:
        return {}, {}
    shared = dict(cases[0][0])
    for evidence, _ in cases[1:]:
        shared = {n: s for n, s in shared.items() if evidence.get(n) == s}
    varying = {n for evidence, _ in cases for n in evidence if n not in shared}
    varying |= {n for _, soft in cases for n in soft}
    soft_out = {}
    for node in (n for n in net.order if n in varying):
        rows = np.ones((len(cases), net.card(node)))
        for c, (evidence, soft) in enumerate(cases):
            if node in evidence and node not in shared:
                rows[c] = 0.0
                rows[c, net.state_index(node, str(evidence[node]))] = 1.0
            if node in soft:
                rows[c] = rows[c] * soft[node]
        soft_out[node] = rows
    return shared, soft_out


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


def build_pymc_model(
    spec: ModelSpec,
    cases: Sequence[CaseLike],
    *,
    count_models: Sequence[CountModel] = (),
    interventions: Mapping[str, str] | None = None,
    engine: ExactEngine | None = None,
) -> pm.Model:
    """The PyMC model of a spec given cases that share its parameters.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    cases : sequence of CaseLike
        Each case is ``(evidence, soft)``: hard findings ``{node: state}`` and likelihood vectors
        ``{node: λ}`` (one value per state), or a :class:`forecast.evidence.case.Case`, whose
        reports and counts enter through their observation model. The log-likelihood is the sum over
        cases.
    count_models : sequence of CountModel
        How the cases' counts depend on their nodes.
    interventions : mapping of str to str, optional
        ``do(node = state)`` in the *first* case (the target): its likelihood is computed on
        the mutilated network, where each intervened node's CPT is certainty in that state,
        so its findings say nothing about the intervened node's causes. Other cases are
        observed as they are.
    engine : ExactEngine, optional
        An engine on this spec's network, to share its cached plans.

    Returns
    -------
    pymc.Model
        Free variables: the uncertain parameters, named as in
        :func:`forecast.model.parameters.parameters` (Dirichlet rows have the node as their
        dimension), then the observation parameters named as in
        :attr:`forecast.evidence.observations.ObservationModel.priors` (reliabilities ``Beta``,
        rates and dispersions ``LogNormal``), each created by its prior's ``to_pymc``.
        Deterministics: ``cpt.<node>`` with dimensions ``(*parents, node)``. Potential:
        ``log_evidence`` (none without findings). Coordinates: every node's states.

    Notes
    -----
    The likelihood vectors of reports and counts are the PyTensor evaluation of the one formula,
    :meth:`forecast.evidence.observations.ObservationModel.log_likelihoods`, in log space: each
    case's row is shifted by its maximum before exponentiating, and the shift is added back to
    ``log_evidence`` (``P(e)`` is linear in each likelihood).

    Raises
    ------
    EvidenceError
        If a finding names an unknown node or state, a likelihood has the wrong length, or a report
        or count does not fit (see :class:`~forecast.evidence.observations.ObservationModel`).
    InferenceError
        If a case's evidence is impossible under the model (at the parameters' prior means).

    Examples
    --------
    Add an observation of your own — here, 9 of 12 comparable past crises with a worsening
    conflict spilled over into Pakistan — and sample:

    >>> import pymc as pm
    >>> from forecast import load_spec
    >>> spec = load_spec("models/afghan_caliphate.yaml")
    >>> model = build_pymc_model(spec, [({"hardliners_back_isis": "yes"}, {})])
    >>> with model:  # doctest: +SKIP
    ...     p = model["cpt.pakistan_spillover"][2, 1]  # P(yes | conflict = worsening)
    ...     pm.Binomial("past_spillovers", n=12, p=p, observed=9)
    ...     idata = pm.sample()
    """
    params = parameters(spec)
    twins = twins_of(spec, cases)
    states, parents = with_twins(spec.states, spec.parents, twins)
    means = {p.name: p.prior.mean for p in params}
    mean_cpts = twin_cpts({n: c[0] for n, c in build_cpts(spec, means, params=params).items()},
                          twins)
    if engine is None or not set(twins) <= set(engine.network.nodes):
        engine = ExactEngine(Network(states, parents, mean_cpts, name=spec.name))
    normalised = [_case(c) for c in cases]
    do = intervention_cpts(spec, interventions or {})
    _check_cases(engine, normalised, mean_cpts, target_cpts={**mean_cpts, **do})
    observed = [_reported(c) for c in cases]
    observations = ObservationModel(states, observed, count_models)
    likelihood_nodes = [n for n in states
                        if any(r.node == n for c in observed for r in c.reports)
                        or any(n in c.counts for c in observed)]
    # with interventions the target case runs on its own mutilated network: a second Op
    groups = [(0, len(normalised), {})] if not do else [(0, 1, do), (1, len(normalised), {})]
    evidence_ops = [(LogEvidenceOp(engine, normalised[a:b], likelihood_nodes=likelihood_nodes),
                     a, b, fixed) for a, b, fixed in groups if b > a]
    ops = pytensor_ops()
    coords = {n: list(states) for n, states in spec.states.items()}
    with pm.Model(coords=coords) as model:
        # one draw: the formulas' batch axis has length 1
        values = {p.name: pt.as_tensor_variable(
                      p.prior.to_pymc(p.name, dims=p.node if p.shape else None))[None]
                  for p in params}
        cpts = twin_cpts({
            n: pm.Deterministic(f"cpt.{n}", node_cpt(spec, n, values, params=params, ops=ops)[0],
                                dims=(*spec.parents[n], n))
            for n in spec.nodes
        }, twins)
        obs_values = {name: pt.as_tensor_variable(prior.to_pymc(name))[None]
                      for name, prior in observations.priors.items()}
        log_liks = [observations.log_likelihoods(c, obs_values, ops=ops) for c in observed]
        liks = []
        shift: Any = 0.0  # a float, then a PyTensor scalar
        for node in likelihood_nodes:
            none = np.zeros((1, len(states[node])))
            log_lik = pt.concatenate([c.get(node, none) for c in log_liks])
            top = pt.max(log_lik, axis=1, keepdims=True)
            liks.append(pt.exp(log_lik - top))
            shift = shift + pt.sum(top)
        total = shift
        for op, a, b, fixed in evidence_ops:
            if op.nodes:
                inputs = [pt.constant(fixed[n]) if n in fixed else cpts[n] for n in op.nodes]
                total = total + op(*inputs, *(lik[a:b] for lik in liks))
        if any(op.nodes for op, *_ in evidence_ops):
            pm.Potential("log_evidence", total)
    return model


def _reported(case: CaseLike) -> Reported:
    """A case's reports and counts: its own, or none for an ``(evidence, soft)`` pair."""
    if isinstance(case, tuple) or not hasattr(case, "reports"):
        return _NoObservations()
    return case


class _NoObservations:
    """The reports and counts of a case given as ``(evidence, soft)``: none."""

    reports: tuple[Report, ...] = ()
    counts: Mapping[str, int] = {}


def _check_cases(engine: ExactEngine, cases: Sequence, cpts: Mapping[str, np.ndarray],
                 target_cpts: Mapping[str, np.ndarray] | None = None) -> None:
    """Every case fits the network and is possible: collect every problem, then raise.

    The first case (the target) is checked on `target_cpts` when given (its interventions).
    """
    problems: list[Problem] = []
    impossible = False
    for i, (evidence, soft) in enumerate(cases):
        bad = [n for n, v in soft.items() if np.ndim(v) != 1]
        problems += [Problem("needs one likelihood vector (one value per state)",
                             field=f"case {i}: soft evidence on '{n}'") for n in bad]
        try:
            engine.log_evidence_grad(evidence, soft,
                                     target_cpts if i == 0 and target_cpts else cpts)
        except ForecastError as err:
            impossible |= isinstance(err, InferenceError)
            problems += [replace(p, field=f"case {i}: {p.field}" if p.field else f"case {i}")
                         for p in err.problems]
    if problems:
        kind = InferenceError if impossible else EvidenceError
        raise kind("the cases do not fit the model", problems)


# --------------------------------------------------------------------------------------------
# NUTS
# --------------------------------------------------------------------------------------------


NUTS_BUDGET = 300.0
"""Seconds of wall time a NUTS run may take, compilation included, before it is stopped.

A run over budget raises :class:`~forecast.errors.Untrusted` (the CLI exits 3, nothing is
published) instead of sampling on, as a small contradictory model once did for 356 s before
failing its diagnostics. The benchmark's NUTS run (10 cases) takes 39-84 s on an empty compile
cache and less warm, so the default leaves more than 3x headroom. ``$FORECAST_NUTS_BUDGET``
(seconds) or the ``budget`` argument changes it."""


def nuts_budget() -> float:
    """The budget in force: ``$FORECAST_NUTS_BUDGET`` if set, else :data:`NUTS_BUDGET`.

    Raises
    ------
    ForecastError
        If the variable is set but is not a positive, finite number of seconds.
    """
    raw = os.environ.get("FORECAST_NUTS_BUDGET", "").strip()
    if not raw:
        return NUTS_BUDGET
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ForecastError(f"FORECAST_NUTS_BUDGET={raw!r}: not a number of seconds", [Problem(
            "must be a positive, finite number of seconds", field="FORECAST_NUTS_BUDGET",
            hint=f"e.g. {NUTS_BUDGET:g} (the default), or unset it")])
    return value


def _budget_guard(budget: float, started: float, total: int) -> Callable[..., None]:
    """A ``pm.sample`` callback that stops sampling once `budget` seconds have passed."""
    def guard(trace: Any, draw: Any) -> None:
        elapsed = time.monotonic() - started
        if elapsed > budget:
            raise Untrusted(
                f"NUTS stopped after {elapsed:.0f} s, over its budget of {budget:g} s; nothing "
                "from it is used", [Problem(
                    f"chain {draw.chain} was at iteration {draw.draw_idx + 1} of {total} "
                    f"({'tuning' if draw.tuning else 'drawing'})", field="NUTS",
                    hint="a model whose evidence contradicts it samples slowly: check "
                         "`forecast validate` and the evidence; or give it more time with "
                         "FORECAST_NUTS_BUDGET=<seconds>")])
    return guard


def sample_nuts(
    spec: ModelSpec,
    cases: Sequence[CaseLike],
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 2,
    seed: int | np.random.Generator = 0,
    count_models: Sequence[CountModel] = (),
    interventions: Mapping[str, str] | None = None,
    engine: ExactEngine | None = None,
    budget: float | None = None,
    **kwargs: Any,
) -> az.InferenceData:
    """Posterior of the parameters by NUTS (nutpie when installed, PyMC's otherwise).

    Parameters
    ----------
    spec : ModelSpec
        The model.
    cases : sequence of CaseLike
        As in :func:`build_pymc_model`.
    draws, tune, chains : int
        Draws kept and tuning steps per chain; number of chains.
    seed : int or numpy.random.Generator
        ``random_seed`` of ``pm.sample``; the same inputs and seed give the same draws.
    count_models, interventions
        As in :func:`build_pymc_model`.
    engine : ExactEngine, optional
        An engine on this spec's network, to share its cached plans.
    budget : float, optional
        Seconds of wall time, from this call (model building and compilation included), after
        which sampling stops; default :func:`nuts_budget`. PyMC's sampler checks it at every
        draw of every chain (nutpie, when installed, is not stopped: it runs to the end).
    **kwargs
        Passed to ``pm.sample`` (e.g. ``target_accept``, ``cores``, ``progressbar``).

    Returns
    -------
    arviz.InferenceData
        Groups ``posterior`` (the uncertain parameters, named as in
        :func:`forecast.model.parameters.parameters`, then the observation parameters) and
        ``sample_stats``; ``attrs["method"] = "nuts"`` and ``attrs["sampler"]``
        (``"nutpie"`` or ``"pymc"``).

    Raises
    ------
    Untrusted
        If sampling ran past the budget.
    """
    started = time.monotonic()
    budget = nuts_budget() if budget is None else float(budget)
    model = build_pymc_model(spec, cases, count_models=count_models,
                             interventions=interventions, engine=engine)
    sampler = "nutpie" if importlib.util.find_spec("nutpie") else "pymc"
    if sampler == "pymc" and kwargs.get("nuts_sampler", "pymc") == "pymc":
        kwargs.setdefault("callback", _budget_guard(budget, started, draws + tune))
    kwargs.setdefault("nuts_sampler", sampler)
    kwargs.setdefault("cores", max(1, min(chains, os.cpu_count() or 1)))
    kwargs.setdefault("progressbar", False)
    kwargs.setdefault("compute_convergence_checks", False)
    names = [p.name for p in parameters(spec) if not p.fixed]
    names += [rv.name for rv in model.free_RVs if rv.name not in names]
    with model:
        idata = pm.sample(draws=draws, tune=tune, chains=chains, random_seed=seed,
                          var_names=names, **kwargs)
    idata.attrs["method"] = "nuts"
    idata.attrs["sampler"] = kwargs["nuts_sampler"]
    idata.posterior.attrs["method"] = "nuts"
    return idata
