"""Score a model on resolved questions: load, replay at each question's as-of date, score."""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from forecast.analysis.metrics import FORECASTERS, ScoreResult, evaluate
from forecast.analysis.questions import load_questions, question_probabilities
from forecast.errors import EvidenceError
from forecast.evidence.ledger import load_ledger, no_rows
from forecast.inference.dynamic import DEFAULT_PARTICLES, first_day
from forecast.inference.importance import Forecaster
from forecast.model.load import load_spec
from forecast.ops.replay import forecast_dates
from forecast.ops.update import resolve_semantics

__all__ = ["score"]


def score(
    model_path: str | os.PathLike[str],
    questions_path: str | os.PathLike[str],
    ledger_path: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    workers: int | None = 1,
    progress: bool = False,
    bins: int = 10,
    forecaster: Forecaster | None = None,
    semantics: str | None = None,
    particles: int = DEFAULT_PARTICLES,
    grades: bool = True,
    nonoccurrence: bool = True,
) -> ScoreResult:
    """Load, validate, forecast at every as-of date and score: the whole pipeline.

    Parameters
    ----------
    model_path : str or path-like
        The model YAML.
    questions_path : str or path-like
        The questions CSV.
    ledger_path : str or path-like, optional
        The evidence ledger: the model is forecast with it cut at each question's as-of date
        (through :func:`forecast.ops.replay.replay_dates`) and the cited rows are checked. Without
        it the model uses no evidence and equals the ``no_evidence`` baseline.
    seed : int
        Random seed of every forecast.
    workers : int or None
        Processes forecasting as-of dates in parallel; None for one per date up to the number
        of CPUs (as :func:`~forecast.ops.replay.replay_dates`).
    progress : bool
        Show a progress bar on stderr.
    bins : int
        Bins of the calibration tables.
    forecaster : callable, optional
        The snapshot semantics' forecaster of each date (see
        :func:`~forecast.ops.replay.replay_dates`); giving one implies the snapshot semantics.
    semantics, particles, grades, nonoccurrence
        As for :func:`~forecast.ops.replay.replay_dates`: by default the dynamic model, whose
        ``no_evidence`` baseline is the same model over the same steps with no ledger.

    Returns
    -------
    ScoreResult
        See :func:`evaluate`.

    Raises
    ------
    ForecastError
        If the model, ledger or questions file is invalid (every problem listed; nothing is
        written), or a question has no forecast.
    """
    spec = load_spec(model_path)
    ledger = load_ledger(ledger_path, spec) if ledger_path is not None else None
    questions = load_questions(questions_path, spec, ledger)
    if questions.empty:
        raise EvidenceError(f"{os.fspath(questions_path)}: no questions to score")
    dates = sorted(questions["as_of"].unique())
    chosen = resolve_semantics(semantics, forecaster)
    if chosen == "dynamic":  # no evidence: the same steps from the same start, nothing seen
        start = first_day(no_rows() if ledger is None else ledger, dates)
        options: dict[str, Any] = {"semantics": chosen, "particles": particles,
                                   "grades": grades, "nonoccurrence": nonoccurrence,
                                   "start": start}
        baseline = forecast_dates(spec, None, dates, seed=seed, **options)
        model = (baseline if ledger is None else
                 forecast_dates(spec, ledger, dates, seed=seed, **options))
    else:  # without evidence the snapshot is the same at every date: compute it once
        once = forecast_dates(spec, None, dates[:1], seed=seed, workers=1, progress=False,
                              forecaster=forecaster, semantics=chosen)
        baseline = pd.concat([once.assign(as_of=day) for day in dates], ignore_index=True)
        model = (baseline if ledger_path is None else
                 forecast_dates(spec, ledger, dates, seed=seed, workers=workers,
                                progress=progress, forecaster=forecaster, semantics=chosen))
    table = question_probabilities(questions, model, baseline,
                                   where=os.fspath(questions_path))
    unpublishable = sorted(table.loc[~table["model_publishable"], "as_of"].unique())
    attrs = {"model": spec.name, "model_path": os.fspath(model_path),
             "questions": os.fspath(questions_path),
             "ledger": None if ledger_path is None else os.fspath(ledger_path),
             "seed": seed, "as_of": list(dates), "unpublishable": list(unpublishable),
             "semantics": chosen}
    return evaluate(table, FORECASTERS, bins=bins, attrs=attrs)
