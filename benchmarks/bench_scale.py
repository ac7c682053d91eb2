"""Scaling benchmark: all marginals on every bnlearn network pgmpy ships, ours against pyAgrum.

Run from the repository root::

    python benchmarks/bench_scale.py                       # every network (~20 min, 2 cores)
    python benchmarks/bench_scale.py --networks munin link --seeds 2
    python benchmarks/bench_scale.py --markdown benchmarks/RESULTS_SCALE.md

What it measures
    Every ``*.bif.gz`` in pgmpy's ``utils/example_models`` (asia to munin and link), loaded by
    ``peers.load_network`` (CPT rows renormalised) and given to pyAgrum through
    ``forecast.network.interop.to_pyagrum`` (float64 tables, not pyAgrum's single-precision BIF
    reader), so both engines answer the same question.

    Evidence: per seed, one forward sample of the network; ``--evidence-fraction`` of the nodes
    (at least one) picked at random are observed — *hard*: at their sampled states; *soft*:
    the same nodes get likelihood vectors with entries uniform in [0.05, 1] instead (every
    state possible, the network's whole structure stays in the query). Each seed is a new
    pattern (other nodes observed).

    * ours cold — ``ExactEngine(net)`` and its first ``query`` (the plan searched for the
      pattern); ours new — an engine that has answered the previous seeds' patterns, first
      query of this one (plan search included: one plan per set of hard findings); ours warm —
      the same pattern again (plan cached), median of repeats.
    * pyA cold — ``LazyPropagation(bn)``, ``setEvidence``, ``makeInference``, every
      ``posterior``; pyA new — the engine of the previous seeds, ``eraseAllEvidence`` and
      ``setEvidence`` of the new pattern (its junction tree rebuilt as it needs); pyA warm —
      the same pattern again (``chgEvidence``: junction tree kept), median of repeats. One
      thread (``gum.setNumberOfThreads(1)``).
    * time: CPU seconds of the measuring process (``time.process_time``), median over seeds.
      ratios: ours cold / the better of pyA cold and pyA new (pyAgrum's best answer to a new
      pattern), ours new / the same, ours warm / pyA warm.
    * max|Δ|: the largest absolute difference of any marginal entry, over every seed.
    * plan: the path search that won (greedy, min-fill, min-degree) and the largest table of
      any plan (entries); peak: tracemalloc's peak of ours alone, in a pass run after the
      timings (numpy reports its buffers to tracemalloc), and the process's peak RSS before
      pyAgrum ran (imports and the network included).
    * pgmpy — ``VariableElimination``, one query per unobserved node, hard evidence of the
      first seed, in its own process, stopped at ``--pgmpy-timeout`` seconds (model building
      and a warm-up query included) or earlier when its pace says it cannot finish in time.

Each network runs in a child process (``--child``) with its address space capped at
``--memory-gb`` (an out-of-memory plan fails fast) and a wall-time limit.

Part 2 — the path searches compared (planning only: nothing is allocated)
    For each network, the plan of the first seed's hard pattern (the findings' variables
    dropped, as the engine plans one network) and of the network without findings (what a
    soft-evidence query plans): opt_einsum's greedy path, the min-fill and min-degree
    elimination orders (:mod:`forecast.network.ordering`), and cotengra's ``HyperOptimizer``
    if cotengra is importable (``--cotengra-repeats`` trials, ``minimize="combo"``, greedy
    trials sampled at random: its optional optimisers and KaHyPar are not installed here).
    Each cell: largest table (entries), operations (opt_einsum's ``opt_cost``), CPU ms of the
    search. "plan" is what :class:`~forecast.network.plan.Plan` chose and the CPU ms of
    building it (search and compilation).

Part 3 — the flagship's update against ledger size and against time steps (``--parts 3``)
    ``forecast.update`` of the flagship (the dynamic model, the default; into a new run store
    each time, so nothing is resumed) on synthetic ledgers: rows drawn with replacement from
    the real ledger (each keeps its node, finding, source and grade; new ids), dated uniformly
    at random over the span. Sizes: 100, 1,000 and 10,000 rows over 2014-07-01 to 2025-06-30
    (44 quarters); steps: 200 rows over the last 8, 16, 32 and 44 quarters to 2025-06-30. Wall
    and CPU seconds of the call in this process (after one untimed update for the imports),
    and the time per step.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import multiprocessing as mp
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import peers  # the sibling modules: the script's directory is first on sys.path
from bench_exact import environment, fmt_diff, fmt_ms, fmt_ratio, sampled_evidence
from forecast import Network
from forecast.network.exact import ExactEngine
from tables import Table, finish

TARGET_RATIO = 3.0
TARGET_DIFF = 1e-8


def shipped_networks() -> list[str]:
    """Every bnlearn network pgmpy ships as a ``.bif.gz``, smallest first."""
    spec = importlib.util.find_spec("pgmpy")
    assert spec is not None and spec.submodule_search_locations
    folder = Path(next(iter(spec.submodule_search_locations))) / "utils" / "example_models"
    names = [p.name.removesuffix(".bif.gz") for p in folder.glob("*.bif.gz")]
    sizes = {n: len(peers.load_network(n).nodes) for n in names}
    return sorted(names, key=lambda n: (sizes[n], n))


# ------------------------------------------------------------------------------ child process
def cpu(fn: Callable[[], Any]) -> tuple[float, Any]:
    """CPU seconds of one call, and its result."""
    t0 = time.process_time()
    out = fn()
    return time.process_time() - t0, out


def cpu_median(fn: Callable[[], Any], budget: float, most: int = 5) -> float:
    """Median CPU seconds of repeated calls: at least 2 (1 if one is over `budget`)."""
    times = [cpu(fn)[0]]
    while len(times) < most and ((len(times) < 2 and times[0] < budget)
                                 or sum(times) < budget):
        times.append(cpu(fn)[0])
    return statistics.median(times)


def patterns(net: Network, seeds: int, fraction: float, first: int) -> list[dict[str, Any]]:
    """``seeds + 1`` evidence patterns (the first only warms the reused engines)."""
    out = []
    for k in range(seeds + 1):
        rng = np.random.default_rng(first + k)
        hard = sampled_evidence(net, rng, fraction)
        soft = {n: rng.uniform(0.05, 1.0, net.card(n)) for n in hard}
        out.append({"hard": hard, "soft": soft})
    return out


def ours_query(engine: ExactEngine, kind: str, pattern: dict[str, Any]) -> dict[str, np.ndarray]:
    if kind == "hard":
        return engine.query(pattern["hard"]).marginals
    return engine.query(soft=pattern["soft"]).marginals


def pya_query(ie: Any, net: Network, kind: str, pattern: dict[str, Any],
              change: bool) -> dict[str, np.ndarray]:
    if kind == "hard":
        ev: dict[str, Any] = peers.pyagrum_evidence(net, pattern["hard"])
    else:
        ev = {n: [float(x) for x in lam] for n, lam in pattern["soft"].items()}
    if change and ie.nbrEvidence() == len(ev):
        for node, value in ev.items():
            ie.chgEvidence(node, value)
    else:
        ie.eraseAllEvidence()
        ie.setEvidence(ev)
    ie.makeInference()
    return {node: ie.posterior(node).toarray() for node in net.nodes}


def fresh_ours(net: Network, kind: str, pattern: dict[str, Any]) -> dict[str, np.ndarray]:
    """A new engine's first query (planning included)."""
    return ours_query(ExactEngine(net), kind, pattern)


def fresh_pya(bn: Any, net: Network, kind: str, pattern: dict[str, Any]
              ) -> dict[str, np.ndarray]:
    """A new LazyPropagation's first inference (junction tree included)."""
    import pyagrum as gum

    return pya_query(gum.LazyPropagation(bn), net, kind, pattern, change=False)


def max_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    return max(float(np.max(np.abs(np.asarray(a[n]) - np.asarray(b[n])))) for n in a)


def child(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement of one network (run in its own process)."""
    import pyagrum as gum

    gum.setNumberOfThreads(1)
    net = peers.load_network(name)
    bn = peers.to_pyagrum(net)
    pats = patterns(net, args.seeds, args.evidence_fraction, args.seed)
    tiny = Network(states={"a": ["0", "1"], "b": ["0", "1"]}, parents={"b": ["a"]},
                   cpts={"a": [0.3, 0.7], "b": [[0.9, 0.1], [0.2, 0.8]]}, name="warm-up")
    ExactEngine(tiny).query({"b": "1"})  # first-call costs of numpy and opt_einsum
    out: dict[str, Any] = {"nodes": len(net.nodes), "evidence": len(pats[0]["hard"])}
    answers: dict[str, list] = {}
    for kind in ("hard", "soft"):
        row: dict[str, Any] = {"cold": [], "new": [], "warm": [], "methods": [], "largest": 0}
        reused = ExactEngine(net)
        ours_query(reused, kind, pats[0])
        answers[kind] = []
        for pattern in pats[1:]:
            t, _ = cpu(functools.partial(fresh_ours, net, kind, pattern))
            row["cold"].append(t)
            again = functools.partial(ours_query, reused, kind, pattern)
            t, marginals = cpu(again)
            row["new"].append(t)
            row["warm"].append(cpu_median(again, args.budget))
            plan = (reused.plan_for(pattern["hard"]) if kind == "hard"
                    else reused.plan_for(soft=pattern["soft"]))
            row["methods"].append(plan.method)
            row["largest"] = max(row["largest"], plan.largest_intermediate)
            answers[kind].append(marginals)
        out[kind] = row
    out["rss_ours_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()
    for kind in ("hard", "soft"):
        for pattern in pats[1:]:
            ours_query(ExactEngine(net), kind, pattern)
    out["traced_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    for kind in ("hard", "soft"):
        row = out[kind]
        row.update({"pya_cold": [], "pya_new": [], "pya_warm": [], "diff": 0.0})
        ie = gum.LazyPropagation(bn)
        pya_query(ie, net, kind, pats[0], change=False)
        for pattern, ours in zip(pats[1:], answers[kind], strict=True):
            t, _ = cpu(functools.partial(fresh_pya, bn, net, kind, pattern))
            row["pya_cold"].append(t)
            t, theirs = cpu(functools.partial(pya_query, ie, net, kind, pattern, change=False))
            row["pya_new"].append(t)
            row["pya_warm"].append(cpu_median(functools.partial(pya_query, ie, net, kind,
                                                                pattern, change=True),
                                              args.budget))
            row["diff"] = max(row["diff"], max_diff(ours, theirs))
    return out


# ----------------------------------------------------------------------------------- pgmpy
def run_pgmpy(net: Network, evidence: dict[str, str], timeout: float) -> tuple[str, float | None]:
    """pgmpy's time for every marginal (one pattern), or why there is none, within `timeout`.

    Stopped early once ``elapsed + remaining marginals × its pace so far`` is over `timeout`
    (after at least a tenth of it), so a hopeless network costs a few seconds, not the whole
    timeout; model building and the worker's untimed warm-up query count against it too.
    """
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=peers.pgmpy_worker, args=(send, net, evidence, 1, 0.0),
                       daemon=True)
    started = time.monotonic()
    proc.start()
    send.close()
    todo = len(net.nodes)
    done, run_start = 0, None
    status: tuple[str, float | None] = (f"> {timeout:.0f} s (0/{todo})", None)
    try:
        while True:
            remaining = started + timeout - time.monotonic()
            if remaining <= 0 or not recv.poll(min(remaining, 1.0)):
                if remaining <= 0:
                    status = (f"> {timeout:.0f} s ({done}/{todo})", None)
                    break
                if run_start is not None and done and time.monotonic() - started > timeout / 10:
                    pace = (time.monotonic() - run_start) / done
                    if time.monotonic() - started + pace * (todo - done) > timeout:
                        status = (f"> {timeout:.0f} s (est. {pace * todo:.0f} s)", None)
                        break
                continue
            try:
                msg = recv.recv()
            except EOFError:
                status = ("error: died", None)
                break
            if msg[0] == "ready":
                run_start = time.monotonic()
            elif msg[0] == "progress":
                done = msg[1]
            elif msg[0] == "run":
                status = ("ok", float(msg[1]))
                break
            elif msg[0] == "error":
                status = ("error: " + msg[1].strip().splitlines()[-1], None)
                break
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        recv.close()
    return status


# ------------------------------------------------------------------------------------ part 2
def search_row(name: str, kind: str, args: argparse.Namespace) -> list[str]:
    """One network's path searches (planning only), for the table of part 2."""
    import opt_einsum

    from forecast.network.ordering import elimination_order, elimination_path
    from forecast.network.plan import Plan

    net = peers.load_network(name)
    drop = patterns(net, 1, args.evidence_fraction, args.seed)[1]["hard"] if kind == "hard" else {}
    scopes = [[v for v in net.family(n) if v not in drop] for n in net.order]
    number: dict[str, int] = {}
    for scope in scopes:
        for v in scope:
            number.setdefault(v, len(number))
    symbol = {v: opt_einsum.get_symbol(k) for v, k in number.items()}
    expression = ",".join("".join(symbol[v] for v in s) for s in scopes) + "->"
    shapes = [tuple(net.card(v) for v in s) for s in scopes]
    numbered = [[number[v] for v in s] for s in scopes]
    sizes = [net.card(v) for v in number]

    def cell(seconds: float, optimize: Any) -> str:
        info = opt_einsum.contract_path(expression, *shapes, shapes=True, optimize=optimize)[1]
        return (f"{float(info.largest_intermediate):.1e} · {float(info.opt_cost):.1e} · "
                f"{fmt_ms(seconds)}")

    t, _ = cpu(lambda: opt_einsum.contract_path(expression, *shapes, shapes=True,
                                                optimize="greedy"))
    cells = [cell(t, "greedy")]
    for heuristic in ("min-fill", "min-degree"):
        t, (path, _, _) = cpu(functools.partial(
            lambda h: elimination_path(numbered, sizes, elimination_order(numbered, h)),
            heuristic))
        cells.append(cell(t, path))
    if importlib.util.find_spec("cotengra") is not None and args.cotengra_repeats > 0:
        import warnings

        import cotengra as ctg

        warnings.simplefilter("ignore")
        opt = ctg.HyperOptimizer(methods=["greedy"], minimize="combo", optlib="random",
                                 max_repeats=args.cotengra_repeats, parallel=False)
        t, found = cpu(lambda: opt_einsum.contract_path(expression, *shapes, shapes=True,
                                                        optimize=opt))
        cells.append(cell(t, list(found[0])))
    else:
        cells.append("not installed")
    t, plan = cpu(lambda: Plan(scopes, {v: net.card(v) for v in net.nodes},
                               [False] * len(scopes), 1))
    return [name, str(len(net.nodes)), str(len(drop)), *cells, f"{plan.method} · {fmt_ms(t)}"]


def part2(networks: Sequence[str], args: argparse.Namespace) -> Table:
    table = Table(
        "Part 2 — path searches on one network's plan: largest table (entries) · operations · "
        "CPU ms of the search",
        ["network", "nodes", "ev", "greedy", "min-fill", "min-degree", "cotengra", "plan · ms"])
    for name in networks:
        for kind in ("hard", "none"):
            try:
                row = search_row(name, kind, args)
            except Exception as err:  # a search that fails is a result, not a crash
                row = [name, "", kind, f"error: {err}"[:80], "", "", "", ""]
            table.rows.append(row)
            print("  " + "  ".join(row), flush=True)
    table.notes.append("ev: hard findings (the first seed's pattern; 0: the whole network, "
                       "as a soft-evidence query plans it); plan: the search Plan chose and "
                       "the CPU ms of building it (search and compilation)")
    table.notes.append(f"cotengra: HyperOptimizer(methods=['greedy'], minimize='combo', "
                       f"optlib='random', max_repeats={args.cotengra_repeats}, "
                       "parallel=False)")
    return table


# ------------------------------------------------------------------------------------ parent
def measure(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run :func:`child` for one network in a capped subprocess."""
    cmd = [sys.executable, __file__, "--child", name, "--seeds", str(args.seeds),
           "--seed", str(args.seed), "--evidence-fraction", str(args.evidence_fraction),
           "--budget", str(args.budget), "--memory-gb", str(args.memory_gb)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.network_timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"over {args.network_timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": tail[:160]}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def med(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def part1(networks: Sequence[str], args: argparse.Namespace) -> tuple[Table, list[str]]:
    """Ours against pyAgrum (and pgmpy) on every network, each in its own process."""
    table = Table(
        "Part 1 — all marginals with a new evidence pattern per seed (CPU ms, median over seeds; "
        "ratios: ours / pyAgrum, >1 means we are slower)",
        ["network", "nodes", "ev", "kind", "plan", "largest", "ours cold", "ours new",
         "ours warm", "pyA cold", "pyA new", "pyA warm", "cold/pyA", "new/pyA", "warm/pyA",
         "max|Δ|", "peak MiB", "RSS MiB", "pgmpy ms"],
    )
    flags: list[str] = []
    worst = {"cold": 0.0, "new": 0.0, "warm": 0.0}
    worst_at = {"cold": "", "new": "", "warm": ""}
    worst_diff, failures = 0.0, []
    for name in networks:
        t0 = time.monotonic()
        result = measure(name, args)
        pg_cell = "—"
        if args.pgmpy_timeout > 0:
            net = peers.load_network(name)
            ev = sampled_evidence(net, np.random.default_rng(args.seed + 1),
                                  args.evidence_fraction)
            status, seconds = run_pgmpy(net, ev, args.pgmpy_timeout)
            pg_cell = fmt_ms(seconds) if seconds is not None else status
        if "error" in result:
            failures.append(f"{name}: {result['error']}")
            table.rows.append([name, "", "", "", "error", "", *[""] * 12, pg_cell])
            print("  " + "  ".join(table.rows[-1]) + "  " + result["error"], flush=True)
            continue
        for kind in ("hard", "soft"):
            r = result[kind]
            methods = sorted(set(r["methods"]))
            best_new = min(med(r["pya_cold"]), med(r["pya_new"]))
            ratios = {"cold": med(r["cold"]) / best_new, "new": med(r["new"]) / best_new,
                      "warm": med(r["warm"]) / med(r["pya_warm"])}
            for key, value in ratios.items():
                if value > worst[key]:
                    worst[key], worst_at[key] = value, f"{name} {kind}"
            worst_diff = max(worst_diff, r["diff"])
            table.rows.append([
                name, str(result["nodes"]), str(result["evidence"]), kind, "/".join(methods),
                f"{r['largest']:.1e}", fmt_ms(med(r["cold"])), fmt_ms(med(r["new"])),
                fmt_ms(med(r["warm"])), fmt_ms(med(r["pya_cold"])), fmt_ms(med(r["pya_new"])),
                fmt_ms(med(r["pya_warm"])), fmt_ratio(ratios["cold"]), fmt_ratio(ratios["new"]),
                fmt_ratio(ratios["warm"]), fmt_diff(r["diff"]),
                f"{result['traced_peak_mib']:.0f}", f"{result['rss_ours_mib']:.0f}",
                pg_cell if kind == "hard" else "",
            ])
            print("  " + "  ".join(table.rows[-1]), flush=True)
        print(f"    ({time.monotonic() - t0:.0f} s)", flush=True)
    for key, label in (("cold", "ours cold / pyA's best new-pattern answer"),
                       ("new", "ours new pattern / pyA's best new-pattern answer"),
                       ("warm", "ours warm / pyA warm")):
        ok = worst[key] <= TARGET_RATIO
        table.notes.append(f"target {label} ≤ {TARGET_RATIO:g} on every network and kind: "
                           f"{'MET' if ok else 'NOT MET'} (worst {worst[key]:.2f}, "
                           f"{worst_at[key]})")
    table.notes.append(f"target max|Δ| against pyAgrum ≤ {TARGET_DIFF:g}: "
                       f"{'MET' if worst_diff <= TARGET_DIFF else 'NOT MET'} "
                       f"(worst {worst_diff:.1e})")
    table.notes.append("no network ran out of memory or time" if not failures else
                       "FAILED: " + "; ".join(failures))
    table.notes.append("plan: the path search that won for the patterns (ours); largest: the "
                       "largest table of any of its plans (entries); peak MiB: tracemalloc "
                       "peak of ours alone; RSS MiB: the process's peak before pyAgrum ran "
                       "(Python, numpy, the network and ours)")
    table.notes.append("cold: fresh engine, first query; new: an engine reused from earlier "
                       "patterns, first query of this one; warm: the same pattern again; the "
                       "cold and new ratios divide by the better of pyA cold and pyA new")
    return table, flags


ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "models" / "isis_pakistan_2015.yaml"
LEDGER = ROOT / "data" / "isis_pakistan_ledger.csv"


def synthetic_ledger(path: Path, rows: int, first: str, last: str, seed: int) -> Path:
    """`rows` rows drawn from the flagship's ledger, dated uniformly over [first, last]."""
    import pandas as pd

    real = pd.read_csv(LEDGER, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    out = real.iloc[rng.integers(0, len(real), rows)].reset_index(drop=True)
    start, end = pd.Timestamp(first), pd.Timestamp(last)
    days = rng.integers(0, (end - start).days + 1, rows)
    out["date"] = [(start + pd.Timedelta(days=int(d))).strftime("%Y-%m-%d") for d in days]
    out["id"] = [f"S{i:05d}" for i in range(rows)]
    out.sort_values("date", kind="stable").to_csv(path, index=False)
    return path


def part3() -> Table:
    """The flagship's dynamic update: time against ledger rows and against time steps."""
    import tempfile

    import forecast as fc

    table = Table("Part 3 — the flagship's update (dynamic model) against ledger size and "
                  "time steps (s)", ["ledger", "rows", "steps", "wall s", "CPU s",
                                     "CPU ms per step", "status"])
    as_of = "2025-06-30"
    cases = [(n, "2014-07-01") for n in (100, 1_000, 10_000)]
    cases += [(200, first) for first in ("2023-07-01", "2021-07-01", "2017-07-01",
                                          "2014-07-01")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        warm = synthetic_ledger(folder / "warm.csv", 50, "2024-07-01", as_of, 0)
        fc.update(FLAGSHIP, warm, as_of=as_of, runs_dir=folder / "warm", seed=0)
        for k, (rows, first) in enumerate(cases):
            ledger = synthetic_ledger(folder / f"l{k}.csv", rows, first, as_of, k + 1)
            steps = (int(as_of[:4]) - int(first[:4])) * 4 + (int(as_of[5:7]) -
                                                              int(first[5:7])) // 3 + 1
            wall, cpu = time.perf_counter(), time.process_time()
            done = fc.update(FLAGSHIP, ledger, as_of=as_of, runs_dir=folder / f"r{k}", seed=0)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            table.rows.append([f"{first} to {as_of}", f"{rows:,}", str(steps), f"{wall:.1f}",
                               f"{cpu:.1f}", f"{cpu / steps * 1e3:.0f}", done.status])
            print("  " + "  ".join(table.rows[-1]), flush=True)
    table.notes.append("synthetic ledgers: the real ledger's rows drawn with replacement and "
                       "dated uniformly over the span (sources keep their grades); each update "
                       "into a new run store (no checkpoint resumed)")
    return table


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--networks", nargs="+", metavar="NAME",
                   help="default: every network pgmpy ships")
    p.add_argument("--seeds", type=int, default=3, help="evidence patterns per network")
    p.add_argument("--seed", type=int, default=20241201, help="first evidence seed")
    p.add_argument("--evidence-fraction", type=float, default=0.08,
                   help="share of nodes observed (at least one)")
    p.add_argument("--budget", type=float, default=0.5,
                   help="CPU seconds of repeats per warm measurement")
    p.add_argument("--pgmpy-timeout", type=float, default=60.0,
                   help="seconds allowed to pgmpy per network (0 skips pgmpy)")
    p.add_argument("--network-timeout", type=float, default=600.0,
                   help="wall seconds allowed to ours and pyAgrum per network")
    p.add_argument("--memory-gb", type=float, default=12.0,
                   help="address-space cap of each network's process")
    p.add_argument("--parts", nargs="+", type=int, choices=(1, 2, 3), default=[1, 2, 3])
    p.add_argument("--cotengra-repeats", type=int, default=3,
                   help="trials of cotengra's HyperOptimizer in part 2 (0 skips it)")
    p.add_argument("--markdown", type=Path, metavar="FILE", help="also write the tables here")
    p.add_argument("--child", metavar="NAME", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        cap = int(args.memory_gb * 1e9)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        print(json.dumps(child(args.child, args)))
        return 0

    import pyagrum as gum

    gum.setNumberOfThreads(1)  # as in the children, so that the environment line says so
    networks = args.networks or shipped_networks()
    env = environment()
    env.append(f"evidence: {args.evidence_fraction:.0%} of the nodes, {args.seeds} patterns "
               f"(seeds {args.seed + 1}..{args.seed + args.seeds}); CPU time "
               "(time.process_time); pyAgrum with 1 thread")
    if importlib.util.find_spec("cotengra") is not None:
        import cotengra

        env.append(f"cotengra {cotengra.__version__} (part 2 only)")
    print("Environment")
    for line in env:
        print("  " + line)
    started = time.monotonic()
    tables: list[Table] = []
    flags: list[str] = []
    if 1 in args.parts:
        table, flags = part1(networks, args)
        tables.append(table)
        print()
        print(table.text())
    if 2 in args.parts:
        print("Part 2 ...", flush=True)
        tables.append(part2(networks, args))
        print()
        print(tables[-1].text())
    if 3 in args.parts:
        print("Part 3 ...", flush=True)
        tables.append(part3())
        print()
        print(tables[-1].text())
    flags.append(f"total wall time {time.monotonic() - started:.0f} s")
    return finish("Scaling benchmark", "bench_scale.py", env, tables, flags, args.markdown)


if __name__ == "__main__":
    raise SystemExit(main())
