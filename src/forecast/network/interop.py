"""Convert networks to and from pgmpy's ``DiscreteBayesianNetwork``, and to pyAgrum.

pgmpy and pyAgrum are optional dependencies (``pip install "forecast[peers]"``): they are
imported inside the functions, never when this module is imported, and their absence is
reported as a :class:`~forecast.errors.ForecastError` naming the install command.

Layouts
-------
A pgmpy ``TabularCPD`` for ``node`` with ``evidence = [p1, ..., pk]`` stores ``values`` with
shape ``(card, card_p1, ..., card_pk)`` (``get_values()`` flattens the evidence axes to
``(card, prod)``, last evidence fastest). Our CPTs are ``(card_p1, ..., card_pk, card)``: the
same axes with the node's own moved last, so the conversion is one ``np.moveaxis`` each way,
with the parents taken in the CPD's evidence order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from forecast.errors import ForecastError, Problem, SpecError
from forecast.network.network import Network

if TYPE_CHECKING:
    import pyagrum
    from pgmpy.models import DiscreteBayesianNetwork

__all__ = ["from_pgmpy", "to_pgmpy", "to_pyagrum"]

PEERS_HINT = 'install the optional peers: pip install "forecast[peers]"'


def _require_pgmpy() -> None:
    try:
        import pgmpy  # noqa: F401
    except ImportError as exc:
        raise ForecastError(
            "converting to or from pgmpy needs pgmpy, which is not installed",
            [Problem(PEERS_HINT)],
        ) from exc


def to_pgmpy(network: Network) -> DiscreteBayesianNetwork:
    """Convert a network to a pgmpy ``DiscreteBayesianNetwork`` with ``TabularCPD`` s.

    Parameters
    ----------
    network : Network
        The network to convert.

    Returns
    -------
    pgmpy.models.DiscreteBayesianNetwork
        Same nodes, edges, state names and probabilities; each CPD's evidence is the node's
        parents in order. The model's ``name`` is the network's name.

    Raises
    ------
    ForecastError
        If pgmpy is not installed.
    """
    _require_pgmpy()
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.models import DiscreteBayesianNetwork

    model = DiscreteBayesianNetwork()
    model.add_nodes_from(network.nodes)
    model.add_edges_from((p, n) for n in network.nodes for p in network.parents[n])
    model.name = network.name
    cpds = []
    for node in network.nodes:
        parents = list(network.parents[node])
        values = np.moveaxis(network.cpts[node], -1, 0).reshape(network.card(node), -1)
        cpds.append(
            TabularCPD(
                node,
                network.card(node),
                values,
                evidence=parents or None,
                evidence_card=[network.card(p) for p in parents] or None,
                state_names={v: list(network.states[v]) for v in network.family(node)},
            )
        )
    model.add_cpds(*cpds)
    return model


def from_pgmpy(model: DiscreteBayesianNetwork, *, name: str | None = None) -> Network:
    """Convert a pgmpy ``DiscreteBayesianNetwork`` to a :class:`~forecast.network.network.Network`.

    Parameters
    ----------
    model : pgmpy.models.DiscreteBayesianNetwork
        A model with a ``TabularCPD`` for every node.
    name : str, optional
        Name of the network; default the model's ``name``, else ``"pgmpy"``.

    Returns
    -------
    Network
        Nodes in the model's order; each node's parents in its CPD's evidence order; states in
        the order of the node's own CPD (a child's CPD that lists a parent's states in another
        order is permuted to match).

    Raises
    ------
    SpecError
        Listing every node without a CPD, and every CPD whose states disagree with those of the
        parent's own CPD; then any problem :class:`~forecast.network.network.Network` finds.
    ForecastError
        If pgmpy is not installed.
    """
    _require_pgmpy()
    label = name or getattr(model, "name", None) or "pgmpy"
    cpds = {node: model.get_cpds(node) for node in model.nodes()}
    problems = [Problem("has no CPD", file=label, field=f"node '{n}'")
                for n, c in cpds.items() if c is None]
    if problems:
        raise SpecError(f"pgmpy model '{label}' cannot be converted", problems)
    states = {n: [str(s) for s in cpd.state_names[n]] for n, cpd in cpds.items()}
    parents: dict[str, tuple[str, ...]] = {}
    cpts: dict[str, np.ndarray] = {}
    for node, cpd in cpds.items():
        variables = list(cpd.variables)
        table = np.moveaxis(np.asarray(cpd.values, dtype=float), 0, -1)
        for axis, parent in enumerate(variables[1:]):
            listed = [str(s) for s in cpd.state_names[parent]]
            if listed == states.get(parent, listed):
                continue
            if sorted(listed) != sorted(states[parent]):
                problems.append(
                    Problem(
                        f"lists states {listed} for '{parent}', whose own CPD has {states[parent]}",
                        file=label,
                        field=f"CPD of '{node}'",
                    )
                )
                continue
            table = np.take(table, [listed.index(s) for s in states[parent]], axis=axis)
        parents[node], cpts[node] = tuple(variables[1:]), table
    if problems:
        raise SpecError(f"pgmpy model '{label}' cannot be converted", problems)
    return Network({n: tuple(s) for n, s in states.items()}, parents, cpts, name=label)


def to_pyagrum(network: Network) -> pyagrum.BayesNet:
    """Convert a network to a ``pyagrum.BayesNet`` with the same states and CPTs.

    Built through pyAgrum's API rather than a BIF file: its BIF reader stores probabilities in
    single precision and rejects state names such as ``Asy/Patch`` that bnlearn's files use.
    Each CPT is filled in pyAgrum's axis order (``toarray()`` axes are the tensor's variable
    names reversed) and read back; a mismatch raises instead of giving a different network.

    Parameters
    ----------
    network : Network

    Returns
    -------
    pyagrum.BayesNet
    """
    try:
        import pyagrum as gum
    except ImportError as exc:
        raise ForecastError("converting to pyAgrum needs pyagrum, which is not installed",
                            [Problem(PEERS_HINT)]) from exc
    bn = gum.BayesNet(network.name)
    for node in network.order:
        bn.add(gum.LabelizedVariable(node, node, list(network.states[node])))
    for node in network.order:
        for parent in network.parents[node]:
            bn.addArc(parent, node)
    for node in network.order:
        table = network.cpts[node]
        ours = network.family(node)
        theirs = list(reversed(list(bn.cpt(node).names)))
        bn.cpt(node).fillWith(
            np.ascontiguousarray(table.transpose([ours.index(v) for v in theirs]), dtype=float)
        )
        back = np.asarray(bn.cpt(node).toarray()).transpose([theirs.index(v) for v in ours])
        if not np.array_equal(back, table):  # pragma: no cover - a pyAgrum layout change
            raise ForecastError(f"to_pyagrum: the CPT of '{node}' did not round-trip")
    return bn
