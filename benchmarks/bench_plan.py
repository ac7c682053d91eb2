"""The exact engine's batched path: draws last on one plan per structure, against draws first.

Run from the repository root::

    python benchmarks/bench_plan.py [--draws 100 1000 10000] [--markdown FILE]

Two networks, each with a batch of parameter draws of every CPT:

* the flagship (``models/isis_pakistan_2015.yaml`` with its previous-window twins: 32 nodes),
  prior draws of its parameters, the findings of its ledger as of 2017-08-24 (11 hard, 10 soft);
* a 30-node random binary network (``bench_exact.random_binary_network(30, seed + 30)`` and
  its CPT generator, the network of ``bench_exact.py`` part 2), findings on its last two nodes.

Table 1 — ``engine.query(findings, soft, cpts)``: every marginal of every draw, warm (plan
cached), median and best of repeats (CPU time of this process, so that other processes on a
shared machine count less). The target is 10,000 draws in at most 0.05 s on both networks
(0.168 s before, for the 30-node network: ``benchmarks/RESULTS.md``).

Table 2 — the layout alone: one forward and one backward pass over the *same* compiled steps,
as the engine ran them before (draws first: each step transposed and reshaped into a stack of
B small matrices for ``numpy.matmul``) and as it runs them now (draws last: each step one
``numpy.einsum`` whose innermost loop runs over the contiguous draws), with max |Δ| of the
totals and derivatives.

Table 3 — plan compilations: random evidence patterns (each node hard, soft or unobserved at
random, as an attribution's coalitions or VOI's candidates vary them) on the flagship; one plan
per pattern before, per structure now (``log_evidence``: per ancestral set, measured against
one plan over the whole network).
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

# bench_exact and tables are sibling modules: the script's folder is first on sys.path
from bench_exact import forward_sample, random_binary_network, random_cpts
from forecast import Network
from forecast.network.exact import ExactEngine
from forecast.network.plan import Plan, Scratch, _Operand, _Step
from tables import Table, finish

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "isis_pakistan_2015.yaml"
LEDGER = ROOT / "data" / "isis_pakistan_ledger.csv"
AS_OF = "2017-08-24"
TARGET_SECONDS, TARGET_DRAWS = 0.05, 10_000
SEED = 20240601


def cpu_times(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median and best CPU seconds of `fn` (called once beforehand), gc off while timing."""
    fn()
    times = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            start = time.process_time()
            fn()
            times.append(time.process_time() - start)
    finally:
        gc.enable()
    return statistics.median(times), min(times)


# ------------------------------------------------------------------------------ the networks
def flagship(draws: int) -> tuple[ExactEngine, dict, dict, dict]:
    """The flagship's engine (twins included), prior draws of its CPTs and its findings."""
    from forecast.analysis.draws import engine_and_cpts
    from forecast.evidence.ledger import case_from_rows, load_ledger, rows_as_of
    from forecast.model.load import load_spec
    from forecast.model.parameters import sample_parameters

    spec = load_spec(MODEL)
    case = case_from_rows(rows_as_of(load_ledger(LEDGER, spec), spec, AS_OF), spec)
    engine, cpts = engine_and_cpts(spec, [case], sample_parameters(spec, draws, 0))
    soft = {k: np.asarray(v, dtype=float) for k, v in case.soft.items()}
    return engine, cpts, dict(case.evidence), soft


def random30(draws: int) -> tuple[ExactEngine, dict, dict, dict]:
    nodes, parents = random_binary_network(30, SEED + 30)
    rng = np.random.default_rng(SEED)
    base = {v: c[0] for v, c in random_cpts(nodes, parents, 1, rng).items()}
    net = Network({v: ["no", "yes"] for v in nodes}, parents, base, name="random30")
    x = forward_sample(net, rng)
    evidence = {v: net.states[v][x[v]] for v in nodes[-2:]}
    return ExactEngine(net), random_cpts(nodes, parents, draws, rng), evidence, {}


NETWORKS = {"flagship": flagship, "random 30": random30}


# ---------------------------------------------------- the same steps with the draws first
def _first_matrix(x: np.ndarray, op: _Operand) -> np.ndarray:
    """An operand with its draws first, pre-summed, as a stack of (g, rows, cols) matrices."""
    if op.sum_axes:
        x = x.sum(axis=tuple(1 + ax for ax in op.sum_axes))
    x = x.transpose((0, *(1 + p for p in op.perm)))
    ng, n1, _ = op.groups
    s = x.shape[1:]
    return x.reshape(x.shape[0], math.prod(s[:ng]), math.prod(s[ng:ng + n1]),
                     math.prod(s[ng + n1:]))


def _first_back(d: np.ndarray, op: _Operand, shape: tuple[int, ...]) -> np.ndarray:
    kept = [s for ax, s in enumerate(shape[1:]) if ax not in op.sum_axes]
    d = d.reshape((d.shape[0], *(kept[p] for p in op.perm)))
    d = d.transpose((0, *(1 + p for p in op.inverse)))
    if op.sum_axes:
        d = np.broadcast_to(np.expand_dims(d, tuple(1 + ax for ax in op.sum_axes)),
                            (d.shape[0], *shape[1:]))
    return d


def first_passes(plan: Plan, factors: Sequence[np.ndarray]) -> tuple[np.ndarray, list]:
    """Forward and backward with the draws first and ``numpy.matmul`` (the previous layout)."""
    tensors = dict(enumerate(factors))
    tape: list[tuple[_Step, np.ndarray, np.ndarray | None, tuple, tuple | None]] = []
    for st in plan.steps:
        a = tensors.pop(st.left)
        if st.b is None:
            c = a.sum(axis=tuple(1 + ax for ax in st.a.sum_axes)) if st.a.sum_axes else a
            tape.append((st, a, None, a.shape, None))
        else:
            b = tensors.pop(st.right)  # type: ignore[arg-type]
            a2, b2 = _first_matrix(a, st.a), _first_matrix(b, st.b)
            c = np.matmul(a2, b2)
            ng, ni, _ = st.a.groups
            pa = [s for ax, s in enumerate(a.shape[1:]) if ax not in st.a.sum_axes]
            pb = [s for ax, s in enumerate(b.shape[1:]) if ax not in st.b.sum_axes]
            pa = [pa[p] for p in st.a.perm]
            pb = [pb[p] for p in st.b.perm]
            c = c.reshape((c.shape[0], *pa[:ng + ni], *pb[ng + st.b.groups[1]:]))
            tape.append((st, a2, b2, a.shape, b.shape))
        tensors[st.out] = c
    total = tensors[plan.steps[-1].out].reshape(-1)
    grads: dict[int, np.ndarray] = {plan.steps[-1].out: np.ones_like(total)}
    for st, a2, b2, sa, sb in reversed(tape):
        dc = grads.pop(st.out)
        if b2 is None:
            shape = (dc.shape[0], *sa[1:])
            grads[st.left] = (np.broadcast_to(np.expand_dims(
                dc, tuple(1 + ax for ax in st.a.sum_axes)), shape) if st.a.sum_axes else dc)
            continue
        assert st.b is not None and sb is not None
        dc2 = dc.reshape((dc.shape[0], a2.shape[1], a2.shape[2], b2.shape[3]))
        grads[st.left] = _first_back(np.matmul(dc2, np.swapaxes(b2, -1, -2)), st.a, sa)
        grads[st.right] = _first_back(np.matmul(np.swapaxes(a2, -1, -2), dc2), st.b, sb)
    return total, [grads[n] for n in range(plan.n_inputs)]


def last_passes(plan: Plan, factors: Sequence[np.ndarray],
                scratch: Scratch) -> tuple[np.ndarray, list]:
    """Forward and backward with the draws last (the plan's layout, in reused memory)."""
    scratch.reset()
    total, _, tape = plan.forward_last(factors, rescale=False, scratch=scratch)
    return total, plan.backward_last(tape, np.ones_like(total), scratch=scratch)


# ------------------------------------------------------------------------------------ tables
def table_queries(args: argparse.Namespace, flags: list[str]) -> Table:
    table = Table("Every marginal of every draw, warm (engine.query; CPU ms per call)",
                  ["network", "draws", "median ms", "best ms", "µs per draw", "target"])
    for name, build in NETWORKS.items():
        for draws in args.draws:
            engine, cpts, hard, soft = build(draws)
            median, best = cpu_times(lambda e=engine, c=cpts, h=hard, s=soft:
                                     e.query(h, s, c), args.repeats)
            target = ""
            if draws == TARGET_DRAWS:
                ok = median <= TARGET_SECONDS
                target = f"≤ {TARGET_SECONDS * 1e3:.0f} ms: {'MET' if ok else 'NOT MET'}"
                if not ok:
                    flags.append(f"{name}: {TARGET_DRAWS:,} draws in {median * 1e3:.1f} ms")
            table.rows.append([name, f"{draws:,}", f"{median * 1e3:.2f}", f"{best * 1e3:.2f}",
                               f"{median / draws * 1e6:.2f}", target])
            print("  " + "  ".join(table.rows[-1]), flush=True)
    table.notes.append("findings: the flagship's ledger as of 2017-08-24 (11 hard, 10 soft); "
                       "the random network's last two nodes (hard); CPTs given draws first, "
                       "as callers build them (copied to the draws-last layout per query)")
    return table


def table_layout(args: argparse.Namespace) -> Table:
    table = Table("The same plan steps: draws first (matmul) against draws last (einsum); "
                  "one forward and one backward pass, CPU ms",
                  ["network", "draws", "steps", "draws first", "draws last", "speed-up",
                   "max|Δ| total", "max|Δ| derivatives"])
    for name, build in NETWORKS.items():
        for draws in args.draws:
            engine, cpts, hard, soft = build(draws)
            plan, factors, _ = engine._factors(engine.network.order, *engine._inputs(
                hard, soft, cpts)[:4])
            last = [np.ascontiguousarray(f) for f in factors]
            first = [np.ascontiguousarray(np.moveaxis(f, -1, 0)) if plan.input_batched[k]
                     else f[None] for k, f in enumerate(factors)]
            scratch = Scratch()
            t_first = cpu_times(lambda p=plan, f=first: first_passes(p, f), args.repeats)[0]
            t_last = cpu_times(lambda p=plan, f=last, s=scratch: last_passes(p, f, s),
                               args.repeats)[0]
            total_f, grads_f = first_passes(plan, first)
            total_l, grads_l = last_passes(plan, last, scratch)
            d_total = float(np.max(np.abs(total_f - total_l) / np.abs(total_f)))
            d_grad = max(float(np.max(np.abs(np.broadcast_to(
                np.moveaxis(g, -1, 0) if plan.batched else g[None], h.shape) - h)))
                for g, h in zip(grads_l, grads_f, strict=True))
            table.rows.append([name, f"{draws:,}", str(len(plan.steps)), f"{t_first * 1e3:.2f}",
                               f"{t_last * 1e3:.2f}", f"{t_first / t_last:.1f}×",
                               f"{d_total:.1e}", f"{d_grad:.1e}"])
            print("  " + "  ".join(table.rows[-1]), flush=True)
    table.notes.append("both on the plan the engine compiled for these findings, inputs "
                       "already in each layout; draws last in reused scratch memory as the "
                       "engine runs it (fresh arrays are page-faulted in on every call); "
                       "max|Δ| total is relative")
    return table


def table_plans(args: argparse.Namespace) -> Table:
    table = Table(f"Plans for {args.patterns} random evidence patterns on the flagship "
                  "(CPU ms per pattern: the first pass compiles, the second reuses)",
                  ["query", "draws", "plans before (one per pattern)", "plans now",
                   "first pass ms", "second pass ms"])
    for draws in (1000, 4000):
        engine, cpts, _, _ = flagship(draws)
        net = engine.network
        rng = np.random.default_rng(SEED)
        patterns = []
        for _ in range(args.patterns):
            hard, soft = {}, {}
            for node in net.nodes:
                kind = rng.choice(["none", "none", "none", "none", "hard", "soft"])
                if kind == "hard":
                    hard[node] = net.states[node][int(rng.integers(net.card(node)))]
                elif kind == "soft":
                    soft[node] = rng.uniform(0.2, 1.0, net.card(node))
            patterns.append((hard, soft))
        distinct = len({(frozenset(h), frozenset(s)) for h, s in patterns})
        calls = {
            "query (every marginal)": lambda h, s, e=engine, c=cpts: e.query(h, s, c),
            "log_evidence (on the findings' ancestors)":
                lambda h, s, e=engine, c=cpts: e.log_evidence(h, s, c),
            "log_evidence on the whole network":
                lambda h, s, e=engine, c=cpts: e.log_evidence(h, s, c),
        }
        for label, call in calls.items():
            whole = label.endswith("whole network")
            if whole:  # what pruning saves: the same queries on one unpruned plan
                engine._relevant = lambda nodes, e=engine: e.network.order  # type: ignore
                engine._leaves = lambda included, keep=(): set()  # type: ignore
            engine._plans.clear()
            passes = []
            for _ in range(2):
                start = time.process_time()
                for hard, soft in patterns:
                    call(hard, soft)
                passes.append((time.process_time() - start) / len(patterns))
            table.rows.append([label, f"{draws:,}", str(distinct), str(len(engine._plans)),
                               f"{passes[0] * 1e3:.2f}", f"{passes[1] * 1e3:.2f}"])
            print("  " + "  ".join(table.rows[-1]), flush=True)
            if whole:
                del engine._relevant, engine._leaves
    table.notes.append("a pattern: each node unobserved (2/3), hard (1/6, a random state) or "
                       "soft (1/6, random likelihoods), as an attribution's coalitions or "
                       "VOI's candidates vary them; log_evidence prunes to the findings' "
                       "ancestors (one plan per ancestral set): against one plan over the "
                       "whole network it pays whenever patterns recur, and from a few "
                       "thousand draws (the explanations use 4,000) even when each is new")
    return table


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--draws", nargs="+", type=int, default=[100, 1000, 10_000])
    p.add_argument("--repeats", type=int, default=9, help="timed calls per measurement")
    p.add_argument("--patterns", type=int, default=40)
    p.add_argument("--markdown", type=Path, metavar="FILE", help="also write the tables here")
    args = p.parse_args(argv)
    env = [f"python {platform.python_version()}, numpy {np.__version__}, "
           f"CPUs {os.cpu_count()}",
           "load average (1, 5, 15 min) at start: "
           + ", ".join(f"{x:.2f}" for x in os.getloadavg())]
    print("\n".join(env), "\n")
    flags: list[str] = []
    tables = []
    for make in (lambda: table_queries(args, flags), lambda: table_layout(args),
                 lambda: table_plans(args)):
        tables.append(make())
        print(tables[-1].text(), "\n", flush=True)
    return finish("Batched exact inference benchmark", "bench_plan.py", env, tables, flags,
                  args.markdown)


if __name__ == "__main__":
    raise SystemExit(main())
