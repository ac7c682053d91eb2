"""The family look of every figure: the package style sheet and the colours with a meaning.

The style sheet ``style.mplstyle`` ships inside the package (read with
:mod:`importlib.resources`) and is applied only while a plot function runs — with
:func:`styled` or the :func:`with_style` decorator — so importing or calling `forecast` never
changes a user's global matplotlib settings.

Colours that carry meaning are named here, once, for every plot:

* :data:`ICD_BAND_COLOURS` — the ICD 203 probability bands shaded behind probabilities, pale
  purple (remote) through grey (even chance) to pale ochre (almost certain);
* :data:`EFFECT_COLOURS` — an effect that raises (red) or lowers (blue) a probability;
* :data:`PROBABILITY_CMAP` — a node's probability on the network drawing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from importlib import resources
from typing import ParamSpec, TypeVar

import matplotlib.style

__all__ = [
    "EFFECT_COLOURS",
    "INK",
    "MUTED",
    "PROBABILITY_CMAP",
    "STYLE_FILE",
    "styled",
    "with_style",
]

STYLE_FILE = "style.mplstyle"
"""Name of the style sheet inside :mod:`forecast.report.plots`."""


EFFECT_COLOURS: dict[str, str] = {"raises": "#c0392b", "lowers": "#1f618d", "mixed": "#7f8c8d"}
"""An effect that raises (positive), lowers (negative) or has no single sign."""

PROBABILITY_CMAP = "Greens"
"""Colour map of probabilities on the network (neither red nor blue: those are effects)."""

INK = "#2c3e50"
"""The main data colour: means, lines, markers (first colour of the style's cycle)."""

MUTED = "#7f8c8d"
"""Secondary marks: evidence ticks of other nodes, reference lines."""

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def styled() -> Iterator[None]:
    """Apply the package style sheet inside a ``with`` block; settings are restored after.

    Yields
    ------
    None
    """
    with ExitStack() as stack:
        sheet = resources.files("forecast.report.plots") / STYLE_FILE
        path = stack.enter_context(resources.as_file(sheet))
        stack.enter_context(matplotlib.style.context(str(path)))
        yield


def with_style(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a plot function so that it runs under :func:`styled`.

    Parameters
    ----------
    func : callable
        A function drawing a figure.

    Returns
    -------
    callable
        The same function, drawing in the package style.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with styled():
            return func(*args, **kwargs)

    return wrapper
