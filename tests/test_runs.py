"""The run store: atomic publishing, no-op updates, damaged runs, crashes and concurrency."""

from __future__ import annotations

import datetime as dt
import functools
import json
import multiprocessing
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.errors import EvidenceError, ForecastError, RunStoreError
from forecast.evidence.ledger import load_ledger, rows_as_of
from forecast.model.load import load_spec, load_spec_hashed
from forecast.ops.store import RunStore
from forecast.ops.update import update
from tests.stubs import stub_forecast

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "isis_pakistan_2015.yaml"
LEDGER = ROOT / "data" / "isis_pakistan_ledger.csv"
BROKEN_LEDGER = ROOT / "tests" / "data" / "ledgers" / "broken.csv"
AS_OF = "2025-11-20"
NAME = "isis_pakistan_2015"
NEW_ROW = ("E900,2025-11-18,isis_influence_pakistan,,0.1;0.9,B2,Dawn,https://www.dawn.com/news/900,"
           "test row: soft report of high ISIS influence\n")


def _ledger_copy(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.csv"
    shutil.copyfile(LEDGER, path)
    return path


def _append(path: Path, row: str = NEW_ROW) -> None:
    text = path.read_text(encoding="utf-8")
    path.write_text(text + ("" if text.endswith("\n") else "\n") + row, encoding="utf-8")


def test_publish_then_unchanged_then_new_run_with_changes(tmp_path):
    runs = tmp_path / "runs"
    ledger = _ledger_copy(tmp_path)
    first = update(MODEL, ledger, as_of=AS_OF, runs_dir=runs, semantics="snapshot")
    assert first.status == "published" and first.previous is None
    store = RunStore(runs, NAME)
    assert store.latest().run_id == first.run.run_id
    manifest = first.run.manifest
    for key in ("model_sha256", "ledger_sha256", "as_of", "seed", "method", "diagnostics",
                "versions", "created", "inputs_hash"):
        assert key in manifest
    assert manifest["as_of"] == AS_OF and manifest["publishable"] is True
    on_disk = json.loads((first.run.path / "manifest.json").read_text())
    assert on_disk["inputs_hash"] == manifest["inputs_hash"]
    assert first.run.forecast().summary["mean"].tolist() == pytest.approx(
        first.summary["mean"].tolist())
    assert first.run.summary["mean"].tolist() == pytest.approx(first.summary["mean"].tolist())
    spec = load_spec(MODEL)
    used = rows_as_of(load_ledger(ledger, spec), spec, AS_OF)
    pd.testing.assert_frame_equal(first.run.evidence, used)
    assert "evidence.csv" in manifest["files"]

    before = sorted(p.name for p in (runs / NAME).iterdir())
    second = update(MODEL, ledger, as_of=AS_OF, runs_dir=runs, semantics="snapshot")
    assert second.status == "unchanged" and second.run.run_id == first.run.run_id
    assert second.changes.empty
    assert sorted(p.name for p in (runs / NAME).iterdir()) == before

    _append(ledger)
    third = update(MODEL, ledger, as_of=AS_OF, runs_dir=runs, semantics="snapshot")
    assert third.status == "published" and third.previous.run_id == first.run.run_id
    row = third.changes.set_index(["node", "state"]).loc[("isis_influence_pakistan", "high")]
    assert row["after"] > row["before"] + 0.1
    assert row["delta"] == pytest.approx(row["after"] - row["before"])
    assert set(third.changes["node"]) == set(third.scenarios)
    assert [r.run_id for r in store.runs()] == [first.run.run_id, third.run.run_id]
    assert store.latest().run_id == third.run.run_id


def test_same_inputs_and_seed_give_identical_summary(tmp_path):
    a = update(MODEL, LEDGER, as_of=AS_OF, runs_dir=tmp_path / "a", semantics="snapshot")
    b = update(MODEL, LEDGER, as_of=AS_OF, runs_dir=tmp_path / "b", semantics="snapshot")
    assert a.run.manifest["inputs_hash"] == b.run.manifest["inputs_hash"]
    assert a.summary.equals(b.summary)


def test_damaged_runs_are_reported_and_skipped(tmp_path):
    runs = tmp_path / "runs"
    old = update(MODEL, None, as_of=AS_OF, runs_dir=runs, semantics="snapshot").run
    mid = update(MODEL, LEDGER, as_of="2020-01-01", runs_dir=runs, semantics="snapshot").run
    new = update(MODEL, LEDGER, as_of=AS_OF, runs_dir=runs, semantics="snapshot").run
    store = RunStore(runs, NAME)
    (runs / NAME / "stray-folder").mkdir()  # not a run: no manifest

    # truncating the middle run's posterior: runs() skips it and says why; latest is untouched
    posterior = mid.path / "posterior.nc"
    posterior.write_bytes(posterior.read_bytes()[:100])
    assert [r.run_id for r in store.runs()] == [old.run_id, new.run_id]
    reported = "\n".join(str(p) for p in store.problems)
    assert "truncated" in reported and mid.run_id in reported and "stray-folder" in reported
    with pytest.raises(RunStoreError, match="damaged"):
        store.read_run(mid.run_id)
    assert store.latest().run_id == new.run_id

    # deleting the latest run's manifest: latest() falls back to the newest valid run
    (new.path / "manifest.json").unlink()
    fallback = store.latest()
    assert fallback.run_id == old.run_id
    assert any(new.run_id in str(p) for p in store.problems)
    # and the next update compares with, then replaces, the fallback
    again = update(MODEL, LEDGER, as_of=AS_OF, runs_dir=runs, semantics="snapshot")
    assert again.status == "published" and again.previous.run_id == old.run_id
    assert store.latest().run_id == again.run.run_id


def test_crash_mid_publish_leaves_latest_and_no_partial_run(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    first = update(MODEL, LEDGER, as_of="2020-01-01", runs_dir=runs, semantics="snapshot")
    model_dir = runs / NAME
    listing = sorted(p.name for p in model_dir.iterdir())
    latest_text = (model_dir / "LATEST").read_text()

    def crash(*_args, **_kwargs):
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(OSError, match="simulated crash"):
        update(MODEL, LEDGER, as_of=AS_OF, runs_dir=runs, semantics="snapshot")
    monkeypatch.undo()
    assert sorted(p.name for p in model_dir.iterdir()) == listing
    assert (model_dir / "LATEST").read_text() == latest_text
    assert RunStore(runs, NAME).latest().run_id == first.run.run_id

    # a crash after the rename, while replacing LATEST: the new run is removed again
    real_replace = os.replace

    def crash_on_latest(src, dst, *args, **kwargs):
        if Path(dst).name == "LATEST":
            raise OSError("simulated crash")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", crash_on_latest)
    with pytest.raises(OSError, match="simulated crash"):
        update(MODEL, LEDGER, as_of=AS_OF, runs_dir=runs, semantics="snapshot")
    monkeypatch.undo()
    assert sorted(p.name for p in model_dir.iterdir()) == listing
    assert (model_dir / "LATEST").read_text() == latest_text


def test_leftover_temporaries_are_invisible_and_cleaned(tmp_path):
    runs = tmp_path / "runs"
    first = update(MODEL, LEDGER, as_of="2020-01-01", runs_dir=runs, semantics="snapshot")
    leftover = runs / NAME / ".tmp-killed"  # what a kill -9 mid-write leaves behind
    leftover.mkdir()
    (leftover / "posterior.nc").write_bytes(b"partial")
    store = RunStore(runs, NAME)
    assert [r.run_id for r in store.runs()] == [first.run.run_id] and not store.problems
    update(MODEL, LEDGER, as_of=AS_OF, runs_dir=runs, semantics="snapshot")
    assert not leftover.exists()


def _concurrent_update(runs_dir: str) -> str:
    try:
        return update(MODEL, LEDGER, as_of=AS_OF, runs_dir=Path(runs_dir),
                      semantics="snapshot").status
    except Exception as exc:  # reported to the parent, which fails the test
        return f"error: {type(exc).__name__}: {exc}"


def test_four_concurrent_updates_give_one_run(tmp_path):
    runs = tmp_path / "runs"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        statuses = pool.map(_concurrent_update, [str(runs)] * 4)
    assert sorted(statuses) == ["published", "unchanged", "unchanged", "unchanged"]
    store = RunStore(runs, NAME)
    assert len(store.runs()) == 1 and not store.problems
    assert store.latest().run_id == store.runs()[0].run_id


def test_lock_timeout_says_another_update_holds_it(tmp_path):
    store = RunStore(tmp_path / "runs", NAME, lock_timeout=0.1)
    with store.lock():
        with pytest.raises(RunStoreError, match="another update holds the lock"):
            update(MODEL, LEDGER, as_of=AS_OF, runs_dir=tmp_path / "runs", lock_timeout=0.1,
                   semantics="snapshot")


def test_bad_inputs_write_nothing(tmp_path):
    runs = tmp_path / "runs"
    with pytest.raises(EvidenceError, match="problems in the ledger"):
        update(MODEL, BROKEN_LEDGER, as_of=AS_OF, runs_dir=runs, semantics="snapshot")
    with pytest.raises(EvidenceError, match="not an ISO date"):
        update(MODEL, LEDGER, as_of="20/11/2025", runs_dir=runs, semantics="snapshot")
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    with pytest.raises(EvidenceError, match="in the future"):
        update(MODEL, LEDGER, as_of=tomorrow, runs_dir=runs, semantics="snapshot")
    assert not runs.exists()


def test_unconverged_publishes_nothing_unless_allowed(tmp_path):
    # no inference: the forecaster is a stub whose diagnostics failed
    failing = functools.partial(stub_forecast, failed=["k-hat too large (test)"])
    runs = tmp_path / "runs"
    result = update(MODEL, LEDGER, as_of=AS_OF, runs_dir=runs, forecaster=failing)
    assert result.status == "unconverged" and result.run is None
    assert result.failed == ["k-hat too large (test)"]
    assert RunStore(runs, NAME).latest() is None
    allowed = update(MODEL, LEDGER, as_of=AS_OF, runs_dir=runs, allow_unconverged=True,
                     forecaster=failing)
    assert allowed.status == "published" and allowed.run.manifest["publishable"] is False
    assert allowed.run.forecast().attrs["method"] == "stub"  # what was published reads back


def test_history_over_runs_skips_damaged_ones(tmp_path):
    from forecast.ops.update import history

    runs = tmp_path / "runs"
    made = [update(MODEL, LEDGER, as_of=d, runs_dir=runs, semantics="snapshot").run
            for d in ("2016-06-30", "2019-06-30", AS_OF)]
    found = history(NAME, runs, nodes=["caliphate_declared"])
    frame = found.frame
    assert found.problems == []
    assert list(frame["as_of"].unique()) == ["2016-06-30", "2019-06-30", AS_OF]
    assert set(frame["node"]) == {"caliphate_declared"} and len(frame) == 6
    assert (frame["hdi_5%"] <= frame["mean"]).all() and (frame["mean"] <= frame["hdi_95%"]).all()
    (made[1].path / "summary.csv").write_text("broken")
    found = history(NAME, runs, nodes=["caliphate_declared"])
    assert len(found.problems) == 1 and made[1].run_id in str(found.problems[0])
    assert list(found.frame["as_of"].unique()) == ["2016-06-30", AS_OF]
    assert history(NAME, tmp_path / "nowhere").empty


def test_history_is_a_cube_of_runs_nodes_and_states(tmp_path):
    from forecast.ops.update import history

    runs = tmp_path / "runs"
    days = ("2016-06-30", AS_OF)
    made = [update(MODEL, LEDGER, as_of=d, runs_dir=runs, semantics="snapshot").run for d in days]
    found = history(NAME, runs)
    cube = found.to_xarray()
    assert dict(cube.sizes) == {"run": 2, "node": found.frame["node"].nunique(),
                                "state": found.frame["state"].nunique()}
    assert list(cube["run"].values) == [r.run_id for r in made]
    assert list(cube["as_of"].values.astype("datetime64[D]").astype(str)) == list(days)
    assert set(cube.data_vars) == {"mean", "hdi_5%", "hdi_95%", "mcse"}
    for row in found.frame.itertuples(index=False):
        here = cube.sel(run=row.run_id, node=row.node, state=row.state)
        assert float(here["mean"]) == row.mean and float(here["hdi_95%"]) == row._9
    # a state that is not the node's is missing, not zero
    assert cube["mean"].sel(node="caliphate_declared", state="high").isnull().all()
    total = cube["mean"].sel(node="caliphate_declared").sum("state")
    np.testing.assert_allclose(total.values, 1.0, atol=1e-9)
    assert history(NAME, tmp_path / "nowhere").to_xarray()["mean"].size == 0


def test_a_run_without_stored_evidence_says_so(tmp_path):
    result = update(MODEL, None, as_of=AS_OF, runs_dir=tmp_path, semantics="snapshot")
    assert result.run.evidence.empty, "no ledger: an empty table, not an error"
    (result.run.path / "evidence.csv").unlink()
    with pytest.raises(RunStoreError, match=r"no evidence\.csv"):
        _ = result.run.evidence


def test_inputs_are_hashed_from_the_bytes_that_were_parsed(tmp_path, monkeypatch):
    """An edit between reading and hashing cannot record a hash of content the forecast did not
    use: the hashes come from the bytes each reader parsed, not from a second read."""
    import hashlib

    import forecast.ops.update as update_module

    model, ledger = tmp_path / "m.yaml", tmp_path / "l.csv"
    shutil.copy(MODEL, model)
    shutil.copy(LEDGER, ledger)
    originals = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (model, ledger)}
    assert load_spec_hashed(model)[1] == originals[model]
    assert load_ledger(ledger).attrs["sha256"] == originals[ledger]

    def edited_after_reading(read):
        def wrapper(path, *args, **kwargs):
            out = read(path, *args, **kwargs)
            Path(path).write_text(Path(path).read_text() + "\n# edited\n")
            return out
        return wrapper

    monkeypatch.setattr(update_module, "load_spec_hashed", edited_after_reading(load_spec_hashed))
    monkeypatch.setattr(update_module, "load_ledger", edited_after_reading(load_ledger))
    run = update(model, ledger, as_of="2016-01-01", runs_dir=tmp_path / "runs",
                 forecaster=stub_forecast).run
    assert run is not None
    assert run.manifest["model_sha256"] == originals[model]
    assert run.manifest["ledger_sha256"] == originals[ledger]


def test_two_model_files_with_one_name_never_share_a_folder(tmp_path):
    """The second file's update is refused before any work; once the first file has gone (a
    moved checkout), the folder is handed on."""
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    shutil.copy(MODEL, first)
    shutil.copy(MODEL, second)
    runs = tmp_path / "runs"
    made = update(first, LEDGER, as_of="2016-01-01", runs_dir=runs, forecaster=stub_forecast)
    assert made.run is not None and made.run.manifest["model_file"] == str(first.resolve())
    before = sorted(p.name for p in (runs / made.run.manifest["model_name"]).iterdir())
    with pytest.raises(RunStoreError, match="is taken in this run store") as caught:
        update(second, LEDGER, as_of="2016-02-01", runs_dir=runs, forecaster=stub_forecast)
    assert str(first.resolve()) in str(caught.value) and "model.name" in str(caught.value)
    assert sorted(p.name for p in (runs / made.run.manifest["model_name"]).iterdir()) == before
    # the same file by another path is the same model
    again = update(tmp_path / "." / "a.yaml", LEDGER, as_of="2016-02-01", runs_dir=runs,
                   forecaster=stub_forecast)
    assert again.status == "published"
    first.unlink()
    moved = update(second, LEDGER, as_of="2016-03-01", runs_dir=runs, forecaster=stub_forecast)
    assert moved.status == "published"


def test_a_backfill_is_published_without_moving_latest_back(tmp_path):
    """``--as-of`` before the latest run's: listed in as-of order, compared with the run of the
    newest as-of up to its own, LATEST untouched unless asked; repeated, it is a no-op."""
    from forecast.ops.update import history

    runs = tmp_path / "runs"
    go = functools.partial(update, MODEL, LEDGER, runs_dir=runs, forecaster=stub_forecast)
    current = go(as_of="2016-06-30").run
    store = RunStore(runs, current.manifest["model_name"])
    first = go(as_of="2016-01-31")
    assert first.status == "published" and first.previous is None
    assert store.latest_id() == current.run_id
    assert any("backfilled: LATEST still names run " + current.run_id in n for n in first.notes)
    second = go(as_of="2016-03-31")
    assert second.previous.run_id == first.run.run_id
    assert second.run.manifest["previous_run_id"] == first.run.run_id
    assert go(as_of="2016-01-31").status == "unchanged"  # a backfill repeated writes nothing
    assert [r.manifest["as_of"] for r in store.runs()] == ["2016-01-31", "2016-03-31",
                                                           "2016-06-30"]
    assert list(dict.fromkeys(history(current.manifest["model_name"], runs).frame["as_of"])) == [
        "2016-01-31", "2016-03-31", "2016-06-30"]
    assert store.latest_id() == current.run_id
    moved = go(as_of="2016-02-29", make_latest=True)
    assert store.latest_id() == moved.run.run_id and not any("backfilled" in n
                                                             for n in moved.notes)


def test_strict_freshness_refuses_stale_evidence_before_any_work(tmp_path):
    """The ledger's newest row is 2025-11-16: as of 2026-06-30 that is 226 days, over the
    default 90 (a warning, and published) and a refusal under --strict-freshness (exit 3,
    nothing written); --stale-after 365 accepts it. The CLI's default is STALE_DAYS."""
    from click.testing import CliRunner

    import forecast.cli
    from forecast.cli import main
    from forecast.errors import Untrusted
    from forecast.ops.update import STALE_DAYS

    runs = tmp_path / "runs"
    with pytest.raises(Untrusted, match="too old") as caught:
        update(MODEL, LEDGER, as_of="2026-06-30", runs_dir=runs, strict_freshness=True,
               forecaster=stub_forecast)
    assert "newest evidence: 2025-11-16 (226 days" in str(caught.value)
    assert not runs.exists()
    relaxed = update(MODEL, LEDGER, as_of="2026-06-30", runs_dir=runs, strict_freshness=True,
                     stale_after_days=365, forecaster=stub_forecast)
    assert relaxed.status == "published" and not relaxed.notes
    assert relaxed.run.manifest["newest_evidence"] == "2025-11-16"
    assert relaxed.run.manifest["stale_after_days"] == 365
    option = next(p for p in forecast.cli.update.params if p.name == "stale_after")
    assert option.default == STALE_DAYS
    result = CliRunner().invoke(main, ["update", str(MODEL), "--ledger", str(LEDGER), "--as-of",
                                       "2026-06-30", "--runs", str(tmp_path / "cli"),
                                       "--snapshot", "--strict-freshness"])
    assert result.exit_code == 3 and "too old" in result.output, result.output
    assert not (tmp_path / "cli").exists()
    with pytest.raises(ForecastError, match="stale_after_days"):
        update(MODEL, LEDGER, as_of="2026-06-30", runs_dir=runs, stale_after_days=-1)


def test_an_update_reports_changes_against_the_run_asked_for(tmp_path):
    runs = tmp_path / "runs"
    go = functools.partial(update, MODEL, LEDGER, runs_dir=runs, forecaster=stub_forecast)
    first = go(as_of="2016-01-31").run
    second = go(as_of="2016-06-30").run
    third = go(as_of="2016-12-31", compare_to=first.run_id)
    assert third.previous.run_id == first.run_id != second.run_id
    assert third.run.manifest["previous_run_id"] == first.run_id
    with pytest.raises(RunStoreError, match="no run 'nope'"):
        go(as_of="2017-06-30", compare_to="nope")
    assert len(RunStore(runs, first.manifest["model_name"]).runs()) == 3
