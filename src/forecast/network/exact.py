"""Exact inference on a :class:`~forecast.network.network.Network`: marginals, families, log P(e).

Hard evidence (``node = state``) slices every table over the node to that one state (the product
with the finding's indicator vector, without its zeros); likelihood (soft) evidence multiplies a
vector ``λ(state)`` into the node's CPT. Evidence thus enters as potentials, the way a junction
tree receives it, and the compiled :class:`~forecast.network.plan.Plan` does not depend on it:

* a batched query (a leading axis of B parameter draws) runs on one plan per structure — the
  nodes it covers and which inputs carry draws — searched at every node's full number of states,
  so an attribution's coalitions, VOI's candidate observations and a replay's dates reuse it;
* a query on one network (no draws, microseconds to milliseconds) keeps one plan per set of
  hard-observed nodes, searched at their sliced sizes, which is faster for repeated patterns.

Plans are cached. A plan's path is opt_einsum's greedy one on small networks and a min-fill or
min-degree elimination order on large ones (:mod:`forecast.network.ordering`), so a new hard
pattern on a network of a thousand nodes costs a tenth to a fifth of a second of planning.
Inside a plan the draws are the last, contiguous axis of every table (each step one vectorised
``einsum``), and intermediates live in scratch memory reused by the next query of the thread;
results are always fresh arrays with the draws first.

The queries:

* :meth:`ExactEngine.query` — every node's marginal ``P(node | e)``, ``log P(e)`` and, on request,
  the family posteriors ``P(node, parents | e)``: one forward and one backward pass over the
  whole network; ``nodes=`` asks for some marginals only, on the findings' and those nodes'
  ancestors, with a backward pass only towards them.
* :meth:`ExactEngine.log_evidence` — ``log P(e)`` only, on the part of the network that can
  influence it (the evidence nodes and their ancestors, observed leaves summed first), ``-inf``
  where the evidence is impossible.
* :meth:`ExactEngine.mpe` — the most probable joint state of every unobserved node (the MPE, or
  MAP over all of them) by max-product over the same plan, with :meth:`ExactEngine.
  scenario_probability` giving ``P(scenario | e)`` of any joint scenario for every parameter draw.

All accept CPT overrides and likelihoods with a leading axis of B parameter draws and return
results with that axis; a shared CPT is broadcast, never copied (CPTs stored with the draws last,
:func:`draws_last`, are not even transposed). Whether a query is batched is
said by its inputs' shapes, never by B's value: any batched input (a CPT of shape
``(B, *parents, card)`` or a likelihood of shape ``(B, card)``) gives batched results, also for
B = 1; unbatched inputs give unbatched results.

Examples
--------
>>> from forecast import Network
>>> from forecast.network.exact import ExactEngine
>>> net = Network(states={"rain": ["no", "yes"], "wet": ["no", "yes"]},
...               parents={"wet": ["rain"]},
...               cpts={"rain": [0.8, 0.2], "wet": [[0.9, 0.1], [0.2, 0.8]]})
>>> post = ExactEngine(net).query(evidence={"wet": "yes"})
>>> round(float(post.marginals["rain"][1]), 4)
0.6667
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal, overload

import networkx as nx
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from threadpoolctl import ThreadpoolController

from forecast.errors import EvidenceError, InferenceError, Problem
from forecast.network.maxproduct import max_product
from forecast.network.network import Network
from forecast.network.plan import Plan, Scratch, as_last

__all__ = ["ExactEngine", "MostProbable", "Posterior", "draws_last", "query"]

_PLAN_CACHE_SIZE = 256

# A plan is hundreds of small matrix products: OpenBLAS's thread hand-offs cost more than they
# save on them (measured: mildew 100 ms with 2 threads under load, 7 ms with one). Queries run
# with BLAS limited to one thread; callers parallelise over processes instead.
_BLAS = ThreadpoolController()


@dataclass(frozen=True)
class Posterior:
    """The result of an exact query.

    Attributes
    ----------
    network : Network
        The network queried (for state names).
    marginals : dict of str to ndarray
        ``P(node | e)`` of every node (or of the nodes the query asked for): shape ``(card,)``,
        or ``(B, card)`` for a batched query (one whose CPTs or likelihoods had a leading axis
        of draws, whatever its length).
    log_evidence : float or ndarray
        ``log P(e)`` (a float, or shape ``(B,)``). With soft evidence it is
        ``log Σ_x P(x, hard) Π λ(x)``, which depends on the scale of the likelihood vectors.
    families : dict of str to ndarray or None
        ``P(parents, node | e)`` in CPT layout (``(B,)`` + parents + node), if requested.
    """

    network: Network
    marginals: dict[str, np.ndarray]
    log_evidence: float | np.ndarray
    families: dict[str, np.ndarray] | None = field(default=None, repr=False)

    @property
    def batched(self) -> bool:
        """Whether results carry a leading axis of parameter draws."""
        return np.ndim(self.log_evidence) == 1

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per (node, state), or per (draw, node, state) when batched."""
        rows = []
        for node, p in self.marginals.items():
            states = self.network.states[node]
            for d, row in enumerate(p if self.batched else p[None]):
                for s, v in zip(states, row, strict=True):
                    rows.append((d, node, s, float(v)))
        df = pd.DataFrame(rows, columns=["draw", "node", "state", "probability"])
        return df if self.batched else df.drop(columns="draw")

    def to_dict(self) -> dict:
        """JSON-ready ``{"marginals": {node: {state: p}}, "log_evidence": x}`` (unbatched)."""
        if self.batched:
            raise ValueError("to_dict() is for unbatched results; use to_frame()")
        marg = {
            node: {s: float(v) for s, v in zip(self.network.states[node], p, strict=True)}
            for node, p in self.marginals.items()
        }
        return {"marginals": marg, "log_evidence": float(self.log_evidence)}


@dataclass(frozen=True)
class MostProbable:
    """The most probable joint scenario given the evidence (the MPE), from :meth:`ExactEngine.mpe`.

    Attributes
    ----------
    network : Network
        The network queried (for state names).
    assignment : dict of str to str
        ``x*``: a state for every node without a hard finding (soft-evidence nodes included), in
        the network's topological order.
    evidence : dict of str to str
        The hard findings it was conditioned on.
    log_joint : float
        ``log P(x*, e)``; with soft evidence ``log P(x*, hard) + Σ log λ(x*)``, on the scale of
        :attr:`Posterior.log_evidence`.
    log_evidence : float
        ``log P(e)``, the same as :meth:`ExactEngine.log_evidence` gives.
    ties : bool
        Whether another scenario is as probable (within a relative ``1e-9``,
        :data:`~forecast.network.maxproduct.TIE_LOG_TOL`). The one returned is then chosen
        deterministically: at each choice of the max-product traceback the candidate with the
        lowest state indices (the first states in the network's order) is kept, so the same
        inputs always give the same scenario.
    """

    network: Network
    assignment: dict[str, str]
    evidence: dict[str, str]
    log_joint: float
    log_evidence: float
    ties: bool

    @property
    def joint(self) -> float:
        """``P(x*, e)`` (may underflow to 0 on a large network; :attr:`log_joint` does not)."""
        return float(np.exp(self.log_joint))

    @property
    def conditional(self) -> float:
        """``P(x* | e)``: the probability of the whole scenario given the evidence."""
        return float(np.exp(min(0.0, self.log_joint - self.log_evidence)))

    def to_dict(self) -> dict:
        """JSON-ready: assignment, evidence, joint and conditional probability, logs and ties."""
        return {"assignment": dict(self.assignment), "evidence": dict(self.evidence),
                "conditional": self.conditional, "joint": self.joint,
                "log_joint": self.log_joint, "log_evidence": self.log_evidence,
                "ties": self.ties}


class ExactEngine:
    """Exact inference with cached contraction plans.

    Parameters
    ----------
    network : Network
        The network; its CPTs are the defaults that ``cpts=`` overrides per query.
    """

    def __init__(self, network: Network) -> None:
        self.network = network
        self._plans: OrderedDict[tuple, Plan] = OrderedDict()
        self._too_large: set[tuple] = set()  # structure plans refused at the memory limit
        self._ancestors = {n: nx.ancestors(network.graph, n) | {n} for n in network.nodes}
        self._index = {n: k for k, n in enumerate(network.order)}
        self._family = {n: tuple(network.family(n)) for n in network.order}
        self._children = {n: set(network.graph.successors(n)) for n in network.order}

    # ------------------------------------------------------------------ public API
    def query(
        self,
        evidence: Mapping[str, str] | None = None,
        soft: Mapping[str, ArrayLike] | None = None,
        cpts: Mapping[str, np.ndarray] | None = None,
        *,
        families: bool = False,
        nodes: Collection[str] | None = None,
    ) -> Posterior:
        """All posterior marginals given hard and soft evidence.

        Parameters
        ----------
        evidence : mapping of str to str, optional
            Hard findings ``{node: state}``.
        soft : mapping of str to array_like, optional
            Likelihood evidence ``{node: λ}`` with ``λ`` of shape ``(card,)`` or ``(B, card)``,
            non-negative; it multiplies ``P(node = x)`` by ``λ[x]``.
        cpts : mapping of str to ndarray, optional
            CPTs replacing the network's, shape ``(*parents, card)`` or ``(B, *parents, card)``
            for a batch of B parameter draws (every batched input must share B). The query is
            batched if any input in `soft` or `cpts` is: then every result has the leading axis
            of B draws, also when B is 1.
        families : bool
            Also return the family posteriors ``P(parents, node | e)``; divided by the CPT they
            are the gradient of ``log P(e)`` with respect to its entries.
        nodes : collection of str, optional
            Only these nodes' marginals (and families). The query then runs on the findings'
            and these nodes' ancestors only (as :meth:`log_evidence` does, which assumes CPT
            rows that sum to 1), and its backward pass only on the steps that lead to them.
            By default every node's, on the whole network.

        Returns
        -------
        Posterior
            Batched (:attr:`Posterior.batched`) if any input was.

        Raises
        ------
        EvidenceError
            Unknown nodes or states, malformed likelihoods.
        InferenceError
            If ``P(e) = 0`` (for any draw), naming a minimal set of conflicting findings.
        """
        hard, lik, tables, batch, batched, lik_scale = self._inputs(evidence, soft, cpts)
        order = self.network.order
        if nodes is None:
            wanted = included = order
        else:  # the rest is barren: summing it out multiplies P(e) by exactly 1
            wanted = self._wanted(nodes)
            included = self._relevant([*hard, *lik, *wanted])
        reduce = () if nodes is None else self._leaves(included, wanted)
        where = {n: k for k, n in enumerate(included)}
        scratch = _scratch()
        plan, factors, fitted = self._factors(included, hard, lik, tables, batch, scratch,
                                              reduce)
        with _BLAS.limit(limits=1, user_api="blas"):
            total, log_scale, tape = plan.forward_last(factors, scratch=scratch)
            if not np.all(total > 0):
                self._raise_impossible(hard, lik, tables, total)
            grads = plan.backward_last(tape, 1.0 / total, None if nodes is None else
                                       [where[n] for n in wanted], scratch)
        log_pe = np.log(total) + log_scale + lik_scale
        last = plan.batched  # arrays below have the draws last (plan layout) when the plan does
        marginals: dict[str, np.ndarray] = {}
        fams: dict[str, np.ndarray] = {}
        for node in wanted:
            k = where[node]
            observed = node in hard
            if not observed or families:
                # P(node | e) up to normalisation: Σ_parents factor × ∂ log P(e) / ∂ factor
                per = _node_sum(factors[k], plan.input_batched[k], grads[k], last,
                                not (fitted and observed))
                total_k = per.sum(axis=0) if per.ndim > (1 if last else 0) else per
            if observed:
                m = np.zeros((self.network.card(node), *((batch,) if last else ())))
                m[hard[node]] = 1.0
            else:
                m = per / total_k
            marginals[node] = m
            if families:  # P(family | e)
                fam = _batch_last(factors[k], plan.input_batched[k], last) * grads[k]
                fams[node] = self._scatter_family(node, fam / total_k, hard, last, fitted)
        broken = [n for n, m in marginals.items() if not np.all(np.isfinite(m))]
        if broken:  # a guard: rescaling should make this impossible
            raise InferenceError("exact inference lost precision", [Problem(
                f"not finite for {', '.join(broken[:5])}", field="marginals",
                hint="scale the likelihood vectors to numbers nearer 1")])
        if not hard and not lik:
            log_pe = np.zeros_like(log_pe)  # log P(no findings) = 0, not a rounding of it
        out_m = {n: _out_last(m, batch, batched, last) for n, m in marginals.items()}
        out_f = ({n: _out_last(f, batch, batched, last) for n, f in fams.items()} if families
                 else None)
        out_pe = _out(log_pe, batch, batched)
        return Posterior(self.network, out_m, out_pe if batched else float(out_pe), out_f)

    def log_evidence(
        self,
        evidence: Mapping[str, str] | None = None,
        soft: Mapping[str, ArrayLike] | None = None,
        cpts: Mapping[str, np.ndarray] | None = None,
    ) -> float | np.ndarray:
        """``log P(e)``, computed on the evidence nodes and their ancestors only.

        Parameters are as in :meth:`query`. Impossible evidence gives ``-inf`` (a legitimate
        log-likelihood for importance weighting), never an error or NaN.

        Returns
        -------
        float or ndarray of shape (B,)
            An array if any input was batched (also for B = 1).
        """
        return self._log_evidence(evidence, soft, cpts, gradient=False)[0]

    @overload
    def log_evidence_grad(
        self,
        evidence: Mapping[str, str] | None = None,
        soft: Mapping[str, ArrayLike] | None = None,
        cpts: Mapping[str, np.ndarray] | None = None,
        *,
        soft_grad: Literal[False] = False,
    ) -> tuple[float | np.ndarray, dict[str, np.ndarray]]: ...

    @overload
    def log_evidence_grad(
        self,
        evidence: Mapping[str, str] | None = None,
        soft: Mapping[str, ArrayLike] | None = None,
        cpts: Mapping[str, np.ndarray] | None = None,
        *,
        soft_grad: Literal[True],
    ) -> tuple[float | np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]: ...

    def log_evidence_grad(
        self,
        evidence: Mapping[str, str] | None = None,
        soft: Mapping[str, ArrayLike] | None = None,
        cpts: Mapping[str, np.ndarray] | None = None,
        *,
        soft_grad: bool = False,
    ) -> (tuple[float | np.ndarray, dict[str, np.ndarray]]
          | tuple[float | np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]):
        """``log P(e)`` and its gradient with respect to every CPT entry (and likelihood).

        ``∂ log P(e) / ∂θ(x | u) = P(x, u | e) / θ(x | u)``, obtained from the backward pass
        without dividing (so zero entries are fine). Nodes outside the evidence's ancestors get
        a zero gradient: for CPTs whose rows sum to 1 they cannot change P(e), and any
        parametrisation of a row maps the constant they would get to zero.

        With `soft_grad`, also ``∂ log P(e) / ∂λ(x)`` for every likelihood vector, from the same
        backward pass: ``P(e)`` is linear in each ``λ``, so this is ``P(x | e) / (λ(x) P(e))``
        where ``λ(x) > 0`` (the engine's rescaling of ``λ`` by its maximum cancels out).

        Parameters
        ----------
        evidence, soft, cpts
            As in :meth:`query`.
        soft_grad : bool
            Also return the gradients with respect to the likelihood vectors.

        Returns
        -------
        log_pe : float or ndarray of shape (B,)
        grads : dict of str to ndarray
            Node → gradient, shape of the CPT (with a leading ``B`` when any input is batched).
        soft_grads : dict of str to ndarray
            Only with `soft_grad`: node → gradient, shape ``(card,)`` (``(B, card)`` when
            batched).

        Raises
        ------
        InferenceError
            If ``P(e) = 0`` (the gradient of ``-inf`` is undefined).
        """
        log_pe, grads, soft_grads = self._log_evidence(evidence, soft, cpts, gradient=True)
        return (log_pe, grads, soft_grads) if soft_grad else (log_pe, grads)

    def _log_evidence(self, evidence, soft, cpts, gradient):
        hard, lik, tables, batch, batched, lik_scale, lik_top = self._inputs(
            evidence, soft, cpts, tops=True)
        nodes = self._relevant([*hard, *lik])
        relevant = set(nodes)
        scratch = _scratch()
        plan, factors, fitted = self._factors(nodes, hard, lik, tables, batch, scratch,
                                              () if gradient else self._leaves(nodes))
        with _BLAS.limit(limits=1, user_api="blas"):
            total, log_scale, tape = plan.forward_last(factors, scratch=scratch)
            if gradient:
                if not np.all(total > 0):
                    self._raise_impossible(hard, lik, tables, total)
                raw = plan.backward_last(tape, 1.0 / total, scratch=scratch)
        with np.errstate(divide="ignore"):
            log_pe = np.log(total) + log_scale + lik_scale
        log_pe = _out(log_pe, batch, batched) if batched else float(log_pe[0])
        if not gradient:
            return log_pe, {}, {}
        last = plan.batched
        grads = {}
        soft_grads = {}
        for node in self.network.nodes:
            shape = self.network.cpts[node].shape
            if node not in relevant:
                grads[node] = np.zeros((batch, *shape) if batched else shape)
                continue
            g = raw[nodes.index(node)]  # with respect to the CPT times its likelihood vector
            if node in lik:
                table, table_batched = self._table(node, tables, hard, None, fitted)
                lam, lam_batched = self._lik(node, lik, hard, fitted)
                axis = not (fitted and node in hard)  # the node keeps its own axis
                per = _node_sum(table, table_batched, g, last, axis)
                full = np.zeros((self.network.card(node), *((batch,) if last else ())))
                full[_at(hard.get(node), not axis)] = per
                top = lik_top[node][:, 0]  # λ entered as λ / max λ
                soft_grads[node] = _out_last(full / (top if last else top[0]), batch, batched,
                                             last)
                g = _times_node(g, last, lam, lam_batched, None, axis)
            grads[node] = _out_last(self._scatter_family(node, g, hard, last, fitted), batch,
                                    batched, last)
        return log_pe, grads, soft_grads

    def mpe(
        self,
        evidence: Mapping[str, str] | None = None,
        soft: Mapping[str, ArrayLike] | None = None,
        cpts: Mapping[str, np.ndarray] | None = None,
    ) -> MostProbable:
        """The most probable joint state of every unobserved node: ``argmax_x P(x | e)``.

        Exact max-product on the plan :meth:`query` uses for this evidence pattern (the same
        contraction order, cached, and refused before anything is allocated if its largest table
        is over :func:`~forecast.network.plan.max_intermediate`), in log space so that nothing
        underflows, then an argmax traceback (:func:`~forecast.network.maxproduct.max_product`).
        Hard findings are fixed; a soft finding multiplies ``P(x)`` by ``λ(x_node)`` and its node
        is part of the scenario.

        The MPE is defined on one network. For a batch of parameter draws the most probable
        scenario of each draw answers no useful question (they differ from draw to draw); find
        the scenario on one network (e.g. the prior- or posterior-mean CPTs) and ask
        :meth:`scenario_probability` for its probability under every draw.

        Parameters
        ----------
        evidence, soft, cpts
            As in :meth:`query`, but unbatched: likelihoods of shape ``(card,)`` and CPTs of
            shape ``(*parents, card)``.

        Returns
        -------
        MostProbable
            The scenario, ``P(x*, e)``, ``P(x* | e)`` and whether it is tied.

        Raises
        ------
        EvidenceError
            Unknown nodes or states, malformed likelihoods, or batched inputs.
        InferenceError
            If ``P(e) = 0``, naming a minimal set of conflicting findings; or if the plan is
            over the memory limit.

        Examples
        --------
        >>> from forecast import Network
        >>> net = Network(states={"rain": ["no", "yes"], "wet": ["no", "yes"]},
        ...               parents={"wet": ["rain"]},
        ...               cpts={"rain": [0.8, 0.2], "wet": [[0.9, 0.1], [0.2, 0.8]]})
        >>> best = ExactEngine(net).mpe(evidence={"wet": "yes"})
        >>> best.assignment, round(best.conditional, 4)
        ({'rain': 'yes'}, 0.6667)
        """
        hard, lik, tables, _, batched, lik_scale = self._inputs(evidence, soft, cpts)
        if batched:
            raise EvidenceError("the most probable scenario is found on one network", [Problem(
                "a CPT or likelihood has a leading axis of parameter draws", field="cpts/soft",
                hint="pass one network's CPTs (e.g. the draws' mean), then "
                     "scenario_probability(best.assignment, ..., cpts=draws) for every draw")])
        plan, sliced, _ = self._factors(self.network.order, hard, lik, tables, 1)
        factors = [f[None] for f in sliced]  # one network: no batch axis inside the plan
        with np.errstate(divide="ignore"):
            found = max_product(plan, [np.log(f) for f in factors])
        if found.log_max == -np.inf:
            self._raise_impossible(hard, lik, tables, np.zeros(1))
        with _BLAS.limit(limits=1, user_api="blas"):
            total, log_scale, _ = plan.forward(factors)  # P(e) on the same plan and factors
        log_pe = float(np.log(total[0]) + log_scale[0] + lik_scale[0]) if hard or lik else 0.0
        states = {**found.states, **hard}
        log_joint = 0.0
        for node in self.network.order:  # the scenario's own probability, entry by entry
            table = tables[node][0] if node in tables else self.network.cpts[node]
            log_joint += float(np.log(table[tuple(states[v] for v in self.network.family(node))]))
        for node, lam in lik.items():
            log_joint += float(np.log(lam[0, states[node]]))
        log_joint += float(lik_scale[0])
        # a scenario can be no likelier than the evidence itself; rounding must not say so
        log_joint = min(log_joint, log_pe)
        names = self.network.states
        assignment = {n: names[n][states[n]] for n in self.network.order if n not in hard}
        return MostProbable(self.network, assignment,
                            {n: names[n][i] for n, i in hard.items()}, log_joint, log_pe,
                            found.ties)

    def scenario_probability(
        self,
        scenario: Mapping[str, str],
        evidence: Mapping[str, str] | None = None,
        soft: Mapping[str, ArrayLike] | None = None,
        cpts: Mapping[str, np.ndarray] | None = None,
    ) -> float | np.ndarray:
        """``P(scenario | e)`` of a joint scenario, for one network or every parameter draw.

        ``exp(log P(scenario, e) − log P(e))``, both by :meth:`log_evidence` (the scenario's
        states taken as hard findings), so a partial scenario (some nodes only) is summed over
        the others. With batched `cpts` this gives the scenario's probability under each draw —
        the interval of an :meth:`mpe` over the parameter posterior.

        Parameters
        ----------
        scenario : mapping of str to str
            ``{node: state}``; a node the evidence also fixes must have the same state (else the
            probability is 0).
        evidence, soft, cpts
            As in :meth:`query` (batched or not).

        Returns
        -------
        float or ndarray of shape (B,)
            An array if any input was batched (also for B = 1).

        Raises
        ------
        EvidenceError
            Unknown nodes or states in the scenario or the findings.
        InferenceError
            If ``P(e) = 0`` (for any draw): the conditional is undefined.
        """
        hard, lik, tables, _, _, _ = self._inputs(evidence, soft, cpts)
        problems = []
        for node, state in scenario.items():
            try:
                self.network.state_index(node, str(state))
            except KeyError as err:
                problems.append(Problem(err.args[0], field=f"scenario {node}={state}"))
        if problems:
            raise EvidenceError("the scenario does not fit the network", problems)
        log_pe = self.log_evidence(evidence, soft, cpts)
        possible = np.isfinite(np.atleast_1d(log_pe))
        if not possible.all():
            self._raise_impossible(hard, lik, tables, possible.astype(float))
        given = dict(evidence or {})
        if any(n in given and str(given[n]) != str(s) for n, s in scenario.items()):
            return np.zeros_like(log_pe) if np.ndim(log_pe) else 0.0
        merged = {**given, **{n: str(s) for n, s in scenario.items()}}
        log_both = self.log_evidence(merged, soft, cpts)
        with np.errstate(under="ignore"):
            out = np.exp(np.minimum(np.subtract(log_both, log_pe), 0.0))
        return out if np.ndim(out) else float(out)

    def plan_for(
        self,
        evidence: Mapping[str, str] | None = None,
        soft: Mapping[str, np.ndarray] | None = None,
        cpts: Mapping[str, np.ndarray] | None = None,
    ) -> Plan:
        """The (cached) plan a full query with this evidence pattern would run (to inspect)."""
        hard, lik, tables, batch, *_ = self._inputs(evidence, soft, cpts)
        return self._factors(self.network.order, hard, lik, tables, batch)[0]

    # ------------------------------------------------------------------ internals
    def _inputs(self, evidence, soft, cpts, tops=False):
        net = self.network
        problems: list[Problem] = []
        hard: dict[str, int] = {}
        for node, state in (evidence or {}).items():
            try:
                hard[node] = net.state_index(node, str(state))
            except KeyError as err:
                problems.append(Problem(err.args[0], field=f"evidence {node}={state}"))
        lik: dict[str, np.ndarray] = {}
        lik_top: dict[str, np.ndarray] = {}
        lik_scale = np.zeros(1)
        batched = False  # said by the inputs' shapes, whatever the number of draws
        for node, values in (soft or {}).items():
            where = f"soft evidence on '{node}'"
            if node not in net.states:
                try:
                    net.state_index(node, "")
                except KeyError as err:
                    problems.append(Problem(err.args[0], field=where))
                continue
            arr = np.asarray(values, dtype=float)
            card = net.card(node)
            if arr.ndim not in (1, 2) or arr.shape[-1] != card:
                problems.append(Problem(f"needs {card} likelihoods (one per state of "
                                        f"{list(net.states[node])}), got shape {arr.shape}",
                                        field=where))
            elif not np.all(np.isfinite(arr)) or np.any(arr < 0):
                problems.append(Problem("likelihoods must be finite and non-negative",
                                        field=where))
            else:
                batched |= arr.ndim == 2
                arr = arr if arr.ndim == 2 else arr[None]
                # λ and c·λ say the same about the node; scale rows to a maximum of 1 so that
                # tiny or huge likelihoods cannot overflow, and add log c back to log P(e)
                top = arr.max(axis=1, keepdims=True)
                top = np.where(top > 0, top, 1.0)
                lik[node] = arr / top
                lik_top[node] = top
                lik_scale = lik_scale + np.log(top[:, 0])
        tables: dict[str, np.ndarray] = {}
        for node, table in (cpts or {}).items():
            if node not in net.states:
                problems.append(Problem("is not a node of the network", field=f"cpts['{node}']"))
                continue
            arr = (table if type(table) is np.ndarray and table.dtype == np.float64
                   else np.asarray(table, dtype=float))
            shape = net.cpts[node].shape
            if arr.shape == shape:
                arr = arr[None]
            elif arr.shape[1:] == shape:
                batched = True
            else:
                problems.append(Problem(f"has shape {arr.shape}, expected "
                                        f"{shape} or (draws, *{shape})", field=f"cpts['{node}']"))
                continue
            tables[node] = arr
        sizes = {a.shape[0] for a in [*lik.values(), *tables.values()]} - {1}
        if len(sizes) > 1:
            problems.append(Problem(f"batched inputs disagree on the number of "
                                    f"draws: {sorted(sizes)}", field="cpts/soft"))
        if problems:
            raise EvidenceError("the query does not fit the network", problems)
        out = hard, lik, tables, (sizes.pop() if sizes else 1), batched, lik_scale
        return (*out, lik_top) if tops else out

    def _relevant(self, nodes: Collection[str]) -> tuple[str, ...]:
        """`nodes` and their ancestors, in the network's order (the rest is barren for them)."""
        relevant = set().union(*(self._ancestors[n] for n in nodes)) if nodes else set()
        return tuple(n for n in self.network.order if n in relevant)

    def _wanted(self, nodes: Collection[str]) -> tuple[str, ...]:
        """The nodes asked for, in the network's order; unknown names are an EvidenceError."""
        problems = []
        for n in nodes:
            if n not in self._index:
                try:
                    self.network.state_index(n, "")
                except KeyError as err:
                    problems.append(Problem(err.args[0], field=f"nodes: {n}"))
        if problems:
            raise EvidenceError("the query does not fit the network", problems)
        asked = set(nodes)
        return tuple(n for n in self.network.order if n in asked)

    def _factors(self, nodes, hard, lik, tables, batch, scratch=None, reduce=()):
        """The plan for `nodes` and its factors in the plan's layout (draws last, if any).

        Factor k is node k's CPT restricted to the hard findings of its family, times the
        node's likelihood vector if it has one. On a plan per structure (draws) a finding
        keeps its axis at size 1 (the product with the finding's indicator, without the
        zeros), so that which nodes are observed, and how, does not change the plan; on a
        plan fitted to the hard findings (one network) the axis is dropped. A node in
        `reduce` (an observed leaf whose own marginal is not asked for) enters already summed
        over its own states: ``Σ_x P(x | parents) λ(x)``, one pass instead of a product and a
        sum over its full table.
        """
        flags = tuple(self._batched(n, tables, lik) for n in nodes)
        reduced = tuple(n for n in nodes if n in reduce)
        plan, fitted = self._plan(nodes, flags, batch, reduced, hard)
        factors = []
        for n in nodes:
            x, batched = self._table(n, tables, hard, scratch, fitted)
            lam, lam_batched = self._lik(n, lik, hard, fitted) if n in lik else (None, False)
            axis = not (fitted and n in hard)  # whether the node keeps its own axis
            if n in reduce:
                x = _sum_node(x, batched, lam, lam_batched, scratch, axis)
            elif lam is not None:
                x = _times_node(x, batched, lam, lam_batched, scratch, axis)
            factors.append(x)
        return plan, factors, fitted

    def _batched(self, node: str, tables: Mapping[str, np.ndarray],
                 lik: Mapping[str, np.ndarray]) -> bool:
        """Whether the node's factor carries the draws (its CPT or its likelihood does)."""
        t = tables.get(node)
        return ((t is not None and t.shape[0] > 1)
                or (node in lik and lik[node].shape[0] > 1))

    def _leaves(self, included: tuple[str, ...], keep: Collection[str] = ()) -> set[str]:
        """The nodes of `included` without children in it, other than `keep`."""
        inside = set(included)
        return {n for n in included if n not in keep and not self._children[n] & inside}

    def _plan(self, nodes: tuple[str, ...], batched: tuple[bool, ...], batch: int,
              reduced: tuple[str, ...] = (), hard: Collection[str] = ()) -> tuple[Plan, bool]:
        """The cached plan over the families of `nodes`, and whether it is fitted to `hard`.

        A batched plan (parameter draws) is one per structure: its path is searched at every
        node's full number of states and serves every evidence pattern (unless that plan is
        over the memory limit: then one per set of hard findings, as before). An unbatched one
        (one network: microseconds to milliseconds a query) is one per set of hard-observed
        nodes, without their variables (as before): the path fitted to the pattern beats
        reuse there (measured on bnlearn's mildew and barley: a query on the structure's path
        took 1.7 times as long). `reduced` nodes enter without their own variable.
        """
        fitted = not any(batched) or batch == 1
        key: tuple = (nodes, batched, batch, reduced, None)
        if fitted or key in self._too_large:
            # a structure plan over the memory limit: its hard findings may bring it under
            key = (nodes, batched, batch, reduced, frozenset(hard))
            fitted = True
        plan = self._plans.get(key)
        if plan is None:
            net = self.network
            scopes = [tuple(v for v in (self._family[n][:-1] if n in reduced else self._family[n])
                            if not (fitted and v in hard)) for n in nodes]
            try:
                plan = Plan(scopes, {n: net.card(n) for n in net.nodes}, batched, batch)
            except InferenceError:
                if fitted or not hard:
                    raise
                self._too_large.add(key)
                return self._plan(nodes, batched, batch, reduced, hard)
            self._plans[key] = plan
            if len(self._plans) > _PLAN_CACHE_SIZE:
                self._plans.popitem(last=False)
        else:
            self._plans.move_to_end(key)
        return plan, fitted

    def _table(self, node: str, tables: Mapping[str, np.ndarray], hard: Mapping[str, int],
               scratch: Scratch | None = None, drop: bool = False) -> tuple[np.ndarray, bool]:
        """The node's CPT in plan layout (draws last if batched), cut to the hard findings.

        A finding's axis is kept at size 1, or dropped with `drop`.
        """
        t = tables.get(node)
        if t is None or t.shape[0] == 1:
            x, batched = (self.network.cpts[node] if t is None else t[0]), False
        else:
            x, batched = as_last(t, scratch), True
        fam = self._family[node]
        if hard and any(v in hard for v in fam):
            x = x[tuple(_at(hard.get(v), drop) for v in fam)]
        return x, batched

    @staticmethod
    def _lik(node: str, lik: Mapping[str, np.ndarray], hard: Mapping[str, int],
             drop: bool = False) -> tuple[np.ndarray, bool]:
        """The node's likelihood vector in plan layout, cut to its hard finding if any."""
        lam = lik[node]
        if node in hard:
            lam = lam[:, _at(hard[node], drop)]
        if lam.shape[0] > 1:
            return np.ascontiguousarray(lam.T), True
        return lam[0], False

    def _scatter_family(self, node, fam, hard, last, drop):
        """A family table (plan layout) cut to the hard findings, back to its full shape."""
        fam_vars = self.network.family(node)
        shape = tuple(self.network.card(v) for v in fam_vars)
        full = np.zeros((*shape, fam.shape[-1]) if last else shape)
        full[tuple(_at(hard.get(v), drop) for v in fam_vars)] = fam
        return full

    def _raise_impossible(self, hard, lik, tables, total):
        bad = np.flatnonzero(~(total > 0))
        draw = int(bad[0])
        one = {n: t[draw if t.shape[0] > 1 else 0] for n, t in tables.items()}
        findings = [("hard", n) for n in hard] + [("soft", n) for n in lik]

        def impossible(keep):
            ev = {n: self.network.states[n][hard[n]] for kind, n in keep if kind == "hard"}
            sv = {n: lik[n][draw if lik[n].shape[0] > 1 else 0] for kind, n in keep
                  if kind == "soft"}
            return self.log_evidence(ev, sv, one) == -np.inf

        conflict = list(findings)
        for f in findings:  # deletion filter: a minimal subset that is still impossible
            trial = [g for g in conflict if g != f]
            if impossible(trial):
                conflict = trial
        names = [f"{n}={self.network.states[n][hard[n]]}" if kind == "hard"
                 else f"{n}~{np.round(lik[n][min(draw, lik[n].shape[0] - 1)], 6).tolist()}"
                 for kind, n in conflict]
        which = "" if total.shape[0] == 1 else f" for {bad.size} of {total.shape[0]} draws"
        raise InferenceError(
            f"the evidence is impossible under the model{which}: P(e) = 0",
            [Problem("these findings cannot all hold: " + ", ".join(names), field="findings",
                     hint="remove or correct one of them, or give a soft (likelihood) finding")],
        )


def _full(arr: np.ndarray, batch: int) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(arr, (batch, *arr.shape[1:])))


def _out(arr: np.ndarray, batch: int, batched: bool) -> np.ndarray:
    """A result with its leading axis: B draws if the query is batched, else dropped."""
    return _full(arr, batch) if batched else arr[0]


def _out_last(arr: np.ndarray, batch: int, batched: bool, last: bool) -> np.ndarray:
    """A result in plan layout (draws last when `last`) with the draws first, if batched."""
    if last:
        return np.ascontiguousarray(np.moveaxis(arr, -1, 0))
    return _full(arr[None], batch) if batched else arr


def _at(state: int | None, drop: bool = False) -> slice | int:
    """The index of an axis that a hard finding keeps (all of it without one).

    With `drop`, the finding's state as an integer, which removes the axis.
    """
    if state is None:
        return slice(None)
    return state if drop else slice(state, state + 1)


def _batch_last(x: np.ndarray, batched: bool, last: bool) -> np.ndarray:
    """`x` ready to broadcast against arrays with the draws last (a new axis if shared)."""
    return x[..., None] if last and not batched else x


def _times_node(x: np.ndarray, x_batched: bool, lam: np.ndarray, lam_batched: bool,
                scratch: Scratch | None = None, axis: bool = True) -> np.ndarray:
    """A family table times its node's likelihood vector (over its last variable).

    Without that `axis` (a hard finding, dropped) the likelihood is the number λ(state), one
    per draw if batched.
    """
    if x_batched and not lam_batched and axis:
        lam = lam[:, None]
    elif lam_batched and not x_batched:
        x = x[..., None]
    if scratch is None or not (x_batched or lam_batched):
        return x * lam
    return np.multiply(x, lam, out=scratch.take(np.broadcast_shapes(x.shape, lam.shape)))


def _sum_node(x: np.ndarray, x_batched: bool, lam: np.ndarray | None, lam_batched: bool,
              scratch: Scratch | None = None, axis: bool = True) -> np.ndarray:
    """A family table summed over its node (its last variable), weighted by `lam` if given.

    Without the node's `axis` (a hard finding, dropped) it is the table times ``λ(state)``.
    """
    if not axis:
        return x if lam is None else _times_node(x, x_batched, lam, lam_batched, scratch, False)
    n = x.ndim - (1 if x_batched else 0)
    if lam is None:
        if x.shape[n - 1] == 1:  # a hard finding: the slice is the sum
            return x[(slice(None),) * (n - 1) + (0,)]
        return x.sum(axis=n - 1)
    axes = _LETTERS[:n]
    z = "Z" if x_batched or lam_batched else ""
    spec = (f"{axes}{'Z' if x_batched else ''},{axes[-1]}{'Z' if lam_batched else ''}"
            f"->{axes[:-1]}{z}")
    shape = x.shape[:n - 1] + ((max(x.shape[-1], lam.shape[-1]),) if z else ())
    out = None if scratch is None or not z else scratch.take(shape)
    return np.einsum(spec, x, lam, out=out)


def _node_sum(factor: np.ndarray, batched: bool, grad: np.ndarray, last: bool,
              axis: bool = True) -> np.ndarray:
    """``Σ_parents factor × grad``: shape ``(card, B)`` when `last`, else ``(card,)``.

    Without the node's `axis` (a hard finding, dropped), the sum of every entry: ``(B,)`` or
    ``()``.
    """
    n = factor.ndim - (1 if batched else 0)
    axes = _LETTERS[:n]
    z = "Z" if last else ""
    keep = axes[-1] if axis and n else ""
    return np.einsum(f"{axes}{'Z' if batched else ''},{axes}{z}->{keep}{z}", factor, grad)


_LETTERS = "abcdefghijklmnopqrstuvwxyABCDEFGHIJKLMNOPQRSTUVWXY"
_SCRATCH = threading.local()


def _scratch() -> Scratch:
    """The calling thread's scratch memory, reset for a new query (see :class:`Scratch`)."""
    scratch = getattr(_SCRATCH, "memory", None)
    if scratch is None:
        scratch = _SCRATCH.memory = Scratch()
    scratch.reset()
    return scratch


def draws_last(cpts: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same batched CPTs, each ``(B, *shape)``, stored with the draws axis last in memory.

    :class:`ExactEngine` computes with the draws as the last, contiguous axis of every table.
    CPTs stored so (``np.moveaxis(x, -1, 0)`` of a C-ordered ``(*shape, B)`` array) enter a
    query without a transposed copy; other layouts are copied on every query. Values, shapes
    and results are the same. Every CPT passed must carry the draws axis (B > 1).
    """
    return {n: np.moveaxis(as_last(np.asarray(c, dtype=float)), -1, 0) for n, c in cpts.items()}


def query(
    network: Network,
    evidence: Mapping[str, str] | None = None,
    soft: Mapping[str, np.ndarray] | None = None,
) -> Posterior:
    """One-off exact query (builds an engine; keep an :class:`ExactEngine` to reuse plans)."""
    return ExactEngine(network).query(evidence, soft)
