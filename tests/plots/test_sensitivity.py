"""plot_tornado and plot_waterfall (report/plots/sensitivity.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from matplotlib.patches import Rectangle
from scipy import special

from forecast.report.plots import (
    plot_tornado,
    plot_waterfall,
)
from forecast.report.plots.style import EFFECT_COLOURS, INK
from tests.plots.helpers import error_text, rectangles, rendered, ytick_texts


# ------------------------------------------------------------------------------ tornado
def test_tornado_orders_by_swing_and_starts_bars_at_the_base(sensitivity, tmp_path):
    base = sensitivity.attrs["base"]
    shuffled = sensitivity.sample(frac=1.0, random_state=np.random.default_rng(7))
    fig = plot_tornado(shuffled, base, top=6)
    _, svg_text = rendered(fig, tmp_path, "tornado")
    ax = fig.axes[0]
    best = sensitivity.reindex(sensitivity["swing"].abs().sort_values(ascending=False).index)
    best = best.head(6)
    assert [t.replace("\n", " ") for t in ytick_texts(ax)] == list(best["label"])
    assert list(np.abs(best["swing"])) == sorted(np.abs(best["swing"]), reverse=True)
    low_bars, high_bars = rectangles(ax, "#aab7c4"), rectangles(ax, INK)
    assert len(low_bars) == len(high_bars) == 6
    for bars, column in ((low_bars, "low"), (high_bars, "high")):
        for bar, value in zip(bars, best[column], strict=True):
            assert bar.get_x() == pytest.approx(base)
            assert bar.get_x() + bar.get_width() == pytest.approx(value)
    assert len([line for line in ax.lines if np.allclose(line.get_xdata(), base)]) == 1
    assert "lowest decile" in svg_text and f"posterior mean {base:.2f}" in svg_text


def test_tornado_bad_input_is_one_clear_error(sensitivity):
    base = sensitivity.attrs["base"]
    assert "base must be a probability in [0, 1], got 1.5" in error_text(
        lambda: plot_tornado(sensitivity, 1.5))
    assert "got 'half'" in error_text(lambda: plot_tornado(sensitivity, "half"))
    assert "top must be at least 1" in error_text(lambda: plot_tornado(sensitivity, base, top=0))
    assert "missing column(s) swing" in error_text(
        lambda: plot_tornado(sensitivity.drop(columns="swing"), base))
    holed = sensitivity.assign(low=sensitivity["low"].where(sensitivity.index != 2, np.nan))
    assert "tornado table.low: not a finite number in row(s) 2" in error_text(
        lambda: plot_tornado(holed, base))


# ------------------------------------------------------------------------------ waterfall
def waterfall_levels(ax) -> tuple[list[float], list[Rectangle]]:
    """Left edge of every step bar and the level after the last one (zero-width bars skipped)."""
    bars = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_width() != 0]
    bars.sort(key=lambda b: -b.get_y())  # top to bottom
    return [b.get_x() for b in bars] + [bars[-1].get_x() + bars[-1].get_width()], bars


def test_waterfall_runs_from_before_to_after(attribution, tmp_path):
    before, after = attribution.before, attribution.after
    fig = plot_waterfall(attribution.table, before, after)
    _, svg_text = rendered(fig, tmp_path, "waterfall")
    ax = fig.axes[0]
    levels, bars = waterfall_levels(ax)
    assert levels[0] == pytest.approx(special.logit(before))
    assert levels[-1] == pytest.approx(special.logit(after), abs=2e-3)
    for bar, nxt in zip(bars, levels[1:], strict=True):  # each bar starts where the last ended
        assert bar.get_x() + bar.get_width() == pytest.approx(nxt)
        colour = EFFECT_COLOURS["raises" if bar.get_width() > 0 else "lowers"]
        assert np.allclose(bar.get_facecolor()[:3], to_rgb(colour))
    widths = [b.get_width() for b in bars]
    shares = [c for c in attribution.table["contribution"] if c != 0]  # a 0 draws no bar
    assert widths[:len(shares)] == pytest.approx(shares)
    (start, stop) = [line for line in ax.lines if line.get_marker() == "D"]
    assert start.get_xdata()[0] == pytest.approx(special.logit(before))
    assert stop.get_xdata()[0] == pytest.approx(special.logit(after))
    labels = ytick_texts(ax)
    assert labels[0] == "before" and labels[-1] == "after"
    assert f"p = {before:.2f}" in svg_text and f"p = {after:.2f}" in svg_text
    assert all(row_id in svg_text for row_id in attribution.table["row_id"])


def test_waterfall_sums_the_small_rows_and_shows_what_the_rows_do_not_explain():
    rng = np.random.default_rng(11)
    contributions = rng.normal(0, 0.3, size=15)
    table = pd.DataFrame({"row_id": [f"E{i:03d}" for i in range(15)],
                          "label": [f"finding {i}" for i in range(15)],
                          "contribution": contributions})
    before = 0.3
    after = float(special.expit(special.logit(before) + contributions.sum() + 0.4))
    fig = plot_waterfall(table, before, after, top=5, title="A test scenario")
    ax = fig.axes[0]
    labels = ytick_texts(ax)
    kept = sorted(np.argsort(-np.abs(contributions), kind="stable")[:5])
    assert labels == ["before", *(f"E{i:03d} finding {i}" for i in kept), "10 other rows",
                      "interactions and rows not listed", "after"]
    levels, bars = waterfall_levels(ax)
    rest = contributions[[i for i in range(15) if i not in kept]].sum()
    assert [b.get_width() for b in bars] == pytest.approx(
        [*contributions[kept], rest, 0.4], abs=1e-9)
    assert levels[-1] == pytest.approx(special.logit(after))
    assert fig.get_suptitle() == "A test scenario"
    # exactly explained: no residual bar
    exact = float(special.expit(special.logit(before) + contributions.sum()))
    labels = ytick_texts(plot_waterfall(table, before, exact, top=20).axes[0])
    assert "interactions and rows not listed" not in labels and len(labels) == 17


def test_waterfall_bad_input_is_one_clear_error(attribution):
    table = attribution.table
    for bad in (0.0, 1.0, -0.2, "p"):
        assert "before must be a probability in (0, 1)" in error_text(
            lambda bad=bad: plot_waterfall(table, bad, 0.5))
    assert "after must be a probability in (0, 1), got 1.2" in error_text(
        lambda: plot_waterfall(table, 0.5, 1.2))
    assert "missing column(s) contribution" in error_text(
        lambda: plot_waterfall(table.drop(columns="contribution"), 0.4, 0.5))
    text = error_text(lambda: plot_waterfall(table.assign(contribution="big"), 0.4, 0.5))
    assert "waterfall table.contribution: not a finite number in row(s) 0, 1" in text


