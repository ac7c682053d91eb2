"""Benchmark the Bayesian engine against the model a PyMC user writes by default.

Run from the repository root::

    python benchmarks/bench_bayes.py                      # everything (~4 min on 2 cores)
    python benchmarks/bench_bayes.py --quick              # smoke run (~1 min; ~3 min the
                                                          # first time: empty compile caches)
    python benchmarks/bench_bayes.py --markdown benchmarks/RESULTS_BAYES.md

Model
    ``make_spec_yaml(n, seed)`` writes a model file (model-language YAML text) for a random
    binary network: nodes ``x00 .. x{n-1}`` in topological order, node ``i`` with
    ``k ~ U{0, .., min(3, i)}`` parents drawn without replacement among the nodes before it;
    every CPT a ``logit`` form with a baseline drawn from the seven ICD 203 words and one effect
    per parent (state ``yes``) with a random direction and strength word, each effect stating
    ``assumption: "benchmark"``; one claim, cited by the first effect. So every CPT entry is
    uncertain: a Beta baseline and sign-constrained log-normal effects.

Evidence and scenarios
    One joint sample of the prior-mean network (a draw of the prior predictive) fixes the three
    latest leaves (fewer leaves: the latest nodes) at their sampled states: three hard findings.
    The warm update flips the first finding. The scenarios are ``P(node = yes | e)`` of the
    three latest non-evidence ancestors of the findings.
    NUTS path: ten cases share the parameters. Case 0 is the target above; the nine history
    cases are joint samples of one network drawn from the prior, each observed on three random
    nodes of the network's later half.

Measured
    1. Importance path (``forecast.inference.importance.importance_forecast``, default draws and
       MCSE target). Cold: a fresh ``python -c`` process that imports forecast, parses the spec and
       runs one forecast; wall time of the whole process, with the child's own breakdown
       (interpreter start, imports, parsing, the forecast). Warm: a second forecast in the same
       process with different evidence values. Kish ESS of the Pareto-smoothed weights; ESS/s over
       the forecast call (warm) or the whole process (cold); the largest MCSE over every reported
       probability (every state of every non-evidence node).
    2. NUTS path (``forecast.inference.pymc_model.sample_nuts``, if the module exists): the
       ten cases, cold in a fresh process including PyTensor compilation. Per posterior draw of the
       parameters the scenario probabilities ``P(S = yes | e_0, θ)`` come from the batched exact
       engine (``ExactEngine.query(e_0, cpts=build_cpts(spec, draws))``); their ESS and MCSE
       from arviz. For contrast, the importance path on the same ten cases (its k-hat shows why
       NUTS is needed there).
    3. The PyMC default model: every node a ``pm.Bernoulli`` with
       ``p = sigmoid(logit(Beta) + Σ sign · LogNormal · parent)`` using the parameters of our
       priors (``forecast.model.parameters.parameters(spec)``, ``.prior.params()``), the findings as
       ``observed=``, ``pm.sample`` with defaults (PyMC assigns BinaryGibbsMetropolis to the
       free Bernoullis, NUTS to the continuous parameters), ``chains=2, cores=2``, a seed.
       ``P(S = yes | e)`` is the posterior mean of the sampled indicator; ESS and MCSE of the
       indicator from arviz. Times: the whole process, ``pm.sample`` (compilation, step
       assignment, sampling, convergence checks) and sampling only (PyMC's ``sampling_time``).
    4. Per scenario: both estimates and whether they agree (``|Δ| ≤ 4 √(mcse₁² + mcse₂²)``);
       ESS/s ratios, and the speed-up at equal MCSE, ``(t₂ · mcse₂²) / (t₁ · mcse₁²)``: ESS is
       relative to each estimator's own variance (the spread of ``P(S | e, θ)`` for ours, the
       Bernoulli variance of the indicator for PyMC), so the equal-MCSE speed-up is the
       like-for-like number.

PyTensor compile cache: the NUTS and PyMC children each get their own new compile directory
(``PYTENSOR_FLAGS=compiledir=...``). Their first run measures a cold process on an empty cache
(a machine's first use of PyTensor), the second a cold process on a warm cache (any later run);
the second is the headline. ``--quick`` does one run each (on an empty cache).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

warnings.filterwarnings(  # arviz 0.23 announces its rewrite once a day at import
    "ignore", message=r"\s*ArviZ is undergoing a major refactor", category=FutureWarning)

from forecast.model.cpts import build_cpts, prior_mean_network  # noqa: E402
from forecast.model.load import ModelSpec, parse_spec  # noqa: E402
from forecast.model.parameters import sample_parameters  # noqa: E402
from forecast.network.network import Network  # noqa: E402
from tables import Table, finish  # noqa: E402  (sibling module: the script's folder is on sys.path)

TARGET_COLD_IS = 10.0
TARGET_WARM_IS = 1.0
TARGET_MCSE = 0.005
TARGET_COLD_NUTS = 20.0
TARGET_RATIO = 100.0
NUTS_MODULE = "forecast.inference.pymc_model"
MARK = "BENCH_RESULT "
WORDS = ("almost no chance", "very unlikely", "unlikely", "roughly even chance", "likely",
         "very likely", "almost certain")
STRENGTHS = ("weak", "moderate", "strong", "very strong")


# ------------------------------------------------------------------------------- the model
def make_spec_yaml(n: int = 20, seed: int = 0) -> str:
    """Model-language YAML of a random binary network with uncertain logit CPTs."""
    rng = np.random.default_rng(seed)
    names = [f"x{i:02d}" for i in range(n)]
    nodes: dict[str, dict] = {}
    cited = False
    for i, name in enumerate(names):
        k = int(rng.integers(0, min(3, i) + 1))
        parents = [names[j] for j in sorted(rng.choice(i, size=k, replace=False))] if k else []
        effects = []
        for parent in parents:
            effect = {"parent": parent, "state": "yes",
                      "direction": str(rng.choice(["raises", "lowers"])),
                      "strength": str(rng.choice(STRENGTHS)), "assumption": "benchmark"}
            if not cited:
                effect["claims"] = ["C1"]
                cited = True
            effects.append(effect)
        node: dict = {"label": f"benchmark node {name}", "states": ["no", "yes"]}
        if parents:
            node["parents"] = parents
        node["definition"] = {"kind": "condition",
                              "states": {"no": f"{name} does not hold", "yes": f"{name} holds"}}
        node["cpt"] = {"logit": {
            "outcome": "yes",
            "baseline": {"prior": str(rng.choice(WORDS)), "assumption": "benchmark"},
            "effects": effects}}
        nodes[name] = node
    doc = {"model": {"name": f"bench_random_{n}", "title": f"Random {n}-node logit network",
                     "description": f"Generated by benchmarks/bench_bayes.py (seed {seed})."},
           "claims": {"C1": {"quote": "A benchmark claim, cited by the first effect.",
                             "paragraph": 1}},
           "nodes": nodes}
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


@dataclass
class Problem:
    """The spec, its findings and scenarios."""

    yaml_text: str
    spec: ModelSpec
    evidence: dict[str, str]
    evidence2: dict[str, str]
    scenario: list[str]
    history: list[dict[str, str]]


def make_problem(n: int, seed: int, history_cases: int, findings: int = 3) -> Problem:
    text = make_spec_yaml(n, seed)
    spec = parse_spec(text, filename=f"<bench_random_{n}>")
    nodes = list(spec.states)
    children = {v: [c for c in nodes if v in spec.parents[c]] for v in nodes}
    leaves = [v for v in nodes if not children[v]]
    observed = (leaves[-3:] if len(leaves) >= 3 else
                [*leaves, *[v for v in reversed(nodes) if v not in leaves]][:3])
    observed = sorted(observed, key=nodes.index)
    rng = np.random.default_rng([seed, 1])
    x = prior_mean_network(spec).sample(1, rng)
    evidence = {v: spec.states[v][int(x[v][0])] for v in observed}
    first = observed[0]
    evidence2 = {**evidence, first: "yes" if evidence[first] == "no" else "no"}
    ancestors: set[str] = set()
    stack = list(observed)
    while stack:
        for p in spec.parents[stack.pop()]:
            if p not in ancestors:
                ancestors.add(p)
                stack.append(p)
    pool = [v for v in reversed(nodes) if v in ancestors and v not in evidence]
    pool += [v for v in reversed(nodes) if v not in pool and v not in evidence]
    scenario = sorted(pool[:3], key=nodes.index)
    # history: joint samples of one network drawn from the prior, a few findings each
    rng = np.random.default_rng([seed, 2])
    theta = build_cpts(spec, sample_parameters(spec, 1, rng))
    truth = Network(spec.states, spec.parents, {v: t[0] for v, t in theta.items()})
    joint = truth.sample(history_cases, rng)
    late = nodes[len(nodes) // 2:]
    history = []
    for c in range(history_cases):
        seen = sorted(rng.choice(len(late), size=min(findings, len(late)), replace=False))
        history.append({late[i]: spec.states[late[i]][int(joint[late[i]][c])] for i in seen})
    return Problem(text, spec, evidence, evidence2, scenario, history)


# -------------------------------------------------------------------------- child processes
_PRELUDE = r'''
import time
E0, T0 = time.time(), time.perf_counter()
import json, sys, warnings
warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing a major refactor",
                        category=FutureWarning)
payload = json.loads(sys.stdin.read())
times = {}
t = time.perf_counter()
import numpy, scipy.special, scipy.stats, pandas
times["import numpy, scipy, pandas"] = time.perf_counter() - t
t = time.perf_counter()
import xarray, arviz as az
times["import xarray, arviz"] = time.perf_counter() - t
'''

IMPORTANCE_CHILD = _PRELUDE + r'''
t = time.perf_counter()
from forecast.evidence.case import Case
from forecast.inference.importance import importance_forecast
from forecast.model.load import parse_spec
times["import forecast"] = time.perf_counter() - t
t = time.perf_counter()
spec = parse_spec(payload["spec"])
times["parse spec"] = time.perf_counter() - t


def run(evidence, seed, history=()):
    t = time.perf_counter()
    f = importance_forecast(spec, Case(evidence), history=[Case(h) for h in history],
                            seed=seed)
    seconds = time.perf_counter() - t
    d = f.attrs["diagnostics"]
    s = f.summary
    scen = {}
    for node in payload["scenario"]:
        row = s[(s["node"] == node) & (s["state"] == "yes")].iloc[0]
        sd = float(f.probability(node, "yes").std())
        scen[node] = {"mean": float(row["mean"]), "mcse": float(row["mcse"]), "sd": sd,
                      "hdi": [float(row["hdi_5%"]), float(row["hdi_95%"])]}
    return {"seconds": seconds, "draws": int(d["draws"]), "khat": float(d["khat"]),
            "ess": float(d["ess"]), "max_mcse": float(s["mcse"].max()),
            "publishable": bool(f.publishable), "failed": d["failed"], "scenario": scen}


cold = run(payload["evidence"], payload["seed"])
times["importance_forecast"] = cold["seconds"]
E_ready = time.time()
warm = run(payload["evidence2"], payload["seed"] + 1)
cases10 = run(payload["evidence"], payload["seed"], payload["history"])
print("BENCH_RESULT " + json.dumps({"times": times, "E0": E0, "E_ready": E_ready, "cold": cold,
                                    "warm": warm, "cases10": cases10}), flush=True)
'''

NUTS_CHILD = _PRELUDE + r'''
import importlib
import numpy as np
t = time.perf_counter()
try:
    module = importlib.import_module(payload["module"])
except ImportError as exc:
    print("BENCH_RESULT " + json.dumps({"status": f"not available yet ({exc})"}), flush=True)
    raise SystemExit(0)
from forecast.evidence.case import Case
from forecast.model.cpts import build_cpts
from forecast.model.parameters import parameters
from forecast.network.exact import ExactEngine
from forecast.network.network import Network
from forecast.model.load import parse_spec
times["import forecast + sampler module"] = time.perf_counter() - t
t = time.perf_counter()
spec = parse_spec(payload["spec"])
cases = [Case(e) for e in payload["cases"]]
times["parse spec"] = time.perf_counter() - t
t = time.perf_counter()
idata = module.sample_nuts(spec, cases, draws=payload["draws"], tune=payload["tune"],
                           chains=payload["chains"], seed=payload["seed"])
times["sample_nuts (compile + sample)"] = time.perf_counter() - t
t = time.perf_counter()
post = idata.posterior
chains, draws = post.sizes["chain"], post.sizes["draw"]


def draws_of(p):
    """The posterior draws of parameter p, shape (chains * draws, *p.shape)."""
    if p.name in post:
        v = post[p.name].values
    elif "theta" in post and "parameter" in post["theta"].dims:
        v = post["theta"].sel(parameter=p.name).values
    else:
        names = [n for n in post.data_vars if n.replace(".", "_").replace("=", "_")
                 == p.name.replace(".", "_").replace("=", "_")]
        if not names:
            raise KeyError(f"no posterior variable for parameter {p.name!r}; posterior has "
                           f"{list(post.data_vars)[:8]}...")
        v = post[names[0]].values
    return np.asarray(v, dtype=float).reshape(chains * draws, *p.shape)


params = parameters(spec)
values = {p.name: (np.asarray(p.prior.mean, dtype=float) if p.fixed else draws_of(p))
          for p in params}
cpts = build_cpts(spec, values, params=params)
uniform = {n: np.full((*(spec.card(q) for q in spec.parents[n]), spec.card(n)),
                      1.0 / spec.card(n)) for n in spec.states}
engine = ExactEngine(Network(spec.states, spec.parents, uniform))
q = engine.query(cases[0].evidence, cpts=cpts)
scen = {}
for node in payload["scenario"]:
    x = q.marginals[node][:, spec.states[node].index("yes")].reshape(chains, draws)
    scen[node] = {"mean": float(x.mean()), "ess": float(az.ess(x)),
                  "mcse": float(numpy.ravel(az.mcse(x))[0]), "sd": float(x.std())}
times["scenario probabilities + ESS"] = time.perf_counter() - t
stats = idata.get("sample_stats")
divergences = (int(stats["diverging"].sum()) if stats is not None and "diverging" in stats
               else None)
rhat = az.rhat(idata.posterior)
max_rhat = float(max(float(np.nanmax(rhat[v].values)) for v in rhat.data_vars))
E_ready = time.time()
print("BENCH_RESULT " + json.dumps({
    "status": "ok", "times": times, "E0": E0, "E_ready": E_ready, "chains": chains, "draws": draws,
    "sampling": post.attrs.get("sampling_time"),
    "divergences": divergences, "max_rhat": max_rhat, "scenario": scen}), flush=True)
'''

PYMC_CHILD = _PRELUDE + r'''
import logging
t = time.perf_counter()
import pymc as pm
import pytensor
from forecast.model.parameters import parameters
from forecast.model.load import parse_spec
times["import pymc, forecast"] = time.perf_counter() - t


class Keep(logging.Handler):
    lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


logging.getLogger("pymc").addHandler(Keep())
t = time.perf_counter()
spec = parse_spec(payload["spec"])
prior = {p.name: p.prior.params() for p in parameters(spec)}
evidence = payload["evidence"]
with pm.Model() as model:
    x = {}
    for node in spec.states:
        eta = pm.math.logit(pm.Beta(f"{node}.baseline", **prior[f"{node}.baseline"]))
        for parent in spec.parents[node]:
            name = f"{node}.effect.{parent}=yes"
            q = prior[name]
            eta = eta + q["sign"] * pm.LogNormal(name, mu=q["mu"], sigma=q["sigma"]) * x[parent]
        observed = int(evidence[node] == "yes") if node in evidence else None
        x[node] = pm.Bernoulli(node, p=pm.math.sigmoid(eta), observed=observed)
times["build model"] = time.perf_counter() - t
t = time.perf_counter()
with model:
    idata = pm.sample(draws=payload["draws"], tune=payload["tune"], chains=payload["chains"],
                      cores=payload["cores"], random_seed=payload["seed"], progressbar=False)
times["pm.sample"] = time.perf_counter() - t
sampling = float(idata.posterior.attrs["sampling_time"])
t = time.perf_counter()
scen = {}
for node in payload["scenario"]:
    v = idata.posterior[node].values.astype(float)
    scen[node] = {"mean": float(v.mean()), "ess": float(az.ess(v)),
                  "mcse": float(numpy.ravel(az.mcse(v))[0]), "rhat": float(az.rhat(v))}
times["ESS"] = time.perf_counter() - t
steps = [line.strip() for m in Keep.lines for line in m.splitlines()
         if line.strip().startswith(">")]
steps = [s.split(":")[0].lstrip(">") + f" ({s.count(',') + 1} variables)" for s in steps]
stats = idata.sample_stats
E_ready = time.time()
print("BENCH_RESULT " + json.dumps({
    "status": "ok", "times": times, "E0": E0, "E_ready": E_ready, "sampling": sampling,
    "draws": int(idata.posterior.sizes["draw"]), "chains": int(idata.posterior.sizes["chain"]),
    "divergences": int(stats["diverging"].sum()) if "diverging" in stats else None,
    "steps": steps, "blas": pytensor.config.blas__ldflags, "scenario": scen}), flush=True)
'''


@dataclass
class ChildRun:
    """A child process: its wall time to exit, its JSON result, and when it started."""

    wall: float
    result: dict
    returncode: int
    stderr: str
    spawned: float = 0.0  # time.time() just before the process was started

    @property
    def ready(self) -> float | None:
        """Seconds from spawning the process to its result (interpreter exit excluded)."""
        return self.result["E_ready"] - self.spawned if "E_ready" in self.result else None

    @property
    def startup(self) -> float | None:
        """Seconds from spawning the process to its first line of code."""
        return self.result["E0"] - self.spawned if "E0" in self.result else None


def run_child(code: str, payload: Mapping, timeout: float,
              compiledir: Path | None = None) -> ChildRun:
    """Run `code` with ``python -c`` in a fresh process; its JSON result and wall time."""
    env = dict(os.environ)
    if compiledir is not None:
        flags = env.get("PYTENSOR_FLAGS", "")
        env["PYTENSOR_FLAGS"] = ",".join(f for f in (flags, f"compiledir={compiledir}") if f)
    spawned, t0 = time.time(), time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", code], input=json.dumps(payload),
                              capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        return ChildRun(time.perf_counter() - t0, {"status": f"timeout after {timeout:.0f} s"},
                        -1, str(exc.stderr or ""), spawned)
    wall = time.perf_counter() - t0
    lines = [x for x in proc.stdout.splitlines() if x.startswith(MARK)]
    if lines:
        result = json.loads(lines[-1][len(MARK):])
    else:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        result = {"status": f"error (exit {proc.returncode}): {tail[0][:200]}"}
    return ChildRun(wall, result, proc.returncode, proc.stderr, spawned)


def warning_lines(stderr: str) -> list[str]:
    """Distinct warnings a child printed, as ``Category: message`` (shortened)."""
    seen: dict[str, None] = {}
    for line in stderr.splitlines():
        match = re.search(r"\b(\w*Warning): (.*)", line)
        if match:
            seen[f"{match[1]}: {match[2].strip()[:120]}"] = None
    return list(seen)


# ---------------------------------------------------------------------------------- output
def fmt_s(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def fmt_n(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x:.3g}" if x < 100 else f"{x:,.0f}"


def fmt_ratio(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x:.2f}×" if x < 10 else f"{x:.1f}×" if x < 100 else f"{x:,.0f}×"


def fmt_p(x: float | None) -> str:
    return "—" if x is None else f"{x:.4f}"


def check(ok: bool | None) -> str:
    return "—" if ok is None else "yes" if ok else "NO"


def environment() -> list[str]:
    def version(pkg: str) -> str:
        try:
            return importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    threads = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                           "MKL_NUM_THREADS") if k in os.environ}
    pkgs = ("forecast", "numpy", "scipy", "xarray", "arviz", "pymc", "pytensor", "nutpie")
    return [
        f"python {platform.python_version()} on {platform.platform()}",
        f"CPUs: os.cpu_count()={os.cpu_count()}, usable={affinity}"
        + (f", {threads}" if threads else ""),
        ", ".join(f"{p} {version(p)}" for p in pkgs),
        f"{NUTS_MODULE}: "
        + ("present" if importlib.util.find_spec(NUTS_MODULE) else "not available yet"),
        "load average (1, 5, 15 min) at start: "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    ]


# ------------------------------------------------------------------------------------ parts
def compile_dir(args: argparse.Namespace, workdir: Path, what: str) -> tuple[Path, list[str]]:
    """The PyTensor compile directory of a sampler's children, and the labels of its runs.

    A full run uses a new directory (removed at the end): an empty-cache run, then a
    warm-cache run. ``--quick`` does one run in a directory kept between quick runs.
    """
    if not args.quick:
        path = workdir / f"pytensor-{what}"
        path.mkdir()
        return path, ["empty", "warm"]
    path = Path(tempfile.gettempdir()) / f"bench_bayes_pytensor_{what}"
    warm = path.is_dir() and any(path.iterdir())
    path.mkdir(exist_ok=True)
    return path, ["warm (kept)" if warm else "empty"]


def importance_part(args: argparse.Namespace, prob: Problem) -> tuple[Table, dict, list[str]]:
    payload = {"spec": prob.yaml_text, "evidence": prob.evidence, "evidence2": prob.evidence2,
               "scenario": prob.scenario, "history": prob.history, "seed": args.seed}
    run = run_child(IMPORTANCE_CHILD, payload, args.timeout)
    r = run.result
    flags = [f"importance child warned: {w}" for w in warning_lines(run.stderr)]
    table = Table("1 — Importance path: one case, 3 findings "
                  f"(targets: cold ≤ {TARGET_COLD_IS:g} s, warm ≤ {TARGET_WARM_IS:g} s, "
                  f"MCSE ≤ {TARGET_MCSE})",
                  ["run", "evidence", "wall s", "time ok", "draws", "k̂", "ESS (Kish)",
                   "ESS/s", "max MCSE (all reported)", "max MCSE (scenarios)", "MCSE ok",
                   "publishable"])
    if "cold" not in r:
        table.rows.append(["cold", "—", fmt_s(run.wall), "—", *["—"] * 7, r.get("status", "?")])
        return table, {"cold_wall": None}, flags

    def row(name: str, ev: Mapping[str, str], wall: float, target: float | None,
            d: Mapping) -> list[str]:
        scen_mcse = max(s["mcse"] for s in d["scenario"].values())
        return [name, ", ".join(f"{k}={v}" for k, v in ev.items()), fmt_s(wall),
                check(None if target is None else wall <= target), f"{d['draws']:,}",
                f"{d['khat']:.2f}", fmt_n(d["ess"]), fmt_n(d["ess"] / wall),
                f"{d['max_mcse']:.5f}", f"{scen_mcse:.5f}",
                check(d["max_mcse"] <= TARGET_MCSE), check(d["publishable"])]

    cold = run.ready
    table.rows.append(row("cold (fresh process)", prob.evidence, cold, TARGET_COLD_IS,
                          r["cold"]))
    table.rows.append(row("  forecast call only", prob.evidence, r["cold"]["seconds"], None,
                          r["cold"]))
    table.rows.append(row("warm (same process)", prob.evidence2, r["warm"]["seconds"],
                          TARGET_WARM_IS, r["warm"]))
    breakdown = {"python start": run.startup, **r["times"]}
    table.notes.append("cold = from spawning `python -c` to the forecast in hand (interpreter "
                       "exit not counted); breakdown (s): " + ", ".join(
                           f"{k} {v:.2f}" for k, v in breakdown.items()))
    table.notes.append("ESS/s of the cold row is over the whole cold time; of the other rows "
                       "over the importance_forecast call.")
    return table, {"run": run, "r": r, "cold_wall": cold}, flags


def nuts_part(args: argparse.Namespace, prob: Problem, workdir: Path,
              is_result: Mapping | None) -> tuple[Table, dict, list[str]]:
    table = Table(f"2 — NUTS path: {1 + len(prob.history)} shared-parameter cases "
                  f"(target: cold ≤ {TARGET_COLD_NUTS:g} s including compilation)",
                  ["run", "compile cache", "wall s", "time ok", "sample_nuts s",
                   "sampling only s", "chains × draws",
                   "max R-hat", "divergences", "min scenario ESS", "ESS/s (process)",
                   "ESS/s (sampling only)", "max MCSE", "k̂"])
    flags: list[str] = []
    info: dict = {"runs": []}
    available = importlib.util.find_spec(args.nuts_module) is not None
    if not available:
        table.rows.append(["NUTS (sample_nuts)", *["—"] * 13])
        table.notes.append(f"{args.nuts_module} not available yet: NUTS column not measured.")
    else:
        compiledir, labels = compile_dir(args, workdir, "nuts")
        payload = {"spec": prob.yaml_text, "cases": [prob.evidence, *prob.history],
                   "scenario": prob.scenario, "draws": args.nuts_draws, "tune": args.nuts_tune,
                   "chains": args.chains, "seed": args.seed, "module": args.nuts_module}
        for label in labels:
            run = run_child(NUTS_CHILD, payload, args.timeout, compiledir)
            flags += [f"NUTS child ({label} cache) warned: {w}"
                      for w in warning_lines(run.stderr)]
            r = run.result
            info["runs"].append((label, run))
            if r.get("status") != "ok":
                table.rows.append([f"NUTS ({r.get('status')})", label, fmt_s(run.wall),
                                   *["—"] * 11])
                if r.get("status", "").startswith("not available"):
                    break
                continue
            sampler = r["times"]["sample_nuts (compile + sample)"]
            ess = min(s["ess"] for s in r["scenario"].values())
            mcse = max(s["mcse"] for s in r["scenario"].values())
            table.rows.append([
                "NUTS (sample_nuts)", label, fmt_s(run.ready),
                check(run.ready <= TARGET_COLD_NUTS), fmt_s(sampler), fmt_s(r["sampling"]),
                f"{r['chains']} × {r['draws']}", f"{r['max_rhat']:.3f}",
                "—" if r["divergences"] is None else str(r["divergences"]), fmt_n(ess),
                fmt_n(ess / run.ready), fmt_n(ess / (r["sampling"] or sampler)),
                f"{mcse:.5f}", "—"])
            info["result"] = r
            table.notes.append(f"NUTS, {label} compile cache, breakdown (s): python start "
                               f"{run.startup:.2f}, " + ", ".join(
                                   f"{k} {v:.2f}" for k, v in r["times"].items())
                               + f"; process exit {run.wall - run.ready:.2f} (not counted)")
        if "result" in info:
            table.notes.append("NUTS scenarios P(·=yes | all cases): " + "; ".join(
                f"{n} {s['mean']:.4f} ± {s['mcse']:.2g} (ESS {s['ess']:.0f})"
                for n, s in info["result"]["scenario"].items()))
            if is_result is not None:
                z = {n: abs(s["mean"] - is_result["scenario"][n]["mean"])
                     / math.hypot(s["mcse"], is_result["scenario"][n]["mcse"])
                     for n, s in info["result"]["scenario"].items()}
                info["agree"] = max(z.values()) <= 4
                table.notes.append("NUTS against importance on the same cases, |Δ| / combined "
                                   "MCSE: " + ", ".join(f"{n} {v:.2f}" for n, v in z.items())
                                   + (" (agree)" if info["agree"] else " (DISAGREE: > 4)"))
    if is_result is not None:
        d = is_result
        mcse = max(s["mcse"] for s in d["scenario"].values())
        ess = min(s["sd"] ** 2 / s["mcse"] ** 2 for s in d["scenario"].values())
        table.rows.append(["importance, same cases", "—", "—", "—", "—", fmt_s(d["seconds"]),
                           f"{d['draws']:,} draws", "—", "—", fmt_n(ess), "—",
                           fmt_n(ess / d["seconds"]), f"{mcse:.5f}", f"{d['khat']:.2f}"])
        table.notes.append(f"importance on the same cases (run warm in the importance child): "
                           f"Kish ESS {d['ess']:,.0f} of {d['draws']:,} draws, "
                           + ("publishable" if d["publishable"] else
                              "not publishable: " + "; ".join(d["failed"]))
                           + "; its scenario ESS is var(P(S | e, θ)) / MCSE².")
    return table, info, flags


def pymc_part(args: argparse.Namespace, prob: Problem,
              workdir: Path) -> tuple[Table, dict, list[str]]:
    compiledir, labels = compile_dir(args, workdir, "pymc")
    payload = {"spec": prob.yaml_text, "evidence": prob.evidence, "scenario": prob.scenario,
               "chains": args.chains, "cores": args.cores, "seed": args.seed}
    plan = ([(labels[0], args.pymc_draws, args.pymc_tune)] if args.quick else
            [("empty", args.prime_draws, args.prime_draws),
             ("warm", args.pymc_draws, args.pymc_tune)])
    table = Table("3 — PyMC default model: Bernoulli nodes, BinaryGibbsMetropolis + NUTS, "
                  "one case, 3 findings",
                  ["run", "compile cache", "wall s", "import s", "pm.sample s",
                   "sampling only s", "compile + init s", "chains × (tune + draws)",
                   "divergences", "max R-hat (scenarios)", "min scenario ESS"])
    flags: list[str] = []
    info: dict = {}
    for label, draws, tune in plan:
        run = run_child(PYMC_CHILD, {**payload, "draws": draws, "tune": tune}, args.timeout,
                        compiledir)
        r = run.result
        flags += [f"PyMC child ({label} cache) warned: {w}" for w in warning_lines(run.stderr)]
        if r.get("status") != "ok":
            table.rows.append(["PyMC default", label, fmt_s(run.wall), r.get("status", "?"),
                               *["—"] * 7])
            continue
        t = r["times"]
        table.rows.append([
            "PyMC default", label, fmt_s(run.ready), fmt_s(t["import pymc, forecast"]),
            fmt_s(t["pm.sample"]), fmt_s(r["sampling"]), fmt_s(t["pm.sample"] - r["sampling"]),
            f"{r['chains']} × ({tune} + {r['draws']})",
            "—" if r["divergences"] is None else str(r["divergences"]),
            f"{max(s['rhat'] for s in r['scenario'].values()):.3f}",
            fmt_n(min(s["ess"] for s in r["scenario"].values()))])
        info["result"], info["run"], info["label"] = r, run, label
        info["cores"] = args.cores
        table.notes.append(f"PyMC default, {label} compile cache, breakdown (s): python start "
                           f"{run.startup:.2f}, " + ", ".join(
                               f"{k} {v:.2f}" for k, v in t.items())
                           + f"; process exit {run.wall - run.ready:.2f} (not counted)")
    if "result" in info:
        r = info["result"]
        table.notes.append("step methods: " + "; ".join(r["steps"]))
        table.notes.append(f"PyTensor BLAS ldflags: {r['blas']!r}"
                           + (" (none: PyTensor's BLAS ops fall back to Python/NumPy)"
                              if not r["blas"] else ""))
        table.notes.append("compile + init = pm.sample minus PyMC's sampling_time: compilation, "
                           "step assignment, starting the worker processes, convergence checks.")
        if not args.quick:
            table.notes.append(f"the empty-cache run uses {args.prime_draws} tune + "
                               f"{args.prime_draws} draws (it measures compilation); the "
                               "warm-cache run is the reference for every ratio.")
    return table, info, flags


def scenario_part(prob: Problem, is_info: Mapping,
                  pm_info: Mapping) -> tuple[Table, list[tuple[str, str, str, bool | None]]]:
    table = Table("4 — Scenarios P(node = yes | e): ours (importance) against the PyMC "
                  f"default (target: ESS/s ratio ≥ {TARGET_RATIO:g}×)",
                  ["node", "ours", "PyMC default", "|Δ| / combined MCSE", "agree (≤ 4)",
                   "ours ESS", "PyMC ESS", "ours ESS/s (forecast call)",
                   "PyMC ESS/s (sampling)", "ratio", "ours ESS/s (cold process)",
                   "PyMC ESS/s (cold process)", "ratio (cold)", "equal-MCSE speed-up"])
    targets: list[tuple[str, str, str, bool | None]] = []
    if "r" not in is_info or "result" not in pm_info:
        table.notes.append("missing results: nothing to compare")
        return table, targets
    ours, call = is_info["r"]["cold"], is_info["r"]["cold"]["seconds"]
    cold_ours = is_info["cold_wall"]
    pm_r = pm_info["result"]
    sampling, cold_pm = pm_r["sampling"], pm_info["run"].ready
    ratios, cold_ratios, agree_all = [], [], True
    for node in prob.scenario:
        o, p = ours["scenario"][node], pm_r["scenario"][node]
        ess_o = o["sd"] ** 2 / o["mcse"] ** 2 if o["mcse"] > 0 else math.inf
        z = abs(o["mean"] - p["mean"]) / math.hypot(o["mcse"], p["mcse"])
        agree = z <= 4
        agree_all &= agree
        ratio = (ess_o / call) / (p["ess"] / sampling)
        cold_ratio = (ess_o / cold_ours) / (p["ess"] / cold_pm)
        speedup = (sampling * p["mcse"] ** 2) / (call * o["mcse"] ** 2)
        ratios.append(ratio)
        cold_ratios.append(cold_ratio)
        table.rows.append([
            node, f"{o['mean']:.4f} ± {o['mcse']:.2g}", f"{p['mean']:.4f} ± {p['mcse']:.2g}",
            f"{z:.2f}", check(agree), fmt_n(ess_o), fmt_n(p["ess"]), fmt_n(ess_o / call),
            fmt_n(p["ess"] / sampling), fmt_ratio(ratio), fmt_n(ess_o / cold_ours),
            fmt_n(p["ess"] / cold_pm), fmt_ratio(cold_ratio), fmt_ratio(speedup)])
    table.notes += [
        "ours ESS per scenario = var(P(S=yes | e, θ)) / MCSE² (weighted over the importance "
        "draws); PyMC ESS = arviz ESS of the sampled 0/1 indicator. Estimates are mean ± MCSE.",
        "ratio: ESS/s of our importance_forecast call ÷ ESS/s of PyMC's sampling only (no "
        "compilation on either side); ratio (cold): both over the whole fresh process.",
        "equal-MCSE speed-up: (PyMC sampling s × PyMC MCSE²) ÷ (our call s × our MCSE²), the "
        "time ratio to reach the same MCSE, independent of how ESS is normalised.",
        f"PyMC runs its {pm_r['chains']} chains in parallel (cores={pm_info['cores']}); "
        "wall-clock ESS/s, so it gets the parallel speed-up. The PyMC times are from its "
        f"{pm_info['label']}-compile-cache run.",
        f"time ratios: PyMC cold process {fmt_s(cold_pm)} s ÷ ours {fmt_s(cold_ours)} s = "
        f"{fmt_ratio(cold_pm / cold_ours)}; PyMC sampling only {fmt_s(sampling)} s ÷ our "
        f"forecast call {fmt_s(call)} s = {fmt_ratio(sampling / call)}.",
    ]
    targets.append(("ESS/s ratio vs PyMC default (forecast call vs sampling only, min over "
                    "scenarios)", f"≥ {TARGET_RATIO:g}×", fmt_ratio(min(ratios)),
                    min(ratios) >= TARGET_RATIO))
    targets.append(("ESS/s ratio vs PyMC default (cold processes, min over scenarios)",
                    f"≥ {TARGET_RATIO:g}×", fmt_ratio(min(cold_ratios)),
                    min(cold_ratios) >= TARGET_RATIO))
    targets.append(("ours and PyMC default agree on every scenario", "|Δ| ≤ 4 MCSE",
                    "yes" if agree_all else "NO", agree_all))
    return table, targets


def targets_table(is_info: Mapping, nuts_info: Mapping,
                  more: Sequence[tuple[str, str, str, bool | None]]) -> Table:
    table = Table("Targets", ["target", "wanted", "measured", "met"])
    if "r" in is_info:
        r = is_info["r"]
        table.rows.append(["importance cold (fresh process)", f"≤ {TARGET_COLD_IS:g} s",
                           fmt_s(is_info["cold_wall"]) + " s",
                           check(is_info["cold_wall"] <= TARGET_COLD_IS)])
        table.rows.append(["importance warm (second forecast)", f"≤ {TARGET_WARM_IS:g} s",
                           fmt_s(r["warm"]["seconds"]) + " s",
                           check(r["warm"]["seconds"] <= TARGET_WARM_IS)])
        worst = max(r["cold"]["max_mcse"], r["warm"]["max_mcse"])
        table.rows.append(["MCSE of every reported probability (importance)",
                           f"≤ {TARGET_MCSE}", f"{worst:.5f}", check(worst <= TARGET_MCSE)])
    nuts_runs = [(label, run) for label, run in nuts_info.get("runs", [])
                 if run.result.get("status") == "ok"]
    if nuts_runs:
        for label, run in nuts_runs:
            table.rows.append([f"NUTS cold, 10 cases ({label} compile cache)",
                               f"≤ {TARGET_COLD_NUTS:g} s", fmt_s(run.ready) + " s",
                               check(run.ready <= TARGET_COLD_NUTS)])
        mcse = max(s["mcse"] for s in nuts_runs[-1][1].result["scenario"].values())
        table.rows.append(["MCSE of the scenarios (NUTS)", f"≤ {TARGET_MCSE}", f"{mcse:.5f}",
                           check(mcse <= TARGET_MCSE)])
        if "agree" in nuts_info:
            table.rows.append(["NUTS and importance agree on the same cases", "|Δ| ≤ 4 MCSE",
                               "yes" if nuts_info["agree"] else "NO",
                               check(nuts_info["agree"])])
    else:
        status = next((run.result.get("status") for _, run in nuts_info.get("runs", [])),
                      "not available yet")
        table.rows.append(["NUTS cold, 10 cases", f"≤ {TARGET_COLD_NUTS:g} s", status, "—"])
    table.rows += [[a, b, c, check(d)] for a, b, c, d in more]
    return table


# --------------------------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--nodes", type=int, default=20)
    p.add_argument("--seed", type=int, default=2015, help="network, evidence and samplers")
    p.add_argument("--history", type=int, default=9,
                   help="history cases of the NUTS path (plus the target case)")
    p.add_argument("--history-findings", type=int, default=3,
                   help="hard findings per history case, on random nodes of the later half")
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--cores", type=int, default=2, help="cores of the PyMC default model")
    p.add_argument("--nuts-draws", type=int, default=1000)
    p.add_argument("--nuts-tune", type=int, default=1000)
    p.add_argument("--pymc-draws", type=int, default=1000)
    p.add_argument("--pymc-tune", type=int, default=1000)
    p.add_argument("--prime-draws", type=int, default=100,
                   help="tune and draws of the PyMC run that measures an empty compile cache")
    p.add_argument("--parts", nargs="+", choices=("importance", "nuts", "pymc"),
                   default=["importance", "nuts", "pymc"])
    p.add_argument("--nuts-module", default=NUTS_MODULE, help=argparse.SUPPRESS)
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per child process")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 200 tune + 200 draws, one run per sampler")
    p.add_argument("--markdown", type=Path, metavar="FILE", help="also write the tables here")
    args = p.parse_args(argv)
    if args.quick:
        args.nuts_draws = args.nuts_tune = args.pymc_draws = args.pymc_tune = 200
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    env = environment()
    print("Environment")
    for line in env:
        print("  " + line)
    prob = make_problem(args.nodes, args.seed, args.history, args.history_findings)
    edges = sum(len(v) for v in prob.spec.parents.values())
    setup = [
        f"network: {args.nodes} binary nodes, {edges} edges, "
        f"{sum(1 for _ in prob.spec.states)} logit CPTs (seed {args.seed})",
        "evidence: " + ", ".join(f"{k}={v}" for k, v in prob.evidence.items())
        + "; warm update: " + ", ".join(f"{k}={v}" for k, v in prob.evidence2.items()),
        "scenarios: P(· = yes | e) of " + ", ".join(prob.scenario),
        f"NUTS cases: the target + {len(prob.history)} history cases of "
        f"{len(prob.history[0]) if prob.history else 0} findings each",
    ]
    for line in setup:
        print("  " + line)
    print(flush=True)
    tables: list[Table] = []
    flags: list[str] = []
    is_info: dict = {}
    nuts_info: dict = {}
    pm_info: dict = {}
    workdir = Path(tempfile.mkdtemp(prefix="bench_bayes_"))
    try:
        if "importance" in args.parts:
            print("Running the importance path ...", flush=True)
            table, is_info, more = importance_part(args, prob)
            tables.append(table)
            flags += more
            print("\n" + table.text() + "\n", flush=True)
        if "nuts" in args.parts:
            print("Running the NUTS path ...", flush=True)
            cases10 = is_info.get("r", {}).get("cases10")
            table, nuts_info, more = nuts_part(args, prob, workdir, cases10)
            tables.append(table)
            flags += more
            print("\n" + table.text() + "\n", flush=True)
        if "pymc" in args.parts:
            print("Running the PyMC default model ...", flush=True)
            table, pm_info, more = pymc_part(args, prob, workdir)
            tables.append(table)
            flags += more
            print("\n" + table.text() + "\n", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    table, more_targets = scenario_part(prob, is_info, pm_info)
    if table.rows:
        tables.append(table)
        print(table.text() + "\n")
    summary = targets_table(is_info, nuts_info, more_targets)
    tables.append(summary)
    print(summary.text() + "\n")
    return finish("Bayesian engine benchmark", "bench_bayes.py", [*env, *setup], tables, flags,
                  args.markdown)


if __name__ == "__main__":
    raise SystemExit(main())
