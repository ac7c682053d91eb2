"""Benchmark the most probable joint scenario (MPE) against pgmpy and pyAgrum.

Run from the repository root::

    python benchmarks/bench_mpe.py                      # every network (~1.5 min on 2 cores)
    python benchmarks/bench_mpe.py --networks asia alarm --repeats 3

Networks: the bnlearn networks bundled with pgmpy, CPT rows renormalised
(``peers.load_network``); the pgmpy and pyAgrum models are built from that same Network, so the
three engines answer the same question with the same numbers.

Two evidence regimes, both from one forward sample (``np.random.default_rng(seed)``), so the
evidence always has positive probability:

* sparse — ``max(1, round(0.1 * nodes))`` random nodes observed, the MPE over all the others.
  pgmpy's ``VariableElimination.map_query(variables=all free nodes)`` contracts the *joint*
  table of the free nodes before its argmax (pgmpy 1.1; ``BeliefPropagation.map_query`` ends in
  the same call), which here has up to 10^90 entries: it is not run, and the table's size is
  shown instead.
* dense — every node observed except a random set whose joint table has at most
  ``--free-entries`` entries (2^14 by default), the regime where pgmpy's map_query runs.

Timing: CPU time (``time.process_time``) of one call, ``gc`` disabled during it; warm means
the engine was built before and used once (ours: ``ExactEngine(net).mpe(evidence)`` with the
plan cached; pyAgrum: ``LazyPropagation`` with the evidence entered, ``mpe()`` called again;
pgmpy: ``VariableElimination`` built once, ``map_query`` called again — it prunes and
eliminates per call, it has nothing to cache). The figure is the median of ``--repeats``
calls. Ratios are peer / ours (above 1: we are faster). "agree": ``=`` if the peer's scenario
is ours, ``tie`` if it differs but is as probable (relative 1e-9, as our ``ties`` flag said),
``DIFF`` otherwise; pyAgrum's ``mpeLog2Posterior`` also gives P(x* | e), compared at 1e-9.

pyAgrum 3.3.1's ``LazyPropagation.mpe`` raises ``FatalError: Empty tensor`` on most of these
networks (always without evidence; e.g. asia with a finding on bronc): such cells say "fails".
"""

from __future__ import annotations

import argparse
import gc
import math
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

import peers  # the sibling modules: the script's directory is first on sys.path
from forecast import Network
from forecast.network.exact import ExactEngine
from tables import Table, finish

NETWORKS = ("asia", "alarm", "insurance", "child", "hailfinder", "hepar2", "win95pts",
            "water", "mildew", "barley", "pathfinder", "andes")
"""asia, alarm and the larger bnlearn networks pgmpy bundles (munin's are left out: their
plans exceed the default memory limit for dense evidence patterns of its 1,041 nodes)."""


def cpu_time(call: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median CPU seconds of `repeats` calls (after one untimed call), and the last result."""
    out = call()
    times = []
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            started = time.process_time()
            out = call()
            times.append(time.process_time() - started)
        finally:
            gc.enable()
    return statistics.median(times), out


def forward_sample(net: Network, rng: np.random.Generator) -> dict[str, str]:
    return {n: net.states[n][int(v[0])] for n, v in net.sample(1, rng).items()}


def sparse_evidence(net: Network, rng: np.random.Generator) -> dict[str, str]:
    sample = forward_sample(net, rng)
    picked = rng.choice(len(net.nodes), size=max(1, round(0.1 * len(net.nodes))), replace=False)
    return {net.nodes[i]: sample[net.nodes[i]] for i in picked}


def dense_evidence(net: Network, rng: np.random.Generator, budget: int) -> dict[str, str]:
    sample = forward_sample(net, rng)
    free, size = set(), 1
    for i in rng.permutation(len(net.nodes)):
        node = net.nodes[i]
        if size * net.card(node) <= budget:
            free.add(node)
            size *= net.card(node)
    return {n: s for n, s in sample.items() if n not in free}


def ms(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    value = seconds * 1e3
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def ratio(peer: float | None, ours: float) -> str:
    return "—" if peer is None else f"{peer / ours:.1f}"


def agreement(engine: ExactEngine, evidence: dict[str, str], best, theirs: dict[str, str],
              probability: float | None = None) -> str:
    if probability is not None and not math.isclose(probability, best.conditional,
                                                    rel_tol=1e-9):
        return "DIFF"
    if theirs == best.assignment:
        return "="
    p = engine.scenario_probability(theirs, evidence)
    return "tie" if best.ties and math.isclose(p, best.conditional, rel_tol=1e-9) else "DIFF"


def run_pyagrum(net: Network, evidence: dict[str, str], repeats: int):
    import pyagrum as gum

    ie = gum.LazyPropagation(peers.to_pyagrum(net))
    for n, s in evidence.items():
        ie.addEvidence(n, net.state_index(n, s))
    try:
        seconds, (inst, log2) = cpu_time(ie.mpeLog2Posterior, repeats)
    except gum.FatalError as err:
        return None, None, None, str(err).split("Fatal error: ")[-1]
    theirs = {n: net.states[n][inst[n]] for n in net.nodes if n not in evidence}
    return seconds, theirs, 2.0 ** log2, None


def run_pgmpy(net: Network, evidence: dict[str, str], repeats: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from pgmpy.inference import VariableElimination

    ve = VariableElimination(peers.to_pgmpy(net))
    free = [n for n in net.nodes if n not in evidence]
    seconds, found = cpu_time(lambda: ve.map_query(variables=free, evidence=evidence,
                                                   show_progress=False), repeats)
    return seconds, {n: str(found[n]) for n in free}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS))
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per cell (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--free-entries", type=int, default=2**14,
                        help="largest joint table of the free nodes in the dense regime")
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    import pgmpy
    import pyagrum

    env = [f"python {platform.python_version()} on {platform.platform()}",
           f"numpy {np.__version__}, pgmpy {pgmpy.__version__}, pyagrum {pyagrum.__version__}",
           f"CPU time (time.process_time), warm, median of {args.repeats} calls"]
    for line in env:
        print(line)
    headers = ["network", "nodes", "ev", "free joint", "ours cold", "ours", "pgmpy",
               "pgmpy/ours", "pyAgrum", "pyA/ours", "agree pgmpy", "agree pyA", "ties"]
    tables = []
    flags: list[str] = []
    for regime in ("sparse", "dense"):
        table = Table(f"MPE, {regime} evidence (times in ms)", headers)
        for name in args.networks:
            net = peers.load_network(name)
            rng = np.random.default_rng(args.seed + sum(map(ord, name)))
            evidence = (sparse_evidence(net, rng) if regime == "sparse"
                        else dense_evidence(net, rng, args.free_entries))
            free = [n for n in net.nodes if n not in evidence]
            joint = sum(math.log10(net.card(n)) for n in free)
            started = time.process_time()
            engine = ExactEngine(net)
            engine.mpe(evidence)
            cold = time.process_time() - started
            ours, best = cpu_time(lambda e=engine, ev=evidence: e.mpe(ev), args.repeats)
            pg, agree_pg = None, "—"
            if joint <= math.log10(args.free_entries) + 1e-9:
                pg, theirs = run_pgmpy(net, evidence, max(1, min(args.repeats, 3)))
                agree_pg = agreement(engine, evidence, best, theirs)
            pa, theirs, p_pa, failure = run_pyagrum(net, evidence, args.repeats)
            agree_pa = "fails" if failure else agreement(engine, evidence, best, theirs, p_pa)
            if "DIFF" in (agree_pg, agree_pa):
                flags.append(f"{name} ({regime}): a peer disagrees")
            table.rows.append([
                name, str(len(net.nodes)), str(len(evidence)),
                f"10^{joint:.1f}" if joint >= 5 else f"{10 ** joint:,.0f}",
                ms(cold), ms(ours), ms(pg) if pg is not None else "—", ratio(pg, ours),
                ms(pa) if pa is not None else "fails", ratio(pa, ours), agree_pg, agree_pa,
                "yes" if best.ties else "no"])
            print(table.rows[-1], flush=True)
        table.notes.append("pgmpy: map_query over every free node (not run where their joint "
                           "table exceeds --free-entries); pyAgrum: LazyPropagation."
                           "mpeLog2Posterior ('fails': FatalError 'Empty tensor', pyAgrum 3.3.1)")
        tables.append(table)
        print()
        print(table.text())
        print()
    return finish("MPE benchmark", "bench_mpe.py", env, tables, flags, args.markdown)


if __name__ == "__main__":
    raise SystemExit(main())
