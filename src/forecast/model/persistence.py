"""Persistence words → priors on how long a condition's state lasts.

A condition persists from one time step to the next: with probability ``ρ`` (its per-step
*persistence*) it keeps its state, otherwise it is drawn afresh from its CPT given its causes
in the new step (which may give the same state again). A finding about the condition therefore
fades by itself: after ``k`` steps the chance that the state it saw has not been redrawn is
``ρ^k``, so the finding's *half-life* is ``log 0.5 / log ρ`` steps.

An analyst says how long states last in words, as a half-life range whose 5% and 95%
quantiles the prior on ``ρ`` matches (a Beta fitted by :func:`forecast.model.priors.beta_for_band`
to the per-step persistence of the range's ends):

============  =====================  ==========================================
word          half-life (months)     e.g.
============  =====================  ==========================================
very stable   60–240                 a constitutional order, a border regime
stable        24–60                  a government's policy line, a group's base
changeable    6–24                   a military balance, a security operation
volatile      1–6                    a ceasefire, a news cycle
============  =====================  ==========================================

``none`` declares a condition without memory (drawn afresh every step given its causes), and
``{half_life_months: [lo, hi]}`` gives the range in numbers: finite, from
:data:`MIN_HALF_LIFE_MONTHS` to :data:`MAX_HALF_LIFE_MONTHS` (a few days to a century).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from forecast.errors import did_you_mean
from forecast.model.distributions import FixedValue, ProbabilityPrior
from forecast.model.priors import PriorError, beta_for_band, normalise_word

__all__ = [
    "MAX_HALF_LIFE_MONTHS",
    "MIN_HALF_LIFE_MONTHS",
    "PERSISTENCE_WORDS",
    "STEP_MONTHS",
    "half_life_months",
    "is_memoryless",
    "persistence_prior",
    "persistence_range",
]

STEP_MONTHS: dict[str, int] = {"quarter": 3, "month": 1}
"""Months per time step."""

PERSISTENCE_WORDS: dict[str, tuple[float, float]] = {
    "very stable": (60.0, 240.0),
    "stable": (24.0, 60.0),
    "changeable": (6.0, 24.0),
    "volatile": (1.0, 6.0),
}
"""Half-life ranges in months (5% and 95% quantiles of the prior) for each word."""

MIN_HALF_LIFE_MONTHS = 0.1
"""Shortest half-life a range may give (about three days; shorter is ``none``)."""

MAX_HALF_LIFE_MONTHS = 1_200.0
"""Longest half-life a range may give (100 years)."""

_FORM = "e.g. persistence: stable, persistence: none, or {half_life_months: [12, 48]}"


def _rho(half_life: float, step_months: float) -> float:
    """Per-step persistence whose half-life is `half_life` months."""
    return 0.5 ** (step_months / half_life)


def half_life_months(rho: float, step_months: float) -> float:
    """The half-life in months of a per-step persistence ``rho`` (inf for 1, 0 for 0)."""
    if rho >= 1:
        return math.inf
    if rho <= 0:
        return 0.0
    return step_months * math.log(0.5) / math.log(rho)


def is_memoryless(value: Any) -> bool:
    """Whether a persistence value is ``none`` (a condition without memory)."""
    return isinstance(value, str) and normalise_word(value) == "none"


def persistence_range(value: Any) -> tuple[str, tuple[float, float]] | None:
    """The label and half-life range (months) of a persistence value; None for ``none``.

    Raises
    ------
    PriorError
        For an unknown word (with "did you mean") or a malformed range.
    """
    if is_memoryless(value):
        return None
    if isinstance(value, str):
        key = normalise_word(value)
        if key in PERSISTENCE_WORDS:
            lo, hi = PERSISTENCE_WORDS[key]
            return f"{key} (half-life {lo:g}–{hi:g} months)", (lo, hi)
        hint = did_you_mean(key, [*PERSISTENCE_WORDS, "none"]) or (
            "use one of: " + ", ".join([*PERSISTENCE_WORDS, "none"]))
        raise PriorError(f"'{value}' is not a persistence word", hint)
    if isinstance(value, Mapping) and set(value) == {"half_life_months"}:
        pair = value["half_life_months"]
        numbers = (
            isinstance(pair, list | tuple)
            and len(pair) == 2
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in pair)
        )
        if not numbers:
            shown = repr(pair) if len(repr(pair)) <= 60 else repr(pair)[:57] + "..."
            raise PriorError(f"half_life_months must be two numbers, got {shown}", _FORM)
        lo, hi = float(pair[0]), float(pair[1])
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
            raise PriorError(f"half_life_months [{lo:g}, {hi:g}] needs 0 < lo < hi (finite)",
                             _FORM)
        if lo < MIN_HALF_LIFE_MONTHS or hi > MAX_HALF_LIFE_MONTHS:
            raise PriorError(
                f"half_life_months [{lo:g}, {hi:g}] goes beyond {MIN_HALF_LIFE_MONTHS:g} to "
                f"{MAX_HALF_LIFE_MONTHS:,.0f} months (a few days to 100 years)",
                "use persistence: none for a state that does not last, or a range within "
                "those bounds",
            )
        return f"half-life {lo:g}–{hi:g} months", (lo, hi)
    raise PriorError(f"cannot read persistence {value!r}", _FORM)


def persistence_prior(value: Any, step_months: float) -> ProbabilityPrior | FixedValue | None:
    """The prior on the per-step persistence ``ρ``, or None for a condition without memory.

    Parameters
    ----------
    value : str or mapping
        A persistence word, ``"none"``, or ``{half_life_months: [lo, hi]}``.
    step_months : float
        Months per step (3 for quarters).

    Returns
    -------
    ProbabilityPrior or None
        A Beta whose 5% and 95% quantiles are the per-step persistences of the range's ends.

    Raises
    ------
    PriorError
        If the value cannot be read, or the range is too narrow or too extreme for a Beta.
    """
    found = persistence_range(value)
    if found is None:
        return None
    label, (lo, hi) = found
    a, b = beta_for_band(_rho(lo, step_months), _rho(hi, step_months))
    return ProbabilityPrior(a, b, label)
