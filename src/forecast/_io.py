"""Files, written and read one way everywhere: atomic writes and checked CSV.

**Writing.** Nothing is rewritten in place. :func:`atomic_write` writes a temporary file in the
target's folder, optionally fsyncs it, renames it over the target (``os.replace``, atomic on
POSIX) and, with fsync, fsyncs the folder so the rename survives a power cut. A reader sees the
old file or the new one, never half of one; a killed writer leaves a ``.tmp-*`` file that
nothing lists. Temporary files and folders are created with the modes an ordinary ``open`` or
``mkdir`` would give (``0o666`` and ``0o777`` less the umask), so what the scheduler's user
writes, other analysts can read unless the umask says otherwise.

**Exporting.** Every CSV the package writes for analysts goes through :func:`safe_csv`: a
text cell that a spreadsheet would run as a formula (a leading ``=``, ``+``, ``-``, ``@``, tab
or carriage return) gets a leading ``'``, and :func:`restore_csv_text` undoes it on reading.

**Reading.** :func:`read_checked_csv` reads a CSV input file (ledgers, question files) into
records numbered by their line in the file, after checking the header against the expected
columns. Blank lines (no cell with anything but spaces) are skipped by every reader alike.
A file that is not UTF-8 text (a ``.gz`` or spreadsheet given by mistake) is one clear error
naming the file.

Standard library only: the layer every other imports.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import secrets
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from forecast.errors import EvidenceError, Problem, did_you_mean

__all__ = [
    "MAX_INPUT_BYTES",
    "TEMP_PREFIX",
    "CheckedCsv",
    "atomic_write",
    "check_header",
    "fsync_file",
    "fsync_folder",
    "open_input",
    "read_checked_csv",
    "restore_csv_text",
    "safe_csv",
    "spreadsheet_safe",
    "spreadsheet_text",
    "temp_folder",
]

TEMP_PREFIX = ".tmp-"
"""Names of temporary files and folders start with this (hidden; a cleanup may remove them)."""

_FILE_MODE = 0o666  # less the umask, as open() does
_FOLDER_MODE = 0o777  # less the umask, as mkdir does

Writer = Callable[[Path], object]
"""Writes the content to the path it is given (a temporary file that then replaces the target)."""


# --- writing --------------------------------------------------------------------------------------


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Flush a file's bytes to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(path: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (names created, renamed or removed) to the disk."""
    fsync_file(path)  # a folder opened read-only can be fsynced like a file


def _temp_name(folder: Path, name: str) -> Path:
    return folder / f"{TEMP_PREFIX}{name}.{secrets.token_hex(6)}"


def _temp_file(folder: Path, name: str) -> Path:
    """Create an empty, unique temporary file next to `name` (mode ``0o666`` less the umask)."""
    while True:
        path = _temp_name(folder, name)
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE))
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
        return path


def temp_folder(parent: str | os.PathLike[str], name: str = "") -> Path:
    """Create a unique temporary folder in `parent` (mode ``0o777`` less the umask).

    Parameters
    ----------
    parent : path-like
        An existing folder; the temporary folder is renamed inside it when complete.
    name : str
        Part of the folder's name, for whoever finds it left behind.

    Returns
    -------
    pathlib.Path
        The new, empty folder, named ``.tmp-<name>.<random>``.
    """
    while True:
        path = _temp_name(Path(parent), name)
        try:
            os.mkdir(path, _FOLDER_MODE)
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
        return path


def atomic_write(path: str | os.PathLike[str], content: bytes | str | Writer, *,
                 fsync: bool = False, encoding: str = "utf-8") -> Path:
    """Write a file atomically: a temporary file in the same folder, then a rename.

    Parameters
    ----------
    path : path-like
        The target; its folder must exist. An existing file is replaced.
    content : bytes, str or callable
        The bytes, the text (encoded with `encoding`), or a function that writes the file at
        the path it is given (e.g. ``frame.to_csv``, ``dataset.to_netcdf``, ``fig.savefig``).
    fsync : bool
        Flush the file before the rename and the folder after it, so the new file survives a
        crash of the machine, not only of the process.
    encoding : str
        Encoding of text `content`.

    Returns
    -------
    pathlib.Path
        `path`.

    Notes
    -----
    The file gets mode ``0o666`` less the umask, as ``open`` would give it. If writing fails
    the temporary file is removed and the target is untouched.
    """
    path = Path(path)
    tmp = _temp_file(path.parent, path.name)
    try:
        if callable(content):
            content(tmp)
        else:
            tmp.write_bytes(content.encode(encoding) if isinstance(content, str) else content)
        if fsync:
            fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if fsync:
        fsync_folder(path.parent)
    return path


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
"""What a spreadsheet may read as the start of a formula (and the escape itself)."""


def spreadsheet_safe(value: object) -> object:
    """A text cell a spreadsheet will show, not run: ``'`` before a leading ``=+-@``, tab or CR.

    A leading ``'`` is doubled too, so :func:`spreadsheet_text` undoes it exactly. Anything
    that is not a string is returned as it is.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def spreadsheet_text(value: object) -> object:
    """Undo :func:`spreadsheet_safe`: the cell as it was before it was written."""
    if isinstance(value, str) and value.startswith("'"):
        return value[1:]
    return value


def safe_csv(frame: Any, path: str | os.PathLike[str]) -> None:
    """Write `frame` (a pandas DataFrame) as CSV with its text cells :func:`spreadsheet_safe`.

    Every CSV the package exports (a run's ``evidence.csv`` and ``summary.csv``, a replay) is
    written so: analysts open them in spreadsheets, and a ledger cell such as
    ``=HYPERLINK(...)`` or ``+cmd|...`` must not become a formula there. Readers of those files
    apply :func:`spreadsheet_text` to get the cells back exactly.
    """
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype.kind == "O":  # object and string columns: where text is
            out[column] = out[column].map(spreadsheet_safe, na_action="ignore")
    out.to_csv(path, index=False)


def restore_csv_text(frame: Any, columns: Sequence[str] | None = None) -> Any:
    """The text columns of a frame read from a :func:`safe_csv` file, with their cells restored."""
    for column in frame.columns if columns is None else columns:
        if column in frame.columns and frame[column].dtype.kind == "O":
            frame[column] = frame[column].map(spreadsheet_text, na_action="ignore")
    return frame


# --- reading --------------------------------------------------------------------------------------


@dataclass
class CheckedCsv:
    """A CSV file as read by :func:`read_checked_csv`.

    Attributes
    ----------
    name : str
        The file's name, as given (for problems' locations).
    header : list of str
        The header's cells, stripped.
    records : list of (int, dict)
        Per data record of the header's width: its first line in the file and its cells by
        column name (as written, not stripped).
    problems : list of Problem
        The header's problems, records of the wrong width and cells spanning lines.
    sha256 : str
        SHA-256 of the bytes read: the file's provenance fingerprint, of exactly what was
        parsed (an edit after the read cannot change it).
    """

    name: str
    header: list[str]
    records: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    sha256: str = ""


def read_checked_csv(path: str | os.PathLike[str], columns: Sequence[str], *,
                     what: str = "file", optional: Sequence[str] = ()) -> CheckedCsv:
    """Read a CSV input file, check its header and number its records by line.

    Parameters
    ----------
    path : path-like
        The file: UTF-8 text (a byte-order mark is allowed), header on its first non-blank
        line.
    columns : sequence of str
        The columns the file must have, in any order.
    what : str
        What the file is (``"ledger"``, ``"questions file"``), for the messages.
    optional : sequence of str
        Columns the file may have; a record of a file without one has no key for it.

    Returns
    -------
    CheckedCsv
        Records and problems; the caller validates the cells and raises once with every
        problem.

    Raises
    ------
    EvidenceError
        If the file is missing, unreadable, not UTF-8 text (compressed, a spreadsheet), not
        valid CSV, or has no header.
    """
    name = os.fspath(path)
    data = _read_bytes(Path(path), name, what)
    text = _decode(data, name, what)
    reader = csv.reader(io.StringIO(text, newline=""))
    out: CheckedCsv | None = None
    start = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):  # blank lines are skipped, always
                if out is None:
                    header = [cell.strip() for cell in cells]
                    out = CheckedCsv(name, header, problems=check_header(header, name, columns,
                                                                           optional),
                                     sha256=hashlib.sha256(data).hexdigest())
                else:
                    _add_record(out, cells, start, reader.line_num)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise EvidenceError(f"{name}:{start}: not valid CSV: {exc}") from None
    if out is None:
        raise EvidenceError(f"{name}: the {what} is empty")
    return out


def _add_record(out: CheckedCsv, cells: list[str], start: int, end: int) -> None:
    if end > start:
        out.problems.append(Problem(
            f"a cell spans lines {start}-{end}", file=out.name, line=start,
            hint="keep every row on one line (close the quote; no line breaks inside a cell)"))
    if len(cells) != len(out.header):
        out.problems.append(Problem(
            f"has {len(cells)} fields, the header has {len(out.header)}", file=out.name,
            line=start, hint="quote any cell that contains a comma"))
        return
    out.records.append((start, dict(zip(out.header, cells, strict=True))))


MAX_INPUT_BYTES = 50_000_000
"""Most bytes a CSV input (a ledger, a questions file) may have: about 200,000 rows of 250
characters, far above any real ledger; the reader stops there, so a device such as
``/dev/zero`` given by mistake cannot exhaust memory."""


def open_input(name: str | os.PathLike[str]) -> BinaryIO:
    """Open an input file for reading, refusing a named pipe (FIFO), which would block forever.

    The file is opened without blocking, so a FIFO with no writer opens at once and is refused
    by its type; anything else is read as usual (a device such as ``/dev/zero`` too: callers
    cap what they read).

    Raises
    ------
    OSError
        If the file cannot be opened, or is a FIFO.
    """
    fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            raise OSError(f"{os.fspath(name)} is a named pipe (FIFO), not a file")
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_bytes(path: Path, name: str, what: str) -> bytes:
    try:
        with open_input(path) as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError:
        file = what if what.endswith("file") else f"{what} file"
        raise EvidenceError(f"{name}: no such {file}") from None
    except OSError as exc:
        raise EvidenceError(f"{name}: cannot read the {what}: {exc.strerror or exc}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise EvidenceError(f"{name}: the {what} is larger than {MAX_INPUT_BYTES:,} bytes", [
            Problem(f"is larger than {MAX_INPUT_BYTES:,} bytes (not a {what}?)", file=name,
                    hint=f"give the {what} as a CSV file of at most {MAX_INPUT_BYTES:,} "
                         "bytes")])
    return data


def _decode(data: bytes, name: str, what: str) -> str:
    kind = ("gzip-compressed" if data[:2] == b"\x1f\x8b" else
            "a zip archive (a spreadsheet?)" if data[:4] == b"PK\x03\x04" else None)
    if kind is None:
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            kind = f"not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x})"
    raise EvidenceError(f"{name}: cannot read the {what}: the file is {kind}", [Problem(
        f"is {kind}", file=name, hint=f"give the {what} as a plain UTF-8 CSV file")])


def check_header(header: Sequence[str], name: str, columns: Sequence[str],
                 optional: Sequence[str] = ()) -> list[Problem]:
    """Problems with a CSV file's header line: repeated, unknown and missing columns.

    Parameters
    ----------
    header : sequence of str
        The column names as read.
    name : str
        The file's name, for the problems' location (line 1).
    columns : sequence of str
        The columns the file must have, in any order.
    optional : sequence of str
        Columns the file may have.

    Returns
    -------
    list of Problem
        Empty if the header is right; unknown columns get a "did you mean" hint.
    """
    problems = []
    seen: set[str] = set()
    for column in header:
        if column in seen:
            problems.append(Problem(f"column '{column}' appears twice", file=name, line=1,
                                    hint="keep one column of each name"))
        seen.add(column)
    missing = [c for c in columns if c not in seen]
    known = [*columns, *optional]
    for column in sorted(seen - set(known)):
        hint = did_you_mean(column, missing or known)
        problems.append(Problem(f"unknown column '{column}'", file=name, line=1,
                                hint=hint or f"the columns are {', '.join(known)}"))
    for column in missing:
        problems.append(Problem(f"missing column '{column}'", file=name, line=1,
                                hint=f"the columns are {', '.join(columns)}"))
    return problems
