from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from forecast.cli import main
from forecast.model.cpts import prior_mean_network
from forecast.model.load import load_spec
from forecast.network.exact import ExactEngine
from tests.guards import hang_guard
from tests.stubs import stub_forecast

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "models" / "afghan_caliphate.yaml"
BROKEN = ROOT / "tests" / "data" / "specs" / "many_problems.yaml"


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_validate_prints_a_summary():
    result = run("validate", EXAMPLE)
    assert result.exit_code == 0, result.output
    assert "valid: 6 nodes" in result.output
    assert "caliphate" in result.output and "claims (elements citing each):" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 120


def test_validate_lists_every_problem_and_exits_2_without_traceback():
    result = run("validate", BROKEN)
    assert result.exit_code == 2
    assert "19 problems" in result.output
    assert "many_problems.yaml:39" in result.output  # the misspelt key, with its line
    assert "Traceback" not in result.output


def test_missing_file_is_a_clear_error():
    result = run("query", "no/such/model.yaml")
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_query_json_matches_the_library():
    result = run("query", EXAMPLE, "--evidence", "reconciliation=failed",
                 "--soft", "conflict=0.2,0.3,0.9", "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    post = ExactEngine(prior_mean_network(load_spec(EXAMPLE))).query(
        {"reconciliation": "failed"}, {"conflict": [0.2, 0.3, 0.9]})
    assert got["log_evidence"] == pytest.approx(post.log_evidence, abs=1e-12)
    for node, probs in post.marginals.items():
        np.testing.assert_allclose(list(got["marginals"][node].values()), probs, atol=1e-12)


def test_headline_failed_reconciliation_raises_caliphate_odds():
    def p_caliphate(state: str) -> float:
        out = run("query", EXAMPLE, "-e", f"reconciliation={state}", "--json")
        return json.loads(out.output)["marginals"]["caliphate"]["yes"]

    assert p_caliphate("failed") > p_caliphate("achieved")


def test_query_text_output_marks_findings():
    result = run("query", EXAMPLE, "-e", "reconciliation=failed")
    assert result.exit_code == 0
    assert "(observed)" in result.output and "log P(e)" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-e", "reconciliation"], "expected NODE=STATE"),
        (["-e", "reconcilation=failed"], "did you mean 'reconciliation'"),
        (["-e", "reconciliation=maybe"], "no state 'maybe'"),
        (["-s", "conflict=a,b"], "expected NODE=L1,L2"),
        (["-s", "conflict=0.5,0.5"], "needs 3 likelihoods"),
    ],
)
def test_bad_evidence_is_one_clear_error(args, message):
    result = run("query", EXAMPLE, *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_impossible_evidence_exit_2():
    # hard evidence contradicting a soft finding of zero likelihood
    result = run("query", EXAMPLE, "-e", "reconciliation=failed", "-s", "caliphate=0,0")
    assert result.exit_code == 2
    assert "impossible" in result.output


def test_console_script_is_installed():
    # the script of this interpreter's environment (what pip install put beside it)
    exe = shutil.which("forecast", path=str(Path(sys.executable).parent)) or shutil.which(
        "forecast")
    assert exe, "the 'forecast' console script is not installed; pip install -e ."
    done = subprocess.run([exe, "validate", str(EXAMPLE)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr


def test_module_entry_point():
    done = subprocess.run([sys.executable, "-m", "forecast.cli", "--help"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0 and "query" in done.stdout


def test_query_posterior_prints_intervals():
    result = run("query", EXAMPLE, "-e", "reconciliation=failed", "--posterior", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert "90% interval" in result.output and "Pareto k" in result.output
    assert "NOT PUBLISHABLE" not in result.output


def test_query_posterior_json_records():
    result = run("query", EXAMPLE, "-e", "reconciliation=failed", "--posterior", "--json")
    records = json.loads(result.output)
    row = next(r for r in records if r["node"] == "caliphate" and r["state"] == "yes")
    assert row["hdi_5%"] < row["mean"] < row["hdi_95%"]
    assert row["mcse"] <= 0.005


def test_query_posterior_refuses_bif(tmp_path):
    path = tmp_path / "x.bif"
    path.write_text("network x {}\n")
    result = run("query", path, "--posterior")
    assert result.exit_code == 2 and "needs a model file" in result.output


def test_flagship_query_shows_headline_scenarios_unless_all():
    flagship = ROOT / "models" / "isis_pakistan_2015.yaml"
    short = run("query", flagship, "--posterior")
    assert short.exit_code == 0, short.output
    assert "caliphate_declared" in short.output and "ttp_relocation" not in short.output
    assert "no evidence" in short.output
    full = run("query", flagship, "-e", "reconciliation=none", "--all")
    assert "ttp_relocation" in full.output


@pytest.mark.parametrize(
    "args",
    [
        ["-e", "caliphate_declared=yes", "-e", "border_territory_held=yes",
         "-e", "isis_attack_pakistan=no", "-e", "isis_influence_pakistan=high", "--posterior"],
        ["-s", "caliphate_declared=1e-320,1e-320"],
        ["-s", "caliphate_declared=1e-320,1e-320", "--json"],
        ["--posterior", "--seed", "-1"],
        ["-e", "reconciliation=none", "-e", "reconciliation=achieved"],
        ["-s", "reconciliation=1,2", "-s", "reconciliation=2,1"],
    ],
)
def test_odd_arguments_never_give_a_traceback(args):
    flagship = ROOT / "models" / "isis_pakistan_2015.yaml"
    result = CliRunner().invoke(main, ["query", str(flagship), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output and "nan" not in result.output.lower()
    if "--json" in args:
        json.loads(result.output)


def test_do_next_to_conditioning():
    done = run("query", EXAMPLE, "--posterior", "--do", "caliphate=yes", "--json", "--all")
    seen = run("query", EXAMPLE, "--posterior", "-e", "caliphate=yes", "--json", "--all")
    assert done.exit_code == 0 and seen.exit_code == 0, done.output + seen.output

    def p(output, node, state):
        return next(r["mean"] for r in json.loads(output)
                    if r["node"] == node and r["state"] == state)

    # seeing a caliphate is evidence about reconciliation; forcing one is not
    assert p(seen.output, "reconciliation", "failed") > p(done.output, "reconciliation",
                                                          "failed") + 0.02
    # without --posterior: the point answer on the prior-mean network, cut (tests/test_mpe.py)
    point = run("query", EXAMPLE, "--do", "caliphate=yes", "--json")
    assert point.exit_code == 0 and json.loads(point.output)["marginals"]["caliphate"] == {
        "no": 0.0, "yes": 1.0}


# --- forecast update ------------------------------------------------------------------------------

FLAGSHIP = ROOT / "models" / "isis_pakistan_2015.yaml"
FLAGSHIP_LEDGER = ROOT / "data" / "isis_pakistan_ledger.csv"


def test_update_publishes_then_says_unchanged_then_reports_the_shift(tmp_path):
    ledger = tmp_path / "ledger.csv"
    shutil.copyfile(FLAGSHIP_LEDGER, ledger)
    args = ("update", "--snapshot", FLAGSHIP, "--ledger", ledger, "--as-of", "2025-11-20",
            "--runs", tmp_path / "runs")
    first = run(*args)
    assert first.exit_code == 0, first.output
    assert first.output.startswith("published run ")
    assert "key judgments (mean, 90% interval):" in first.output
    assert "caliphate_declared = yes:" in first.output and "confidence" in first.output
    second = run(*args)
    assert second.exit_code == 0, second.output
    assert second.output.startswith("unchanged:") and "nothing written" in second.output
    with ledger.open("a", encoding="utf-8") as handle:
        handle.write("E900,2025-11-18,isis_influence_pakistan,,0.1;0.9,B2,Dawn,"
                     "https://www.dawn.com/news/900,test row\n")
    third = run(*args, "--json")
    assert third.exit_code == 0, third.output
    data = json.loads(third.output)
    assert data["status"] == "published" and data["run_id"] and data["previous_run_id"]
    assert {"node", "state", "mean", "hdi_5%", "hdi_95%"} <= set(data["summary"][0])
    moved = {(c["node"], c["state"]): c for c in data["changes"]}
    assert moved[("isis_influence_pakistan", "high")]["delta"] > 0.1
    assert data["evidence_changes"]["added"] == ["E900"]  # and the row it superseded left
    assert len(data["evidence_changes"]["dropped"]) == 1
    with ledger.open("a", encoding="utf-8") as handle:
        handle.write("E901,2025-11-19,isis_influence_pakistan,,0.9;0.1,B2,Dawn,"
                     "https://www.dawn.com/news/901,test row\n")
    explained = run(*args)
    assert explained.exit_code == 0, explained.output
    assert "ledger rows that count now and did not: E901; that no longer count: E900" in (
        explained.output)
    assert "isis_influence_pakistan = high:" in explained.output.split("changes since run")[1]
    fourth = run(*args[:-2], "--runs", tmp_path / "runs", "--seed", "1")
    assert fourth.exit_code == 0 and fourth.output.startswith("published run ")  # a new seed
    assert "since run" in fourth.output  # compared with the last run (moved or not)


def test_update_bad_ledger_exits_2_and_writes_nothing(tmp_path):
    result = run("update", "--snapshot", FLAGSHIP, "--ledger", ROOT / "tests" / "data" / "ledgers" /
                 "broken.csv", "--runs", tmp_path / "runs")
    assert result.exit_code == 2
    assert "broken.csv:3" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()
    bad_date = run("update", "--snapshot", FLAGSHIP, "--as-of", "next week", "--runs",
                   tmp_path / "runs")
    assert bad_date.exit_code == 2 and "not an ISO date" in bad_date.output


def test_update_failed_diagnostics_exit_3_and_unexpected_failure_exit_1(tmp_path, monkeypatch):
    import forecast.cli
    import forecast.ops.store

    # no inference: the commands' forecaster is a stub (through the CLI's documented seam)
    unconverged = functools.partial(stub_forecast, failed=["ess too low"])
    monkeypatch.setattr(forecast.cli, "FORECASTER", unconverged)
    runs = tmp_path / "runs"
    result = run("update", "--snapshot", FLAGSHIP, "--as-of", "2025-11-20", "--runs", runs)
    assert result.exit_code == 3 and "ess too low" in result.output
    assert "unconverged: nothing published" in result.output
    assert not list((runs / "isis_pakistan_2015").glob("2*"))
    allowed = run("update", "--snapshot", FLAGSHIP, "--as-of", "2025-11-20", "--runs", runs,
                  "--allow-unconverged")
    assert allowed.exit_code == 0 and "warning: published although" in allowed.output

    def broken(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.undo()
    monkeypatch.setattr(forecast.cli, "FORECASTER", stub_forecast)
    monkeypatch.setattr(forecast.ops.store.RunStore, "publish", broken)
    failed = run("update", "--snapshot", FLAGSHIP, "--as-of", "2025-11-19", "--runs", runs)
    assert failed.exit_code == 1
    assert "unexpected failure: OSError: disk full" in failed.output


def test_update_runs_as_a_scheduler_would(tmp_path):
    command = [sys.executable, "-m", "forecast.cli", "update", "--snapshot", str(FLAGSHIP),
               "--ledger",
               str(FLAGSHIP_LEDGER), "--as-of", "2025-11-20", "--runs", str(tmp_path / "runs")]
    first = subprocess.run(command, capture_output=True, text=True, timeout=hang_guard(30))
    assert first.returncode == 0, first.stderr
    second = subprocess.run(command, capture_output=True, text=True,
                            timeout=hang_guard(30))
    assert second.returncode == 0 and second.stdout.startswith("unchanged:")


def test_history_command(tmp_path):
    flagship = ROOT / "models" / "isis_pakistan_2015.yaml"
    ledger = ROOT / "data" / "isis_pakistan_ledger.csv"
    runs = tmp_path / "runs"
    assert "no runs" in run("history", flagship, "--runs", runs).output
    for as_of in ("2016-06-30", "2025-11-20"):
        done = run("update", "--snapshot", flagship, "--ledger", ledger, "--as-of", as_of,
                   "--runs", runs)
        assert done.exit_code == 0, done.output
    text = run("history", flagship, "--runs", runs)
    assert text.exit_code == 0 and "caliphate_declared = yes" in text.output
    assert "2016-06-30" in text.output and "2025-11-20" in text.output
    records = json.loads(run("history", flagship, "--runs", runs, "--json").output)
    assert {r["as_of"] for r in records} == {"2016-06-30", "2025-11-20"}


def test_update_exits_75_when_another_update_holds_the_lock(tmp_path):
    from forecast.ops.store import RunStore

    model = ROOT / "models" / "isis_pakistan_2015.yaml"
    with RunStore(tmp_path / "runs", "isis_pakistan_2015").lock():
        result = CliRunner().invoke(main, ["update", "--snapshot", str(model), "--runs",
                                           str(tmp_path / "runs"),
                                           "--lock-timeout", "0.05"])
    assert result.exit_code == 75, result.output
    assert "another update holds the lock" in result.stderr and "Traceback" not in result.output
