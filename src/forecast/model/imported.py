"""A network from elsewhere as a model with uncertain CPTs: every row a Dirichlet.

A network file holds point probabilities; the model language holds uncertain ones. This turns
any :class:`~forecast.network.network.Network` (read from BIF, XMLBIF, XDSL, NET or UAI by
:func:`~forecast.network.formats.read_network`) into a :class:`~forecast.model.builder.
ModelBuilder` in which each node is a ``table`` whose every row is a Dirichlet with ``counts``
= ``ess`` × the row's probabilities: the network's values held with the certainty of ``ess``
observations of each parent configuration. Its prior means are the network (up to the floor
below), so ``forecast query`` gives the network's answers, and ``--posterior``, ``update`` and
the briefs give them intervals, learned from a ledger like any model's.

**Zeros.** A Dirichlet's counts must be positive, so every count is raised to at least
``floor × ess / states`` (:func:`~forecast.network._formats.dirichlet_counts`, ``floor`` =
1e-3): a zero becomes a probability of about ``1e-3 / states``, which evidence can raise, and
a deterministic relation (asia's ``either``) becomes a near-deterministic one. Rows with no
entry below that keep their means exactly (to the 12 significant digits the counts are
written with).

**Names.** The model language names nodes and states with letters, digits and underscores,
starting with a letter; other tools are freer (bnlearn's child has states ``<5``, ``>=7.5``,
``Asy/Patchy``; UAI's states are numbers). Each name is mapped deterministically by
:func:`safe_name` (``<5`` → ``lt_5``, ``12+`` → ``s12_plus``) and the original is kept: as the
node's ``label``, and as each state's definition. Two names that map to the same one are
refused, naming both.

**Time.** A network has no time, so the model's conditions have no memory
(``time.persistence: none``): each time step of a ledger is an independent case of the
network, which shares its parameters with every other, so an ``update`` learns the CPTs from
the record as counting would.
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections.abc import Mapping

import numpy as np

from forecast.errors import Problem, SpecError
from forecast.model.builder import ModelBuilder
from forecast.model.load import MAX_YAML_NODES
from forecast.model.schema import MAX_PSEUDO_COUNT
from forecast.network._formats import COUNT_FLOOR, check_counts, dirichlet_counts
from forecast.network.network import Network

__all__ = ["model_names", "network_to_model", "safe_name"]

_SYMBOLS = {"<": "lt", ">": "gt", "=": "eq", "+": "plus", "%": "pct", "&": "and", "@": "at"}
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def safe_name(name: str, prefix: str) -> str:
    """`name` as a model-language name: letters, digits and ``_``, starting with a letter.

    Accents are dropped (``é`` → ``e``), ``< > = + % & @`` spelt out (``lt``, ``gt``, ``eq``,
    ``plus``, ``pct``, ``and``, ``at``), every other character becomes ``_`` (runs of them
    one, none at either end), and a name that does not then start with a letter gets
    `prefix` in front. A valid name is kept as it is.

    Examples
    --------
    >>> [safe_name(s, "s") for s in ["LOW", "<5", ">=7.5", "12+", "Asy/Patchy", "0"]]
    ['LOW', 'lt_5', 'gt_eq_7_5', 's12_plus', 'Asy_Patchy', 's0']
    """
    if _IDENT.fullmatch(name):
        return name
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    out = []
    for ch in ascii_text:
        if ch.isalnum() or ch == "_":
            out.append(ch)
        else:
            out.append(f"_{_SYMBOLS[ch]}_" if ch in _SYMBOLS else "_")
    text = re.sub("_+", "_", "".join(out)).strip("_")
    return text if text[:1].isalpha() else prefix + text


def model_names(network: Network) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The model's name of every node and of every node's states.

    Returns
    -------
    nodes, states
        ``{original node: model name}`` and ``{original node: {original state: model
        name}}``.

    Raises
    ------
    SpecError
        Listing every pair of nodes, and of states of one node, that map to the same name.
    """
    problems: list[Problem] = []
    nodes = {n: safe_name(n, "n") for n in network.nodes}
    _collisions(nodes, "nodes", network.name, None, problems)
    states: dict[str, dict[str, str]] = {}
    for node in network.nodes:
        states[node] = {s: safe_name(s, "s") for s in network.states[node]}
        _collisions(states[node], "states", network.name, f"node '{node}'", problems)
    if problems:
        raise SpecError(f"network '{network.name}' has names that collide in the model "
                        "language", problems)
    return nodes, states


def _collisions(mapping: Mapping[str, str], what: str, file: str, field: str | None,
                problems: list[Problem]) -> None:
    seen: dict[str, str] = {}
    for original, mapped in mapping.items():
        if mapped in seen:
            problems.append(Problem(
                f"{what} '{seen[mapped]}' and '{original}' both become '{mapped}'",
                hint="rename one of them in the network file", file=file, field=field))
        else:
            seen[mapped] = original


def _count(value: float) -> float:
    return float(f"{value:.12g}")


def _check_size(network: Network) -> None:
    """Refuse, before writing it, a model that cannot be a model file.

    Each row is at least ``5 + 2 × (parents + states)`` YAML values (its mapping, ``when`` and
    ``counts`` with their keys), against :data:`~forecast.model.load.MAX_YAML_NODES` for the
    whole file.
    """
    rows = values = 0
    for node in network.nodes:
        n_rows = math.prod(network.card(p) for p in network.parents[node])
        rows += n_rows
        values += n_rows * (5 + 2 * (len(network.parents[node]) + network.card(node)))
    if values > MAX_YAML_NODES:
        raise SpecError(f"network '{network.name}' is too large for a model file", [Problem(
            f"its {rows:,} CPT rows need at least {values:,} YAML values; a model file holds "
            f"at most {MAX_YAML_NODES:,}", file=network.name,
            hint="query the network itself (exact, without intervals), or convert a smaller "
                 "one")])


def _assumption(origin: str, ess: float | None, floor: float, card: int) -> str:
    """The table's ``assumption:``: where its rows come from and how certain they are."""
    if ess is None:
        return f"Imported from {origin}, with the pseudo-counts given with the network."
    return (f"Imported from {origin}: each row's pseudo-counts are {ess:g} × its "
            f"probabilities (the network's values held with the certainty of {ess:g} "
            f"observations), each at least {_count(floor * ess / card):g}.")


def network_to_model(
    network: Network,
    *,
    ess: float | None = None,
    counts: Mapping[str, object] | None = None,
    name: str | None = None,
    title: str | None = None,
    source: str | None = None,
    floor: float = COUNT_FLOOR,
) -> ModelBuilder:
    """A model in which every row of `network` is a Dirichlet centred on it.

    Parameters
    ----------
    network : Network
        The network (e.g. from :func:`~forecast.network.formats.read_network`).
    ess : float, optional
        The equivalent sample size of every row: its counts are ``ess`` × its probabilities
        (each at least ``floor × ess / states``; see the module notes). A finite number > 0
        and at most the model language's largest pseudo-count (1e6). Give this or `counts`.
    counts : mapping of str to array_like, optional
        The pseudo-counts themselves, per node in its CPT's shape (all nodes), e.g. learned
        elsewhere; each must be > 0.
    name : str, optional
        ``model.name``; default the network's name in lower case, letters, digits and ``_``.
    title : str, optional
        ``model.title``; default ``"<network name> (imported network)"``.
    source : str, optional
        Where the network came from (a file name), quoted in the header and assumptions.
    floor : float, optional
        The smallest count as a share of ``ess / states`` (with `ess`).

    Returns
    -------
    ModelBuilder
        ``.build()`` gives the validated :class:`~forecast.model.schema.ModelSpec`,
        ``.write(path)`` its YAML. Nodes keep the network's order.

    Raises
    ------
    SpecError
        If neither or both of `ess` and `counts` are given, `ess` is out of range, the counts
        do not fit the network, the network is too large for a model file (its rows need
        more YAML values than a model file may hold), or names collide in the model language.

    Examples
    --------
    >>> net = Network({"rain": ["no", "yes"]}, {}, {"rain": [0.8, 0.2]}, name="rain")
    >>> spec = network_to_model(net, ess=10).build()
    >>> spec.nodes["rain"].cpt.table.rows[0].counts
    {'no': 8.0, 'yes': 2.0}
    """
    if (ess is None) == (counts is None):
        raise SpecError("give the certainty of the network's rows", [Problem(
            "give exactly one of ess (an equivalent sample size) and counts",
            field="ess", hint="e.g. network_to_model(net, ess=100)")])
    if ess is not None:
        if not (math.isfinite(ess) and 0 < ess <= MAX_PSEUDO_COUNT):
            raise SpecError(f"ess must be a number > 0 and at most {MAX_PSEUDO_COUNT:,.0f}",
                            [Problem(f"got {ess!r}", field="ess",
                                     hint="e.g. ess=100: the network's rows held with the "
                                          "certainty of 100 observations each")])
        tables = dirichlet_counts(network, ess, floor=floor)
        how = (f"{ess:g} × the network's probabilities: its values held with the certainty "
               f"of {ess:g} observations of each parent configuration (counts below "
               f"{floor:g} × {ess:g} / the number of states raised to that)")
    else:
        assert counts is not None
        tables = check_counts(network, counts)
        missing = [n for n in network.nodes if n not in tables]
        if missing:
            raise SpecError("counts are needed for every node", [Problem(
                "has no counts", field=f"counts['{n}']", file=network.name)
                for n in missing])
        how = "the counts given with the network"
    _check_size(network)
    node_names, state_names = model_names(network)
    origin = source or f"network '{network.name}'"
    model_name = (re.sub(r"[^a-z0-9_]+", "_", (name or network.name).lower()).strip("_")
                  or "imported")
    builder = ModelBuilder(
        model_name,
        title or f"{network.name} (imported network)",
        description=(f"Imported from {origin}: every CPT row is a Dirichlet whose "
                     f"pseudo-counts are {how}."),
        **({"source": {"title": source}} if source else {}),
        time={"persistence": {"prior": "none", "assumption": (
            "An imported network has no time: each time step is an independent case of "
            "the network, sharing its parameters with the others.")}},
    )
    for node in network.nodes:
        own = state_names[node]
        parents = network.parents[node]
        configs = itertools.product(*(network.states[p] for p in parents))
        rows_counts = np.asarray(tables[node]).reshape(-1, network.card(node))
        rows = []
        for config, row in zip(configs, rows_counts.tolist(), strict=True):
            entry: dict[str, object] = {}
            if parents:
                entry["when"] = {node_names[p]: state_names[p][s]
                                 for p, s in zip(parents, config, strict=True)}
            entry["counts"] = {own[s]: _count(c)
                               for s, c in zip(network.states[node], row, strict=True)}
            rows.append(entry)
        builder.node(
            node_names[node],
            label=node,
            states=list(own.values()),
            parents=[node_names[p] for p in parents],
            kind="condition",
            definitions={mapped: f"the network's state '{s}'" for s, mapped in own.items()},
            cpt={"table": {"assumption": _assumption(origin, ess, floor, network.card(node)),
                           "rows": rows}},
        )
    return builder
