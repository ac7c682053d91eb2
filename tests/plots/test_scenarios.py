"""plot_scenarios (report/plots/scenarios.py)."""

from __future__ import annotations

import pytest
from matplotlib.collections import LineCollection, PathCollection

from forecast.model.priors import PROBABILITY_BANDS
from forecast.model.words import ICD_BAND_COLOURS
from forecast.report.plots import (
    plot_scenarios,
)
from forecast.report.plots.network import (
    positive_state,
)
from tests.plots.helpers import error_text, rectangles, rendered, ytick_texts


# ------------------------------------------------------------------------------ scenarios
def test_scenarios_draw_the_forecasts_means_and_intervals_over_the_bands(flagship, tmp_path):
    fig = plot_scenarios(flagship)
    _, svg_text = rendered(fig, tmp_path, "scenarios")
    ax = fig.axes[0]
    summary = flagship.summary
    states = {n: list(summary.loc[summary["node"] == n, "state"]) for n in summary["node"]}
    # a binary node shows its notable state, a larger one every state
    shown = summary[[len(states[n]) > 2 or positive_state(states[n]) == s
                     for n, s in zip(summary["node"], summary["state"], strict=True)]]
    labels = ytick_texts(ax)
    assert labels == [f"{n} = {s}" for n, s in zip(shown["node"], shown["state"], strict=True)]
    rows = shown.set_index(["node", "state"])
    y_of = {label: y for label, y in zip(labels, ax.get_yticks(), strict=True)}

    wide, narrow = (next(c for c in ax.collections if isinstance(c, LineCollection)
                         and c.get_linewidth()[0] == w) for w in (1.4, 6.5))
    means = next(c for c in ax.collections if isinstance(c, PathCollection))
    for label, segment, inner, point in zip(labels, wide.get_segments(), narrow.get_segments(),
                                            means.get_offsets(), strict=True):
        row = rows.loc[tuple(label.split(" = "))]
        assert segment[:, 0] == pytest.approx([row["hdi_5%"], row["hdi_95%"]])
        assert segment[:, 1] == pytest.approx([y_of[label]] * 2)
        assert tuple(point) == pytest.approx((row["mean"], y_of[label]))
        assert row["hdi_5%"] - 1e-9 <= inner[0, 0] <= inner[1, 0] <= row["hdi_95%"] + 1e-9
        assert f"{row['mean']:.2f}" in [t.get_text() for t in ax.texts]
    # the ICD 203 bands are shaded behind, each in its colour over its probabilities
    for word, (low, high) in PROBABILITY_BANDS.items():
        (band,) = rectangles(ax, ICD_BAND_COLOURS[word])
        assert band.get_x() == pytest.approx(low)
        assert band.get_x() + band.get_width() == pytest.approx(high)
        assert band.get_zorder() < means.get_zorder()
    (top,) = ax.child_axes
    assert [t.get_text() for t in top.get_xticklabels()] == list(PROBABILITY_BANDS)
    assert ax.get_xlim() == (0.0, 1.0)
    assert "isis_pakistan_2015: scenario probabilities as of 2016-06-30" in svg_text
    assert "caliphate_declared = yes" in svg_text and "roughly even chance" in svg_text


def test_an_observed_scenario_is_named_not_drawn(spec):
    from forecast.evidence.case import Case
    from forecast.inference.importance import importance_forecast

    seen = importance_forecast(spec, Case({"isis_influence_pakistan": "high"}), draws=4000,
                               target_mcse=0.05, seed=3)
    fig = plot_scenarios(seen, spec.scenarios)
    ax = fig.axes[0]
    assert ytick_texts(ax) == ["caliphate_declared = yes", "isis_attack_pakistan = yes",
                               "border_territory_held = yes", "isis_influence_pakistan"]
    assert "observed: high" in [t.get_text() for t in ax.texts]
    wide = next(c for c in ax.collections if isinstance(c, LineCollection))
    assert len(wide.get_segments()) == 3  # no interval for the observed node


def test_a_node_with_more_states_shows_each_and_outcomes_can_be_named(small_forecast):
    fig = plot_scenarios(small_forecast, ["conflict", "caliphate=no"])
    ax = fig.axes[0]
    assert ytick_texts(ax) == ["conflict = easing", "conflict = steady", "conflict = worsening",
                               "caliphate = no"]
    means = next(c for c in ax.collections if isinstance(c, PathCollection)).get_offsets()
    summary = small_forecast.summary.set_index(["node", "state"])["mean"]
    expected = [summary[("conflict", s)] for s in ("easing", "steady", "worsening")]
    assert list(means[:, 0]) == pytest.approx([*expected, summary[("caliphate", "no")]])
    assert sum(expected) == pytest.approx(1.0)
    # a single node as a string
    single = plot_scenarios(small_forecast, "caliphate")
    assert ytick_texts(single.axes[0]) == ["caliphate = yes"]


def test_scenarios_reject_unknown_nodes_and_states_all_at_once(small_forecast):
    text = error_text(lambda: plot_scenarios(small_forecast, ["caliphat", "conflict=rising",
                                                              "caliphate", "conflict=xyz"]))
    assert text.startswith("cannot plot these scenarios")
    assert "nodes[0]: 'caliphat' is not a node of this forecast (did you mean 'caliphate'?)" in (
        text)
    assert "nodes[1]: 'rising' is not a state of conflict (did you mean 'worsening'?)" in text
    assert "nodes[2]" not in text
    assert "nodes[3]: 'xyz' is not a state of conflict (states: easing, steady, worsening)" in text
    assert "needs a Forecast, got DataFrame" in error_text(
        lambda: plot_scenarios(small_forecast.summary))


