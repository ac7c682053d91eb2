"""Estimative words and strength words → prior distributions.

An analyst writes *how likely* (ICD 203 estimative words) and *how strongly* (strength words); this
module turns those words into explicit prior distributions. It knows nothing of YAML: the model
language (:mod:`forecast.model.load`) validates words against the vocabularies defined here, and
:mod:`forecast.model.parameters` turns a spec into named parameters carrying these priors.

Probability words (ICD 203)
---------------------------
Each word names a band; its prior is the ``Beta(a, b)`` whose 5 % and 95 % quantiles are the
band's edges (solved once per band and cached). Synonyms map to the same band.

=====================  ==========================  =========
word                   synonyms                    band
=====================  ==========================  =========
almost no chance       remote                      1–5 %
very unlikely          highly improbable           5–20 %
unlikely               improbable                  20–45 %
roughly even chance    roughly even odds           45–55 %
likely                 probable                    55–80 %
very likely            highly probable             80–95 %
almost certain         nearly certain              95–99 %
=====================  ==========================  =========

A probability prior may also be a number in [0, 1] (fixed), ``{beta: [a, b]}`` or
``{between: [lo, hi]}`` (a custom band, fitted like a word's).

Strength words (effects on log-odds)
------------------------------------
A strength word names a range of odds ratios. The prior on the effect (the shift in log-odds)
is ``sign × LogNormal(mu, sigma)`` whose 5 % and 95 % quantiles are ``log(OR_lo)`` and
``log(OR_hi)``, so the effect is sign-constrained by construction: ``raises`` is positive,
``lowers`` negative.

===========  ====================  ==================
strength     odds ratio (5–95 %)   log-odds shift
===========  ====================  ==================
weak         1.2–2                 0.18–0.69
moderate     2–4                   0.69–1.39
strong       4–10                  1.39–2.30
very strong  10–30                 2.30–3.40
===========  ====================  ==================

``odds_ratio: [lo, hi]`` gives custom edges (both above 1, or both below 1 for ``lowers``);
``log_odds: x`` fixes the effect.

Numbers must be finite (no ``.nan`` or ``.inf``) and in range: Beta parameters in
(0, :data:`MAX_BETA_PARAMETER`], odds ratios within 1/:data:`MAX_ODDS_RATIO` to
:data:`MAX_ODDS_RATIO`, a fixed shift within ±:data:`MAX_LOG_ODDS`.

The distributions themselves (:class:`ProbabilityPrior`, :class:`EffectPrior`,
:class:`DirichletPrior`, :class:`FixedValue`) live in :mod:`forecast.model.distributions` and are
re-exported here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

from forecast.errors import SpecError, did_you_mean
from forecast.model.distributions import (
    DirichletPrior,
    EffectPrior,
    FixedValue,
    Prior,
    ProbabilityPrior,
)

__all__ = [
    "MAX_BETA_PARAMETER",
    "MAX_LOG_ODDS",
    "MAX_ODDS_RATIO",
    "PROBABILITY_BANDS",
    "PROBABILITY_SYNONYMS",
    "QUANTILES",
    "STRENGTH_ODDS_RATIOS",
    "DirichletPrior",
    "EffectPrior",
    "FixedValue",
    "Prior",
    "PriorError",
    "ProbabilityPrior",
    "beta_for_band",
    "check_probability_prior",
    "dirichlet_prior",
    "effect_prior",
    "probability_prior",
    "probability_word",
    "strength_word",
]

QUANTILES = (0.05, 0.95)
"""The quantiles of a prior placed at a band's edges."""

PROBABILITY_BANDS: dict[str, tuple[float, float]] = {
    "almost no chance": (0.01, 0.05),
    "very unlikely": (0.05, 0.20),
    "unlikely": (0.20, 0.45),
    "roughly even chance": (0.45, 0.55),
    "likely": (0.55, 0.80),
    "very likely": (0.80, 0.95),
    "almost certain": (0.95, 0.99),
}
"""ICD 203 estimative words and their probability bands."""

PROBABILITY_SYNONYMS: dict[str, str] = {
    "remote": "almost no chance",
    "highly improbable": "very unlikely",
    "improbable": "unlikely",
    "roughly even odds": "roughly even chance",
    "probable": "likely",
    "highly probable": "very likely",
    "nearly certain": "almost certain",
}
"""ICD 203 synonyms, each mapped to its canonical word."""

STRENGTH_ODDS_RATIOS: dict[str, tuple[float, float]] = {
    "weak": (1.2, 2.0),
    "moderate": (2.0, 4.0),
    "strong": (4.0, 10.0),
    "very strong": (10.0, 30.0),
}
"""Strength words and the odds-ratio range (5 %–95 %) each stands for."""

MAX_BETA_PARAMETER = 1e6
"""Largest parameter of ``{beta: [a, b]}`` (a Beta that narrow is a fixed number: write that)."""

MAX_ODDS_RATIO = 1e6
"""Largest odds ratio of ``odds_ratio: [lo, hi]`` (and smallest: its inverse)."""

MAX_LOG_ODDS = math.log(MAX_ODDS_RATIO)
"""Largest size of a fixed ``log_odds`` shift (about 13.8: an odds ratio of a million)."""

_Z = 1.6448536269514722
"""``scipy.stats.norm.ppf(0.95)`` to the last bit (a test checks it): kept as a number so that
reading a model does not import scipy."""


class PriorError(SpecError, ValueError):
    """A prior written in words or numbers that cannot be understood.

    It is a :class:`~forecast.errors.SpecError` (so callers catching the family see it) and a
    ``ValueError`` (so pydantic validators turn it into a located problem).

    Parameters
    ----------
    message : str
        What is wrong.
    hint : str, optional
        How to fix it.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)


def normalise_word(word: str) -> str:
    """A word as the vocabularies key it: lower case, runs of spaces, ``_`` and ``-`` one space."""
    return re.sub(r"[\s_\-]+", " ", word.strip().lower())


def _percent(x: float) -> str:
    return f"{100 * x:.3g}"


def _band_text(lo: float, hi: float) -> str:
    return f"{_percent(lo)}–{_percent(hi)}%"


# --------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------


@cache
def beta_for_band(lo: float, hi: float) -> tuple[float, float]:
    """The ``(a, b)`` of the Beta whose 5 % and 95 % quantiles are `lo` and `hi`.

    Parameters
    ----------
    lo, hi : float
        Band edges, ``0 < lo < hi < 1``.

    Returns
    -------
    tuple of float
        Beta shape parameters, matching both quantiles to about 1e-10.

    Raises
    ------
    PriorError
        If the band is not inside (0, 1) or no Beta fits it.
    """
    _check_band(lo, hi)
    import numpy as np  # the fit only: validating a model needs neither numpy nor scipy
    from scipy import optimize, special, stats

    target = special.logit([lo, hi])

    def residual(x: np.ndarray) -> np.ndarray:
        a, b = np.exp(x)
        return special.logit(stats.beta.ppf(QUANTILES, a, b)) - target

    m = (lo + hi) / 2
    s = (hi - lo) / (2 * _Z)
    nu = max(m * (1 - m) / s**2 - 1, 0.5)
    x0 = np.log([m * nu, (1 - m) * nu])
    sol = optimize.root(residual, x0, method="hybr", options={"xtol": 1e-13})
    a, b = (float(v) for v in np.exp(sol.x))
    quantiles = stats.beta.ppf(QUANTILES, a, b)
    if not np.allclose(quantiles, [lo, hi], rtol=0, atol=1e-9):
        raise PriorError(
            f"no Beta distribution has its 5% and 95% quantiles at {lo} and {hi}",
            "use a narrower band, or {beta: [a, b]}",
        )
    return a, b


def _check_band(lo: float, hi: float) -> None:
    if not 0 < lo < hi < 1:
        raise PriorError(
            f"band [{lo}, {hi}] is not inside (0, 1) with lo < hi",
            "give two probabilities strictly between 0 and 1, the smaller first",
        )


def _lognormal_for_range(lo: float, hi: float) -> tuple[float, float]:
    """``(mu, sigma)`` of the LogNormal with 5 % and 95 % quantiles at `lo` and `hi` (> 0)."""
    mu = (math.log(lo) + math.log(hi)) / 2
    sigma = (math.log(hi) - math.log(lo)) / (2 * _Z)
    return mu, sigma


# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------


def probability_word(word: str) -> tuple[str, tuple[float, float]]:
    """Resolve an estimative word or synonym to its canonical word and band.

    Parameters
    ----------
    word : str
        E.g. ``"unlikely"``, ``"Highly probable"``, ``"very_unlikely"``.

    Returns
    -------
    tuple
        ``(canonical word, (lo, hi))``.

    Raises
    ------
    PriorError
        With a "did you mean" hint for an unknown word.
    """
    key = normalise_word(word)
    key = PROBABILITY_SYNONYMS.get(key, key)
    if key in PROBABILITY_BANDS:
        return key, PROBABILITY_BANDS[key]
    vocabulary = [*PROBABILITY_BANDS, *PROBABILITY_SYNONYMS]
    hint = did_you_mean(key, vocabulary) or "use one of: " + ", ".join(PROBABILITY_BANDS)
    raise PriorError(f"'{word}' is not an estimative word", hint)


def strength_word(word: str) -> tuple[str, tuple[float, float]]:
    """Resolve a strength word to its canonical form and odds-ratio range.

    Raises
    ------
    PriorError
        With a "did you mean" hint for an unknown word.
    """
    key = normalise_word(word)
    if key in STRENGTH_ODDS_RATIOS:
        return key, STRENGTH_ODDS_RATIOS[key]
    hint = did_you_mean(key, STRENGTH_ODDS_RATIOS) or "use one of: " + ", ".join(
        STRENGTH_ODDS_RATIOS
    )
    raise PriorError(f"'{word}' is not a strength word", hint)


def _pair(value: Any, what: str) -> tuple[float, float]:
    ok = (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    )
    if not ok:
        raise PriorError(f"{what} needs two numbers, got {value!r}", f"write {what}: [lo, hi]")
    return float(value[0]), float(value[1])


_FORMS_HINT = (
    "write an estimative word (e.g. unlikely), a number in [0, 1], "
    "{beta: [a, b]} or {between: [lo, hi]}"
)


def probability_prior(value: Any) -> ProbabilityPrior | FixedValue:
    """Turn a written probability prior into a distribution.

    Parameters
    ----------
    value : str, float or mapping
        An estimative word or synonym, a number in [0, 1] (fixed), ``{"beta": [a, b]}`` or
        ``{"between": [lo, hi]}``.

    Returns
    -------
    ProbabilityPrior or FixedValue

    Raises
    ------
    PriorError
        If the value is not one of those forms.

    Examples
    --------
    >>> probability_prior("unlikely").describe()
    'Beta(11.7, 24.9): unlikely (20–45%)'
    """
    form = _probability_form(value)
    if isinstance(form, FixedValue | ProbabilityPrior):
        return form
    lo, hi, label = form
    a, b = beta_for_band(lo, hi)
    return ProbabilityPrior(a, b, label)


def check_probability_prior(value: Any) -> None:
    """Check a written probability prior's form without fitting it (no scipy).

    Everything :func:`probability_prior` checks except that a Beta can be fitted to a band
    numerically (which it can for any band inside (0, 1) but the most extreme): validating a
    model does not pay for the fit, which happens, cached, when the prior is first used.

    Raises
    ------
    PriorError
        As :func:`probability_prior`.
    """
    _probability_form(value)


def _probability_form(value: Any) -> FixedValue | ProbabilityPrior | tuple[float, float, str]:
    """A fixed value, an explicit Beta, or a band ``(lo, hi, label)`` still to be fitted."""
    if isinstance(value, str):
        word, (lo, hi) = probability_word(value)
        return lo, hi, f"{word} ({_band_text(lo, hi)})"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise PriorError(f"probability {value} is not a finite number", _FORMS_HINT)
        if not 0 <= value <= 1:
            raise PriorError(f"probability {value} is outside [0, 1]", _FORMS_HINT)
        return FixedValue(float(value))
    if isinstance(value, Mapping):
        keys = list(value)
        if len(keys) != 1 or keys[0] not in ("beta", "between"):
            unknown = [k for k in keys if k not in ("beta", "between")]
            hint = did_you_mean(str(unknown[0]), ["beta", "between"]) if unknown else None
            raise PriorError(f"not a probability prior: {dict(value)!r}", hint or _FORMS_HINT)
        if keys[0] == "beta":
            a, b = _pair(value["beta"], "beta")
            if not all(math.isfinite(x) and 0 < x <= MAX_BETA_PARAMETER for x in (a, b)):
                raise PriorError(
                    f"beta parameters must be finite numbers > 0 and at most "
                    f"{MAX_BETA_PARAMETER:,.0f}, got [{a:g}, {b:g}]",
                    "e.g. {beta: [2, 8]}; for a fixed probability write the number itself",
                )
            return ProbabilityPrior(a, b, "")
        lo, hi = _pair(value["between"], "between")
        _check_band(lo, hi)
        return lo, hi, f"between {_band_text(lo, hi)}"
    shown = "nothing" if value is None else repr(value)
    raise PriorError(f"not a probability prior: {shown}", _FORMS_HINT)


def effect_prior(
    direction: str,
    strength: str | None = None,
    odds_ratio: Sequence[float] | None = None,
    log_odds: float | None = None,
) -> EffectPrior | FixedValue:
    """The prior on a log-odds shift, from a direction and exactly one magnitude.

    Parameters
    ----------
    direction : {"raises", "lowers"}
        Sign of the effect.
    strength : str, optional
        A strength word (see the module table).
    odds_ratio : pair of float, optional
        Custom 5 %–95 % odds-ratio range: both above 1, or both below 1 for ``lowers``.
    log_odds : float, optional
        A fixed shift; its sign must agree with `direction`.

    Returns
    -------
    EffectPrior or FixedValue

    Raises
    ------
    PriorError
        If the direction is unknown, not exactly one magnitude is given, or the magnitude
        contradicts the direction.
    """
    if direction not in ("raises", "lowers"):
        hint = did_you_mean(direction, ["raises", "lowers"]) or "use raises or lowers"
        raise PriorError(f"'{direction}' is not a direction", hint)
    sign = 1 if direction == "raises" else -1
    given = [
        k
        for k, v in (("strength", strength), ("odds_ratio", odds_ratio), ("log_odds", log_odds))
        if v is not None
    ]
    if len(given) != 1:
        raise PriorError(
            "an effect needs exactly one of strength, odds_ratio, log_odds"
            + (f" (found {', '.join(given)})" if given else ""),
            "e.g. strength: moderate",
        )
    if log_odds is not None:
        if not math.isfinite(log_odds):
            raise PriorError(f"log_odds {log_odds} is not a finite number",
                             "write a number, e.g. log_odds: 1.5, or use a strength word")
        if abs(log_odds) > MAX_LOG_ODDS:
            raise PriorError(
                f"log_odds {log_odds:g} is beyond ±{MAX_LOG_ODDS:.3g}",
                f"a shift of {MAX_LOG_ODDS:.3g} is an odds ratio of {MAX_ODDS_RATIO:,.0f}, which "
                "already makes the outcome all but certain; use a smaller shift",
            )
        if log_odds == 0 or (log_odds > 0) != (sign > 0):
            raise PriorError(
                f"log_odds {log_odds} contradicts direction '{direction}'",
                f"a shift that {direction} the odds is "
                + ("positive" if sign > 0 else "negative")
                + " (or remove the edge if it is 0)",
            )
        return FixedValue(float(log_odds), f"{direction}, log-odds {log_odds:+.3g}")
    if strength is not None:
        word, (lo, hi) = strength_word(strength)
        label = f"{direction}, {word} (odds ratio {lo:g}–{hi:g})"
    else:
        lo, hi = _pair(odds_ratio, "odds_ratio")
        if lo <= 0 or hi <= 0 or lo == hi or not (math.isfinite(lo) and math.isfinite(hi)):
            raise PriorError(
                f"odds_ratio [{lo:g}, {hi:g}] needs two different positive finite numbers",
                "e.g. odds_ratio: [2, 5], or [0.2, 0.5] for an effect that lowers the odds",
            )
        if not all(1 / MAX_ODDS_RATIO <= x <= MAX_ODDS_RATIO for x in (lo, hi)):
            raise PriorError(
                f"odds_ratio [{lo:g}, {hi:g}] goes beyond 1/{MAX_ODDS_RATIO:,.0f} to "
                f"{MAX_ODDS_RATIO:,.0f}",
                "an odds ratio of a million already makes the outcome all but certain; "
                "use a narrower range",
            )
        lo, hi = min(lo, hi), max(lo, hi)
        if lo < 1 < hi or 1 in (lo, hi):
            raise PriorError(
                f"odds_ratio [{lo:g}, {hi:g}] includes 1: the direction of the effect is not "
                "settled",
                "a logit effect has a fixed sign; give a range on one side of 1",
            )
        if hi < 1:  # written as the odds ratio of a lowering effect
            if sign > 0:
                raise PriorError(
                    f"odds_ratio [{lo:g}, {hi:g}] is below 1 but direction is 'raises'",
                    "use odds ratios above 1, or direction: lowers",
                )
            lo, hi = 1 / hi, 1 / lo
        label = f"{direction}, odds ratio {lo:g}–{hi:g}"
    mu, sigma = _lognormal_for_range(math.log(lo), math.log(hi))
    return EffectPrior(mu, sigma, sign, label)


def dirichlet_prior(counts: Sequence[float], label: str = "") -> DirichletPrior:
    """A Dirichlet prior from pseudo-counts (all > 0).

    Raises
    ------
    PriorError
        If a count is not positive.
    """
    alpha = tuple(float(c) for c in counts)
    if len(alpha) < 2 or any(not c > 0 for c in alpha):
        raise PriorError(f"pseudo-counts must be at least two numbers > 0, got {list(alpha)}")
    return DirichletPrior(alpha, label)
