"""Peer engines for the benchmarks: all-marginals helpers for pyAgrum and pgmpy.

Every peer model is built from the *same* :class:`forecast.Network` (same floating-point CPT
entries, through :func:`forecast.network.interop.to_pyagrum` and
:func:`forecast.network.interop.to_pgmpy`), so the three engines answer exactly the same question
and their marginals agree to ~1e-15.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from forecast import Network
from forecast.network.bif import example_network
from forecast.network.interop import to_pgmpy, to_pyagrum

__all__ = ["BNLEARN", "load_network", "pgmpy_marginals", "pgmpy_worker", "pyagrum_evidence",
           "pyagrum_marginals", "to_pgmpy", "to_pyagrum"]

BNLEARN = ("alarm", "insurance", "child", "hailfinder", "hepar2", "win95pts", "water",
           "mildew", "barley", "pathfinder", "andes")
"""bnlearn networks bundled with pgmpy that the benchmark runs by default."""


def load_network(name: str) -> Network:
    """A bnlearn network bundled with pgmpy, every CPT row divided by its sum.

    The files round their numbers (rows are up to ~3e-7 off 1); with rows not summing to 1 the
    "network" is ambiguous — pruning a barren node, as pgmpy does per query, then changes the
    answers by ~1e-8 — and the engines could not be compared at ~1e-15.
    """
    net = example_network(name)
    return net.with_cpts({n: t / t.sum(axis=-1, keepdims=True) for n, t in net.cpts.items()})


# ---------------------------------------------------------------------------------- pyAgrum
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
