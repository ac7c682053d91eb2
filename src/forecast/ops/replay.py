"""As-of replays: the forecasts a model and its ledger would have given over a range of dates.

A replay (a backtest) runs the update of :mod:`forecast.ops.store` at every as-of date of a range,
without publishing anything: the run store is never touched. The data flow::

    as_of_dates(start, end, every)             month | quarter | year steps, start included
            │
    load_spec + load_ledger                    once, in the caller: bad input fails before any
            │                                  work starts, and every worker uses the same
            │                                  validated objects
            ▼  shipped once to each worker (pool initializer, or a Dask scatter)
    per date: case_as_of ─► posterior_forecast ─► summary + as_of, method, publishable,
            │                                     n_evidence (ledger rows that counted)
            ▼  chunks of dates, run in-process, on a process pool or on a Dask cluster
    one frame, in date order                   same inputs and seed, same frame, whatever ran it

Every date uses the same seed, and BLAS runs single-threaded wherever a date is computed, so
the frame does not depend on how the work was split. A date whose sampler diagnostics fail is
kept, marked ``publishable=False`` (its reasons in ``frame.attrs["diagnostics_failed"]``). An
exception inside a worker comes back as one error naming its as-of date: a
:class:`~forecast.errors.ForecastError` keeps its class and problems, anything else becomes a
:class:`WorkerError` carrying the worker's traceback.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import xarray as xr
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from forecast._dates import as_of_date, date_or_problem
from forecast._io import atomic_write, safe_csv
from forecast.errors import EvidenceError, ForecastError, Problem, did_you_mean
from forecast.evidence.ledger import load_ledger, no_rows, rows_as_of
from forecast.inference.dynamic import DEFAULT_PARTICLES, dynamic_forecasts
from forecast.inference.importance import Forecaster, posterior_forecast
from forecast.inference.result import netcdf_image
from forecast.model.load import load_spec_hashed
from forecast.model.schema import ModelSpec
from forecast.ops.parallel import (
    COLUMNS,
    Done,
    Job,
    WorkerError,
    on_dask,
    on_pool,
    replay_rows,
    reraise,
    run_chunk,
    split_dates,
)
from forecast.ops.update import resolve_semantics

__all__ = [
    "COLUMNS",
    "EVERY",
    "OUT_SUFFIXES",
    "WorkerError",
    "as_of_dates",
    "check_out_path",
    "forecast_dates",
    "replay",
    "replay_dates",
    "save_replay",
    "to_dataset",
]


EVERY: dict[str, int] = {"month": 1, "quarter": 3, "year": 12}
"""Steps between as-of dates, in calendar months."""

OUT_SUFFIXES: tuple[str, ...] = (".csv", ".nc")
"""File types :func:`save_replay` writes: a CSV of the frame, or netCDF of :func:`to_dataset`."""


# --- dates ----------------------------------------------------------------------------------------


def as_of_dates(start: object, end: object, every: str) -> list[dt.date]:
    """The as-of dates from `start` to `end`, one every month, quarter or year.

    Dates step by whole calendar months from `start` (included). A start on the last day of a
    month keeps to month ends (2015-09-30, 2015-12-31, 2016-03-31, ...); any other day of the
    month is kept, clipped to shorter months (01-31, 02-28, 03-31). `end` is included when a
    step lands on it.

    Parameters
    ----------
    start, end : datetime.date, pandas.Timestamp or str
        The first and last possible as-of days (``YYYY-MM-DD`` for strings).
    every : {"month", "quarter", "year"}
        The step.

    Returns
    -------
    list of datetime.date

    Raises
    ------
    EvidenceError
        Listing every problem: a start or end that is not a real date or is after today, an
        end before the start, an unknown step.
    """
    problems: list[Problem] = []
    today = dt.date.today()
    first = date_or_problem(start, "start", problems, today=today)
    last = date_or_problem(end, "end", problems, today=today)
    step = EVERY.get(every.strip().lower()) if isinstance(every, str) else None
    if step is None:
        problems.append(Problem(f"unknown step {every!r}", field="every", hint=did_you_mean(
            str(every), EVERY) or "use month, quarter or year"))
    if first is not None and last is not None and last < first:
        problems.append(Problem(f"{last} is before the start {first}", field="end",
                                hint="give an end on or after the start"))
    if problems:
        raise EvidenceError("bad replay dates", problems)
    assert first is not None and last is not None and step is not None
    month_ends = first.day == calendar.monthrange(first.year, first.month)[1]
    dates: list[dt.date] = []
    while (day := _add_months(first, step * len(dates), month_ends)) <= last:
        dates.append(day)
    return dates


def _add_months(day: dt.date, months: int, month_end: bool) -> dt.date:
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    length = calendar.monthrange(year, month)[1]
    return dt.date(year, month, length if month_end else min(day.day, length))


# --- replay ---------------------------------------------------------------------------------------


    # (as_of, error class name, summary or message, problems, traceback)


def replay_dates(
    model_path: str | os.PathLike[str],
    ledger_path: str | os.PathLike[str] | None,
    dates: Iterable[object],
    *,
    seed: int = 0,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
    half_life_days: float | None = None,
    forecaster: Forecaster | None = None,
    semantics: str | None = None,
    particles: int = DEFAULT_PARTICLES,
    grades: bool = True,
    nonoccurrence: bool = True,
) -> pd.DataFrame:
    """Forecast a model as of each of `dates`; nothing is written anywhere.

    Parameters
    ----------
    model_path : path-like
        The model YAML.
    ledger_path : path-like or None
        The evidence ledger CSV; None forecasts with no evidence at every date (the model's
        baseline).
    dates : iterable of datetime.date, pandas.Timestamp or str
        The as-of days (sorted, duplicates dropped).
    seed : int
        The sampler's seed, the same at every date.
    workers : int, optional
        Processes (or Dask workers of a local cluster); default one per date up to the number
        of CPUs. ``1`` runs in this process. Ignored when `scheduler` is an address.
    scheduler : str, optional
        ``"local"`` starts (and closes) a ``dask.distributed.LocalCluster`` of `workers`
        processes; an address such as ``"tcp://host:8786"`` runs on that Dask cluster, whose
        workers need ``forecast`` installed (model and ledger travel with the tasks).
    progress : bool
        Show a tqdm progress bar on stderr.
    half_life_days : float, optional
        Half-life of soft ledger rows (see :func:`forecast.evidence.ledger.case_as_of`).
    forecaster : callable, optional
        The snapshot semantics' forecaster of each date, called as ``forecaster(spec, case,
        seed=seed, as_of=day)`` (a :class:`~forecast.inference.importance.Forecaster`); default
        :func:`~forecast.inference.importance.posterior_forecast`. Giving one implies
        ``semantics="snapshot"``. Worker processes receive it pickled: a module-level
        function or a ``functools.partial`` of one.
    semantics : {"dynamic", "snapshot"}, optional
        ``"dynamic"`` (the default without a `forecaster`): one pass of
        :func:`~forecast.inference.dynamic.dynamic_forecasts` over the record gives every
        date's forecast, the parameters learned from the rows before it; `workers`,
        `scheduler` and `half_life_days` do not apply. ``"snapshot"``: each date forecast
        apart from the ledger as of it, in parallel.
    particles, grades, nonoccurrence
        Of the dynamic semantics.

    Returns
    -------
    pandas.DataFrame
        One row per (as_of, node, state) in date and model order, columns :data:`COLUMNS`:
        ``as_of`` (ISO date), node, state, mean, hdi_5%, hdi_95%, mcse, ``method`` (the
        sampler), ``publishable`` (diagnostics passed) and ``n_evidence`` (ledger rows that
        counted). ``attrs`` holds provenance (model and ledger sha256, seed, half-life) and
        ``diagnostics_failed``: ``{as_of: [reasons]}`` for every date not publishable.

    Raises
    ------
    SpecError, EvidenceError, ForecastError
        Bad model, ledger, dates or options (before any work starts), or a date whose
        evidence the model cannot take (naming the date).
    WorkerError
        An unexpected failure while forecasting a date, naming the date.
    """
    spec, model_sha = load_spec_hashed(model_path)
    ledger = None if ledger_path is None else load_ledger(ledger_path, spec)
    frame = forecast_dates(spec, ledger, dates, seed=seed, workers=workers, scheduler=scheduler,
                           progress=progress, half_life_days=half_life_days,
                           forecaster=forecaster, semantics=semantics, particles=particles,
                           grades=grades, nonoccurrence=nonoccurrence)
    frame.attrs = {
        "model_name": spec.name,
        "model_sha256": model_sha,
        "ledger_sha256": None if ledger is None else ledger.attrs["sha256"],
        **frame.attrs,
    }
    return frame


def forecast_dates(
    spec: ModelSpec,
    ledger: pd.DataFrame | None,
    dates: Iterable[object],
    *,
    seed: int = 0,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
    half_life_days: float | None = None,
    forecaster: Forecaster | None = None,
    semantics: str | None = None,
    particles: int = DEFAULT_PARTICLES,
    grades: bool = True,
    nonoccurrence: bool = True,
    start: object = None,
) -> pd.DataFrame:
    """:func:`replay_dates` on a loaded model and ledger (the jobs that have them already).

    Parameters
    ----------
    spec : ModelSpec
        The model.
    ledger : pandas.DataFrame or None
        A ledger from :func:`~forecast.evidence.ledger.load_ledger`, or None for no evidence.
    dates, seed, workers, scheduler, progress, half_life_days, forecaster, semantics
    particles, grades, nonoccurrence
        As for :func:`replay_dates`.
    start : date-like, optional
        The dynamic semantics' step 0 (see
        :func:`~forecast.inference.dynamic.dynamic_forecasts`): give the same one to forecasts
        that will be compared, such as a ledger's and no evidence's.

    Returns
    -------
    pandas.DataFrame
        As :func:`replay_dates`, with ``attrs`` holding the seed, the half-life and
        ``diagnostics_failed`` (no file hashes: there are no files here).
    """
    days = _check_dates(dates)
    _check_options(seed, workers, scheduler)
    if resolve_semantics(semantics, forecaster) == "dynamic":
        return _dynamic_frame(spec, ledger, days, seed=seed, particles=particles, grades=grades,
                              nonoccurrence=nonoccurrence, start=start, scheduler=scheduler)
    forecaster = forecaster or posterior_forecast
    if ledger is not None:  # checks the half-life and the ledger against the model, once
        rows_as_of(ledger, spec, days[0], half_life_days=half_life_days)
    job = Job(spec, ledger, int(seed), half_life_days, os.getpid(), forecaster)
    n_workers = min(len(days), os.cpu_count() or 1) if workers is None else int(workers)
    chunks = split_dates(days, n_workers)
    done: dict[int, Done] = {}

    def collect(index: int, result: Done) -> None:
        bar.update(len(result.frames))
        if result.error is not None:
            reraise(result.error)
        done[index] = result

    # single-threaded BLAS in this process (in-process runs and Dask threads): the same
    # arithmetic as in the workers, so the frame is the same however the dates were split
    with threadpool_limits(limits=1), tqdm(total=len(days), unit="date", disable=not progress,
                                           file=sys.stderr, desc="replay") as bar:
        if scheduler is not None:
            on_dask(job, chunks, scheduler, n_workers, collect)
        elif n_workers == 1:
            for index, day in enumerate(days):
                collect(index, run_chunk(job, [day]))
        else:
            on_pool(job, chunks, n_workers, collect)
    results = [done[i] for i in sorted(done)]
    frame = pd.concat([f for r in results for f in r.frames], ignore_index=True)
    frame.attrs = {
        "seed": int(seed),
        "half_life_days": half_life_days,
        "diagnostics_failed": {k: v for r in results for k, v in r.failed.items()},
    }
    return frame


def _dynamic_frame(spec: ModelSpec, ledger: pd.DataFrame | None, days: list[str], *,
                   seed: int, particles: int, grades: bool, nonoccurrence: bool,
                   start: object, scheduler: str | None) -> pd.DataFrame:
    """The replay frame of the dynamic semantics: one pass, a forecast per date."""
    if scheduler is not None:
        raise ForecastError("the dynamic model replays in one pass over the record", [Problem(
            "a Dask cluster forecasts dates apart, which only the snapshot semantics does",
            field="scheduler", hint="drop the scheduler (--dask), or add --snapshot")])
    first = None if start is None else as_of_date(start, future=True)
    # without a ledger nothing is observed, not even non-occurrence (there is no record)
    found = dynamic_forecasts(spec, no_rows() if ledger is None else ledger, days, seed=seed,
                              particles=particles, grades=grades,
                              nonoccurrence=nonoccurrence and ledger is not None, start=first)
    frames, failed = [], {}
    for dated in found:
        result = dated.forecast
        frames.append(replay_rows(result, dated.as_of,
                                  int((~dated.evidence["how"].isin(
                                      ["nonoccurrence", "silence"])).sum())))
        if not result.publishable:
            failed[dated.as_of] = list(result.attrs["diagnostics"].get("failed", []))
    frame = pd.concat(frames, ignore_index=True)
    frame.attrs = {"seed": int(seed), "half_life_days": None, "diagnostics_failed": failed,
                   "semantics": "dynamic", "particles": int(particles), "grades": bool(grades),
                   "nonoccurrence": bool(nonoccurrence)}
    return frame


def replay(
    model_path: str | os.PathLike[str],
    ledger_path: str | os.PathLike[str] | None,
    start: object,
    end: object,
    every: str,
    **kwargs: object,
) -> pd.DataFrame:
    """:func:`replay_dates` over :func:`as_of_dates` ``(start, end, every)``.

    Parameters
    ----------
    model_path, ledger_path
        As in :func:`replay_dates`.
    start, end, every
        As in :func:`as_of_dates`.
    **kwargs
        ``seed``, ``workers``, ``scheduler``, ``progress``, ``half_life_days``, ``forecaster``
        of :func:`replay_dates`.

    Returns
    -------
    pandas.DataFrame
        See :func:`replay_dates`.
    """
    return replay_dates(model_path, ledger_path, as_of_dates(start, end, every),
                        **kwargs)  # type: ignore[arg-type]


def _check_dates(dates: Iterable[object]) -> list[str]:
    problems: list[Problem] = []
    days = {date_or_problem(d, f"dates[{i}]", problems) for i, d in enumerate(dates)}
    if problems:
        raise EvidenceError("bad as-of dates", problems)
    if not days:
        raise EvidenceError("no as-of dates to replay",
                            [Problem("empty", hint="give at least one date", field="dates")])
    return [d.isoformat() for d in sorted(d for d in days if d is not None)]


def _check_options(seed: object, workers: object, scheduler: object) -> None:
    problems = []
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        problems.append(Problem(f"got {seed!r}", hint="a whole number >= 0", field="seed"))
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        problems.append(Problem(f"got {workers!r}", hint="a whole number >= 1", field="workers"))
    if scheduler is not None and (not isinstance(scheduler, str) or not (
            scheduler == "local" or ":" in scheduler)):
        problems.append(Problem(f"got {scheduler!r}", field="scheduler",
                                hint="'local', or a Dask scheduler address such as tcp://host:8786"))
    if problems:
        raise ForecastError("bad replay options", problems)


# --- output ---------------------------------------------------------------------------------------


def to_dataset(frame: pd.DataFrame) -> xr.Dataset:
    """A replay frame as a cube: dims ``as_of`` (datetime64) by ``outcome`` (``node=state``).

    Parameters
    ----------
    frame : pandas.DataFrame
        As returned by :func:`replay_dates`.

    Returns
    -------
    xarray.Dataset
        ``mean``, ``hdi_5%``, ``hdi_95%``, ``mcse`` over (as_of, outcome); ``method``,
        ``publishable``, ``n_evidence`` over as_of; ``node`` and ``state`` coordinates along
        outcome (model order); the frame's ``attrs`` as JSON text attributes.
    """
    outcome = frame["node"].astype(str) + "=" + frame["state"].astype(str)
    cube = frame.assign(outcome=outcome).set_index(["as_of", "outcome"])
    ds = cube[["mean", "hdi_5%", "hdi_95%", "mcse"]].to_xarray()
    per_date = frame.drop_duplicates("as_of").set_index("as_of")
    ds = ds.assign(per_date[["method", "publishable", "n_evidence"]].to_xarray())
    labels = frame.assign(outcome=outcome).drop_duplicates("outcome")
    ds = ds.reindex(outcome=labels["outcome"].tolist()).assign_coords(
        node=("outcome", labels["node"].astype(str).tolist()),
        state=("outcome", labels["state"].astype(str).tolist()),
        as_of=pd.to_datetime(ds["as_of"].values))
    ds["method"] = ds["method"].astype(str)
    ds.attrs = {k: json.dumps(v) for k, v in frame.attrs.items()}
    return ds


def check_out_path(path: str | os.PathLike[str]) -> Path:
    """`path` if :func:`save_replay` can write it (a .csv or .nc name), else ForecastError."""
    path = Path(path)
    if path.suffix.lower() not in OUT_SUFFIXES:
        raise ForecastError(f"{path}: cannot write a replay there", [
            Problem(f"unknown file type '{path.suffix}'", field="out",
                    hint="name a .csv file (the table) or a .nc file (netCDF, for xarray)")])
    return path


def save_replay(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a replay frame as CSV or netCDF, atomically (a temporary file, then a rename).

    Parameters
    ----------
    frame : pandas.DataFrame
        As returned by :func:`replay_dates`.
    path : path-like
        ``*.csv`` (the frame) or ``*.nc`` (:func:`to_dataset`, read with
        ``xarray.open_dataset``); missing folders are created.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = check_out_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        return atomic_write(path, lambda tmp: safe_csv(frame, tmp))
    return atomic_write(path, netcdf_image({"/": to_dataset(frame)}))


