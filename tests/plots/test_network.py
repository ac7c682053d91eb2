"""The model graph: draw_model, plot_network, edge signs and strengths, the layout."""

from __future__ import annotations

import itertools

import arviz as az
import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.colors import to_rgb

from forecast.inference.result import Forecast
from forecast.model.load import load_spec
from forecast.model.priors import STRENGTH_ODDS_RATIOS
from forecast.report.plots import (
    draw_model,
    plot_network,
)
from forecast.report.plots.layout import layered_layout
from forecast.report.plots.network import (
    EDGE_COLOURS,
    EDGE_WIDTHS,
    edge_signs,
    edge_strengths,
    positive_state,
    strength_of,
)
from forecast.report.plots.style import PROBABILITY_CMAP
from tests.plots.helpers import FLAGSHIP, SMALL, error_text, rendered


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




def test_a_two_node_model_is_drawn_within_its_figure(tmp_path):
    """A narrow graph gets a legend in fewer columns: one wider than the figure collapsed the
    constrained layout (a UserWarning, an error here) and drew nothing useful."""
    from pathlib import Path

    spec = load_spec(Path(__file__).resolve().parents[1] / "data" / "counts_model.yaml")
    fig = plot_network(spec)
    fig.savefig(tmp_path / "two_nodes.png")  # lays the figure out: a collapse warns (an error)
    legend = fig.axes[0].get_legend()
    assert legend is not None
    width = fig.get_figwidth() * fig.dpi
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    box = legend.get_window_extent(FigureCanvasAgg(fig).get_renderer())
    assert 0 <= box.x0 and box.x1 <= width, (box, width)
