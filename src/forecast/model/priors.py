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

Words for every state of a node
-------------------------------
A table row of a node with three or more states takes one of two worded forms, each a
``Dirichlet`` over the states (:func:`row_prior`; a binary node keeps the Beta of one state's
word, ``prior: {yes: unlikely}``):

* **A word per state** -- ``{collapse: unlikely, stalemate: likely, victory: very unlikely}``
  (ICD 203 words or ``{between: [lo, hi]}``): every state, or every state but one, which then
  takes the rest (at least :data:`REST_FLOOR`). The words' bands must be able to hold at once:
  their lower edges add up to at most 100% and their upper edges to at least 100% (with a state
  left out, the lower edges to at most 100% less :data:`REST_FLOOR`; :func:`check_state_words`).
  Each word is fitted as on a binary node, a Beta with its 5% and 95% quantiles at the band's
  edges (mean ``mu_i``, standard deviation ``s_i``); a state left out has the target mean
  ``1 - sum(mu)`` and variance ``sum(s_i**2)`` (that of one minus the others, as the other
  state of a binary node has). The Dirichlet's means ``m`` are the point of the simplex closest
  to the words' means in their own units, ``min sum((m_i - mu_i)**2 / s_i**2)`` subject to
  ``sum(m) = 1`` and every ``m_i`` inside its band: ``m_i = clip(mu_i - lambda * s_i**2, lo_i,
  hi_i)``, so no mean leaves its band and a precise word gives way less than a vague one. Its
  concentration ``c`` (the sum of the pseudo-counts) makes the marginal standard deviations
  ``sqrt(m_i (1 - m_i) / (c + 1))`` closest to the words' ``s_i`` in least squares: ``c + 1 =
  (sum(w_i) / sum(sqrt(w_i) * s_i))**2`` with ``w_i = m_i (1 - m_i)``, over the worded states
  (SHELF's ``fitDirichlet(n.fitted = "opt")``, Zapata-Vazquez, O'Hagan and Bastos 2014, at the
  constrained means where SHELF rescales them). Narrow bands give a concentrated Dirichlet. On
  two states (one word, the other state the rest) the rule gives the word's Beta exactly: ``m``
  is its mean and ``c`` its ``a + b``. One concentration serves every state, so a band holds
  90% of its state's marginal only when the words are equally precise.
* **An ordering** -- ``"most likely stalemate, then collapse, then victory"``: every state once,
  most likely first. With nothing but the order known, every distribution with that order is
  equally likely: the uniform distribution on that part of the simplex, whose mean is the
  *rank-order centroid* ``m_r = (1/k) sum_{j>=r} 1/j`` (Barron and Barrett 1996) and whose
  marginal variances are ``(k sum_{j>=r} 1/j**2 - (sum_{j>=r} 1/j)**2) / (k**2 (k + 1))``. The
  Dirichlet has those means and the concentration fitted to those standard deviations as above:
  three states give ``Dirichlet(8.34, 3.79, 1.52)`` (means 0.611, 0.278, 0.111), two give
  ``Dirichlet(6, 2)``.

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
    "ORDERING_PREFIX",
    "PROBABILITY_BANDS",
    "PROBABILITY_SYNONYMS",
    "QUANTILES",
    "REST_FLOOR",
    "STRENGTH_ODDS_RATIOS",
    "DirichletPrior",
    "EffectPrior",
    "FixedValue",
    "Prior",
    "PriorError",
    "ProbabilityPrior",
    "beta_for_band",
    "check_ordering",
    "check_probability_prior",
    "check_state_words",
    "dirichlet_prior",
    "effect_prior",
    "ordered_dirichlet",
    "ordering",
    "probability_prior",
    "probability_word",
    "row_prior",
    "state_band",
    "state_words_dirichlet",
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

REST_FLOOR = 0.01
"""Least mean of the state a row's words leave out (it takes the rest): the bottom of the ICD
scale, so that a state the model lists is never impossible."""

ORDERING_PREFIX = "most likely"
"""How an ordering of a node's states begins: ``"most likely a, then b, then c"``."""

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
        elif sign < 0:  # above 1 raises the odds: "lowers" would silently invert it
            raise PriorError(
                f"odds_ratio [{lo:g}, {hi:g}] is above 1 but direction is 'lowers'",
                f"an effect that lowers the odds has odds ratios below 1: write "
                f"[{1 / hi:.3g}, {1 / lo:.3g}] (odds divided by {lo:g} to {hi:g}), or "
                "direction: raises",
            )
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


# --------------------------------------------------------------------------------------------
# Words for every state: a Dirichlet over a node's states
# --------------------------------------------------------------------------------------------

_STATE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_THEN = re.compile(r"^then\s+", re.IGNORECASE)
_PREFIX = re.compile(r"most\s+likely(?:\s+|$)", re.IGNORECASE)
_SUM_TOL = 1e-9
"""How far a sum of band edges may pass 100% and still count as reaching it (float rounding)."""

_ORDERING_EXAMPLE = '"most likely stalemate, then collapse, then victory"'


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 60 else repr(text[:57]) + "..."


def _states_example(states: Sequence[str]) -> str:
    """``prior: {a: unlikely, b: likely}``-style example for a node's states (all but the last)."""
    words = ("unlikely", "likely", "very unlikely", "almost no chance")
    shown = [f"{s}: {words[i % len(words)]}" for i, s in enumerate(states[:-1][:4])]
    return "prior: {" + ", ".join(shown) + "}"


def _ordering_example(states: Sequence[str]) -> str:
    if not states:
        return _ORDERING_EXAMPLE
    return '"' + ORDERING_PREFIX + " " + ", then ".join(states[:4]) + '"'


def ordering(text: str) -> tuple[str, ...]:
    """The states of an ordering such as ``"most likely stalemate, then collapse, then victory"``.

    The form only: ``most likely``, then state names separated by commas, each after the first
    optionally preceded by ``then``. That the names are the node's states, each once, is
    :func:`check_ordering`'s job.

    Parameters
    ----------
    text : str
        The ordering as written.

    Returns
    -------
    tuple of str
        The names, most likely first.

    Raises
    ------
    PriorError
        If the text is not an ordering (a lone estimative word gets a hint to name its state).

    Examples
    --------
    >>> ordering("most likely stalemate, then collapse, then victory")
    ('stalemate', 'collapse', 'victory')
    """
    squashed = " ".join(text.split())
    prefix = _PREFIX.match(squashed)
    if prefix is None:
        key = normalise_word(text)
        if key in PROBABILITY_BANDS or key in PROBABILITY_SYNONYMS:
            raise PriorError(
                f"the worded prior {_shown(text)} does not say which state it is for",
                f"name its state, e.g. prior: {{yes: {key}}} on a binary node; on a larger "
                f"node give a word to every state, or order the states: prior: "
                f"{_ORDERING_EXAMPLE}",
            )
        raise PriorError(
            f"{_shown(text)} is not an ordering of states",
            f"an ordering begins with '{ORDERING_PREFIX}' and lists every state once, most "
            f"likely first, separated by commas: prior: {_ORDERING_EXAMPLE}; or give a word "
            "to every state: prior: {collapse: unlikely, stalemate: likely, ...}",
        )
    items = [item.strip() for item in squashed[prefix.end():].split(",")]
    names = [_THEN.sub("", item, count=1) if i else item for i, item in enumerate(items)]
    bad = [name for name in names if not _STATE_NAME.fullmatch(name)]
    if bad or len(names) < 2:
        what = (f"{_shown(bad[0])} is not a state name" if bad and bad[0]
                else "a state name is missing" if bad else "it names fewer than two states")
        raise PriorError(
            f"{_shown(text)} is not an ordering of states: {what}",
            f"list every state once, most likely first, separated by commas: "
            f"prior: {_ORDERING_EXAMPLE}",
        )
    return tuple(names)


def check_ordering(order: Sequence[str], states: Sequence[str], node: str | None = None) -> None:
    """Check that an ordering names every state of `node` exactly once.

    Raises
    ------
    PriorError
        Naming the first unknown (with "did you mean"), repeated or missing state.
    """
    where = f"'{node}'" if node else "the node"
    for name in order:
        if name not in states:
            hint = did_you_mean(name, states) or f"the states of {where}: {', '.join(states)}"
            raise PriorError(f"the ordering names '{name}', which is not a state of {where} "
                             f"(states: {', '.join(states)})", hint)
    repeated = list(dict.fromkeys(s for s in order if order.count(s) > 1))
    if repeated:
        raise PriorError(f"the ordering names {', '.join(repeated)} more than once",
                         f"name every state of {where} once, most likely first")
    missing = [s for s in states if s not in order]
    if missing:
        raise PriorError(
            f"the ordering leaves out {', '.join(missing)}: it must order every state of {where}",
            f"e.g. prior: {_ordering_example([*order, *missing])}",
        )


def state_band(value: Any) -> tuple[float, float, str]:
    """The band ``(lo, hi, label)`` of one state's word in a worded row over several states.

    Parameters
    ----------
    value : str or mapping
        An estimative word or synonym, or ``{"between": [lo, hi]}``.

    Raises
    ------
    PriorError
        For any other probability form: a fixed number or ``{beta: [a, b]}`` says nothing of
        a band, and a row mixing them with words has no Dirichlet.
    """
    form = _probability_form(value)
    if isinstance(form, FixedValue):
        raise PriorError(
            f"a fixed probability ({form.value:g}) cannot sit among words over several states",
            "give an estimative word or {between: [lo, hi]}; for fixed numbers write the whole "
            "row as probabilities: {...}",
        )
    if isinstance(form, ProbabilityPrior):
        raise PriorError(
            "{beta: [a, b]} has no band to hold among words over several states",
            "give an estimative word or {between: [lo, hi]}, or write the row as counts: {...}",
        )
    return form


def _listing(bands: Mapping[str, tuple[float, float, str]]) -> str:
    return ", ".join(f"{s}: {label}" for s, (_, _, label) in bands.items())


def check_state_words(
    words: Mapping[str, Any], states: Sequence[str], node: str | None = None
) -> None:
    """Check a row's words against the node's states: how many, which forms, and that they fit.

    A binary node names exactly one state (any probability form; the other state takes the
    rest). A node with more states gives a word (or ``{between: [lo, hi]}``) to every state, or
    to all but one, which takes the rest. The bands must be able to hold at once: with every
    state worded, their lower edges add up to at most 100% and their upper edges to at least
    100%; with one state left out, the lower edges add up to at most ``100% - REST_FLOOR``.
    Only band edges are used: no fit, no numpy.

    Parameters
    ----------
    words : mapping of str to word
        State → estimative word (as written).
    states : sequence of str
        The node's states.
    node : str, optional
        The node's name, for messages.

    Raises
    ------
    PriorError
        The first problem, naming the node, the words and the sums, with a fix.
    """
    where = f"'{node}'" if node else "the node"
    k, given = len(states), list(words)
    for s in given:
        if s not in states:
            raise PriorError(f"'{s}' is not a state of {where} (states: {', '.join(states)})",
                             did_you_mean(s, states))
    if k == 2:
        if len(given) != 1:
            raise PriorError("a worded prior names exactly one state",
                             f"the other state takes the rest, e.g. prior: {{{states[-1]}: "
                             "unlikely}")
        return
    fix = (f"give a word to every state, or to all but one, which takes the rest: e.g. "
           f"{_states_example(states)}; or order them: prior: {_ordering_example(states)}; "
           "or use probabilities: {...} or counts: {...}")
    if len(given) == 1:
        raise PriorError(f"a worded prior gives one state's probability, which settles a row "
                         f"only for a binary node; {where} has {k} states", fix)
    if len(given) < k - 1:
        missing = [s for s in states if s not in words]
        raise PriorError(f"a worded prior on {where} gives words to {len(given)} of its {k} "
                         f"states and leaves out {', '.join(missing)}: only one state may "
                         "take the rest", fix)
    bands = {s: state_band(words[s]) for s in states if s in words}
    low = sum(lo for lo, _, _ in bands.values())
    high = sum(hi for _, hi, _ in bands.values())
    if len(given) == k - 1:
        (rest,) = (s for s in states if s not in words)
        if low > 1 - REST_FLOOR + _SUM_TOL:
            raise PriorError(
                f"the words for {where} leave nothing for {rest}, the state without a word: "
                f"{_listing(bands)} need at least {_percent(low)}% together, and {rest} at "
                f"least {_percent(REST_FLOOR)}%",
                f"soften a word until the lower edges add up to at most "
                f"{_percent(1 - REST_FLOOR)}%, e.g. likely to roughly even chance or unlikely to "
                f"very unlikely; or give {rest} a word too",
            )
        return
    if low > 1 + _SUM_TOL:
        raise PriorError(
            f"the words for {where} cannot all hold: {_listing(bands)} need at least "
            f"{_percent(low)}% together, but its {k} states share 100%",
            "soften words until the lower edges add up to at most 100%, e.g. likely to "
            "roughly even chance or unlikely to very unlikely; or leave the least likely state "
            "without a word: it takes the rest",
        )
    if high < 1 - _SUM_TOL:
        raise PriorError(
            f"the words for {where} cannot all hold: {_listing(bands)} reach at most "
            f"{_percent(high)}% together, but its {k} states share 100%",
            "raise words until the upper edges add up to at least 100%, e.g. very unlikely to "
            "unlikely or unlikely to likely; or leave the likeliest state without a word: it "
            "takes the rest",
        )


def _project(
    targets: Sequence[float], weights: Sequence[float], box: Sequence[tuple[float, float]]
) -> list[float]:
    """``argmin sum((m - t)**2 / w)`` over ``sum(m) = 1``, ``lo <= m <= hi`` (a feasible box).

    The solution is ``m_i = clip(t_i - lam * w_i, lo_i, hi_i)`` with the ``lam`` that makes the
    sum 1, found by bisection (the sum falls as ``lam`` grows); ``lam = 0`` when the targets
    already sum to 1 inside the box.
    """

    def point(lam: float) -> list[float]:
        return [min(max(t - lam * w, lo), hi) for t, w, (lo, hi) in zip(targets, weights, box,
                                                                         strict=True)]

    if abs(sum(point(0.0)) - 1) <= 4e-16 * len(targets):
        return point(0.0)
    low = min((t - hi) / w for t, w, (_, hi) in zip(targets, weights, box, strict=True))
    high = max((t - lo) / w for t, w, (lo, _) in zip(targets, weights, box, strict=True))
    for _ in range(200):
        mid = (low + high) / 2
        if mid in (low, high):
            break
        if sum(point(mid)) > 1:
            low = mid
        else:
            high = mid
    return point((low + high) / 2)


def _concentration(means: Sequence[float], sds: Sequence[float]) -> float:
    """The Dirichlet concentration whose marginal SDs fit `sds` best in least squares.

    A Dirichlet with means ``m`` and concentration ``c`` has marginal standard deviations
    ``sqrt(m (1 - m) / (c + 1))``; least squares against the targets gives ``c + 1 =
    (sum(w) / sum(sqrt(w) * sd))**2`` with ``w = m (1 - m)`` (SHELF's ``"opt"``). At least 1.
    """
    w = [m * (1 - m) for m in means]
    cross = sum(math.sqrt(wi) * s for wi, s in zip(w, sds, strict=True))
    return max((sum(w) / cross) ** 2 - 1, 1.0)


def state_words_dirichlet(
    words: Mapping[str, Any], states: Sequence[str], node: str | None = None
) -> DirichletPrior:
    """The Dirichlet over a node's states from a word per state (or per state but one).

    The rule is in the module docstring ("Words for every state"): the means are the words'
    Beta means moved onto the simplex, within the bands, each in proportion to its variance;
    the concentration fits the words' standard deviations. On two states it is the word's Beta.

    Parameters
    ----------
    words : mapping of str to word
        State → estimative word or ``{between: [lo, hi]}``; every state, or all but one.
    states : sequence of str
        The node's states, in order (the order of the pseudo-counts).
    node : str, optional
        The node's name, for messages.

    Returns
    -------
    DirichletPrior
        Labelled with the words, e.g. ``"collapse: unlikely (20–45%), stalemate: likely
        (55–80%), victory: the rest"``.

    Raises
    ------
    PriorError
        As :func:`check_state_words` (a binary node may name one state here, in a band form).

    Examples
    --------
    >>> prior = state_words_dirichlet(
    ...     {"collapse": "unlikely", "stalemate": "likely", "victory": "very unlikely"},
    ...     ["collapse", "stalemate", "victory"])
    >>> [round(a, 1) for a in prior.alpha]
    [10.0, 23.3, 3.6]
    """
    check_state_words(words, states, node)
    bands = {s: state_band(words[s]) for s in states if s in words}
    mus: dict[str, float] = {}
    variances: dict[str, float] = {}
    for s, (lo, hi, _) in bands.items():
        a, b = beta_for_band(lo, hi)
        mus[s] = a / (a + b)
        variances[s] = mus[s] * (1 - mus[s]) / (a + b + 1)
    low = sum(lo for lo, _, _ in bands.values())
    high = sum(hi for _, hi, _ in bands.values())
    targets, weights, box = [], [], []
    for s in states:
        if s in bands:
            targets.append(mus[s])
            weights.append(variances[s])
            box.append(bands[s][:2])
        else:  # the rest: one minus the others
            targets.append(1 - sum(mus.values()))
            weights.append(sum(variances.values()))
            box.append((max(REST_FLOOR, 1 - high), 1 - low))
    means = _project(targets, weights, box)
    worded = [i for i, s in enumerate(states) if s in bands]
    c = _concentration([means[i] for i in worded],
                       [math.sqrt(variances[states[i]]) for i in worded])
    label = ", ".join(f"{s}: {bands[s][2]}" if s in bands else f"{s}: the rest" for s in states)
    return DirichletPrior(tuple(c * m for m in means), label)


def ordered_dirichlet(
    order: Sequence[str], states: Sequence[str], node: str | None = None
) -> DirichletPrior:
    """The Dirichlet over a node's states from their order alone, most likely first.

    Its means are the rank-order centroid, the mean of the uniform distribution over every
    distribution with that order; its concentration fits that distribution's marginal
    standard deviations (module docstring, "Words for every state").

    Parameters
    ----------
    order : sequence of str
        Every state once, most likely first (:func:`ordering` reads it from text).
    states : sequence of str
        The node's states, in order (the order of the pseudo-counts).
    node : str, optional
        The node's name, for messages.

    Returns
    -------
    DirichletPrior
        Labelled ``"most likely a, then b, then c"``.

    Raises
    ------
    PriorError
        As :func:`check_ordering`.

    Examples
    --------
    >>> [round(a, 9) for a in ordered_dirichlet(["b", "a"], ["a", "b"]).alpha]
    [2.0, 6.0]
    """
    check_ordering(order, states, node)
    k = len(order)
    means, sds = [], []
    for r in range(k):  # w_r = sum_{j >= r} u_j / j over u ~ Dirichlet(1, ..., 1), j from 1
        tail = [1 / j for j in range(r + 1, k + 1)]
        means.append(sum(tail) / k)
        variance = (k * sum(t * t for t in tail) - sum(tail) ** 2) / (k * k * (k + 1))
        sds.append(math.sqrt(max(variance, 0.0)))
    c = _concentration(means, sds)
    alpha = {s: c * m for s, m in zip(order, means, strict=True)}
    label = f"{ORDERING_PREFIX} {order[0]}" + "".join(f", then {s}" for s in order[1:])
    return DirichletPrior(tuple(alpha[s] for s in states), label)


def row_prior(
    value: Mapping[str, Any] | str, states: Sequence[str], node: str | None = None
) -> tuple[Prior, tuple[str, ...]]:
    """The prior of a table row written in words, and the state a Beta row is for.

    Parameters
    ----------
    value : mapping or str
        The row's ``prior``: ``{state: word}`` on a binary node (the Beta of that state, as
        :func:`probability_prior`), a word per state (or per state but one) on a larger node
        (:func:`state_words_dirichlet`), or an ordering ``"most likely a, then b, ..."`` on
        any node (:func:`ordered_dirichlet`).
    states : sequence of str
        The node's states.
    node : str, optional
        The node's name, for messages.

    Returns
    -------
    tuple
        ``(prior, (state,))`` for a Beta row of a binary node, ``(DirichletPrior, ())`` for
        a whole row.

    Raises
    ------
    PriorError
        If the words do not fit the node (:func:`check_state_words`, :func:`check_ordering`).
    """
    if isinstance(value, str):
        return ordered_dirichlet(ordering(value), states, node), ()
    if len(states) == 2:
        check_state_words(value, states, node)
        ((state, word),) = value.items()
        return probability_prior(word), (state,)
    return state_words_dirichlet(value, states, node), ()
