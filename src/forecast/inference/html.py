"""HTML of results: the Jinja2 environment shared by a Forecast's display and the brief.

The templates live in ``forecast/templates``; :func:`environment` autoescapes every value and
knows the filters and the ICD 203 band scale the templates use. :func:`forecast_html` is a
:class:`~forecast.inference.result.Forecast`'s Jupyter display.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jinja2

from forecast.model.priors import PROBABILITY_BANDS
from forecast.model.words import ICD_BAND_COLOURS, LIKELIHOOD_WORDS

if TYPE_CHECKING:
    from forecast.inference.result import Forecast

__all__ = ["band_stops", "environment", "forecast_html", "pct"]


def environment() -> jinja2.Environment:
    """The package's templates, autoescaped, strict about undefined names, with its filters."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("forecast", "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = pct
    env.filters["signed"] = lambda x: f"{100 * x:+.1f} pts"
    env.filters["logodds"] = lambda x: f"{x:+.2f} log-odds"
    env.globals["bands"] = band_stops()
    return env


def pct(p: float | None) -> str:
    """A probability as a whole percentage ("<1%" and ">99%" at the ends, "—" for None)."""
    if p is None:
        return "—"
    return "<1%" if p < 0.005 else ">99%" if p > 0.995 else f"{100 * p:.0f}%"


def band_stops() -> list[dict[str, Any]]:
    """The ICD 203 bands laid end to end over [0, 1], with their fill colours."""
    edges = [0.0, *(PROBABILITY_BANDS[w][0] for w in LIKELIHOOD_WORDS[1:]), 1.0]
    return [{"word": w, "start": edges[i], "end": edges[i + 1], "colour": ICD_BAND_COLOURS[w]}
            for i, w in enumerate(LIKELIHOOD_WORDS)]


def forecast_html(forecast: Forecast) -> str:
    """A forecast's summary as an HTML table with interval bars (its Jupyter display)."""
    attrs = forecast.attrs
    template = environment().get_template("forecast.html.j2")
    return template.render(
        rows=forecast.summary.to_dict("records"), name=attrs.get("model_name"),
        as_of=attrs.get("as_of"), method=attrs.get("method"),
        publishable=forecast.publishable,
        failed=(attrs.get("diagnostics") or {}).get("failed", []))
