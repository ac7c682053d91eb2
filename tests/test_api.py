"""The public API: ``import forecast as fc`` is light, complete and consistent; a case can be a
plain dict; a Forecast selects, converts to xarray and draws itself."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.figure import Figure

import forecast as fc
from forecast.errors import EvidenceError, ForecastError

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "models" / "afghan_caliphate.yaml"
HEAVY = ("pymc", "pytensor", "arviz", "matplotlib", "pandas", "scipy", "xarray", "numpy")


def loaded_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter has imported after running `code`."""
    probe = (f"{code}\nimport sys\n"
             f"print('loaded:', *(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    return done.stdout.splitlines()[-1].split()[1:]


@pytest.fixture(scope="module")
def spec(small_spec):
    return small_spec


@pytest.fixture(scope="module")
def forecast(spec):
    return fc.importance_forecast(spec, {"reconciliation": "failed"}, draws=4000,
                                  target_mcse=0.05, seed=3)


# ------------------------------------------------------------------------------ the top level
def test_import_forecast_and_the_help_import_nothing_heavy():
    assert loaded_after("import forecast") == []
    assert loaded_after("import forecast as fc\nfc.ForecastError, fc.Problem") == []
    code = "from forecast.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    assert loaded_after(code) == []
    # validating a model needs no sampler and no plotting (arviz itself imports matplotlib)
    assert not {"pymc", "arviz", "matplotlib"} & set(loaded_after(
        "import forecast as fc\nfc.load_spec")), "forecast validate stays light"


def test_every_public_name_is_listed_typed_and_loads():
    tree = ast.parse(Path(fc.__file__).read_text(encoding="utf-8"))
    typed = {alias.asname or alias.name for node in ast.walk(tree)
             if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
             for stmt in node.body for alias in stmt.names}
    assert fc.__all__ == sorted(fc.__all__)
    assert set(fc.__all__) == typed | {"__version__"}
    for name in fc.__all__:
        assert getattr(fc, name) is not None, name
    assert set(fc.__all__) <= set(dir(fc))
    assert fc.Forecast.__module__ == "forecast.inference.result"
    assert fc.plots.plot_scenarios.__module__ == "forecast.report.plots.scenarios"
    with pytest.raises(AttributeError, match="no attribute 'load_spek'"):
        _ = fc.load_spek


def test_python_dash_m_forecast_is_the_command_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "forecast", "--help"], capture_output=True,
                          text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: forecast ")
    done = subprocess.run([sys.executable, "-m", "forecast", "validate", str(SMALL)],
                          capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0 and "valid: 6 nodes" in done.stdout, done.stderr
    done = subprocess.run([sys.executable, "-m", "forecast", "validate", "nowhere.yaml"],
                          capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 2 and "no such model file" in done.stderr


# ------------------------------------------------------------------------------ cases
def test_a_plain_dict_is_a_case(spec):
    f = fc.posterior_forecast(spec, {"reconciliation": "failed"}, seed=0)
    g = fc.posterior_forecast(spec, fc.Case({"reconciliation": "failed"}), seed=0)
    pd.testing.assert_frame_equal(f.summary, g.summary)
    assert fc.Case.of({"reconciliation": "failed", "conflict": [0.2, 0.3, 0.9]}) == fc.Case(
        {"reconciliation": "failed"}, soft={"conflict": [0.2, 0.3, 0.9]})
    assert fc.Case.of(None) == fc.Case()
    case = fc.Case({"reconciliation": "failed"})
    assert fc.Case.of(case) is case


@pytest.mark.parametrize(("bad", "words"), [
    ("reconciliation=failed", "expected a Case or a mapping {node: state}, got str"),
    (["reconciliation", "failed"], "got list"),
    ({"reconciliation": 1}, "case['reconciliation']: expected a state (str) or a likelihood"),
    ({"conflict": [0.2, "high"]}, "case['conflict']"),
])
def test_a_case_of_the_wrong_type_is_one_clear_error(spec, bad, words):
    with pytest.raises(EvidenceError) as caught:
        fc.posterior_forecast(spec, bad)
    assert words in str(caught.value)


def test_a_case_checks_its_fields():
    with pytest.raises(EvidenceError) as caught:
        fc.Case(["reconciliation"], soft={"conflict": 0.5}, reports=["a report"],
                counts={"spillover": 2.5})
    text = str(caught.value)
    for words in ("evidence: expected a mapping {node: value}, got list",
                  "soft['conflict']: expected a sequence of numbers",
                  "reports[0]: expected a Report, got str",
                  "counts['spillover']: expected a count (int)"):
        assert words in text
    assert fc.Case(soft={"conflict": np.array([0.1, 0.2, 0.7])}, counts={"n": np.int64(3)})


# ------------------------------------------------------------------------------ Forecast
def test_sel_picks_an_outcome_a_node_or_a_state(forecast):
    row = forecast.sel(node="caliphate", state="yes")
    assert isinstance(row, pd.Series) and row.name == "caliphate=yes"
    summary = forecast.summary.set_index(["node", "state"])
    assert row["mean"] == summary.loc[("caliphate", "yes"), "mean"]
    assert row["hdi_5%"] <= row["mean"] <= row["hdi_95%"]
    node = forecast.sel(node="conflict")
    assert list(node.index) == ["easing", "steady", "worsening"]
    assert node["mean"].sum() == pytest.approx(1.0)
    state = forecast.sel(state="yes")
    assert "caliphate" in state.index and "reconciliation" not in state.index
    pd.testing.assert_series_equal(state.loc["caliphate"], row, check_names=False)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({}, "sel needs a node, a state or both"),
    ({"node": "caliphat"}, "did you mean 'caliphate'"),
    ({"node": "caliphate", "state": "yess"}, "did you mean 'yes'"),
    ({"state": "worsenin"}, "did you mean 'worsening'"),
    ({"node": "reconciliation"}, "'reconciliation' is observed or set in this forecast"),
])
def test_sel_of_an_unknown_name_says_what_is_there(forecast, kwargs, words):
    with pytest.raises(ForecastError) as caught:
        forecast.sel(**kwargs)
    assert words in str(caught.value)


def test_to_xarray_is_a_node_by_state_cube_with_draws(forecast):
    ds = forecast.to_xarray()
    assert isinstance(ds, xr.Dataset)
    assert set(ds.data_vars) == {"mean", "hdi_5%", "hdi_95%", "mcse", "prob"}
    assert ds["mean"].dims == ("node", "state") and ds["prob"].dims == ("draw", "node", "state")
    assert ds.sizes["draw"] == forecast.idata.posterior.sizes["draw"]
    for row in forecast.summary.itertuples(index=False):
        assert float(ds["mean"].sel(node=row.node, state=row.state)) == row.mean
    assert np.isnan(float(ds["mean"].sel(node="caliphate", state="worsening")))  # not a state
    assert ds["mean"].sel(node="reconciliation").isnull().all()  # observed: no forecast
    total = ds["prob"].sel(node="conflict").sum("state")
    np.testing.assert_allclose(total.values, 1.0, atol=1e-12)
    observed = ds["prob"].sel(node="reconciliation", state="failed")
    assert (observed == 1.0).all()
    draws = forecast.probability("caliphate", "yes").values.ravel()
    np.testing.assert_array_equal(ds["prob"].sel(node="caliphate", state="yes").values, draws)
    assert ds.attrs["model_hash"] == forecast.attrs["model_hash"]


def test_a_forecast_draws_its_scenarios(forecast):
    fig = forecast.plot()
    assert isinstance(fig, Figure)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [
        t.get_text() for t in fc.plots.plot_scenarios(forecast).axes[0].get_yticklabels()]
    mine = Figure()
    ax = mine.add_subplot()
    assert forecast.plot(["conflict"], ax=ax) is mine
    assert len(ax.get_yticklabels()) == 3
