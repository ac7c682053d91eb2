"""A versioned store of forecast runs, published atomically.

Layout (one folder per model, one per run)::

    runs/<model>/
        .lock                      filelock: one update at a time per model (LockTimeout)
        LATEST                     the published run's id (one line), replaced atomically
        <run-id>/                  run-id = UTC creation time + inputs-hash prefix (sorts by age)
            manifest.json          every input hash, as-of, seed, method, diagnostics, versions,
                                   created time, inputs_hash, and the sha256 of each file below
            posterior.nc           the Forecast (``Forecast.save``)
            summary.csv            ``Forecast.summary``
            evidence.csv           the ledger rows that counted (``evidence.rows_as_of``)
        .checkpoints/<key>.npz     the dynamic model's particle system after the last closed
                                   step an update assimilated (:class:`CheckpointFolder`)

Publishing (:meth:`RunStore.publish`) writes everything into a hidden temporary folder inside
``runs/<model>/`` (:func:`forecast._io.temp_folder`), fsyncs each file and the folder,
``os.rename`` s the folder to its run id and then replaces ``LATEST`` with
:func:`forecast._io.atomic_write` (a temporary file, fsync, rename). Files and folders get the
modes ``open`` and ``mkdir`` give (``0o666``/``0o777`` less the umask), so other analysts can
read the runs unless the umask says otherwise. Nothing is ever rewritten in place, so a kill at
any moment leaves the previous ``LATEST`` and its run intact. Leftover temporaries of killed
updates (``.tmp-*``) are never listed and are removed by the next update, under the lock.

Reading a run checks it: the manifest must parse, name this run and list files whose sizes and
sha256 match. :meth:`RunStore.runs` lists valid runs and *reports* damaged ones in
:attr:`RunStore.problems` (and the log), never raising. :meth:`RunStore.latest` returns the run
``LATEST`` names when it reads cleanly; if ``LATEST`` is missing, unreadable or names a damaged
run, it falls back to the newest valid run (by run id) and reports why; ``None`` when there is
no valid run. A complete run whose update was killed after the rename but before ``LATEST``
was replaced is listed by :meth:`RunStore.runs` but is not the latest while ``LATEST`` is valid.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock, Timeout

from forecast._io import TEMP_PREFIX, atomic_write, fsync_file, fsync_folder, temp_folder
from forecast.errors import LockTimeout, Problem, RunStoreError
from forecast.evidence.ledger import read_rows, write_rows
from forecast.inference.result import Forecast
from forecast.inference.sequential import Checkpoint
from forecast.provenance import file_sha256, stable_hash

__all__ = ["CheckpointFolder", "Run", "RunScan", "RunStore", "inputs_hash"]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
POSTERIOR = "posterior.nc"
SUMMARY = "summary.csv"
EVIDENCE = "evidence.csv"
LATEST = "LATEST"
CHECKPOINTS = ".checkpoints"
KEEP_CHECKPOINTS = 4
"""Checkpoints kept per model (the most recently written): one per sampler configuration."""
_REQUIRED = ("run_id", "model_name", "model_sha256", "ledger_sha256", "as_of", "seed", "method",
             "diagnostics", "publishable", "versions", "created", "inputs_hash", "files")


def inputs_hash(model_sha256: str, ledger_sha256: str | None, as_of: str, seed: int,
                options: dict | None = None) -> str:
    """The fingerprint of an update's inputs: equal fingerprints, identical forecasts.

    `options` are the settings that change the forecast besides the files (the semantics,
    particles, grades, non-occurrence); the snapshot semantics with default settings passes
    none, so the fingerprints of runs made before options existed still match.
    """
    given: dict[str, object] = {"model": model_sha256, "ledger": ledger_sha256, "as_of": as_of,
                                "seed": int(seed)}
    if options:
        given["options"] = dict(options)
    return stable_hash(given)


@dataclass(frozen=True)
class Run:
    """One stored, checked run: its id, folder and manifest."""

    run_id: str
    path: Path
    manifest: dict

    @property
    def posterior_path(self) -> Path:
        """The run's netCDF posterior."""
        return self.path / POSTERIOR

    @property
    def summary_path(self) -> Path:
        """The run's summary CSV."""
        return self.path / SUMMARY

    @property
    def summary(self) -> pd.DataFrame:
        """The run's summary table (as ``Forecast.summary``)."""
        return pd.read_csv(self.summary_path, keep_default_na=False,
                           dtype={"node": str, "state": str})

    @property
    def evidence(self) -> pd.DataFrame:
        """The ledger rows the run's forecast used, as :func:`forecast.evidence.ledger.rows_as_of`.

        Raises
        ------
        RunStoreError
            If the run predates ``evidence.csv`` (runs made without a ledger store an empty
            table).
        """
        path = self.path / EVIDENCE
        if not path.is_file():
            raise RunStoreError(f"{self.path}: the run has no {EVIDENCE}", [Problem(
                "missing: the run was made by a version that did not store the "
                "evidence it used", file=str(path), hint="update again to make a run that has it")])
        return read_rows(path)

    def forecast(self) -> Forecast:
        """Load the posterior, checking its provenance against the manifest."""
        return Forecast.load(self.posterior_path, model_hash=self.manifest.get("model_hash"),
                             evidence_hash=self.manifest.get("evidence_hash"))


@dataclass
class RunScan:
    """What :meth:`RunStore.scan` found: the valid runs and the damaged folders.

    Attributes
    ----------
    runs : list of Run
        Every valid run, oldest first.
    problems : list of Problem
        One or more per damaged run folder, which was skipped.
    """

    runs: list[Run] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class RunStore:
    """The runs of one model under `root` (``root/<model_name>/``).

    Parameters
    ----------
    root : path-like
        The runs folder, e.g. ``runs``.
    model_name : str
        The model's name (``spec.name``).
    lock_timeout : float
        Seconds to wait for another update's lock before giving up.
    """

    def __init__(self, root: str | os.PathLike[str], model_name: str, *,
                 lock_timeout: float = 60.0) -> None:
        self.root = Path(root)
        self.model_name = model_name
        self.dir = self.root / model_name
        self.lock_timeout = lock_timeout
        self.problems: list[Problem] = []

    # ------------------------------------------------------------------ locking
    def lock(self) -> FileLock:
        """The model's update lock (a context manager; creates the model folder)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        return FileLock(self.dir / ".lock", timeout=self.lock_timeout)

    def acquire(self) -> FileLock:
        """Enter the lock, or raise LockTimeout if another update holds it too long."""
        lock = self.lock()
        try:
            lock.acquire()
        except Timeout:
            raise LockTimeout(
                f"{self.dir}: another update holds the lock", [Problem(
                    f"still held after {self.lock_timeout:g} s", file=str(self.dir / ".lock"),
                    hint="wait for the running update to finish, then retry")]) from None
        return lock

    # ------------------------------------------------------------------ reading
    def read_run(self, run_id: str) -> Run:
        """Read and check one run; RunStoreError says what is wrong with a damaged one."""
        path = self.dir / run_id
        where = str(path)
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunStoreError(f"{where}: not a run", [Problem("no manifest.json", file=where)]) \
                from None
        except (OSError, ValueError) as exc:
            raise RunStoreError(f"{where}: damaged run", [
                Problem(f"unreadable ({exc})", file=f"{where}/{MANIFEST}")]) from None
        problems = []
        if not isinstance(manifest, dict):
            manifest = {}
        missing = [k for k in _REQUIRED if k not in manifest]
        if missing:
            problems.append(Problem(f"lacks {', '.join(missing)}", file=f"{where}/{MANIFEST}"))
        elif manifest["run_id"] != run_id:
            problems.append(Problem(f"names run {manifest['run_id']!r}, not this folder",
                                    file=f"{where}/{MANIFEST}"))
        else:
            for name, meta in manifest["files"].items():
                file = path / name
                if not file.is_file():
                    problems.append(Problem("is missing", file=str(file)))
                elif file.stat().st_size != meta.get("size"):
                    problems.append(Problem(f"has {file.stat().st_size} bytes, the manifest "
                                            f"says {meta.get('size')} (truncated?)",
                                            file=str(file)))
                elif file_sha256(file) != meta.get("sha256"):
                    problems.append(Problem("sha256 does not match the manifest",
                                            file=str(file)))
        if problems:
            raise RunStoreError(f"{where}: damaged run", problems)
        return Run(run_id, path, manifest)

    def scan(self) -> RunScan:
        """Every valid run (oldest first) and a problem for each damaged run folder."""
        scan = RunScan()
        if not self.dir.is_dir():
            return scan
        for entry in sorted(self.dir.iterdir()):
            if not entry.is_dir() or entry.name.startswith("."):
                continue
            try:
                scan.runs.append(self.read_run(entry.name))
            except RunStoreError as err:
                scan.problems.extend(err.problems or [Problem(err.summary, file=str(entry))])
        return scan

    def runs(self) -> list[Run]:
        """Valid runs, oldest first; damaged ones are skipped and put in :attr:`problems`."""
        scan = self.scan()
        self.problems = scan.problems
        for problem in self.problems:
            log.warning("skipping damaged run: %s", problem)
        return scan.runs

    def latest_id(self) -> str | None:
        """The run id in ``LATEST``, or None if there is no pointer yet."""
        try:
            text = (self.dir / LATEST).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return text or None

    def latest(self) -> Run | None:
        """The published run; see the module docstring for the fallback when it is damaged."""
        self.problems = []
        run_id = self.latest_id()
        if run_id is not None:
            try:
                return self.read_run(run_id)
            except RunStoreError as err:
                self.problems = err.problems or [Problem(err.summary, file=str(self.dir / run_id))]
                for problem in self.problems:
                    log.warning("LATEST names a damaged run: %s", problem)
        pointer_problems = self.problems
        runs = self.runs()
        self.problems = pointer_problems + self.problems
        if not runs:
            return None
        if run_id is not None:
            log.warning("falling back to the newest valid run %s", runs[-1].run_id)
        return runs[-1]

    # ------------------------------------------------------------------ writing
    def checkpoints(self) -> CheckpointFolder:
        """The model's IBIS checkpoints (use under the lock)."""
        return CheckpointFolder(self.dir / CHECKPOINTS)

    def clean_temporaries(self) -> None:
        """Remove temporary files and folders left by killed updates (call under the lock)."""
        for folder in (self.dir, self.dir / CHECKPOINTS):
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                if entry.name.startswith(TEMP_PREFIX):
                    if entry.is_dir():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)

    def publish(self, forecast: Forecast, manifest: dict,
                evidence: pd.DataFrame | None = None) -> Run:
        """Write a run and point ``LATEST`` at it, atomically (call under the lock).

        `manifest` gets ``run_id``, ``created`` and ``files`` added; `evidence` (the rows of
        :func:`forecast.evidence.ledger.rows_as_of`) is stored as ``evidence.csv``. If anything
        fails before ``LATEST`` is replaced, nothing of the new run remains and ``LATEST`` is
        unchanged.
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        created = dt.datetime.now(dt.UTC)
        run_id = f"{created:%Y%m%dT%H%M%S%fZ}-{manifest['inputs_hash'][:8]}"
        final = self.dir / run_id
        tmp = temp_folder(self.dir, run_id)
        renamed = False
        try:
            forecast.save(tmp / POSTERIOR)
            forecast.summary.to_csv(tmp / SUMMARY, index=False)
            names = [POSTERIOR, SUMMARY]
            if evidence is not None:
                write_rows(evidence, tmp / EVIDENCE)
                names.append(EVIDENCE)
            files = {}
            for name in names:
                fsync_file(tmp / name)
                files[name] = {"sha256": file_sha256(tmp / name),
                               "size": (tmp / name).stat().st_size}
            manifest = {**manifest, "run_id": run_id, "created": created.isoformat(),
                        "files": files}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True,
                                                   default=str) + "\n", encoding="utf-8")
            fsync_file(tmp / MANIFEST)
            fsync_folder(tmp)
            os.rename(tmp, final)
            renamed = True
            fsync_folder(self.dir)
            self._point_latest(run_id)
        except BaseException:
            shutil.rmtree(final if renamed else tmp, ignore_errors=True)
            raise
        return Run(run_id, final, manifest)

    def _point_latest(self, run_id: str) -> None:
        atomic_write(self.dir / LATEST, run_id + "\n", fsync=True)


class CheckpointFolder:
    """Where a model's updates keep their particle systems between processes.

    A scheduled update re-reads a record that has grown by a step or not at all since the last
    one; the sequential sampler's state after the last closed step (a
    :class:`~forecast.inference.sequential.Checkpoint`) lets the next update assimilate only
    what is new. One file per sampler configuration (``<key>.npz``: model, priors, options,
    seed, particles), replaced atomically; at most :data:`KEEP_CHECKPOINTS` are kept. A file
    that cannot be read, or whose record differs from today's before its step, is not used
    (a warning in the log, the record re-run from its first step): a checkpoint can save time,
    never change a result.

    Parameters
    ----------
    folder : path-like
        ``runs/<model>/.checkpoints`` (created on first write).
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def find(self, key: str, record: list[str]) -> Checkpoint | None:
        """The checkpoint under `key` if its steps' record is the start of `record`."""
        path = self.folder / f"{key}.npz"
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as arrays:
                found = Checkpoint.from_arrays(dict(arrays))
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
            log.warning("ignoring unreadable checkpoint %s: %s", path, exc)
            return None
        if list(found.record) != record[:len(found.record)]:
            return None  # a row before the checkpoint's step changed: start from the beginning
        return found

    def keep(self, key: str, checkpoint: Checkpoint) -> None:
        """Write `checkpoint` under `key` atomically; drop the oldest beyond the limit."""
        self.folder.mkdir(parents=True, exist_ok=True)
        arrays = checkpoint.to_arrays()

        def write(path: Path) -> None:
            with open(path, "wb") as handle:
                np.savez(handle, **arrays)  # type: ignore[arg-type]

        atomic_write(self.folder / f"{key}.npz", write)
        kept = sorted(self.folder.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[KEEP_CHECKPOINTS:]:
            old.unlink(missing_ok=True)
