"""Scores of probability forecasts against outcomes: Brier, log, skill and calibration.

:func:`brier_score`, :func:`log_score`, :func:`brier_skill` and :func:`calibration_table` are pure
functions of probabilities and outcomes; :func:`evaluate` scores every forecaster of a table of
resolved questions (:func:`forecast.analysis.questions.question_probabilities`) into a
:class:`ScoreResult`. The reliability diagram is :func:`forecast.report.plots.plot_reliability`
on ``ScoreResult.calibration``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from forecast.errors import ForecastError

__all__ = [
    "FORECASTERS",
    "LOG_CLIP",
    "ScoreResult",
    "brier_score",
    "brier_skill",
    "calibration_table",
    "evaluate",
    "log_score",
]


FORECASTERS: tuple[str, ...] = ("model", "no_evidence", "uniform")
"""Who is scored: the model with the ledger cut at each as-of date, the model without any
evidence, and 0.5 on every question."""


LOG_CLIP = 1e-6
"""Probabilities are clipped to ``[LOG_CLIP, 1 - LOG_CLIP]`` in the log score."""


def _checked(p: Any, outcome: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p, dtype=float)
    y = np.asarray(outcome, dtype=float)
    if p.shape != y.shape or p.ndim != 1 or p.size == 0:
        raise ForecastError(f"need one probability per outcome, got {p.shape} and {y.shape}")
    if not np.all(np.isfinite(p) & (p >= 0) & (p <= 1)):
        raise ForecastError("probabilities must be finite numbers in [0, 1]")
    if not np.all((y == 0) | (y == 1)):
        raise ForecastError("outcomes must be 0 (no) or 1 (yes)")
    return p, y


def brier_score(p: Sequence[float] | np.ndarray, outcome: Sequence[int] | np.ndarray) -> float:
    """Mean squared difference between forecast probabilities and 0/1 outcomes.

    Parameters
    ----------
    p : array-like of float
        Forecast probabilities of "yes", in [0, 1].
    outcome : array-like of {0, 1}
        What happened.

    Returns
    -------
    float
        In [0, 1]; 0 is perfect, 0.25 is always saying 0.5.

    Raises
    ------
    ForecastError
        If the inputs are empty, of different lengths, or out of range.
    """
    p, y = _checked(p, outcome)
    return float(np.mean((p - y) ** 2))


def log_score(p: Sequence[float] | np.ndarray, outcome: Sequence[int] | np.ndarray) -> float:
    """Mean negative log probability given to what happened, ``-mean(log p(outcome))``.

    Probabilities are clipped to ``[1e-6, 1 - 1e-6]`` first, so a forecast of 0 or 1 that turns
    out wrong costs ``-log(1e-6) ≈ 13.8`` rather than infinity.

    Parameters
    ----------
    p : array-like of float
        Forecast probabilities of "yes", in [0, 1].
    outcome : array-like of {0, 1}
        What happened.

    Returns
    -------
    float
        In nats, at least 0 (lower is better); always saying 0.5 scores ``log 2 ≈ 0.693``.

    Raises
    ------
    ForecastError
        If the inputs are empty, of different lengths, or out of range.
    """
    q, y = _checked(p, outcome)
    q = np.clip(q, LOG_CLIP, 1 - LOG_CLIP)
    return float(-np.mean(np.where(y == 1, np.log(q), np.log1p(-q))))


def brier_skill(score: float, reference: float) -> float:
    """Brier skill score ``1 - score / reference`` of a forecaster against a reference.

    Parameters
    ----------
    score : float
        The forecaster's Brier score.
    reference : float
        The reference forecaster's Brier score on the same questions.

    Returns
    -------
    float
        1 perfect, 0 no better than the reference, negative worse. Against a perfect reference
        (Brier 0) it is 0 for a perfect forecaster and ``-inf`` otherwise.
    """
    if reference == 0:
        return 0.0 if score == 0 else -math.inf
    return 1.0 - score / reference


def calibration_table(p: Sequence[float] | np.ndarray, outcome: Sequence[int] | np.ndarray,
                      *, bins: int = 10, prob: float = 0.9) -> pd.DataFrame:
    """Forecasts grouped into equal-width probability bins, against how often they came true.

    Bin ``k`` holds ``k/bins <= p < (k+1)/bins``; the last bin includes 1, so p = 0 falls in the
    first bin and p = 1 in the last. Bins without forecasts are left out.

    Parameters
    ----------
    p : array-like of float
        Forecast probabilities, in [0, 1].
    outcome : array-like of {0, 1}
        What happened.
    bins : int
        Number of bins over [0, 1].
    prob : float
        Coverage of the interval on each bin's observed frequency: the Jeffreys interval, the
        ``(1 - prob) / 2`` and ``(1 + prob) / 2`` quantiles of ``Beta(k + 1/2, n - k + 1/2)``
        for ``k`` yeses out of ``n``, with the lower end 0 when ``k = 0`` and the upper end 1
        when ``k = n`` (Brown, Cai and DasGupta 2001).

    Returns
    -------
    pandas.DataFrame
        Columns ``bin_low``, ``bin_high``, ``n``, ``forecast_mean`` (mean forecast in the bin),
        ``observed`` (fraction that came true), ``observed_low``, ``observed_high``.
    """
    if int(bins) != bins or bins < 1:
        raise ForecastError(f"bins must be a positive whole number, got {bins!r}")
    if not 0 < prob < 1:
        raise ForecastError(f"prob must be in (0, 1), got {prob!r}")
    p, y = _checked(p, outcome)
    # rounding first keeps 0.3 * 10 = 3.0000000000000004 and 0.57 * 100 = 56.99999999999999 in
    # the bins their decimal value belongs to
    index = np.minimum(np.floor(np.round(p * bins, 9)).astype(int), bins - 1)
    frame = pd.DataFrame({"bin": index, "p": p, "y": y})
    table = frame.groupby("bin").agg(n=("y", "size"), forecast_mean=("p", "mean"),
                                     k=("y", "sum")).reset_index()
    n, k = table["n"].to_numpy(float), table["k"].to_numpy(float)
    tail = (1 - prob) / 2
    low = np.where(k == 0, 0.0, stats.beta.ppf(tail, k + 0.5, n - k + 0.5))
    high = np.where(k == n, 1.0, stats.beta.ppf(1 - tail, k + 0.5, n - k + 0.5))
    return pd.DataFrame({
        "bin_low": table["bin"] / bins, "bin_high": (table["bin"] + 1) / bins,
        "n": table["n"].astype("int64"), "forecast_mean": table["forecast_mean"],
        "observed": k / n, "observed_low": low, "observed_high": high,
    })


@dataclass
class ScoreResult:
    """Scores of every forecaster on a set of resolved questions.

    Attributes
    ----------
    scores : pandas.DataFrame
        One row per forecaster (``model``, ``no_evidence``, ``uniform``): ``forecaster``,
        ``n``, ``brier``, ``log``, then ``skill_vs_uniform`` and ``skill_vs_no_evidence``
        (Brier skill scores; a column for each reference that was scored).
    questions : pandas.DataFrame
        One row per question: its fields, ``outcome`` and one probability column per
        forecaster (see :func:`question_probabilities`).
    calibration : pandas.DataFrame
        :func:`calibration_table` of each forecaster stacked, with a ``forecaster`` column
        first: the input of :func:`forecast.report.plots.plot_reliability`.
    attrs : dict
        Provenance: model, questions and ledger files, seed, as-of dates, and the as-of dates
        whose model forecast failed its diagnostics (``unpublishable``).
    """

    scores: pd.DataFrame
    questions: pd.DataFrame
    calibration: pd.DataFrame
    attrs: dict = field(default_factory=dict)

    @property
    def publishable(self) -> bool:
        """Whether every model forecast that was scored passed its diagnostics."""
        return not self.attrs.get("unpublishable")

    def to_json(self) -> dict:
        """Plain JSON-ready data: ``attrs``, ``scores``, ``questions``, ``calibration``."""
        return {"attrs": dict(self.attrs),
                "scores": self.scores.to_dict("records"),
                "questions": self.questions.to_dict("records"),
                "calibration": self.calibration.to_dict("records")}

    def to_text(self) -> str:
        """The scores, each question's forecasts and the calibration tables, as aligned text."""
        a = self.attrs
        lines = [f"{len(self.questions)} questions at {len(a.get('as_of', []))} as-of dates"
                 + (f" ({a['model']}, ledger {a['ledger']}, seed {a['seed']})" if a else "")]
        if a and a.get("ledger") is None:
            lines.append("no ledger: the model forecasts use no evidence (= no_evidence)")
        skills = [c for c in self.scores.columns if c.startswith("skill_vs_")]
        head = f"{'forecaster':<12} {'n':>3} {'Brier':>7} {'log':>7}" + "".join(
            f" {c.replace('_', ' '):>22}" for c in skills)
        lines += ["", "scores (lower Brier and log are better; skill: 1 - Brier / reference)",
                  head]
        for row in self.scores.to_dict("records"):
            lines.append(f"{row['forecaster']:<12} {row['n']:>3} {row['brier']:>7.3f} "
                         f"{row['log']:>7.3f}" + "".join(f" {row[c]:>+22.3f}" for c in skills))
        lines += ["", "questions (p = probability of node = state; outcome 1 = yes)",
                  f"{'id':<6} {'as of':<10}  {'node = state':<38} {'outcome':>7} "
                  f"{'model [90%]':>20} {'no evid.':>8}"]
        for q in self.questions.to_dict("records"):
            flag = "" if q["model_publishable"] else "  (not publishable)"
            lines.append(
                f"{q['id']:<6} {q['as_of']:<10}  {q['node'] + ' = ' + q['state']:<38} "
                f"{q['outcome']:>7} {q['model']:>6.3f} [{q['model_hdi_5%']:.3f}, "
                f"{q['model_hdi_95%']:.3f}] {q['no_evidence']:>8.3f}{flag}")
        lines += ["", "calibration (observed frequency with its 90% Jeffreys interval)",
                  f"{'forecaster':<12} {'bin':<9} {'n':>3} {'forecast':>8} {'observed':>8}  "
                  "interval"]
        for row in self.calibration.to_dict("records"):
            lines.append(f"{row['forecaster']:<12} {row['bin_low']:.1f}-{row['bin_high']:.1f}"
                         f"   {row['n']:>3} {row['forecast_mean']:>8.3f} "
                         f"{row['observed']:>8.3f}  [{row['observed_low']:.3f}, "
                         f"{row['observed_high']:.3f}]")
        return "\n".join(lines)


def evaluate(questions: pd.DataFrame, forecasters: Sequence[str] = FORECASTERS, *,
             bins: int = 10, attrs: Mapping[str, Any] | None = None) -> ScoreResult:
    """Score forecasters on resolved questions.

    Parameters
    ----------
    questions : pandas.DataFrame
        One row per question with an ``outcome`` column (0/1) and, for each forecaster, a
        column of that name holding its probability that the outcome is 1.
    forecasters : sequence of str
        The probability columns to score, in the order reported.
    bins : int
        Bins of the calibration tables.
    attrs : mapping, optional
        Provenance to keep on the result.

    Returns
    -------
    ScoreResult
        Brier and log scores, Brier skill against ``uniform`` and ``no_evidence`` (each when
        scored), calibration tables, and `questions` itself.

    Raises
    ------
    ForecastError
        If a column is missing, or a probability or outcome is out of range or missing.
    """
    missing = [c for c in ("outcome", *forecasters) if c not in questions.columns]
    if missing:
        raise ForecastError(f"the questions frame lacks column(s) {', '.join(missing)}")
    y = questions["outcome"].to_numpy()
    rows = [{"forecaster": f, "n": len(questions),
             "brier": brier_score(questions[f].to_numpy(), y),
             "log": log_score(questions[f].to_numpy(), y)} for f in forecasters]
    scores = pd.DataFrame(rows)
    for ref in ("uniform", "no_evidence"):
        if ref in forecasters:
            reference = float(scores.loc[scores["forecaster"] == ref, "brier"].iloc[0])
            scores[f"skill_vs_{ref}"] = [brier_skill(s, reference) for s in scores["brier"]]
    calibration = pd.concat(
        [calibration_table(questions[f].to_numpy(), y, bins=bins).assign(forecaster=f)
         for f in forecasters], ignore_index=True)
    calibration = calibration[["forecaster", *calibration.columns[:-1]]]
    return ScoreResult(scores, questions.reset_index(drop=True), calibration, dict(attrs or {}))
