"""The dynamic model in the jobs: forecasts from one pass over the record (inference.dynamic),
and update, replay, score and brief running on it by default.

Monte Carlo tolerances: two forecasts of the same quantity from independent particle systems
agree within 5 combined MCSEs (a false alarm about once in 10⁶ per comparison).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from forecast.cli import main
from forecast.errors import ForecastError
from forecast.evidence.case import Case
from forecast.evidence.ledger import load_ledger, no_rows, read_rows
from forecast.inference.dynamic import dynamic_forecasts
from forecast.model.load import load_spec
from forecast.ops.brief import build_brief
from forecast.ops.replay import replay_dates
from forecast.ops.update import update
from forecast.report.plots import plot_fan
from tests.stubs import stub_forecast

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "models" / "afghan_caliphate.yaml"
HEADER = "id,date,node,state,likelihood,grade,source,url,note\n"
PARTICLES = 400


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """The small model with a complete record of 'caliphate' from 2015-01-01, so that
    non-occurrence is observed."""
    text = SMALL.read_text(encoding="utf-8")
    old = ("    parents: [reconciliation, conflict, pro_isis_strength]\n    definition:\n"
           "      kind: event\n")
    assert old in text
    text = text.replace(old, old + "      complete_from: 2015-01-01\n")
    path = tmp_path_factory.mktemp("model") / "small.yaml"
    path.write_text(text, encoding="utf-8")
    load_spec(path)  # valid
    return path


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ledger") / "ledger.csv"
    path.write_text(HEADER + "\n".join([
        "T1,2015-02-01,conflict,worsening,,B2,Dawn,https://www.dawn.com/news/1,test row",
        "T2,2016-02-01,hardliners_back_isis,yes,,B2,Dawn,https://www.dawn.com/news/2,test row",
        "T3,2016-05-15,pro_isis_strength,,0.3;0.7,B3,Reuters,https://example.org/3,test row",
    ]) + "\n", encoding="utf-8")
    return path


def _row(forecast, node, state):
    return forecast.sel(node=node, state=state)


def test_headline_rows_are_the_events_windows_and_horizons_are_cumulative(model, ledger):
    spec = load_spec(model)
    found = dynamic_forecasts(spec, load_ledger(ledger, spec), ["2016-06-30"],
                              particles=PARTICLES)
    (dated,) = found
    f = dated.forecast
    h = f.horizons
    assert sorted(h["horizon"].unique()) == list(range(1, 9))
    yes = h[(h["node"] == "caliphate") & (h["state"] == "yes")].sort_values("horizon")
    assert np.all(np.diff(yes["mean"].to_numpy()) >= -1e-12)  # within h steps only grows
    # the headline "within 24 months" is the 8-quarter horizon
    headline = _row(f, "caliphate", "yes")["mean"]
    assert headline == pytest.approx(yes["mean"].iloc[-1], abs=1e-12)
    both = h[(h["node"] == "caliphate")].groupby("horizon")["mean"].sum()
    np.testing.assert_allclose(both.to_numpy(), 1.0, atol=1e-9)
    assert f.attrs["method"] == "ibis" and f.attrs["as_of"] == "2016-06-30"
    # the closed quarters 2015Q1..2016Q1 were observed as "no"; 2016Q2 is closed too (the
    # as-of day ends it) but ends after the ledger's newest row (2016-05-15): unobserved
    none = dated.evidence[dated.evidence["how"] == "nonoccurrence"]
    assert set(none["node"]) == {"caliphate"}
    assert list(none["step_label"]) == [f"{y}Q{q}" for y, q in
                                        [(2015, 1), (2015, 2), (2015, 3), (2015, 4), (2016, 1)]]


def test_one_pass_over_many_dates_agrees_with_a_pass_per_date(model, ledger):
    spec = load_spec(model)
    rows = load_ledger(ledger, spec)
    start = rows["date"].min().date()
    many = dynamic_forecasts(spec, rows, ["2016-03-31", "2016-09-30"], particles=PARTICLES,
                             seed=1, start=start)
    one = dynamic_forecasts(spec, rows, ["2016-03-31"], particles=PARTICLES, seed=2,
                            start=start)[0]
    a, b = many[0].forecast.summary, one.forecast.summary
    gap = np.abs(a["mean"] - b["mean"])
    assert np.all(gap <= 5 * np.hypot(a["mcse"], b["mcse"]) + 1e-9), gap.max()


def test_a_row_inside_the_as_of_step_counts_up_to_the_as_of_day(model, ledger, tmp_path):
    spec = load_spec(model)
    extra = tmp_path / "extra.csv"
    extra.write_text(ledger.read_text() + "T4,2016-08-10,conflict,easing,,B1,Reuters,"
                     "https://example.org/4,test row\n", encoding="utf-8")
    rows = load_ledger(extra, spec)
    start = rows["date"].min().date()
    before, after = (dynamic_forecasts(spec, rows, [day], particles=PARTICLES, start=start)[0]
                     for day in ("2016-08-09", "2016-08-10"))
    assert "T4" not in set(before.evidence["id"]) and "T4" in set(after.evidence["id"])
    moved = (_row(after.forecast, "conflict", "easing")["mean"]
             - _row(before.forecast, "conflict", "easing")["mean"])
    assert moved > 0.2  # a B1 report of 'easing' in the as-of quarter itself


def test_bad_options_are_one_clear_error(model, ledger):
    spec = load_spec(model)
    rows = load_ledger(ledger, spec)
    with pytest.raises(ForecastError) as err:
        dynamic_forecasts(spec, rows, [], horizons=[0], particles=1)
    fields = {p.field for p in err.value.problems}
    assert fields == {"dates", "horizons", "particles"}


def test_update_runs_the_dynamic_model_by_default_and_stores_its_timeline(model, ledger,
                                                                          tmp_path):
    runs = tmp_path / "runs"
    first = update(model, ledger, as_of="2016-06-30", runs_dir=runs, particles=PARTICLES,
                   allow_unconverged=True)
    assert first.status == "published"
    manifest = first.run.manifest
    assert manifest["semantics"] == "dynamic" and manifest["method"] == "ibis"
    assert manifest["options"] == {"semantics": "dynamic", "particles": PARTICLES,
                                   "grades": True, "nonoccurrence": True}
    stored = read_rows(first.run.path / "evidence.csv")
    assert {"report", "soft", "nonoccurrence"} <= set(stored["how"])
    assert stored["step"].dtype == np.int64
    again = update(model, ledger, as_of="2016-06-30", runs_dir=runs, particles=PARTICLES,
                   allow_unconverged=True)
    assert again.status == "unchanged"
    # grades off, or the snapshot semantics: other inputs, a new run
    plain = update(model, ledger, as_of="2016-06-30", runs_dir=runs, particles=PARTICLES,
                   grades=False, allow_unconverged=True)
    assert plain.status == "published"
    snap = update(model, ledger, as_of="2016-06-30", runs_dir=runs, semantics="snapshot")
    assert snap.status == "published" and snap.run.manifest["semantics"] == "snapshot"
    with pytest.raises(ForecastError, match="snapshot"):
        update(model, ledger, as_of="2016-06-30", runs_dir=runs, semantics="dynamic",
               forecaster=stub_forecast)
    with pytest.raises(ForecastError, match="semantics"):
        update(model, ledger, as_of="2016-06-30", runs_dir=runs, semantics="static")


def test_grades_count_by_default(model, ledger, tmp_path):
    """Re-grading the sources from B to E changes the dynamic forecast (it did nothing before)."""
    spec = load_spec(model)
    graded = tmp_path / "graded.csv"
    graded.write_text(ledger.read_text() + "T5,2016-03-01,conflict,easing,,B2,AFP,"
                      "https://example.org/5,test row\n", encoding="utf-8")
    regraded = tmp_path / "regraded.csv"
    regraded.write_text(graded.read_text().replace(",B2,", ",E2,").replace(",B3,", ",E3,"),
                        encoding="utf-8")
    kw = {"particles": PARTICLES, "seed": 4}
    good = dynamic_forecasts(spec, load_ledger(graded, spec), ["2016-03-31"], **kw)[0]
    poor = dynamic_forecasts(spec, load_ledger(regraded, spec), ["2016-03-31"], **kw)[0]
    a = _row(good.forecast, "conflict", "easing")["mean"]
    b = _row(poor.forecast, "conflict", "easing")["mean"]
    assert a > b + 0.05  # a B report of 'easing' in the quarter is believed more than an E one


def test_replay_is_one_pass_with_the_replay_frame(model, ledger):
    frame = replay_dates(model, ledger, ["2016-03-31", "2015-09-30", "2016-06-30"],
                         particles=PARTICLES)
    assert list(frame["as_of"].unique()) == ["2015-09-30", "2016-03-31", "2016-06-30"]
    assert set(frame["method"]) == {"ibis"}
    counts = frame.drop_duplicates("as_of")["n_evidence"].tolist()
    assert counts == [1, 2, 3]  # rows of the ledger, non-occurrence not counted
    assert frame.attrs["semantics"] == "dynamic"
    with pytest.raises(ForecastError, match="one pass"):
        replay_dates(model, ledger, ["2016-03-31"], scheduler="local")


def test_brief_of_a_dynamic_run_shows_horizons_and_a_fan(model, ledger, tmp_path):
    runs = tmp_path / "runs"
    for day in ("2016-03-31", "2016-06-30"):
        update(model, ledger, as_of=day, runs_dir=runs, particles=PARTICLES,
               allow_unconverged=True)
    data = build_brief(model, runs)
    assert data.horizons and [h[0] for h in data.horizons[0].values] == [1, 4, 8]
    assert all(c.drivers == () for c in data.changes)
    assert any("snapshot network" in n for n in data.notes)
    assert any("non-occurrence" in n for n in data.notes)
    assert all(r.window.startswith("its step") for r in data.evidence)
    assert data.scorecard and all(c.claim in load_spec(model).claims for c in data.scorecard)
    figure = plot_fan(data.inputs.forecast, [f"{j.node}={j.state}" for j in data.judgments])
    assert figure.axes[0].get_xlim() == (0.0, 8.0)
    with pytest.raises(ForecastError, match="unknown outcomes"):
        plot_fan(data.inputs.forecast, "caliphate=maybe")


def test_cli_semantics_options(model, ledger, tmp_path):
    runs = tmp_path / "runs"
    run = CliRunner().invoke(main, ["update", str(model), "--ledger", str(ledger), "--as-of",
                                    "2016-06-30", "--runs", str(runs), "--particles", "500",
                                    "--allow-unconverged", "--json"])
    assert run.exit_code in (0, 3), run.output
    assert '"status": "published"' in run.stdout
    clash = CliRunner().invoke(main, ["update", str(model), "--snapshot", "--no-grades",
                                      "--runs", str(runs)])
    assert clash.exit_code == 2 and "options of the dynamic model" in clash.stderr
    assert "Traceback" not in clash.output
    few = CliRunner().invoke(main, ["update", str(model), "--particles", "100", "--runs",
                                    str(runs)])
    assert few.exit_code == 2 and "at least" not in few.stdout  # click's range error
    pool = CliRunner().invoke(main, ["replay", str(model), "--ledger", str(ledger), "--start",
                                     "2016-03-31", "--end", "2016-06-30", "--workers", "2"])
    assert pool.exit_code == 2 and "--workers applies to --snapshot" in pool.stderr
    dask = CliRunner().invoke(main, ["replay", str(model), "--ledger", str(ledger), "--start",
                                     "2016-03-31", "--end", "2016-06-30", "--dask", "local"])
    assert dask.exit_code == 2 and "--dask" in dask.stderr and "Traceback" not in dask.output


def test_claims_scorecard_compares_each_claim_with_the_record(model, ledger):
    from forecast.analysis.claims import SCORECARD_COLUMNS, VERDICTS, claims_scorecard

    spec = load_spec(model)
    f = dynamic_forecasts(spec, load_ledger(ledger, spec), ["2016-06-30"],
                          particles=PARTICLES)[0].forecast
    card = claims_scorecard(spec, f)
    assert list(card.columns) == list(SCORECARD_COLUMNS)
    assert set(card["claim"]) <= set(spec.claims) and len(card) > 0
    assert set(card["verdict"]) <= set(VERDICTS)
    assert np.all(card["prior_5%"] <= card["prior_or"]) and np.all(
        card["prior_or"] <= card["prior_95%"])
    # a forecast whose draws are the prior's: nothing is learned, so nothing is tested
    same = claims_scorecard(spec, _prior_forecast(spec), draws=4000, seed=1)
    assert set(same["verdict"]) == {"not tested"}
    with pytest.raises(ForecastError, match="no parameter draws"):
        claims_scorecard(spec, stub_forecast(spec, Case(), seed=0, as_of="2016-06-30"))


def _prior_forecast(spec):
    """A forecast whose 4000 parameter draws are prior draws (a record that says nothing):
    the means then differ from another prior sample's by about 0.016 sd, far inside the
    scorecard's 0.1 sd."""
    import pandas as pd
    import xarray as xr

    from forecast.inference.importance import _theta_table
    from forecast.inference.result import Forecast
    from forecast.model.parameters import parameters, sample_parameters

    names, theta = _theta_table(parameters(spec), sample_parameters(spec, 4000, 7),
                                slice(None))
    rng = np.random.default_rng(0)
    f = Forecast.from_draws(pd.DataFrame({"caliphate=yes": rng.uniform(size=4000)}))
    f.idata["posterior"]["theta"] = xr.DataArray(theta[None], dims=("chain", "draw",
                                                                    "parameter"),
                                                 coords={"parameter": names})
    return f


def test_without_a_ledger_nothing_is_observed_not_even_non_occurrence(model):
    spec = load_spec(model)
    frame = replay_dates(model, None, ["2016-06-30"], particles=PARTICLES, seed=5)
    assert frame["n_evidence"].tolist() == [0] * len(frame)
    quiet = dynamic_forecasts(spec, no_rows(), ["2016-06-30"], particles=PARTICLES, seed=5,
                              nonoccurrence=False)[0].forecast.summary
    np.testing.assert_allclose(frame["mean"].to_numpy(), quiet["mean"].to_numpy(), atol=1e-12)


def test_chains_share_the_particles_and_report_r_hat(model, ledger):
    spec = load_spec(model)
    rows = load_ledger(ledger, spec)
    (dated,) = dynamic_forecasts(spec, rows, ["2016-06-30"], particles=2 * PARTICLES,
                                 chains=2, seed=3)
    f = dated.forecast
    diagnostics = f.attrs["diagnostics"]
    assert diagnostics["chains"] == 2 and diagnostics["particles"] == 2 * PARTICLES
    assert f.idata["posterior"].sizes["chain"] == 2
    # two passes of the same sampler agree: a split R-hat near 1 (passes below 1.05 with
    # 400 resampled draws each; the gate at 1.01 is for the default 2 × 1000)
    assert 0.99 < diagnostics["rhat"] < 1.05
    one = dynamic_forecasts(spec, rows, ["2016-06-30"], particles=PARTICLES, seed=3)[0]
    assert one.forecast.attrs["diagnostics"]["rhat"] is None
    with pytest.raises(ForecastError) as err:
        dynamic_forecasts(spec, rows, ["2016-06-30"], particles=3, chains=2)
    assert [p.field for p in err.value.problems] == ["particles"]


def test_an_update_resumes_from_the_last_updates_checkpoint_with_the_same_result(
        model, ledger, tmp_path, caplog):
    runs = tmp_path / "runs"
    update(model, ledger, as_of="2016-06-29", runs_dir=runs, particles=PARTICLES,
           allow_unconverged=True)
    folder = runs / "afghan_caliphate" / ".checkpoints"
    kept = list(folder.glob("*.npz"))
    assert len(kept) == 1
    # the next quarter: resumed from 2016Q1's checkpoint, the same numbers as a fresh pass
    resumed = update(model, ledger, as_of="2016-09-30", runs_dir=runs, particles=PARTICLES,
                     allow_unconverged=True)
    fresh = update(model, ledger, as_of="2016-09-30", runs_dir=tmp_path / "fresh",
                   particles=PARTICLES, allow_unconverged=True, resume=False)
    assert not (tmp_path / "fresh" / "afghan_caliphate" / ".checkpoints").exists()
    np.testing.assert_array_equal(resumed.summary["mean"], fresh.summary["mean"])
    assert resumed.run.manifest["diagnostics"] == fresh.run.manifest["diagnostics"]
    # a damaged checkpoint is ignored (a warning), and the forecast is still the same
    kept[0].write_bytes(b"not a checkpoint")
    again = tmp_path / "again"
    import shutil
    shutil.copytree(runs / "afghan_caliphate" / ".checkpoints",
                    again / "afghan_caliphate" / ".checkpoints")
    (again / "afghan_caliphate" / ".checkpoints" / kept[0].name).write_bytes(b"damaged")
    with caplog.at_level("WARNING"):
        damaged = update(model, ledger, as_of="2016-09-30", runs_dir=again,
                         particles=PARTICLES, allow_unconverged=True)
    assert "ignoring unreadable checkpoint" in caplog.text
    np.testing.assert_array_equal(damaged.summary["mean"], fresh.summary["mean"])


def test_a_checkpoint_is_not_used_once_a_row_before_its_step_changes(model, ledger, tmp_path):
    from forecast.ops.store import CheckpointFolder

    spec = load_spec(model)
    rows = load_ledger(ledger, spec)
    folder = CheckpointFolder(tmp_path / "checkpoints")
    dynamic_forecasts(spec, rows, ["2016-09-30"], particles=PARTICLES, checkpoints=folder)
    (path,) = folder.folder.glob("*.npz")
    key = path.stem
    found = folder.find(key, ["x"] * 100)
    assert found is None  # another record
    changed = rows.copy()
    changed.loc[changed["id"] == "T1", "state"] = "easing"
    seen = []

    class Spy(CheckpointFolder):
        def find(self, key, record):
            got = super().find(key, record)
            seen.append(got)
            return got

    dynamic_forecasts(spec, changed, ["2016-12-31"], particles=PARTICLES,
                      checkpoints=Spy(folder.folder))
    dynamic_forecasts(spec, rows, ["2016-12-31"], particles=PARTICLES,
                      checkpoints=Spy(folder.folder))
    assert seen[0] is None  # T1 (2015Q1) changed: the checkpoint does not fit
    assert seen[1] is None  # and the changed pass's checkpoint does not fit the old rows


def test_doubt_loosens_the_priors_the_sampler_starts_from(model):
    spec = load_spec(model)
    text = model.read_text(encoding="utf-8").replace(
        "  time:\n", "  time:\n    doubt: {weight: 0.3, assumption: test}\n", 1)
    loose_path = model.parent / "loose.yaml"
    loose_path.write_text(text, encoding="utf-8")
    loose = load_spec(loose_path)
    assert loose.fingerprint != spec.fingerprint

    def theta_sd(s):
        f = dynamic_forecasts(s, no_rows(), ["2016-06-30"], particles=2000)[0].forecast
        th = f.idata.posterior["theta"]
        return th.std(("chain", "draw")).to_series(), th.mean(("chain", "draw")).to_series()

    sd0, mean0 = theta_sd(spec)
    sd1, mean1 = theta_sd(loose)
    probs = [n for n in sd0.index if (mean0[n] > 0) and (mean0[n] < 1) and "effect" not in n]
    assert len(probs) >= 3
    assert all(sd1[n] > sd0[n] for n in probs), (sd0[probs], sd1[probs])
    # the same means (5 standard errors of 2,000 draws)
    assert all(abs(mean1[n] - mean0[n]) < 5 * sd1[n] / np.sqrt(2000) for n in probs)


def test_a_checkpoint_that_cannot_be_written_is_a_warning_not_a_failure(model, ledger, tmp_path,
                                                                       caplog):
    from forecast.ops.store import CheckpointFolder

    spec = load_spec(model)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    folder = CheckpointFolder(blocker / "checkpoints")  # under a regular file: cannot exist
    with caplog.at_level("WARNING"):
        found = dynamic_forecasts(spec, load_ledger(ledger, spec), ["2016-06-30"],
                                  particles=PARTICLES, checkpoints=folder)
    assert found and "could not keep a checkpoint" in caplog.text


def test_an_update_long_after_the_newest_row_says_so(model, ledger, tmp_path):
    runs = tmp_path / "runs"
    fresh = update(model, ledger, as_of="2016-06-30", runs_dir=runs, particles=PARTICLES,
                   allow_unconverged=True)
    assert fresh.notes == []  # the newest row (2016-05-15) is 46 days before
    result = CliRunner().invoke(main, ["update", str(model), "--ledger", str(ledger),
                                       "--as-of", "2017-03-31", "--runs", str(runs),
                                       "--particles", "500", "--allow-unconverged"])
    assert result.exit_code == 0, result.output
    assert ("warning: newest evidence: 2016-05-15 (320 days before the as-of date 2017-03-31, "
            "more than 90)") in result.stderr


def test_parameter_draws_follow_the_resampled_particles_and_fixed_values_repeat():
    """A draw's parameters are the same particle's as its probabilities (the resampling index
    used to be ignored), and a fixed value (log_odds: 1.0) is a column of that number (it used
    to be a reshape error, exit 1, for any model with a fixed effect)."""
    from forecast.inference.dynamic import _flatten
    from forecast.model.load import load_spec

    names, theta = _flatten({"a": np.arange(5.0), "b": np.arange(10.0).reshape(5, 2)},
                            np.array([4, 4, 0]))
    assert names == ["a", "b[0]", "b[1]"]
    assert theta.tolist() == [[4, 8, 9], [4, 8, 9], [0, 0, 1]]
    spec = load_spec(ROOT / "tests" / "data" / "malformed" / "models" / "_base.yaml")
    (dated,) = dynamic_forecasts(spec, no_rows(), ["2016-01-01"], particles=500, seed=1)
    post = dated.forecast.idata.posterior
    names = [str(n) for n in post["parameter"].values]
    fixed = [n for n in names if "effect" in n and "cause" in n]
    assert fixed, names
    column = post["theta"].sel(parameter=fixed[0]).values
    assert np.all(column == 1.0)
