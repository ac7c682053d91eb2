"""Figures: every plot renders to real PNG and SVG, draws the numbers it is given, takes ``ax=``,
never touches pyplot, and turns bad input into one clear ForecastError."""

from __future__ import annotations

import ast
import itertools
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import arviz as az
import matplotlib as mpl
import matplotlib.dates as mdates
import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.collections import LineCollection, PathCollection, PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure, SubFigure
from matplotlib.patches import Rectangle
from scipy import special

from forecast.analysis.explain import attribute_change, parameter_sensitivity
from forecast.analysis.scoring import calibration_table
from forecast.errors import ForecastError
from forecast.evidence.case import Case
from forecast.evidence.ledger import case_as_of, load_ledger, rows_as_of
from forecast.inference.importance import KHAT_MAX, importance_forecast
from forecast.inference.result import Forecast
from forecast.model.load import load_spec
from forecast.model.priors import PROBABILITY_BANDS, STRENGTH_ODDS_RATIOS
from forecast.model.words import ICD_BAND_COLOURS
from forecast.report import graph_plot, plots
from forecast.report import style as plot_style
from forecast.report.graph_plot import (
    EDGE_COLOURS,
    EDGE_WIDTHS,
    draw_model,
    edge_signs,
    edge_strengths,
    layered_layout,
    positive_state,
    strength_of,
)
from forecast.report.plots import (
    plot_diagnostics,
    plot_network,
    plot_reliability,
    plot_scenarios,
    plot_tornado,
    plot_trajectory,
    plot_waterfall,
    save_figure,
)
from forecast.report.style import EFFECT_COLOURS, INK, PROBABILITY_CMAP

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "models" / "isis_pakistan_2015.yaml"
LEDGER = ROOT / "data" / "isis_pakistan_ledger.csv"
SMALL = ROOT / "models" / "afghan_caliphate.yaml"
AS_OF = "2016-06-30"
HISTORY_DATES = ["2015-03-31", "2015-06-30", "2015-09-30", "2015-12-31", "2016-03-31",
                 "2016-06-30", "2016-09-30"]
SVG = "{http://www.w3.org/2000/svg}"
DPI = 150  # savefig.dpi of the package style
WHITE = (1.0, 1.0, 1.0, 1.0)
NUTS_SHIFTED = "caliphate.effect.reconciliation=achieved"  # chain 1 disagrees on this one


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(autouse=True)
def pyplot_untouched(monkeypatch):
    """Every test: no plt.show(), no figure left in pyplot's list, global style unchanged."""
    def refuse(*args, **kwargs):
        raise AssertionError("a plot function called plt.show()")

    monkeypatch.setattr(plt, "show", refuse)
    figures = plt.get_fignums()
    style = {k: mpl.rcParams[k] for k in ("axes.spines.top", "font.size", "axes.prop_cycle",
                                          "savefig.dpi", "svg.fonttype", "figure.figsize")}
    yield
    assert plt.get_fignums() == figures
    assert {k: mpl.rcParams[k] for k in style} == style


@pytest.fixture(scope="module")
def spec():
    return load_spec(FLAGSHIP)


@pytest.fixture(scope="module")
def small():
    return load_spec(SMALL)


@pytest.fixture(scope="module")
def ledger(spec):
    return load_ledger(LEDGER, spec)


@pytest.fixture(scope="module")
def flagship(spec, ledger):
    """The flagship forecast from the ledger as of mid-2016 (importance sampling)."""
    return importance_forecast(spec, case_as_of(ledger, spec, AS_OF), draws=3000,
                               target_mcse=0.05, seed=1, as_of=AS_OF)


@pytest.fixture(scope="module")
def small_forecast(small):
    return importance_forecast(small, Case({"reconciliation": "failed"}), draws=4000,
                               target_mcse=0.05, seed=3)


@pytest.fixture(scope="module")
def history(spec, ledger):
    """What a run history holds: the flagship's summary at each of several as-of dates."""
    frames = []
    for day in HISTORY_DATES:
        forecast = importance_forecast(spec, case_as_of(ledger, spec, day), draws=2000,
                                       target_mcse=0.05, seed=1, as_of=day)
        frames.append(forecast.summary.assign(as_of=day))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def sensitivity(spec, flagship):
    return parameter_sensitivity(flagship, "caliphate_declared", "yes", spec=spec)


@pytest.fixture(scope="module")
def attribution(spec, ledger):
    return attribute_change(spec, rows_as_of(ledger, spec, "2015-12-31"),
                            rows_as_of(ledger, spec, AS_OF), "caliphate_declared", "yes",
                            draws=2000)


@pytest.fixture(scope="module")
def calibration():
    rng = np.random.default_rng(20150824)
    p = rng.uniform(size=300)
    outcome = (rng.uniform(size=300) < p).astype(int)
    frames = [calibration_table(p, outcome).assign(forecaster="model"),
              calibration_table(np.clip(p + 0.25, 0, 1), outcome).assign(forecaster="too high")]
    table = pd.concat(frames, ignore_index=True)
    return table[["forecaster", *(c for c in table.columns if c != "forecaster")]]


def nuts_like(forecast: Forecast, chains: int = 2, draws: int = 600,
              divergent: tuple[int, ...] = (10, 200, 300)) -> Forecast:
    """A Forecast shaped as ``nuts_forecast`` returns it, without running NUTS.

    The chains are the importance draws cut in two, with chain 1 shifted on one parameter
    (:data:`NUTS_SHIFTED`) so that it has by far the largest R-hat; a few draws of chain 0 are
    divergent. The provenance says ``method: nuts`` with NUTS diagnostics.
    """
    post = forecast.idata.posterior
    n = chains * draws
    theta = post["theta"].values[0, :n].reshape(chains, draws, -1).copy()
    prob = post["prob"].values[0, :n].reshape(chains, draws, -1).copy()
    names = [str(p) for p in post["parameter"].values]
    theta[1, :, names.index(NUTS_SHIFTED)] += 1.0
    diverging = np.zeros((chains, draws), dtype=bool)
    diverging[0, list(divergent)] = True
    diagnostics = {"draws": n, "chains": chains, "divergences": len(divergent),
                   "max_rhat": 1.5, "ess": 40.0, "max_mcse": 0.01,
                   "failed": ["R-hat 1.500 > 1.01", f"{len(divergent)} divergent transitions"]}
    attrs = {**post.attrs, "method": "nuts", "method_reason": "NUTS, as requested",
             "diagnostics": json.dumps(diagnostics), "publishable": 0}
    coords = {"chain": np.arange(chains), "draw": np.arange(draws)}
    posterior = xr.Dataset(
        {"theta": (("chain", "draw", "parameter"), theta),
         "prob": (("chain", "draw", "outcome"), prob)},
        coords={**coords, "parameter": names, "outcome": post["outcome"].values,
                "node": ("outcome", post["node"].values),
                "state": ("outcome", post["state"].values)},
        attrs=attrs)
    sample_stats = xr.Dataset({"diverging": (("chain", "draw"), diverging)}, coords=coords)
    idata = az.InferenceData(posterior=posterior, sample_stats=sample_stats)
    idata.add_groups({"forecast": forecast.idata["forecast"]})
    return Forecast(idata)


@pytest.fixture(scope="module")
def nuts(small_forecast):
    return nuts_like(small_forecast)


# ------------------------------------------------------------------------------ helpers
def rendered(fig: Figure, folder: Path, name: str) -> tuple[np.ndarray, str]:
    """Save `fig` as PNG and SVG; check both are real pictures; the pixels and the SVG's text."""
    png = save_figure(fig, folder / f"{name}.png")
    svg = save_figure(fig, folder / f"{name}.svg")
    assert sorted(p.name for p in folder.iterdir() if p.stem == name) == [
        f"{name}.png", f"{name}.svg"]  # no temporary files left behind

    image = mpimg.imread(png)
    width, height = fig.get_size_inches() * DPI
    assert image.shape == (round(height), round(width), 4), image.shape
    rgb = np.round(image[..., :3] * 255).astype(np.uint32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    assert len(np.unique(packed)) > 50, "the PNG has almost no colours: blank?"
    inked = np.any(image[..., :3] < 0.97, axis=-1).mean()
    assert inked > 0.03, f"only {inked:.1%} of the PNG is drawn on"

    root = ET.parse(svg).getroot()
    assert root.tag == f"{SVG}svg"
    assert sum(1 for _ in root.iter(f"{SVG}path")) > 20
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert texts, "the package style keeps SVG text as text"
    return image, "\n".join(texts)


def rectangles(ax, colour: str) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle)
            and np.allclose(p.get_facecolor()[:3], to_rgb(colour))]


def ytick_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_yticklabels()]


def error_text(call: Callable[[], object]) -> str:
    with pytest.raises(ForecastError) as caught:
        call()
    return str(caught.value)


# ------------------------------------------------------------------------------ scenarios
def test_scenarios_draw_the_forecasts_means_and_intervals_over_the_bands(flagship, tmp_path):
    fig = plot_scenarios(flagship)
    _, svg_text = rendered(fig, tmp_path, "scenarios")
    ax = fig.axes[0]
    summary = flagship.summary
    shown = summary[[positive_state(list(summary.loc[summary["node"] == n, "state"])) == s
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


def test_an_observed_scenario_is_named_not_drawn(spec, flagship):
    fig = plot_scenarios(flagship, spec.scenarios)
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
    # caliphate_declared's one ledger row is from 2021: outside the history
    fig = plot_trajectory(history, "caliphate_declared", "yes", events=ledger)
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


# ------------------------------------------------------------------------------ network
def node_boxes(ax, spec) -> dict[str, object]:
    """The text artist of each node, found by its position in the layout."""
    positions, _ = layered_layout(spec.network_structure())
    boxes = {}
    for text in ax.texts:
        if text.get_bbox_patch() is None:
            continue
        (name,) = [n for n, p in positions.items() if np.allclose(text.get_position(), p)]
        boxes[name] = text
    assert set(boxes) == set(spec.node_names)
    return boxes


def test_network_fills_nodes_by_probability_and_marks_the_evidence(spec, flagship, tmp_path):
    fig = plot_network(spec, flagship)
    _, svg_text = rendered(fig, tmp_path, "network")
    ax, colourbar = fig.axes
    assert "probability" in colourbar.get_ylabel()
    summary = flagship.summary.set_index(["node", "state"])["mean"]
    evidence = flagship.attrs["evidence"][0]
    observed = {n for n in evidence["evidence"] if n in spec.nodes}
    soft = {n for n in evidence["soft"] if n in spec.nodes}
    forecast_nodes = set(summary.index.get_level_values("node"))
    assert observed == {n for n in spec.node_names if n not in forecast_nodes}
    assert soft and not soft & observed
    cmap = mpl.colormaps[PROBABILITY_CMAP]
    shades = []
    for name, text in node_boxes(ax, spec).items():
        box = text.get_bbox_patch()
        if name in observed:
            assert f"observed: {evidence['evidence'][name]}" in text.get_text()
            assert np.allclose(box.get_facecolor()[:3], to_rgb("#f4f6f7"))
            assert box.get_linestyle() == "--"
            continue
        state = positive_state(spec.states[name])
        p = summary[(name, state)]
        assert f"{state}: {p:.2f}" in text.get_text()
        assert np.allclose(box.get_facecolor(), cmap(p))
        assert (box.get_linestyle() == "--") == (name in soft)
        shades.append((p, np.dot(box.get_facecolor()[:3], [0.299, 0.587, 0.114])))
    shades.sort()
    assert all(a[1] >= b[1] - 1e-12 for a, b in itertools.pairwise(shades)), (
        "a more probable node must be filled darker")
    assert "posterior as of 2016-06-30" in ax.get_title(loc="left")
    assert "observed: none" in svg_text and "soft evidence" in svg_text


def test_network_edges_are_coloured_by_sign_and_widened_by_strength(spec):
    fig = draw_model(spec)
    ax = fig.axes[0]
    positions, bends = layered_layout(spec.network_structure())
    signs, strengths = edge_signs(spec), edge_strengths(spec)
    heads = [t for t in ax.texts if getattr(t, "arrow_patch", None) is not None
             and type(t.arrow_patch.get_arrowstyle()).__name__ != "Curve"]
    assert len(heads) == len(signs)
    words = set()
    for (parent, child), sign in signs.items():
        start = (bends[(parent, child)] or [positions[parent]])[-1]
        (head,) = [h for h in heads if np.allclose(h.xy, positions[child])
                   and np.allclose(h.xyann, start)]
        word = strength_of(strengths[(parent, child)])
        words.add(word)
        assert head.arrow_patch.get_linewidth() == EDGE_WIDTHS[word]
        assert np.allclose(head.arrow_patch.get_edgecolor()[:3], to_rgb(EDGE_COLOURS[sign]))
    assert words == set(STRENGTH_ODDS_RATIOS)  # the flagship uses every width
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert [f"{w} effect" for w in EDGE_WIDTHS] == [t for t in legend if t.endswith("effect")]


def test_strength_words_at_their_odds_ratio_edges():
    assert list(EDGE_WIDTHS) == list(STRENGTH_ODDS_RATIOS)
    assert list(EDGE_WIDTHS.values()) == sorted(EDGE_WIDTHS.values())
    words = list(STRENGTH_ODDS_RATIOS)
    for lower, upper in itertools.pairwise(words):
        edge = np.log(STRENGTH_ODDS_RATIOS[upper][0])
        assert strength_of(edge) == upper
        assert strength_of(np.nextafter(edge, 0)) == lower
        assert strength_of(-edge) == upper  # a lowering effect as strong
    assert strength_of(0.0) == "weak"
    assert strength_of(np.log(30.0)) == strength_of(12.0) == "very strong"


@pytest.mark.parametrize("model", [FLAGSHIP, SMALL])
def test_edge_strength_of_a_logit_effect_is_its_strength_word(model):
    spec = load_spec(model)
    strengths = edge_strengths(spec)
    checked = 0
    for name, node in spec.nodes.items():
        if node.cpt.logit is None:
            continue
        parents = [e.parent for e in node.cpt.logit.effects]
        for effect in node.cpt.logit.effects:
            if effect.strength and parents.count(effect.parent) == 1:
                assert strength_of(strengths[(effect.parent, name)]) == effect.strength
                checked += 1
    assert checked >= 2


def test_draw_model_without_probabilities_fills_by_kind(small, tmp_path):
    fig = draw_model(small, observed={"conflict": "observed: worsening",
                                      "caliphate": "soft evidence"})
    rendered(fig, tmp_path, "small_model")
    boxes = node_boxes(fig.axes[0], small)
    kinds = {"condition": "#e8f1f8", "event": "#fcefe3"}
    for name, text in boxes.items():
        fill = text.get_bbox_patch().get_facecolor()[:3]
        assert np.allclose(fill, to_rgb(kinds[small.nodes[name].definition.kind])), name
    assert boxes["conflict"].get_text().endswith("observed: worsening")
    assert boxes["caliphate"].get_bbox_patch().get_linestyle() == "--"
    assert len(fig.axes) == 1  # no colour bar


def test_draw_model_with_probabilities_greys_known_nodes(small):
    probabilities = {n: 0.1 * (k + 1) for k, n in enumerate(small.node_names)
                     if n != "reconciliation"}
    fig = draw_model(small, probabilities=probabilities,
                     observed={"reconciliation": "set: failed"})
    boxes = node_boxes(fig.axes[0], small)
    assert np.allclose(boxes["reconciliation"].get_bbox_patch().get_facecolor()[:3],
                       to_rgb("#f4f6f7"))
    for name, p in probabilities.items():
        assert np.allclose(boxes[name].get_bbox_patch().get_facecolor(),
                           mpl.colormaps[PROBABILITY_CMAP](p))
    assert len(fig.axes) == 2


def test_draw_model_rejects_bad_probabilities_in_one_error(small):
    text = error_text(lambda: draw_model(small, probabilities={
        "conflikt": 0.3, "caliphate": 1.4, "reconciliation": float("nan"),
        "hardliners_back_isis": "often", "pro_isis_strength": 0.5}))
    assert text.startswith("draw_model: cannot fill the nodes by probability")
    assert "probabilities['conflikt']: not a node of the model (did you mean 'conflict'?)" in text
    assert "probabilities['caliphate']: 1.4 is not a probability in [0, 1]" in text
    assert "probabilities['reconciliation']: nan is not a probability" in text
    assert "'often' is not a probability" in text
    assert "no probability for conflict, pakistan_spillover" in text


def test_network_rejects_a_forecast_of_another_model_or_missing_nodes(spec, small, flagship):
    assert "the forecast is of another model" in error_text(lambda: plot_network(small, flagship))
    idata = flagship.idata
    trimmed = az.InferenceData(posterior=idata.posterior.isel(outcome=slice(4, None)))
    trimmed.add_groups({"forecast": idata["forecast"]})
    text = error_text(lambda: plot_network(spec, Forecast(trimmed)))
    assert "lacks nodes of the model" in text
    assert "no probabilities for reconciliation, pk_counter_militancy" in text


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
    assert widths[:len(attribution.table)] == pytest.approx(list(attribution.table["contribution"]))
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


# ------------------------------------------------------------------------------ diagnostics
def test_importance_diagnostics_show_weights_ess_and_mcse(flagship, tmp_path):
    fig = plot_diagnostics(flagship)
    _, svg_text = rendered(fig, tmp_path, "diagnostics_importance")
    weights, cumulative, mcse = fig.axes
    d = flagship.attrs["diagnostics"]
    assert f"Pareto k̂ {d['khat']:.2f}: reliable (threshold {KHAT_MAX})" in (
        weights.get_title(loc="left"))
    (curve,) = [line for line in weights.lines if line.get_linestyle() == "-"]
    w = curve.get_ydata()
    assert len(w) == d["draws"] and np.all(np.diff(w) <= 0) and w.sum() == pytest.approx(1.0)
    share = cumulative.lines[0].get_ydata()
    assert share[-1] == pytest.approx(1.0) and np.all(np.diff(share) >= 0)
    (ess_line,) = [line for line in cumulative.lines if line.get_label().startswith("ESS")]
    assert ess_line.get_xdata()[0] == pytest.approx(d["ess"])
    assert ess_line.get_label() == f"ESS {d['ess']:,.0f} of {d['draws']:,} draws (min 400)"
    assert ess_line.get_xdata()[0] == pytest.approx(1 / np.sum(w**2), rel=1e-9)
    summary = flagship.summary
    notable = summary[[positive_state(list(summary.loc[summary["node"] == n, "state"])) == s
                       for n, s in zip(summary["node"], summary["state"], strict=True)]]
    worst = notable.sort_values("mcse", ascending=False).head(14)
    assert ytick_texts(mcse)[::-1] == [f"{n}={s}" for n, s in zip(worst["node"], worst["state"],
                                                                    strict=True)]
    assert "Importance-sampling diagnostics (publishable)" in svg_text


def test_importance_diagnostics_flag_degenerate_weights_and_prior_only_runs(small):
    history = [Case({"reconciliation": "achieved", "caliphate": "yes",
                     "hardliners_back_isis": "no", "conflict": "easing"})] * 30
    degenerate = importance_forecast(small, Case({"reconciliation": "failed"}), history,
                                     draws=2000, target_mcse=0.05, seed=1)
    fig = plot_diagnostics(degenerate)
    assert "UNRELIABLE" in fig.axes[0].get_title(loc="left")
    assert fig.get_suptitle().startswith("Importance-sampling diagnostics (NOT publishable: "
                                         "Pareto k-hat")
    prior = importance_forecast(small, draws=2000, target_mcse=0.05, seed=1)
    title = plot_diagnostics(prior).axes[0].get_title(loc="left")
    assert "not needed: no evidence, all weights equal" in title


def test_nuts_diagnostics_show_the_worst_chains_first(nuts, tmp_path):
    fig = plot_diagnostics(nuts, max_params=4)
    _, svg_text = rendered(fig, tmp_path, "diagnostics_nuts")
    assert len(fig.axes) == 8
    densities, ranks = fig.axes[0::2], fig.axes[1::2]
    names = [a.get_title(loc="left") for a in densities]
    assert names[0] == NUTS_SHIFTED
    rhats = [float(a.get_title(loc="left").split()[1]) for a in ranks]
    assert rhats == sorted(rhats, reverse=True)
    assert rhats[0] > 1.1 > rhats[1]
    theta = nuts.idata.posterior["theta"].sel(parameter=NUTS_SHIFTED).values
    assert rhats[0] == pytest.approx(float(az.rhat(theta)), abs=5e-4)
    # each chain's density, and the divergent draws as ticks at their values
    (ticks,) = [line for line in densities[0].lines if line.get_marker() == "|"]
    assert sorted(ticks.get_xdata()) == pytest.approx(sorted(theta[0, [10, 200, 300]]))
    assert len([line for line in densities[0].lines if line.get_marker() in ("None", "")]) >= 2
    assert all(a.patches for a in ranks)  # rank bars drawn
    title = fig.get_suptitle()
    assert title.startswith("NUTS diagnostics (NOT publishable): 2 chains, 3 divergences, "
                            "largest R-hat 1.500")
    assert NUTS_SHIFTED in svg_text


def test_nuts_diagnostics_of_probabilities_and_bad_variables(nuts):
    fig = plot_diagnostics(nuts, var_names=("prob",), max_params=20)
    names = [a.get_title(loc="left") for a in fig.axes[0::2]]
    outcomes = [str(o) for o in nuts.idata.posterior["outcome"].values]
    # every outcome but the observed node's, whose probabilities are constant
    assert sorted(names) == sorted(o for o in outcomes if not o.startswith("reconciliation="))
    text = error_text(lambda: plot_diagnostics(nuts, var_names=("theta", "thetta", "probs")))
    assert "var_names[1]: 'thetta' is not a posterior variable" in text
    assert "var_names[2]: 'probs'" in text and "did you mean 'prob'" in text


def test_diagnostics_refuse_what_they_cannot_diagnose(nuts, small_forecast):
    posterior = nuts.idata.posterior
    flat = az.InferenceData(posterior=posterior.assign(theta=posterior["theta"] * 0 + 0.5),
                            sample_stats=nuts.idata.sample_stats)
    text = error_text(lambda: plot_diagnostics(Forecast(flat), var_names=("theta",)))
    assert "every component of theta is constant" in text
    bare = az.InferenceData(posterior=small_forecast.idata.posterior.assign_attrs(method="exact"))
    bare.add_groups({"forecast": small_forecast.idata["forecast"]})
    text = error_text(lambda: plot_diagnostics(Forecast(bare)))
    assert "method 'exact' and no importance-weight group" in text
    assert "needs a Forecast, got str" in error_text(lambda: plot_diagnostics("run-1"))


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
    for module in (plots, graph_plot, plot_style):
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        imported += [f"{n.module}.{a.name}" for n in ast.walk(tree)
                     if isinstance(n, ast.ImportFrom) for a in n.names]
        assert imported and not [name for name in imported if "pyplot" in name]
        assert "plt" not in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
