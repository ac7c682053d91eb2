"""The scheduled job: forecast a model with its ledger as of a date and publish a run.

:func:`update` validates every input before anything is written, then, under the model's lock
in the :class:`~forecast.ops.store.RunStore`, either finds the same inputs already published
("unchanged", or "unpublishable" when that run failed its diagnostics), or computes the
posterior and publishes it atomically ("published"), or refuses a forecast whose diagnostics
failed ("unconverged"). A store that cannot be written still answers an update whose inputs
equal its latest run's (read without the lock: runs and ``LATEST`` are replaced atomically).
Damaged runs and a damaged ``LATEST`` are skipped and reported (:attr:`UpdateResult.problems`).
:func:`history` reads every valid run back as a :class:`History` (a table, and a cube by
``to_xarray``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pandas as pd
import xarray as xr

from forecast._dates import as_of_date
from forecast.errors import (
    ForecastError,
    LockTimeout,
    Problem,
    RunStoreError,
    Untrusted,
    did_you_mean,
)
from forecast.evidence.ledger import case_from_rows, load_ledger, no_rows, rows_as_of
from forecast.inference.dynamic import DEFAULT_PARTICLES, dynamic_forecasts
from forecast.inference.importance import Forecaster, posterior_forecast
from forecast.model.load import load_spec_hashed
from forecast.ops.store import Run, RunStore, inputs_hash

__all__ = ["SEMANTICS", "History", "UpdateResult", "history", "history_frame",
           "resolve_semantics", "update"]


@dataclass
class UpdateResult:
    """What :func:`update` did.

    Attributes
    ----------
    status : {"published", "unchanged", "unpublishable", "unconverged"}
        A new run was published; the inputs equal the latest run's (nothing written); they
        equal the latest run's, which failed its diagnostics (it was published with
        `allow_unconverged`; nothing written, and not an answer to publish: the CLI exits 3,
        as for "unconverged"; with `allow_unconverged` again the status is "unchanged",
        `publishable` false); or the diagnostics failed and nothing was published.
    run : Run or None
        The new run, or for "unchanged" and "unpublishable" the latest one; None for
        "unconverged".
    summary : pandas.DataFrame
        The forecast's summary (for "unconverged", of the unpublished forecast).
    previous : Run or None
        The run this update is compared with: the latest run, or for a backfill (an as-of
        date before the latest run's) the run of the newest as-of date up to its own.
    previous_summary : pandas.DataFrame or None
        Its summary.
    changes : pandas.DataFrame
        Per scenario node and state: ``before``, ``after``, ``delta`` of the mean (empty when
        there is no previous run or nothing changed).
    scenarios : list of str
        The headline nodes (``spec.scenarios``, else every node).
    publishable : bool
        Whether the forecast passed its diagnostics.
    failed : list of str
        The failed diagnostics (for an unchanged run, as its manifest records them).
    problems : list of Problem
        The damaged runs skipped and a damaged ``LATEST`` (the latest run is then the newest
        valid one), as :attr:`RunStore.problems <forecast.ops.store.RunStore.problems>`.
    notes : list of str
        Warnings about the inputs, e.g. a ledger whose newest row is more than
        :data:`STALE_DAYS` before the as-of date.
    """

    status: str
    run: Run | None
    summary: pd.DataFrame
    previous: Run | None
    previous_summary: pd.DataFrame | None
    changes: pd.DataFrame
    scenarios: list[str]
    publishable: bool = True
    failed: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def run_path(self) -> Path | None:
        """The run's folder (None if nothing was published)."""
        return None if self.run is None else self.run.path

    def evidence_changes(self) -> tuple[list[str], list[str]] | None:
        """Ids of the ledger rows that count now but did not at the previous run, and back.

        New rows, and rows superseded or out of their window since; None when there is no
        previous run to compare with or either run lacks its stored evidence.
        """
        if self.run is None or self.previous is None:
            return None
        try:
            now, then = set(self.run.evidence["id"]), set(self.previous.evidence["id"])
        except RunStoreError:
            return None
        return sorted(now - then), sorted(then - now)

    def to_json(self) -> dict:
        """A JSON-ready dict: status, run id and path, summary records, changes, problems."""
        return {
            "status": self.status,
            "run_id": None if self.run is None else self.run.run_id,
            "run_path": None if self.run is None else str(self.run.path),
            "previous_run_id": None if self.previous is None else self.previous.run_id,
            "publishable": self.publishable,
            "failed": self.failed,
            "scenarios": self.scenarios,
            "summary": json.loads(self.summary.to_json(orient="records")),
            "changes": json.loads(self.changes.to_json(orient="records")),
            "evidence_changes": (None if (diff := self.evidence_changes()) is None else
                                 {"added": diff[0], "dropped": diff[1]}),
            "problems": [str(p) for p in self.problems],
            "notes": self.notes,
        }


STALE_DAYS = 90
"""An update warns when the ledger's newest row is more than this many days before the as-of."""


def newest_evidence(ledger: pd.DataFrame, day: str) -> str | None:
    """The date of the ledger's newest row up to `day` (``YYYY-MM-DD``), None without rows."""
    if not len(ledger):
        return None
    dates = ledger["date"][ledger["date"] <= pd.Timestamp(day)]
    return None if dates.empty else dates.max().date().isoformat()


def freshness(ledger: pd.DataFrame, day: str, stale_after: int = STALE_DAYS) -> list[str]:
    """A warning when the ledger's newest row is more than `stale_after` days before `day`."""
    newest = newest_evidence(ledger, day)
    if newest is None:
        return []
    gap = (dt.date.fromisoformat(day) - dt.date.fromisoformat(newest)).days
    if gap <= stale_after:
        return []
    return [f"newest evidence: {newest} ({gap} days before the as-of date {day}, more than "
            f"{stale_after}); the steps after it are not read as quiet (no non-occurrence), "
            "but nothing new is known about them either: add rows to the ledger"]


def _as_of_text(as_of: object) -> str:
    """The as-of day as ``YYYY-MM-DD``: today by default, never after it."""
    return (dt.date.today() if as_of is None else as_of_date(as_of)).isoformat()


SEMANTICS = ("dynamic", "snapshot")
"""What a date means: the model over time steps (the default), or one static snapshot."""


def resolve_semantics(semantics: str | None, forecaster: object = None) -> str:
    """The semantics a job runs: as asked, else snapshot when given a case forecaster.

    Raises
    ------
    ForecastError
        If `semantics` is unknown, or is ``"dynamic"`` with a (snapshot) `forecaster`.
    """
    if semantics is None:
        return "snapshot" if forecaster is not None else "dynamic"
    if semantics not in SEMANTICS:
        raise ForecastError(f"unknown semantics {semantics!r}", [Problem(
            "choose 'dynamic' or 'snapshot'", field="semantics",
            hint=did_you_mean(str(semantics), SEMANTICS))])
    if semantics == "dynamic" and forecaster is not None:
        raise ForecastError("a forecaster of cases runs the snapshot semantics", [Problem(
            "the dynamic semantics forecasts from the whole ledger, not from a case",
            field="forecaster", hint="drop forecaster=, or pass semantics='snapshot'")])
    return semantics


def _changes(before: pd.DataFrame | None, after: pd.DataFrame,
             scenarios: list[str]) -> pd.DataFrame:
    columns = ["node", "state", "before", "after", "delta"]
    if before is None:
        return pd.DataFrame(columns=columns)
    keys = ["node", "state"]
    a = after[after["node"].isin(scenarios)][[*keys, "mean"]].rename(columns={"mean": "after"})
    b = before[before["node"].isin(scenarios)][[*keys, "mean"]].rename(columns={"mean": "before"})
    merged = a.merge(b, on=keys, how="outer")
    merged["delta"] = merged["after"] - merged["before"]
    return merged[columns].reset_index(drop=True)


def _unchanged(previous: Run, scenarios: list[str], allow_unconverged: bool,
               problems: list[Problem], notes: list[str]) -> UpdateResult:
    """The answer to an update whose inputs equal the latest run's: nothing is written.

    "unchanged", unless that run failed its diagnostics and they are not allowed: then
    "unpublishable", with the reasons its manifest records, so a scheduler is not told that
    all is well.
    """
    summary = previous.summary
    publishable = bool(previous.manifest["publishable"])
    failed: list[str] = []
    if not publishable:
        failed = list(previous.manifest["diagnostics"].get("failed", [])) or [
            "the run's manifest says it is not publishable"]
    status = "unchanged" if publishable or allow_unconverged else "unpublishable"
    return UpdateResult(status, previous, summary, previous, summary,
                        _changes(None, summary, scenarios), scenarios, publishable, failed,
                        problems, notes)


def _check_owner(previous: Run | None, model_path: Path, name: str) -> None:
    """Refuse a model file whose ``model.name`` is already the store folder of another file.

    A run records the resolved path of its model file (``model_file``). If the latest run's
    file still exists and is not `model_path`, two models share one name and would share one
    history; the update is refused before anything is computed. A file that has gone (a
    moved checkout) hands the folder on.

    Raises
    ------
    RunStoreError
        If the folder belongs to another existing model file.
    """
    owner = None if previous is None else previous.manifest.get("model_file")
    if not isinstance(owner, str) or not owner:
        return
    try:
        if not Path(owner).is_file() or Path(owner).samefile(model_path):
            return
    except OSError:
        return
    raise RunStoreError(f"{model_path}: model.name '{name}' is taken in this run store", [
        Problem(f"the runs of '{name}' are those of {owner}, another model file",
                file=str(model_path), field="model.name",
                hint="give this model its own model.name (or --runs another folder); if this "
                     "file replaces the other, remove or rename the other file")])


def update(
    model_path: str | os.PathLike[str],
    ledger_path: str | os.PathLike[str] | None = None,
    *,
    as_of: object = None,
    runs_dir: str | os.PathLike[str] = Path("runs"),
    seed: int = 0,
    allow_unconverged: bool = False,
    lock_timeout: float = 60.0,
    forecaster: Forecaster | None = None,
    semantics: str | None = None,
    particles: int = DEFAULT_PARTICLES,
    grades: bool = True,
    nonoccurrence: bool = True,
    resume: bool = True,
    make_latest: bool = False,
    compare_to: str | None = None,
    stale_after_days: int = STALE_DAYS,
    strict_freshness: bool = False,
) -> UpdateResult:
    """Forecast `model_path` with the ledger as of a date and publish a run if anything changed.

    Inputs are validated before anything is written. Under the model's lock: if the fingerprint
    of (model file sha256, ledger sha256, as-of, seed, options) equals the latest run's, nothing is
    written ("unchanged"); otherwise the posterior is computed and, if its diagnostics pass
    (or `allow_unconverged`), published atomically ("published"); else nothing is published
    ("unconverged"). Same inputs as a latest run that failed its diagnostics give
    "unpublishable" unless `allow_unconverged`. A store that cannot be written answers an update
    whose inputs equal its latest run's, read without the lock, and refuses any other before
    computing anything. Damaged runs are skipped and reported in the result's ``problems``.

    Parameters
    ----------
    model_path : path-like
        The model YAML.
    ledger_path : path-like, optional
        The evidence ledger CSV; without it the forecast uses no evidence.
    as_of : datetime.date or str, optional
        The as-of day (default today); ledger rows after it are ignored.
    runs_dir : path-like
        The store root; runs go to ``runs_dir/<model name>/``.
    seed : int
        Sampler seed.
    allow_unconverged : bool
        Publish even when the diagnostics fail (the manifest says ``publishable: false``).
    lock_timeout : float
        Seconds to wait for a concurrent update (finite, at least 0).
    forecaster : callable, optional
        The snapshot semantics' forecaster, called as ``forecaster(spec, case, seed=seed,
        as_of=day)`` (a :class:`~forecast.inference.importance.Forecaster`; default
        :func:`~forecast.inference.importance.posterior_forecast`). Giving one implies
        ``semantics="snapshot"``. Tests pass a stub built on
        :meth:`Forecast.from_draws <forecast.inference.result.Forecast.from_draws>`.
    semantics : {"dynamic", "snapshot"}, optional
        ``"dynamic"`` (the default without a `forecaster`): the model over time steps, every
        ledger row at its step, graded sources, non-occurrence, parameters learned from the
        whole record (:func:`~forecast.inference.dynamic.dynamic_forecasts`).
        ``"snapshot"``: the evidence as of the day on one static network, as before time
        steps existed (:func:`~forecast.evidence.ledger.rows_as_of`).
    particles, grades, nonoccurrence
        Of the dynamic semantics (see :func:`~forecast.inference.dynamic.dynamic_forecasts`).
    resume : bool
        Dynamic semantics: resume the record from the particle system the last update kept in
        ``runs/<model>/.checkpoints`` when nothing before its step has changed, and keep this
        one's (:class:`~forecast.ops.store.CheckpointFolder`). The forecast is the same either
        way; a scheduled update then assimilates only the steps closed since the last one.

    make_latest : bool
        Point ``LATEST`` at the new run even when its as-of date is before the latest run's.
        By default such a backfill is published (listed by :func:`history`, in as-of order,
        and compared with the run of the newest as-of date up to its own) without moving
        ``LATEST`` back in time; a note says so.
    compare_to : str, optional
        The id of the run to report changes against and record as ``previous_run_id`` (the
        brief's comparison); by default the latest run, or for a backfill the run of the
        newest as-of date up to its own.
    stale_after_days : int
        A ledger whose newest row (up to the as-of date) is more than this many days before
        the as-of date gets a note (:func:`freshness`); the run's manifest records both, and
        the brief's masthead shows them.
    strict_freshness : bool
        Raise :class:`~forecast.errors.Untrusted` (exit 3) instead of the note, before
        anything is computed or written: a scheduler hears that the ledger is not kept.

    Raises
    ------
    SpecError, EvidenceError
        Bad model, ledger or as-of date (nothing written).
    ForecastError
        A `lock_timeout` that is negative or not a number, or `stale_after_days` negative.
    Untrusted
        With `strict_freshness`, when the newest evidence is too old.
    LockTimeout
        Another update held the lock for longer than `lock_timeout`.
    RunStoreError
        The store cannot be written (a read-only folder, a path under a file, ``LATEST`` a
        folder) and the inputs differ from its latest run's, or there is no valid run
        `compare_to`: nothing is written or computed.
    """
    if not (isinstance(lock_timeout, int | float) and math.isfinite(lock_timeout)
            and lock_timeout >= 0):
        raise ForecastError(f"lock_timeout={lock_timeout!r}: not a number of seconds", [Problem(
            "must be a finite number of seconds, at least 0", field="lock_timeout",
            hint="e.g. 60")])
    if not (isinstance(stale_after_days, int) and stale_after_days >= 0):
        raise ForecastError(f"stale_after_days={stale_after_days!r}: not a number of days", [
            Problem("must be a whole number of days, at least 0", field="stale_after_days",
                    hint=f"e.g. {STALE_DAYS}")])
    model_path = Path(model_path)
    day = _as_of_text(as_of)
    chosen = resolve_semantics(semantics, forecaster)
    spec, model_sha = load_spec_hashed(model_path)  # hashes of the bytes parsed, read once
    if ledger_path is not None:
        ledger = load_ledger(ledger_path, spec)
        ledger_sha = ledger.attrs["sha256"]
    else:
        ledger, ledger_sha = no_rows(), None
    options = None
    if chosen == "snapshot":
        rows = rows_as_of(ledger, spec, day) if ledger_path is not None else no_rows()
        case = case_from_rows(rows, spec)
        snapshot = forecaster or posterior_forecast
    else:
        options = {"semantics": chosen, "particles": int(particles), "grades": bool(grades),
                   "nonoccurrence": bool(nonoccurrence)}
    key = inputs_hash(model_sha, ledger_sha, day, seed, options)
    notes = freshness(ledger, day, stale_after_days)
    if notes and strict_freshness:
        raise Untrusted("the evidence is too old to publish a forecast (--strict-freshness); "
                        "nothing written", [Problem(
                            notes[0].split(";")[0], file=str(ledger_path), hint="add the "
                            "rows since to the ledger, or raise --stale-after")])
    scenarios = list(spec.scenarios) if spec.scenarios else list(spec.node_names)

    store = RunStore(runs_dir, spec.name, lock_timeout=lock_timeout)
    try:
        lock = store.acquire()
    except LockTimeout:
        raise
    except RunStoreError:
        # The store cannot be written (not even the lock file). Runs and LATEST are replaced
        # atomically, so reading without the lock is safe: same inputs, same answer.
        previous = store.latest()
        if previous is None or previous.manifest["inputs_hash"] != key:
            raise
        return _unchanged(previous, scenarios, allow_unconverged, list(store.problems), notes)
    try:
        store.clean_temporaries()
        latest = store.latest()
        problems = list(store.problems)
        _check_owner(latest, model_path, spec.name)
        if latest is not None and latest.manifest["inputs_hash"] == key:
            return _unchanged(latest, scenarios, allow_unconverged, problems, notes)
        backfill = latest is not None and day < str(latest.manifest["as_of"])
        previous = latest
        if backfill:  # compared with the run of the newest as-of up to its own
            earlier = store.runs()
            same = [run for run in earlier if run.manifest["inputs_hash"] == key]
            if same:
                return _unchanged(same[-1], scenarios, allow_unconverged, problems, notes)
            before = [run for run in earlier if str(run.manifest["as_of"]) <= day]
            previous = before[-1] if before else None
        if compare_to is not None:
            previous = store.pick(compare_to, option="--compare-to")
        store.check_writable()  # before the forecast: a refusal costs nothing
        previous_summary = previous.summary if previous is not None else None
        if chosen == "snapshot":
            result = snapshot(spec, case, seed=seed, as_of=day)
        else:
            dated = dynamic_forecasts(spec, ledger, [day], seed=seed, particles=particles,
                                      grades=grades,  # no ledger, no record: nothing observed
                                      nonoccurrence=nonoccurrence and ledger_path is not None,
                                      checkpoints=store.checkpoints() if resume else None)[0]
            result, rows = dated.forecast, dated.evidence
        attrs = result.attrs
        failed = list(attrs["diagnostics"].get("failed", []))
        summary = result.summary
        changes = _changes(previous_summary, summary, scenarios)
        if not result.publishable and not allow_unconverged:
            return UpdateResult("unconverged", None, summary, previous, previous_summary,
                                changes, scenarios, False, failed, problems, notes)
        manifest = {
            "model_name": spec.name,
            "model_path": str(model_path),
            "model_file": str(model_path.resolve()),
            "model_sha256": model_sha,
            "ledger_path": None if ledger_path is None else str(ledger_path),
            "ledger_sha256": ledger_sha,
            "as_of": day,
            "seed": int(seed),
            "inputs_hash": key,
            "model_hash": attrs["model_hash"],
            "evidence_hash": attrs["evidence_hash"],
            "method": attrs["method"],
            "method_reason": attrs.get("method_reason"),
            "diagnostics": attrs["diagnostics"],
            "publishable": result.publishable,
            "versions": attrs["versions"],
            "scenarios": scenarios,
            "previous_run_id": None if previous is None else previous.run_id,
            "semantics": chosen,
            "options": options,
            "newest_evidence": newest_evidence(ledger, day),
            "stale_after_days": int(stale_after_days),
        }
        moves = not backfill or make_latest
        run = store.publish(result, manifest, rows, make_latest=moves)
        if not moves:
            assert latest is not None  # a backfill is before a latest run
            notes = [*notes, f"backfilled: LATEST still names run {latest.run_id} (as of "
                             f"{latest.manifest['as_of']}); pass --make-latest to move it"]
        return UpdateResult("published", run, summary, previous, previous_summary, changes,
                            scenarios, result.publishable, failed, problems, notes)
    finally:
        lock.release()


@dataclass(frozen=True)
class History:
    """Every valid run of a model, read back: :func:`history`'s result.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per (run, node, state), oldest run first; columns run_id, as_of, created,
        method, publishable, node, state, mean, hdi_5%, hdi_95%, mcse.
    problems : list of Problem
        One or more per damaged run folder, which was skipped; one for a damaged ``LATEST``.
    """

    frame: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "run_id", "as_of", "created", "method", "publishable", "node", "state", "mean",
        "hdi_5%", "hdi_95%", "mcse")
    """The columns of :attr:`frame`, in order."""

    @property
    def empty(self) -> bool:
        """Whether no valid run was found."""
        return self.frame.empty

    def to_xarray(self) -> xr.Dataset:
        """The history as a cube: dims ``run`` × ``node`` × ``state``.

        Returns
        -------
        xarray.Dataset
            ``mean``, ``hdi_5%``, ``hdi_95%`` and ``mcse`` over (run, node, state), NaN where
            a state is not one of a node's or a node is not in a run (observed then); along
            ``run`` (the run ids, oldest first) the coordinates ``as_of`` (datetime64),
            ``created``, ``method`` and ``publishable``. Nodes and states keep the order of
            the runs' summaries.
        """
        frame = self.frame
        per_run = frame.drop_duplicates("run_id").set_index("run_id")
        cube = (frame.set_index(["run_id", "node", "state"])[["mean", "hdi_5%", "hdi_95%", "mcse"]]
                .to_xarray()
                .reindex(run_id=list(per_run.index), node=list(dict.fromkeys(frame["node"])),
                         state=list(dict.fromkeys(frame["state"])))
                .rename(run_id="run"))
        return cube.assign_coords(
            as_of=("run", pd.to_datetime(per_run["as_of"], format="ISO8601").to_numpy()),
            created=("run", per_run["created"].astype(str).to_numpy()),
            method=("run", per_run["method"].astype(str).to_numpy()),
            publishable=("run", per_run["publishable"].astype(bool).to_numpy()))


def history(model_name: str, runs_dir: str | os.PathLike[str] = "runs", *,
            nodes: Sequence[str] | None = None) -> History:
    """Each scenario's probability and 90% interval over every valid run, oldest first.

    Parameters
    ----------
    model_name : str
        The model's name (``spec.name``): runs are read from ``runs_dir/<model_name>/``.
    runs_dir : path-like
        The run store folder.
    nodes : sequence of str, optional
        Only these nodes (e.g. the model's scenarios); by default every node in the runs.

    Returns
    -------
    History
        The table (:attr:`History.frame`), the damaged run folders skipped and a damaged
        ``LATEST`` (:attr:`History.problems`) and :meth:`History.to_xarray` for a (run, node,
        state) cube. A store that does not exist yet has no runs and no problems.

    Raises
    ------
    RunStoreError
        If ``runs_dir/<model_name>`` is not a folder that can be read (a file, a path under a
        file, no permission): no run can be listed.
    """
    store = RunStore(runs_dir, model_name)
    problem = store.folder_problem()
    if problem is not None:
        raise RunStoreError(f"{store.dir}: not a run store folder", [problem])
    scan = store.scan()
    return History(history_frame(scan.runs, nodes), list(scan.problems))


def history_frame(runs: Sequence[Run], nodes: Sequence[str] | None = None) -> pd.DataFrame:
    """:attr:`History.frame` of runs already read (e.g. by :meth:`RunStore.scan`).

    Parameters
    ----------
    runs : sequence of Run
        Valid runs, in the order the rows should have (:func:`history` gives them oldest
        first, in as-of order).
    nodes : sequence of str, optional
        Only these nodes; by default every node in the runs.

    Returns
    -------
    pandas.DataFrame
        One row per (run, node, state), with the columns :attr:`History.COLUMNS`.
    """
    frames = []
    for run in runs:
        table = run.summary
        if nodes is not None:
            table = table[table["node"].isin(list(nodes))]
        m = run.manifest
        frames.append(table.assign(run_id=run.run_id, as_of=m.get("as_of"),
                                   created=m.get("created"), method=m.get("method"),
                                   publishable=bool(m.get("publishable"))))
    columns = list(History.COLUMNS)
    return (pd.concat(frames, ignore_index=True)[columns] if frames else
            pd.DataFrame(columns=columns))
