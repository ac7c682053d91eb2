"""What the flagship's brief costs, step by step, and each PDF engine against the other.

Two runs of the flagship are published into a scratch store (as of 2015-08-24 and 2017-08-24),
then the brief of the second is built (explanations timed one by one, and the attribution of
every moved judgment at once, as the brief runs it), rendered to HTML and printed to PDF by
Chromium and by WeasyPrint. A first run's brief (nothing to compare with,
so no attribution) is timed as the README's main job runs it: a fresh ``forecast brief``.

    python benchmarks/bench_brief.py [--markdown FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tables import Table, finish  # sibling module: the script's folder is on sys.path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "isis_pakistan_2015.yaml"
LEDGER = ROOT / "data" / "isis_pakistan_ledger.csv"
DATES = ("2015-08-24", "2017-08-24")


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--markdown", type=Path, metavar="FILE", help="also write the tables here")
    args = p.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")

    from forecast.analysis.conflict import evidence_conflict
    from forecast.analysis.sensitivity import parameter_sensitivity
    from forecast.analysis.voi import value_of_information
    from forecast.evidence.ledger import case_from_rows
    from forecast.model.load import load_spec
    from forecast.ops.attribution import attribute_runs, attribute_runs_many
    from forecast.ops.brief import ATTRIBUTION_PERMUTATIONS, build_brief
    from forecast.ops.store import RunStore
    from forecast.ops.update import update
    from forecast.report.brief import find_chromium, make_figures, render_html, save_brief

    env = [f"python {platform.python_version()}, CPUs {os.cpu_count()}",
           f"model {MODEL.relative_to(ROOT)}, runs as of {DATES[0]} and {DATES[1]}",
           f"Chromium: {find_chromium() or 'not installed'}"]
    print("\n".join(env), "\n")
    steps = Table("The brief of the second of two snapshot runs (--snapshot), step by step "
                  "(in-process, after imports)",
                  ["step", "s", "share of build"])
    engines = Table("Printing the built brief", ["what", "s", "vs WeasyPrint"])
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        for day in DATES:  # the explanations by row are of the snapshot semantics
            update(MODEL, LEDGER, as_of=day, runs_dir=runs, semantics="snapshot")
        spec = load_spec(MODEL)
        store = RunStore(runs, spec.name)
        before, after = store.runs()
        rows = after.evidence
        head = spec.scenarios[0]
        forecast = after.forecast()
        case = case_from_rows(rows, spec)
        parts = {
            f"attribute_runs ({head}, {ATTRIBUTION_PERMUTATIONS} orders)": lambda: (
                attribute_runs(spec, before, after, head, "yes",
                                       permutations=ATTRIBUTION_PERMUTATIONS)),
            "value_of_information": lambda: value_of_information(
                spec, case, head, "yes", forecast=forecast),
            "evidence_conflict": lambda: evidence_conflict(spec, case,
                                                                   forecast=forecast),
            "parameter_sensitivity": lambda: parameter_sensitivity(
                forecast, head, "yes", spec=spec),
        }
        timed = {name: _timed(fn)[1] for name, fn in parts.items()}
        data, build = _timed(build_brief, MODEL, runs)
        moved = [(c.node, c.state) for c in data.changes if c.status == "moved"]
        shared = _timed(attribute_runs_many, spec, before, after, moved,
                        permutations=ATTRIBUTION_PERMUTATIONS)[1]
        timed[f"attribute_runs_many (the {len(moved)} moved judgments at once)"] = shared
        for name, seconds in timed.items():
            steps.rows.append([name, f"{seconds:.2f}", f"{seconds / build:.2f}"])
        steps.rows.append([f"build_brief ({len(moved)} moved judgments attributed)",
                           f"{build:.2f}", "1.00"])
        steps.notes.append(f"the moved judgments share one pass over the coalitions: "
                           f"{shared / max(1, len(moved)):.2f} s per moved judgment, against "
                           f"{timed[next(iter(timed))]:.2f} s for one alone")
        figures, draw = _timed(make_figures, data)
        _html, render = _timed(render_html, data, figures)
        steps.rows.append([f"draw {len(figures)} figures", f"{draw:.2f}", "—"])
        steps.rows.append(["render the HTML (figures drawn)", f"{render:.2f}", "—"])
        weasy = _timed(save_brief, data, Path(tmp) / "w", formats=("pdf",),
                       pdf_engine="weasyprint")[1]
        engines.rows.append(["WeasyPrint: render + print PDF", f"{weasy:.2f}", "1.00"])
        if find_chromium():
            chrome = _timed(save_brief, data, Path(tmp) / "c", formats=("pdf",),
                            pdf_engine="chromium")[1]
            engines.rows.append(["Chromium: render + print PDF", f"{chrome:.2f}",
                                 f"{chrome / weasy:.2f}"])
            shot = _timed(save_brief, data, Path(tmp) / "s", formats=("png",))[1]
            engines.rows.append(["Chromium: render + screenshot PNG", f"{shot:.2f}",
                                 f"{shot / weasy:.2f}"])
        first = Path(tmp) / "first"
        update(MODEL, LEDGER, as_of=DATES[1], runs_dir=first)  # the main job: dynamic
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "forecast.cli", "brief", str(MODEL), "--runs",
                        str(first), "--out", str(Path(tmp) / "out")], check=True,
                       stdout=subprocess.DEVNULL)
        cold = time.perf_counter() - start
    engines.notes.append(f"the brief of a first run of the dynamic model (the main job's), HTML "
                         f"and PDF, fresh process: {cold:.1f} s")
    print(steps.text(), "\n")
    print(engines.text(), "\n")
    return finish("Brief benchmark", "bench_brief.py", env, [steps, engines], [],
                  args.markdown)


if __name__ == "__main__":
    raise SystemExit(main())
