"""The dynamic model: the exact engine over steps, and what learning from the record buys.

Two parts, each printed as a table (issue: forecasts that get better with evidence):

1. **Engine.** The flagship's two-slice network unrolled over 50 quarters with the ledger's
   evidence laid out in steps (hard rows as findings, soft rows, non-occurrence): all marginals
   at every step and log P(e), for batches of parameter draws, by the step-wise engine
   (``DynamicEngine.smooth``), against the plan machinery on the unrolled network
   (``ExactEngine`` on ``DynamicNetwork.unroll``) and pyAgrum's LazyPropagation on the same
   unrolled network (one draw: pyAgrum has no batch of CPTs). Target: 10,000 draws ≤ 1 s.
2. **Skill and replay.** The library's replay (:func:`forecast.inference.dynamic.dynamic_forecasts`,
   one IBIS pass over the record, particles over every parameter: CPT entries, persistences,
   sources' reliabilities) gives the forecast at each quarterly as-of date from 2015Q3; each
   event scenario "happens within the next 8 quarters" is scored on the windows that have
   closed, against the same replay with no evidence (the model's prior), a coin and persistence
   (the previous 8 quarters' outcome). Outcomes come from the ledger's hard rows, so only
   events whose record the model declares complete are scored. Target: 40 dates ≤ 60 s.
3. **Update.** One ``forecast update`` from a cold process. Target ≤ 10 s.

    python benchmarks/bench_dynamic.py [--particles 2000] [--draws 1,100,1000] [--markdown F]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.evidence.ledger import load_ledger
from forecast.evidence.steps import timeline
from forecast.inference.dynamic import DEFAULT_PARTICLES, dynamic_forecasts
from forecast.inference.space import ParameterSpace
from forecast.model.load import load_spec
from forecast.model.parameters import parameters
from forecast.model.time import dynamic_network, dynamic_tables, time_parameters
from forecast.network.dynamic import DynamicEngine
from forecast.network.exact import ExactEngine
from forecast.ops.replay import forecast_dates
from tables import Table, finish  # sibling module: the script's folder is on sys.path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "isis_pakistan_2015.yaml"
LEDGER = ROOT / "data" / "isis_pakistan_ledger.csv"
START = dt.date(2014, 6, 10)  # the ledger's first row: step 0 is 2014Q2
END = "2025-06-30"
HORIZON = 8


def _timed(fn, repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return float(best)


def engine_table(spec, ledger, batches: list[int]) -> Table:
    """Step-wise engine vs the plan machinery and pyAgrum on the unrolled network."""
    dn = dynamic_network(spec)
    engine = DynamicEngine(dn)
    tl = timeline(ledger, spec, "2026-09-30", start=START, grades=False)
    steps = tl.steps
    lik = {n: v[0] for n, v in tl.likelihoods().items()}
    rng = np.random.default_rng(0)
    params = parameters(spec)
    space = ParameterSpace({p.name: p.prior for p in params + time_parameters(spec)})
    table = Table(f"All marginals at every step, flagship unrolled over {steps} quarters "
                  f"(frontier {dn.frontier_size} states, {len(tl.rows)} observations)",
                  ["draws", "ours (s)", "per 10,000 draws (s)", "unrolled plan (s)",
                   "ours / plan"])
    engine.smooth(lik, steps=steps)  # compile the kernels
    unrolled = dn.unroll(steps)
    hard = {f"{r.node}@{r.step}": r.state for r in tl.rows.itertuples()
            if r.how in ("finding", "nonoccurrence")}
    soft = {f"{n}@{t}": v[t] for n, v in lik.items() for t in range(steps)
            if f"{n}@{t}" not in hard and not np.all(v[t] == 1.0)}
    static = ExactEngine(unrolled)
    plan_one = _timed(lambda: static.query(hard, soft), repeat=2)
    for b in batches:
        cpts, trans = dynamic_tables(spec, space.values(space.sample(rng, b)), params=params)
        ours = _timed(lambda c=cpts, t=trans: engine.smooth(lik, cpts=c, transitions=t),
                      repeat=2 if b < 1000 else 1)
        plan = plan_one if b == 1 else float("nan")
        table.rows.append([f"{b:,}", f"{ours:.3f}", f"{ours * 10000 / b:.1f}",
                           "—" if np.isnan(plan) else f"{plan:.3f}",
                           "—" if np.isnan(plan) else f"{ours / plan:.2f}"])
    try:
        import pyagrum as gum

        from forecast.network.interop import to_pyagrum

        bn = to_pyagrum(unrolled)

        def agrum() -> None:
            ie = gum.LazyPropagation(bn)
            for name, state in hard.items():
                ie.addEvidence(name, unrolled.states[name].index(state))
            for name, vec in soft.items():
                ie.addEvidence(name, [float(x) for x in vec])
            ie.makeInference()
            for name in unrolled.nodes:
                ie.posterior(name)

        gum_s = _timed(agrum, repeat=2)
        table.notes.append(f"pyAgrum LazyPropagation on the unrolled network, one draw, all "
                           f"marginals: {gum_s:.3f} s (ours for one draw: "
                           f"{float(table.rows[0][1]):.3f} s)")
    except ImportError:  # pragma: no cover
        table.notes.append("pyAgrum not installed: no peer timing")
    table.notes.append("the unrolled plan (opt_einsum's greedy order over the static network, "
                       "an elimination order from 100 factors on) answers one draw at a "
                       "time; ours is one batched call")
    return table


def replay_forecasts(spec, ledger, particles: int, *, evidence: bool):
    """The library's dynamic replay (one IBIS pass) at quarterly as-of dates from 2015Q3."""
    days = [d.isoformat() for d in pd.date_range("2015-09-30", END, freq="QE").date]
    t0 = time.perf_counter()
    found = dynamic_forecasts(spec, ledger if evidence else ledger.iloc[:0], days,
                              particles=particles, start=START, nonoccurrence=evidence)
    seconds = time.perf_counter() - t0
    frames = []
    for dated in found:
        h = dated.forecast.horizons
        frames.append(h[h["horizon"] == HORIZON].assign(as_of=dated.as_of))
    return pd.concat(frames, ignore_index=True), seconds, found


def outcomes(spec, ledger):
    """Per event with a complete record, the steps in which the ledger has a hard 'yes' row."""
    resolved = timeline(ledger, spec, END, start=START, grades=False, nonoccurrence=False)
    first = {n: spec.nodes[n].states[0] for n in spec.nodes}
    hits = resolved.rows[(resolved.rows["how"] == "finding")
                         & (resolved.rows["state"] != resolved.rows["node"].map(first))]
    complete = [n for n, x in spec.nodes.items() if x.definition.kind == "event"
                and x.definition.nonoccurrence is True and x.definition.complete_from is not None]
    return complete, set(zip(hits["node"], hits["step"], strict=True)), resolved


def skill_tables(spec, ledger, particles: int) -> tuple[list[Table], dict]:
    with_ledger, seconds, found = replay_forecasts(spec, ledger, particles, evidence=True)
    prior, prior_s, _ = replay_forecasts(spec, ledger, particles, evidence=False)
    complete, occurred, resolved = outcomes(spec, ledger)
    days = sorted(with_ledger["as_of"].unique())
    t0 = time.perf_counter()
    snap = forecast_dates(spec, ledger, days, semantics="snapshot", workers=2)
    snap_s = time.perf_counter() - t0
    snap_mean = snap.set_index(["node", "state", "as_of"])["mean"]
    cal = resolved.calendar
    last = resolved.closed - 1
    rows = []
    b_all = prior.set_index(["node", "state", "as_of"])["mean"]
    for event in complete:
        yes = spec.nodes[event].states[1]
        a = with_ledger[(with_ledger["node"] == event) & (with_ledger["state"] == yes)]
        for r in a.itertuples():
            s = cal.index(dt.date.fromisoformat(r.as_of))
            if s + HORIZON > last:
                continue
            y = int(any((event, k) in occurred for k in range(s + 1, s + HORIZON + 1)))
            before = int(any((event, k) in occurred for k in range(s - HORIZON + 1, s + 1)))
            rows.append((event, cal.label(s), r.mean, r.mcse, b_all[(event, yes, r.as_of)], 0.5,
                         before, snap_mean.get((event, yes, r.as_of), np.nan), y))
    df = pd.DataFrame(rows, columns=["event", "as_of", "ledger", "mcse", "no_evidence", "coin",
                                     "persistence", "snapshot", "outcome"])
    forecasters = ["ledger", "no_evidence", "coin", "persistence", "snapshot"]

    def brier(p, y):
        return float(np.mean((np.asarray(p) - np.asarray(y)) ** 2))

    def log_score(p, y):
        p = np.clip(np.asarray(p, dtype=float), 1e-3, 1 - 1e-3)
        y = np.asarray(y)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    per_event = Table(f"Brier score of 'happens within {HORIZON} quarters' on closed windows, "
                      f"quarterly as-of dates from 2015Q3 ({particles} particles), events "
                      "whose record is complete", ["event", "windows", "occurred", *forecasters])
    for event, g in df.groupby("event", sort=False):
        per_event.rows.append([event, str(len(g)), str(int(g["outcome"].sum())),
                               *(f"{brier(g[f], g['outcome']):.3f}" for f in forecasters)])
    skipped = [n for n, x in spec.nodes.items() if x.definition.kind == "event"
               and n not in complete]
    per_event.notes.append("not scored (the ledger's record of them is not complete, so a "
                           "window without a row is not a 'no'): " + ", ".join(skipped))
    overall = Table("All scored event scenarios together", ["score", *forecasters])
    overall.rows.append(["Brier", *(f"{brier(df[f], df['outcome']):.4f}" for f in forecasters)])
    overall.rows.append(["log", *(f"{log_score(df[f], df['outcome']):.4f}"
                                  for f in forecasters)])
    head = df[(df["event"] == "caliphate_declared") & (df["as_of"] <= "2023Q4")]
    overall.notes.append(f"headline caliphate_declared, as-of dates 2015Q3–2023Q4: Brier "
                         f"{brier(head['ledger'], head['outcome']):.3f} with the ledger, "
                         f"{brier(head['no_evidence'], head['outcome']):.3f} without, "
                         f"{brier(head['snapshot'], head['outcome']):.3f} for the snapshot "
                         f"with the ledger (target ≤ 0.10)")
    overall.notes.append("snapshot: the first edition (--snapshot) replayed at the same dates "
                         f"with the same ledger, each date apart ({snap_s:.0f} s on 2 "
                         "processes)")
    worst = max(float(d.forecast.summary["mcse"].max()) for d in found)
    overall.notes.append(f"largest MCSE of a forecast's headline rows: {worst:.4f} "
                         "(target ≤ 0.005)")
    diag = found[-1].forecast.attrs["diagnostics"]
    timing = Table(f"Replay of {len(found)} quarterly as-of dates (one IBIS pass, "
                   f"{particles} particles)", ["run", "seconds", "target (s)", "ratio",
                                               "resample-moves", "largest k̂",
                                               "mean acceptance"])
    timing.rows.append(["with the ledger", f"{seconds:.1f}", "60", f"{seconds / 60:.2f}",
                        str(diag["moves"]), f"{diag['khat']:.2f}",
                        f"{diag['acceptance'] or 0:.2f}"])
    timing.rows.append(["no evidence", f"{prior_s:.1f}", "—", "—", "—", "—", "—"])
    return [per_event, overall, timing], {"df": df}


def chains_table(spec, ledger, particles: int) -> Table:
    """Independent IBIS passes sharing the particles: do they agree (split R-hat)?"""
    table = Table(f"Four independent IBIS passes of {particles // 4} particles each (the cost "
                  f"of one pass of {particles})", ["as of", "seconds", "largest R-hat",
                                                   "pooled ESS", "largest MCSE",
                                                   "P(caliphate declared)"])
    t0 = time.perf_counter()
    found = dynamic_forecasts(spec, ledger, ["2016-06-30", "2025-06-30"], particles=particles,
                              chains=4, start=START)
    seconds = time.perf_counter() - t0
    for dated in found:
        d = dated.forecast.attrs["diagnostics"]
        head = dated.forecast.sel(node="caliphate_declared", state="yes")
        table.rows.append([dated.as_of, f"{seconds:.1f}", f"{d['rhat']:.3f}",
                           f"{d['ess']:.0f}", f"{d['max_mcse']:.4f}",
                           f"{head['mean']:.3f} [{head['hdi_5%']:.3f}, {head['hdi_95%']:.3f}]"])
    table.notes.append("R-hat: arviz's rank-normalised split R-hat of every reported probability "
                       "across the passes (gate 1.01); above it the passes disagree by more "
                       "than their MCSE says")
    return table


def update_table() -> Table:
    """Cold ``forecast update`` s of the flagship, each in a fresh process, as a schedule runs them.

    The first has no checkpoint (the whole record from 2014Q2); the second is a day later in
    the same quarter (it resumes from the first's checkpoint: no new closed step); the third
    is the next quarter (one new closed step).
    """
    table = Table("`forecast update` from a cold process (flagship, default particles), as a "
                  "daily schedule runs it", ["as of", "checkpoint", "status", "seconds",
                                             "target (s)", "ratio"])
    with tempfile.TemporaryDirectory() as runs:
        for day, how in (("2025-06-29", "none (first update)"),
                         ("2025-06-30", "same quarter"),
                         ("2025-09-30", "one step older")):
            command = [sys.executable, "-m", "forecast", "update", str(MODEL), "--ledger",
                       str(LEDGER), "--as-of", day, "--runs", runs, "--json"]
            t0 = time.perf_counter()
            done = subprocess.run(command, capture_output=True)
            seconds = time.perf_counter() - t0
            if done.returncode not in (0, 3):  # 3: computed, but not publishable
                raise SystemExit(done.stderr.decode())
            status = "published" if done.returncode == 0 else "unconverged (not published)"
            table.rows.append([day, how, status, f"{seconds:.1f}", "10",
                               f"{seconds / 10:.2f}"])
    table.notes.append("an update resumes from the particle system the previous one kept in "
                       "runs/<model>/.checkpoints when no row before its step changed; the "
                       "forecast is bit-for-bit the one a fresh pass gives "
                       "(tests/test_dynamic_jobs.py)")
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=DEFAULT_PARTICLES)
    parser.add_argument("--draws", default="1,100,1000")
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    spec = load_spec(MODEL)
    ledger = load_ledger(LEDGER, spec)
    env = [f"python {platform.python_version()}, {os.cpu_count()} cores, "
           f"load {os.getloadavg()[0]:.2f} at start"]
    tables = [engine_table(spec, ledger, [int(x) for x in args.draws.split(",")])]
    print(tables[0].text(), "\n", flush=True)
    skill, _ = skill_tables(spec, ledger, args.particles)
    for t in skill:
        print(t.text(), "\n", flush=True)
    for more in (lambda: chains_table(spec, ledger, args.particles), update_table):
        skill.append(more())
        print(skill[-1].text(), "\n", flush=True)
    tables += skill
    return finish("The dynamic model", "bench_dynamic.py", env, tables, [], args.markdown)


if __name__ == "__main__":
    raise SystemExit(main())
