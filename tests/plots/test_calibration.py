"""plot_reliability (report/plots/calibration.py)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.container import ErrorbarContainer

from forecast.report.plots import (
    plot_reliability,
)
from tests.plots.helpers import error_text, rendered


# ------------------------------------------------------------------------------ reliability
def test_reliability_draws_each_forecasters_bins(calibration, tmp_path):
    fig = plot_reliability(calibration)
    _, svg_text = rendered(fig, tmp_path, "reliability")
    ax, counts = fig.axes
    containers = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert [c.get_label() for c in containers] == ["model", "too high"]
    colours = set()
    for container, (_, rows) in zip(containers, calibration.groupby("forecaster"),
                                       strict=True):
        line = container.lines[0]
        assert list(line.get_xdata()) == pytest.approx(list(rows["forecast_mean"]))
        assert list(line.get_ydata()) == pytest.approx(list(rows["observed"]))
        (bars,) = container.lines[2]
        spans = np.array([s[:, 1] for s in bars.get_segments()])
        assert spans[:, 0] == pytest.approx(list(rows["observed_low"]))
        assert spans[:, 1] == pytest.approx(list(rows["observed_high"]))
        colours.add(to_rgb(line.get_color()))
    assert len(colours) == 2
    heights = sorted(p.get_height() for p in counts.patches)
    assert heights == sorted(calibration["n"])
    diagonal = next(line for line in ax.lines if line.get_label() == "perfect calibration")
    assert list(diagonal.get_xdata()) == list(diagonal.get_ydata()) == [0, 1]
    assert "Reliability" in svg_text and "too high" in svg_text


def test_reliability_bad_table_is_one_clear_error(calibration):
    assert "missing column(s) observed_low, observed_high" in error_text(
        lambda: plot_reliability(calibration.drop(columns=["observed_low", "observed_high"])))
    holed = calibration.assign(n=calibration["n"].astype(float))
    holed.loc[1, "n"] = np.inf
    assert "calibration table.n: not a finite number in row(s) 1" in error_text(
        lambda: plot_reliability(holed))
    assert "expected a pandas DataFrame, got list" in error_text(lambda: plot_reliability([]))


