"""The named parameters of a model: every uncertain or fixed quantity of its CPTs.

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
a Dirichlet or fixed row is the whole distribution, in the node's state order (``counts``, or
words over three or more states, or an ordering: :func:`forecast.model.priors.row_prior`).
:mod:`forecast.model.cpts` turns values of these parameters into CPT arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from forecast.model import priors
from forecast.model.schema import Logit, ModelSpec, Table

__all__ = ["Parameter", "parameter_table", "parameters", "sample_parameters"]

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
                prior: priors.Prior
                states: tuple[str, ...]
                if row.prior is not None:  # a Beta of one state, or a Dirichlet over them all
                    prior, states = priors.row_prior(row.prior, node.states, name)
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


def sample_parameters(
    spec: ModelSpec, n: int, seed: int | np.random.Generator
) -> dict[str, np.ndarray]:
    """Draw `n` values of every parameter from its prior (fixed ones repeated).

    Parameters
    ----------
    spec : ModelSpec
        The model.
    n : int
        Number of draws.
    seed : int or numpy.random.Generator
        Seed of ``numpy.random.default_rng``, or a generator to draw from (and advance).

    Returns
    -------
    dict of str to ndarray
        Parameter name → array of shape ``(n,)``, or ``(n, k)`` for a whole row.
    """
    rng = np.random.default_rng(seed)
    return {p.name: p.prior.sample(rng, n) for p in parameters(spec)}
