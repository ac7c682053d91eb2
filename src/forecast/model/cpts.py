"""From a model spec to named parameters, and from parameter values to CPT arrays.

Every uncertain or fixed quantity of a :class:`~forecast.model.load.ModelSpec` becomes one
:class:`Parameter` with a stable dotted name:

=====================  =============================================  ======================
form                   name                                           prior
=====================  =============================================  ======================
table, root            ``node.row[0]``                                Beta / Dirichlet / fixed
table, with parents    ``node.row[p1=a,p2=b]`` (parents' order)       Beta / Dirichlet / fixed
logit                  ``node.baseline``                              Beta / fixed
logit                  ``node.effect.parent=state``                   ±LogNormal / fixed
noisy-OR               ``node.leak``                                  Beta / fixed
noisy-OR               ``node.link.parent``                           Beta / fixed
noisy-OR, 2+ links     ``node.link.parent=s1+s2`` (for one parent)    Beta / fixed
=====================  =============================================  ======================

A Beta row (``prior: {state: word}`` on a binary node) is the probability of the named state;
a Dirichlet or fixed row is the whole distribution, in the node's state order.

CPTs ---- :func:`build_cpts` turns values (one array per parameter, leading axis = draws) into
arrays of shape ``(n, *parent_cards, card)`` in the :class:`~forecast.network.network.Network`
layout, without a Python loop over draws:

* logit: ``P(outcome | u) = sigmoid(logit(baseline) + Σ_j effect_j · [u_j = state_j])``
* noisy-OR: ``P(outcome | u) = 1 − (1 − leak) · Π_j (1 − link_j · [u_j active])``

:func:`prior_mean_network` gives the network whose CPT entries are the prior means
``E[θ(x | u)]``: exact for tables and noisy-OR (multilinear in independent parameters), by
scrambled Sobol quasi-Monte Carlo for logit nodes — *not* the sigmoid at the parameters' means.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import special
from scipy.stats import qmc

from forecast.errors import EvidenceError, Problem
from forecast.model import priors
from forecast.model.schema import Logit, ModelSpec, NoisyOr, Table
from forecast.network.network import Network

__all__ = [
    "QMC_SEED",
    "Parameter",
    "build_cpts",
    "parameter_table",
    "parameters",
    "prior_mean_network",
    "sample_parameters",
]

QMC_SEED = 20150824
"""Seed of the scrambled Sobol sequence used for prior means of logit CPTs."""

_CHUNK = 1 << 21
"""Number of CPT entries computed at once when averaging over quasi-Monte Carlo points."""

Role = Literal["row", "baseline", "effect", "leak", "link", "persistence"]


@dataclass(frozen=True)
class Parameter:
    """One named quantity of a model's CPTs.

    Parameters
    ----------
    name : str
        Stable dotted name, e.g. ``caliphate.effect.reconciliation=achieved``.
    node : str
        The node whose CPT it enters.
    role : {"row", "baseline", "effect", "leak", "link", "persistence"}
        What it is in its CPT form (``persistence``: a condition's per-step persistence,
        :func:`forecast.model.time.time_parameters`).
    prior : Prior
        Its prior (:mod:`forecast.model.priors`); a FixedValue if fixed by the analyst.
    claims : tuple of str
        Claim ids it cites (for a table row: the table's and the row's).
    assumption : str or None
        The assumption it states, if any.
    path : str
        Key path of its element in the model file, e.g. ``nodes.x.cpt.logit.effects[0]``.
    parent : str or None
        For effects and links: the parent.
    states : tuple of str
        Effect: the parent state; link: the active parent states; Beta row: the node state
        whose probability it is; otherwise empty.
    when : tuple of (str, str)
        For table rows: the parent configuration, in the node's parents order.
    """

    name: str
    node: str
    role: Role
    prior: priors.Prior
    claims: tuple[str, ...] = ()
    assumption: str | None = None
    path: str = ""
    parent: str | None = None
    states: tuple[str, ...] = ()
    when: tuple[tuple[str, str], ...] = ()

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one value: ``()`` or ``(k,)`` for a whole row."""
        return tuple(self.prior.shape)

    @property
    def fixed(self) -> bool:
        """Whether the analyst fixed it (no uncertainty)."""
        return isinstance(self.prior, priors.FixedValue)

    def describe(self) -> str:
        """``name: prior`` in a short line."""
        return f"{self.name}: {self.prior.describe()}"


def _join(*texts: str | None) -> str | None:
    parts = [t.strip() for t in texts if t and t.strip()]
    return " ".join(parts) if parts else None


def parameters(spec: ModelSpec) -> list[Parameter]:
    """Every parameter of the spec, node by node in file order.

    Parameters
    ----------
    spec : ModelSpec
        A validated model (as returned by :func:`forecast.model.load.load_spec`).

    Returns
    -------
    list of Parameter
    """
    out: list[Parameter] = []
    for name, node in spec.nodes.items():
        base = f"nodes.{name}.cpt.{node.cpt.form}"
        body = node.cpt.body
        if isinstance(body, Table):
            for i, row in enumerate(body.rows):
                when = tuple((p, row.when[p]) for p in node.parents)
                label = ",".join(f"{p}={s}" for p, s in when) if when else "0"
                claims = tuple(dict.fromkeys([*body.claims, *row.claims]))
                if row.prior is not None:
                    ((state, value),) = row.prior.items()
                    prior: priors.Prior = priors.probability_prior(value)
                    states: tuple[str, ...] = (state,)
                elif row.probabilities is not None:
                    prior = priors.FixedValue(tuple(row.probabilities[s] for s in node.states))
                    states = ()
                else:
                    counts = row.counts or {}
                    prior = priors.dirichlet_prior([counts[s] for s in node.states])
                    states = ()
                out.append(
                    Parameter(
                        f"{name}.row[{label}]",
                        name,
                        "row",
                        prior,
                        claims,
                        _join(body.assumption, row.assumption),
                        f"{base}.rows[{i}]",
                        states=states,
                        when=when,
                    )
                )
        elif isinstance(body, Logit):
            b = body.baseline
            out.append(
                Parameter(
                    f"{name}.baseline",
                    name,
                    "baseline",
                    b.distribution(),
                    tuple(b.claims),
                    b.assumption,
                    f"{base}.baseline",
                )
            )
            for i, e in enumerate(body.effects):
                out.append(
                    Parameter(
                        f"{name}.effect.{e.parent}={e.state}",
                        name,
                        "effect",
                        e.distribution(),
                        tuple(e.claims),
                        e.assumption,
                        f"{base}.effects[{i}]",
                        parent=e.parent,
                        states=(str(e.state),),
                    )
                )
        else:
            leak = body.leak
            out.append(
                Parameter(
                    f"{name}.leak",
                    name,
                    "leak",
                    leak.distribution(),
                    tuple(leak.claims),
                    leak.assumption,
                    f"{base}.leak",
                )
            )
            per_parent: dict[str, int] = {}
            for link in body.links:
                per_parent[link.parent] = per_parent.get(link.parent, 0) + 1
            for i, link in enumerate(body.links):
                active = tuple(link.state or ())
                suffix = "" if per_parent[link.parent] == 1 else "=" + "+".join(active)
                out.append(
                    Parameter(
                        f"{name}.link.{link.parent}{suffix}",
                        name,
                        "link",
                        link.distribution(),
                        tuple(link.claims),
                        link.assumption,
                        f"{base}.links[{i}]",
                        parent=link.parent,
                        states=active,
                    )
                )
    return out


def parameter_table(spec: ModelSpec) -> pd.DataFrame:
    """The parameters as a table: name, node, role, prior, mean, fixed, claims, assumption.

    ``mean`` is a float, or a tuple for a whole row; ``claims`` is comma-separated text.
    """
    rows = [
        {
            "name": p.name,
            "node": p.node,
            "role": p.role,
            "prior": p.prior.describe(),
            "mean": p.prior.mean if not p.shape else tuple(np.asarray(p.prior.mean).tolist()),
            "fixed": p.fixed,
            "claims": ", ".join(p.claims),
            "assumption": p.assumption,
        }
        for p in parameters(spec)
    ]
    columns = ["name", "node", "role", "prior", "mean", "fixed", "claims", "assumption"]
    return pd.DataFrame(rows, columns=columns)


def sample_parameters(spec: ModelSpec, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw `n` values of every parameter from its prior (fixed ones repeated).

    Parameters
    ----------
    spec : ModelSpec
        The model.
    n : int
        Number of draws.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    dict of str to ndarray
        Parameter name → array of shape ``(n,)``, or ``(n, k)`` for a whole row.
    """
    return {p.name: p.prior.sample(rng, n) for p in parameters(spec)}


def build_cpts(
    spec: ModelSpec,
    values: Mapping[str, np.ndarray],
    *,
    params: list[Parameter] | None = None,
) -> dict[str, np.ndarray]:
    """CPT arrays for a batch of parameter values.

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
        order, then the node's states; rows sum to 1. ``n`` is 1 if no value is batched.

    Raises
    ------
    ValueError
        If a parameter is missing or has a shape that fits neither form.
    """
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
    by_node: dict[str, list[Parameter]] = {name: [] for name in spec.nodes}
    for p in params:
        by_node[p.node].append(p)
    return {name: _node_cpt(spec, name, by_node[name], arrays, n) for name in spec.nodes}


def prior_mean_network(spec: ModelSpec, *, qmc_log2: int = 16, seed: int = QMC_SEED) -> Network:
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
    seed : int, optional
        Seed of the Sobol scrambling.

    Returns
    -------
    Network
        Named after the model.
    """
    params = parameters(spec)
    by_node: dict[str, list[Parameter]] = {name: [] for name in spec.nodes}
    for p in params:
        by_node[p.node].append(p)
    cpts = {}
    for name, node in spec.nodes.items():
        ps = by_node[name]
        if node.cpt.form == "logit" and not all(p.fixed for p in ps):
            cpts[name] = _logit_mean(spec, name, ps, qmc_log2, seed)
        else:
            means = {p.name: _batched(p, p.prior.mean, 1) for p in ps}
            cpts[name] = _node_cpt(spec, name, ps, means, 1)[0]
    return Network(spec.states, spec.parents, cpts, name=spec.name)


# --------------------------------------------------------------------------------------------
# internals
# --------------------------------------------------------------------------------------------


def _batched(p: Parameter, value: object, n: int) -> np.ndarray:
    v = np.asarray(value, dtype=float)
    if v.shape == p.shape:
        return np.broadcast_to(v, (n, *p.shape))
    if v.shape == (n, *p.shape):
        return v
    raise ValueError(
        f"values of '{p.name}' have shape {v.shape}; expected {(n, *p.shape)} or {p.shape}"
    )


def _axis_indicator(cards: list[int], axis: int, states: list[int]) -> np.ndarray:
    """A 0/1 array over the parents' axes, 1 where parent `axis` is in `states`."""
    ind = np.zeros(cards[axis])
    ind[states] = 1.0
    shape = [1] * len(cards)
    shape[axis] = cards[axis]
    return ind.reshape(shape)


def _node_cpt(
    spec: ModelSpec, name: str, ps: list[Parameter], values: Mapping[str, np.ndarray], n: int
) -> np.ndarray:
    node = spec.nodes[name]
    parents = list(node.parents)
    cards = [spec.card(p) for p in parents]
    k = len(node.states)
    body = node.cpt.body
    if isinstance(body, Table):
        out = np.empty((n, *cards, k))
        for p in ps:
            idx = tuple(spec.nodes[q].states.index(s) for q, s in p.when)
            v = values[p.name]
            if p.states:  # Beta row of a binary node: probability of one state
                j = node.states.index(p.states[0])
                out[(slice(None), *idx, j)] = v
                out[(slice(None), *idx, 1 - j)] = 1.0 - v
            else:
                out[(slice(None), *idx)] = v
        return out
    ones = (1,) * len(cards)
    outcome = node.states.index(str(body.outcome if body.outcome is not None else node.states[-1]))
    out = np.empty((n, *cards, 2))
    if isinstance(body, Logit):
        eta = special.logit(values[f"{name}.baseline"]).reshape(n, *ones)
        for p in ps:
            if p.role == "effect":
                axis = parents.index(str(p.parent))
                ind = _axis_indicator(cards, axis, [spec.nodes[p.parent].states.index(p.states[0])])
                eta = eta + values[p.name].reshape(n, *ones) * ind
        eta = np.broadcast_to(eta, (n, *cards))
        out[..., outcome] = special.expit(eta)
        out[..., 1 - outcome] = special.expit(-eta)
        return out
    assert isinstance(body, NoisyOr)
    q = (1.0 - values[f"{name}.leak"]).reshape(n, *ones)
    for p in ps:
        if p.role == "link":
            parent_states = spec.nodes[str(p.parent)].states
            ind = _axis_indicator(
                cards, parents.index(str(p.parent)), [parent_states.index(s) for s in p.states]
            )
            q = q * (1.0 - values[p.name].reshape(n, *ones) * ind)
    q = np.broadcast_to(q, (n, *cards))
    out[..., outcome] = 1.0 - q
    out[..., 1 - outcome] = q
    return out


def _logit_mean(
    spec: ModelSpec, name: str, ps: list[Parameter], qmc_log2: int, seed: int
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
        acc += _node_cpt(spec, name, ps, chunk, stop - start).sum(axis=0)
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
            problems.append(Problem(f"do({node}={state})", f"unknown node '{node}'"))
        elif state not in spec.states[node]:
            problems.append(Problem(f"do({node}={state})", f"'{node}' has no state '{state}'",
                                    f"states: {', '.join(spec.states[node])}"))
        else:
            table = np.zeros((*(spec.card(p) for p in spec.parents[node]), spec.card(node)))
            table[..., spec.states[node].index(state)] = 1.0
            out[node] = table
    if problems:
        raise EvidenceError("cannot intervene", problems)
    return out
