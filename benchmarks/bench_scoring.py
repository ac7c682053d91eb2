"""Scoring the flagship on its example questions: the scores, and what the command costs.

``forecast score`` forecasts each distinct as-of date of the questions with the ledger (through
``forecast.ops.replay.replay_dates``) and once without evidence, then scores. Timed here: a cold
command (a fresh process, imports included) in-process (``--workers 1``) and on a process pool
of two, and the scoring arithmetic alone on the computed probabilities.

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


def cold(workers: int) -> tuple[float, dict]:
    """Wall time of a fresh ``forecast score ... --json`` process, and its output."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "forecast.cli", "score", str(MODEL), "--questions",
         str(QUESTIONS), "--ledger", str(LEDGER), "--workers", str(workers), "--json"],
        capture_output=True, text=True, check=True)
    return time.perf_counter() - start, json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--markdown", type=Path, metavar="FILE", help="also write the tables here")
    args = p.parse_args(argv)
    env = [f"python {platform.python_version()}, CPUs {os.cpu_count()}",
           f"model {MODEL.relative_to(ROOT)}, ledger {LEDGER.relative_to(ROOT)}, "
           f"questions {QUESTIONS.relative_to(ROOT)}"]
    print("\n".join(env), "\n")

    timing = Table("forecast score, cold (fresh process, imports included)",
                   ["workers", "questions", "as-of dates", "forecasts", "wall s"])
    outputs = {}
    for workers in (1, 2):
        wall, out = cold(workers)
        outputs[workers] = out
        dates = len(out["attrs"]["as_of"])
        timing.rows.append([str(workers), str(len(out["questions"])), str(dates),
                            f"{dates} + 1", f"{wall:.1f}"])
    same = outputs[1]["scores"] == outputs[2]["scores"]
    timing.notes.append(f"scores identical with 1 and 2 workers: {'yes' if same else 'NO'}")

    import pandas as pd

    from forecast.analysis.metrics import evaluate

    table = pd.DataFrame(outputs[1]["questions"])
    start = time.perf_counter()
    result = evaluate(table)
    timing.notes.append(f"scoring arithmetic alone (evaluate): "
                        f"{(time.perf_counter() - start) * 1e3:.1f} ms")

    scores = Table("Scores on the example questions (seed 0)",
                   ["forecaster", "n", "Brier", "log", "skill vs uniform",
                    "skill vs no evidence"])
    for row in result.scores.to_dict("records"):
        scores.rows.append([row["forecaster"], str(row["n"]), f"{row['brier']:.3f}",
                            f"{row['log']:.3f}", f"{row['skill_vs_uniform']:+.3f}",
                            f"{row['skill_vs_no_evidence']:+.3f}"])
    events = table[table["kind"] == "event"]
    conditions = table[table["kind"] == "condition"]
    for name, part in (("events", events), ("conditions", conditions)):
        part_scores = evaluate(part).scores.set_index("forecaster")["brier"]
        scores.notes.append(f"Brier on {len(part)} {name}: " + ", ".join(
            f"{k} {v:.3f}" for k, v in part_scores.items()))
    print(timing.text(), "\n")
    print(scores.text(), "\n")
    return finish("Scoring benchmark", "bench_scoring.py", env, [timing, scores], [],
                  args.markdown)


if __name__ == "__main__":
    raise SystemExit(main())
