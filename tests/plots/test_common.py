"""Every figure: ax= keyword-only, the figure returned, saving, the style, no pyplot."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import matplotlib as mpl
import pytest
from matplotlib.figure import Figure, SubFigure

from forecast.report import plots
from forecast.report.plots import (
    draw_model,
    plot_network,
    plot_reliability,
    plot_scenarios,
    plot_tornado,
    plot_trajectory,
    plot_waterfall,
    save_figure,
)
from tests.plots.helpers import error_text

# ------------------------------------------------------------------------------ ax= and saving
SINGLE_PANEL: dict[str, Callable] = {
    "scenarios": lambda f, ax: plot_scenarios(f["flagship"], ax=ax),
    "trajectory": lambda f, ax: plot_trajectory(f["history"], "pro_isis_alliance", "yes",
                                                events=f["ledger"], ax=ax),
    "network": lambda f, ax: plot_network(f["spec"], f["flagship"], ax=ax),
    "draw_model": lambda f, ax: draw_model(f["spec"], ax=ax),
    "tornado": lambda f, ax: plot_tornado(f["sensitivity"], f["sensitivity"].attrs["base"],
                                          ax=ax),
    "waterfall": lambda f, ax: plot_waterfall(f["attribution"].table, f["attribution"].before,
                                              f["attribution"].after, ax=ax),
    "reliability": lambda f, ax: plot_reliability(f["calibration"], ax=ax),
}


@pytest.fixture
def inputs(request):
    names = ("flagship", "history", "ledger", "spec", "sensitivity", "attribution",
             "calibration")
    return {n: request.getfixturevalue(n) for n in names}


@pytest.mark.parametrize("name", list(SINGLE_PANEL))
def test_ax_draws_into_the_given_axes_and_returns_its_figure(inputs, name, tmp_path):
    fig = Figure(figsize=(16, 9), layout="constrained")
    left, right = fig.subplots(1, 2)
    assert SINGLE_PANEL[name](inputs, right) is fig
    assert not left.has_data() and not left.texts
    assert right.has_data() or len(right.texts) > 5
    assert right.get_title(loc="left")
    save_figure(fig, tmp_path / f"{name}.png")

    # in a subfigure the figure returned is still the one to save (the network's legend and
    # colour bar need more than 8 inches of width)
    outer = Figure(figsize=(24, 9), layout="constrained")
    panel = outer.subfigures(1, 2)[1].add_subplot()
    returned = SINGLE_PANEL[name](inputs, panel)
    assert returned is outer and not isinstance(returned, SubFigure)
    save_figure(returned, tmp_path / f"{name}-sub.png")


def test_save_figure_writes_each_format_atomically(small_forecast, tmp_path):
    fig = plot_scenarios(small_forecast)
    target = tmp_path / "new" / "folder" / "scenarios.pdf"
    assert save_figure(fig, target) == target
    assert target.read_bytes().startswith(b"%PDF")
    png = save_figure(fig, str(tmp_path / "scenarios.PNG"))
    assert png.read_bytes().startswith(b"\x89PNG")
    old = png.stat().st_size
    save_figure(plot_scenarios(small_forecast, ["conflict", "caliphate", "pakistan_spillover",
                                                "hardliners_back_isis"]), png)
    assert png.stat().st_size != old  # replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "scenarios.PNG"]
    for name in ("scenarios.jpg", "scenarios"):
        text = error_text(lambda name=name: save_figure(fig, tmp_path / name))
        assert f"cannot save a figure as '{name}'" in text and ".png, .svg, .pdf" in text
    assert "needs a matplotlib Figure, got Axes" in error_text(
        lambda: save_figure(fig.axes[0], tmp_path / "axes.png"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "scenarios.PNG"]


def test_the_style_holds_while_drawing_only(small_forecast):
    with mpl.rc_context({"axes.spines.top": True, "font.size": 20.0}):
        fig = plot_scenarios(small_forecast)
        assert mpl.rcParams["font.size"] == 20.0
    ax = fig.axes[0]
    assert not ax.spines["top"].get_visible()
    assert ax.xaxis.label.get_fontsize() == 9.0  # the style's axes.labelsize
    assert fig.dpi == 100


def test_plot_modules_never_use_pyplot():
    modules = sorted(Path(plots.__file__).parent.glob("*.py"))
    assert len(modules) >= 10
    for module in modules:
        tree = ast.parse(module.read_text(encoding="utf-8"))
        imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        imported += [f"{n.module}.{a.name}" for n in ast.walk(tree)
                     if isinstance(n, ast.ImportFrom) for a in n.names]
        assert imported and not [name for name in imported if "pyplot" in name]
        assert "plt" not in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
