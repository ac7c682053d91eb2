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
A store that cannot be written (a read-only folder or file system, a ``--runs`` under a file)
raises :class:`~forecast.errors.RunStoreError` saying so, never a bare ``OSError``; reading
needs no lock, so it serves reads as well as a writable one.

Reading a run checks it, and never follows anything out of the store: a run id must match
:data:`RUN_ID` (the form :meth:`RunStore.publish` gives: UTC time, ``-``, 8 hex digits) and
name a real folder of ``runs/<model>/`` (not a symbolic link); its manifest must be a JSON
object with every key of the right type, name this run and this model, and list
``posterior.nc`` and ``summary.csv`` (and only the files a run has), each a regular file whose
size and sha256 match; ``summary.csv`` must have the columns a summary has.
:meth:`RunStore.runs` lists valid runs and *reports* damaged ones in :attr:`RunStore.problems`
(and the log, at INFO: the callers show them, once), never raising. :meth:`RunStore.latest`
returns the run ``LATEST`` names when it reads cleanly; if ``LATEST`` is missing, is not a
small file holding a run id (a folder, a symbolic link, a path, bytes that are not text), or
names a damaged run, it falls back to the newest valid run (by run id) and reports why,
without ever printing what ``LATEST`` holds; ``None`` when there is no valid run. A complete
run whose update was killed after the rename but before ``LATEST`` was replaced is listed by
:meth:`RunStore.runs` but is not the latest while ``LATEST`` is valid.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
import os
import re
import shutil
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock, Timeout

from forecast._io import (
    TEMP_PREFIX,
    atomic_write,
    fsync_file,
    fsync_folder,
    restore_csv_text,
    safe_csv,
    temp_folder,
)
from forecast.errors import LockTimeout, Problem, RunStoreError, WriteFailure, did_you_mean
from forecast.evidence.ledger import read_rows, write_rows
from forecast.inference.result import Forecast
from forecast.inference.sequential import Checkpoint
from forecast.provenance import file_sha256, stable_hash

__all__ = ["RUN_ID", "CheckpointFolder", "Run", "RunScan", "RunStore", "inputs_hash", "is_run_id"]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
POSTERIOR = "posterior.nc"
SUMMARY = "summary.csv"
EVIDENCE = "evidence.csv"
LATEST = "LATEST"
CHECKPOINTS = ".checkpoints"
KEEP_CHECKPOINTS = 4
"""Checkpoints kept per model (the most recently written): one per sampler configuration."""
RUN_ID = re.compile(r"[0-9]{8}T[0-9]{12}Z-[0-9a-f]{8}")
"""A run id, as :meth:`RunStore.publish` makes it: the UTC creation time
(``%Y%m%dT%H%M%S%fZ``), ``-``, the first 8 hex digits of the inputs hash. Nothing else is ever
looked up in the store: not a path, not ``..``, not another folder."""
_RUN_ID_FORM = "YYYYMMDDTHHMMSSffffffZ-xxxxxxxx"
_FILES = (POSTERIOR, SUMMARY, EVIDENCE)
"""The files a run may list; anything else in a manifest's ``files`` is damage, never opened."""
_REQUIRED_FILES = (POSTERIOR, SUMMARY)
_SUMMARY_NUMBERS = ("mean", "hdi_5%", "hdi_95%")
_SUMMARY_COLUMNS = ("node", "state", *_SUMMARY_NUMBERS, "mcse")
_MAX_POINTER = 256
"""Bytes ``LATEST`` may have (a run id and a newline are 32)."""
_MAX_MANIFEST = 8 * 2**20
_UNWRITABLE = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
"""The errors of writing where this user or file system may not."""
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})
"""The errors of a disk that is full (or over quota, or failing) while a run is written."""
_REQUIRED = ("run_id", "model_name", "model_sha256", "ledger_sha256", "as_of", "seed", "method",
             "diagnostics", "publishable", "versions", "created", "inputs_hash", "files")


def is_run_id(text: object) -> bool:
    """Whether `text` is a run id (:data:`RUN_ID`), the only names the store looks up."""
    return isinstance(text, str) and RUN_ID.fullmatch(text) is not None


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


# ---------------------------------------------------------------------- checking manifests


def _is_sha(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) is not None


def _parses(parse: Callable[[str], object], pattern: str = ".*") -> Callable[[object], bool]:
    """A check that a value is text matching `pattern` that `parse` accepts."""
    def check(value: object) -> bool:
        if not isinstance(value, str) or re.fullmatch(pattern, value) is None:
            return False
        try:
            parse(value)
        except ValueError:
            return False
        return True
    return check


_is_day = _parses(dt.date.fromisoformat, r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_is_time = _parses(dt.datetime.fromisoformat)


def _is_text_or_null(value: object) -> bool:
    return value is None or isinstance(value, str)


def _is_diagnostics(value: object) -> bool:
    if not isinstance(value, dict):
        return False
    failed = value.get("failed", [])
    return isinstance(failed, list) and all(isinstance(x, str) for x in failed)


_MANIFEST_TYPES: dict[str, tuple[str, Callable[[object], bool]]] = {
    # required (every run has them)
    "run_id": ("a run id", is_run_id),
    "model_name": ("a string", lambda v: isinstance(v, str)),
    "model_sha256": ("a sha256 (64 hex digits)", _is_sha),
    "ledger_sha256": ("a sha256 or null", lambda v: v is None or _is_sha(v)),
    "as_of": ("a day (YYYY-MM-DD)", _is_day),
    "seed": ("a whole number of at least 0",
             lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0),
    "method": ("a string", lambda v: isinstance(v, str)),
    "diagnostics": ("an object whose 'failed' is a list of strings", _is_diagnostics),
    "publishable": ("true or false", lambda v: isinstance(v, bool)),
    "versions": ("an object", lambda v: isinstance(v, dict)),
    "created": ("an ISO time", _is_time),
    "inputs_hash": ("a sha256 (64 hex digits)", _is_sha),
    # optional (runs of earlier versions lack some)
    "model_path": ("a string or null", _is_text_or_null),
    "ledger_path": ("a string or null", _is_text_or_null),
    "model_hash": ("a string or null", _is_text_or_null),
    "evidence_hash": ("a string or null", _is_text_or_null),
    "method_reason": ("a string or null", _is_text_or_null),
    "scenarios": ("a list of strings",
                  lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)),
    "previous_run_id": ("a run id or null", lambda v: v is None or is_run_id(v)),
    "semantics": ("'dynamic' or 'snapshot'", lambda v: v in ("dynamic", "snapshot")),
    "options": ("an object or null", lambda v: v is None or isinstance(v, dict)),
}


def _json_type(value: object) -> str:
    """The JSON name of `value`'s type, for messages (never the value: it may be anything)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    for kind, name in ((str, "a string"), (int, "a number"), (float, "a number"),
                       (list, "a list"), (dict, "an object")):
        if isinstance(value, kind):
            return name
    return type(value).__name__  # pragma: no cover - json gives no other types


def _manifest_problems(manifest: dict, run_id: str, model_name: str,
                       where: str) -> list[Problem]:
    """Every way `manifest` (parsed JSON) is not the manifest of run `run_id` of `model_name`."""
    missing = [k for k in _REQUIRED if k not in manifest]
    problems = []
    if missing:
        problems.append(Problem(f"lacks {', '.join(missing)}", file=where))
    for key, (wanted, fits) in _MANIFEST_TYPES.items():
        if key in manifest and not fits(manifest[key]):
            problems.append(Problem(f"is {_json_type(manifest[key])}, not {wanted}", file=where,
                                    field=key))
    if problems:
        return problems
    if manifest["run_id"] != run_id:
        problems.append(Problem(f"names run {manifest['run_id']}, not this folder",
                                file=where, field="run_id"))
    if manifest["model_name"] != model_name:
        problems.append(Problem("names another model, not this store's", file=where,
                                field="model_name"))
    files = manifest["files"]
    if not isinstance(files, dict):
        return [*problems, Problem(f"is {_json_type(files)}, not an object of files", file=where,
                                   field="files")]
    for name, meta in files.items():
        if name not in _FILES:
            problems.append(Problem(f"lists {name[:40]!r}, which is not a file of a run "
                                    "(not opened)", file=where, field="files"))
        elif not (isinstance(meta, dict) and _is_sha(meta.get("sha256"))
                  and isinstance(meta.get("size"), int) and not isinstance(meta["size"], bool)
                  and meta["size"] >= 0):
            problems.append(Problem(f"is {_json_type(meta)}, not an object with a sha256 and a "
                                    "size in bytes", file=where, field=f"files.{name}"))
    for name in _REQUIRED_FILES:
        if name not in files:
            problems.append(Problem(f"does not list {name}, which every run has", file=where,
                                    field="files"))
    return problems


class _Unfit(Exception):
    """A store file that is not a regular file of a sensible size (the message says which)."""


def _read_small(path: Path, limit: int) -> bytes:
    """The bytes of the regular file `path` (at most `limit`), not following a symbolic link.

    Raises
    ------
    _Unfit
        If `path` is a symbolic link, a folder, not a regular file (a FIFO is never waited on),
        or larger than `limit` bytes.
    OSError
        If it cannot be opened (FileNotFoundError if it does not exist).
    """
    if path.is_symlink():
        raise _Unfit("is a symbolic link (not followed)")
    flags = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
             | getattr(os, "O_BINARY", 0))
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):  # replaced by a link since
            raise _Unfit("is a symbolic link (not followed)") from None
        if exc.errno == errno.EISDIR:
            raise _Unfit("is a folder, not a file") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise _Unfit("is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise _Unfit("is not a regular file")
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise _Unfit(f"is larger than {limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _read_summary(path: Path) -> pd.DataFrame:
    return restore_csv_text(pd.read_csv(path, keep_default_na=False,
                                        dtype={"node": str, "state": str}))


def _summary_problem(frame: pd.DataFrame, where: str) -> Problem | None:
    missing = [c for c in _SUMMARY_COLUMNS if c not in frame.columns]
    if missing:
        return Problem(f"lacks the column(s) {', '.join(missing)} of a summary", file=where)
    bad = [c for c in _SUMMARY_NUMBERS if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        return Problem(f"has values that are not numbers in {', '.join(bad)}", file=where)
    return None


# ---------------------------------------------------------------------- runs


@dataclass(frozen=True)
class Run:
    """One stored, checked run: its id, folder and manifest."""

    run_id: str
    path: Path
    manifest: dict
    _summary: pd.DataFrame | None = field(default=None, repr=False, compare=False)

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
        """The run's summary table (as ``Forecast.summary``), as read when the run was checked."""
        if self._summary is not None:
            return self._summary.copy()
        return _read_summary(self.summary_path)

    @property
    def evidence(self) -> pd.DataFrame:
        """The ledger rows the run's forecast used, as :func:`forecast.evidence.ledger.rows_as_of`.

        Raises
        ------
        RunStoreError
            If the run predates ``evidence.csv`` (runs made without a ledger store an empty
            table), its manifest does not list it, or it cannot be read.
        """
        path = self.path / EVIDENCE
        files = self.manifest.get("files")
        if not path.is_file() or not isinstance(files, dict) or EVIDENCE not in files:
            raise RunStoreError(f"{self.path}: the run has no {EVIDENCE}", [Problem(
                "missing: the run was made by a version that did not store the "
                "evidence it used", file=str(path), hint="update again to make a run that has it")])
        try:
            return read_rows(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RunStoreError(f"{self.path}: the run's {EVIDENCE} cannot be read", [Problem(
                f"unreadable ({type(exc).__name__})", file=str(path))]) from None

    def forecast(self) -> Forecast:
        """Load the posterior, checking its provenance against the manifest."""
        return Forecast.load(self.posterior_path, model_hash=self.manifest.get("model_hash"),
                             evidence_hash=self.manifest.get("evidence_hash"))


def as_of_order(run: Run) -> tuple[str, str]:
    """Sort key of runs in time: the as-of date, then the creation time (the run id)."""
    return (str(run.manifest["as_of"]), run.run_id)


@dataclass
class RunScan:
    """What :meth:`RunStore.scan` found: the valid runs and the damaged folders.

    Attributes
    ----------
    runs : list of Run
        Every valid run, oldest first: by as-of date, then by creation (:func:`as_of_order`),
        so a run backfilled today sits among the dates it forecasts.
    problems : list of Problem
        One or more per damaged run folder, which was skipped; one for a ``LATEST`` that is
        damaged or names no valid run; one for a store folder that cannot be read.
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

    # ------------------------------------------------------------------ the folder
    def folder_problem(self) -> Problem | None:
        """What makes ``root/<model>`` unusable as a store folder (None if it is fine or absent).

        A path under a regular file, a regular file in its place, or a folder this user
        cannot read.
        """
        where = str(self.dir)
        try:
            mode = self.dir.stat().st_mode
        except FileNotFoundError:
            return None  # no run yet: the first update makes it
        except NotADirectoryError:
            return Problem("is under a file, not in a folder", file=where,
                           hint="give --runs a folder, or a path where one can be made")
        except OSError as exc:
            return Problem(f"cannot be read ({exc.strerror})", file=where,
                           hint="give --runs a folder this user can read")
        if not stat.S_ISDIR(mode):
            return Problem("is a file, not a folder of runs", file=where,
                           hint="move the file away, or give --runs another folder")
        if not os.access(self.dir, os.R_OK | os.X_OK):
            return Problem("cannot be read (Permission denied)", file=where,
                           hint="give --runs a folder this user can read")
        return None

    def _unwritable(self, exc: OSError, doing: str) -> RunStoreError:
        reason = exc.strerror or type(exc).__name__
        return RunStoreError(f"{self.dir}: the run store cannot be written", [Problem(
            f"{doing}: {reason}", file=str(exc.filename or self.dir),
            hint="give --runs a folder this user can write to; a read-only store serves reads, "
                 "and updates whose inputs equal the latest run's")])

    def _make_folder(self) -> None:
        problem = self.folder_problem()
        if problem is not None:
            raise RunStoreError(f"{self.dir}: not a run store folder", [problem])
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._unwritable(exc, "cannot make the folder") from None

    def _latest_problem(self) -> Problem | None:
        """Why ``LATEST`` cannot be replaced (None if it can: missing, a file or a link)."""
        latest = self.dir / LATEST
        if latest.is_dir() and not latest.is_symlink():
            return Problem("is a folder, so it cannot be replaced by the new run's id",
                           file=str(latest), hint="remove the folder: LATEST is a one-line file")
        return None

    def check_writable(self) -> None:
        """Raise RunStoreError unless a run can be published here (before computing one).

        Raises
        ------
        RunStoreError
            If the store folder cannot be made or written, or ``LATEST`` is a folder.
        """
        self._ready_to_publish()
        if not os.access(self.dir, os.W_OK | os.X_OK):
            raise self._unwritable(PermissionError(errno.EACCES, os.strerror(errno.EACCES),
                                                   str(self.dir)), "cannot write a run")

    def _ready_to_publish(self) -> None:
        """Make the store folder; raise RunStoreError if ``LATEST`` cannot be replaced."""
        self._make_folder()
        problem = self._latest_problem()
        if problem is not None:
            raise RunStoreError(f"{self.dir}: cannot publish a run", [problem])

    # ------------------------------------------------------------------ locking
    def lock(self) -> FileLock:
        """The model's update lock (a context manager; creates the model folder).

        Raises
        ------
        RunStoreError
            If the model folder cannot be made (see :meth:`acquire` for the lock file).
        """
        self._make_folder()
        return FileLock(self.dir / ".lock", timeout=self.lock_timeout)

    def acquire(self) -> FileLock:
        """Enter the lock, or raise LockTimeout if another update holds it too long.

        Raises
        ------
        LockTimeout
            Another update held the lock past :attr:`lock_timeout`.
        RunStoreError
            The store cannot be written (the folder or the lock file cannot be made, or
            ``.lock`` is a folder or a symbolic link).
        """
        lock = self.lock()
        path = self.dir / ".lock"
        if path.is_symlink() or path.is_dir():
            raise RunStoreError(f"{self.dir}: the update lock cannot be taken", [Problem(
                f"is a {'symbolic link' if path.is_symlink() else 'folder'}, not the lock file "
                "(not followed)", file=str(path), hint="remove it: the next update makes it")])
        try:
            lock.acquire()
        except Timeout:
            raise LockTimeout(
                f"{self.dir}: another update holds the lock", [Problem(
                    f"still held after {self.lock_timeout:g} s", file=str(self.dir / ".lock"),
                    hint="wait for the running update to finish, then retry")]) from None
        except OSError as exc:
            raise self._unwritable(exc, "cannot take the update lock") from None
        return lock

    # ------------------------------------------------------------------ reading
    def read_run(self, run_id: str) -> Run:
        """Read and check one run; RunStoreError says what is wrong with a damaged one."""
        if not is_run_id(run_id):
            shown = repr(run_id)[:40] if isinstance(run_id, str) else _json_type(run_id)
            raise RunStoreError(f"{self.dir}: no run {shown}", [Problem(
                f"{shown} is not a run id ({_RUN_ID_FORM}), so it is not looked up",
                file=str(self.dir))])
        path = self.dir / run_id
        where = str(path)

        def damaged(*problems: Problem) -> RunStoreError:
            return RunStoreError(f"{where}: damaged run", list(problems))

        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            raise RunStoreError(f"{where}: not a run", [Problem("no such run folder",
                                                                file=where)]) from None
        except OSError as exc:
            raise damaged(Problem(f"cannot be read ({exc.strerror})", file=where)) from None
        if stat.S_ISLNK(mode):
            raise damaged(Problem("is a symbolic link, not a folder of the store (not followed)",
                                  file=where))
        if not stat.S_ISDIR(mode):
            raise damaged(Problem("is a file, not a run folder", file=where))
        manifest_path = path / MANIFEST
        try:
            raw = _read_small(manifest_path, _MAX_MANIFEST)
        except FileNotFoundError:
            raise RunStoreError(f"{where}: not a run", [Problem(f"no {MANIFEST}", file=where)]) \
                from None
        except _Unfit as exc:
            raise damaged(Problem(str(exc), file=str(manifest_path))) from None
        except OSError as exc:
            raise damaged(Problem(f"unreadable ({exc.strerror})", file=str(manifest_path))) \
                from None
        try:
            manifest = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise damaged(Problem("is not UTF-8 text", file=str(manifest_path))) from None
        except (ValueError, RecursionError) as exc:
            message = "is nested too deeply" if isinstance(exc, RecursionError) else \
                f"is not JSON ({exc})"
            raise damaged(Problem(message, file=str(manifest_path))) from None
        if not isinstance(manifest, dict):
            raise damaged(Problem(f"holds {_json_type(manifest)}, not a JSON object",
                                  file=str(manifest_path)))
        problems = _manifest_problems(manifest, run_id, self.model_name, str(manifest_path))
        if problems:
            raise damaged(*problems)
        try:
            problems = self._file_problems(path, manifest["files"])
            summary = None if problems else _read_summary(path / SUMMARY)
        except (OSError, ValueError) as exc:  # a file unreadable, or no CSV
            reason = exc.strerror if isinstance(exc, OSError) else type(exc).__name__
            raise damaged(Problem(f"cannot be read ({reason})", file=where)) from None
        if summary is not None and (bad := _summary_problem(summary, str(path / SUMMARY))):
            problems.append(bad)
        if problems:
            raise damaged(*problems)
        return Run(run_id, path, manifest, summary)

    @staticmethod
    def _file_problems(path: Path, files: dict) -> list[Problem]:
        problems = []
        for name, meta in files.items():
            file = path / name
            try:
                info = file.lstat()
            except FileNotFoundError:
                problems.append(Problem("is missing", file=str(file)))
                continue
            if stat.S_ISLNK(info.st_mode):
                problems.append(Problem("is a symbolic link, not a file of the run "
                                        "(not followed)", file=str(file)))
            elif not stat.S_ISREG(info.st_mode):
                problems.append(Problem("is not a regular file", file=str(file)))
            elif info.st_size != meta["size"]:
                problems.append(Problem(f"has {info.st_size} bytes, the manifest says "
                                        f"{meta['size']} (truncated?)", file=str(file)))
            elif file_sha256(file) != meta["sha256"]:
                problems.append(Problem("sha256 does not match the manifest", file=str(file)))
        return problems

    def scan(self) -> RunScan:
        """Every valid run (oldest first) and a problem for each damaged run folder.

        Also a problem for a store folder that cannot be read and for a ``LATEST`` that is
        damaged or names no valid run (:meth:`latest_id`); never raises.
        """
        scan = RunScan()
        problem = self.folder_problem()
        if problem is not None:
            scan.problems.append(problem)
            return scan
        if not self.dir.is_dir():
            return scan
        try:
            entries = sorted(os.scandir(self.dir), key=lambda e: e.name)
        except OSError as exc:
            scan.problems.append(Problem(f"cannot be listed ({exc.strerror})", file=str(self.dir)))
            return scan
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name == LATEST:
                continue
            if not is_run_id(name):
                try:
                    folder = entry.is_dir(follow_symlinks=False) or entry.is_symlink()
                except OSError:
                    folder = True
                if folder:  # stray files are ignored; stray folders and links are reported
                    scan.problems.append(Problem(f"is not a run (its name is not a run id, "
                                                 f"{_RUN_ID_FORM})", file=entry.path))
                continue
            try:
                scan.runs.append(self.read_run(name))
            except RunStoreError as err:
                scan.problems.extend(err.problems or [Problem(err.summary, file=entry.path)])
        scan.runs.sort(key=as_of_order)
        scan.problems.extend(self._pointer_problems({r.run_id for r in scan.runs}))
        return scan

    def _pointer_problems(self, valid: set[str]) -> list[Problem]:
        where = str(self.dir / LATEST)
        try:
            run_id = self.latest_id()
        except RunStoreError as err:
            return err.problems
        if run_id is None:
            return [Problem("is missing: the newest valid run is taken as the latest",
                            file=where)] if valid else []
        if run_id not in valid:
            return [Problem(f"names run {run_id}, which is not a valid run", file=where,
                            hint="readers use the newest valid run; the next update that "
                                 "publishes replaces LATEST")]
        return []

    def runs(self) -> list[Run]:
        """Valid runs, oldest first; damaged ones are skipped and put in :attr:`problems`."""
        scan = self.scan()
        self.problems = scan.problems
        for problem in self.problems:
            log.info("skipping damaged run: %s", problem)
        return scan.runs

    def latest_id(self) -> str | None:
        """The run id in ``LATEST``, or None if there is no pointer yet.

        Raises
        ------
        RunStoreError
            If ``LATEST`` is not a small regular file (a folder, a symbolic link, a FIFO) or does
            not hold a run id (:data:`RUN_ID`: not a path, not bytes that are not text). What
            it holds is never shown, and nothing it names is opened.
        """
        path = self.dir / LATEST
        where = str(path)

        def bad(message: str, hint: str = "readers use the newest valid run; the next update "
                                          "that publishes replaces LATEST") -> RunStoreError:
            return RunStoreError(f"{where}: not a pointer to a run",
                                 [Problem(message, file=where, hint=hint)])

        try:
            raw = _read_small(path, _MAX_POINTER)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except _Unfit as exc:
            hint = ("remove the folder: LATEST is a one-line file" if "folder" in str(exc) else
                    "readers use the newest valid run; the next update that publishes "
                    "replaces LATEST")
            raise bad(str(exc), hint) from None
        except OSError as exc:
            raise bad(f"cannot be read ({exc.strerror})") from None
        try:
            text = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            raise bad("holds bytes that are not a run id (not ASCII text)") from None
        if not text:
            raise bad("is empty")
        if not is_run_id(text):
            if "/" in text or "\\" in text or ".." in text:
                raise bad("holds a path, not a run id (not followed)")
            raise bad(f"does not hold a run id ({_RUN_ID_FORM})")
        return text

    def latest(self) -> Run | None:
        """The published run; see the module docstring for the fallback when it is damaged."""
        pointer: list[Problem] = []
        run_id = None
        try:
            run_id = self.latest_id()
        except RunStoreError as err:
            pointer = list(err.problems)
        if run_id is not None:
            try:
                run = self.read_run(run_id)
            except RunStoreError as err:
                pointer = err.problems or [Problem(err.summary, file=str(self.dir / run_id))]
            else:
                self.problems = []
                return run
        for problem in pointer:
            log.info("LATEST is damaged or names a damaged run: %s", problem)
        runs = self.runs()
        self.problems = pointer + [p for p in self.problems if p not in pointer]
        if not runs:
            return None
        if pointer:
            log.info("falling back to the newest valid run %s", runs[-1].run_id)
        return runs[-1]  # the newest as-of date (then the newest made): runs are in as-of order

    def pick(self, run: str, *, option: str = "--run") -> Run:
        """The run named by a user: ``"latest"`` or a run id, checked.

        Damaged runs skipped on the way are in :attr:`problems`.

        Parameters
        ----------
        run : str
            ``"latest"`` or a run id.
        option : str
            The option the user named it with, for the message.

        Raises
        ------
        RunStoreError
            If there is no valid run (for ``"latest"``) or no valid run of that id; the
            problem says whether it is missing or damaged, with the nearest ids.
        """
        if run == "latest":
            chosen = self.latest()
            if chosen is None:
                raise RunStoreError(f"{self.dir}: no published run of {self.model_name}", [
                    Problem("no valid run", file=str(self.dir),
                            hint="run forecast update first"), *self.problems])
            return chosen
        found = {r.run_id: r for r in self.runs()}
        if run not in found:
            ids = list(found)
            hint = did_you_mean(run, ids) or (f"the runs are {', '.join(ids[-5:])}" if ids
                                              else "run forecast update first")
            folder = str(self.dir / run)
            damaged = [p for p in self.problems if p.file is not None
                       and (p.file == folder or p.file.startswith(folder + os.sep))]
            raise RunStoreError(f"{self.dir}: no run '{run}'", [
                Problem("no such run" if not damaged else "the run is damaged", hint=hint,
                        field=f"{option} {run}"), *damaged])
        return found[run]

    # ------------------------------------------------------------------ writing
    def checkpoints(self) -> CheckpointFolder:
        """The model's IBIS checkpoints (use under the lock)."""
        return CheckpointFolder(self.dir / CHECKPOINTS)

    def clean_temporaries(self) -> None:
        """Remove temporary files and folders left by killed updates (call under the lock).

        Best effort: what cannot be removed (a read-only store) is left, with a warning in the
        log; temporaries are never listed as runs.
        """
        for folder in (self.dir, self.dir / CHECKPOINTS):
            try:
                if not folder.is_dir():
                    continue
                for entry in folder.iterdir():
                    if entry.name.startswith(TEMP_PREFIX):
                        if entry.is_dir() and not entry.is_symlink():
                            shutil.rmtree(entry, ignore_errors=True)
                        else:
                            entry.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("cannot remove the temporaries in %s: %s", folder, exc)

    def publish(self, forecast: Forecast, manifest: dict,
                evidence: pd.DataFrame | None = None, *, make_latest: bool = True) -> Run:
        """Write a run and point ``LATEST`` at it, atomically (call under the lock).

        `manifest` gets ``run_id``, ``created`` and ``files`` added; `evidence` (the rows of
        :func:`forecast.evidence.ledger.rows_as_of`) is stored as ``evidence.csv``. If anything
        fails before ``LATEST`` is replaced, nothing of the new run remains and ``LATEST`` is
        unchanged. With ``make_latest=False`` (a backfill) the run is written and listed but
        ``LATEST`` is left as it is.

        Raises
        ------
        RunStoreError
            If the store cannot be written (permissions, a read-only file system, ``LATEST`` a
            folder): nothing of the new run remains.
        """
        self._ready_to_publish()
        created = dt.datetime.now(dt.UTC)
        run_id = f"{created:%Y%m%dT%H%M%S%fZ}-{manifest['inputs_hash'][:8]}"
        final = self.dir / run_id
        try:
            tmp = temp_folder(self.dir, run_id)
        except OSError as exc:
            if exc.errno in _UNWRITABLE:
                raise self._unwritable(exc, "cannot write a run") from None
            raise
        renamed = False
        try:
            forecast.save(tmp / POSTERIOR)
            safe_csv(forecast.summary, tmp / SUMMARY)
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
            if make_latest:
                self._point_latest(run_id)
        except BaseException as exc:
            shutil.rmtree(final if renamed else tmp, ignore_errors=True)
            if isinstance(exc, OSError) and exc.errno in _UNWRITABLE:
                raise self._unwritable(exc, "cannot write a run") from None
            if isinstance(exc, OSError) and exc.errno in _NO_ROOM:
                raise WriteFailure(
                    f"{self.dir}: the run could not be written; nothing was published and the "
                    "previous run is intact", [Problem(
                        f"writing {Path(exc.filename).name if exc.filename else 'the run'}: "
                        f"{exc.strerror or exc}", file=str(self.dir),
                        hint="free space on this disk (or raise the quota), then run the same "
                             "update again")]) from None
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
        """Write `checkpoint` under `key` atomically; drop the oldest beyond the limit.

        A checkpoint only saves time: if it cannot be written (a read-only or full disk) the
        log says so and the update goes on.
        """
        arrays = checkpoint.to_arrays()

        def write(path: Path) -> None:
            with open(path, "wb") as handle:
                np.savez(handle, **arrays)  # type: ignore[arg-type]

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write(self.folder / f"{key}.npz", write)
            kept = sorted(self.folder.glob("*.npz"), key=lambda p: p.stat().st_mtime,
                          reverse=True)
            for old in kept[KEEP_CHECKPOINTS:]:
                old.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not keep a checkpoint in %s (%s); the next update will start "
                        "from the first step", self.folder, exc)
