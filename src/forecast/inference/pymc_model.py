"""The PyMC model of a spec: uncertain CPT parameters, exact evidence, NUTS.

Every uncertain parameter of :func:`forecast.model.cpts.parameters` becomes a PyMC random variable
named after it, with the prior the model language gave it:

==================  =====================================================================
prior family        PyMC variable
==================  =====================================================================
beta                ``pm.Beta(name, alpha, beta)``
signed_lognormal    ``sign × LogNormal(mu, sigma)`` (a ``pm.CustomDist``; its transform keeps
                    the sign, so ``lowers`` stays negative)
dirichlet           ``pm.Dirichlet(name, a, dims=node)`` (one CPT row)
fixed               a constant
==================  =====================================================================

The CPTs are PyTensor expressions of those variables, with the layout and formulas of
:func:`forecast.model.cpts.build_cpts` (:func:`node_cpt` is written once for numpy and PyTensor and
tested against it), kept as ``pm.Deterministic("cpt.<node>", dims=(*parents, node))``.

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
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import arviz as az
import networkx as nx
import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions.transforms import Interval, log
from pytensor.gradient import DisconnectedType, grad_not_implemented
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from scipy import special

from forecast.errors import EvidenceError, ForecastError, InferenceError, Problem
from forecast.evidence.lagged import twin_cpts, twins_of, with_twins
from forecast.evidence.observations import CountModel, ObservationModel
from forecast.model.cpts import Parameter, build_cpts, intervention_cpts, parameters
from forecast.model.distributions import EffectPrior, ProbabilityPrior
from forecast.model.schema import Logit, ModelSpec, Table
from forecast.network.exact import ExactEngine
from forecast.network.network import Network

__all__ = [
    "NUMPY",
    "PYTENSOR",
    "ArrayOps",
    "CaseLike",
    "LogEvidenceOp",
    "build_pymc_model",
    "node_cpt",
    "sample_nuts",
]

CaseLike = tuple[Mapping[str, str], Mapping[str, Any]] | Any
"""A case: ``(evidence, soft)`` — hard findings ``{node: state}`` and likelihood vectors
``{node: λ}`` — or an object with ``evidence`` and ``soft`` attributes, and optionally
``reports`` and ``counts`` (a :class:`forecast.inference.importance.Case`)."""


# --------------------------------------------------------------------------------------------
# CPTs, once for numpy and PyTensor
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArrayOps:
    """The few array functions :func:`node_cpt` needs, from one array library."""

    stack: Callable[..., Any]
    reshape: Callable[[Any, tuple[int, ...]], Any]
    logit: Callable[[Any], Any]
    sigmoid: Callable[[Any], Any]


NUMPY = ArrayOps(np.stack, np.reshape, special.logit, special.expit)
"""numpy + scipy: unbatched values give the CPT of one parameter draw."""

PYTENSOR = ArrayOps(pt.stack, pt.reshape, lambda p: pt.log(p) - pt.log1p(-p), pt.sigmoid)
"""PyTensor: symbolic values give a differentiable CPT."""


def node_cpt(
    spec: ModelSpec,
    name: str,
    params: Sequence[Parameter],
    values: Mapping[str, Any],
    ops: ArrayOps = PYTENSOR,
) -> Any:
    """The CPT of one node for one parameter draw, shape ``(*parent_cards, card)``.

    Same layout and formulas as :func:`forecast.model.cpts.build_cpts` (rows in the parents' order,
    then the node's states): table rows as given (a Beta row is the probability of its state),
    logit ``sigmoid(logit(baseline) + Σ effect · [parent = state])``, noisy-OR
    ``1 − (1 − leak) · Π (1 − link · [parent active])``. Indicators are numpy constants that
    broadcast against the parameters: no einsum, a handful of graph nodes per parent.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    name : str
        The node.
    params : sequence of Parameter
        The node's parameters (from :func:`forecast.model.cpts.parameters`).
    values : mapping of str to array or tensor
        Parameter name → value of the parameter's own shape (``()`` or ``(k,)``).
    ops : ArrayOps
        :data:`PYTENSOR` (default) or :data:`NUMPY`.

    Returns
    -------
    ndarray or TensorVariable
    """
    node = spec.nodes[name]
    cards = tuple(spec.card(p) for p in node.parents)
    body = node.cpt.body
    if isinstance(body, Table):
        rows = {}
        for p in params:
            v = values[p.name]
            if p.states:  # Beta row of a binary node: the probability of one state
                pair = [1.0 - v, v] if node.states.index(p.states[0]) == 1 else [v, 1.0 - v]
                v = ops.stack(pair)
            rows[tuple(spec.nodes[q].states.index(s) for q, s in p.when)] = v
        grid = ops.stack([rows[idx] for idx in np.ndindex(*cards)])
        return ops.reshape(grid, (*cards, len(node.states)))
    outcome = node.states.index(str(body.outcome if body.outcome is not None else node.states[-1]))
    zero = np.zeros(cards)
    if isinstance(body, Logit):
        eta = ops.logit(values[f"{name}.baseline"]) + zero
        for p in params:
            if p.role == "effect":
                eta = eta + values[p.name] * _indicator(spec, name, p)
        pair = [ops.sigmoid(-eta), ops.sigmoid(eta)]
    else:
        q = (1.0 - values[f"{name}.leak"]) + zero
        for p in params:
            if p.role == "link":
                q = q * (1.0 - values[p.name] * _indicator(spec, name, p))
        pair = [q, 1.0 - q]
    return ops.stack(pair if outcome == 1 else pair[::-1], axis=-1)


def _indicator(spec: ModelSpec, name: str, p: Parameter) -> np.ndarray:
    """1 where the parent of effect/link `p` is in one of its states, over the parents' grid."""
    parents = list(spec.nodes[name].parents)
    axis = parents.index(str(p.parent))
    parent_states = spec.nodes[str(p.parent)].states
    ind = np.zeros(spec.card(str(p.parent)))
    ind[[parent_states.index(s) for s in p.states]] = 1.0
    shape = [1] * len(parents)
    shape[axis] = ind.size
    return ind.reshape(shape)


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
        cases = [_case(c) for c in cases]
        self.hard, self.soft = _batched_evidence(engine.network, cases)
        self.likelihood_nodes = tuple(likelihood_nodes)
        for n in self.likelihood_nodes:  # variable likelihoods multiply these fixed rows
            self.soft.setdefault(n, np.ones((len(cases), engine.network.card(n))))
        observed = set(self.hard) | set(self.soft)
        if nodes is None:
            graph = engine.network.graph
            relevant = set(observed).union(*(nx.ancestors(graph, n) for n in observed))
            nodes = [n for n in engine.network.order if n in relevant]
        self.nodes = tuple(nodes)
        self.batched = any(v.shape[0] > 1 for v in self.soft.values())
        # identical cases (every finding shared) need one engine row, counted len(cases) times
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
            g = np.reshape(soft_grads[name], self.soft[name].shape)
            outputs[k][0] = self.copies * g * self.soft[name]

    def infer_shape(self, fgraph: Any, node: Apply, shapes: list) -> list:
        """A scalar, then one gradient per input with the input's shape."""
        return [(), *shapes]

    def L_op(self, inputs: Sequence[Any], outputs: Sequence[Any], output_grads: Sequence[Any]):
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
        ``{node: λ}`` (one value per state), or a :class:`forecast.inference.importance.Case`, whose
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
        Free variables: the uncertain parameters, named as in :func:`forecast.model.cpts.parameters`
        (Dirichlet rows have the node as their dimension), then the observation parameters
        named as in :attr:`forecast.evidence.observations.ObservationModel.priors` (reliabilities
        ``pm.Beta``, rates and dispersions ``pm.LogNormal``). Deterministics: ``cpt.<node>``
        with dimensions ``(*parents, node)``. Potential: ``log_evidence`` (none without
        findings). Coordinates: every node's states.

    Notes ----- The likelihood vectors of reports and counts are PyTensor expressions of the
    observation parameters, with the formulas of
    :meth:`forecast.evidence.observations.ObservationModel.likelihoods`, computed in log space: each
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
    observed = [c if hasattr(c, "reports") else _NoObservations() for c in cases]
    observations = ObservationModel(states, observed, count_models)
    likelihood_nodes = [n for n in states
                        if any(r.node == n for c in observed for r in c.reports)
                        or any(n in c.counts for c in observed)]
    # with interventions the target case runs on its own mutilated network: a second Op
    groups = [(0, len(normalised), {})] if not do else [(0, 1, do), (1, len(normalised), {})]
    ops = [(LogEvidenceOp(engine, normalised[a:b], likelihood_nodes=likelihood_nodes), a, b,
            fixed) for a, b, fixed in groups if b > a]
    by_node: dict[str, list[Parameter]] = {n: [] for n in spec.nodes}
    for p in params:
        by_node[p.node].append(p)
    coords = {n: list(states) for n, states in spec.states.items()}
    with pm.Model(coords=coords) as model:
        values = {p.name: _variable(p) for p in params}
        cpts = twin_cpts({
            n: pm.Deterministic(f"cpt.{n}",
                                pt.as_tensor_variable(node_cpt(spec, n, by_node[n], values)),
                                dims=(*spec.parents[n], n))
            for n in spec.nodes
        }, twins)
        obs_values = {name: _observation_variable(name, prior)
                      for name, prior in observations.priors.items()}
        liks, shift = [], 0.0
        for node in likelihood_nodes:
            log_lik = pt.stack([_log_likelihood(observations, c, node, obs_values)
                                for c in observed])
            top = pt.max(log_lik, axis=1, keepdims=True)
            liks.append(pt.exp(log_lik - top))
            shift = shift + pt.sum(top)
        total = shift
        for op, a, b, fixed in ops:
            if op.nodes:
                inputs = [pt.constant(fixed[n]) if n in fixed else cpts[n] for n in op.nodes]
                total = total + op(*inputs, *(lik[a:b] for lik in liks))
        if any(op.nodes for op, *_ in ops):
            pm.Potential("log_evidence", total)
    return model


class _NoObservations:
    """The reports and counts of a case given as ``(evidence, soft)``: none."""

    reports: tuple = ()
    counts: Mapping[str, int] = {}


def _observation_variable(name: str, prior: EffectPrior | ProbabilityPrior) -> Any:
    """The PyMC variable of an observation parameter (a reliability, rate or dispersion)."""
    if isinstance(prior, ProbabilityPrior):
        return pm.Beta(name, alpha=prior.a, beta=prior.b)
    if prior.sign != 1:
        raise ValueError(f"observation parameter '{name}' needs a positive prior")
    return pm.LogNormal(name, mu=prior.mu, sigma=prior.sigma)


def _log_likelihood(
    observations: ObservationModel, case: Any, node: str, values: Mapping[str, Any]
) -> Any:
    """``log λ`` over the states of `node` from one case's reports and counts, shape ``(card,)``.

    The formulas of :meth:`forecast.evidence.observations.ObservationModel.likelihoods`, in
    PyTensor.
    """
    states = observations.states[node]
    k = len(states)
    total = pt.zeros(k)
    for rep in (r for r in case.reports if r.node == node):
        r = values[f"source.{rep.source}.reliability"]
        miss = pt.log1p(-r) - np.log(k - 1)
        total = total + pt.stack([pt.log(r) if s == rep.state else miss for s in states])
    if node in case.counts:
        y = np.full(k, int(case.counts[node]))
        mu = pt.stack([values[f"rate.{node}={s}"] for s in states])
        if observations.counts[node].family == "poisson":
            dist = pm.Poisson.dist(mu=mu)
        else:
            dist = pm.NegativeBinomial.dist(mu=mu, alpha=values[f"dispersion.{node}"])
        total = total + pm.logp(dist, y)
    return total


def _variable(p: Parameter) -> Any:
    """The PyMC variable (or constant) of one parameter."""
    prior, kw = p.prior, p.prior.params()
    if prior.family == "beta":
        return pm.Beta(p.name, alpha=kw["alpha"], beta=kw["beta"])
    if prior.family == "dirichlet":
        return pm.Dirichlet(p.name, a=np.asarray(kw["a"]), dims=p.node)
    if prior.family == "signed_lognormal":
        sign = float(kw["sign"])

        def signed(mu: Any, sigma: Any, size: Any) -> Any:
            return sign * pm.LogNormal.dist(mu, sigma, size=size)

        transform = log if sign > 0 else Interval(None, 0.0)
        return pm.CustomDist(p.name, kw["mu"], kw["sigma"], dist=signed, transform=transform)
    if prior.family == "fixed":
        return np.asarray(kw["value"], dtype=float)
    raise ValueError(f"parameter '{p.name}' has an unknown prior family '{prior.family}'")


def _check_cases(engine: ExactEngine, cases: Sequence, cpts: Mapping[str, np.ndarray],
                 target_cpts: Mapping[str, np.ndarray] | None = None) -> None:
    """Every case fits the network and is possible: collect every problem, then raise.

    The first case (the target) is checked on `target_cpts` when given (its interventions).
    """
    problems: list[Problem] = []
    impossible = False
    for i, (evidence, soft) in enumerate(cases):
        bad = [n for n, v in soft.items() if np.ndim(v) != 1]
        problems += [Problem(f"case {i}: soft evidence on '{n}'",
                             "needs one likelihood vector (one value per state)") for n in bad]
        try:
            engine.log_evidence_grad(evidence, soft,
                                     target_cpts if i == 0 and target_cpts else cpts)
        except ForecastError as err:
            impossible |= isinstance(err, InferenceError)
            problems += [Problem(f"case {i}: {p.where}", p.message, p.hint) for p in err.problems]
    if problems:
        kind = InferenceError if impossible else EvidenceError
        raise kind("the cases do not fit the model", problems)


# --------------------------------------------------------------------------------------------
# NUTS
# --------------------------------------------------------------------------------------------


def sample_nuts(
    spec: ModelSpec,
    cases: Sequence[CaseLike],
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 2,
    seed: int = 0,
    count_models: Sequence[CountModel] = (),
    interventions: Mapping[str, str] | None = None,
    engine: ExactEngine | None = None,
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
    seed : int
        ``random_seed`` of ``pm.sample``; the same inputs and seed give the same draws.
    count_models, interventions
        As in :func:`build_pymc_model`.
    engine : ExactEngine, optional
        An engine on this spec's network, to share its cached plans.
    **kwargs
        Passed to ``pm.sample`` (e.g. ``target_accept``, ``cores``, ``progressbar``).

    Returns
    -------
    arviz.InferenceData
        Groups ``posterior`` (the uncertain parameters, named as in
        :func:`forecast.model.cpts.parameters`, then the observation parameters) and
        ``sample_stats``; ``attrs["method"] = "nuts"`` and ``attrs["sampler"]``
        (``"nutpie"`` or ``"pymc"``).
    """
    model = build_pymc_model(spec, cases, count_models=count_models,
                             interventions=interventions, engine=engine)
    sampler = "nutpie" if importlib.util.find_spec("nutpie") else "pymc"
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
