"""From parameter values to CPT arrays: one formula, for numpy and for PyTensor.

:func:`node_cpt` is the formula of every CPT form, over an array namespace
(:class:`~forecast.model.arrays.ArrayOps`) and with an explicit leading batch axis: parameter
values of shape ``(B, *shape)`` give a CPT of shape ``(B, *parent_cards, card)`` in the
:class:`~forecast.network.network.Network` layout (parents in the node's ``parents`` order, then
the node's states). With :data:`~forecast.model.arrays.NUMPY` it is evaluated for thousands of
draws at once (:func:`build_cpts`, no Python loop over draws); with
:func:`~forecast.model.arrays.pytensor_ops` it is the CPT of the PyMC model.

* table: rows as given; a Beta row is the probability of its state, the other state gets the rest;
* logit: ``P(outcome | u) = sigmoid(logit(baseline) + Σ_j effect_j · [u_j = state_j])``: each
  effect shifts the log-odds when its parent is in its one state (the model language gives an
  effect exactly one non-reference state);
* noisy-OR: ``P(outcome | u) = 1 − (1 − leak) · Π_j (1 − link_j · [u_j active])``: a link is
  active in any of its states.

:func:`prior_mean_network` gives the network whose CPT entries are the prior means
``E[θ(x | u)]``: exact for tables and noisy-OR (multilinear in independent parameters), by
scrambled Sobol quasi-Monte Carlo for logit nodes — *not* the sigmoid at the parameters' means.

Every CPT is built in full, whatever its form, so before anything is allocated the sizes are
checked against :data:`~forecast.model.schema.MAX_CPT_ENTRIES` (per node) and
:data:`~forecast.model.schema.MAX_MODEL_CPT_ENTRIES` (in all), which a loaded model already
meets; a spec built some other way gets a :class:`~forecast.errors.SpecError` here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import qmc

from forecast.errors import EvidenceError, Problem, SpecError
from forecast.model.arrays import NUMPY, ArrayOps
from forecast.model.parameters import Parameter, parameters
from forecast.model.schema import (
    MAX_CPT_ENTRIES,
    MAX_MODEL_CPT_ENTRIES,
    Logit,
    ModelSpec,
    Table,
    cpt_entries,
)
from forecast.network.network import Network

__all__ = [
    "QMC_SEED",
    "build_cpts",
    "check_cpt_sizes",
    "intervention_cpts",
    "node_cpt",
    "prior_mean_network",
]

QMC_SEED = 20150824
"""Seed of the scrambled Sobol sequence used for prior means of logit CPTs."""

_CHUNK = 1 << 21
"""Number of CPT entries computed at once when averaging over quasi-Monte Carlo points."""


def node_cpt(
    spec: ModelSpec,
    node: str,
    values: Mapping[str, Any],
    *,
    params: Sequence[Parameter] | None = None,
    ops: ArrayOps = NUMPY,
) -> Any:
    """The CPT of one node for a batch of parameter values.

    Indicators of parent states are numpy constants that broadcast against the parameters: no
    einsum, and a handful of graph nodes per parent in PyTensor.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    node : str
        The node.
    values : mapping of str to array or tensor
        Parameter name → values of shape ``(B, *shape)`` (every one with the same leading batch
        axis), for at least the node's parameters.
    params : sequence of Parameter, optional
        ``parameters(spec)`` (or the node's own), if already computed.
    ops : ArrayOps
        The array namespace of `values`: :data:`~forecast.model.arrays.NUMPY` (default) or
        :func:`~forecast.model.arrays.pytensor_ops`.

    Returns
    -------
    ndarray or TensorVariable
        Shape ``(B, *parent_cards, card)``; rows sum to 1.

    Raises
    ------
    SpecError
        If the node's CPT is too large to build (:func:`check_cpt_sizes`).
    """
    check_cpt_sizes(spec, [node])
    return _node_cpt(spec, node, values, params=params, ops=ops)


def _node_cpt(spec: ModelSpec, node: str, values: Mapping[str, Any], *,
              params: Sequence[Parameter] | None = None, ops: ArrayOps = NUMPY) -> Any:
    """:func:`node_cpt` without the size check (for callers that checked every node)."""
    ps = [p for p in (parameters(spec) if params is None else params) if p.node == node]
    own = spec.nodes[node]
    cards = tuple(spec.card(q) for q in own.parents)
    ones = (1,) * len(cards)
    body = own.cpt.body
    if isinstance(body, Table):
        rows = {}
        for p in ps:
            v = values[p.name]
            if p.states:  # Beta row of a binary node: the probability of one state
                pair = [1.0 - v, v] if own.states.index(p.states[0]) == 1 else [v, 1.0 - v]
                v = ops.stack(pair, axis=-1)
            rows[tuple(spec.nodes[q].states.index(s) for q, s in p.when)] = v
        grid = ops.stack([rows[idx] for idx in np.ndindex(*cards)], axis=1)
        return ops.reshape(grid, (-1, *cards, len(own.states)))
    outcome = own.states.index(str(body.outcome if body.outcome is not None else own.states[-1]))
    zero = np.zeros(cards)
    if isinstance(body, Logit):
        eta = ops.reshape(ops.logit(values[f"{node}.baseline"]), (-1, *ones)) + zero
        for p in ps:
            if p.role == "effect":
                eta = eta + ops.reshape(values[p.name], (-1, *ones)) * _indicator(spec, node, p)
        pair = [ops.sigmoid(-eta), ops.sigmoid(eta)]
    else:
        q = ops.reshape(1.0 - values[f"{node}.leak"], (-1, *ones)) + zero
        for p in ps:
            if p.role == "link":
                q = q * (1.0 - ops.reshape(values[p.name], (-1, *ones)) * _indicator(spec, node, p))
        pair = [q, 1.0 - q]
    return ops.stack(pair if outcome == 1 else pair[::-1], axis=-1)


def check_cpt_sizes(spec: ModelSpec, nodes: Sequence[str] | None = None) -> None:
    """Refuse CPTs too large to build, before anything is allocated.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    nodes : sequence of str, optional
        The nodes to check; by default every node, and then the total too.

    Raises
    ------
    SpecError
        Naming each node whose CPT has more than
        :data:`~forecast.model.schema.MAX_CPT_ENTRIES` entries, or the model if all of them
        together have more than :data:`~forecast.model.schema.MAX_MODEL_CPT_ENTRIES`.
    """
    problems = []
    total = 0
    for name in spec.nodes if nodes is None else nodes:
        node = spec.nodes[name]
        size = cpt_entries(len(node.states), (spec.card(p) for p in node.parents),
                           limit=MAX_CPT_ENTRIES)
        total += size
        if size > MAX_CPT_ENTRIES:
            problems.append(Problem(
                f"the CPT of '{name}' has more than {MAX_CPT_ENTRIES:,} entries",
                hint="give it fewer parents or states", file=spec.name, field=f"nodes.{name}"))
    if not problems and nodes is None and total > MAX_MODEL_CPT_ENTRIES:
        problems.append(Problem(
            f"the CPTs have {total:,} entries in all, more than {MAX_MODEL_CPT_ENTRIES:,}",
            hint="use fewer parents or states on the largest nodes", file=spec.name))
    if problems:
        raise SpecError(f"{spec.name}: CPTs too large to build", problems)


def _indicator(spec: ModelSpec, node: str, p: Parameter) -> np.ndarray:
    """1 where the parent of effect or link `p` is in one of ``p.states``, over the parents' grid.

    Shape ``(1, *parent_cards)`` with ones except on the parent's axis, to broadcast against a
    batch. An effect has exactly one state (its parent's non-reference state), a link one or more.
    """
    parents = list(spec.nodes[node].parents)
    parent_states = spec.nodes[str(p.parent)].states
    ind = np.zeros(len(parent_states))
    ind[[parent_states.index(s) for s in p.states]] = 1.0
    shape = [1] * (1 + len(parents))
    shape[1 + parents.index(str(p.parent))] = ind.size
    return ind.reshape(shape)


def build_cpts(
    spec: ModelSpec,
    values: Mapping[str, ArrayLike],
    *,
    params: list[Parameter] | None = None,
) -> dict[str, np.ndarray]:
    """CPT arrays for a batch of parameter values (numpy).

    Parameters
    ----------
    spec : ModelSpec
        The model.
    values : mapping of str to array_like
        Parameter name → values of shape ``(n, *shape)``; a value of the parameter's own shape
        (unbatched, e.g. a fixed value) is broadcast over the batch. Every parameter of the
        spec must be present.
    params : list of Parameter, optional
        ``parameters(spec)``, if already computed.

    Returns
    -------
    dict of str to ndarray
        Node → CPT of shape ``(n, *parent_cards, card)``: parents in the node's ``parents``
        order, then the node's states; rows sum to 1. The batch axis is always there: ``n`` is
        1 if no value is batched.

    Raises
    ------
    ValueError
        If a parameter is missing or has a shape that fits neither form.
    SpecError
        If the CPTs are too large to build (:func:`check_cpt_sizes`).
    """
    check_cpt_sizes(spec)
    params = parameters(spec) if params is None else params
    missing = [p.name for p in params if p.name not in values]
    if missing:
        raise ValueError(f"no values for parameter(s): {', '.join(missing)}")
    n = 1
    for p in params:
        shape = np.shape(values[p.name])
        if len(shape) == len(p.shape) + 1:
            n = shape[0]
            break
    arrays = {p.name: _batched(p, values[p.name], n) for p in params}
    return {name: _node_cpt(spec, name, arrays, params=params) for name in spec.nodes}


def prior_mean_network(
    spec: ModelSpec, *, qmc_log2: int = 16, seed: int | np.random.Generator = QMC_SEED
) -> Network:
    """The network whose CPT entries are their prior means ``E[θ(x | u)]``.

    With independent parameters, exact inference in this network gives the prior mean of any
    scenario probability. Table and noisy-OR entries are exact (multilinear in independent
    parameters, so the mean of the entry is the entry at the means); logit entries are averaged
    over ``2**qmc_log2`` scrambled Sobol points pushed through each parameter's quantile
    function (about 2e-7 from Gauss quadrature for the default 2**16 points in the tests).

    Parameters
    ----------
    spec : ModelSpec
        The model.
    qmc_log2 : int, optional
        log2 of the number of quasi-Monte Carlo points for logit nodes.
    seed : int or numpy.random.Generator, optional
        Seed of the Sobol scrambling (``numpy.random.default_rng``), or a generator.

    Returns
    -------
    Network
        Named after the model.

    Raises
    ------
    SpecError
        If the CPTs are too large to build (:func:`check_cpt_sizes`).
    """
    check_cpt_sizes(spec)
    params = parameters(spec)
    cpts = {}
    for name, node in spec.nodes.items():
        ps = [p for p in params if p.node == name]
        if node.cpt.form == "logit" and not all(p.fixed for p in ps):
            cpts[name] = _logit_mean(spec, name, ps, qmc_log2, seed)
        else:
            means = {p.name: _batched(p, p.prior.mean, 1) for p in ps}
            cpts[name] = _node_cpt(spec, name, means, params=ps)[0]
    return Network(spec.states, spec.parents, cpts, name=spec.name)


def _batched(p: Parameter, value: object, n: int) -> np.ndarray:
    v = np.asarray(value, dtype=float)
    if v.shape == p.shape:
        return np.broadcast_to(v, (n, *p.shape))
    if v.shape == (n, *p.shape):
        return v
    raise ValueError(
        f"values of '{p.name}' have shape {v.shape}; expected {(n, *p.shape)} or {p.shape}"
    )


def _logit_mean(
    spec: ModelSpec, name: str, ps: list[Parameter], qmc_log2: int,
    seed: int | np.random.Generator,
) -> np.ndarray:
    uncertain = [p for p in ps if not p.fixed]
    sampler = qmc.Sobol(len(uncertain), scramble=True, rng=np.random.default_rng(seed))
    u = np.clip(sampler.random_base2(qmc_log2), 1e-15, 1 - 1e-15)
    values = {p.name: p.prior.ppf(u[:, j]) for j, p in enumerate(uncertain)}
    total = u.shape[0]
    shape = (*(spec.card(q) for q in spec.nodes[name].parents), 2)
    step = max(1, _CHUNK // math.prod(shape))
    acc = np.zeros(shape)
    for start in range(0, total, step):
        stop = min(start + step, total)
        chunk = {
            p.name: (
                values[p.name][start:stop]
                if not p.fixed
                else _batched(p, p.prior.mean, stop - start)
            )
            for p in ps
        }
        acc += _node_cpt(spec, name, chunk, params=ps).sum(axis=0)
    return acc / total


def intervention_cpts(spec: ModelSpec, interventions: Mapping[str, str]) -> dict[str, np.ndarray]:
    """The CPT of each intervened node under ``do(node = state)``: certainty in that state.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    interventions : mapping of str to str
        ``{node: state}`` to force.

    Returns
    -------
    dict of str to ndarray
        Node → CPT of shape ``(*parent_cards, card)``, one-hot in the forced state for every
        parent configuration (the parents lose their influence: graph surgery).

    Raises
    ------
    EvidenceError
        Listing every unknown node or state.
    """
    problems = []
    out = {}
    for node, state in interventions.items():
        if node not in spec.states:
            problems.append(Problem(f"unknown node '{node}'", field=f"do({node}={state})"))
        elif state not in spec.states[node]:
            problems.append(Problem(f"'{node}' has no state '{state}'", field=f"do({node}={state})",
                                    hint=f"states: {', '.join(spec.states[node])}"))
        else:
            table = np.zeros((*(spec.card(p) for p in spec.parents[node]), spec.card(node)))
            table[..., spec.states[node].index(state)] = 1.0
            out[node] = table
    if problems:
        raise EvidenceError("cannot intervene", problems)
    return out
