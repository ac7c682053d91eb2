"""The estimative scale: ICD 203 words for probabilities, confidence labels, band colours.

The inverse of :data:`forecast.model.priors.PROBABILITY_BANDS` (words to bands): a probability
gets the word of the band holding it (a band's lower edge belongs to it, below 1% is still
"almost no chance" and above 99% "almost certain"); a 90% interval's width and the number of
ledger rows behind a judgment get a confidence label. Full sentences built from these live in
:mod:`forecast.analysis.language`.
"""

from __future__ import annotations

from forecast.model.priors import PROBABILITY_BANDS

__all__ = [
    "CONFIDENCE_LEVELS",
    "CONFIDENCE_ROWS",
    "CONFIDENCE_WIDTHS",
    "ICD_BAND_COLOURS",
    "LIKELIHOOD_WORDS",
    "bands_between",
    "confidence_label",
    "likelihood_word",
    "rows_confidence",
]

CONFIDENCE_LEVELS = ("high", "moderate", "low")
"""Confidence labels, best first."""


CONFIDENCE_WIDTHS = {"high": 0.10, "moderate": 0.25}
"""Upper bounds of the 90% interval width for each confidence label ("low" beyond)."""


CONFIDENCE_ROWS = {"high": 10, "moderate": 4}
"""Fewest ledger rows bearing on a node for each confidence label ("low" below)."""


LIKELIHOOD_WORDS: tuple[str, ...] = tuple(
    sorted(PROBABILITY_BANDS, key=lambda word: PROBABILITY_BANDS[word][0]))
"""The ICD 203 words from least to most likely."""


def likelihood_word(p: float) -> str:
    """The ICD 203 expression of likelihood for a probability (band edges belong upwards)."""
    word = LIKELIHOOD_WORDS[0]
    for name in LIKELIHOOD_WORDS[1:]:
        if p >= PROBABILITY_BANDS[name][0]:
            word = name
    return word


def confidence_label(width: float) -> str:
    """``high``, ``moderate`` or ``low`` from the width of a 90% credible interval alone.

    The width is rounded to 12 decimals first: a width of exactly 10 or 25 percentage points
    that comes out of a subtraction (``0.45 - 0.35 = 0.10000000000000003``) gets the label of
    the threshold it is at, as the sentence that prints it says.
    """
    width = round(float(width), 12)
    for label, limit in CONFIDENCE_WIDTHS.items():
        if width <= limit:
            return label
    return "low"


def rows_confidence(rows: int) -> str:
    """``high``, ``moderate`` or ``low`` from the number of ledger rows bearing on a node."""
    for label, least in CONFIDENCE_ROWS.items():
        if rows >= least:
            return label
    return "low"


def bands_between(low: float, high: float) -> tuple[str, ...]:
    """The ICD 203 words of every band an interval ``[low, high]`` touches, in order."""
    first = LIKELIHOOD_WORDS.index(likelihood_word(low))
    last = LIKELIHOOD_WORDS.index(likelihood_word(high))
    return LIKELIHOOD_WORDS[first:last + 1]


ICD_BAND_COLOURS: dict[str, str] = dict(zip(PROBABILITY_BANDS, (
    "#d9d2ea", "#e6e1f1", "#f0eef6", "#ebebeb", "#fbefdc", "#f7e1bd", "#f1cf98",
), strict=True))
"""Fill of each ICD 203 band (keys in :data:`forecast.model.priors.PROBABILITY_BANDS` order)."""
