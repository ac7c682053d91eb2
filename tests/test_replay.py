"""Replays: as-of dates, one frame whatever ran it, the baseline, errors naming their date."""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

import forecast.cli
from forecast.cli import main
from forecast.errors import EvidenceError, ForecastError, InferenceError
from forecast.evidence.ledger import case_as_of, load_ledger, rows_as_of
from forecast.inference.importance import posterior_forecast
from forecast.model.load import load_spec
from forecast.ops.replay import (
    COLUMNS,
    WorkerError,
    as_of_dates,
    replay,
    replay_dates,
    save_replay,
    to_dataset,
)
from forecast.report.text import replay_text
from tests.stubs import stub_forecast

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "models" / "afghan_caliphate.yaml"
FLAGSHIP = ROOT / "models" / "isis_pakistan_2015.yaml"
FLAGSHIP_LEDGER = ROOT / "data" / "isis_pakistan_ledger.csv"
DATES = ["2016-01-31", "2016-04-30", "2016-07-31"]
HEADER = "id,date,node,state,likelihood,grade,source,url,note\n"


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """A small ledger for the small model: a condition, an event, a soft row."""
    path = tmp_path / "ledger.csv"
    path.write_text(HEADER + "\n".join([
        "T1,2015-06-01,conflict,worsening,,B2,Dawn,https://www.dawn.com/news/1,test row",
        "T2,2016-02-01,hardliners_back_isis,yes,,B2,Dawn,https://www.dawn.com/news/2,test row",
        "T3,2016-05-15,pro_isis_strength,,0.3;0.7,B3,Reuters,https://example.org/3,test row",
    ]) + "\n", encoding="utf-8")
    return path


def _impossible_model(tmp_path: Path) -> tuple[Path, Path]:
    """The small model with reconciliation fixed at 'failed', and a ledger saying 'achieved'."""
    text = SMALL.read_text(encoding="utf-8")
    old = "          - prior: {achieved: unlikely}"
    assert old in text
    model = tmp_path / "impossible.yaml"
    model.write_text(text.replace(old, "          - prior: {achieved: 0}"), encoding="utf-8")
    ledger = tmp_path / "impossible.csv"
    ledger.write_text(HEADER + "T1,2016-02-01,reconciliation,achieved,,B2,Dawn,"
                      "https://www.dawn.com/news/1,test row\n", encoding="utf-8")
    return model, ledger


# --- dates ----------------------------------------------------------------------------------------


def test_quarters_from_a_month_end_keep_to_month_ends():
    dates = as_of_dates("2015-09-30", "2025-06-30", "quarter")
    assert len(dates) == 40
    assert dates[:4] == [dt.date(2015, 9, 30), dt.date(2015, 12, 31), dt.date(2016, 3, 31),
                         dt.date(2016, 6, 30)]
    assert dates[-1] == dt.date(2025, 6, 30)
    assert all((d + dt.timedelta(days=1)).day == 1 for d in dates)


def test_months_clip_to_short_months_and_years_keep_leap_month_ends():
    assert as_of_dates("2016-01-31", "2016-04-30", "month") == [
        dt.date(2016, 1, 31), dt.date(2016, 2, 29), dt.date(2016, 3, 31), dt.date(2016, 4, 30)]
    assert as_of_dates("2016-01-15", "2016-03-14", "month") == [
        dt.date(2016, 1, 15), dt.date(2016, 2, 15)]
    assert as_of_dates("2016-02-29", "2020-03-01", "year") == [
        dt.date(2016, 2, 29), dt.date(2017, 2, 28), dt.date(2018, 2, 28), dt.date(2019, 2, 28),
        dt.date(2020, 2, 29)]


def test_dates_accept_dates_timestamps_and_one_day_ranges():
    day = dt.date(2017, 12, 31)
    assert as_of_dates(day, pd.Timestamp("2017-12-31 15:00"), "year") == [day]
    assert as_of_dates(dt.datetime(2017, 12, 31, 8), "2018-12-30", " Quarter ") == [
        day, dt.date(2018, 3, 31), dt.date(2018, 6, 30), dt.date(2018, 9, 30)]


@pytest.mark.parametrize(("start", "end", "every", "where", "words"), [
    ("2016-03-31", "2015-12-31", "quarter", "end", "before the start"),
    ("2015/09/30", "2016-01-01", "quarter", "start", "not a date"),
    ("2015-09-30", "2015-02-30", "month", "end", "not a real calendar date"),
    ("2015-09-30", "2016-01-01", "quartr", "every", "did you mean 'quarter'"),
    ("2015-09-30", "2016-01-01", "week", "every", "month, quarter or year"),
    (20150930, "2016-01-01", "year", "start", "not a date"),
    ("2015-09-30", (dt.date.today() + dt.timedelta(days=1)).isoformat(), "year", "end",
     "after today"),
])
def test_bad_dates_are_one_error_naming_the_argument(start, end, every, where, words):
    with pytest.raises(EvidenceError) as caught:
        as_of_dates(start, end, every)
    assert [p.where for p in caught.value.problems] == [where]
    assert words in str(caught.value)


def test_every_problem_with_the_dates_is_listed_at_once():
    with pytest.raises(EvidenceError) as caught:
        as_of_dates("2015-13-01", "tomorrow", "fortnight")
    assert [p.where for p in caught.value.problems] == ["start", "end", "every"]


# --- replay ---------------------------------------------------------------------------------------


def test_replay_frame_is_what_each_update_would_have_given(ledger):
    frame = replay_dates(SMALL, ledger, reversed(DATES), workers=1,
                         semantics="snapshot")  # sorted on the way in
    assert tuple(frame.columns) == COLUMNS
    assert frame["as_of"].drop_duplicates().tolist() == DATES
    assert not frame.duplicated(["as_of", "node", "state"]).any()
    spec = load_spec(SMALL)
    table = load_ledger(ledger, spec)
    for day in DATES:
        rows = frame[frame["as_of"] == day]
        direct = posterior_forecast(spec, case_as_of(table, spec, day), seed=0, as_of=day)
        expected = direct.summary
        assert rows["node"].tolist() == expected["node"].tolist()
        assert rows["mean"].tolist() == expected["mean"].tolist()
        assert rows["hdi_95%"].tolist() == expected["hdi_95%"].tolist()
        assert set(rows["n_evidence"]) == {len(rows_as_of(table, spec, day))}
        assert set(rows["method"]) == {direct.attrs["method"]}
        assert set(rows["publishable"]) == {direct.publishable}
    assert frame["n_evidence"].tolist() != [0] * len(frame)
    assert frame.attrs["seed"] == 0 and frame.attrs["diagnostics_failed"] == {}
    assert frame.attrs["model_name"] == "afghan_caliphate"


def test_same_frame_serial_on_processes_and_on_dask(ledger):
    from dask.distributed import LocalCluster

    serial = replay_dates(SMALL, ledger, DATES, seed=3, workers=1, semantics="snapshot")
    pooled = replay_dates(SMALL, ledger, DATES, seed=3, workers=2, semantics="snapshot")
    pd.testing.assert_frame_equal(serial, pooled, check_exact=True)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        dasked = replay_dates(SMALL, ledger, DATES, seed=3, scheduler=cluster.scheduler_address,
                              semantics="snapshot")
    pd.testing.assert_frame_equal(serial, dasked, check_exact=True)
    other_seed = replay_dates(SMALL, ledger, DATES[:1], seed=4, workers=1, semantics="snapshot")
    assert other_seed["mean"].tolist() != serial["mean"][: len(other_seed)].tolist()


@pytest.mark.slow
def test_a_local_dask_cluster_of_processes_is_started_and_closed(ledger):
    frame = replay(SMALL, ledger, DATES[0], DATES[1], "quarter", scheduler="local", workers=1,
                   semantics="snapshot")
    expected = replay_dates(SMALL, ledger, DATES[:2], workers=1, semantics="snapshot")
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)


@pytest.mark.slow
def test_a_local_clusters_workers_start_without_dasks_malloc_trimming():
    """Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536 (a date then costs 1.6x
    the CPU); the package's local cluster leaves it out and keeps BLAS to one thread."""
    import os

    from forecast.ops.parallel import local_cluster

    with local_cluster(1) as client:
        found = client.run(lambda: (os.environ.get("MALLOC_TRIM_THRESHOLD_"),
                                    os.environ.get("OMP_NUM_THREADS")))
    assert list(found.values()) == [(None, "1")]


@pytest.mark.parametrize("trim, calls", [("65536", [(-3, 64 << 20), (-1, 256 << 20)]),
                                         (None, []), ("1073741824", [])])
def test_a_worker_started_with_a_small_trim_threshold_raises_it_again(monkeypatch, trim, calls):
    """On a remote cluster the package cannot choose the environment: glibc's mallopt raises
    the mmap and trim thresholds in the running worker, only where they were set small."""
    import forecast.ops.parallel as parallel

    made: list[tuple[int, int]] = []

    class FakeLibc:
        def mallopt(self, option: int, value: int) -> int:
            made.append((option, value))
            return 1

    monkeypatch.setattr(parallel.ctypes, "CDLL", lambda name: FakeLibc())
    monkeypatch.setattr(parallel, "threadpool_limits", lambda limits: None)  # not this process
    if trim is None:
        monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    else:
        monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", trim)
    parallel.tune_worker()
    assert made == calls


def test_without_a_ledger_every_date_is_the_model_without_evidence():
    frame = replay_dates(SMALL, None, DATES, workers=1, semantics="snapshot")
    assert (frame["n_evidence"] == 0).all()
    spec = load_spec(SMALL)
    per_date = [frame[frame["as_of"] == day].reset_index(drop=True) for day in DATES]
    for rows in per_date:
        assert len(rows) == sum(len(s) for s in spec.states.values())  # every node, none observed
        pd.testing.assert_frame_equal(rows.drop(columns="as_of"),
                                      per_date[0].drop(columns="as_of"), check_exact=True)
    assert frame.attrs["ledger_sha256"] is None


def test_replay_writes_nothing_and_never_touches_the_run_store(ledger, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = tmp_path / "runs" / "afghan_caliphate"
    runs.mkdir(parents=True)
    (runs / "LATEST").write_text("someone-elses-run\n")
    before = sorted((p.relative_to(tmp_path), p.stat().st_mtime_ns) for p in tmp_path.rglob("*"))
    replay_dates(SMALL, ledger, DATES[:2], workers=2, semantics="snapshot")
    after = sorted((p.relative_to(tmp_path), p.stat().st_mtime_ns) for p in tmp_path.rglob("*"))
    assert after == before


def test_bad_options_fail_before_any_work(ledger):
    with pytest.raises(ForecastError) as caught:
        replay_dates(SMALL, ledger, DATES, seed=-1, workers=0, scheduler="nowhere",
                     semantics="snapshot")
    assert [p.where for p in caught.value.problems] == ["seed", "workers", "scheduler"]
    with pytest.raises(EvidenceError, match="no as-of dates"):
        replay_dates(SMALL, ledger, [], semantics="snapshot")
    with pytest.raises(EvidenceError, match="half-life"):
        replay_dates(SMALL, ledger, DATES, half_life_days=-3, semantics="snapshot")
    with pytest.raises(EvidenceError) as caught:
        replay_dates(SMALL, ledger, ["2016-01-31", "2016-02-30"], semantics="snapshot")
    assert caught.value.problems[0].where == "dates[1]"


def test_half_life_tempers_soft_rows(ledger):
    plain = replay_dates(SMALL, ledger, DATES[-1:], workers=1, semantics="snapshot")
    decayed = replay_dates(SMALL, ledger, DATES[-1:], workers=1, half_life_days=10,
                           semantics="snapshot")
    assert decayed.attrs["half_life_days"] == 10
    assert decayed["mean"].tolist() != plain["mean"].tolist()


def test_a_date_the_model_cannot_take_names_the_date_from_a_worker_process(tmp_path):
    model, ledger = _impossible_model(tmp_path)
    with pytest.raises(InferenceError) as caught:  # the worker's error keeps its class
        replay_dates(model, ledger, DATES, workers=2, semantics="snapshot")
    assert "as of 2016-04-30" in caught.value.summary  # the first date the row counts
    assert "impossible" in str(caught.value) and caught.value.problems


def test_an_unexpected_failure_names_its_date_in_process_and_on_dask(ledger):
    from dask.distributed import LocalCluster

    def flaky(spec, case, *, seed, as_of):
        if as_of == "2016-04-30":
            raise ValueError("boom")
        return stub_forecast(spec, case, seed=seed, as_of=as_of)

    with pytest.raises(WorkerError, match=r"as of 2016-04-30 failed: ValueError: boom") as caught:
        replay_dates(SMALL, ledger, DATES, workers=1, forecaster=flaky)
    assert caught.value.as_of == "2016-04-30" and "flaky" in caught.value.detail
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, \
            pytest.raises(WorkerError, match=r"as of 2016-04-30"):
        replay_dates(SMALL, ledger, DATES, scheduler=cluster.scheduler_address, forecaster=flaky)


def test_progress_bar_on_stderr_only_when_asked(ledger, capsys):
    replay_dates(SMALL, ledger, DATES[:2], workers=1, semantics="snapshot")
    assert capsys.readouterr().err == ""
    replay_dates(SMALL, ledger, DATES[:2], workers=1, progress=True, semantics="snapshot")
    assert "2/2" in capsys.readouterr().err


# --- output ---------------------------------------------------------------------------------------


def test_outputs_round_trip_and_text_shows_trajectories(ledger, tmp_path):
    frame = replay_dates(SMALL, ledger, DATES, workers=1, semantics="snapshot")
    csv = save_replay(frame, tmp_path / "out" / "replay.csv")
    back = pd.read_csv(csv, keep_default_na=False, dtype={"node": str, "state": str,
                                                           "as_of": str})
    pd.testing.assert_frame_equal(back, frame, check_dtype=False, check_exact=False,
                                  rtol=1e-12)
    nc = save_replay(frame, tmp_path / "replay.nc")
    with xr.open_dataset(nc) as ds:
        assert ds["mean"].dims == ("as_of", "outcome")
        assert ds.sizes["as_of"] == 3
        assert ds["publishable"].dims == ("as_of",)
        value = ds["mean"].sel(as_of="2016-04-30", outcome="caliphate=yes").item()
        assert json.loads(ds.attrs["seed"]) == 0
    row = frame[(frame["as_of"] == "2016-04-30") & (frame["node"] == "caliphate")
                & (frame["state"] == "yes")]
    assert value == pytest.approx(row["mean"].item(), abs=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.csv", "out", "replay.nc"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["replay.csv"]
    with pytest.raises(ForecastError, match="unknown file type"):
        save_replay(frame, tmp_path / "replay.txt")
    text = replay_text(frame, ["caliphate", "conflict"])
    assert "caliphate = yes" in text and "caliphate = no" not in text  # complement left out
    assert "conflict: observed at every date" in text  # a finding since 2015-06-01
    assert "pro_isis_strength = strong" in replay_text(frame)
    assert text.splitlines()[-1].endswith("every forecast passed its diagnostics")
    assert to_dataset(frame)["node"].values.tolist()[0] == frame["node"].iloc[0]


def test_text_reports_dates_that_failed_their_diagnostics(ledger):
    frame = replay_dates(SMALL, ledger, DATES[:2], workers=1, semantics="snapshot")
    frame.loc[frame["as_of"] == DATES[1], "publishable"] = False
    frame.attrs["diagnostics_failed"] = {DATES[1]: ["largest MCSE 0.0070 > target 0.005"]}
    text = replay_text(frame, ["caliphate"])
    assert f"{DATES[1]}  " in text and "not publishable" in text
    assert "1 failed their diagnostics" in text and "largest MCSE 0.0070" in text


# --- command line ---------------------------------------------------------------------------------


def run(*args: object):
    return CliRunner().invoke(main, ["replay", "--snapshot", *(str(a) for a in args)],
                              catch_exceptions=False)


def test_cli_replays_the_flagship_and_writes_netcdf(tmp_path):
    out = tmp_path / "replay.nc"
    result = run(FLAGSHIP, "--ledger", FLAGSHIP_LEDGER, "--start", "2015-09-30",
                 "--end", "2016-03-31", "--every", "quarter", "--workers", "1", "--out", out)
    assert result.exit_code == 0, result.output
    spec = load_spec(FLAGSHIP)
    for node in spec.scenarios:
        assert node in result.output  # forecast, or "observed at every date"
    assert "isis_claim_pakistan" not in result.output  # not a headline scenario
    assert "3 as-of dates, 2015-09-30 to 2016-03-31" in result.output
    with xr.open_dataset(out) as ds:
        assert ds.sizes["as_of"] == 3
        assert set(spec.node_names) >= set(ds["node"].values.tolist())
    assert not (tmp_path / "runs").exists()


def test_cli_json_and_csv(ledger, tmp_path):
    out = tmp_path / "replay.csv"
    result = run(SMALL, "--ledger", ledger, "--start", DATES[0], "--end", DATES[1],
                 "--workers", "1", "--json", "--all", "--out", out)
    assert result.exit_code == 0, result.output
    records = json.loads(result.output[result.output.index("["):])
    table = pd.read_csv(out)
    assert len(records) == len(table) and records[0]["as_of"] == DATES[0]


@pytest.mark.parametrize(("args", "option"), [
    (["--start", "2015-13-01"], "--start"),
    (["--start", "2016-01-31", "--end", "2015-01-31"], "--end"),
    (["--start", "2016-01-31", "--every", "week"], "--every"),
    (["--start", "2016-01-31", "--out", "replay.txt"], "--out"),
    (["--start", "2016-01-31", "--dask", "nowhere"], "--dask"),
])
def test_cli_bad_options_exit_2_naming_the_option(args, option, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(SMALL, *args)
    assert result.exit_code == 2, result.output
    assert option in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_cli_worker_failures_exit_with_the_date(ledger, tmp_path, monkeypatch):
    model, bad_ledger = _impossible_model(tmp_path)
    result = run(model, "--ledger", bad_ledger, "--start", DATES[0], "--end", DATES[1],
                 "--workers", "1")
    assert result.exit_code == 2 and "as of 2016-04-30" in result.output

    def broken(*args, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(forecast.cli, "FORECASTER", broken)  # the commands' documented seam
    result = run(SMALL, "--ledger", ledger, "--start", DATES[0], "--end", DATES[0],
                 "--workers", "1")
    assert result.exit_code == 1
    assert "as of 2016-01-31 failed: ValueError: boom" in result.output
    assert "Traceback" not in result.output


def test_cli_exit_3_when_a_date_fails_its_diagnostics(ledger, tmp_path, monkeypatch):
    # no inference: a stub forecaster whose diagnostics failed, through the commands' seam
    unconverged = functools.partial(stub_forecast, failed=["Pareto k-hat 0.90 > 0.7"])
    monkeypatch.setattr(forecast.cli, "FORECASTER", unconverged)
    out = tmp_path / "replay.csv"
    result = run(SMALL, "--ledger", ledger, "--start", DATES[0], "--end", DATES[0],
                 "--workers", "1", "--out", out)
    assert result.exit_code == 3
    assert "Pareto k-hat 0.90" in result.output and out.exists()
