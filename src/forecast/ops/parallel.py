"""Running a replay's as-of dates in worker processes: a process pool, or a Dask cluster.

:func:`forecast.ops.replay.replay_dates` splits its dates into chunks (:func:`split_dates`) and
hands them here. A :class:`Job` (the validated model and ledger, seed, options and forecaster)
goes to each worker once; each chunk comes back as a :class:`Done` with the forecasts of its
dates or the first error, which :func:`reraise` raises in the caller with its original class.

* :func:`on_pool` — a ``ProcessPoolExecutor`` started by forkserver (or spawn), whose server has
  imported numpy and the package once; every worker limits BLAS to one thread.
* :func:`on_dask` — a ``distributed`` scheduler address, or a local cluster of process workers.

Every worker is set up for this work by the package, wherever it runs (:func:`tune_worker`, on
its first chunk): one BLAS thread (a date is one thread's work; BLAS threads would only compete
with the other workers), and glibc's malloc told to keep freed memory for reuse. Dask's nanny
starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also switches off glibc's dynamic
mmap threshold: every array over 128 KiB is then mapped and unmapped afresh, and its pages
faulted in on every use (measured: a date costs 1.6 times the CPU on such a worker). A local
cluster is started without it (:data:`WORKER_ENV`); on a remote cluster :func:`tune_worker`
raises both thresholds in the running process (``mallopt``).

A worker that dies (out of memory, killed) is a :class:`WorkerError` naming the dates it held.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import multiprocessing
import os
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits

from forecast import errors
from forecast.errors import ForecastError, Problem
from forecast.evidence.case import Case
from forecast.evidence.ledger import case_from_rows, rows_as_of
from forecast.inference.importance import Forecaster, posterior_forecast
from forecast.inference.result import Forecast
from forecast.model.schema import ModelSpec

__all__ = ["COLUMNS", "WORKER_ENV", "Done", "Job", "WorkerError", "local_cluster", "on_dask",
           "on_pool", "replay_rows", "reraise", "run_chunk", "split_dates", "tune_worker"]


COLUMNS: tuple[str, ...] = ("as_of", "node", "state", "mean", "hdi_5%", "hdi_95%", "mcse",
                            "method", "publishable", "n_evidence")
"""The columns of a replay frame, in order."""

_CHUNKS_PER_WORKER = 4  # enough chunks to balance slow and fast dates, few enough to amortise

WORKER_ENV: dict[str, str] = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                              "MKL_NUM_THREADS": "1"}
"""Environment of a local Dask cluster's workers (Dask's default ``MALLOC_TRIM_THRESHOLD_`` is
left out: see the module's notes)."""

_MMAP_THRESHOLD = 64 << 20  # arrays up to 64 MiB come from the heap, not a fresh mapping
_TRIM_THRESHOLD = 256 << 20  # free memory at the heap's top is given back above 256 MiB


def tune_worker() -> None:
    """Set up this worker process for forecasting: one BLAS thread, malloc that reuses memory.

    Called on a worker's first chunk (pool and Dask alike). Where the process was started with
    a small ``MALLOC_TRIM_THRESHOLD_`` (Dask's nanny default), glibc's ``mallopt`` raises the
    mmap and trim thresholds again; elsewhere (glibc's adaptive defaults) malloc is left alone.
    """
    threadpool_limits(limits=1)
    trim = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    if trim is None or not trim.isdigit() or int(trim) >= _TRIM_THRESHOLD:
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return
    libc.mallopt(-3, _MMAP_THRESHOLD)  # M_MMAP_THRESHOLD
    libc.mallopt(-1, _TRIM_THRESHOLD)  # M_TRIM_THRESHOLD


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


@dataclass(frozen=True)
class Job:
    """What every worker needs, shipped once per worker."""

    spec: ModelSpec
    ledger: pd.DataFrame | None
    seed: int
    half_life_days: float | None
    caller_pid: int
    forecaster: Forecaster = posterior_forecast  # pickled by reference to the workers


@dataclass
class Done:
    """The outcome of a chunk of dates: a frame per date forecast, then maybe a failure."""

    frames: list[pd.DataFrame] = field(default_factory=list)
    failed: dict[str, list[str]] = field(default_factory=dict)  # as_of -> diagnostics failed
    error: tuple[str, str, str, list[Problem], str] | None = None


def split_dates(days: Sequence[str], workers: int) -> list[list[str]]:
    """Consecutive chunks of dates, a few per worker (so slow and fast dates balance out)."""
    size = max(1, math.ceil(len(days) / (workers * _CHUNKS_PER_WORKER)))
    return [list(days[i:i + size]) for i in range(0, len(days), size)]


def reraise(error: tuple[str, str, str, list[Problem], str]) -> None:
    """Raise a worker's error in the caller: its own class when it is ours, else WorkerError."""
    as_of, kind, message, problems, detail = error
    cls = getattr(errors, kind, None)
    if isinstance(cls, type) and issubclass(cls, ForecastError):
        raise cls(f"as of {as_of}: {message}", problems)
    raise WorkerError(as_of, message, detail)


_JOB: Job | None = None  # a pool worker's job, set once by its initializer
_LIMITED = False  # whether this worker process has been set to single-threaded BLAS


def run_chunk(job: Job, days: Sequence[str]) -> Done:
    """Forecast each date; stop at the first failure and report it (never raise)."""
    global _LIMITED
    if os.getpid() != job.caller_pid and not _LIMITED:  # a worker process: for its lifetime
        tune_worker()
        _LIMITED = True
    out = Done()
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


def _forecast_one(job: Job, day: str) -> tuple[pd.DataFrame, list[str]]:
    if job.ledger is None:
        case, n_rows = Case(), 0
    else:
        rows = rows_as_of(job.ledger, job.spec, day, half_life_days=job.half_life_days)
        case, n_rows = case_from_rows(rows, job.spec), len(rows)  # case_as_of, cut once
    result = job.forecaster(job.spec, case, seed=job.seed, as_of=day)
    return replay_rows(result, day, n_rows), list(result.attrs["diagnostics"].get("failed", []))


def replay_rows(result: Forecast, day: str, n_evidence: int) -> pd.DataFrame:
    """One date's rows of a replay frame (:data:`COLUMNS`) from its forecast."""
    frame = result.summary[["node", "state", "mean", "hdi_5%", "hdi_95%", "mcse"]].copy()
    frame.insert(0, "as_of", day)
    frame["method"] = str(result.attrs["method"])
    frame["publishable"] = bool(result.publishable)
    frame["n_evidence"] = n_evidence
    return frame[list(COLUMNS)]


def _init_pool_worker(job: Job) -> None:
    """Pool initializer: keep the job (model and ledger) and use single-threaded BLAS."""
    global _JOB, _LIMITED
    _JOB = job
    tune_worker()
    _LIMITED = True


def _pool_chunk(days: Sequence[str]) -> Done:
    assert _JOB is not None, "the pool initializer did not run"
    return run_chunk(_JOB, days)


def on_pool(job: Job, chunks: list[list[str]], workers: int,
             collect: Callable[[int, Done], None]) -> None:
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


@contextlib.contextmanager
def local_cluster(workers: int) -> Iterator[Any]:
    """A client of a local Dask cluster of `workers` single-threaded processes.

    Its workers start with :data:`WORKER_ENV` and without Dask's ``MALLOC_TRIM_THRESHOLD_``.
    """
    import dask
    from dask.distributed import Client, LocalCluster

    environ = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items()
               if k != "MALLOC_TRIM_THRESHOLD_"}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": {**environ, **WORKER_ENV}}), \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                         dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def on_dask(job: Job, chunks: list[list[str]], scheduler: str, workers: int,
             collect: Callable[[int, Done], None]) -> None:
    """A Dask cluster: a LocalCluster of `workers` processes, or the one at `scheduler`."""
    from dask.distributed import Client
    from dask.distributed import as_completed as dask_completed

    with contextlib.ExitStack() as stack:
        if scheduler == "local":
            client = stack.enter_context(local_cluster(workers))
        else:
            try:
                client = stack.enter_context(Client(scheduler, timeout="10s"))
            except (OSError, TimeoutError) as exc:
                raise ForecastError(f"cannot reach the Dask scheduler at {scheduler}", [
                    Problem(str(exc), field="scheduler", hint="start one (dask scheduler) and "
                            "workers, or use 'local'")]) from None
        shared = client.scatter(job, broadcast=True)  # one copy per worker, not per task
        futures = [client.submit(run_chunk, shared, chunk, pure=False) for chunk in chunks]
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
