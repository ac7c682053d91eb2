"""Count series end to end: ``counts:`` in a model, a ``count`` column in a ledger, counts on
the command line (forecast.model.schema, forecast.evidence.ledger, forecast.evidence.steps,
forecast.evidence.observations, forecast.cli)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import integrate, stats

from forecast.cli import main
from forecast.errors import EvidenceError, SpecError
from forecast.evidence.ledger import load_ledger, read_rows, rows_as_of, write_rows
from forecast.evidence.observations import CountModel, counted
from forecast.evidence.steps import timeline
from forecast.model.cpts import prior_mean_network
from forecast.model.load import load_spec
from forecast.network.exact import ExactEngine

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "tests" / "data" / "counts_model.yaml"
HEADER = "id,date,node,state,likelihood,count,grade,source,url,note\n"


def _row(i: int, date: str, node: str, count: str = "", state: str = "") -> str:
    return f"C{i},{date},{node},{state},,{count},B2,SATP,https://example.org/{i},row {i}\n"


@pytest.fixture(scope="module")
def spec():
    return load_spec(MODEL)


def _ledger(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "ledger.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


# --- the model ------------------------------------------------------------------------------


def _model_with(tmp_path: Path, old: str, new: str) -> Path:
    text = MODEL.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "model.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


@pytest.mark.parametrize("old, new, message", [
    ("rates: {dormant: [0.2, 2], active: [3, 15]}", "rates: {dormant: [0.2, 2]}",
     "no rate for active"),
    ("rates: {dormant: [0.2, 2], active: [3, 15]}",
     "rates: {dormant: [0.2, 2], activ: [3, 15]}", "'activ' is not a state of the node"),
    ("rates: {dormant: [0.2, 2], active: [3, 15]}",
     "rates: {dormant: [2, 0.2], active: [3, 15]}", "the range [2, 0.2] needs low < high"),
    ("rates: {dormant: [0.2, 2], active: [3, 15]}",
     "rates: {dormant: [0, 2], active: [3, 15]}", "greater than 0"),
    ("      family: negbin\n", "", "dispersion is a parameter of the negative binomial only"),
    ('      assumption: "A test assumption: the ranges of the definition\'s thresholds."\n', "",
     "the count rates cite no claim and state no assumption"),
])
def test_a_bad_count_model_is_one_located_error(tmp_path, old, new, message):
    path = _model_with(tmp_path, old, new)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    text = str(err.value) + "".join(f"\n{p}" for p in err.value.problems)
    assert message in text, text
    assert "counts" in text  # the location names the section


def test_count_models_come_from_the_model_for_the_counted_nodes(spec):
    models = counted(spec, {"crackdown": 3})
    assert models == [CountModel("crackdown", {"no": (0.1, 1.0), "yes": (1.0, 8.0)}, "negbin",
                                 (2.0, 40.0))]
    with pytest.raises(EvidenceError) as err:
        counted(spec, {"campain": 1, "crackdown": -1})
    text = "\n".join(str(p) for p in err.value.problems)
    assert "unknown node 'campain'" in text and "did you mean 'campaign'" in text
    assert "count -1 is not a whole number" in text


# --- the ledger -------------------------------------------------------------------------------


def test_a_ledger_without_the_count_column_still_loads(spec):
    ledger = load_ledger(ROOT / "data" / "isis_pakistan_ledger.csv")
    assert ledger["count"].isna().all() and str(ledger["count"].dtype) == "Int64"


def test_count_rows_load_as_whole_numbers(tmp_path, spec):
    ledger = load_ledger(_ledger(tmp_path, _row(1, "2020-03-31", "campaign", "9"),
                                 _row(2, "2020-06-30", "campaign", state="active")), spec)
    assert list(ledger["count"].astype(object).where(ledger["count"].notna(), None)) == [9, None]


@pytest.mark.parametrize("row, message", [
    (_row(1, "2020-03-31", "campaign", "2.5"), "count '2.5' is not a whole number >= 0"),
    (_row(1, "2020-03-31", "campaign", "-1"), "count '-1' is not a whole number >= 0"),
    (_row(1, "2020-03-31", "campaign", "3", state="active"),
     "state and count are both filled"),
    (_row(1, "2020-03-31", "campaign"), "neither state nor likelihood is filled"),
])
def test_a_bad_count_row_is_reported_at_its_line(tmp_path, spec, row, message):
    with pytest.raises(EvidenceError) as err:
        load_ledger(_ledger(tmp_path, row), spec)
    problem = err.value.problems[0]
    assert message in str(problem) and problem.line == 2, str(problem)


def test_a_count_on_a_node_without_a_count_model_says_how_to_declare_one(tmp_path):
    flagship = load_spec(ROOT / "models" / "afghan_caliphate.yaml")
    with pytest.raises(EvidenceError) as err:
        load_ledger(_ledger(tmp_path, _row(1, "2020-03-31", "conflict", "3")), flagship)
    problem = err.value.problems[0]
    assert "whose model declares no counts" in problem.message and problem.line == 2
    assert "add counts:" in (problem.hint or "")


def test_the_snapshot_semantics_refuses_counts_by_line(tmp_path, spec):
    ledger = load_ledger(_ledger(tmp_path, _row(1, "2020-03-31", "campaign", "9")), spec)
    with pytest.raises(EvidenceError) as err:
        rows_as_of(ledger, spec, "2020-06-30")
    assert err.value.problems[0].line == 2 and "dynamic" in str(err.value)


# --- the timeline -------------------------------------------------------------------------------


def test_counts_are_poisson_evidence_of_their_own_step(tmp_path, spec):
    ledger = load_ledger(_ledger(tmp_path, _row(1, "2020-02-10", "campaign", "9"),
                                 _row(2, "2020-08-01", "campaign", "0")), spec)
    line = timeline(ledger, spec, "2020-12-31")
    assert line.counts == ((0, "campaign", 9), (2, "campaign", 0))
    assert list(line.rows["how"]) == ["count", "count"]
    assert {"rate.campaign=dormant", "rate.campaign=active"} <= set(line.parameters)
    assert "rate.crackdown=no" not in line.parameters  # only counted nodes' rates
    rates = {"rate.campaign=dormant": np.array([0.5, 1.0]),
             "rate.campaign=active": np.array([6.0, 12.0])}
    lik = line.likelihoods(rates)["campaign"]  # (B, steps, card)
    assert lik.shape == (2, 4, 2)
    for b in range(2):
        mu = [rates["rate.campaign=dormant"][b], rates["rate.campaign=active"][b]]
        np.testing.assert_allclose(lik[b, 0], stats.poisson.pmf(9, mu), rtol=1e-12)
        np.testing.assert_allclose(lik[b, 2], stats.poisson.pmf(0, mu), rtol=1e-12)
        np.testing.assert_array_equal(lik[b, [1, 3]], 1.0)  # steps without a count
    at = line.likelihoods(rates, at=2)["campaign"]
    np.testing.assert_array_equal(at[:, 0], lik[:, 2])


def test_two_counts_on_a_node_in_one_step_name_both_lines(tmp_path, spec):
    ledger = load_ledger(_ledger(tmp_path, _row(1, "2020-01-10", "campaign", "4"),
                                 _row(2, "2020-03-01", "campaign", "5")), spec)
    with pytest.raises(EvidenceError) as err:
        timeline(ledger, spec, "2020-06-30")
    problem = err.value.problems[0]
    assert problem.line == 3 and "first is on line 2" in problem.message, str(problem)


def test_a_count_on_an_event_stands_for_its_step(tmp_path, spec):
    """A step with a count on an event is observed through the count, not as non-occurrence."""
    ledger = load_ledger(_ledger(tmp_path, _row(1, "2020-02-10", "crackdown", "0")), spec)
    line = timeline(ledger, spec, "2020-12-31")
    assert line.counts == ((0, "crackdown", 0),)
    assert not (line.rows["how"] == "nonoccurrence").any()  # the model's record is not complete


def test_counts_survive_the_runs_evidence_file(tmp_path, spec):
    ledger = load_ledger(_ledger(tmp_path, _row(1, "2020-02-10", "campaign", "9"),
                                 _row(2, "2020-05-10", "campaign", state="active")), spec)
    rows = timeline(ledger, spec, "2020-12-31").rows
    back = read_rows(write_rows(rows, tmp_path / "evidence.csv"))
    assert str(back["count"].dtype) == "Int64"
    assert back["count"].tolist()[0] == 9 and back["count"].isna().tolist() == [False, True]


# --- the point answer -------------------------------------------------------------------------


@pytest.mark.parametrize("family, low, high, y", [
    ("poisson", 0.2, 2.0, 0), ("poisson", 0.2, 2.0, 7), ("poisson", 1.0, 1000.0, 3),
    ("poisson", 0.1, 100.0, 1000), ("negbin", 3.0, 15.0, 9), ("negbin", 0.2, 2.0, 7),
])
def test_the_prior_marginal_likelihood_of_a_count_matches_adaptive_quadrature(
        family, low, high, y):
    """Within 1e-6 relative (the docstring's claim) of scipy's adaptive quadrature."""
    model = CountModel("n", {"s": (low, high)}, family, (2.0, 40.0))
    got = model.marginal_likelihood(y, ["s"])[0]
    z90 = stats.norm.ppf(0.95)
    m, s = (math.log(low) + math.log(high)) / 2, (math.log(high) - math.log(low)) / (2 * z90)
    peak = sorted({m, math.log(max(y, 0.5))})

    def given_phi(phi: float | None) -> float:
        def f(u: float) -> float:
            mu = math.exp(u)
            p = (stats.poisson.pmf(y, mu) if phi is None
                 else stats.nbinom.pmf(y, phi, phi / (phi + mu)))
            return stats.norm.pdf(u, m, s) * p
        return integrate.quad(f, m - 12 * s, m + 12 * s, points=peak, limit=2000,
                              epsabs=0, epsrel=1e-11)[0]

    if family == "poisson":
        want = given_phi(None)
    else:
        dm = (math.log(2.0) + math.log(40.0)) / 2
        ds = (math.log(40.0) - math.log(2.0)) / (2 * z90)
        want = integrate.quad(lambda v: stats.norm.pdf(v, dm, ds) * given_phi(math.exp(v)),
                              dm - 12 * ds, dm + 12 * ds, limit=200, epsabs=0,
                              epsrel=1e-10)[0]
    assert got == pytest.approx(want, rel=1e-6)


# --- the command line -------------------------------------------------------------------------


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_query_takes_a_count_with_its_rates_integrated_over_the_prior(spec):
    result = run("query", MODEL, "-c", "campaign=0", "--json")
    assert result.exit_code == 0, result.output
    import json

    got = json.loads(result.output)["marginals"]["campaign"]
    lik = counted(spec, {"campaign": 0})[0].marginal_likelihood(0, spec.states["campaign"])
    want = ExactEngine(prior_mean_network(spec)).query(soft={"campaign": lik})
    assert got["dormant"] == pytest.approx(float(want.marginals["campaign"][0]), abs=1e-12)
    assert got["dormant"] > 0.9  # no attacks in a quarter: dormant (rates 0.2-2 against 3-15)
    text = run("query", MODEL, "-c", "campaign=0")
    assert "count(campaign)=0" in text.output and "(counted)" in text.output


def test_query_posterior_learns_the_rates_from_the_count(spec):
    result = run("query", MODEL, "-c", "campaign=12", "--posterior", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert "P(node | count(campaign)=12, θ)" in result.output
    active = next(line for line in result.output.splitlines() if line.split()[:1] == ["active"]
                  or " active " in line)
    assert float(active.split()[1]) > 0.95


@pytest.mark.parametrize("args, message", [
    (("-c", "campaign=x"), "expected NODE=N"),
    (("-c", "campain=3"), "did you mean 'campaign'"),
    (("-c", "campaign=1", "-c", "campaign=2"), "already counted"),
    (("-c", "campaign=1", "--mpe", "--posterior"), "--mpe --posterior takes hard and soft"),
])
def test_bad_counts_on_the_command_line_are_one_error_each(args, message):
    result = run("query", MODEL, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_a_network_file_has_no_counts(tmp_path):
    from forecast.network.bif import write_bif

    bif = tmp_path / "net.bif"
    write_bif(prior_mean_network(load_spec(MODEL)), bif)
    result = run("query", bif, "-c", "campaign=1")
    assert result.exit_code == 2 and "counts need a model file" in result.output


def test_update_learns_count_rates_from_the_ledger(tmp_path):
    """Six quarters of about ten attacks: the campaign is active and its rate is learned
    (prior median sqrt(3 x 15) = 6.7, posterior mean near the counts' mean of 9.8)."""
    from forecast import RunStore, update

    rows = [_row(i, d, "campaign", str(y)) for i, (d, y) in enumerate(
        [("2019-03-31", 9), ("2019-06-30", 11), ("2019-09-30", 8), ("2019-12-31", 12),
         ("2020-03-31", 10), ("2020-06-30", 9)], start=1)]
    done = update(MODEL, _ledger(tmp_path, *rows), as_of="2020-09-30",
                  runs_dir=tmp_path / "runs", seed=1)
    assert done.status == "published"
    run_ = RunStore(tmp_path / "runs", "counts_demo").latest()
    summary = run_.forecast().summary.set_index(["node", "state"])
    assert summary.loc[("campaign", "active"), "mean"] > 0.9
    theta = run_.forecast().idata.posterior["theta"]
    rate = float(theta.sel(parameter="rate.campaign=active").mean())
    assert 8.0 < rate < 11.5, rate
    assert (run_.path / "evidence.csv").read_text().count(",count\n") == 6
