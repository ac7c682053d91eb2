"""Peer engines for the benchmarks: our Network → pyAgrum / pgmpy, and all-marginals helpers.

Every peer model is built from the *same* :class:`forecast.Network` (same floating-point CPT
entries), so the three engines answer exactly the same question and their marginals can be
compared to ~1e-15.

* :func:`load_network` — a bnlearn network bundled with pgmpy as a ``Network``: through
  ``forecast.bif.example_network`` when that module exists, otherwise parsed by pyAgrum (and by
  pgmpy's BIF reader for files pyAgrum's parser rejects, e.g. child's state ``Asy/Patch``).
* :func:`to_pyagrum` — a ``pyagrum.BayesNet`` built programmatically (never from a file).
* :func:`to_pgmpy` — a ``pgmpy`` ``DiscreteBayesianNetwork`` (``forecast.interop.to_pgmpy`` when
  that exists).
* :func:`pyagrum_marginals`, :func:`pgmpy_marginals` — every node's posterior as numpy arrays in
  the state order of the ``Network``.
"""

from __future__ import annotations

import gzip
import importlib
import importlib.resources
import os
import tempfile
from collections.abc import Mapping

import numpy as np

from forecast import Network

BNLEARN = ("alarm", "insurance", "child", "hailfinder", "hepar2", "win95pts", "water",
           "mildew", "barley", "pathfinder", "andes")
"""bnlearn networks bundled with pgmpy that the benchmark runs by default."""

# Rows of the bundled files are rounded (and pyAgrum parses them in float32: ~1e-7 off 1).
_ROW_SUM_ATOL = 1e-4


def _optional(module: str):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        return None


def example_path(name: str):
    """The bundled ``<name>.bif.gz`` of pgmpy."""
    return importlib.resources.files("pgmpy") / "utils" / "example_models" / f"{name}.bif.gz"


def loader_name() -> str:
    """How :func:`load_network` will read the files in this checkout."""
    bif = _optional("forecast.bif")
    if bif is not None and hasattr(bif, "example_network"):
        return "forecast.bif.example_network"
    return "pyAgrum loadBN (pgmpy BIFReader where pyAgrum's parser fails), rows renormalized"


def converter_name() -> str:
    """Which :func:`to_pgmpy` runs in this checkout."""
    interop = _optional("forecast.interop")
    if interop is not None and hasattr(interop, "to_pgmpy"):
        return "forecast.interop.to_pgmpy"
    return "peers.to_pgmpy"


def load_network(name: str) -> tuple[Network, str]:
    """Load a bnlearn network bundled with pgmpy; return it and how it was loaded.

    Every CPT row is divided by its sum. The files round their numbers (rows are up to ~3e-7
    off 1, and pyAgrum parses them in single precision); with rows not summing to 1 the
    "network" is ambiguous — pruning a barren node, as pgmpy does per query, then changes the
    answers by ~1e-8 — and the engines could not be compared at ~1e-15.
    """
    net, how = _load_raw(name)
    return net.with_cpts({n: t / t.sum(axis=-1, keepdims=True) for n, t in net.cpts.items()}), how


def _load_raw(name: str) -> tuple[Network, str]:
    bif = _optional("forecast.bif")
    fallback = ""
    if bif is not None and hasattr(bif, "example_network"):
        try:
            return bif.example_network(name), "forecast.bif"
        except Exception as err:  # the module is young: fall back, but say so
            fallback = f" (forecast.bif failed: {type(err).__name__}: {err})"
    text = gzip.decompress(example_path(name).read_bytes())
    fd, path = tempfile.mkstemp(suffix=".bif")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text)
        try:
            return _from_pyagrum_file(path, name), "pyAgrum loadBN" + fallback
        except Exception:  # pyAgrum's BIF grammar rejects some state names (child: Asy/Patch)
            return _from_pgmpy_file(path, name), "pgmpy BIFReader" + fallback
    finally:
        os.unlink(path)


def _from_pyagrum_file(path: str, name: str) -> Network:
    import pyagrum as gum

    bn = gum.loadBN(path)
    states, parents, cpts = {}, {}, {}
    for node_id in bn.topologicalOrder():
        var = bn.variable(node_id)
        node = var.name()
        states[node] = [var.label(i) for i in range(var.domainSize())]
        cpt = bn.cpt(node_id)
        names = list(cpt.names)  # (node, *parents); toarray() has these axes reversed
        assert names[0] == node
        parents[node] = list(reversed(names[1:]))
        cpts[node] = np.array(cpt.toarray(), dtype=float)
    return Network(states, parents, cpts, name=name, row_sum_atol=_ROW_SUM_ATOL)


def _from_pgmpy_file(path: str, name: str) -> Network:
    from pgmpy.readwrite import BIFReader

    model = BIFReader(path).get_model()
    states, parents, cpts = {}, {}, {}
    for cpd in model.get_cpds():
        node = cpd.variable
        states[node] = list(cpd.state_names[node])
        parents[node] = list(cpd.variables[1:])
        cpts[node] = np.moveaxis(np.asarray(cpd.get_values(), dtype=float).reshape(
            [cpd.cardinality[0], *cpd.cardinality[1:]]), 0, -1)
    return Network(states, parents, cpts, name=name, row_sum_atol=_ROW_SUM_ATOL)


# ---------------------------------------------------------------------------------- pyAgrum
def to_pyagrum(network: Network):
    """A ``pyagrum.BayesNet`` with the structure, state labels and CPTs of `network`.

    Each CPT is written with its axes permuted to pyAgrum's layout and then read back and
    compared, so a wrong axis order fails loudly instead of benchmarking a different network.
    """
    import pyagrum as gum

    bn = gum.BayesNet(network.name)
    for node in network.order:
        bn.add(gum.LabelizedVariable(node, node, list(network.states[node])))
    for node in network.order:
        for parent in network.parents[node]:
            bn.addArc(parent, node)
    for node in network.order:
        table = network.cpts[node]
        ours = network.family(node)  # axes of `table`: (*parents, node)
        theirs = list(reversed(list(bn.cpt(node).names)))  # axes of toarray()
        data = np.ascontiguousarray(table.transpose([ours.index(v) for v in theirs]),
                                    dtype=np.float64)
        bn.cpt(node).fillWith(data)
        back = np.asarray(bn.cpt(node).toarray()).transpose([theirs.index(v) for v in ours])
        if not np.array_equal(back, table):
            raise AssertionError(f"to_pyagrum: CPT of '{node}' did not round-trip")
    return bn


def pyagrum_evidence(network: Network, evidence: Mapping[str, str]) -> dict[str, int]:
    """Evidence ``{node: state name}`` as pyAgrum's ``{node: state index}``."""
    return {n: network.state_index(n, s) for n, s in evidence.items()}


def pyagrum_marginals(engine, network: Network, evidence: Mapping[str, int] | None = None,
                      *, reuse: str = "erase") -> dict[str, np.ndarray]:
    """All posterior marginals from a ``pyagrum.LazyPropagation`` as numpy arrays.

    Parameters
    ----------
    engine : pyagrum.LazyPropagation
        Built once per network (all nodes are targets by default).
    network : Network
        For node names and state order.
    evidence : mapping of str to int, optional
        Hard evidence as state indices (see :func:`pyagrum_evidence`); ``None`` keeps the
        evidence already set.
    reuse : {"erase", "change"}
        ``"erase"``: ``eraseAllEvidence()`` then ``setEvidence()`` (for hard evidence pyAgrum
        then rebuilds its junction tree, see aGrUM ``LazyPropagation::onAllEvidenceErased_``).
        ``"change"``: ``chgEvidence()`` on the existing findings — the junction tree is kept
        and only the messages are recomputed (the analogue of our cached plan).
    """
    if evidence is not None:
        if reuse == "change" and engine.nbrEvidence() == len(evidence):
            for node, value in evidence.items():
                engine.chgEvidence(node, value)
        else:
            engine.eraseAllEvidence()
            engine.setEvidence(dict(evidence))
    engine.makeInference()
    return {node: engine.posterior(node).toarray() for node in network.nodes}


# ------------------------------------------------------------------------------------ pgmpy
def to_pgmpy(network: Network):
    """A pgmpy ``DiscreteBayesianNetwork`` equal to `network` (state names kept)."""
    interop = _optional("forecast.interop")
    if interop is not None and hasattr(interop, "to_pgmpy"):
        return interop.to_pgmpy(network)
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.models import DiscreteBayesianNetwork

    model = DiscreteBayesianNetwork()
    model.add_nodes_from(network.order)
    model.add_edges_from((p, n) for n in network.order for p in network.parents[n])
    cpds = []
    for node in network.order:
        ps = list(network.parents[node])
        table = network.cpts[node]
        card = network.card(node)
        # pgmpy: values[state, parent configuration], first parent varying slowest
        values = table.reshape(-1, card).T
        cpds.append(TabularCPD(
            node, card, values, evidence=ps or None,
            evidence_card=[network.card(p) for p in ps] or None,
            state_names={v: list(network.states[v]) for v in (node, *ps)},
        ))
    model.add_cpds(*cpds)
    return model


def pgmpy_marginals(model, evidence: Mapping[str, str], network: Network,
                    progress=None) -> dict[str, np.ndarray]:
    """All posterior marginals with pgmpy's ``VariableElimination``, one query per node.

    ``query(variables=all, joint=False)`` is *not* used: pgmpy 1.1 contracts the joint table of
    all query variables and only then marginalizes it (a table of ~2^N entries), so each
    marginal is asked for separately — what a pgmpy user has to do.

    Parameters
    ----------
    model : pgmpy DiscreteBayesianNetwork
    evidence : mapping of str to str
        Hard evidence by state name.
    network : Network
        For node names and state order.
    progress : callable, optional
        Called with the number of marginals done after each one.
    """
    from pgmpy.inference import VariableElimination

    ve = VariableElimination(model)
    out = {}
    for node in network.nodes:
        if node in evidence:
            m = np.zeros(network.card(node))
            m[network.state_index(node, evidence[node])] = 1.0
        else:
            factor = ve.query([node], evidence=dict(evidence), show_progress=False)
            names = list(factor.state_names[node])
            m = np.asarray(factor.values, dtype=float)[[names.index(s)
                                                        for s in network.states[node]]]
        out[node] = m
        if progress is not None:
            progress(len(out))
    return out


def pgmpy_worker(conn, network: Network, evidence: Mapping[str, str], max_runs: int,
                 budget: float) -> None:
    """Time :func:`pgmpy_marginals` in a child process, reporting through `conn`.

    Messages: ``("ready",)`` once the model is built and one untimed warm-up query has run
    (imports, first-call costs); ``("progress", k)`` at most every 0.25 s during a run;
    ``("run", seconds, marginals or None)`` after each timed run (marginals with the first
    only); ``("error", text)``. Runs are repeated while their total stays under `budget`
    seconds, at most `max_runs` times; the parent kills the process on its timeout.
    """
    import time
    import traceback
    import warnings

    try:
        warnings.simplefilter("ignore")  # this child only: pgmpy 1.1 warns about deprecations
        from pgmpy.inference import VariableElimination

        model = to_pgmpy(network)
        free = [n for n in network.nodes if n not in evidence]
        if free:
            VariableElimination(model).query([free[0]], evidence=dict(evidence),
                                             show_progress=False)
        conn.send(("ready",))
        last = [time.monotonic()]

        def progress(k: int) -> None:
            if time.monotonic() - last[0] > 0.25:
                last[0] = time.monotonic()
                conn.send(("progress", k))

        total = 0.0
        for run in range(max_runs):
            t0 = time.perf_counter()
            marginals = pgmpy_marginals(model, evidence, network, progress)
            seconds = time.perf_counter() - t0
            conn.send(("run", seconds, marginals if run == 0 else None))
            total += seconds
            if total + seconds > budget:
                break
    except Exception:
        conn.send(("error", traceback.format_exc(limit=3)))
    finally:
        conn.close()
