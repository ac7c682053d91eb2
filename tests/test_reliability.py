"""A scheduled ``forecast update`` under stress: kill -9, concurrency, damage, bad input, replay.

The kill and concurrency tests fork child processes from this (warm) process: importing the
scientific stack takes seconds, a forked update a fraction of one. Where what is under test is
the run store, not the sampler, the updates run no inference (``FAST``, a forecaster built on
``Forecast.from_draws``) and read the model file once (``fast_updates``); every update
publishes.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import forecast
import forecast.inference.importance
import forecast.model.load
import forecast.ops.update
from forecast.cli import main
from forecast.inference.result import Forecast
from forecast.ops.store import RunStore
from forecast.ops.update import history, update
from tests.guards import hang_guard
from tests.stubs import stub_forecast

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "isis_pakistan_2015.yaml"
LEDGER = ROOT / "data" / "isis_pakistan_ledger.csv"
NAME = "isis_pakistan_2015"
AS_OF = "2025-11-20"
FORK = multiprocessing.get_context("fork")


FAST = stub_forecast
"""The forecaster of the run-store tests' updates: no inference (``Forecast.from_draws``)."""


@pytest.fixture
def fast_updates(monkeypatch):
    """Updates parse the model once (forked children inherit it); they pass ``FAST`` too."""
    cached = functools.cache(forecast.model.load.load_spec_hashed)
    cached(MODEL)  # read now: the kill test counts the steps of updates that do not read it
    monkeypatch.setattr(forecast.ops.update, "load_spec_hashed", cached)


def _start(target, *args) -> multiprocessing.Process:
    process = FORK.Process(target=target, args=args)
    with warnings.catch_warnings():
        # Python >= 3.12 warns that forking a multi-threaded process may deadlock the child
        # (BLAS pools count as threads); the child only runs update() and exits.
        warnings.filterwarnings("ignore", message=".*multi-threaded.*fork",
                                category=DeprecationWarning)
        process.start()
    return process


def _cli_env() -> dict[str, str]:
    """The environment of a real ``forecast`` process: this checkout's package on the path."""
    env = dict(os.environ)
    src = str(Path(forecast.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    return env


def _forecast_command() -> list[str]:
    return [sys.executable, "-m", "forecast"]  # this interpreter's package, not PATH's


def _tree(root: Path) -> dict[str, str]:
    """Every file and folder under `root` (hidden ones too), files by content hash."""
    tree = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            tree[os.path.relpath(os.path.join(folder, name), root)] = "dir"
        for name in files:
            path = Path(folder, name)
            tree[os.path.relpath(path, root)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return tree


# --- kill -9 ----------------------------------------------------------------------------------

# What publishing a run does, step by step: every call of these is a place to die.
_STEPS = [(os, "fsync"), (os, "rename"), (os, "replace"), (os, "fdopen"),
          (tempfile, "mkdtemp"), (tempfile, "mkstemp"), (Path, "write_text"),
          (pd.DataFrame, "to_csv"), (Forecast, "save")]


def _wrap_steps(on_step, setattr_=setattr) -> None:
    """Route every step through ``on_step(index, label, call)``, counting from 0."""
    counter = itertools.count()
    for owner, name in _STEPS:
        real = getattr(owner, name)
        label = f"{getattr(owner, '__name__', owner)}.{name}"

        def wrapper(*args, _real=real, _label=label, **kwargs):
            return on_step(next(counter), _label, lambda: _real(*args, **kwargs))

        setattr_(owner, name, wrapper)


def _count_steps(runs: Path, seed: int, monkeypatch) -> list[str]:
    """The steps of one update that publishes, in order (in this process, then undone)."""
    seen: list[str] = []

    def record(_index, label, call):
        seen.append(label)
        return call()

    with monkeypatch.context() as patch:
        _wrap_steps(record, patch.setattr)
        assert update(MODEL, LEDGER, as_of=AS_OF, runs_dir=runs, seed=seed,
                      forecaster=FAST).status == "published"
    return seen


def _doomed_update(runs: Path, seed: int, kill_at: tuple[int, str] | None) -> None:
    """Child process: update; with `kill_at` = (step, "before"|"after"), SIGKILL itself there."""
    if kill_at is not None:
        step, when = kill_at

        def maybe_die(index, _label, call):
            if index == step and when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            result = call()
            if index == step and when == "after":
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        _wrap_steps(maybe_die)
    update(MODEL, LEDGER, as_of=AS_OF, runs_dir=runs, seed=seed, lock_timeout=10,
           forecaster=FAST)


def _check_store(runs: Path, before: set[str], latest_before: str) -> tuple[str, str, set]:
    """The store after a kill: no damaged run, LATEST intact and old or new; where it died."""
    found = history(NAME, runs)
    assert found.problems == [], found.problems  # a kill never leaves a damaged run folder
    ids = set(found.frame["run_id"])
    new = ids - before
    assert before <= ids and len(new) <= 1
    store = RunStore(runs, NAME)
    latest = store.latest()
    assert store.problems == [] and latest.run_id == store.latest_id()  # the pointer is whole
    assert latest.run_id == latest_before or latest.run_id in new
    loaded = latest.forecast().summary
    np.testing.assert_allclose(loaded["mean"], latest.summary["mean"], rtol=0, atol=1e-12)
    leftovers = any(p.name.startswith(".tmp-") for p in (runs / NAME).iterdir())
    if latest.run_id != latest_before:
        where = "after LATEST was replaced"
    elif new:
        where = "between the rename and the LATEST replace"
    elif leftovers:
        where = "while writing the temporary folder"
    else:
        where = "before publishing"
    return latest.run_id, where, ids


def test_kill_9_at_random_points_never_corrupts_the_store(tmp_path, fast_updates, monkeypatch):
    runs = tmp_path / "runs"
    seeds = itertools.count(1)
    labels = _count_steps(runs, next(seeds), monkeypatch)  # also the first run
    assert "os.rename" in labels and labels.count("os.replace") >= 2, labels

    # how long a forked update takes, start to exit, to draw kill times covering all of it
    started = time.perf_counter()
    child = _start(_doomed_update, runs, next(seeds), None)
    child.join()
    duration = time.perf_counter() - started
    assert child.exitcode == 0

    rng = np.random.default_rng(20151108)
    # every step of the publish (a kill right before each, and one after the last), then kills
    # at random moments of the whole update
    plans = [(i, "before") for i in range(len(labels))] + [(len(labels) - 1, "after")]
    plans += [rng.uniform(0.0, 1.2 * duration) for _ in range(30)]
    landed: dict[str, int] = {}
    before = {run.run_id for run in RunStore(runs, NAME).runs()}
    latest_before = RunStore(runs, NAME).latest_id()
    for plan in plans:
        child = _start(_doomed_update, runs, next(seeds),
                       plan if isinstance(plan, tuple) else None)
        if not isinstance(plan, tuple):
            time.sleep(plan)
            os.kill(child.pid, signal.SIGKILL)  # harmless if it has finished: not reaped yet
        child.join()
        assert child.exitcode in (0, -signal.SIGKILL), (plan, child.exitcode)
        if isinstance(plan, tuple):
            assert child.exitcode == -signal.SIGKILL, plan  # the planned step was reached
        latest, where, ids = _check_store(runs, before, latest_before)
        landed[where] = landed.get(where, 0) + 1
        # the next update succeeds, compares with the published run and leaves no temporaries
        again = update(MODEL, LEDGER, as_of=AS_OF, runs_dir=runs, seed=next(seeds),
                       lock_timeout=10, forecaster=FAST)
        assert again.status == "published" and again.previous.run_id == latest
        assert not [p for p in (runs / NAME).iterdir() if p.name.startswith(".tmp-")]
        before, latest_before = ids | {again.run.run_id}, again.run.run_id
    print(f"{len(plans)} kills ({len(labels) + 1} at publish steps {labels}), update "
          f"{duration:.2f} s; store state after the kill: {landed}")
    assert landed.get("between the rename and the LATEST replace", 0) >= 1
    assert landed.get("while writing the temporary folder", 0) >= 1


# --- concurrency -------------------------------------------------------------------------------


def test_four_concurrent_cli_updates_publish_one_run(tmp_path):
    runs = tmp_path / "runs"
    command = [*_forecast_command(), "update", "--snapshot", str(MODEL), "--ledger", str(LEDGER),
               "--as-of", AS_OF, "--runs", str(runs)]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=_cli_env()) for _ in range(4)]
    outputs = [(*p.communicate(timeout=hang_guard(30)), p.returncode) for p in processes]
    assert [code for _, _, code in outputs] == [0, 0, 0, 0], outputs
    firsts = sorted(out.split(" ", 1)[0] for out, _, _ in outputs)
    assert firsts == ["published", "unchanged:", "unchanged:", "unchanged:"], outputs
    for _, err, _ in outputs:
        assert "Traceback" not in err and not err.startswith("error"), err
        assert "\nerror" not in err and "warning:" not in err, err
    store = RunStore(runs, NAME)
    (only,) = store.runs()
    assert not store.problems and store.latest().run_id == only.run_id
    assert {p.name for p in (runs / NAME).iterdir()} == {".lock", "LATEST", only.run_id}


def _dated_update(runs: Path, as_of: str) -> None:
    assert update(MODEL, LEDGER, as_of=as_of, runs_dir=runs, lock_timeout=60,
                  forecaster=FAST).status \
        == "published"


def test_concurrent_updates_at_different_dates_all_publish(tmp_path, fast_updates):
    runs = tmp_path / "runs"
    dates = ["2016-06-30", "2019-06-30", "2022-06-30", AS_OF]
    children = [_start(_dated_update, runs, day) for day in dates]
    for child in children:
        child.join(timeout=hang_guard(10))
    assert [child.exitcode for child in children] == [0, 0, 0, 0]
    store = RunStore(runs, NAME)
    made = store.runs()
    assert not store.problems and sorted(r.manifest["as_of"] for r in made) == dates
    latest = store.latest()
    assert not store.problems
    # whatever order they ran in, LATEST names the newest date (an earlier one is a backfill,
    # which does not move it) and each run was compared with a run of an earlier date
    assert latest.manifest["as_of"] == max(dates)
    by_id = {r.run_id: r for r in made}
    for run in made:
        before = run.manifest["previous_run_id"]
        assert before is None or by_id[before].manifest["as_of"] < run.manifest["as_of"]
    found = history(NAME, runs)
    assert found.problems == [] and found.frame["run_id"].nunique() == 4


# --- damaged runs ------------------------------------------------------------------------------


def test_history_reports_and_skips_each_kind_of_damaged_run(tmp_path, fast_updates):
    runs = tmp_path / "runs"
    made = [update(MODEL, LEDGER, as_of=AS_OF, runs_dir=runs, seed=seed, forecaster=FAST).run
            for seed in range(5)]
    healthy, truncated, bad_json, no_summary, tampered = made
    posterior = truncated.path / "posterior.nc"
    posterior.write_bytes(posterior.read_bytes()[: posterior.stat().st_size // 2])
    (bad_json.path / "manifest.json").write_text('{"run_id": "cut off', encoding="utf-8")
    (no_summary.path / "summary.csv").unlink()
    summary = tampered.path / "summary.csv"  # same size, one digit changed
    text = summary.read_text(encoding="utf-8")
    digit = next(i for i, c in enumerate(text) if c.isdigit() and i > text.index("\n"))
    summary.write_text(text[:digit] + str((int(text[digit]) + 1) % 10) + text[digit + 1:],
                       encoding="utf-8")

    result = CliRunner().invoke(main, ["history", str(MODEL), "--runs", str(runs)])
    assert result.exit_code == 0, result.output
    warnings_ = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    # one line per damaged run, and one for LATEST, which names the damaged newest run
    assert len(warnings_) == 5, result.stderr
    for run, reason in ((truncated, "the manifest says"), (bad_json, "is not JSON"),
                        (no_summary, "is missing"), (tampered, "sha256 does not match")):
        assert any(run.run_id in w and reason in w for w in warnings_), (reason, result.stderr)
    assert any("LATEST" in w and "not a valid run" in w for w in warnings_), result.stderr
    assert healthy.run_id in result.stdout
    assert not any(run.run_id in result.stdout for run in made[1:])
    # the damaged latest run is no obstacle to the next update either
    again = update(MODEL, LEDGER, as_of=AS_OF, runs_dir=runs, seed=9, forecaster=FAST)
    assert again.status == "published" and again.previous.run_id == healthy.run_id


# --- bad input ---------------------------------------------------------------------------------


def test_bad_ledger_rows_are_one_error_with_line_numbers_and_nothing_written(tmp_path,
                                                                          fast_updates):
    runs = tmp_path / "runs"
    update(MODEL, LEDGER, as_of=AS_OF, runs_dir=runs, forecaster=FAST)
    ledger = tmp_path / "ledger.csv"
    text = LEDGER.read_text(encoding="utf-8")
    first_bad = len(text.splitlines()) + 1
    ledger.write_text(text + (
        "X901,2025-13-01,isis_influence_pakistan,high,,B2,Dawn,https://www.dawn.com/news/901,m\n"
        "X902,2025-11-01,isis_influnce_pakistan,high,,B2,Dawn,https://www.dawn.com/news/902,n\n"
        "X903,2025-11-01,isis_influence_pakistan,hihg,,B2,Dawn,https://www.dawn.com/news/903,s\n"
    ), encoding="utf-8")
    before = _tree(runs)
    result = CliRunner().invoke(main, ["update", "--snapshot", str(MODEL), "--ledger", str(ledger),
                                       "--as-of", AS_OF, "--runs", str(runs)])
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ") and "3 problems in the ledger" in lines[0]
    assert sum(line.startswith("error") for line in lines) == 1 and "Traceback" not in result.stderr
    for offset, word in enumerate(["calendar date", "isis_influence_pakistan", "'high'"]):
        assert any(f"ledger.csv:{first_bad + offset} " in line and word in line
                   for line in lines), (first_bad + offset, result.stderr)
    assert _tree(runs) == before  # byte for byte


# --- replay ------------------------------------------------------------------------------------


def test_same_inputs_and_seed_give_identical_bytes_across_processes(tmp_path):
    command = [*_forecast_command(), "update", "--snapshot", str(MODEL), "--ledger", str(LEDGER),
               "--as-of", AS_OF, "--seed", "3", "--runs", str(tmp_path / "a")]
    done = subprocess.run(command, capture_output=True, text=True, env=_cli_env(),
                          timeout=hang_guard(30))
    assert done.returncode == 0, done.stderr
    a = RunStore(tmp_path / "a", NAME).latest()
    b = update(MODEL, LEDGER, as_of=AS_OF, runs_dir=tmp_path / "b", seed=3,
               semantics="snapshot").run
    assert a.summary_path.read_bytes() == b.summary_path.read_bytes()
    assert a.manifest["inputs_hash"] == b.manifest["inputs_hash"]
    assert a.manifest["diagnostics"] == b.manifest["diagnostics"]
    ida, idb = a.forecast().idata, b.forecast().idata
    assert ida.groups() == idb.groups()
    for group in ida.groups():
        da, db = getattr(ida, group), getattr(idb, group)
        assert sorted(da.data_vars) == sorted(db.data_vars)
        for name in da.data_vars:
            np.testing.assert_array_equal(da[name].values, db[name].values, err_msg=name)
