"""Evidence ledgers: read and validate a dated, sourced CSV of findings about a model's nodes.

A ledger (``data/<name>.csv``, schema in ``data/README.md``) has one row per finding::

    id,date,node,state,likelihood,grade,source,url,note
    E001,2014-06-10,isis_core_territory,holding,,B1,VICE News,https://...,ISIS overruns Mosul...
    E004,2014-07-06,ttp_relocation,,0.4;0.6,B3,Dawn,https://...,Refugees into Khost; soft.

A row observes one node either as a hard ``state`` or as a soft ``likelihood`` (one non-negative
number per state, in the node's state order), never both. ``grade`` is an Admiralty code: the
source's reliability ``A``-``F`` and the report's credibility ``1``-``6``.

:func:`load_ledger` reads the file with pandas (every cell as text, empty cells stay empty),
checks every row with a pydantic model plus the rules that span rows or need the model, and
either returns a typed :class:`pandas.DataFrame` or raises one
:class:`~forecast.errors.EvidenceError` listing every problem with its file line (the header is
line 1), what is wrong and how to fix it. Loading never writes or modifies anything.
:func:`ledger_hash` fingerprints the file's bytes for run provenance.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from forecast.errors import EvidenceError, Problem, did_you_mean
from forecast.spec import ModelSpec

__all__ = ["COLUMNS", "LedgerRow", "ledger_hash", "load_ledger"]

COLUMNS: tuple[str, ...] = (
    "id", "date", "node", "state", "likelihood", "grade", "source", "url", "note",
)
"""The ledger's columns, in the order the schema documents them (any order is accepted)."""

_GRADE_HINT = "an Admiralty code: reliability A-F then credibility 1-6, e.g. B2"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TEXT = Annotated[str, Field(min_length=1)]
_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


class LedgerRow(BaseModel):
    """One ledger row, checked on its own (rules that need other rows or the model are not here).

    Pass ``context={"today": date}`` to :meth:`model_validate` to reject dates after ``today``.
    Every field is required and extra fields are forbidden, so a row must carry exactly the
    ledger's columns.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    id: Annotated[str, Field(min_length=1, pattern=r"^\S+$")]
    date: dt.date
    node: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]
    state: str | None
    likelihood: tuple[float, ...] | None
    grade: str
    source: _TEXT
    url: str
    note: _TEXT

    @field_validator("date", mode="before")
    @classmethod
    def _iso_date(cls, value: object, info: ValidationInfo) -> dt.date:
        text = str(value).strip()
        if not _ISO_DATE.match(text):
            raise ValueError(f"'{text}' is not an ISO date (write YYYY-MM-DD, e.g. 2015-08-24)")
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"'{text}' is not a real calendar date") from None
        today = (info.context or {}).get("today")
        if today is not None and day > today:
            raise ValueError(
                f"{text} is in the future (today is {today}); a ledger records findings "
                "that were already public"
            )
        return day

    @field_validator("state", mode="before")
    @classmethod
    def _blank_state(cls, value: object) -> str | None:
        text = str(value or "").strip()
        return text or None

    @field_validator("likelihood", mode="before")
    @classmethod
    def _likelihood(cls, value: object) -> tuple[float, ...] | None:
        text = str(value or "").strip()
        if not text:
            return None
        numbers = []
        for part in text.split(";"):
            try:
                number = float(part)
            except ValueError:
                raise ValueError(
                    f"'{part.strip()}' in '{text}' is not a number (write numbers separated "
                    "by ';', e.g. 0.3;0.7)"
                ) from None
            if not math.isfinite(number) or number < 0:
                raise ValueError(f"{part.strip()} in '{text}' must be a finite number >= 0")
            numbers.append(number)
        if not any(numbers):
            raise ValueError(f"'{text}' is all zeros: at least one state must remain possible")
        return tuple(numbers)

    @field_validator("grade", mode="before")
    @classmethod
    def _grade(cls, value: object) -> str:
        text = str(value or "").strip()
        if not re.fullmatch(r"[A-F][1-6]", text):
            raise ValueError(f"unknown grade '{text}': use {_GRADE_HINT}")
        return text

    @field_validator("url", mode="before")
    @classmethod
    def _http_url(cls, value: object) -> str:
        text = str(value or "").strip()
        if not text:
            raise ValueError("url is empty: give the address of the page the finding comes from")
        try:
            _HTTP_URL.validate_python(text)
        except ValidationError:
            raise ValueError(
                f"'{text}' is not an http(s) URL: give the full address, starting https://"
            ) from None
        return text  # kept as written: pydantic's normalised form may differ from the file

    @model_validator(mode="after")
    def _state_xor_likelihood(self) -> LedgerRow:
        if (self.state is None) == (self.likelihood is None):
            which = (
                "state and likelihood are both filled" if self.state is not None
                else "neither state nor likelihood is filled"
            )
            raise ValueError(
                f"{which}: fill exactly one (a state name for a hard finding, or "
                "';'-separated likelihoods for a soft one)"
            )
        return self


def ledger_hash(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a ledger file's bytes, for provenance.

    Parameters
    ----------
    path : str or path-like
        The ledger file.

    Returns
    -------
    str
        Hex digest; it changes whenever any byte of the file changes.
    """
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def load_ledger(
    path: str | os.PathLike[str],
    spec: ModelSpec | None = None,
    *,
    today: dt.date | None = None,
) -> pd.DataFrame:
    """Read and validate an evidence ledger.

    Parameters
    ----------
    path : str or path-like
        The CSV file (UTF-8, header on line 1).
    spec : ModelSpec, optional
        When given, every node must be one of the model's nodes, every state one of its
        states and every likelihood must have one number per state.
    today : datetime.date, optional
        Dates after this day are rejected; by default the current date.

    Returns
    -------
    pandas.DataFrame
        One row per finding in file order: the ledger's columns (``date`` as datetime64,
        ``state`` missing for soft rows, ``likelihood`` a tuple of floats or None, the rest
        strings), then ``reliability`` (letter A-F) and ``credibility`` (int 1-6) split from
        ``grade``, and ``line`` (the row's line in the file, for messages downstream).

    Raises
    ------
    EvidenceError
        If the file cannot be read or any row breaks a rule; every problem is listed with its
        line, what is wrong and how to fix it.
    """
    name = os.fspath(path)
    text = _read_text(path, name)
    problems: list[Problem] = []
    header, header_end, records = _scan(text, name, problems)
    if header is None:
        raise EvidenceError(f"{name}: the ledger is empty", problems)
    problems += _check_header(header, name)
    frame = _read_frame(text, header, header_end)
    context = {"today": today or dt.date.today()}
    rows: list[tuple[int, LedgerRow]] = []
    ids: list[tuple[int, str]] = []
    for (line, width), raw in zip(records, frame.to_dict("records"), strict=True):
        if width != len(header):
            problems.append(Problem(
                f"{name}:{line}", f"has {width} fields, the header has {len(header)}",
                "quote any cell that contains a comma",
            ))
            continue
        ids.append((line, str(raw.get("id", "")).strip()))
        row = _validate_row(raw, line, name, context, problems)
        if row is not None:
            rows.append((line, row))
    problems += _check_ids(ids, name) + _check_grades(rows, name)
    if spec is not None:
        problems += _check_against_spec(rows, spec, name)
    if problems:
        problems.sort(key=_line_of)
        count = len(problems)
        raise EvidenceError(f"{name}: {count} problem{'s' * (count != 1)} in the ledger", problems)
    return _to_frame(rows)


# --- reading --------------------------------------------------------------------------------------


def _read_text(path: str | os.PathLike[str], name: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise EvidenceError(f"{name}: no such ledger file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvidenceError(f"{name}: cannot read the ledger: {exc}") from None


def _scan(
    text: str, name: str, problems: list[Problem]
) -> tuple[list[str] | None, int, list[tuple[int, int]]]:
    """Header cells, the header's last line and, per data record, its first line and width.

    pandas does not report source lines, and a quoted cell may span lines, so the csv module
    walks the same text once to number the records pandas will return.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    header_end = 0
    records: list[tuple[int, int]] = []
    start = 1
    try:
        for cells in reader:
            if cells and not (len(cells) == 1 and not cells[0].strip()):  # pandas' blank lines
                if header is None:
                    header, header_end = [cell.strip() for cell in cells], reader.line_num
                else:
                    records.append((start, len(cells)))
                    if reader.line_num > start:
                        problems.append(Problem(
                            f"{name}:{start}", f"a cell spans lines {start}-{reader.line_num}",
                            "keep every row on one line (close the quote; no line breaks in notes)",
                        ))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise EvidenceError(f"{name}:{start}: not valid CSV: {exc}") from None
    return header, header_end, records


def _read_frame(text: str, header: list[str], header_end: int) -> pd.DataFrame:
    """All records as text, one DataFrame row per record (rows of the wrong width kept, padded)."""
    width = max(len(header), 1)
    frame = pd.read_csv(
        io.StringIO(text), dtype=str, keep_default_na=False, engine="python",
        on_bad_lines=lambda cells: cells[:width], skip_blank_lines=True, header=None,
        skiprows=header_end, names=list(range(width)),
    )
    return frame.fillna("").rename(columns=dict(enumerate(header)))


# --- checks ---------------------------------------------------------------------------------------


def _check_header(header: Sequence[str], name: str) -> list[Problem]:
    problems = []
    seen: set[str] = set()
    for column in header:
        if column in seen:
            problems.append(Problem(f"{name}:1", f"column '{column}' appears twice",
                                    "keep one column of each name"))
        seen.add(column)
    missing = [c for c in COLUMNS if c not in seen]
    for column in sorted(seen - set(COLUMNS)):
        hint = did_you_mean(column, missing or COLUMNS)
        problems.append(Problem(f"{name}:1", f"unknown column '{column}'",
                                hint or f"the columns are {', '.join(COLUMNS)}"))
    for column in missing:
        problems.append(Problem(f"{name}:1", f"missing column '{column}'",
                                f"the columns are {', '.join(COLUMNS)}"))
    return problems


def _validate_row(
    raw: Mapping[str, Any], line: int, name: str, context: dict[str, Any],
    problems: list[Problem],
) -> LedgerRow | None:
    data = {key: value for key, value in raw.items() if key in COLUMNS}
    try:
        return LedgerRow.model_validate(data, context=context)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            field = ".".join(str(part) for part in error["loc"])
            if error["type"] == "missing":  # already reported once, as a missing column
                continue
            where = f"{name}:{line} {field}" if field else f"{name}:{line}"
            problems.append(Problem(where, *_explain(error, raw.get(field))))
        return None


def _explain(error: Mapping[str, Any], value: object) -> tuple[str, str | None]:
    """Message and hint for one pydantic error, in the ledger's terms."""
    kind = error["type"]
    field = error["loc"][0] if error["loc"] else ""
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, "), None
    if kind == "string_too_short":
        return f"{field} is empty", f"fill in the {field}"
    if kind == "string_pattern_mismatch":
        hint = ("a node name: a letter, then letters, digits or underscores" if field == "node"
                else "one word without spaces, e.g. E001")
        return f"'{value}' is not a valid {field}", hint
    return str(error["msg"]), None


def _check_ids(ids: Sequence[tuple[int, str]], name: str) -> list[Problem]:
    """Duplicate ids, checked on every row of the right width, valid or not."""
    problems = []
    first: dict[str, int] = {}
    for line, row_id in ids:
        if row_id and row_id in first:
            problems.append(Problem(
                f"{name}:{line} id", f"duplicate id '{row_id}' (also on line {first[row_id]})",
                "give every row its own id",
            ))
        first.setdefault(row_id, line)
    return problems


def _check_grades(rows: Sequence[tuple[int, LedgerRow]], name: str) -> list[Problem]:
    """A source keeps one reliability letter: it is learned per source downstream."""
    problems = []
    first: dict[str, tuple[str, int]] = {}
    for line, row in rows:
        letter = row.grade[0]
        seen, seen_line = first.setdefault(row.source, (letter, line))
        if letter != seen:
            problems.append(Problem(
                f"{name}:{line} grade",
                f"source '{row.source}' is graded {letter} here and {seen} on line {seen_line}",
                "reliability (the letter) belongs to the source: grade it once; the digit may vary",
            ))
    return problems


def _check_against_spec(
    rows: Sequence[tuple[int, LedgerRow]], spec: ModelSpec, name: str
) -> list[Problem]:
    problems = []
    for line, row in rows:
        states = spec.states.get(row.node)
        if states is None:
            hint = did_you_mean(row.node, spec.node_names)
            problems.append(Problem(f"{name}:{line} node", f"unknown node '{row.node}'",
                                    hint or f"the model's nodes are {', '.join(spec.node_names)}"))
        elif row.state is not None and row.state not in states:
            problems.append(Problem(
                f"{name}:{line} state", f"'{row.state}' is not a state of {row.node}",
                did_you_mean(row.state, states) or f"its states are {', '.join(states)}",
            ))
        elif row.likelihood is not None and len(row.likelihood) != len(states):
            problems.append(Problem(
                f"{name}:{line} likelihood",
                f"{len(row.likelihood)} numbers for {row.node}, which has {len(states)} states",
                f"give one number per state, in the order {';'.join(states)}",
            ))
    return problems


def _line_of(problem: Problem) -> int:
    match = re.search(r":(\d+)", problem.where)
    return int(match.group(1)) if match else 0


# --- result ---------------------------------------------------------------------------------------


def _to_frame(rows: Sequence[tuple[int, LedgerRow]]) -> pd.DataFrame:
    frame = pd.DataFrame({
        "id": [r.id for _, r in rows],
        "date": pd.to_datetime([r.date for _, r in rows]).astype("datetime64[ns]"),
        "node": [r.node for _, r in rows],
        "state": [r.state for _, r in rows],
        "likelihood": pd.Series([r.likelihood for _, r in rows], dtype=object),
        "grade": [r.grade for _, r in rows],
        "source": [r.source for _, r in rows],
        "url": [r.url for _, r in rows],
        "note": [r.note for _, r in rows],
        "reliability": [r.grade[0] for _, r in rows],
        "credibility": pd.Series([int(r.grade[1]) for _, r in rows], dtype="int64"),
        "line": pd.Series([line for line, _ in rows], dtype="int64"),
    })
    text = ["id", "node", "state", "grade", "reliability", "source", "url", "note"]
    return frame.astype(dict.fromkeys(text, "string"))
