"""Scoring the flagship on its example questions: the scores, and what the command costs.

``forecast score`` forecasts each distinct as-of date of the questions with the ledger (through
``forecast.ops.replay.forecast_dates``) and without evidence, then scores: by default on the
dynamic model (one pass over the record), and with ``--snapshot`` as the first edition did
(each date apart, on a process pool of two). Both are timed as a cold command (a fresh process,
imports included), and their scores are the question-level "before and after".

    python benchmarks/bench_scoring.py [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from tables import Table, finish  # sibling module: the script's folder is on sys.path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "isis_pakistan_2015.yaml"
LEDGER = ROOT / "data" / "isis_pakistan_ledger.csv"
QUESTIONS = ROOT / "data" / "isis_pakistan_questions.csv"


def cold(extra: list[str]) -> tuple[float, dict]:
    """Wall time of a fresh ``forecast score ... --json`` process, and its output."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "forecast.cli", "score", str(MODEL), "--questions",
         str(QUESTIONS), "--ledger", str(LEDGER), "--json", *extra],
        capture_output=True, text=True, check=False)
    if done.returncode not in (0, 3):  # 3: some forecast failed its diagnostics, still scored
        raise SystemExit(done.stderr)
    return time.perf_counter() - start, json.loads(done.stdout)


RUNS = {"dynamic (default)": [], "--snapshot (first edition)": ["--snapshot", "--workers", "2"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--markdown", type=Path, metavar="FILE", help="also write the tables here")
    args = p.parse_args(argv)
    env = [f"python {platform.python_version()}, CPUs {os.cpu_count()}",
           f"model {MODEL.relative_to(ROOT)}, ledger {LEDGER.relative_to(ROOT)}, "
           f"questions {QUESTIONS.relative_to(ROOT)}"]
    print("\n".join(env), "\n")

    import pandas as pd

    from forecast.analysis.metrics import evaluate

    timing = Table("forecast score, cold (fresh process, imports included)",
                   ["semantics", "questions", "as-of dates", "wall s"])
    scores = Table("Scores on the example questions (seed 0): the dynamic model against the "
                   "snapshot it replaces", ["semantics", "forecaster", "n", "Brier", "log",
                                            "skill vs uniform", "skill vs no evidence"])
    for name, extra in RUNS.items():
        wall, out = cold(extra)
        dates = len(out["attrs"]["as_of"])
        timing.rows.append([name, str(len(out["questions"])), str(dates), f"{wall:.1f}"])
        table = pd.DataFrame(out["questions"])
        result = evaluate(table)
        for row in result.scores.to_dict("records"):
            scores.rows.append([name, row["forecaster"], str(row["n"]), f"{row['brier']:.3f}",
                                f"{row['log']:.3f}", f"{row['skill_vs_uniform']:+.3f}",
                                f"{row['skill_vs_no_evidence']:+.3f}"])
        for part_name in ("event", "condition"):
            part = table[table["kind"] == part_name]
            part_scores = evaluate(part).scores.set_index("forecaster")["brier"]
            scores.notes.append(f"{name}: Brier on {len(part)} {part_name}s: " + ", ".join(
                f"{k} {v:.3f}" for k, v in part_scores.items()))
    print(timing.text(), "\n")
    print(scores.text(), "\n")
    return finish("Scoring benchmark", "bench_scoring.py", env, [timing, scores], [],
                  args.markdown)


if __name__ == "__main__":
    raise SystemExit(main())
