from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from forecast.analysis.metrics import (
    brier_score,
    brier_skill,
    calibration_table,
    evaluate,
    log_score,
)
from forecast.analysis.questions import (
    QUESTION_COLUMNS,
    load_questions,
    question_probabilities,
    window_end,
)
from forecast.cli import main
from forecast.errors import EvidenceError, ForecastError

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "isis_pakistan_2015.yaml"
LEDGER = ROOT / "data" / "isis_pakistan_ledger.csv"
QUESTIONS = ROOT / "data" / "isis_pakistan_questions.csv"
HEADER = ",".join(QUESTION_COLUMNS)
CALIBRATION_COLUMNS = ["forecaster", "bin_low", "bin_high", "n", "forecast_mean", "observed",
                       "observed_low", "observed_high"]


@pytest.fixture(scope="module")
def spec(flagship_spec):
    return flagship_spec


@pytest.fixture(scope="module")
def ledger(flagship_ledger):
    return flagship_ledger


def write(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "questions.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def problems_of(path: Path, spec, ledger=None) -> str:
    with pytest.raises(EvidenceError) as info:
        load_questions(path, spec, ledger)
    return str(info.value)


# --- metrics --------------------------------------------------------------------------------------


def test_brier_score_by_hand():
    # (0.9 - 1)^2 + (0.2 - 0)^2 + (0.5 - 1)^2 = 0.01 + 0.04 + 0.25 = 0.30, over 3
    assert brier_score([0.9, 0.2, 0.5], [1, 0, 1]) == pytest.approx(0.1, abs=1e-15)
    assert brier_score([0.5] * 4, [1, 0, 0, 1]) == 0.25
    assert brier_score([1.0, 0.0], [1, 0]) == 0.0


def test_log_score_by_hand():
    expected = -(math.log(0.9) + math.log(0.8) + math.log(0.5)) / 3
    assert log_score([0.9, 0.2, 0.5], [1, 0, 1]) == pytest.approx(expected, rel=1e-14)
    assert log_score([0.5, 0.5], [0, 1]) == pytest.approx(math.log(2), rel=1e-14)


def test_log_score_clips_certain_forecasts():
    assert log_score([0.0], [1]) == pytest.approx(-math.log(1e-6), rel=1e-12)  # 13.8, not inf
    assert log_score([1.0], [0]) == pytest.approx(-math.log(1e-6), rel=1e-9)
    assert log_score([1.0, 0.0], [1, 0]) == pytest.approx(-math.log1p(-1e-6), rel=1e-9)


def test_brier_skill_by_hand():
    assert brier_skill(0.1, 0.25) == pytest.approx(0.6)
    assert brier_skill(0.5, 0.25) == pytest.approx(-1.0)
    assert brier_skill(0.0, 0.0) == 0.0
    assert brier_skill(0.1, 0.0) == -math.inf


@pytest.mark.parametrize(("p", "y", "what"), [
    ([0.5, float("nan")], [1, 0], "probabilities"),
    ([0.5, 1.2], [1, 0], "probabilities"),
    ([0.5, 0.5], [1, 2], "outcomes"),
    ([0.5], [1, 0], "one probability per outcome"),
    ([], [], "one probability per outcome"),
])
def test_metrics_refuse_bad_input(p, y, what):
    for metric in (brier_score, log_score, calibration_table):
        with pytest.raises(ForecastError, match=what):
            metric(p, y)


def test_calibration_bins_edges_and_empty_bins():
    p = [0.0, 0.05, 0.3, 0.3, 0.95, 1.0]
    table = calibration_table(p, [0, 0, 1, 0, 1, 1], bins=10)
    assert list(table.columns) == CALIBRATION_COLUMNS[1:]
    # p = 0 in the first bin, 0.3 (3.0000000000000004 tenths) in [0.3, 0.4), p = 1 in the last;
    # the seven empty bins are not shown
    assert table["bin_low"].tolist() == pytest.approx([0.0, 0.3, 0.9])
    assert table["bin_high"].tolist() == pytest.approx([0.1, 0.4, 1.0])
    assert table["n"].tolist() == [2, 2, 2]
    assert table["forecast_mean"].tolist() == pytest.approx([0.025, 0.3, 0.975])
    assert table["observed"].tolist() == [0.0, 0.5, 1.0]
    assert calibration_table([0.57], [1], bins=100)["bin_low"].item() == pytest.approx(0.57)
    assert calibration_table([1.0], [1], bins=4)["bin_low"].item() == 0.75


def test_calibration_jeffreys_interval():
    table = calibration_table([0.3, 0.3, 0.05, 0.0], [1, 0, 0, 0], bins=10, prob=0.9)
    mixed = table[np.isclose(table["bin_low"], 0.3)].iloc[0]
    # one yes in two: Beta(1.5, 1.5), whose CDF is (2θ - sin(4θ) / 2) / π with θ = asin(√x)
    def cdf(x):
        theta = math.asin(math.sqrt(x))
        return (2 * theta - math.sin(4 * theta) / 2) / math.pi

    assert cdf(mixed["observed_low"]) == pytest.approx(0.05, abs=1e-9)
    assert cdf(mixed["observed_high"]) == pytest.approx(0.95, abs=1e-9)
    assert mixed["observed_low"] + mixed["observed_high"] == pytest.approx(1.0)
    none = table[table["bin_low"] == 0.0].iloc[0]  # no yes in two: the lower end is 0
    assert none["observed_low"] == 0.0 and 0.0 < none["observed_high"] < 1.0
    every = calibration_table([0.9, 0.95], [1, 1])  # all yes: the upper end is 1, and the
    assert every["observed_high"].item() == 1.0  # lower end mirrors "none in two"
    assert every["observed_low"].item() == pytest.approx(1 - none["observed_high"], abs=1e-12)


def test_evaluate_scores_skills_and_calibration():
    frame = pd.DataFrame({"id": ["a", "b", "c", "d"], "outcome": [1, 0, 1, 0],
                          "model": [0.8, 0.1, 0.6, 0.3], "no_evidence": [0.5, 0.5, 0.4, 0.4],
                          "uniform": 0.5})
    result = evaluate(frame)
    scores = result.scores.set_index("forecaster")
    model_brier = (0.04 + 0.01 + 0.16 + 0.09) / 4  # 0.075
    base_brier = (0.25 + 0.25 + 0.36 + 0.16) / 4  # 0.255
    assert scores.loc["model", "brier"] == pytest.approx(model_brier)
    assert scores.loc["no_evidence", "brier"] == pytest.approx(base_brier)
    assert scores.loc["uniform", "log"] == pytest.approx(math.log(2))
    assert scores.loc["model", "skill_vs_uniform"] == pytest.approx(1 - model_brier / 0.25)
    assert scores.loc["model", "skill_vs_no_evidence"] == pytest.approx(
        1 - model_brier / base_brier)
    assert scores.loc["no_evidence", "skill_vs_no_evidence"] == 0.0
    assert scores["n"].tolist() == [4, 4, 4]
    assert list(result.calibration.columns) == CALIBRATION_COLUMNS
    assert result.calibration.groupby("forecaster", sort=False)["n"].sum().to_dict() == {
        "model": 4, "no_evidence": 4, "uniform": 4}
    assert len(result.calibration[result.calibration["forecaster"] == "uniform"]) == 1
    back = json.loads(json.dumps(result.to_json()))
    assert back["scores"][0]["brier"] == pytest.approx(model_brier)
    assert {"attrs", "scores", "questions", "calibration"} == set(back)


def test_score_text_shows_scores_questions_and_calibration():
    frame = pd.DataFrame({"id": ["a", "b"], "node": "n", "state": "yes", "as_of": "2015-08-24",
                          "outcome": [1, 0], "model": [0.8, 0.1], "model_hdi_5%": [0.7, 0.0],
                          "model_hdi_95%": [0.9, 0.2], "model_publishable": [True, False],
                          "no_evidence": [0.5, 0.4], "uniform": 0.5})
    text = evaluate(frame, attrs={"model": "m", "ledger": None, "seed": 0,
                                  "as_of": ["2015-08-24"]}).to_text()
    lines = text.splitlines()
    assert lines[0] == "2 questions at 1 as-of dates (m, ledger None, seed 0)"
    assert "no ledger: the model forecasts use no evidence" in lines[1]
    assert any(line.split()[:4] == ["model", "2", "0.025", "0.164"] for line in lines)
    assert "0.800 [0.700, 0.900]" in text and "(not publishable)" in text
    assert any(line.startswith("uniform      0.5-0.6") for line in lines)


def test_evaluate_names_a_missing_forecaster():
    with pytest.raises(ForecastError, match="no_evidence"):
        evaluate(pd.DataFrame({"outcome": [1], "model": [0.5], "uniform": [0.5]}))


# --- the questions file ---------------------------------------------------------------------------

GOOD = ("Q1,Will a claim come?,isis_claim_pakistan,yes,2016-06-30,24,1,2016-08-08,E042",
        "Q2,Next border finding functioning?,border_cooperation,functioning,2015-08-24,24,0,"
        "2016-06-13,E101")


def test_a_good_file_loads(tmp_path, spec, ledger):
    frame = load_questions(write(tmp_path, *GOOD), spec, ledger)
    assert frame["id"].tolist() == ["Q1", "Q2"]
    assert frame["kind"].tolist() == ["event", "condition"]
    assert frame["line"].tolist() == [2, 3]
    assert frame["outcome"].tolist() == [1, 0]
    assert frame["as_of"].tolist() == ["2016-06-30", "2015-08-24"]


def test_unknown_node_and_state_with_hints(tmp_path, spec):
    text = problems_of(write(
        tmp_path, GOOD[0].replace("isis_claim_pakistan", "isis_claim_pakistn"),
        GOOD[1].replace("functioning", "functoning")), spec)
    assert "questions.csv:2 node: unknown node 'isis_claim_pakistn'" in text
    assert "did you mean 'isis_claim_pakistan'?" in text
    assert "questions.csv:3 state: 'functoning' is not a state of border_cooperation" in text
    assert "did you mean 'functioning'?" in text


def test_event_window_must_be_the_models(tmp_path, spec):
    text = problems_of(write(tmp_path, GOOD[0].replace(",24,", ",12,")), spec)
    assert "questions.csv:2 window_months" in text
    assert "the model forecasts only that window" in text and "set window_months to 24" in text


def test_no_hindsight_and_no_resolution_after_the_window(tmp_path, spec):
    text = problems_of(write(
        tmp_path,
        "Q1,Asked late,isis_claim_pakistan,yes,2016-08-09,24,1,2016-08-08,E042",
        "Q2,Asked on the day,isis_claim_pakistan,yes,2016-08-08,24,1,2016-08-08,E042",
        "Q3,Too late,isis_claim_pakistan,yes,2014-01-01,24,1,2016-08-08,E042"), spec)
    assert "questions.csv:2" in text and "no hindsight" in text
    assert "questions.csv:3" in text
    assert "questions.csv:4" in text and "after the question's window ends (2016-01-01" in text


def test_missing_and_unknown_columns(tmp_path, spec):
    header = HEADER.replace(",resolved_by", "").replace("window_months", "window_month")
    text = problems_of(write(tmp_path, "Q1,x,isis_claim_pakistan,yes,2016-06-30,24,1,2016-08-08",
                             header=header), spec)
    assert "questions.csv:1: missing column 'resolved_by'" in text
    assert "questions.csv:1: unknown column 'window_month'" in text
    assert "did you mean 'window_months'?" in text


def test_bad_cells_each_named_by_line(tmp_path, spec):
    text = problems_of(write(
        tmp_path,
        "Q1,x,isis_claim_pakistan,yes,2016-06-31,24,yes,2016-08-08,E042",
        "Q1,,isis_claim_pakistan,yes,2016-06-30,two,1,2016-08-08,",
        "Q3,x,isis_claim_pakistan,yes,2016-06-30,24,1,2016-08-08",
        "Q4,x,isis_claim_pakistan,yes,2016-06-30,24,1,2099-01-01,E042"), spec)
    assert "questions.csv:2 as_of: '2016-06-31' is not a real calendar date" in text
    assert "questions.csv:2 outcome: 'yes' is not an outcome" in text
    assert "questions.csv:3 id: duplicate id 'Q1' (also on line 2)" in text
    assert "questions.csv:3 text: text is empty" in text
    assert "questions.csv:3 window_months: 'two' is not a positive whole number" in text
    assert "questions.csv:3 resolved_by: resolved_by is empty" in text
    assert "questions.csv:4: has 8 fields, the header has 9" in text
    assert "questions.csv:5 resolved: 2099-01-01 is in the future" in text
    assert "Traceback" not in text


def test_cited_ledger_rows_exist_and_fall_in_the_window(tmp_path, spec, ledger):
    text = problems_of(write(
        tmp_path, GOOD[0].replace("E042", "E042;E0042"),
        GOOD[0].replace("Q1", "Q2").replace("E042", "E045"),
        GOOD[0].replace("Q1", "Q3").replace("E042", "E022")), spec, ledger)
    assert "questions.csv:2 resolved_by: no ledger row has id 'E0042'" in text
    assert "did you mean 'E042'?" in text
    assert ("questions.csv:3 resolved_by: E045 is dated 2017-02-16, outside the question's "
            "window (2016-06-30, 2016-08-08]") in text
    assert "questions.csv:4 resolved_by: E022 is dated 2015-05-13" in text


def test_outcome_must_agree_with_cited_hard_rows(tmp_path, spec, ledger):
    text = problems_of(write(tmp_path, GOOD[0].replace(",1,2016", ",0,2016"),
                             GOOD[1].replace(",0,2016", ",1,2016")), spec, ledger)
    assert ("questions.csv:2 outcome: E042 records isis_claim_pakistan = yes, so the outcome "
            "of 'isis_claim_pakistan = yes' is 1, not 0") in text
    assert "questions.csv:3 outcome: E101 records border_cooperation = poor" in text


def test_without_a_ledger_citations_are_not_checked(tmp_path, spec):
    frame = load_questions(write(tmp_path, GOOD[0].replace("E042", "E999")), spec)
    assert frame["resolved_by"].tolist() == ["E999"]


def test_window_end_counts_calendar_months():
    assert window_end(dt.date(2015, 8, 24), 24) == dt.date(2017, 8, 24)
    assert window_end(dt.date(2015, 12, 31), 2) == dt.date(2016, 2, 29)


def test_the_example_questions_fit_the_flagship_and_its_ledger(spec, ledger):
    frame = load_questions(QUESTIONS, spec, ledger)
    assert 10 <= len(frame) <= 20
    assert set(frame["outcome"]) == {0, 1}
    assert frame["as_of"].nunique() >= 5
    assert set(frame["kind"]) == {"event", "condition"}
    assert set(spec.scenarios) & set(frame["node"])
    assert frame["resolved"].max() <= ledger["date"].max().date().isoformat()


def test_a_question_without_a_forecast_is_named(tmp_path, spec):
    questions = load_questions(write(tmp_path, *GOOD), spec)
    forecast = pd.DataFrame({"as_of": ["2016-06-30"] * 2, "node": "isis_claim_pakistan",
                             "state": ["no", "yes"], "mean": [0.3, 0.7], "hdi_5%": 0.1,
                             "hdi_95%": 0.9, "mcse": 0.001, "publishable": True})
    with pytest.raises(ForecastError) as info:
        question_probabilities(questions, forecast, forecast, where="q.csv")
    text = str(info.value)
    assert "q.csv:3: the model gives no probability of border_cooperation = functioning" in text
    assert "q.csv:2" not in text


# --- end to end -----------------------------------------------------------------------------------


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_cli_scores_a_three_question_subset(tmp_path):
    from forecast.ops.replay import replay_dates

    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    subset = [line for line in lines[1:] if ",2015-08-24," in line][:3]
    path = write(tmp_path, *subset, header=lines[0])
    plot = tmp_path / "reliability.png"
    result = run("score", "--snapshot", MODEL, "--questions", path, "--ledger", LEDGER,
                 "--workers", 1,
                 "--json", "--plot", plot)
    assert result.exit_code == 0, result.output
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    got = json.loads(result.stdout)
    questions = pd.DataFrame(got["questions"])
    assert len(questions) == 3 and got["attrs"]["as_of"] == ["2015-08-24"]
    # the probabilities are the replay's, with and without the ledger
    for ledger, column in ((LEDGER, "model"), (None, "no_evidence")):
        replay = replay_dates(MODEL, ledger, ["2015-08-24"], seed=0, workers=1,
                              semantics="snapshot")
        expected = questions[["node", "state"]].merge(replay, on=["node", "state"])["mean"]
        np.testing.assert_allclose(questions[column], expected, rtol=0, atol=1e-12)
    scores = {row["forecaster"]: row for row in got["scores"]}
    assert scores["model"]["brier"] == pytest.approx(
        float(np.mean((questions["model"] - questions["outcome"]) ** 2)))
    assert scores["uniform"]["brier"] == 0.25


def test_cli_bad_questions_exit_2_and_write_nothing(tmp_path):
    path = write(tmp_path, GOOD[0].replace(",24,", ",12,"), GOOD[1].replace("E101", "E999"))
    plot = tmp_path / "reliability.png"
    result = run("score", "--snapshot", MODEL, "--questions", path, "--ledger", LEDGER, "--plot",
                 plot)
    assert result.exit_code == 2
    assert "questions.csv:2 window_months" in result.output
    assert "questions.csv:3 resolved_by: no ledger row has id 'E999'" in result.output
    assert "Traceback" not in result.output
    assert not plot.exists()


def test_cli_refuses_an_unknown_plot_type_before_any_work(tmp_path):
    result = run("score", "--snapshot", MODEL, "--questions", write(tmp_path, *GOOD), "--plot",
                 tmp_path / "reliability.txt")
    assert result.exit_code == 2
    assert "--plot writes .png, .svg or .pdf" in result.output
    assert not (tmp_path / "reliability.txt").exists()


def test_cli_exit_3_when_a_forecast_failed_its_diagnostics(monkeypatch, tmp_path):
    import forecast.ops.score

    frame = pd.DataFrame({"id": ["a"], "node": "n", "state": "yes", "as_of": "2015-08-24",
                          "outcome": [1], "model": [0.8], "model_hdi_5%": [0.7],
                          "model_hdi_95%": [0.9], "model_publishable": [False],
                          "no_evidence": [0.5], "uniform": 0.5})
    attrs = {"model": "m", "ledger": "l.csv", "seed": 0, "as_of": ["2015-08-24"],
             "unpublishable": ["2015-08-24"]}
    monkeypatch.setattr(forecast.ops.score, "score",
                        lambda *args, **kwargs: evaluate(frame, attrs=attrs))
    result = run("score", "--snapshot", MODEL, "--questions", tmp_path / "q.csv")
    assert result.exit_code == 3
    lines = [line.split()[:3] for line in result.stdout.splitlines()]
    assert ["model", "1", "0.040"] in lines  # the scores are still printed
    assert "failed their diagnostics as of 2015-08-24" in result.stderr


def test_cli_exit_1_on_a_worker_failure(monkeypatch, tmp_path):
    import forecast.ops.score
    from forecast.ops.replay import WorkerError

    def fail(*args, **kwargs):
        raise WorkerError("2015-08-24", "a worker process died")

    monkeypatch.setattr(forecast.ops.score, "score", fail)
    result = run("score", "--snapshot", MODEL, "--questions", tmp_path / "q.csv")
    assert result.exit_code == 1
    assert "error: unexpected failure: replay as of 2015-08-24 failed" in result.stderr


def test_a_window_past_a_century_is_refused_before_any_date_arithmetic(tmp_path, spec):
    """10**14 months overflowed pandas' month arithmetic: a traceback, now a problem."""
    text = problems_of(write(tmp_path, GOOD[0].replace(",24,", ",100000000000000,"),
                             GOOD[1].replace(",24,", ",1201,"),
                             GOOD[1].replace("Q2", "Q3").replace(",24,", "," + "9" * 5000 + ",")),
                       spec)
    assert ("questions.csv:2 window_months: a window of 100,000,000,000,000 months is longer "
            "than 100 years") in text
    assert "questions.csv:3 window_months: a window of 1,201 months" in text
    assert "questions.csv:4 window_months: a window of a 5,000-digit number of months" in text


def test_a_quote_left_open_and_a_date_pandas_cannot_hold(tmp_path, spec):
    text = problems_of(write(tmp_path, GOOD[0].replace("2016-06-30", "0001-01-01"),
                             GOOD[1].replace(",E101", ',"E101')), spec)
    assert "questions.csv:2 as_of: the date 0001-01-01 is outside 1900-01-01 to 2100-12-31" in text
    assert ("questions.csv:3 resolved_by: the resolved_by holds a line break: a quote is left "
            "open") in text
