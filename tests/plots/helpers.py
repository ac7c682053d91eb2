"""Constants and checks shared by the plot tests."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import arviz as az
import matplotlib.image as mpimg
import numpy as np
import pytest
import xarray as xr
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from forecast.errors import ForecastError
from forecast.inference.result import Forecast
from forecast.report.plots import (
    save_figure,
)

ROOT = Path(__file__).resolve().parents[2]
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


