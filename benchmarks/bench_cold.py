"""Benchmark the command line's cold start: CPU time of fresh processes, against named peers.

Run from the repository root::

    python benchmarks/bench_cold.py                       # ~1 min on 2 cores
    python benchmarks/bench_cold.py --repeats 11 --markdown benchmarks/RESULTS_COLD.md

What is measured
    Each command runs in a fresh Python process (``sys.executable``, the environment of this
    one, so ``PYTHONPATH`` chooses the source tree), its output discarded. The cost is the CPU
    time (user + system) the child used, from ``resource.getrusage(RUSAGE_CHILDREN)`` around
    the wait: imports dominate, and CPU time is less disturbed than wall time by a shared
    machine. Every command runs once untimed first (bytecode caches written), then
    ``--repeats`` times in rounds interleaved across the commands, so a slow moment of the
    machine falls on every command alike; the table gives the median and the minimum.

    * ``import yaml, pydantic`` — the peer of ``forecast --help`` and ``forecast validate``:
      what reading a model file must import at the least (target: within 3x).
    * ``forecast --help`` — ``python -m forecast.cli --help``.
    * ``forecast validate`` — the flagship model file ``models/afghan_caliphate.yaml``.
    * ``forecast query`` — all marginals of bnlearn's ALARM network (37 nodes, read from a BIF
      file written by ``write_bif``) given ``HR=HIGH``, printed as a table.
    * ``pyAgrum query`` — the peer of ``forecast query``: the same BIF file, the same finding,
      ``LazyPropagation`` and every node's posterior printed, in a fresh process (target:
      within 5x).
    * ``python -c pass`` — the interpreter alone, for reference.

The ratio column divides a command's median by its peer's median measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tables import Table, finish

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "afghan_caliphate.yaml"
PEER_MODEL = "import yaml, pydantic"
FINDING = ("HR", "HIGH")

PYAGRUM_QUERY = """
import sys
import pyagrum as gum
bn = gum.loadBN(sys.argv[1])
ie = gum.LazyPropagation(bn)
ie.setEvidence({sys.argv[2]: sys.argv[3]})
ie.makeInference()
for name in bn.names():
    print(name, ie.posterior(name).tolist())
"""


def cpu_seconds(argv: Sequence[str]) -> float:
    """CPU time (user + system) of one child process running `argv` to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def commands(bif: Path) -> dict[str, tuple[list[str], str | None, float | None]]:
    """name -> (argv, peer's name, target ratio)."""
    py = sys.executable
    cli = [py, "-m", "forecast.cli"]
    node, state = FINDING
    return {
        "python -c pass": ([py, "-c", "pass"], None, None),
        f"python -c '{PEER_MODEL}'": ([py, "-c", PEER_MODEL], None, None),
        "forecast --help": ([*cli, "--help"], f"python -c '{PEER_MODEL}'", 3.0),
        "forecast validate MODEL": ([*cli, "validate", str(MODEL)],
                                    f"python -c '{PEER_MODEL}'", 3.0),
        "pyAgrum query (fresh process)": ([py, "-c", PYAGRUM_QUERY, str(bif), node, state],
                                          None, None),
        "forecast query NET.bif": ([*cli, "query", str(bif), "-e", f"{node}={state}"],
                                   "pyAgrum query (fresh process)", 5.0),
    }


def measure(cmds: dict[str, tuple[list[str], str | None, float | None]],
            repeats: int) -> dict[str, list[float]]:
    for argv, _, _ in cmds.values():  # untimed: bytecode caches, the disk cache
        cpu_seconds(argv)
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(repeats):
        for name, (argv, _, _) in cmds.items():
            times[name].append(cpu_seconds(argv))
    return times


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--repeats", type=int, default=7, help="timed runs of each command")
    p.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table here")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from forecast.network.bif import example_network, write_bif

    with tempfile.TemporaryDirectory() as tmp:
        bif = Path(tmp) / "alarm.bif"
        write_bif(example_network("alarm"), bif)
        cmds = commands(bif)
        times = measure(cmds, args.repeats)
    median = {name: statistics.median(t) for name, t in times.items()}
    table = Table(f"Cold start: CPU seconds of a fresh process (median of {args.repeats})",
                  ["command", "median s", "min s", "ratio to peer", "target", "met"])
    flags: list[str] = []
    for name, (_, peer, target) in cmds.items():
        ratio = median[name] / median[peer] if peer else None
        met = "" if ratio is None or target is None else ("yes" if ratio <= target else "NO")
        if met == "NO":
            flags.append(f"{name}: {ratio:.1f}x its peer, target {target:g}x")
        table.rows.append([name, f"{median[name]:.3f}", f"{min(times[name]):.3f}",
                           "" if ratio is None else f"{ratio:.2f}x ({peer})",
                           "" if target is None else f"<= {target:g}x", met])
    print(table.text())
    env = [f"python {platform.python_version()} on {platform.platform()}, "
           f"{os.cpu_count()} CPUs",
           "CPU time (user + system) of each child process, from getrusage(RUSAGE_CHILDREN)"]
    return finish("Cold start of the command line", "bench_cold.py", env, [table], flags,
                  args.markdown)


if __name__ == "__main__":
    sys.exit(main())
