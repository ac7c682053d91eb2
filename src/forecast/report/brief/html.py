"""The brief as one self-contained HTML page: figures drawn, embedded, templated (Jinja2)."""


from __future__ import annotations

import base64
import datetime as dt
import importlib.metadata
import io
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from forecast.inference.html import environment
from forecast.ops.brief import BriefData, FigureImage

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _png_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def make_figures(data: BriefData) -> list[FigureImage]:
    """Draw the brief's figures (:mod:`forecast.report.plots`) and encode them as PNG data URIs.

    Returns
    -------
    list of FigureImage
    """
    from forecast.report import plots  # matplotlib is imported when figures are drawn, not before

    inputs = data.inputs
    head = data.judgments[0] if data.judgments else None
    plans: list[tuple[str, str, str, Callable[[], Any]]] = [
        ("judgments", "Scenario probabilities",
         "Posterior mean and 90% interval of each scenario, over the ICD 203 bands.",
         lambda: plots.plot_scenarios(inputs.forecast, [j.node for j in data.judgments])),
    ]
    if head is not None and inputs.history["run_id"].nunique() > 1:
        plans.append(("changes", f"{head.label}: over the runs",
                      "Mean and 90% interval at each run's as-of date.",
                      lambda: plots.plot_trajectory(inputs.history, head.node, head.state,
                                                    events=inputs.events)))
    if head is not None and (head.node, head.state) in inputs.attributions:
        attribution = inputs.attributions[(head.node, head.state)]
        plans.append(("changes", f"{head.label}: what moved it",
                      "Each ledger row's contribution to the change since the previous run.",
                      lambda: plots.plot_waterfall(attribution.table, attribution.before,
                                                   attribution.after)))
    fan = [f"{j.node}={j.state}" for j in data.judgments] if data.horizons else []
    if fan:
        plans.append(("horizons", f"Over the {data.step}s ahead",
                      f"Mean and 90% band of each key judgment over the next {data.step}s "
                      "(events: happening within that many; conditions: their state then).",
                      lambda: plots.plot_fan(inputs.forecast, fan[:5], step=data.step)))
    plans.append(("network", "The model",
                  "Nodes coloured by their probability now; edges by the sign of their effect.",
                  lambda: plots.plot_network(inputs.spec, inputs.forecast)))
    if head is not None and inputs.sensitivity is not None:
        sensitivity = inputs.sensitivity
        plans.append(("sensitivity", f"{head.label}: sensitivity",
                      "How far the headline probability swings across each parameter's range.",
                      lambda: plots.plot_tornado(sensitivity, sensitivity.attrs.get("base"))))
    if inputs.forecast.attrs.get("method") != "ibis":  # IBIS reports its numbers, no figure
        plans.append(("diagnostics", "Sampler diagnostics", "Weights or chains of the sampler.",
                      lambda: plots.plot_diagnostics(inputs.forecast)))
    figures = []
    for section, title, caption, draw in plans:
        figure = draw()
        figures.append(FigureImage(section, title, caption, _png_uri(figure)))
    return figures


def render_html(data: BriefData, figures: Sequence[FigureImage] | None = None) -> str:
    """The brief as one self-contained HTML page.

    Parameters
    ----------
    data : BriefData
        From :func:`build_brief`.
    figures : sequence of FigureImage, optional
        Already drawn figures; by default :func:`make_figures` draws them.

    Returns
    -------
    str
        HTML5 with the style sheet inline and figures as ``data:`` URIs; every text from the
        model and ledger is escaped.
    """
    notes = list(data.notes)
    if figures is None:
        figures = make_figures(data)
    by_section: dict[str, list[FigureImage]] = {}
    for figure in figures:
        by_section.setdefault(figure.section, []).append(figure)
    template = environment().get_template("brief.html.j2")
    return template.render(
        d=data, figures=by_section, notes=notes,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=importlib.metadata.version("forecast"))
