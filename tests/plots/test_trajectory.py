"""plot_trajectory (report/plots/trajectory.py)."""

from __future__ import annotations

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PolyCollection

from forecast.model.priors import PROBABILITY_BANDS
from forecast.model.words import ICD_BAND_COLOURS
from forecast.report.plots import (
    plot_trajectory,
)
from tests.plots.helpers import HISTORY_DATES, error_text, rectangles, rendered


# ------------------------------------------------------------------------------ trajectory
def test_trajectory_draws_the_history_with_the_evidence_on_the_time_axis(history, ledger,
                                                                          tmp_path):
    node = "pro_isis_alliance"
    fig = plot_trajectory(history, node, "yes", events=ledger)
    _, svg_text = rendered(fig, tmp_path, "trajectory")
    ax = fig.axes[0]
    rows = history[(history["node"] == node) & (history["state"] == "yes")]
    (mean,) = [line for line in ax.lines if line.get_marker() == "o"]
    assert list(pd.to_datetime(mean.get_xdata())) == list(pd.to_datetime(HISTORY_DATES))
    assert list(mean.get_ydata()) == pytest.approx(list(rows["mean"]))
    band = next(c for c in ax.collections if isinstance(c, PolyCollection))
    outline = band.get_paths()[0].vertices[:, 1]
    assert outline.min() == pytest.approx(rows["hdi_5%"].min())
    assert outline.max() == pytest.approx(rows["hdi_95%"].max())

    # rows about the node: a dotted line across the plot at each date, labelled "id state"
    start, stop = mdates_range(ax)
    own = ledger[(ledger["node"] == node) & (ledger["date"] >= start) & (ledger["date"] <= stop)]
    assert len(own) >= 2
    (dotted,) = [c for c in ax.collections if isinstance(c, LineCollection)
                 and c.get_linestyle()[0][1] is not None]
    dotted_x = sorted(mdates.num2date(s[0, 0]).date() for s in dotted.get_segments())
    assert dotted_x == sorted(d.date() for d in own["date"])
    labels = [t.get_text() for t in ax.texts]
    for row in own.itertuples():
        assert f"{row.id} {row.state if isinstance(row.state, str) else 'soft'}" in labels
    others = ledger[(ledger["node"] != node) & (ledger["date"] >= start)
                    & (ledger["date"] <= stop)]
    assert len(others) > len(own)
    (ticks,) = [c for c in ax.collections if isinstance(c, LineCollection)
                and c.get_linestyle()[0][1] is None and len(c.get_segments()) > 3]
    assert len(ticks.get_segments()) == len(own) + len(others)  # every row in range, a tick
    assert ledger.loc[ledger["date"] > stop, "id"].iloc[0] not in labels  # out of range
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["90% interval", "mean", f"evidence on {node}", "other evidence"]
    assert ax.get_ylim()[0] < 0  # the lane under the plot
    for word, (low, high) in PROBABILITY_BANDS.items():  # the bands, across the plot
        (band,) = rectangles(ax, ICD_BAND_COLOURS[word])
        assert (band.get_y(), band.get_y() + band.get_height()) == pytest.approx((low, high))
    assert f"{node} = yes: forecast by as-of date" in svg_text


def mdates_range(ax) -> tuple[pd.Timestamp, pd.Timestamp]:
    low, high = ax.get_xlim()
    return (pd.Timestamp(mdates.num2date(low)).tz_localize(None),
            pd.Timestamp(mdates.num2date(high)).tz_localize(None))


def test_trajectory_legend_lists_only_the_marks_drawn(history, ledger):
    # no row on caliphate_declared itself: only "other evidence" marks are drawn
    fig = plot_trajectory(history, "caliphate_declared", "yes",
                          events=ledger[ledger["node"] != "caliphate_declared"])
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["90% interval", "mean", "other evidence"]
    assert not [c for c in ax.collections if isinstance(c, LineCollection)
                and c.get_linestyle()[0][1] is not None]
    without = plot_trajectory(history, "caliphate_declared", "yes")
    assert [t.get_text() for t in without.axes[0].get_legend().get_texts()] == [
        "90% interval", "mean"]
    assert without.axes[0].get_ylim()[0] == 0


def test_trajectory_draws_the_last_row_of_a_repeated_date(history):
    rows = history[(history["node"] == "border_territory_held") & (history["state"] == "yes")]
    again = rows.iloc[[2]].assign(mean=0.99, **{"hdi_95%": 0.995})
    fig = plot_trajectory(pd.concat([history, again]), "border_territory_held", "yes")
    (mean,) = [line for line in fig.axes[0].lines if line.get_marker() == "o"]
    expected = list(rows["mean"])
    expected[2] = 0.99
    assert list(mean.get_ydata()) == pytest.approx(expected)


@pytest.mark.parametrize(("change", "words"), [
    (lambda h: h.drop(columns="hdi_95%"), "missing column(s) hdi_95%"),
    (lambda h: h.iloc[:0], "the table has no rows"),
    (lambda h: h.to_dict("list"), "expected a pandas DataFrame, got dict"),
    (lambda h: h.assign(mean=h["mean"].where(h.index != 20, np.nan)),
     "history.mean: not a finite number in row(s) 20"),
    (lambda h: h.assign(as_of=h["as_of"].where(h.index != 20, "last spring")),
     "history.as_of: not a date: 'last spring'"),
])
def test_trajectory_bad_history_is_one_clear_error(history, change, words):
    node, state = history.loc[20, ["node", "state"]]
    assert words in error_text(lambda: plot_trajectory(change(history), node, state))


def test_trajectory_of_a_scenario_not_in_the_history_says_what_is(history, ledger):
    assert "did you mean 'caliphate_declared'" in error_text(
        lambda: plot_trajectory(history, "caliphate_declard", "yes"))
    assert "states of caliphate_declared in it: no, yes" in error_text(
        lambda: plot_trajectory(history, "caliphate_declared", "maybe"))
    assert "missing column(s) id" in error_text(
        lambda: plot_trajectory(history, "caliphate_declared", "yes",
                                events=ledger.drop(columns="id")))
    events = ledger.astype({"date": object})
    events.loc[3, "date"] = "sometime"
    assert "events.date: not a date in row(s) 3" in error_text(
        lambda: plot_trajectory(history, "caliphate_declared", "yes", events=events))


