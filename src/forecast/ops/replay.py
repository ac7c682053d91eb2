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
import contextlib
import datetime as dt
import json
import math
import multiprocessing
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import xarray as xr
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from forecast import errors
from forecast._dates import date_or_problem
from forecast._io import atomic_write
from forecast.errors import EvidenceError, ForecastError, Problem, did_you_mean
from forecast.evidence.case import Case
from forecast.evidence.ledger import case_from_rows, load_ledger, rows_as_of
from forecast.inference.importance import Forecaster, posterior_forecast
from forecast.model.load import load_spec
from forecast.model.schema import ModelSpec
from forecast.provenance import file_sha256

__all__ = [
    "COLUMNS",
    "EVERY",
    "OUT_SUFFIXES",
    "WorkerError",
    "as_of_dates",
    "check_out_path",
    "replay",
    "replay_dates",
    "save_replay",
    "to_dataset",
]

COLUMNS: tuple[str, ...] = ("as_of", "node", "state", "mean", "hdi_5%", "hdi_95%", "mcse",
                            "method", "publishable", "n_evidence")
"""The columns of a replay frame, in order."""

EVERY: dict[str, int] = {"month": 1, "quarter": 3, "year": 12}
"""Steps between as-of dates, in calendar months."""

OUT_SUFFIXES: tuple[str, ...] = (".csv", ".nc")
"""File types :func:`save_replay` writes: a CSV of the frame, or netCDF of :func:`to_dataset`."""

_CHUNKS_PER_WORKER = 4  # enough chunks to balance slow and fast dates, few enough to amortise


class WorkerError(RuntimeError):
    """An unexpected failure while forecasting one as-of date (a bug, not a bad input).

    Parameters
    ----------
    as_of : str
        The as-of date being forecast.
    message : str
        What failed, e.g. ``"ValueError: ..."``.
    detail : str
        The worker's traceback, for a bug report.
    """

    def __init__(self, as_of: str, message: str, detail: str = "") -> None:
        self.as_of = as_of
        self.detail = detail
        super().__init__(f"replay as of {as_of} failed: {message}")


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


@dataclass(frozen=True)
class _Job:
    """What every worker needs, shipped once per worker."""

    spec: ModelSpec
    ledger: pd.DataFrame | None
    seed: int
    half_life_days: float | None
    caller_pid: int
    forecaster: Forecaster = posterior_forecast  # pickled by reference to the workers


@dataclass
class _Done:
    """The outcome of a chunk of dates: a frame per date forecast, then maybe a failure."""

    frames: list[pd.DataFrame] = field(default_factory=list)
    failed: dict[str, list[str]] = field(default_factory=dict)  # as_of -> diagnostics failed
    error: tuple[str, str, str, list[Problem], str] | None = None
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
    forecaster: Forecaster = posterior_forecast,
) -> pd.DataFrame:
    """Forecast a model as of each of `dates`, in parallel; nothing is written anywhere.

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
        Computes each date's forecast, called as ``forecaster(spec, case, seed=seed,
        as_of=day)`` (a :class:`~forecast.inference.importance.Forecaster`); default
        :func:`~forecast.inference.importance.posterior_forecast`. Worker processes receive it
        pickled: a module-level function or a ``functools.partial`` of one.

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
    spec = load_spec(model_path)
    ledger = None if ledger_path is None else load_ledger(ledger_path, spec)
    days = _check_dates(dates)
    _check_options(seed, workers, scheduler)
    if ledger is not None:  # checks the half-life and the ledger against the model, once
        rows_as_of(ledger, spec, days[0], half_life_days=half_life_days)
    job = _Job(spec, ledger, int(seed), half_life_days, os.getpid(), forecaster)
    n_workers = min(len(days), os.cpu_count() or 1) if workers is None else int(workers)
    chunks = _chunks(days, n_workers)
    done: dict[int, _Done] = {}

    def collect(index: int, result: _Done) -> None:
        bar.update(len(result.frames))
        if result.error is not None:
            _raise(result.error)
        done[index] = result

    # single-threaded BLAS in this process (in-process runs and Dask threads): the same
    # arithmetic as in the workers, so the frame is the same however the dates were split
    with threadpool_limits(limits=1), tqdm(total=len(days), unit="date", disable=not progress,
                                           file=sys.stderr, desc="replay") as bar:
        if scheduler is not None:
            _on_dask(job, chunks, scheduler, n_workers, collect)
        elif n_workers == 1:
            for index, day in enumerate(days):
                collect(index, _run_chunk(job, [day]))
        else:
            _on_pool(job, chunks, n_workers, collect)
    results = [done[i] for i in sorted(done)]
    frame = pd.concat([f for r in results for f in r.frames], ignore_index=True)
    frame.attrs = {
        "model_name": spec.name,
        "model_sha256": file_sha256(model_path),
        "ledger_sha256": None if ledger_path is None else file_sha256(ledger_path),
        "seed": int(seed),
        "half_life_days": half_life_days,
        "diagnostics_failed": {k: v for r in results for k, v in r.failed.items()},
    }
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


def _chunks(days: Sequence[str], workers: int) -> list[list[str]]:
    size = max(1, math.ceil(len(days) / (workers * _CHUNKS_PER_WORKER)))
    return [list(days[i:i + size]) for i in range(0, len(days), size)]


def _raise(error: tuple[str, str, str, list[Problem], str]) -> None:
    as_of, kind, message, problems, detail = error
    cls = getattr(errors, kind, None)
    if isinstance(cls, type) and issubclass(cls, ForecastError):
        raise cls(f"as of {as_of}: {message}", problems)
    raise WorkerError(as_of, message, detail)


# --- one chunk of dates (runs in a worker) --------------------------------------------------------

_JOB: _Job | None = None  # a pool worker's job, set once by its initializer
_LIMITED = False  # whether this worker process has been set to single-threaded BLAS


def _run_chunk(job: _Job, days: Sequence[str]) -> _Done:
    """Forecast each date; stop at the first failure and report it (never raise)."""
    global _LIMITED
    if os.getpid() != job.caller_pid and not _LIMITED:  # a worker process: for its lifetime
        threadpool_limits(limits=1)
        _LIMITED = True
    out = _Done()
    for day in days:
        try:
            frame, failed = _forecast_one(job, day)
        except ForecastError as err:
            out.error = (day, type(err).__name__, err.summary, err.problems, "")
            break
        except Exception as exc:  # reported to the caller with its date and traceback
            out.error = (day, "", f"{type(exc).__name__}: {exc}", [], traceback.format_exc())
            break
        out.frames.append(frame)
        if failed:
            out.failed[day] = failed
    return out


def _forecast_one(job: _Job, day: str) -> tuple[pd.DataFrame, list[str]]:
    if job.ledger is None:
        case, n_rows = Case(), 0
    else:
        rows = rows_as_of(job.ledger, job.spec, day, half_life_days=job.half_life_days)
        case, n_rows = case_from_rows(rows, job.spec), len(rows)  # case_as_of, cut once
    result = job.forecaster(job.spec, case, seed=job.seed, as_of=day)
    attrs = result.attrs
    frame = result.summary[["node", "state", "mean", "hdi_5%", "hdi_95%", "mcse"]].copy()
    frame.insert(0, "as_of", day)
    frame["method"] = str(attrs["method"])
    frame["publishable"] = bool(result.publishable)
    frame["n_evidence"] = n_rows
    return frame[list(COLUMNS)], list(attrs["diagnostics"].get("failed", []))


def _init_pool_worker(job: _Job) -> None:
    """Pool initializer: keep the job (model and ledger) and use single-threaded BLAS."""
    global _JOB, _LIMITED
    _JOB = job
    threadpool_limits(limits=1)
    _LIMITED = True


def _pool_chunk(days: Sequence[str]) -> _Done:
    assert _JOB is not None, "the pool initializer did not run"
    return _run_chunk(_JOB, days)


# --- backends -------------------------------------------------------------------------------------


def _on_pool(job: _Job, chunks: list[list[str]], workers: int,
             collect: Callable[[int, _Done], None]) -> None:
    """A process pool; forkserver (or spawn) starts workers safely beside threads and BLAS."""
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":  # workers fork from a server that has imported numpy & co once
        context.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_pool_worker,
                             initargs=(job,)) as pool:
        futures = {pool.submit(_pool_chunk, chunk): i for i, chunk in enumerate(chunks)}
        try:
            for future in as_completed(futures):
                index = futures[future]
                try:
                    result = future.result()
                except BrokenProcessPool:
                    raise WorkerError(chunks[index][0], "a worker process died (out of memory, "
                                      "or killed) while forecasting the dates from here to "
                                      f"{chunks[index][-1]}") from None
                except Exception as exc:
                    raise WorkerError(chunks[index][0], f"{type(exc).__name__}: {exc}") from None
                collect(index, result)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _on_dask(job: _Job, chunks: list[list[str]], scheduler: str, workers: int,
             collect: Callable[[int, _Done], None]) -> None:
    """A Dask cluster: a LocalCluster of `workers` processes, or the one at `scheduler`."""
    from dask.distributed import Client, LocalCluster
    from dask.distributed import as_completed as dask_completed

    with contextlib.ExitStack() as stack:
        if scheduler == "local":
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address=None))
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(scheduler, timeout="10s"))
            except (OSError, TimeoutError) as exc:
                raise ForecastError(f"cannot reach the Dask scheduler at {scheduler}", [
                    Problem(str(exc), field="scheduler", hint="start one (dask scheduler) and "
                            "workers, or use 'local'")]) from None
        shared = client.scatter(job, broadcast=True)  # one copy per worker, not per task
        futures = [client.submit(_run_chunk, shared, chunk, pure=False) for chunk in chunks]
        index = {future.key: i for i, future in enumerate(futures)}
        try:
            for future in dask_completed(futures):
                i = index[future.key]
                try:
                    result = future.result()
                except Exception as exc:  # e.g. a worker died (KilledWorker)
                    raise WorkerError(chunks[i][0], f"{type(exc).__name__}: {exc}") from None
                collect(i, result)
        finally:
            client.cancel(futures)


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
        return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))
    return atomic_write(path, to_dataset(frame).to_netcdf)


